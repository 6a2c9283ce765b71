/* roomd's options: one table, read from the environment and the command
 * line, and the --help text made from it. Adding an option is one row here
 * and one field in options.h. */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "log.h"
#include "room/room.h"
#include "room/ws.h"

typedef struct option_row option_row;
typedef void (*option_set_fn)(options *o, const option_row *row, const char *value);

struct option_row {
    const char *name; /* the flag without "--"; ROOMD_<NAME> in the environment */
    const char *arg;  /* its argument as --help shows it; NULL: a switch */
    option_set_fn set;
    size_t field; /* offsetof(options, ...) for the generic setters */
    long min, max;
    const char *help; /* lines after the first are indented under it */
};

static const char *source; /* "--name" or "ROOMD_NAME", for messages */

static long number(const option_row *row, const char *text)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < row->min || v > row->max) {
        fprintf(stderr, "roomd: %s wants a number from %ld to %ld, not \"%s\"\n", source, row->min,
                row->max, text);
        exit(2);
    }
    return v;
}

static void *field(options *o, const option_row *row)
{
    return (char *)o + row->field;
}

static void set_u32(options *o, const option_row *row, const char *v)
{
    *(uint32_t *)field(o, row) = (uint32_t)number(row, v);
}

static void set_int(options *o, const option_row *row, const char *v)
{
    *(int *)field(o, row) = (int)number(row, v);
}

static void set_size(options *o, const option_row *row, const char *v)
{
    *(size_t *)field(o, row) = (size_t)number(row, v);
}

static void set_string(options *o, const option_row *row, const char *v)
{
    *(const char **)field(o, row) = v;
}

static void set_true(options *o, const option_row *row, const char *v)
{
    (void)v;
    *(bool *)field(o, row) = true;
}

static void set_no_rate_limit(options *o, const option_row *row, const char *v)
{
    (void)row, (void)v;
    o->msg_rate = o->byte_rate = 0;
}

static void set_verbose(options *o, const option_row *row, const char *v)
{
    (void)row, (void)v;
    o->log_level = ROOM_LOG_DEBUG;
}

static void set_quiet(options *o, const option_row *row, const char *v)
{
    (void)row, (void)v;
    o->log_level = ROOM_LOG_WARN;
}

static void set_transports(options *o, const option_row *row, const char *v)
{
    const char *p = v;
    unsigned mask = 0;
    (void)row;
    for (;;) {
        size_t n = strcspn(p, ",");
        if (n == 9 && strncmp(p, "websocket", n) == 0)
            mask |= ROOM_WS_TRANSPORT_WEBSOCKET;
        else if (n == 7 && strncmp(p, "polling", n) == 0)
            mask |= ROOM_WS_TRANSPORT_POLLING;
        else
            break;
        p += n;
        if (!*p++) {
            o->transports = mask;
            return;
        }
    }
    fprintf(stderr, "roomd: %s wants websocket, polling or both, comma-separated\n", source);
    exit(2);
}

static void set_origins(options *o, const option_row *row, const char *v)
{
    size_t n = 0;
    char *t, *save = NULL;
    (void)row;
    free(o->origin_list);
    if (!(o->origin_list = strdup(v))) {
        fprintf(stderr, "roomd: out of memory\n");
        exit(2);
    }
    for (t = strtok_r(o->origin_list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == ROOMD_MAX_ORIGINS) {
            fprintf(stderr, "roomd: %s takes at most %d origins\n", source, ROOMD_MAX_ORIGINS);
            exit(2);
        }
        o->origins[n++] = t;
    }
    if (!n) {
        fprintf(stderr, "roomd: %s wants \"*\" or origins, comma-separated\n", source);
        exit(2);
    }
    o->origins[n] = NULL;
}

static void set_log_format(options *o, const option_row *row, const char *v)
{
    (void)row;
    if (strcmp(v, "text") == 0 || strcmp(v, "json") == 0) {
        o->log_format = strcmp(v, "json") == 0 ? ROOMD_LOG_JSON : ROOMD_LOG_TEXT;
        return;
    }
    fprintf(stderr, "roomd: %s wants text or json, not \"%s\"\n", source, v);
    exit(2);
}

static void show_help(options *o, const option_row *row, const char *v)
{
    (void)o, (void)row, (void)v;
    roomd_options_usage(stdout);
    exit(0);
}

static void show_version(options *o, const option_row *row, const char *v)
{
    (void)o, (void)row, (void)v;
    printf("roomd %s\n", room_version());
    exit(0);
}

#define F(member) offsetof(options, member)

static const option_row rows[] = {
    {"port", "PORT", set_int, F(port), 0, 65535,
     "TCP port (3000); 0 picks a free one (printed when ready)"},
    {"host", "ADDR", set_string, F(host), 0, 0, "IPv4 or IPv6 address to bind (127.0.0.1)"},
    {"protocol", "NAME", set_string, F(protocol), 0, 0, "rooms, diffy, classroom, bench or sails (rooms)"},
    {"ping-interval", "MS", set_u32, F(ping_interval_ms), 1, INT_MAX,
     "Engine.IO pingInterval (25000)"},
    {"ping-timeout", "MS", set_u32, F(ping_timeout_ms), 1, INT_MAX, "Engine.IO pingTimeout (20000)"},
    {"write-threads", "N", set_int, F(write_threads), 0, 64,
     "helper threads for socket writes (CPUs - 1, at most 3)"},
    {"msg-rate", "N", set_u32, F(msg_rate), 1, 1000000,
     "messages per second per connection, bursts of 2N (100);\n"
     "over it a message is refused with rate_limited, and 10\n"
     "refusals in a row close the connection with 1008"},
    {"byte-rate", "N", set_u32, F(byte_rate), 1, INT_MAX,
     "inbound bytes per second per connection (1048576)"},
    {"no-rate-limit", NULL, set_no_rate_limit, 0, 0, 0, "no rate limits (the benchmark's senders)"},
    {"max-connections", "N", set_size, F(max_connections), 1, INT_MAX,
     "connections at most (the descriptor limit - 64)"},
    {"handshake-timeout", "MS", set_u32, F(handshake_timeout_ms), 1, INT_MAX,
     "time a client has to send its whole upgrade request (10000)"},
    {"allow-hub-broadcast", NULL, set_true, F(hub_broadcast), 0, 0,
     "let rooms clients broadcast to every connection of a hub"},
    {"transports", "LIST", set_transports, 0, 0, 0,
     "websocket,polling (both): what /socket.io/ serves"},
    {"allow-origin", "ORIGINS", set_origins, 0, 0, 0,
     "\"*\" or a comma-separated list of browser origins: CORS\n"
     "headers for them, 403 for other origins (default: no CORS\n"
     "headers, every origin may open a WebSocket)"},
    {"allow-credentials", NULL, set_true, F(credentials), 0, 0,
     "Access-Control-Allow-Credentials: true for allowed origins"},
    {"allow-eio3", NULL, set_true, F(allow_eio3), 0, 0,
     "accept Engine.IO v3 / Socket.IO v2 clients (EIO=3), as\n"
     "Socket.IO's allowEIO3 (always, with --protocol sails)"},
    {"recovery-ms", "N", set_u32, F(recovery_ms), 0, INT_MAX,
     "connection-state recovery: a client that comes back within\n"
     "N ms gets its session and missed events back (0: off)"},
    {"auth-secret", "SECRET", set_string, F(auth_secret), 0, 0,
     "require a token signed with SECRET (HMAC-SHA256) at connect\n"
     "and check joins against its rooms (mint-token.sh makes\n"
     "one); without it, identities are self-declared"},
    {"presence", NULL, set_true, F(presence), 0, 0,
     "rooms protocol: presence (presence, presence-diff,\n"
     "update-presence, typing, stop-typing) on its hubs"},
    {"typing-ms", "MS", set_u32, F(typing_ms), 1, INT_MAX,
     "idle time before an automatic stop-typing (5000)"},
    {"yjs-path", "PATH", set_string, F(yjs_path), 0, 0,
     "y-websocket documents at PATH<room> (/yjs/); \"off\": none"},
    {"yjs-compact-bytes", "N", set_size, F(yjs_compact_bytes), 1, INT_MAX,
     "compact a document's update log past N bytes (1024)"},
    {"yjs-compact-growth", "PCT", set_u32, F(yjs_compact_growth), 1, 10000,
     "compact a document's log again once it grew by PCT %\nof its last snapshot (10)"},
    {"redis", "URL", set_string, F(redis_url), 0, 0,
     "join a cluster over Redis (redis://127.0.0.1:6379): rooms,\n"
     "presence and operations by id span every node (docs/cluster.md)"},
    {"node-id", "NAME", set_string, F(node_id), 0, 0, "this node's name in the cluster's logs (random)"},
    {"history", "N", set_u32, F(history_messages), 1, INT_MAX,
     "rooms protocol: history rooms keep their last N messages\n"
     "(100), with offsets and epochs (docs/history.md)"},
    {"history-ms", "MS", set_u32, F(history_ms), 1, INT_MAX,
     "history keeps no message older than MS (no age limit)"},
    {"history-bytes", "N", set_size, F(history_bytes), 1, INT_MAX,
     "history keeps at most N bytes of messages per room (1048576)"},
    {"history-rooms", "PATTERNS", set_string, F(history_rooms), 0, 0,
     "comma-separated globs of the rooms with history (\"*\" when\n"
     "only --history, --history-ms or --history-bytes is given)"},
    {"data", "FILE", set_string, F(data), 0, 0,
     "keep rooms' shared storage and history in the SQLite file\n"
     "FILE (created when missing), so that they and their epochs\n"
     "survive a restart (docs/storage-sqlite.md)"},
    {"static", "DIR", set_string, F(static_dir), 0, 0,
     "serve the files under DIR at / (GET, HEAD; index.html for\n"
     "a directory, no listings, nothing outside DIR)"},
    {"drain-ms", "MS", set_u32, F(drain_ms), 0, INT_MAX,
     "on SIGTERM, how long clients get to leave before the rest\n"
     "are cut (5000); /healthz answers 503 meanwhile"},
    {"log-format", "FORMAT", set_log_format, 0, 0, 0, "text or json: one JSON object a line (text)"},
    {"verbose", NULL, set_verbose, 0, 0, 0, "log debug lines too: each connection's open\nand close (id, peer address)"},
    {"quiet", NULL, set_quiet, 0, 0, 0, "log errors and warnings only"},
    {"help", NULL, show_help, 0, 0, 0, "show this and exit"},
    {"version", NULL, show_version, 0, 0, 0, "show the version and exit"},
};

#define NROWS (sizeof rows / sizeof rows[0])

void roomd_options_usage(FILE *out)
{
    size_t i;
    fputs("Usage: roomd [options]\n"
          "Every option can also be set in the environment as ROOMD_<NAME>\n"
          "(--max-connections: ROOMD_MAX_CONNECTIONS=N; a switch: ROOMD_PRESENCE=1);\n"
          "the command line wins.\n",
          out);
    for (i = 0; i < NROWS; i++) {
        const char *h = rows[i].help;
        int width = fprintf(out, "  --%s%s%s", rows[i].name, rows[i].arg ? " " : "",
                            rows[i].arg ? rows[i].arg : "");
        for (;;) {
            size_t n = strcspn(h, "\n");
            /* Two spaces at least: help2man tells an option from its text so. */
            fprintf(out, "%*s%.*s\n", width < 23 ? 25 - width : 2, "", (int)n, h);
            if (!h[n])
                break;
            h += n + 1;
            width = 0;
        }
    }
    fputs("Socket.IO is served at /socket.io/ (namespaces \"/\" and \"/admin\"),\n"
          "the JSON codec at /ws (rooms and diffy only), plain Engine.IO echoing every\n"
          "message at /engine.io/; GET /healthz answers 200 (503 while draining),\n"
          "GET /metrics the Prometheus text format. SIGINT or SIGTERM stops it.\n",
          out);
}

/* ROOMD_ and the name in capitals, '-' as '_'. */
static void env_name(const option_row *row, char *out, size_t size)
{
    size_t i, n = (size_t)snprintf(out, size, "ROOMD_%s", row->name);
    for (i = 6; i < n && i < size; i++)
        out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
}

static void from_environment(options *o)
{
    char name[64];
    size_t i;
    for (i = 0; i < NROWS; i++) {
        const char *v;
        env_name(&rows[i], name, sizeof name);
        if (!(v = getenv(name)))
            continue;
        source = name;
        if (rows[i].arg) {
            rows[i].set(o, &rows[i], v);
        } else if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
            rows[i].set(o, &rows[i], NULL);
        } else if (strcmp(v, "0") != 0 && strcmp(v, "false") != 0 && strcmp(v, "no") != 0 && v[0]) {
            fprintf(stderr, "roomd: %s wants 1, true, yes, 0, false or no, not \"%s\"\n", name, v);
            exit(2);
        }
    }
}

void roomd_options_parse(int argc, char **argv, options *o)
{
    struct option longopts[NROWS + 1];
    char flag[64];
    size_t i;
    int c;

    /* Designated: fields added later default to 0 without a change here. */
    *o = (options){.host = "127.0.0.1", .port = ROOMD_DEFAULT_PORT, .protocol = "rooms",
                   .log_level = ROOM_LOG_INFO, .write_threads = -1, .msg_rate = ROOMD_MSG_RATE,
                   .byte_rate = ROOMD_BYTE_RATE, .drain_ms = ROOMD_DRAIN_MS};
    from_environment(o);
    for (i = 0; i < NROWS; i++)
        longopts[i] = (struct option){rows[i].name, rows[i].arg ? required_argument : no_argument,
                                      NULL, 256 + (int)i};
    longopts[NROWS] = (struct option){NULL, 0, NULL, 0};
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c < 256 || (size_t)(c - 256) >= NROWS) {
            fputs("roomd: roomd --help lists the options\n", stderr);
            exit(2);
        }
        c -= 256;
        snprintf(flag, sizeof flag, "--%s", rows[c].name);
        source = flag;
        rows[c].set(o, &rows[c], optarg);
    }
    if (optind < argc) {
        fprintf(stderr, "roomd: unexpected argument \"%s\" (roomd --help)\n", argv[optind]);
        exit(2);
    }
    /* An empty secret would sign with a key anyone knows. */
    if (o->auth_secret && !o->auth_secret[0]) {
        fprintf(stderr, "roomd: --auth-secret (ROOMD_AUTH_SECRET) must not be empty\n");
        exit(2);
    }
}

void roomd_options_release(options *o)
{
    free(o->origin_list);
    o->origin_list = NULL;
}
