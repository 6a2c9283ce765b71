/* libroom-yjs: the y-websocket codec (lib/yjs/codec.c) and the protocol on
 * a hub (lib/yjs/yjs.c) through a fake binary transport: sync and the
 * streamed log, relays, awareness and its ownership, query-awareness,
 * compaction, refusals, keepalive, and allocation failures. */
#include <stdlib.h>
#include <string.h>

#include "room/yjs.h"
#include "test_util.h"

/* ---- codec ------------------------------------------------------------------ */

static void varuint_round_trip(void **state)
{
    static const uint64_t values[] = {0, 1, 127, 128, 300, 16383, 16384, 0xffffffffu, ROOM_YJS_MAX_UINT};
    uint8_t buf[ROOM_YJS_VARUINT_MAX];
    (void)state;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        size_t n = room_yjs_write_uint(buf, values[i]), pos = 0;
        uint64_t v = 1;
        assert_true(n <= ROOM_YJS_VARUINT_MAX);
        assert_int_equal(room_yjs_read_uint(buf, n, &pos, &v), 0);
        assert_int_equal(pos, n);
        assert_true(v == values[i]);
        /* Cut anywhere inside: refused, nothing consumed. */
        pos = 0;
        if (n > 1)
            assert_int_equal(room_yjs_read_uint(buf, n - 1, &pos, &v), ROOM_EPROTO);
        assert_int_equal(pos, 0);
    }
    assert_int_equal(room_yjs_write_uint(buf, 300), 2);
    assert_int_equal(buf[0], 0xac);
    assert_int_equal(buf[1], 0x02);
}

static void varuint_out_of_range(void **state)
{
    /* 2^53: one past JavaScript's safe integers. */
    static const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10};
    /* Nine bytes, and ten of 0xff: past what any safe integer takes. */
    static const uint8_t nine[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t ff[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    /* Not minimal, as lib0 accepts it: 0. */
    static const uint8_t padded[] = {0x80, 0x00};
    size_t pos = 0;
    uint64_t v;
    (void)state;
    assert_int_equal(room_yjs_read_uint(big, sizeof big, &pos, &v), ROOM_EPROTO);
    assert_int_equal(room_yjs_read_uint(nine, sizeof nine, &pos, &v), ROOM_EPROTO);
    assert_int_equal(room_yjs_read_uint(ff, sizeof ff, &pos, &v), ROOM_EPROTO);
    assert_int_equal(pos, 0);
    assert_int_equal(room_yjs_read_uint(padded, sizeof padded, &pos, &v), 0);
    assert_true(v == 0 && pos == 2);
    pos = 3; /* past the end */
    assert_int_equal(room_yjs_read_uint(padded, sizeof padded, &pos, &v), ROOM_EPROTO);
}

static void bytes_lengths(void **state)
{
    static const uint8_t ok[] = {3, 'a', 'b', 'c', 9};
    static const uint8_t over[] = {4, 'a', 'b', 'c'};
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 'a'};
    const uint8_t *data;
    size_t pos = 0, len;
    (void)state;
    assert_int_equal(room_yjs_read_bytes(ok, sizeof ok, &pos, &data, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "abc", 3);
    assert_int_equal(pos, 4);
    pos = 0;
    assert_int_equal(room_yjs_read_bytes(over, sizeof over, &pos, &data, &len), ROOM_EPROTO);
    assert_int_equal(room_yjs_read_bytes(huge, sizeof huge, &pos, &data, &len), ROOM_EPROTO);
    assert_int_equal(pos, 0);
}

static void decode_messages(void **state)
{
    /* Step 1, an update, awareness, query-awareness, then auth (the rest). */
    static const uint8_t all[] = {0, 0, 1, 0,   0, 2, 2, 0xaa, 0xbb,  1, 3, 1, 2, 3,  3,
                                  2, 0, 2, 'n', 'o'};
    room_yjs_msg m;
    size_t pos = 0;
    (void)state;
    assert_int_equal(room_yjs_decode(all, sizeof all, &pos, &m), 1);
    assert_true(m.type == ROOM_YJS_MSG_SYNC && m.sync == ROOM_YJS_SYNC_STEP1 && m.len == 1);
    assert_int_equal(m.start, 0);
    assert_int_equal(m.end, 4);
    assert_int_equal(room_yjs_decode(all, sizeof all, &pos, &m), 1);
    assert_true(m.type == ROOM_YJS_MSG_SYNC && m.sync == ROOM_YJS_SYNC_UPDATE && m.len == 2);
    assert_int_equal(m.data[1], 0xbb);
    assert_int_equal(room_yjs_decode(all, sizeof all, &pos, &m), 1);
    assert_true(m.type == ROOM_YJS_MSG_AWARENESS && m.len == 3);
    assert_int_equal(room_yjs_decode(all, sizeof all, &pos, &m), 1);
    assert_true(m.type == ROOM_YJS_MSG_QUERY_AWARENESS && m.len == 0);
    assert_int_equal(room_yjs_decode(all, sizeof all, &pos, &m), 1);
    assert_true(m.type == ROOM_YJS_MSG_AUTH && m.len == 4 && m.end == sizeof all);
    assert_int_equal(room_yjs_decode(all, sizeof all, &pos, &m), 0);
}

static void decode_refusals(void **state)
{
    static const uint8_t bad_sync[] = {0, 3, 0};
    static const uint8_t short_update[] = {0, 2, 5, 1, 2};
    static const uint8_t short_awareness[] = {1, 2, 0};
    static const uint8_t cut_type[] = {0x80};
    static const uint8_t unknown[] = {7, 1, 2, 3};
    room_yjs_msg m;
    size_t pos = 0;
    (void)state;
    assert_int_equal(room_yjs_decode(bad_sync, sizeof bad_sync, &pos, &m), ROOM_EPROTO);
    assert_int_equal(room_yjs_decode(short_update, sizeof short_update, &pos, &m), ROOM_EPROTO);
    assert_int_equal(room_yjs_decode(short_awareness, sizeof short_awareness, &pos, &m), ROOM_EPROTO);
    assert_int_equal(room_yjs_decode(cut_type, sizeof cut_type, &pos, &m), ROOM_EPROTO);
    assert_int_equal(pos, 0);
    assert_int_equal(room_yjs_decode(unknown, sizeof unknown, &pos, &m), 1);
    assert_true(m.type == 7 && m.len == 3 && pos == sizeof unknown);
}

static void awareness_entries(void **state)
{
    static const uint8_t two[] = {2, 7, 1, 2, '{', '}', 0x80, 0x01, 5, 4, 'n', 'u', 'l', 'l'};
    static const uint8_t lying[] = {9, 7, 1, 0};
    static const uint8_t cut[] = {1, 7, 1, 5, '{'};
    room_yjs_awareness_entry e;
    uint64_t n;
    size_t pos = 0;
    (void)state;
    assert_int_equal(room_yjs_awareness_count(two, sizeof two, &pos, &n), 0);
    assert_true(n == 2);
    assert_int_equal(room_yjs_awareness_next(two, sizeof two, &pos, &e), 0);
    assert_true(e.client == 7 && e.clock == 1 && e.state_len == 2);
    assert_int_equal(room_yjs_awareness_next(two, sizeof two, &pos, &e), 0);
    assert_true(e.client == 128 && e.clock == 5 && e.state_len == 4);
    assert_memory_equal(e.state, "null", 4);
    assert_int_equal(pos, sizeof two);
    pos = 0;
    /* More entries than the bytes could hold. */
    assert_int_equal(room_yjs_awareness_count(lying, sizeof lying, &pos, &n), ROOM_EPROTO);
    pos = 1;
    assert_int_equal(room_yjs_awareness_next(cut, sizeof cut, &pos, &e), ROOM_EPROTO);
    assert_int_equal(pos, 1);
}

/* ---- a binary fake transport ------------------------------------------------ */

typedef struct msg {
    uint8_t *bytes;
    size_t len;
} msg;

typedef struct peer {
    room_conn *conn;
    msg *got;
    size_t n, cap;
    int kicked, close_code;
} peer;

static int send_cb(void *transport, room_frame *frame, void *ud)
{
    peer *p = transport;
    size_t len;
    const uint8_t *b = room_frame_payload(frame, &len);
    (void)ud;
    assert_int_equal(room_frame_kind(frame), ROOM_FRAME_BINARY);
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->got = realloc(p->got, p->cap * sizeof *p->got);
    }
    p->got[p->n].bytes = malloc(len ? len : 1);
    memcpy(p->got[p->n].bytes, b, len);
    p->got[p->n++].len = len;
    return 0;
}

static void close_cb(void *transport, int code, const char *reason, void *ud)
{
    peer *p = transport;
    (void)reason, (void)ud;
    p->kicked++;
    p->close_code = code;
}

static void clear(peer *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->got[i].bytes);
    p->n = 0;
}

static void peer_free(peer *p)
{
    clear(p);
    free(p->got);
    free(p);
}

typedef struct world {
    fake_net net;
    room_allocator alloc;
    room_yjs *yjs;
    room_hub *hub;
    int refuse; /* authorize refuses everything */
    uint32_t rate; /* the hub's rate_messages (its burst too); 0: none */
} world;

static int authorize(room_hub *hub, room_conn *conn, const char *room, json_t *metadata,
                     room_join_verdict *verdict, void *ud)
{
    world *w = ud;
    (void)hub, (void)conn, (void)room;
    if (w->refuse || json_object_get(metadata, "deny")) {
        verdict->reason = "no entry";
        return ROOM_EFORBIDDEN;
    }
    return 0;
}

/* A hub on the fake transport, with libroom-yjs; compaction past
 * `compact_bytes` (0: the default), the log streamed in `chunk` bytes. */
static int world_new(world *w, size_t compact_bytes, size_t chunk)
{
    room_config cfg;
    room_yjs_config ycfg;
    room_storage_config st;
    int rc;
    room_config_init(&cfg);
    fake_config(&cfg, &w->net);
    cfg.send = send_cb;
    cfg.close = close_cb;
    cfg.rate_messages = w->rate;
    if ((rc = room_hub_new(&w->hub, &cfg)) != 0)
        return rc;
    w->net.hub = w->hub;
    w->alloc = fake_allocator(&w->net.alloc);
    room_storage_config_init(&st);
    st.compact_bytes = compact_bytes;
    room_yjs_config_init(&ycfg);
    ycfg.allocator = &w->alloc;
    ycfg.authorize = authorize;
    ycfg.user_data = w;
    ycfg.storage = &st;
    ycfg.sync_chunk_bytes = chunk;
    ycfg.max_awareness_bytes = 64;
    return room_yjs_new(&w->yjs, w->hub, &ycfg);
}

static void world_free(world *w)
{
    room_yjs_free(w->yjs);
    room_hub_free(w->hub);
}

/* A connection to `room` as libroom-ws's prefix mount opens it (the name in
 * the handshake); NULL when refused (*rc_out says why). */
static peer *join_q(world *w, const char *room, json_t *query, int *rc_out)
{
    peer *p = calloc(1, sizeof *p);
    room_open_args args;
    json_t *hs = json_pack("{s:s}", "name", room), *refusal = NULL;
    int rc;
    room_open_args_init(&args);
    args.handshake = hs;
    args.query = query;
    rc = room_conn_open_with(w->hub, p, &args, &p->conn, &refusal);
    json_decref(hs);
    json_decref(refusal);
    if (rc_out)
        *rc_out = rc;
    if (rc != 0) {
        peer_free(p);
        return NULL;
    }
    return p;
}

static peer *join(world *w, const char *room)
{
    peer *p = join_q(w, room, NULL, NULL);
    assert_non_null(p);
    return p;
}

static void leave(world *w, peer *p)
{
    room_conn_close(w->hub, p->conn, "test");
    peer_free(p);
}

static int recv_bytes(world *w, peer *p, const void *b, size_t n)
{
    return room_yjs_recv(w->yjs, p->conn, b, n);
}

/* The "everything written" signal until the stream is over. */
static void drain_all(world *w, peer *p)
{
    for (int i = 0; i < 1000; i++)
        room_yjs_drained(w->yjs, p->conn);
}

static const uint8_t STEP1[] = {0, 0, 1, 0};
static const uint8_t STEP2[] = {0, 1, 2, 0, 0};

static void assert_msg(const peer *p, size_t i, const uint8_t *b, size_t n)
{
    assert_true(i < p->n);
    assert_int_equal(p->got[i].len, n);
    assert_memory_equal(p->got[i].bytes, b, n);
}

/* An update message of `len` bytes of `fill` (opaque to the server). */
static size_t update(uint8_t *out, uint8_t fill, size_t len)
{
    out[0] = 0;
    out[1] = 2;
    size_t n = 2 + room_yjs_write_uint(out + 2, len);
    memset(out + n, fill, len);
    return n + len;
}

/* ---- the protocol --------------------------------------------------------------- */

static void sync_and_relay(void **state)
{
    world w = {0};
    uint8_t u1[16], u2[16];
    size_t n1 = update(u1, 0x11, 3), n2 = update(u2, 0x22, 4);
    (void)state;
    assert_int_equal(world_new(&w, 0, 0), 0);
    peer *a = join(&w, "doc");
    /* Step 1 first, then the (empty) log, then step 2. */
    assert_int_equal(a->n, 2);
    assert_msg(a, 0, STEP1, sizeof STEP1);
    assert_msg(a, 1, STEP2, sizeof STEP2);
    /* The client's answer to step 1 with nothing in it is not logged. */
    assert_int_equal(recv_bytes(&w, a, STEP2, sizeof STEP2), 0);
    assert_int_equal(recv_bytes(&w, a, u1, n1), 0);
    peer *b = join(&w, "doc");
    assert_int_equal(b->n, 3);
    assert_msg(b, 0, STEP1, sizeof STEP1);
    assert_msg(b, 1, u1, n1);
    assert_msg(b, 2, STEP2, sizeof STEP2);
    clear(a), clear(b);
    /* A relay goes to the others, once, as is. */
    assert_int_equal(recv_bytes(&w, b, u2, n2), 0);
    assert_int_equal(a->n, 1);
    assert_msg(a, 0, u2, n2);
    assert_int_equal(b->n, 0);
    /* Another room is another document. */
    peer *c = join(&w, "other");
    assert_int_equal(c->n, 2);
    /* A step 2 with content (offline edits) is logged and relayed. */
    uint8_t s2[16];
    size_t ns = update(s2, 0x33, 2);
    s2[1] = 1;
    clear(a);
    assert_int_equal(recv_bytes(&w, b, s2, ns), 0);
    assert_int_equal(a->n, 1);
    s2[1] = 2;
    assert_msg(a, 0, s2, ns);
    /* A second step 1 of a client gets the log again, then step 2. */
    clear(b);
    assert_int_equal(recv_bytes(&w, b, STEP1, sizeof STEP1), 0);
    assert_int_equal(b->n, 4);
    assert_msg(b, 3, STEP2, sizeof STEP2);
    leave(&w, a), leave(&w, b), leave(&w, c);
    world_free(&w);
}

static void log_streamed_in_parts(void **state)
{
    world w = {0};
    uint8_t u[64];
    (void)state;
    /* Parts of at most 10 bytes of frame payload: one entry each. */
    assert_int_equal(world_new(&w, 0, 10), 0);
    peer *a = join(&w, "doc");
    for (int i = 0; i < 5; i++) {
        size_t n = update(u, (uint8_t)i, 20);
        assert_int_equal(recv_bytes(&w, a, u, n), 0);
    }
    peer *b = join(&w, "doc");
    assert_int_equal(b->n, 2); /* step 1, the first entry */
    /* A relay while it syncs reaches it through the stream, after the log. */
    size_t n = update(u, 9, 20);
    assert_int_equal(recv_bytes(&w, a, u, n), 0);
    assert_int_equal(b->n, 2);
    for (size_t want = 3; want <= 6; want++) {
        room_yjs_drained(w.yjs, b->conn);
        assert_int_equal(b->n, want);
        assert_int_equal(b->got[want - 1].bytes[1], 2); /* an update */
    }
    /* The last part, and the step 2 right behind it. */
    room_yjs_drained(w.yjs, b->conn);
    assert_int_equal(b->n, 8);
    assert_msg(b, 6, u, n);
    assert_msg(b, 7, STEP2, sizeof STEP2);
    room_yjs_drained(w.yjs, b->conn);
    assert_int_equal(b->n, 8);
    leave(&w, a), leave(&w, b);
    world_free(&w);
}

/* An awareness message of one entry. */
static size_t aware(uint8_t *out, uint64_t client, uint64_t clock, const char *state)
{
    uint8_t body[128];
    size_t n = room_yjs_write_uint(body, 1), sl = strlen(state), m;
    n += room_yjs_write_uint(body + n, client);
    n += room_yjs_write_uint(body + n, clock);
    n += room_yjs_write_uint(body + n, sl);
    memcpy(body + n, state, sl);
    n += sl;
    out[0] = 1;
    m = 1 + room_yjs_write_uint(out + 1, n);
    memcpy(out + m, body, n);
    return m + n;
}

static void assert_presence(world *w, const char *room, const char *user, const char *json)
{
    json_t *st = room_presence_state(w->hub, room), *want = json_loads(json, 0, NULL);
    json_t *got = json_object_get(json_object_get(st, user), "state");
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *s = json_dumps(st, 0);
        fail_msg("presence %s, wanted %s for %s", s, json, user);
    }
    json_decref(want);
    json_decref(st);
}

static void awareness_relay_query_and_removal(void **state)
{
    world w = {0};
    uint8_t m[256], want[256];
    size_t n, k;
    (void)state;
    assert_int_equal(world_new(&w, 0, 0), 0);
    peer *a = join(&w, "doc"), *b = join(&w, "doc");
    clear(a), clear(b);
    n = aware(m, 7, 1, "{\"user\":{\"name\":\"Ada\"},\"cursor\":null}");
    assert_int_equal(recv_bytes(&w, a, m, n), 0);
    /* Everyone, the sender too, gets it as it came. */
    assert_msg(a, 0, m, n);
    assert_msg(b, 0, m, n);
    assert_presence(&w, "doc", room_conn_id(a->conn), "{\"7\":{\"user\":{\"name\":\"Ada\"}}}");
    /* A new state replaces the old one, keys gone included. */
    n = aware(m, 7, 2, "{\"x\":1}");
    assert_int_equal(recv_bytes(&w, a, m, n), 0);
    assert_presence(&w, "doc", room_conn_id(a->conn), "{\"7\":{\"x\":1}}");
    /* Query-awareness: every state, as last sent. */
    clear(b);
    assert_int_equal(recv_bytes(&w, b, "\x03", 1), 0);
    assert_int_equal(b->n, 1);
    assert_msg(b, 0, m, n);
    /* An older clock changes nothing (still relayed: clients judge too). */
    k = aware(m, 7, 1, "{\"old\":1}");
    assert_int_equal(recv_bytes(&w, a, m, k), 0);
    assert_presence(&w, "doc", room_conn_id(a->conn), "{\"7\":{\"x\":1}}");
    /* Its drop removes it for the others: clock + 1, state null. */
    clear(b);
    leave(&w, a);
    k = aware(want, 7, 3, "null");
    assert_int_equal(b->n, 1);
    assert_msg(b, 0, want, k);
    leave(&w, b);
    world_free(&w);
}

static void awareness_owner_is_the_last_sender(void **state)
{
    world w = {0};
    uint8_t m[256];
    size_t n;
    (void)state;
    assert_int_equal(world_new(&w, 0, 0), 0);
    peer *old = join(&w, "doc"), *b = join(&w, "doc");
    n = aware(m, 42, 1, "{}");
    assert_int_equal(recv_bytes(&w, old, m, n), 0);
    /* The same client on a new socket before the old one's close. */
    peer *fresh = join(&w, "doc");
    n = aware(m, 42, 2, "{\"back\":true}");
    assert_int_equal(recv_bytes(&w, fresh, m, n), 0);
    assert_presence(&w, "doc", room_conn_id(old->conn), "{}");
    assert_presence(&w, "doc", room_conn_id(fresh->conn), "{\"42\":{\"back\":true}}");
    clear(b);
    leave(&w, old);
    assert_int_equal(b->n, 0); /* not its client any more */
    /* A client's own removal: gone, and nothing to remove at its close. */
    n = aware(m, 42, 3, "null");
    assert_int_equal(recv_bytes(&w, fresh, m, n), 0);
    assert_presence(&w, "doc", room_conn_id(fresh->conn), "{}");
    clear(b);
    leave(&w, fresh);
    assert_int_equal(b->n, 0);
    leave(&w, b);
    world_free(&w);
}

static void bad_messages_close(void **state)
{
    static const uint8_t garbage[] = {0, 2, 9, 1};
    world w = {0};
    uint8_t m[256];
    size_t n;
    (void)state;
    assert_int_equal(world_new(&w, 0, 0), 0);
    peer *a = join(&w, "doc");
    assert_int_equal(recv_bytes(&w, a, garbage, sizeof garbage), ROOM_EPROTO);
    assert_int_equal(a->close_code, ROOM_CLOSE_PROTOCOL_ERROR);
    leave(&w, a);
    a = join(&w, "doc");
    n = aware(m, 1, 1, "{not json");
    assert_int_equal(recv_bytes(&w, a, m, n), ROOM_EPROTO);
    leave(&w, a);
    a = join(&w, "doc");
    /* Over max_awareness_bytes (64). */
    n = aware(m, 1, 1, "{\"s\":\"..................................................................\"}");
    assert_int_equal(recv_bytes(&w, a, m, n), ROOM_ETOOBIG);
    assert_int_equal(a->close_code, ROOM_CLOSE_MESSAGE_TOO_BIG);
    leave(&w, a);
    /* Auth and unknown types are ignored. */
    a = join(&w, "doc");
    assert_int_equal(recv_bytes(&w, a, "\x02\x00\x01x", 4), 0);
    assert_int_equal(recv_bytes(&w, a, "\x09\x01", 2), 0);
    assert_int_equal(a->kicked, 0);
    leave(&w, a);
    world_free(&w);
}

/* The hub's rate limits hold for y-websocket messages too: past them the
 * client is closed (1008), not dropped, since a dropped update would be
 * lost to it. */
static void rate_limits_close(void **state)
{
    static const uint8_t update[] = {ROOM_YJS_MSG_SYNC, ROOM_YJS_SYNC_UPDATE, 2, 0, 0};
    room_hub_stats stats;
    world w = {0};
    (void)state;
    w.rate = 2; /* a second's worth of burst: two messages */
    assert_int_equal(world_new(&w, 0, 0), 0);
    room_yjs_tick(w.yjs, 1000);
    peer *a = join(&w, "doc");
    assert_int_equal(recv_bytes(&w, a, update, sizeof update), 0);
    assert_int_equal(recv_bytes(&w, a, update, sizeof update), 0);
    assert_int_equal(a->kicked, 0);
    assert_int_equal(recv_bytes(&w, a, update, sizeof update), ROOM_ERATELIMIT);
    assert_int_equal(a->close_code, ROOM_CLOSE_POLICY_VIOLATION);
    room_hub_stats_get(w.hub, &stats);
    assert_int_equal(stats.rate_limited, 1);
    leave(&w, a);
    /* The bucket refills with the hub's time. */
    peer *b = join(&w, "doc");
    assert_int_equal(recv_bytes(&w, b, update, sizeof update), 0);
    assert_int_equal(recv_bytes(&w, b, update, sizeof update), 0);
    room_yjs_tick(w.yjs, 2000);
    assert_int_equal(recv_bytes(&w, b, update, sizeof update), 0);
    assert_int_equal(b->kicked, 0);
    leave(&w, b);
    world_free(&w);
}

static void refused_with_permission_denied(void **state)
{
    world w = {0};
    json_t *q = json_pack("{s:s}", "deny", "1");
    int rc;
    (void)state;
    assert_int_equal(world_new(&w, 0, 0), 0);
    assert_null(join_q(&w, "doc", q, &rc));
    assert_int_equal(rc, ROOM_EDENIED);
    assert_int_equal(room_member_count(w.hub, "doc"), 0);
    json_decref(q);
    /* Without a name there is no document. */
    peer *p = calloc(1, sizeof *p);
    assert_int_equal(room_conn_open(w.hub, p, &p->conn), ROOM_EDENIED);
    assert_int_equal(p->n, 1);
    assert_int_equal(p->got[0].bytes[0], ROOM_YJS_MSG_AUTH);
    assert_int_equal(p->got[0].bytes[1], 0);
    peer_free(p);
    world_free(&w);
}

static void compaction_keeps_every_update(void **state)
{
    world w = {0};
    uint8_t u[600], snap[1200];
    size_t n, sn;
    (void)state;
    assert_int_equal(world_new(&w, 2000, 0), 0);
    peer *a = join(&w, "doc"), *b = join(&w, "doc");
    /* a answers its step 1: it may be asked for a snapshot. */
    assert_int_equal(recv_bytes(&w, a, STEP2, sizeof STEP2), 0);
    for (int i = 0; i < 5; i++) {
        n = update(u, (uint8_t)(0x40 + i), 500);
        assert_int_equal(recv_bytes(&w, b, u, n), 0);
    }
    clear(a);
    room_yjs_tick(w.yjs, 1000); /* the flush asks for compactions */
    /* a is asked: a step 1 with an empty state vector. */
    assert_int_equal(a->n, 1);
    assert_msg(a, 0, STEP1, sizeof STEP1);
    /* An update races the answer: it stays after the snapshot. */
    n = update(u, 0x77, 30);
    assert_int_equal(recv_bytes(&w, b, u, n), 0);
    sn = update(snap, 0x55, 100);
    snap[1] = 1; /* a's answer: step 2 with its whole state */
    assert_int_equal(recv_bytes(&w, a, snap, sn), 0);
    peer *c = join(&w, "doc");
    assert_int_equal(c->n, 4);
    snap[1] = 2;
    assert_msg(c, 1, snap, sn); /* the snapshot, then the racing update */
    assert_msg(c, 2, u, n);
    assert_msg(c, 3, STEP2, sizeof STEP2);
    room_storage_info info;
    info.size = sizeof info;
    assert_int_equal(room_storage_get_info(w.hub, "doc", &info), 0);
    assert_int_equal(info.entries, 2);
    leave(&w, a), leave(&w, b), leave(&w, c);
    world_free(&w);
}

static void keepalive_every_interval(void **state)
{
    static const uint8_t empty_awareness[] = {1, 1, 0};
    world w = {0};
    (void)state;
    assert_int_equal(world_new(&w, 0, 0), 0);
    peer *a = join(&w, "doc");
    clear(a);
    assert_true(room_yjs_tick(w.yjs, 1000) <= 15000);
    assert_int_equal(a->n, 0);
    assert_true(room_yjs_tick(w.yjs, 10000) <= 6000);
    assert_int_equal(a->n, 0);
    room_yjs_tick(w.yjs, 16000);
    assert_int_equal(a->n, 1);
    assert_msg(a, 0, empty_awareness, sizeof empty_awareness);
    leave(&w, a);
    world_free(&w);
}

/* Everything once, for the allocation failures below. Returns nonzero
 * when some call reported a failure. */
static int session(world *w, size_t fail_at)
{
    uint8_t m[256];
    size_t n;
    int rc = 0, r;
    peer *p[2];
    if (world_new(w, 600, 0) != 0)
        return 1;
    w->net.alloc.fail_at = fail_at ? w->net.alloc.allocs + fail_at : 0;
    for (int i = 0; i < 2; i++) {
        p[i] = join_q(w, "doc", NULL, &r);
        rc |= r != 0;
    }
    for (int i = 0; i < 2; i++) {
        if (!p[i])
            continue;
        rc |= recv_bytes(w, p[i], STEP2, sizeof STEP2) != 0;
        n = update(m, (uint8_t)i, 200);
        rc |= recv_bytes(w, p[i], m, n) != 0;
        n = aware(m, (uint64_t)i + 1, 1, "{\"a\":[1,2]}");
        rc |= recv_bytes(w, p[i], m, n) != 0;
        rc |= recv_bytes(w, p[i], "\x03", 1) != 0;
        drain_all(w, p[i]);
    }
    room_yjs_tick(w->yjs, 20000);
    for (int i = 0; i < 2; i++) {
        if (p[i])
            leave(w, p[i]);
    }
    return rc;
}

static void fail_nth_allocation(void **state)
{
    (void)state;
    for (size_t n = 1;; n++) {
        world w = {0};
        int failed = session(&w, n);
        size_t failures = w.net.alloc.failures;
        world_free(&w);
        assert_int_equal(w.net.alloc.allocs, w.net.alloc.frees);
        if (!failures) {
            assert_int_equal(failed, 0);
            assert_true(n > 20);
            break;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(varuint_round_trip),
        cmocka_unit_test(varuint_out_of_range),
        cmocka_unit_test(bytes_lengths),
        cmocka_unit_test(decode_messages),
        cmocka_unit_test(decode_refusals),
        cmocka_unit_test(awareness_entries),
        cmocka_unit_test(sync_and_relay),
        cmocka_unit_test(log_streamed_in_parts),
        cmocka_unit_test(awareness_relay_query_and_removal),
        cmocka_unit_test(awareness_owner_is_the_last_sender),
        cmocka_unit_test(bad_messages_close),
        cmocka_unit_test(rate_limits_close),
        cmocka_unit_test(refused_with_permission_denied),
        cmocka_unit_test(compaction_keeps_every_update),
        cmocka_unit_test(keepalive_every_interval),
        cmocka_unit_test(fail_nth_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
