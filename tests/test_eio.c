/* eio.c and the rest of libroom-sio: Engine.IO v4 / Socket.IO v5 sessions
 * over a fake WebSocket. Every message a session is sent is recorded per
 * peer as a string; the clock is whatever the test says.
 *
 * Fixtures: setup() makes a world with a test configuration, which a test
 * may change before start() creates the room_eio with namespaces "/" and
 * "/admin"; setup_started() does both. teardown() closes the peers still
 * open, frees the room_eio and checks that nothing leaked. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "room/eio.h"
#include "test_util.h"

typedef struct peer {
    room_eio_session *s;
    char **frames; /* NUL-terminated copies of each WebSocket message */
    size_t *lens;
    int *kinds;
    size_t n, cap;
    int sealed;    /* messages that carried a transport header */
    int closes;    /* times the room_eio asked to close it */
    int close_code;
    char reason[128];
    int fail_sends;
    struct peer *next_open;
} peer;

typedef struct world {
    room_eio *eio;
    room_eio_config cfg;
    room_config root; /* the "/" hub's */
    fake_alloc alloc;
    uint64_t now;
    int logs;
    peer *open;       /* peers whose session the test has not closed */
} world;

static int w_send(void *transport, room_frame *frame, void *ud)
{
    peer *p = transport;
    (void)ud;
    if (p->fail_sends)
        return ROOM_ETRANSPORT;
    for (const room_frame *f = frame; f; f = room_frame_next(f)) {
        size_t len;
        const uint8_t *bytes = room_frame_payload(f, &len);
        if (p->n == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 8;
            p->frames = realloc(p->frames, p->cap * sizeof *p->frames);
            p->lens = realloc(p->lens, p->cap * sizeof *p->lens);
            p->kinds = realloc(p->kinds, p->cap * sizeof *p->kinds);
        }
        p->frames[p->n] = malloc(len + 1);
        memcpy(p->frames[p->n], bytes, len);
        p->frames[p->n][len] = '\0';
        p->lens[p->n] = len;
        p->kinds[p->n++] = room_frame_kind(f);
        if (room_frame_header_len(f))
            p->sealed++;
    }
    return 0;
}

static void w_close(void *transport, int code, const char *reason, void *ud)
{
    peer *p = transport;
    (void)ud;
    p->closes++;
    p->close_code = code;
    snprintf(p->reason, sizeof p->reason, "%s", reason);
}

static void w_log(int level, const char *message, void *ud)
{
    world *w = ud;
    (void)level;
    (void)message;
    w->logs++;
}

/* The test configuration: fake transport, counting allocator, short
 * timers. */
static void world_config(world *w)
{
    memset(w, 0, sizeof *w);
    room_eio_config_init(&w->cfg);
    w->cfg.send = w_send;
    w->cfg.close = w_close;
    w->cfg.user_data = w;
    w->cfg.allocator = fake_allocator(&w->alloc);
    w->cfg.ping_interval_ms = 1000;
    w->cfg.ping_timeout_ms = 500;
    w->cfg.connect_timeout_ms = 5000;
    room_config_init(&w->root);
}

/* ---- what the handlers saw -------------------------------------------- */

static struct {
    char log[4096]; /* "nsp:event args;" for every event handled */
    char auth[256];
    char query[256];
    char disconnect[256];
    size_t attachments;
    char att[2][16];
    size_t att_len[2];
    int acks;
    int ack_status;
    char ack_args[256];
} seen;

static void note(const char *fmt, const char *a, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    size_t used = strlen(seen.log);
    snprintf(seen.log + used, sizeof seen.log - used, fmt, a, text ? text : "-");
    free(text);
}

static int on_chat(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    note("%s:chat %s;", ud, ev->args);
    if (ev->ack_id >= 0)
        return room_reply_new(hub, conn, ev, NULL, json_string("ok"));
    return 0;
}

static int on_up(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    note("%s:up %s;", ud, ev->args);
    seen.attachments = ev->attachment_count;
    for (size_t i = 0; i < ev->attachment_count && i < 2; i++) {
        memcpy(seen.att[i], ev->attachments[i].data, ev->attachments[i].len);
        seen.att_len[i] = ev->attachments[i].len;
    }
    if (ev->ack_id >= 0)
        return room_reply_new(hub, conn, ev, NULL, json_string("ok"));
    return 0;
}

/* Refuses {"token":"bad"} with a message (after greeting it, which the
 * client must not see), {"token":"plain"} without one, and greets
 * {"token":"welcome"} twice from inside the handler. */
static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *auth = json_array_get(ev->args, 0);
    const char *token = json_string_value(json_object_get(auth, "token"));
    char *text = auth ? json_dumps(auth, JSON_COMPACT) : NULL;
    (void)ud;
    snprintf(seen.auth, sizeof seen.auth, "%s", text ? text : "none");
    free(text);
    text = json_dumps(json_array_get(ev->args, 1), JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(seen.query, sizeof seen.query, "%s", text ? text : "none");
    free(text);
    if (token && strcmp(token, "bad") == 0) {
        room_emit(hub, conn, "welcome", NULL);
        room_refuse(hub, conn, "bad token", json_pack("{ss}", "why", "x"));
        return ROOM_EDENIED;
    }
    if (token && strcmp(token, "plain") == 0)
        return ROOM_EDENIED;
    if (token && strcmp(token, "welcome") == 0) {
        room_emit(hub, conn, "welcome", NULL);
        room_emit(hub, conn, "again", NULL);
    }
    return 0;
}

static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    size_t used = strlen(seen.disconnect);
    (void)hub;
    (void)conn;
    snprintf(seen.disconnect + used, sizeof seen.disconnect - used, "%s:%s;", (const char *)ud,
             json_string_value(json_array_get(ev->args, 0)));
    return 0;
}

/* A handler whose own answer is ROOM_EPROTO or ROOM_EJSON: a refusal of
 * the protocol's, not a broken packet. */
static int on_strict(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)hub;
    (void)conn;
    (void)ud;
    return json_array_size(ev->args) ? ROOM_EPROTO : ROOM_EJSON;
}

static void on_ack(room_hub *hub, room_conn *conn, int status, json_t *args, void *ud)
{
    char *text = args ? json_dumps(args, JSON_COMPACT) : NULL;
    (void)hub;
    (void)conn;
    (void)ud;
    seen.acks++;
    seen.ack_status = status;
    snprintf(seen.ack_args, sizeof seen.ack_args, "%s", text ? text : "null");
    free(text);
}

static void register_handlers(room_hub *hub, const char *name)
{
    room_on(hub, "chat", on_chat, (void *)name);
    room_on(hub, "up", on_up, (void *)name);
    room_on(hub, "connect", on_connect, (void *)name);
    room_on(hub, "disconnect", on_disconnect, (void *)name);
    room_on(hub, "strict", on_strict, (void *)name);
}

/* ---- driving ----------------------------------------------------------- */

/* Creates the room_eio with "/" and "/admin", handlers on both. */
static void start(world *w)
{
    room_hub *admin = NULL;
    assert_int_equal(room_eio_new(&w->eio, &w->cfg, &w->root), 0);
    assert_int_equal(room_eio_namespace(w->eio, "/admin", NULL, &admin), 0);
    assert_non_null(admin);
    register_handlers(room_eio_hub(w->eio, "/"), "/");
    register_handlers(admin, "/admin");
    memset(&seen, 0, sizeof seen);
}

static int setup(void **state)
{
    world *w = malloc(sizeof *w);
    world_config(w);
    *state = w;
    return 0;
}

static int setup_started(void **state)
{
    setup(state);
    start(*state);
    return 0;
}

static void peer_free(peer *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->frames[i]);
    free(p->frames);
    free(p->lens);
    free(p->kinds);
    free(p);
}

/* The host's part when the WebSocket is gone: room_eio_close(). */
static void peer_close(world *w, peer *p)
{
    peer **link = &w->open;
    while (*link != p)
        link = &(*link)->next_open;
    *link = p->next_open;
    room_eio_close(w->eio, p->s, "bye");
    peer_free(p);
}

static int teardown(void **state)
{
    world *w = *state;
    while (w->open)
        peer_close(w, w->open);
    room_eio_free(w->eio);
    assert_int_equal(w->alloc.allocs, w->alloc.frees);
    free(w);
    return 0;
}

/* room_eio_open_query() for a new peer, which the world then tracks. */
static int peer_try(world *w, json_t *query, peer **out)
{
    peer *p = calloc(1, sizeof *p);
    int rc = room_eio_open_query(w->eio, p, query, w->now, &p->s);
    if (rc) {
        assert_null(p->s);
        peer_free(p);
        *out = NULL;
        return rc;
    }
    p->next_open = w->open;
    w->open = p;
    *out = p;
    return 0;
}

static peer *peer_open(world *w)
{
    peer *p;
    assert_int_equal(peer_try(w, NULL, &p), 0);
    assert_true(p->n == 1 && p->frames[0][0] == '0');
    return p;
}

static int in(world *w, peer *p, const char *text)
{
    return room_eio_recv(w->eio, p->s, ROOM_FRAME_TEXT, text, strlen(text), w->now);
}

static int in_bin(world *w, peer *p, const void *bytes, size_t len)
{
    return room_eio_recv(w->eio, p->s, ROOM_FRAME_BINARY, bytes, len, w->now);
}

static const char *last(const peer *p)
{
    assert_true(p->n > 0);
    return p->frames[p->n - 1];
}

/* CONNECTs `p` to "/" or "/admin" and returns the connection. */
static room_conn *join(world *w, peer *p, const char *nsp)
{
    char packet[64];
    const char *reply, *sid;
    room_conn *conn;
    size_t prefix;
    if (strcmp(nsp, "/") == 0)
        snprintf(packet, sizeof packet, "40");
    else
        snprintf(packet, sizeof packet, "40%s,", nsp);
    prefix = strlen(packet);
    assert_int_equal(in(w, p, packet), 0);
    reply = last(p);
    assert_memory_equal(reply, packet, prefix);
    assert_true(strncmp(reply + prefix, "{\"sid\":\"", 8) == 0);
    sid = reply + prefix + 8;
    assert_int_equal(strlen(sid), 22);
    assert_string_equal(sid + 20, "\"}");
    {
        char id[21];
        memcpy(id, sid, 20);
        id[20] = '\0';
        conn = room_conn_find(room_eio_hub(w->eio, nsp), id);
    }
    assert_non_null(conn);
    assert_ptr_equal(room_conn_transport(conn), p->s);
    return conn;
}

/* ---- tests ----------------------------------------------------------------- */

static bool is_base64url(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s[i]) ||
            !s[i])
            return false;
    }
    return true;
}

static json_t *open_packet(const peer *p)
{
    json_t *open = json_loads(p->frames[0] + 1, 0, NULL);
    assert_non_null(open);
    return open;
}

static void sends_the_open_packet(void **state)
{
    world *w = *state;
    peer *a, *b;
    json_t *open;
    const char *sid;

    w->root.max_message_bytes = 4096;
    start(w);
    a = peer_open(w);
    b = peer_open(w);
    open = open_packet(a);
    assert_int_equal(json_object_size(open), 5);
    sid = json_string_value(json_object_get(open, "sid"));
    assert_non_null(sid);
    assert_int_equal(strlen(sid), 20);
    assert_true(is_base64url(sid, 20));
    assert_string_equal(sid, room_eio_session_id(a->s));
    assert_string_not_equal(sid, room_eio_session_id(b->s));
    assert_true(json_is_array(json_object_get(open, "upgrades")));
    assert_int_equal(json_array_size(json_object_get(open, "upgrades")), 0);
    assert_int_equal(json_integer_value(json_object_get(open, "pingInterval")), 1000);
    assert_int_equal(json_integer_value(json_object_get(open, "pingTimeout")), 500);
    /* maxPayload is the root hub's message limit. */
    assert_int_equal(json_integer_value(json_object_get(open, "maxPayload")), 4096);
    json_decref(open);
    assert_ptr_equal(room_eio_session_transport(a->s), a);
    assert_int_equal(room_eio_session_count(w->eio), 2);
    peer_close(w, a);
    assert_int_equal(room_eio_session_count(w->eio), 1);
    peer_close(w, b);
    assert_int_equal(room_eio_session_count(w->eio), 0);
}

/* room_eio_config_init() leaves every setting 0; room_eio_new() resolves
 * the defaults. */
static void resolves_defaults(void **state)
{
    world *w = *state;
    room_eio_config zero;
    json_t *open;
    peer *p;

    room_eio_config_init(&zero);
    assert_int_equal(zero.size, sizeof zero);
    assert_int_equal(zero.ping_interval_ms, 0);
    zero.send = w->cfg.send;
    zero.close = w->cfg.close;
    zero.allocator = w->cfg.allocator;
    w->cfg = zero;
    start(w);
    p = peer_open(w);
    open = open_packet(p);
    assert_int_equal(json_integer_value(json_object_get(open, "pingInterval")), 25000);
    assert_int_equal(json_integer_value(json_object_get(open, "pingTimeout")), 20000);
    assert_int_equal(json_integer_value(json_object_get(open, "maxPayload")),
                     room_hub_max_message_bytes(room_eio_hub(w->eio, "/")));
    json_decref(open);
    /* The first ping at 25 s, the CONNECT deadline at 45 s. */
    assert_int_equal(room_eio_tick(w->eio, 0), 25000);
    room_eio_tick(w->eio, 25000);
    assert_int_equal(in(w, p, "3"), 0);
    w->now = 25000;
    assert_int_equal(room_eio_tick(w->eio, 44999), 1);
    room_eio_tick(w->eio, 45000);
    assert_string_equal(p->reason, "connect timeout");
}

/* Hosts built against another layout: the library reads `size` bytes,
 * never more, and refuses less than the documented minimum. */
static void honours_the_config_size(void **state)
{
    world *w = *state;
    room_eio *eio = (room_eio *)1;
    room_eio_config *small;
    unsigned char *big;

    w->cfg.size = ROOM_EIO_CONFIG_MIN_SIZE - 1;
    assert_int_equal(room_eio_new(&eio, &w->cfg, NULL), ROOM_EINVAL);
    assert_null(eio);
    assert_int_equal(room_eio_new(&eio, NULL, NULL), ROOM_EINVAL);
    assert_int_equal(room_eio_new(NULL, &w->cfg, NULL), ROOM_EINVAL);

    /* Exactly the minimum, in a block of that size (the sanitizers and
     * valgrind see any read past it). */
    w->cfg.size = ROOM_EIO_CONFIG_MIN_SIZE;
    small = malloc(ROOM_EIO_CONFIG_MIN_SIZE);
    memcpy(small, &w->cfg, ROOM_EIO_CONFIG_MIN_SIZE);
    assert_int_equal(room_eio_new(&eio, small, NULL), 0);
    free(small);
    room_eio_free(eio);

    /* A later, longer layout: what this library does not know is ignored. */
    big = malloc(sizeof w->cfg + 64);
    memset(big, 0xa5, sizeof w->cfg + 64);
    w->cfg.size = sizeof w->cfg + 64;
    memcpy(big, &w->cfg, sizeof w->cfg);
    assert_int_equal(room_eio_new(&eio, (room_eio_config *)big, NULL), 0);
    free(big);
    room_eio_free(eio);
    assert_int_equal(w->alloc.allocs, w->alloc.frees);

    /* A namespace's room_config is read within its size too. */
    w->cfg.size = sizeof w->cfg;
    assert_int_equal(room_eio_new(&eio, &w->cfg, NULL), 0);
    w->root.size = ROOM_CONFIG_SIZE_MIN;
    small = malloc(ROOM_CONFIG_SIZE_MIN);
    memcpy(small, &w->root, ROOM_CONFIG_SIZE_MIN);
    assert_int_equal(room_eio_namespace(eio, "/min", (room_config *)small, NULL), 0);
    w->root.size = ROOM_CONFIG_SIZE_MIN - 1; /* `size` comes first */
    memcpy(small, &w->root.size, sizeof w->root.size);
    assert_int_equal(room_eio_namespace(eio, "/less", (room_config *)small, NULL), ROOM_EINVAL);
    free(small);
    room_eio_free(eio);
}

static void connects_to_namespaces(void **state)
{
    world *w = *state;
    peer *p = peer_open(w);
    room_conn *root = join(w, p, "/"), *admin = join(w, p, "/admin");

    /* Socket ids are per namespace and differ from the Engine.IO sid. */
    assert_string_not_equal(room_conn_id(root), room_conn_id(admin));
    assert_string_not_equal(room_conn_id(root), room_eio_session_id(p->s));
    /* No CONNECT payload: the connect handler gets {}, as in Socket.IO. */
    assert_string_equal(seen.auth, "{}");

    assert_int_equal(in(w, p, "40/nope,"), 0);
    assert_string_equal(last(p), "44/nope,{\"message\":\"Invalid namespace\"}");
    assert_int_equal(in(w, p, "40/nope"), 0);
    assert_string_equal(last(p), "44/nope,{\"message\":\"Invalid namespace\"}");
    assert_int_equal(in(w, p, "40/nope,{\"a\":1}"), 0);
    assert_string_equal(last(p), "44/nope,{\"message\":\"Invalid namespace\"}");
    assert_int_equal(p->closes, 0);
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/")), 1);
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/admin")), 1);

    /* Namespaces added while sessions are open. */
    assert_int_equal(room_eio_namespace(w->eio, "/late", NULL, NULL), 0);
    join(w, p, "/late");
    assert_int_equal(room_eio_namespace(w->eio, "/later", NULL, NULL), 0);
    assert_int_equal(room_eio_namespace(w->eio, "/latest", NULL, NULL), 0);
    join(w, p, "/latest");
    assert_int_equal(in(w, p, "41/late,"), 0);
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/late")), 0);
    peer_close(w, p);
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/")), 0);
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/admin")), 0);
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/latest")), 0);
}

static void passes_auth_and_refuses(void **state)
{
    world *w = *state;
    peer *p = peer_open(w);

    assert_int_equal(in(w, p, "40{\"token\":\"bad\"}"), 0);
    /* What the refusing handler sent first never reaches the client. */
    assert_int_equal(p->n, 2);
    assert_string_equal(last(p), "44{\"message\":\"bad token\",\"data\":{\"why\":\"x\"}}");
    assert_string_equal(seen.auth, "{\"token\":\"bad\"}");
    assert_int_equal(in(w, p, "40/admin,{\"token\":\"bad\"}"), 0);
    assert_string_equal(last(p), "44/admin,{\"message\":\"bad token\",\"data\":{\"why\":\"x\"}}");
    /* Refused without room_refuse(): the hub's generic refusal. */
    assert_int_equal(in(w, p, "40{\"token\":\"plain\"}"), 0);
    assert_string_equal(last(p),
                        "44{\"message\":\"refused by the protocol\",\"data\":{\"code\":\"denied\"}}");
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/")), 0);
    assert_int_equal(p->closes, 0);

    /* A refused client may try again. */
    assert_int_equal(in(w, p, "40{\"token\":\"good\"}"), 0);
    assert_true(strncmp(last(p), "40{\"sid\":\"", 10) == 0);
    assert_string_equal(seen.auth, "{\"token\":\"good\"}");
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/")), 1);

    /* Whatever the connect handler sends follows the CONNECT reply. */
    p = peer_open(w);
    assert_int_equal(in(w, p, "40/admin,{\"token\":\"welcome\"}"), 0);
    assert_int_equal(p->n, 4);
    assert_true(strncmp(p->frames[1], "40/admin,{\"sid\":\"", 17) == 0);
    assert_string_equal(p->frames[2], "42/admin,[\"welcome\"]");
    assert_string_equal(p->frames[3], "42/admin,[\"again\"]");
}

/* Every namespace's connect handler gets the application's query
 * parameters, without Engine.IO's own. */
static void passes_query_parameters(void **state)
{
    static const char qs[] = "EIO=4&transport=websocket&t=x&room=math&ID=3";
    world *w = *state;
    peer *p;
    json_t *q;

    assert_int_equal(room_query_parse(qs, sizeof qs - 1, &q), 0);
    assert_int_equal(peer_try(w, q, &p), 0);
    json_decref(q); /* the session keeps what it needs */
    join(w, p, "/");
    assert_string_equal(seen.query, "{\"room\":\"math\",\"ID\":\"3\"}");
    join(w, p, "/admin");
    assert_string_equal(seen.query, "{\"room\":\"math\",\"ID\":\"3\"}");

    /* Only Engine.IO's parameters: the handler sees none. */
    assert_int_equal(room_query_parse(qs, 25, &q), 0);
    assert_int_equal(peer_try(w, q, &p), 0);
    json_decref(q);
    join(w, p, "/");
    assert_string_equal(seen.query, "null");
}

static void pings_and_times_out(void **state)
{
    world *w = *state;
    peer *a, *b;
    size_t n;

    a = peer_open(w);
    join(w, a, "/");
    assert_int_equal(room_eio_tick(w->eio, 0), 1000);
    w->now = 300;
    b = peer_open(w);
    join(w, b, "/");

    /* An unsolicited pong does not move the schedule. */
    w->now = 500;
    assert_int_equal(in(w, a, "3"), 0);
    assert_int_equal(room_eio_tick(w->eio, 999), 1);
    assert_string_not_equal(last(a), "2");
    assert_int_equal(room_eio_tick(w->eio, 1000), 300);
    assert_string_equal(last(a), "2");
    assert_string_not_equal(last(b), "2");
    assert_int_equal(room_eio_tick(w->eio, 1300), 200);
    assert_string_equal(last(b), "2");

    /* a answers: its next ping is pingInterval after the pong. */
    w->now = 1300;
    assert_int_equal(in(w, a, "3"), 0);
    /* b does not: closed pingTimeout after its ping. */
    assert_int_equal(room_eio_tick(w->eio, 1799), 1);
    assert_int_equal(b->closes, 0);
    assert_int_equal(room_eio_tick(w->eio, 1800), 500);
    assert_int_equal(b->closes, 1);
    assert_int_equal(b->close_code, 1000);
    assert_string_equal(b->reason, "ping timeout");
    w->now = 1800;
    assert_int_equal(in(w, b, "3"), ROOM_ECLOSED);
    peer_close(w, b);

    n = a->n;
    assert_int_equal(room_eio_tick(w->eio, 2299), 1);
    assert_int_equal(a->n, n);
    assert_int_equal(room_eio_tick(w->eio, 2300), 500);
    assert_int_equal(a->n, n + 1);
    assert_string_equal(last(a), "2");
    /* Nothing is pending once the last session is closing. */
    assert_int_equal(room_eio_tick(w->eio, 2800), -1);
    assert_int_equal(a->closes, 1);
    assert_string_equal(a->reason, "ping timeout");
    peer_close(w, a);
    assert_int_equal(room_eio_tick(w->eio, 2800), -1);
}

static void closes_sessions_that_never_connect(void **state)
{
    world *w = *state;
    peer *a, *b;

    w->cfg.ping_interval_ms = 100000;
    start(w);
    a = peer_open(w);
    b = peer_open(w);
    w->now = 10;
    join(w, a, "/");
    /* A refused or invalid CONNECT does not count. */
    assert_int_equal(in(w, b, "40/nope,"), 0);
    assert_int_equal(in(w, b, "40{\"token\":\"bad\"}"), 0);
    assert_int_equal(room_eio_tick(w->eio, 4999), 1);
    assert_int_equal(b->closes, 0);
    assert_int_equal(room_eio_tick(w->eio, 5000), 95000);
    assert_int_equal(b->closes, 1);
    assert_string_equal(b->reason, "connect timeout");
    assert_int_equal(a->closes, 0);
}

static void delivers_events_and_answers_acks(void **state)
{
    world *w = *state;
    peer *p = peer_open(w);

    join(w, p, "/");
    join(w, p, "/admin");
    assert_int_equal(in(w, p, "42[\"chat\",{\"t\":\"hi\"},2]"), 0);
    assert_int_equal(in(w, p, "425[\"chat\",\"x\"]"), 0);
    assert_string_equal(last(p), "435[\"ok\"]");
    assert_int_equal(in(w, p, "42/admin,[\"chat\"]"), 0);
    assert_int_equal(in(w, p, "42/admin,9[\"chat\",null]"), 0);
    assert_string_equal(last(p), "43/admin,9[\"ok\"]");
    assert_string_equal(seen.log, "/:chat [{\"t\":\"hi\"},2];/:chat [\"x\"];/admin:chat [];"
                                  "/admin:chat [null];");
    /* No handler: answered with an error event, the session stays. */
    assert_int_equal(in(w, p, "42[\"nobody\"]"), ROOM_EUNKNOWN);
    assert_true(strncmp(last(p), "42[\"error\",", 11) == 0);
    assert_int_equal(p->closes, 0);
    /* A no-op from the client is fine too. */
    assert_int_equal(in(w, p, "6"), 0);
    /* A handler's ROOM_EPROTO/ROOM_EJSON is its answer to the client,
     * not a protocol violation: the session stays. */
    assert_int_equal(in(w, p, "427[\"strict\",1]"), 0);
    assert_true(strncmp(last(p), "437[{\"msg\":", 11) == 0);
    assert_int_equal(in(w, p, "42[\"strict\"]"), 0);
    assert_true(strncmp(last(p), "42[\"error\",", 11) == 0);
    assert_int_equal(p->closes, 0);
}

static void collects_binary_attachments(void **state)
{
    world *w = *state;
    peer *p = peer_open(w);

    join(w, p, "/");
    join(w, p, "/admin");
    assert_int_equal(
        in(w, p, "452-[\"up\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"),
        0);
    assert_int_equal(in_bin(w, p, "\x01\x02\x03", 3), 0);
    assert_int_equal(seen.attachments, 0);
    assert_int_equal(in_bin(w, p, "\x00\x05", 2), 0);
    assert_int_equal(seen.attachments, 2);
    assert_int_equal(seen.att_len[0], 3);
    assert_memory_equal(seen.att[0], "\x01\x02\x03", 3);
    assert_int_equal(seen.att_len[1], 2);
    assert_memory_equal(seen.att[1], "\x00\x05", 2);
    assert_string_equal(seen.log, "/:up [{\"_placeholder\":true,\"num\":0},"
                                  "{\"_placeholder\":true,\"num\":1}];");

    /* With an ack id, in a namespace, with an empty attachment. */
    assert_int_equal(in(w, p, "451-/admin,7[\"up\",{\"_placeholder\":true,\"num\":0}]"), 0);
    assert_int_equal(in_bin(w, p, "", 0), 0);
    assert_int_equal(seen.attachments, 1);
    assert_int_equal(seen.att_len[0], 0);
    assert_string_equal(last(p), "43/admin,7[\"ok\"]");
    assert_int_equal(p->closes, 0);
}

static void resolves_server_acks(void **state)
{
    world *w = *state;
    room_hub *hub = room_eio_hub(w->eio, "/");
    peer *p = peer_open(w);
    room_conn *conn = join(w, p, "/");
    json_t *payload = json_string("p");

    assert_int_equal(room_emit_ack(hub, conn, "q", payload, 1000, on_ack, NULL), 0);
    assert_string_equal(last(p), "420[\"q\",\"p\"]");
    assert_int_equal(in(w, p, "430[\"answer\",1]"), 0);
    assert_int_equal(seen.acks, 1);
    assert_int_equal(seen.ack_status, 0);
    assert_string_equal(seen.ack_args, "[\"answer\",1]");

    /* BINARY_ACK from the client. */
    assert_int_equal(room_emit_ack(hub, conn, "q", payload, 1000, on_ack, NULL), 0);
    assert_string_equal(last(p), "421[\"q\",\"p\"]");
    assert_int_equal(in(w, p, "461-1[{\"_placeholder\":true,\"num\":0}]"), 0);
    assert_int_equal(seen.acks, 1);
    assert_int_equal(in_bin(w, p, "z", 1), 0);
    assert_int_equal(seen.acks, 2);
    assert_string_equal(seen.ack_args, "[{\"_placeholder\":true,\"num\":0}]");

    /* No answer: room_eio_tick() runs the hub's timers. */
    assert_int_equal(room_emit_ack(hub, conn, "q", payload, 100, on_ack, NULL), 0);
    assert_int_equal(room_eio_tick(w->eio, 99), 1);
    assert_int_equal(seen.acks, 2);
    room_eio_tick(w->eio, 100);
    assert_int_equal(seen.acks, 3);
    assert_int_equal(seen.ack_status, ROOM_ETIMEOUT);
    json_decref(payload);
}

/* Each input breaks the protocol: that session, and only it, is closed. */
static void closes_only_the_offending_session(void **state)
{
    static const struct {
        int connect; /* CONNECT to "/" first */
        int kind;
        const char *in;
    } cases[] = {
        {1, ROOM_FRAME_TEXT, ""},
        {1, ROOM_FRAME_TEXT, "x"},
        {1, ROOM_FRAME_TEXT, "0"},
        {1, ROOM_FRAME_TEXT, "2"}, /* only the server pings in v4 */
        {1, ROOM_FRAME_TEXT, "2probe"},
        {1, ROOM_FRAME_TEXT, "5"},
        {1, ROOM_FRAME_TEXT, "7"},
        {1, ROOM_FRAME_TEXT, "1x"},
        {1, ROOM_FRAME_TEXT, "3x"},
        {1, ROOM_FRAME_TEXT, "6x"},
        {1, ROOM_FRAME_TEXT, "4"},
        {1, ROOM_FRAME_TEXT, "4x"},
        {1, ROOM_FRAME_TEXT, "49"},
        {1, ROOM_FRAME_TEXT, "42"},
        {1, ROOM_FRAME_TEXT, "42["},
        {1, ROOM_FRAME_TEXT, "42[\"chat\"]x"},
        {1, ROOM_FRAME_TEXT, "42{}"},
        {1, ROOM_FRAME_TEXT, "42[]"},
        {1, ROOM_FRAME_TEXT, "42[1]"},
        {1, ROOM_FRAME_TEXT, "42[\"chat\",{\"_placeholder\":true,\"num\":0}]"},
        {1, ROOM_FRAME_TEXT, "43[\"x\"]"},
        {1, ROOM_FRAME_TEXT, "42/admin,[\"chat\"]"},
        {1, ROOM_FRAME_TEXT, "42/nope,[\"chat\"]"},
        {1, ROOM_FRAME_TEXT, "41/admin,"},
        {1, ROOM_FRAME_TEXT, "41x"},
        {1, ROOM_FRAME_TEXT, "40"}, /* twice */
        {1, ROOM_FRAME_TEXT, "44{\"message\":\"x\"}"},
        {1, ROOM_FRAME_TEXT, "4511-[\"up\"]"},
        {1, ROOM_FRAME_TEXT, "450-[\"up\"]"},
        {1, ROOM_FRAME_BINARY, "\x01"},
        {0, ROOM_FRAME_TEXT, "42[\"chat\"]"},
        {0, ROOM_FRAME_TEXT, "43[]"},
        {0, ROOM_FRAME_TEXT, "41"},
        {0, ROOM_FRAME_TEXT, "40[]"},
        {0, ROOM_FRAME_TEXT, "40\"x\""},
        {0, ROOM_FRAME_TEXT, "401"},
        {0, ROOM_FRAME_TEXT, "40{"},
        {0, ROOM_FRAME_TEXT, "40/admin,{}x"},
    };
    world *w = *state;
    peer *good = peer_open(w);

    join(w, good, "/");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        peer *p = peer_open(w);
        size_t len = cases[i].kind == ROOM_FRAME_BINARY ? 1 : strlen(cases[i].in);
        int rc;
        if (cases[i].connect)
            join(w, p, "/");
        rc = room_eio_recv(w->eio, p->s, cases[i].kind, cases[i].in, len, w->now);
        if (rc != ROOM_EPROTO || p->closes != 1 || p->close_code != ROOM_CLOSE_PROTOCOL_ERROR)
            fail_msg("case %zu (%s): rc %d, %d closes, code %d", i, cases[i].in, rc, p->closes,
                     p->close_code);
        assert_int_equal(in(w, p, "42[\"chat\"]"), ROOM_ECLOSED);
        assert_int_equal(p->closes, 1);
        peer_close(w, p);
    }
    assert_int_equal(in(w, good, "42[\"chat\",\"still\"]"), 0);
    assert_string_equal(seen.log + strlen(seen.log) - 17, "/:chat [\"still\"];");
    assert_int_equal(good->closes, 0);
}

static void bounds_messages_by_the_root_limit(void **state)
{
    world *w = *state;
    peer *p;
    char big[300];

    w->root.max_message_bytes = 256;
    start(w);

    /* Text between a binary packet and its attachments. */
    p = peer_open(w);
    join(w, p, "/");
    assert_int_equal(in(w, p, "451-[\"up\",{\"_placeholder\":true,\"num\":0}]"), 0);
    assert_int_equal(in(w, p, "42[\"chat\"]"), ROOM_EPROTO);
    assert_int_equal(p->close_code, ROOM_CLOSE_PROTOCOL_ERROR);
    assert_string_equal(seen.log, "");

    /* Attachments beyond maxPayload, counted with the packet. */
    memset(big, 'a', sizeof big);
    p = peer_open(w);
    join(w, p, "/");
    assert_int_equal(in(w, p, "452-[\"up\",{\"_placeholder\":true,\"num\":0},"
                              "{\"_placeholder\":true,\"num\":1}]"),
                     0);
    assert_int_equal(in_bin(w, p, big, 100), 0);
    assert_int_equal(in_bin(w, p, big, 100), ROOM_EPROTO);
    assert_int_equal(p->close_code, ROOM_CLOSE_MESSAGE_TOO_BIG);

    /* One message beyond maxPayload; one at it is the hub's to judge. */
    p = peer_open(w);
    join(w, p, "/");
    assert_int_equal(room_eio_recv(w->eio, p->s, ROOM_FRAME_TEXT, big, 256, w->now), ROOM_EPROTO);
    assert_int_equal(p->close_code, ROOM_CLOSE_PROTOCOL_ERROR);
    p = peer_open(w);
    join(w, p, "/");
    assert_int_equal(room_eio_recv(w->eio, p->s, ROOM_FRAME_TEXT, big, 257, w->now), ROOM_EPROTO);
    assert_int_equal(p->close_code, ROOM_CLOSE_MESSAGE_TOO_BIG);
}

static void disconnects_namespaces_and_sessions(void **state)
{
    world *w = *state;
    peer *p = peer_open(w);

    join(w, p, "/");
    join(w, p, "/admin");
    assert_int_equal(in(w, p, "41/admin,"), 0);
    assert_string_equal(seen.disconnect, "/admin:client namespace disconnect;");
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/admin")), 0);
    assert_int_equal(in(w, p, "42[\"chat\"]"), 0);
    /* Connecting again is allowed after a DISCONNECT. */
    join(w, p, "/admin");
    seen.disconnect[0] = '\0';
    assert_int_equal(in(w, p, "1"), 0);
    assert_int_equal(p->closes, 1);
    assert_int_equal(p->close_code, ROOM_CLOSE_NORMAL);
    assert_string_equal(seen.disconnect, "");
    /* The host closes the WebSocket, then tells the room_eio. */
    peer_close(w, p);
    assert_true(strstr(seen.disconnect, "/:bye;") != NULL);
    assert_true(strstr(seen.disconnect, "/admin:bye;") != NULL);
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/")), 0);

    /* room_eio_free() closes what is left, without events. */
    p = peer_open(w);
    join(w, p, "/");
    seen.disconnect[0] = '\0';
    room_eio_free(w->eio);
    w->eio = NULL;
    assert_string_equal(seen.disconnect, "");
    assert_int_equal(w->alloc.allocs, w->alloc.frees);
    w->open = NULL;
    peer_free(p);
}

/* A handler that closes its own connection: the hub asks the room_eio,
 * which asks the host to close the whole WebSocket. */
static int on_kick(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ev;
    (void)ud;
    room_conn_close(hub, conn, "kicked");
    return 0;
}

static void handles_send_failures_and_kicks(void **state)
{
    world *w = *state;
    room_eio_session *s = (room_eio_session *)1;
    peer *p, q = {0};

    room_on(room_eio_hub(w->eio, "/admin"), "kick", on_kick, NULL);
    q.fail_sends = 1;
    assert_int_equal(room_eio_open(w->eio, &q, 0, &s), ROOM_ETRANSPORT);
    assert_null(s);
    assert_int_equal(room_eio_session_count(w->eio), 0);

    p = peer_open(w);
    join(w, p, "/");
    p->fail_sends = 1;
    room_eio_tick(w->eio, 1000);
    assert_int_equal(p->closes, 1);
    assert_int_equal(p->close_code, ROOM_CLOSE_INTERNAL_ERROR);

    p = peer_open(w);
    join(w, p, "/");
    join(w, p, "/admin");
    assert_int_equal(in(w, p, "42/admin,[\"kick\"]"), 0);
    assert_string_equal(last(p), "41/admin,");
    assert_int_equal(p->closes, 1);
    assert_string_equal(p->reason, "kicked");
    assert_int_equal(in(w, p, "42[\"chat\"]"), ROOM_ECLOSED);
}

static int counter_random(void *buf, size_t len, void *ud)
{
    unsigned *n = ud;
    memset(buf, 0, len);
    memcpy(buf, n, sizeof *n < len ? sizeof *n : len);
    (*n)++;
    return *n > 1000 ? -1 : 0;
}

static size_t seal_one(const room_frame *frame, uint8_t *header, void *ud)
{
    (void)frame;
    (void)ud;
    header[0] = 'H';
    return 1;
}

static void configures_hubs(void **state)
{
    world *w = *state;
    room_config bad;
    room_hub *hub = (room_hub *)1;
    room_eio *eio = (room_eio *)1;
    unsigned counter = 0;
    char msg[200];
    peer *p;

    w->cfg.send = NULL;
    assert_int_equal(room_eio_new(&eio, &w->cfg, NULL), ROOM_EINVAL);
    assert_null(eio);
    world_config(w);
    w->cfg.close = NULL;
    assert_int_equal(room_eio_new(&eio, &w->cfg, NULL), ROOM_EINVAL);
    world_config(w);
    bad.size = 1;
    assert_int_equal(room_eio_new(&eio, &w->cfg, &bad), ROOM_EINVAL);

    /* The host's random (with its own user data) and limits reach the hub;
     * the eio's seal and log reach every frame and message. */
    world_config(w);
    w->cfg.seal = seal_one;
    w->cfg.seal_headroom = 4;
    w->cfg.log = w_log;
    w->root.random = counter_random;
    w->root.user_data = &counter;
    w->root.max_message_bytes = 64;
    start(w);
    assert_int_equal(room_eio_namespace(w->eio, "admin", NULL, &hub), ROOM_EINVAL);
    assert_null(hub);
    assert_int_equal(room_eio_namespace(w->eio, NULL, NULL, NULL), ROOM_EINVAL);
    assert_int_equal(room_eio_namespace(w->eio, "/a,b", NULL, NULL), ROOM_EINVAL);
    assert_int_equal(room_eio_namespace(w->eio, "/", NULL, NULL), ROOM_EALREADY);
    assert_int_equal(room_eio_namespace(w->eio, "/admin", NULL, NULL), ROOM_EALREADY);
    assert_int_equal(room_eio_namespace(w->eio, "/x", &w->root, &hub), 0);
    assert_ptr_equal(room_eio_hub(w->eio, "/x"), hub);
    assert_null(room_eio_hub(w->eio, "/y"));
    assert_null(room_eio_hub(NULL, "/"));

    counter = 0;
    p = peer_open(w);
    assert_string_equal(room_eio_session_id(p->s), "AAAAAAAAAAAAAAAAAAAA");
    join(w, p, "/");
    assert_int_equal(p->sealed, (int)p->n);
    /* Too big for the root's max_message_bytes, within a frame of the
     * hub's: an error event, no close. */
    memset(msg, 'a', sizeof msg);
    memcpy(msg, "42[\"chat\",\"", 11);
    memcpy(msg + 60, "\"]", 3);
    assert_int_equal(in(w, p, msg), 0);
    memcpy(msg + 60, "aaaaa\"]", 8);
    assert_int_equal(in(w, p, msg), ROOM_EPROTO);
    assert_int_equal(p->close_code, ROOM_CLOSE_MESSAGE_TOO_BIG);
    p = peer_open(w);
    room_eio_tick(w->eio, 1000);
    assert_string_equal(last(p), "2");
    assert_int_equal(p->sealed, (int)p->n);
    /* The log saw the close; the host's random failing fails the open. */
    assert_true(w->logs > 0);
    counter = 1000;
    assert_int_equal(peer_try(w, NULL, &p), ROOM_EINVAL);
}

/* ---- ownership ---------------------------------------------------------------- */

static int destroyed;
static void count_destroy(room_adapter *adapter)
{
    (void)adapter;
    destroyed++;
}

/* The root hub takes the host's adapter when room_eio_new() succeeds, and
 * only then, at every allocation that can fail. */
static void takes_the_adapter_only_on_success(void **state)
{
    world *w = *state;
    room_adapter adapter = {.size = sizeof adapter, .name = "counted", .destroy = count_destroy};
    size_t n;

    for (n = 1;; n++) {
        room_eio *eio = NULL;
        int rc;
        world_config(w);
        w->alloc.fail_at = n;
        w->root.adapter = &adapter;
        destroyed = 0;
        rc = room_eio_new(&eio, &w->cfg, &w->root);
        assert_int_equal(destroyed, 0);
        if (rc == 0) {
            room_eio_free(eio);
            assert_int_equal(destroyed, 1);
        } else {
            assert_int_equal(rc, ROOM_ENOMEM);
            assert_null(eio);
        }
        assert_int_equal(w->alloc.allocs, w->alloc.frees);
        if (!w->alloc.failures)
            break;
    }
    assert_true(n > 3);
}

/* ---- memory ----------------------------------------------------------------- */

static void scenario(world *w)
{
    room_hub *root, *admin = NULL;
    peer *peers[2] = {NULL, NULL};
    json_t *payload = json_string("p");
    json_t *query = json_pack("{ss}", "room", "lobby");
    peer *idle;
    size_t i;

    if (room_eio_new(&w->eio, &w->cfg, NULL) != 0) {
        json_decref(payload);
        json_decref(query);
        return;
    }
    root = room_eio_hub(w->eio, "/");
    room_eio_namespace(w->eio, "/admin", NULL, &admin);
    register_handlers(root, "/");
    if (admin)
        register_handlers(admin, "/admin");
    for (i = 0; i < 2; i++) {
        peer *p;
        if (peer_try(w, i ? query : NULL, &p) != 0)
            continue;
        peers[i] = p;
        in(w, p, "40");
        /* peers[0] joins "/admin", peers[1] is refused there; both go on. */
        in(w, p, i ? "40/admin,{\"token\":\"bad\"}" : "40/admin,{\"token\":\"welcome\"}");
        in(w, p, "40/nope,");
        in(w, p, "42[\"chat\",1]");
        in(w, p, "425[\"chat\",1]");
        in(w, p, "452-[\"up\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
        in_bin(w, p, "ab", 2);
        in_bin(w, p, "cd", 2);
        in(w, p, "42/admin,3[\"chat\"]");
        in(w, p, "41/admin,");
    }
    room_broadcast(root, "news", payload, NULL);
    if (peers[0] && room_conn_count(root)) {
        room_conn *conn = NULL;
        /* Whichever connection the hub has: ack it if it is peers[0]'s. */
        for (size_t k = 0; k < peers[0]->n; k++) {
            if (strncmp(peers[0]->frames[k], "40{\"sid\":\"", 10) == 0) {
                char id[21];
                memcpy(id, peers[0]->frames[k] + 10, 20);
                id[20] = '\0';
                conn = room_conn_find(root, id);
            }
        }
        if (conn && room_emit_ack(root, conn, "q", payload, 100, on_ack, NULL) == 0)
            in(w, peers[0], "430[\"a\"]");
    }
    room_eio_tick(w->eio, 1000);
    if (peers[0])
        in(w, peers[0], "3");
    room_eio_tick(w->eio, 1500);
    if (peers[0])
        in(w, peers[0], "42[1]");
    /* One that never CONNECTs, closed by the connect timeout. */
    peer_try(w, NULL, &idle);
    room_eio_tick(w->eio, 1500 + w->cfg.connect_timeout_ms);
    json_decref(payload);
    json_decref(query);
}

static void survives_every_allocation_failure(void **state)
{
    world *w = *state;
    size_t n;
    for (n = 1;; n++) {
        world_config(w);
        memset(&seen, 0, sizeof seen);
        w->alloc.fail_at = n;
        scenario(w);
        while (w->open)
            peer_close(w, w->open);
        room_eio_free(w->eio);
        w->eio = NULL;
        if (w->alloc.allocs != w->alloc.frees)
            fail_msg("failing allocation %zu: %zu allocs, %zu frees", n, w->alloc.allocs,
                     w->alloc.frees);
        if (!w->alloc.failures)
            break;
    }
    assert_true(n > 20);
}

/* Bytes in use through the allocator, to price an idle session: as asked
 * for, and as glibc's malloc would take them (8 bytes of header, 16-byte
 * granules, 32 at least), which is what the process's RSS pays. */
typedef struct meter {
    size_t bytes, chunks;
} meter;

static size_t chunk(size_t size)
{
    size_t c = (size + 8 + 15) & ~(size_t)15;
    return c < 32 ? 32 : c;
}

static void *meter_malloc(size_t size, void *ud)
{
    meter *m = ud;
    size_t *p = malloc(sizeof(size_t) * 2 + size);
    m->bytes += size;
    m->chunks += chunk(size);
    p[0] = size;
    return p + 2;
}

static void *meter_realloc(void *ptr, size_t size, void *ud)
{
    meter *m = ud;
    size_t *p = (size_t *)ptr - 2;
    m->bytes += size - p[0];
    m->chunks += chunk(size) - chunk(p[0]);
    p = realloc(p, sizeof(size_t) * 2 + size);
    p[0] = size;
    return p + 2;
}

static void meter_free(void *ptr, void *ud)
{
    meter *m = ud;
    size_t *p = (size_t *)ptr - 2;
    m->bytes -= p[0];
    m->chunks -= chunk(p[0]);
    free(p);
}

/* Sessions before their CONNECT, and idle in "/": what they cost in all,
 * and the room_eio's own part of that (the rest is the hub's, which it
 * counts itself). */
static void idle_sessions_are_small(void **state)
{
    enum { N = 256 };
    world *w = *state;
    meter m = {0};
    peer *peers[N];
    room_hub *root, *admin;
    size_t before, before_chunks, before_hub, idle, idle_chunks, connected, connected_chunks, own;

    w->cfg.allocator = (room_allocator){meter_malloc, meter_realloc, meter_free, &m};
    start(w);
    root = room_eio_hub(w->eio, "/");
    admin = room_eio_hub(w->eio, "/admin");
    /* Warm up the hub's arrays and tables so that growth does not count. */
    for (size_t i = 0; i < N; i++) {
        peers[i] = peer_open(w);
        join(w, peers[i], "/");
    }
    for (size_t i = 0; i < N; i++)
        peer_close(w, peers[i]);

    before = m.bytes;
    before_chunks = m.chunks;
    before_hub = room_hub_memory(root);
    for (size_t i = 0; i < N; i++)
        peers[i] = peer_open(w);
    idle = (m.bytes - before) / N;
    idle_chunks = (m.chunks - before_chunks) / N;
    for (size_t i = 0; i < N; i++)
        join(w, peers[i], "/");
    connected = (m.bytes - before) / N;
    connected_chunks = (m.chunks - before_chunks) / N;
    own = connected - (room_hub_memory(root) - before_hub) / N;
    print_message("per session: %zu bytes (%zu in chunks) before CONNECT; connected to \"/\": "
                  "%zu bytes (%zu in chunks), %zu of them the room_eio's\n",
                  idle, idle_chunks, connected, connected_chunks, own);
    assert_true(idle <= 128);
    assert_true(connected <= 256);
    assert_true(own <= 88);

    /* A namespace left and attachments delivered leave nothing behind. */
    own = m.bytes - room_hub_memory(root) - room_hub_memory(admin);
    for (size_t i = 0; i < N; i++) {
        join(w, peers[i], "/admin");
        assert_int_equal(in(w, peers[i], "41/admin,"), 0);
        assert_int_equal(in(w, peers[i], "451-[\"up\",{\"_placeholder\":true,\"num\":0}]"), 0);
        assert_int_equal(in_bin(w, peers[i], "ab", 2), 0);
    }
    assert_int_equal(m.bytes - room_hub_memory(root) - room_hub_memory(admin), own);
    for (size_t i = 0; i < N; i++)
        peer_close(w, peers[i]);
    room_eio_free(w->eio);
    w->eio = NULL;
    assert_int_equal(m.bytes, 0);
}

/* A namespace hub's rate limits refill by the time room_eio_recv() is
 * given, without a room_eio_tick() in between. */
static void rate_limits_use_the_message_time(void **state)
{
    world *w = *state;
    peer *p;
    w->root.rate_messages = 1;
    start(w);
    p = peer_open(w);
    join(w, p, "/");
    assert_int_equal(in(w, p, "42[\"chat\",1]"), 0);
    w->now += 999;
    assert_int_equal(in(w, p, "42[\"chat\",2]"), ROOM_ERATELIMIT);
    assert_non_null(strstr(last(p), "rate_limited"));
    w->now += 1;
    assert_int_equal(in(w, p, "42[\"chat\",3]"), 0);
    assert_string_equal(seen.log, "/:chat [1];/:chat [3];");
}

int main(void)
{
#define FRESH(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
#define STARTED(t) cmocka_unit_test_setup_teardown(t, setup_started, teardown)
    const struct CMUnitTest tests[] = {
        FRESH(sends_the_open_packet),
        FRESH(resolves_defaults),
        FRESH(honours_the_config_size),
        STARTED(connects_to_namespaces),
        STARTED(passes_auth_and_refuses),
        STARTED(passes_query_parameters),
        STARTED(pings_and_times_out),
        FRESH(closes_sessions_that_never_connect),
        STARTED(delivers_events_and_answers_acks),
        STARTED(collects_binary_attachments),
        STARTED(resolves_server_acks),
        STARTED(closes_only_the_offending_session),
        FRESH(bounds_messages_by_the_root_limit),
        STARTED(disconnects_namespaces_and_sessions),
        STARTED(handles_send_failures_and_kicks),
        FRESH(configures_hubs),
        FRESH(takes_the_adapter_only_on_success),
        FRESH(survives_every_allocation_failure),
        FRESH(idle_sessions_are_small),
        FRESH(rate_limits_use_the_message_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
