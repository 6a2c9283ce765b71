/* roomd: the reference server. Socket.IO v5 at /socket.io/ (namespace "/"
 * speaks the chosen protocol, "/admin" the library's own) and, for the
 * protocols that need no handshake identity, the same protocol over the
 * plain JSON codec at /ws. One thread, one libuv loop.
 *
 *   roomd --port PORT [--host ADDR] [--protocol rooms|diffy|classroom|bench]
 *         [--allow-hub-broadcast] [--handshake-timeout MS]
 *         [--transports websocket,polling] [--allow-origin ORIGINS] [--allow-eio3]
 *         [--auth-secret SECRET] [--presence [--typing-ms MS]] ...
 *
 * Plain Engine.IO at /engine.io/ echoes every message back (for
 * engine.io-client).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>
#include <uv.h>

#include "auth.h"
#include "proto.h"
#include "room/eio.h"
#include "room/presence.h"
#include "room/protocol.h"
#include "room/ws.h"
#include "room/ws_uv.h"

typedef struct roomd roomd;

typedef struct protocol {
    const char *name;
    int (*register_fn)(roomd *d, room_hub *hub);
    bool json; /* also served at /ws */
} protocol;

static int register_rooms(roomd *d, room_hub *hub);
static int register_diffy(roomd *d, room_hub *hub);
static int register_classroom(roomd *d, room_hub *hub);
static int register_bench(roomd *d, room_hub *hub);

static const protocol protocols[] = {
    {"rooms", register_rooms, true},
    {"diffy", register_diffy, true},
    /* Identity comes with the Socket.IO CONNECT packet, which /ws lacks. */
    {"classroom", register_classroom, false},
    {"bench", register_bench, false},
};

#define ROOMD_MAX_ORIGINS 64

typedef struct options {
    const char *host;
    int port;
    const protocol *proto;
    uint32_t ping_interval_ms; /* 0: the library's default */
    uint32_t ping_timeout_ms;
    uint32_t handshake_timeout_ms; /* 0: the library's default */
    int log_level;
    int write_threads; /* -1: one fewer than the CPUs, at most 3 */
    uint32_t msg_rate, byte_rate; /* per connection and second; 0: unlimited */
    size_t max_connections;       /* 0: from the descriptor limit */
    bool hub_broadcast;           /* rooms clients may broadcast to a whole hub */
    unsigned transports;          /* ROOM_WS_TRANSPORT_* of /socket.io/; 0: both */
    /* --allow-origin, split in place; none: no CORS, as Socket.IO's default. */
    const char *origins[ROOMD_MAX_ORIGINS + 1];
    bool credentials;
    bool allow_eio3; /* Engine.IO v3 / Socket.IO v2 clients too */
    uint32_t recovery_ms;         /* connection-state recovery window; 0: off */
    const char *auth_secret;      /* --auth-secret or ROOMD_AUTH_SECRET; NULL: self-declared */
    bool presence;                /* the rooms protocol's presence on its hubs */
    uint32_t typing_ms;           /* automatic stop-typing; 0: the library's default */
} options;

/* roomd's limits (docs/roomd.md). Per connection: 100 messages a second
 * with bursts of 200, and 1 MiB a second (a burst is at least one largest
 * message); 10 refusals in a row close it with 1008. */
#define ROOMD_MSG_RATE 100
#define ROOMD_BYTE_RATE (1u << 20)
/* Descriptors kept for everything but connections: stdio, the listener,
 * epoll, libuv's own, the helpers' wakeups, a log file. */
#define ROOMD_FD_RESERVE 64
/* The largest join metadata of a rooms client, as compact JSON: it is
 * shown to every member of the room. */
#define ROOMD_METADATA_MAX 1024
/* Hubs speaking rooms: "/", "/admin" and /ws. */
#define ROOMD_ROOMS_HUBS 3

struct roomd {
    uv_loop_t *loop;
    uv_signal_t sigint, sigterm;
    /* Runs the protocols' per-iteration work (diffy's rosters) before the
     * loop waits: active only while there is some, since an active idle
     * handle keeps the loop from blocking. */
    uv_idle_t tick;
    bool tick_closed;
    room_ws *ws;
    room_uv_server *srv;
    room_eio *eio;
    room_eio *echo; /* plain Engine.IO at /engine.io/ */
    room_hub *json_hub;
    proto_diffy *diffy[2]; /* one per hub speaking diffy: "/" and /ws */
    size_t ndiffy;
    /* Sends the presence diffs of each loop iteration, batched, once the
     * iteration's input has been handled (the check phase, after I/O). */
    uv_check_t presence_flush;
    bool presence_flush_closed;
    room_hub *presence_hubs[ROOMD_ROOMS_HUBS];
    size_t npresence;
    bool presence;
    uint32_t typing_ms;
    char refusal[ROOMD_ROOM_MAX + 32]; /* a join refusal's reason, read at once */
    bool hub_broadcast;
    int log_level;
    roomd_auth auth;
};

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static void log_line(int level, const char *message, void *user_data)
{
    const roomd *d = user_data;
    if (level <= d->log_level && level >= 0 && level <= ROOM_LOG_DEBUG)
        fprintf(stderr, "roomd: %s: %s\n", level_names[level], message);
}

static void usage(FILE *out)
{
    fputs("usage: roomd --port PORT [options]\n"
          "  --port PORT            TCP port; 0 picks a free one (printed when ready)\n"
          "  --host ADDR            IPv4 or IPv6 address to bind (127.0.0.1)\n"
          "  --protocol NAME        rooms, diffy, classroom or bench (rooms)\n"
          "  --ping-interval MS     Engine.IO pingInterval (25000)\n"
          "  --ping-timeout MS      Engine.IO pingTimeout (20000)\n"
          "  --write-threads N      helper threads for socket writes (CPUs - 1, at most 3)\n"
          "  --msg-rate N           messages per second per connection, bursts of 2N (100);\n"
          "                         over it a message is refused with rate_limited, and 10\n"
          "                         refusals in a row close the connection with 1008\n"
          "  --byte-rate N          inbound bytes per second per connection (1048576)\n"
          "  --no-rate-limit        no rate limits (the benchmark's senders)\n"
          "  --max-connections N    connections at most (the descriptor limit - 64)\n"
          "  --handshake-timeout MS time a client has to send its whole upgrade request (10000)\n"
          "  --allow-hub-broadcast  let rooms clients broadcast to every connection of a hub\n"
          "  --transports LIST      websocket,polling (both): what /socket.io/ serves\n"
          "  --allow-origin ORIGINS \"*\" or a comma-separated list of browser origins: CORS\n"
          "                         headers for them, 403 for other origins (default: no CORS\n"
          "                         headers, every origin may open a WebSocket)\n"
          "  --allow-credentials    Access-Control-Allow-Credentials: true for allowed origins\n"
          "  --allow-eio3           accept Engine.IO v3 / Socket.IO v2 clients (EIO=3), as\n"
          "                         Socket.IO's allowEIO3\n"
          "  --recovery-ms N        connection-state recovery: a client that comes back within\n"
          "                         N ms gets its session and missed events back (0: off)\n"
          "  --auth-secret SECRET   require a token signed with SECRET (HMAC-SHA256) at connect\n"
          "                         and check joins against its rooms (also ROOMD_AUTH_SECRET;\n"
          "                         mint-token.sh makes one); without it, identities are\n"
          "                         self-declared\n"
          "  --presence             rooms protocol: presence (presence, presence-diff,\n"
          "                         update-presence, typing, stop-typing) on its hubs\n"
          "  --typing-ms MS         idle time before an automatic stop-typing (5000)\n"
          "  --verbose              log debug messages too\n"
          "  --quiet                log errors and warnings only\n"
          "  --help                 show this and exit\n"
          "Socket.IO is served at /socket.io/ (namespaces \"/\" and \"/admin\"),\n"
          "the JSON codec at /ws (rooms and diffy only), plain Engine.IO echoing every\n"
          "message at /engine.io/. SIGINT or SIGTERM stops it.\n",
          out);
}

static long parse_number(const char *opt, const char *text, long min, long max)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, "roomd: %s wants a number from %ld to %ld, not \"%s\"\n", opt, min, max,
                text);
        exit(2);
    }
    return v;
}

static unsigned parse_transports(char *list)
{
    unsigned mask = 0;
    char *t;
    for (t = strtok(list, ","); t; t = strtok(NULL, ",")) {
        if (strcmp(t, "websocket") == 0)
            mask |= ROOM_WS_TRANSPORT_WEBSOCKET;
        else if (strcmp(t, "polling") == 0)
            mask |= ROOM_WS_TRANSPORT_POLLING;
        else
            break;
    }
    if (t || !mask) {
        fprintf(stderr, "roomd: --transports wants websocket, polling or both, comma-separated\n");
        exit(2);
    }
    return mask;
}

static void parse_origins(char *list, const char **origins)
{
    size_t n = 0;
    char *t;
    for (t = strtok(list, ","); t; t = strtok(NULL, ",")) {
        if (n == ROOMD_MAX_ORIGINS) {
            fprintf(stderr, "roomd: --allow-origin takes at most %d origins\n", ROOMD_MAX_ORIGINS);
            exit(2);
        }
        origins[n++] = t;
    }
    if (!n) {
        fprintf(stderr, "roomd: --allow-origin wants \"*\" or origins, comma-separated\n");
        exit(2);
    }
    origins[n] = NULL;
}

static const protocol *find_protocol(const char *name)
{
    size_t i;
    for (i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        if (strcmp(protocols[i].name, name) == 0)
            return &protocols[i];
    }
    fprintf(stderr, "roomd: unknown protocol \"%s\" (rooms, diffy, classroom, bench)\n", name);
    exit(2);
}

static void parse_options(int argc, char **argv, options *o)
{
    enum {
        O_PORT = 256,
        O_HOST,
        O_PROTOCOL,
        O_PING_INTERVAL,
        O_PING_TIMEOUT,
        O_WRITE_THREADS,
        O_MSG_RATE,
        O_BYTE_RATE,
        O_NO_RATE_LIMIT,
        O_MAX_CONNECTIONS,
        O_HANDSHAKE_TIMEOUT,
        O_HUB_BROADCAST,
        O_TRANSPORTS,
        O_ALLOW_ORIGIN,
        O_ALLOW_CREDENTIALS,
        O_ALLOW_EIO3,
        O_RECOVERY_MS,
        O_AUTH_SECRET,
        O_PRESENCE,
        O_TYPING_MS,
        O_VERBOSE,
        O_QUIET,
        O_HELP
    };
    static const struct option longopts[] = {
        {"port", required_argument, NULL, O_PORT},
        {"host", required_argument, NULL, O_HOST},
        {"protocol", required_argument, NULL, O_PROTOCOL},
        {"ping-interval", required_argument, NULL, O_PING_INTERVAL},
        {"ping-timeout", required_argument, NULL, O_PING_TIMEOUT},
        {"write-threads", required_argument, NULL, O_WRITE_THREADS},
        {"msg-rate", required_argument, NULL, O_MSG_RATE},
        {"byte-rate", required_argument, NULL, O_BYTE_RATE},
        {"no-rate-limit", no_argument, NULL, O_NO_RATE_LIMIT},
        {"max-connections", required_argument, NULL, O_MAX_CONNECTIONS},
        {"handshake-timeout", required_argument, NULL, O_HANDSHAKE_TIMEOUT},
        {"allow-hub-broadcast", no_argument, NULL, O_HUB_BROADCAST},
        {"transports", required_argument, NULL, O_TRANSPORTS},
        {"allow-origin", required_argument, NULL, O_ALLOW_ORIGIN},
        {"allow-credentials", no_argument, NULL, O_ALLOW_CREDENTIALS},
        {"allow-eio3", no_argument, NULL, O_ALLOW_EIO3},
        {"recovery-ms", required_argument, NULL, O_RECOVERY_MS},
        {"auth-secret", required_argument, NULL, O_AUTH_SECRET},
        {"presence", no_argument, NULL, O_PRESENCE},
        {"typing-ms", required_argument, NULL, O_TYPING_MS},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;

    /* Designated: fields added later default to 0 without a change here. */
    *o = (options){.host = "127.0.0.1", .port = -1, .proto = &protocols[0], .log_level = ROOM_LOG_INFO,
                   .write_threads = -1, .msg_rate = ROOMD_MSG_RATE, .byte_rate = ROOMD_BYTE_RATE,
                   .auth_secret = getenv("ROOMD_AUTH_SECRET")};
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_PORT: o->port = (int)parse_number("--port", optarg, 0, 65535); break;
        case O_HOST: o->host = optarg; break;
        case O_PROTOCOL: o->proto = find_protocol(optarg); break;
        case O_PING_INTERVAL:
            o->ping_interval_ms = (uint32_t)parse_number("--ping-interval", optarg, 1, INT_MAX);
            break;
        case O_PING_TIMEOUT:
            o->ping_timeout_ms = (uint32_t)parse_number("--ping-timeout", optarg, 1, INT_MAX);
            break;
        case O_MSG_RATE:
            o->msg_rate = (uint32_t)parse_number("--msg-rate", optarg, 1, 1000000);
            break;
        case O_BYTE_RATE:
            o->byte_rate = (uint32_t)parse_number("--byte-rate", optarg, 1, INT_MAX);
            break;
        case O_NO_RATE_LIMIT: o->msg_rate = o->byte_rate = 0; break;
        case O_MAX_CONNECTIONS:
            o->max_connections = (size_t)parse_number("--max-connections", optarg, 1, INT_MAX);
            break;
        case O_WRITE_THREADS:
            o->write_threads = (int)parse_number("--write-threads", optarg, 0, 64);
            break;
        case O_HANDSHAKE_TIMEOUT:
            o->handshake_timeout_ms = (uint32_t)parse_number("--handshake-timeout", optarg, 1, INT_MAX);
            break;
        case O_HUB_BROADCAST: o->hub_broadcast = true; break;
        case O_TRANSPORTS: o->transports = parse_transports(optarg); break;
        case O_ALLOW_ORIGIN: parse_origins(optarg, o->origins); break;
        case O_ALLOW_CREDENTIALS: o->credentials = true; break;
        case O_ALLOW_EIO3: o->allow_eio3 = true; break;
        case O_RECOVERY_MS:
            o->recovery_ms = (uint32_t)parse_number("--recovery-ms", optarg, 0, INT_MAX);
            break;
        case O_AUTH_SECRET: o->auth_secret = optarg; break;
        case O_PRESENCE: o->presence = true; break;
        case O_TYPING_MS:
            o->typing_ms = (uint32_t)parse_number("--typing-ms", optarg, 1, INT_MAX);
            break;
        case O_VERBOSE: o->log_level = ROOM_LOG_DEBUG; break;
        case O_QUIET: o->log_level = ROOM_LOG_WARN; break;
        case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc || o->port < 0) {
        usage(stderr);
        exit(2);
    }
    /* An empty secret would sign with a key anyone knows. */
    if (o->auth_secret && !o->auth_secret[0]) {
        fprintf(stderr, "roomd: --auth-secret (ROOMD_AUTH_SECRET) must not be empty\n");
        exit(2);
    }
}

/* /ws with the same origins as /socket.io/ (WebSocket only). */
static int mount_json(roomd *d, room_ws_mount_config *mcfg)
{
    mcfg->path = "/ws";
    mcfg->transports = ROOM_WS_TRANSPORT_WEBSOCKET;
    return room_ws_mount_json_with(d->ws, d->json_hub, mcfg);
}

static void on_tick(uv_idle_t *h)
{
    roomd *d = h->data;
    size_t i;
    uv_idle_stop(h);
    for (i = 0; i < d->ndiffy; i++)
        proto_diffy_flush(d->diffy[i]);
}

/* A protocol has work for the next iteration. */
static void wake(void *arg)
{
    roomd *d = arg;
    if (!d->tick_closed)
        uv_idle_start(&d->tick, on_tick);
}

static void on_presence_flush(uv_check_t *h)
{
    roomd *d = h->data;
    size_t i;
    for (i = 0; i < d->npresence; i++)
        room_presence_flush(d->presence_hubs[i]);
}

/* rooms: the connection speaks for the identity it presented (auth.h),
 * refused when that is refused; the identity stays as the connection's
 * data for the join checks (its rooms). */
static int rooms_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    roomd *d = ud;
    json_t *identity = NULL;
    const char *why;
    room_user user;
    int rc = roomd_auth_identity(&d->auth, ev, &identity, &why);
    if (rc == ROOM_EDENIED)
        room_refuse(hub, conn, why, NULL);
    if (rc != 0 || !identity)
        return rc;
    room_user_init(&user);
    user.id = json_string_value(json_object_get(identity, "userId"));
    user.name = json_string_value(json_object_get(identity, "name"));
    user.role = json_string_value(json_object_get(identity, "role"));
    /* A resumed connection (recovery) keeps the data of its first connect. */
    if ((rc = room_conn_set_user(hub, conn, &user)) != 0 || room_conn_data(conn)) {
        json_decref(identity);
        return rc;
    }
    room_conn_set_data(conn, identity);
    return 0;
}

static int rooms_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_decref(room_conn_data(conn));
    room_conn_set_data(conn, NULL);
    return room_protocol_rooms_disconnect(hub, conn, ev, ud);
}

/* Joins: the token's rooms (all when self-declared), and the join's
 * metadata, an object of at most ROOMD_METADATA_MAX bytes, shown to the
 * members as the member's "info". */
static int rooms_authorize(room_hub *hub, room_conn *conn, const char *room, json_t *metadata,
                           room_join_verdict *verdict, void *ud)
{
    roomd *d = ud;
    (void)hub;
    if (!roomd_identity_may_join(room_conn_data(conn), room)) {
        snprintf(d->refusal, sizeof d->refusal, "not allowed in room %s", room);
        verdict->reason = d->refusal;
        return ROOM_EFORBIDDEN;
    }
    if (!metadata || json_is_null(metadata))
        return 0;
    if (!json_is_object(metadata)) {
        verdict->reason = "join metadata must be an object";
        return ROOM_EPROTO;
    }
    if (json_dumpb(metadata, NULL, 0, JSON_COMPACT) > ROOMD_METADATA_MAX) {
        verdict->reason = "join metadata is larger than 1024 bytes";
        return ROOM_ETOOBIG;
    }
    verdict->info = json_deep_copy(metadata);
    return verdict->info ? 0 : ROOM_ENOMEM;
}

static int register_rooms(roomd *d, room_hub *hub)
{
    unsigned flags = d->hub_broadcast ? ROOM_PROTOCOL_ROOMS_HUB_BROADCAST : 0;
    room_presence_config pcfg;
    int rc;
    if (d->presence) {
        room_protocol_rooms_presence_config(&pcfg);
        pcfg.typing_ms = d->typing_ms;
        pcfg.authorize = rooms_authorize;
        pcfg.user_data = d;
        if ((rc = room_presence_enable(hub, &pcfg)) != 0)
            return rc;
        d->presence_hubs[d->npresence++] = hub;
        flags |= ROOM_PROTOCOL_ROOMS_PRESENCE;
    }
    if ((rc = room_protocol_rooms_register_flags(hub, flags)) != 0 ||
        (rc = room_on(hub, "connect", rooms_connect, d)) != 0)
        return rc;
    return room_on(hub, "disconnect", rooms_disconnect, NULL);
}

static int register_diffy(roomd *d, room_hub *hub)
{
    int rc = proto_diffy_register(hub, &d->auth, wake, d, &d->diffy[d->ndiffy]);
    if (rc == 0)
        d->ndiffy++;
    return rc;
}

static int register_classroom(roomd *d, room_hub *hub)
{
    return proto_classroom_register(hub, &d->auth);
}

static int register_bench(roomd *d, room_hub *hub)
{
    (void)d;
    return proto_bench_register(hub);
}

static void on_shutdown(room_uv_server *srv, void *user_data)
{
    roomd *d = user_data;
    (void)srv;
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    /* Every connection is gone: nothing is left to announce. */
    uv_close((uv_handle_t *)&d->tick, NULL);
    d->tick_closed = true;
    if (!d->presence_flush_closed) {
        uv_close((uv_handle_t *)&d->presence_flush, NULL);
        d->presence_flush_closed = true;
    }
}

static void on_signal(uv_signal_t *sig, int signum)
{
    roomd *d = sig->data;
    /* Once: the shutdown itself is bounded by the server's close timeout. */
    uv_signal_stop(&d->sigint);
    uv_signal_stop(&d->sigterm);
    fprintf(stderr, "roomd: %s, closing %zu connections\n", signum == SIGINT ? "SIGINT" : "SIGTERM",
            room_eio_session_count(d->eio) + (d->json_hub ? room_conn_count(d->json_hub) : 0));
    room_uv_shutdown(d->srv, on_shutdown);
}

/* Every connection is a descriptor: take as many as the hard limit allows,
 * and return how many connections that leaves room for, so that a full
 * server refuses connections instead of failing accept() on EMFILE. */
static size_t raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return 0;
    return rl.rlim_cur > 2 * ROOMD_FD_RESERVE ? (size_t)rl.rlim_cur - ROOMD_FD_RESERVE
                                              : (size_t)rl.rlim_cur / 2;
}

/* The same limits for every hub: the Socket.IO namespaces and /ws. */
static void set_rate_limits(room_config *cfg, const options *o)
{
    cfg->rate_messages = o->msg_rate;
    cfg->rate_messages_burst = 2 * o->msg_rate;
    cfg->rate_bytes = o->byte_rate;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "roomd: %s: %s\n", what, room_strerror(rc));
    return rc;
}

/* /engine.io/: every message back to its sender, as it came. */
static void echo_message(room_eio *eio, room_eio_session *session, int kind, const void *bytes,
                         size_t len, void *user_data)
{
    (void)user_data;
    room_eio_session_send(eio, session, kind, bytes, len);
}

/* Plain Engine.IO at /engine.io/, with the Socket.IO mount's intervals,
 * transports and origins. */
static int mount_echo(roomd *d, const room_eio_config *sio_cfg, room_ws_mount_config *mcfg)
{
    room_eio_config ecfg = *sio_cfg;
    int rc;
    ecfg.message = echo_message;
    if ((rc = room_eio_new(&d->echo, &ecfg, NULL)) != 0)
        return rc;
    mcfg->path = NULL;
    return room_ws_mount_engineio(d->ws, d->echo, mcfg);
}

/* Hubs, protocols and mounts; the server is listening when it returns 0. */
static int start(roomd *d, const options *o)
{
    room_ws_config wcfg;
    room_uv_config ucfg;
    room_eio_config ecfg;
    room_config rcfg, jcfg;
    room_ws_mount_config mcfg;
    room_hub *admin;
    bool v6;
    int rc;

    room_ws_config_init(&wcfg);
    wcfg.handshake_timeout_ms = o->handshake_timeout_ms;
    wcfg.log = log_line;
    wcfg.user_data = d;
    room_uv_config_init(&ucfg);
    ucfg.user_data = d;
    ucfg.max_connections = o->max_connections;
    /* The loop thread plus helpers for the write system calls of big
     * broadcasts; beyond a few, they only contend for the sockets' locks. */
    if (o->write_threads >= 0) {
        ucfg.write_threads = (unsigned)o->write_threads;
    } else {
        unsigned cpus = uv_available_parallelism();
        ucfg.write_threads = cpus > 4 ? 3 : cpus - 1;
    }
    if ((rc = room_ws_new(&d->ws, &wcfg)) != 0 ||
        (rc = room_uv_server_new(&d->srv, d->loop, d->ws, &ucfg)) != 0)
        return fail("server", rc);

    room_eio_config_init(&ecfg);
    room_ws_eio_config(d->ws, &ecfg);
    ecfg.log = log_line;
    ecfg.user_data = d;
    if (o->ping_interval_ms)
        ecfg.ping_interval_ms = o->ping_interval_ms;
    if (o->ping_timeout_ms)
        ecfg.ping_timeout_ms = o->ping_timeout_ms;
    ecfg.allow_eio3 = o->allow_eio3;
    room_config_init(&rcfg);
    set_rate_limits(&rcfg, o);
    rcfg.recovery_ms = o->recovery_ms;
    if ((rc = room_eio_new(&d->eio, &ecfg, &rcfg)) != 0)
        return fail("engine.io", rc);
    if ((rc = o->proto->register_fn(d, room_eio_hub(d->eio, "/"))) != 0)
        return fail(o->proto->name, rc);
    if ((rc = room_eio_namespace(d->eio, "/admin", &rcfg, &admin)) != 0 ||
        (rc = register_rooms(d, admin)) != 0)
        return fail("namespace /admin", rc);
    room_ws_mount_config_init(&mcfg);
    mcfg.transports = o->transports;
    mcfg.origins = o->origins[0] ? o->origins : NULL;
    mcfg.credentials = o->credentials;
    if ((rc = room_ws_mount_socketio_with(d->ws, d->eio, &mcfg)) != 0)
        return fail("mount /socket.io/", rc);
    if ((rc = mount_echo(d, &ecfg, &mcfg)) != 0)
        return fail("mount /engine.io/", rc);

    if (o->proto->json) {
        room_config_init(&jcfg);
        room_ws_hub_config(d->ws, &jcfg);
        jcfg.log = log_line;
        jcfg.user_data = d;
        set_rate_limits(&jcfg, o);
        jcfg.recovery_ms = o->recovery_ms;
        if ((rc = room_hub_new(&d->json_hub, &jcfg)) != 0 ||
            (rc = o->proto->register_fn(d, d->json_hub)) != 0 ||
            (rc = mount_json(d, &mcfg)) != 0)
            return fail("mount /ws", rc);
    }

    /* The server has logged why. */
    if ((rc = room_uv_listen(d->srv, o->host, o->port)) != 0) {
        fprintf(stderr, "roomd: cannot listen on %s port %d\n", o->host, o->port);
        return rc;
    }

    uv_idle_init(d->loop, &d->tick);
    d->tick.data = d;
    d->tick_closed = false;
    if (d->npresence) {
        uv_check_init(d->loop, &d->presence_flush);
        d->presence_flush.data = d;
        uv_check_start(&d->presence_flush, on_presence_flush);
        d->presence_flush_closed = false;
    }
    uv_signal_init(d->loop, &d->sigint);
    uv_signal_init(d->loop, &d->sigterm);
    d->sigint.data = d->sigterm.data = d;
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);

    /* Before "listening": whoever waits for that line has this one too. */
    if (d->auth.key)
        room_ws_logf(d->ws, ROOM_LOG_INFO,
                     "identities: signed tokens (--auth-secret), checked at connect and at join");
    else
        room_ws_logf(d->ws, ROOM_LOG_WARN,
                     "identities are self-declared: any client may claim any user, name or role "
                     "(--auth-secret requires signed tokens)");
    v6 = strchr(o->host, ':') != NULL;
    fprintf(stderr, "roomd listening on %s%s%s:%d\n", v6 ? "[" : "", o->host, v6 ? "]" : "",
            room_uv_port(d->srv));
    room_ws_logf(d->ws, ROOM_LOG_INFO,
                 "limits: %zu connections, per connection %u messages/s and %u bytes/s (0: none)",
                 o->max_connections, o->msg_rate, o->byte_rate);
    return 0;
}

int main(int argc, char **argv)
{
    roomd d = {0};
    options o;
    size_t fd_room;
    int rc;

    parse_options(argc, argv, &o);
    /* A peer that hung up must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    fd_room = raise_fd_limit();
    if (!o.max_connections)
        o.max_connections = fd_room;
    d.loop = uv_default_loop();
    d.log_level = o.log_level;
    d.hub_broadcast = o.hub_broadcast;
    d.presence = o.presence;
    d.typing_ms = o.typing_ms;
    d.presence_flush_closed = true;
    if (o.auth_secret) {
        d.auth.key = (const uint8_t *)o.auth_secret;
        d.auth.key_len = strlen(o.auth_secret);
    }
    /* Until start() has made it, the tick handle does not exist. */
    d.tick_closed = true;
    rc = start(&d, &o);
    if (rc == 0)
        uv_run(d.loop, UV_RUN_DEFAULT);
    /* The server and engine first: queued frames belong to the hubs. */
    room_uv_server_free(d.srv);
    room_ws_free(d.ws);
    room_hub_free(d.json_hub);
    room_eio_free(d.eio);
    room_eio_free(d.echo);
    while (d.ndiffy)
        proto_diffy_free(d.diffy[--d.ndiffy]);
    uv_loop_close(d.loop);
    return rc == 0 ? 0 : 1;
}
