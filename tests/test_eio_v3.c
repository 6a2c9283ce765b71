/* Engine.IO v3 / Socket.IO v2 clients (config.allow_eio3): the client's
 * heartbeat, v3 polling payloads (text with UTF-16 lengths, "b4" base64,
 * the binary framing of XHR2 clients), v3 binary WebSocket messages with
 * their type byte, and Socket.IO v2's CONNECT, CONNECT_ERROR and root
 * namespace, as Socket.IO 4 with allowEIO3 handles them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio_fake.h"
#include "test_util.h"

static struct {
    char log[2048];
    char auth[256];
    size_t att_len;
    char att[16];
    int connects;
} seen;

static int on_event(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    char *text = json_dumps(ev->args, JSON_COMPACT);
    size_t used = strlen(seen.log);
    (void)ud;
    snprintf(seen.log + used, sizeof seen.log - used, "%s %s;", ev->name, text);
    free(text);
    if (ev->attachment_count) {
        seen.att_len = ev->attachments[0].len;
        memcpy(seen.att, ev->attachments[0].data, seen.att_len < 16 ? seen.att_len : 16);
    }
    if (ev->ack_id >= 0)
        return room_reply_new(hub, conn, ev, NULL, json_string("ok"));
    return 0;
}

/* Refuses {"token":"bad"} with data, {"token":"plain"} with a message. */
static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *auth = json_array_get(ev->args, 0);
    const char *token = json_string_value(json_object_get(auth, "token"));
    char *text = json_dumps(auth, JSON_COMPACT | JSON_ENCODE_ANY);
    (void)ud;
    seen.connects++;
    snprintf(seen.auth, sizeof seen.auth, "%s", text);
    free(text);
    if (token && strcmp(token, "bad") == 0) {
        room_refuse(hub, conn, "bad token", json_pack("{ss}", "why", "x"));
        return ROOM_EDENIED;
    }
    if (token && strcmp(token, "plain") == 0) {
        room_emit(hub, conn, "hidden", NULL);
        room_refuse(hub, conn, "plain refusal", NULL);
        return ROOM_EDENIED;
    }
    if (token && strcmp(token, "welcome") == 0)
        room_emit(hub, conn, "welcome", NULL);
    return 0;
}

static void start(eio_world *w)
{
    room_hub *admin;
    w->cfg.allow_eio3 = true;
    eio_world_start(w);
    assert_int_equal(room_eio_namespace(w->eio, "/admin", NULL, &admin), 0);
    room_on(room_eio_hub(w->eio, "/"), "chat", on_event, NULL);
    room_on(room_eio_hub(w->eio, "/"), "connect", on_connect, NULL);
    room_on(admin, "connect", on_connect, NULL);
    room_on(admin, "chat", on_event, NULL);
    memset(&seen, 0, sizeof seen);
}

static int setup(void **state)
{
    eio_world *w = malloc(sizeof *w);
    eio_world_config(w);
    *state = w;
    return 0;
}

static int setup_started(void **state)
{
    setup(state);
    start(*state);
    return 0;
}

static int teardown(void **state)
{
    eio_world *w = *state;
    if (w->eio)
        eio_world_end(w);
    free(w);
    return 0;
}

static eio_peer *open_b64(eio_world *w, int transport)
{
    eio_peer *p = eio_peer_new(w);
    json_t *q = json_pack("{ssss}", "EIO", "3", "b64", "1");
    assert_int_equal(eio_accept(w, p, transport, 3, q, NULL), 0);
    json_decref(q);
    return p;
}

static int post_bin(eio_world *w, eio_peer *p, const void *body, size_t len)
{
    return room_eio_recv_payload(w->eio, p->s, body, len, true, w->now);
}

/* ---- opening ---------------------------------------------------------- */

/* The open packet as engine.io 6 sends it to v3 clients, then "40": a
 * Socket.IO v2 client is in "/" at once, without asking. */
static void connects_the_root_namespace_at_once(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 3);
    json_t *open = json_loads(p->msgs[0] + 1, 0, NULL);

    assert_non_null(open);
    assert_int_equal(json_object_size(open), 5);
    assert_int_equal(json_integer_value(json_object_get(open, "pingInterval")), 1000);
    assert_int_equal(json_integer_value(json_object_get(open, "pingTimeout")), 500);
    assert_non_null(json_object_get(open, "maxPayload"));
    json_decref(open);
    assert_int_equal(room_eio_session_protocol(p->s), 3);
    assert_int_equal(p->n, 2);
    /* No {"sid"}: v2 clients name their sockets after the Engine.IO sid. */
    assert_string_equal(p->msgs[1], "40");
    assert_string_equal(seen.auth, "{}");
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/")), 1);
    /* "/" again: the client is connected already. */
    assert_int_equal(eio_post(w, p, "2:40"), ROOM_EPROTO);
    assert_int_equal(p->closes, 1);

    /* What the connect handler sends follows the CONNECT. */
    p = eio_open(w, ROOM_EIO_WEBSOCKET, 3);
    assert_int_equal(eio_in(w, p, "40/admin?token=welcome,"), 0);
    assert_string_equal(p->msgs[p->n - 2], "40/admin,");
    assert_string_equal(eio_last(p), "42/admin,[\"welcome\"]");
    assert_string_equal(seen.auth, "{\"token\":\"welcome\"}");
}

/* The host's random bytes: a counter, so that every draw differs. */
static int counting_random(void *buf, size_t len, void *ud)
{
    unsigned char *out = buf;
    unsigned *next = ud;
    while (len--)
        *out++ = (unsigned char)(*next)++;
    return 0;
}

static const char *open_sid(const eio_peer *p, char sid[ROOM_CONN_ID_LEN + 1])
{
    json_t *open = json_loads(p->msgs[0] + 1, 0, NULL);
    assert_non_null(open);
    snprintf(sid, ROOM_CONN_ID_LEN + 1, "%s", json_string_value(json_object_get(open, "sid")));
    json_decref(open);
    assert_int_equal(strlen(sid), ROOM_CONN_ID_LEN);
    return sid;
}

/* A v2 client names its socket in "/" after the Engine.IO sid, and so does
 * Socket.IO 4 for it: the connection in the root hub has that id, with the
 * library's random bytes and with the host's. Its other namespaces, and
 * v4 clients everywhere, get ids of their own. */
static void names_v2_root_sockets_after_the_sid(void **state)
{
    eio_world *w = *state;
    unsigned counter = 7;
    int round;

    for (round = 0; round < 2; round++) {
        char sid[ROOM_CONN_ID_LEN + 1], sid2[ROOM_CONN_ID_LEN + 1], v4[ROOM_CONN_ID_LEN + 1];
        room_hub *root, *admin;
        room_conn *conn;
        eio_peer *p, *q;

        eio_world_config(w);
        if (round == 1) {
            w->root.random = counting_random;
            w->root.user_data = &counter;
        }
        start(w);
        root = room_eio_hub(w->eio, "/");
        admin = room_eio_hub(w->eio, "/admin");
        p = eio_open(w, ROOM_EIO_WEBSOCKET, 3);
        q = eio_open(w, ROOM_EIO_POLLING, 3);
        open_sid(p, sid);
        open_sid(q, sid2);
        assert_string_not_equal(sid, sid2);
        conn = room_conn_find(root, sid);
        assert_non_null(conn);
        assert_ptr_equal(room_conn_transport(conn), p->s);
        conn = room_conn_find(root, sid2);
        assert_non_null(conn);
        assert_ptr_equal(room_conn_transport(conn), q->s);
        assert_int_equal(eio_in(w, p, "40/admin,"), 0);
        assert_int_equal(room_conn_count(admin), 1);
        assert_null(room_conn_find(admin, sid));

        p = eio_open(w, ROOM_EIO_WEBSOCKET, 4);
        open_sid(p, sid);
        assert_int_equal(eio_in(w, p, "40"), 0);
        assert_int_equal(strncmp(eio_last(p), "40{\"sid\":\"", 10), 0);
        snprintf(v4, sizeof v4, "%s", eio_last(p) + 10);
        assert_non_null(room_conn_find(root, v4));
        assert_string_not_equal(v4, sid);
        assert_null(room_conn_find(root, sid));
        eio_world_end(w);
    }
}

/* The root's connect handler refusing: a v2 CONNECT_ERROR, and the
 * session waits for a CONNECT until the connect timeout, as Socket.IO's. */
static int refuse_all(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ev;
    (void)ud;
    room_emit(hub, conn, "hidden", NULL);
    room_refuse(hub, conn, "go away", NULL);
    return ROOM_EDENIED;
}

static void reports_a_refused_root(void **state)
{
    eio_world *w = *state;
    eio_peer *p;

    w->cfg.ping_interval_ms = 100000;
    start(w);
    room_on(room_eio_hub(w->eio, "/"), "connect", refuse_all, NULL);
    p = eio_open(w, ROOM_EIO_WEBSOCKET, 3);
    assert_int_equal(p->n, 2);
    assert_string_equal(eio_last(p), "44\"go away\"");
    assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/")), 0);
    assert_int_equal(eio_in(w, p, "42[\"chat\"]"), ROOM_EPROTO);
    p = eio_open(w, ROOM_EIO_WEBSOCKET, 3);
    room_eio_tick(w->eio, 4999);
    assert_int_equal(p->closes, 0);
    room_eio_tick(w->eio, 5000);
    assert_int_equal(p->closes, 1);
    assert_string_equal(p->reason, "connect timeout");
}

/* Failures while connecting "/" inside room_eio_accept(): no session. */
static void unwinds_a_failed_root_connect(void **state)
{
    eio_world *w = *state;
    size_t n;
    for (n = 1;; n++) {
        eio_peer *p;
        int rc;
        eio_world_config(w);
        start(w);
        w->alloc.fail_at = w->alloc.allocs + w->alloc.failures + n;
        p = eio_peer_new(w);
        rc = eio_accept(w, p, ROOM_EIO_POLLING, 3, NULL, NULL);
        assert_true(rc == 0 || rc == ROOM_ENOMEM);
        assert_int_equal(room_eio_session_count(w->eio), rc == 0);
        assert_int_equal(room_conn_count(room_eio_hub(w->eio, "/")), rc == 0);
        if (rc == 0) {
            assert_string_equal(p->msgs[1], "40");
        } else if (p->n) {
            assert_null(room_eio_session_find(w->eio, p->msgs[0] + 9, 20));
        }
        w->alloc.fail_at = 0;
        eio_world_end(w);
        if (rc == 0 && !w->alloc.failures)
            break;
    }
    assert_true(n > 3);
    w->eio = NULL;
}

/* ---- heartbeat ----------------------------------------------------------- */

/* The client pings, the server answers; silence for pingInterval +
 * pingTimeout closes the session. */
static void answers_the_clients_pings(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_WEBSOCKET, 3), *q;
    size_t n = p->n;

    /* The server never pings a v3 client. */
    assert_int_equal(room_eio_tick(w->eio, 0), 1500);
    assert_int_equal(room_eio_tick(w->eio, 1000), 500);
    assert_int_equal(p->n, n);
    w->now = 1000;
    assert_int_equal(eio_in(w, p, "2"), 0);
    assert_string_equal(eio_last(p), "3");
    /* Over polling the answer waits for the next poll, like any packet. */
    w->now = 1200;
    q = eio_open(w, ROOM_EIO_POLLING, 3);
    assert_int_equal(eio_post(w, q, "1:2"), 0);
    assert_string_equal(eio_last(q), "3");
    assert_int_equal(room_eio_tick(w->eio, 2499), 1);
    assert_int_equal(p->closes, 0);
    room_eio_tick(w->eio, 2500);
    assert_int_equal(p->closes, 1);
    assert_string_equal(p->reason, "ping timeout");
    assert_int_equal(q->closes, 0);

    /* A pong, or a ping with data, is not the v3 heartbeat. */
    p = eio_open(w, ROOM_EIO_WEBSOCKET, 3);
    assert_int_equal(eio_in(w, p, "3"), ROOM_EPROTO);
    p = eio_open(w, ROOM_EIO_WEBSOCKET, 3);
    assert_int_equal(eio_in(w, p, "2x"), ROOM_EPROTO);
}

/* ---- payloads ---------------------------------------------------------------- */

static void decodes_v3_text_payloads(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 3);

    /* Lengths count UTF-16 code units: "é" is one, "😀" two. */
    assert_int_equal(eio_post(w, p, "12:42[\"chat\",1]1:2"), 0);
    assert_int_equal(eio_post(w, p, "14:42[\"chat\",\"\xc3\xa9\"]15:42[\"chat\",\"\xf0\x9f\x98\x80\"]"),
                     0);
    /* An empty packet is skipped, as engine.io-parser 2 does. */
    assert_int_equal(eio_post(w, p, "0:1:6"), 0);
    assert_string_equal(seen.log, "chat [1];chat [\"\xc3\xa9\"];chat [\"\xf0\x9f\x98\x80\"];");
    assert_string_equal(eio_last(p), "3");
    /* A binary attachment as "b4" + base64. */
    assert_int_equal(eio_post(w, p, "42:451-[\"chat\",{\"_placeholder\":true,\"num\":0}]6:b4AQID"), 0);
    assert_int_equal(seen.att_len, 3);
    assert_memory_equal(seen.att, "\x01\x02\x03", 3);
    assert_int_equal(p->closes, 0);
}

static void decodes_v3_binary_payloads(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 3);
    /* Text "42[\"chat\",7]" (12 bytes), a text BINARY_EVENT (42 bytes) and
     * its attachment {4, 9, 8} (type byte and 2 bytes). */
    static const uint8_t body[] = {
        0, 1, 2, 255, '4', '2', '[', '"', 'c', 'h', 'a', 't', '"', ',', '7', ']',
        0, 4, 2, 255, '4', '5', '1', '-', '[', '"', 'c', 'h', 'a', 't', '"', ',', '{', '"', '_',
        'p', 'l', 'a', 'c', 'e', 'h', 'o', 'l', 'd', 'e', 'r', '"', ':', 't', 'r', 'u', 'e', ',',
        '"', 'n', 'u', 'm', '"', ':', '0', '}', ']',
        1, 3, 255, 4, 9, 8,
    };
    assert_int_equal(post_bin(w, p, body, sizeof body), 0);
    assert_string_equal(seen.log, "chat [7];chat [{\"_placeholder\":true,\"num\":0}];");
    assert_int_equal(seen.att_len, 2);
    assert_memory_equal(seen.att, "\x09\x08", 2);
}

static void refuses_malformed_v3_payloads(void **state)
{
    static const struct {
        const char *body;
        size_t len;
        bool binary;
    } cases[] = {
        {"", 0, false},
        {"12:42[\"chat\",1]x", 16, false},        /* trailing garbage */
        {"13:42[\"chat\",1]", 15, false},         /* too long */
        {"012:42[\"chat\",1]", 16, false},        /* leading zero */
        {":42", 3, false},
        {"12", 2, false},
        {"-1:2", 4, false},
        {"99999999999:2", 13, false},
        {"1:\xf0\x9f\x98\x80", 6, false},         /* cuts a surrogate pair */
        {"2:\xc3\xa9", 4, false},                 /* "é" is one unit */
        {"1:\xff", 3, false},
        {"4:b4AQ", 6, false},                     /* bad base64 */
        {"6:b2AQID", 8, false},                   /* binary, not a message */
        {"1:b", 3, false},
        {"", 0, true},
        {"\x02\x01\xff" "2", 4, true},            /* neither text nor binary */
        {"\x00\x01\xff", 3, true},                /* truncated */
        {"\x00\xff", 2, true},                    /* no length */
        {"\x00\x01", 2, true},                    /* no 255 */
        {"\x00\x0a\xff" "2", 4, true},            /* not a digit */
        {"\x00\x00\x01\xff" "2", 5, true},        /* leading zero */
        {"\x01\x00\xff", 3, true},                /* empty binary packet */
        {"\x01\x02\xff\x03\x01", 5, true},        /* binary, not a message */
        {"\x00\x00\xff", 3, true},                /* empty text packet */
        {"\x00\x01\xff\xc3", 4, true},            /* not UTF-8 */
    };
    eio_world *w = *state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 3);
        int rc;
        seen.log[0] = '\0';
        rc = room_eio_recv_payload(w->eio, p->s, cases[i].body, cases[i].len, cases[i].binary,
                                   w->now);
        if (rc != ROOM_EPROTO || p->closes != 1 || strcmp(p->reason, "invalid payload") != 0 ||
            seen.log[0])
            fail_msg("case %zu: rc %d, %d closes (%s), log %s", i, rc, p->closes, p->reason,
                     seen.log);
    }
}

static room_frame *make(room_hub *hub, int kind, const char *bytes, size_t len)
{
    room_frame *f = room_frame_new(hub, kind, bytes, len);
    assert_non_null(f);
    return f;
}

static void encodes_v3_poll_responses(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 3), *b64 = open_b64(w, ROOM_EIO_POLLING);
    room_hub *root = room_eio_hub(w->eio, "/");
    json_t *ph = json_pack("{sbsi}", "_placeholder", 1, "num", 0);
    room_bytes att = {(const uint8_t *)"\x01\x02\xff", 3};
    const char *type;
    size_t len;
    char *body;

    /* Text only: "<UTF-16 length>:<packet>". */
    body = eio_poll(p, &len, &type);
    assert_string_equal(type, "text/plain; charset=UTF-8");
    {
        char want[256];
        snprintf(want, sizeof want, "%zu:%s2:40", strlen(p->msgs[0]), p->msgs[0]);
        assert_string_equal(body, want);
    }
    free(body);
    assert_int_equal(room_broadcast_new(root, "t", json_string("\xc3\xa9\xf0\x9f\x98\x80"), NULL), 2);
    body = eio_poll(p, &len, &type);
    assert_string_equal(body, "13:42[\"t\",\"\xc3\xa9\xf0\x9f\x98\x80\"]");
    free(body);

    /* With binary, for an XHR2 client: the binary framing. */
    assert_int_equal(room_broadcast_binary(root, "b", ph, &att, 1, NULL), 2);
    body = eio_poll(p, &len, &type);
    assert_string_equal(type, "application/octet-stream");
    {
        static const char head[] = "\x00\x03\x09\xff" "451-[\"b\",{\"_placeholder\":true,\"num\":0}]";
        static const uint8_t tail[] = {1, 4, 255, 4, 1, 2, 255};
        assert_int_equal(len, sizeof head - 1 + sizeof tail);
        assert_memory_equal(body, head, sizeof head - 1);
        assert_memory_equal(body + sizeof head - 1, tail, sizeof tail);
    }
    free(body);

    /* The same for a b64=1 client: "b4" + base64 in a text payload. */
    free(eio_poll(b64, &len, &type));
    assert_int_equal(room_broadcast_binary(root, "b", ph, &att, 1, NULL), 2);
    body = eio_poll(b64, &len, &type);
    assert_string_equal(type, "text/plain; charset=UTF-8");
    assert_string_equal(body, "39:451-[\"b\",{\"_placeholder\":true,\"num\":0}]6:b4AQL/");
    free(body);
    /* Nothing: "0:". */
    body = eio_poll(b64, &len, &type);
    assert_string_equal(body, "0:");
    free(body);

    /* Frames the room_eio would not send a v3 session. */
    {
        room_buf *out;
        room_frame *bad[2] = {make(root, ROOM_FRAME_BINARY, "", 0),
                              make(root, ROOM_FRAME_TEXT, "\xff", 1)};
        assert_int_equal(room_buf_new(&out, NULL), 0);
        assert_int_equal(room_eio_payload_encode(b64->s, bad, 1, out, &type), ROOM_EINVAL);
        assert_int_equal(room_eio_payload_encode(b64->s, bad + 1, 1, out, &type), ROOM_EINVAL);
        room_buf_free(out);
        room_frame_unref(bad[0]);
        room_frame_unref(bad[1]);
    }
    json_decref(ph);
}

/* ---- WebSocket ---------------------------------------------------------------- */

/* v3 binary messages carry their packet type (4) in their first byte, both
 * ways. */
static void frames_binary_websocket_messages(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_WEBSOCKET, 3), *bad;
    room_hub *root = room_eio_hub(w->eio, "/");
    json_t *ph = json_pack("{sbsi}", "_placeholder", 1, "num", 0);
    room_bytes att = {(const uint8_t *)"\x07\x08", 2};

    assert_int_equal(eio_in(w, p, "451-[\"chat\",{\"_placeholder\":true,\"num\":0}]"), 0);
    assert_int_equal(eio_in_bin(w, p, "\x04\x05\x06", 3), 0);
    assert_int_equal(seen.att_len, 2);
    assert_memory_equal(seen.att, "\x05\x06", 2);

    assert_int_equal(room_broadcast_binary(root, "b", ph, &att, 1, NULL), 1);
    assert_string_equal(p->msgs[p->n - 2], "451-[\"b\",{\"_placeholder\":true,\"num\":0}]");
    assert_int_equal(p->kinds[p->n - 1], ROOM_FRAME_BINARY);
    assert_int_equal(p->lens[p->n - 1], 3);
    assert_memory_equal(eio_last(p), "\x04\x07\x08", 3);

    bad = eio_open(w, ROOM_EIO_WEBSOCKET, 3);
    assert_int_equal(eio_in(w, bad, "451-[\"chat\",{\"_placeholder\":true,\"num\":0}]"), 0);
    assert_int_equal(eio_in_bin(w, bad, "\x05\x06", 2), ROOM_EPROTO);
    bad = eio_open(w, ROOM_EIO_WEBSOCKET, 3);
    assert_int_equal(eio_in_bin(w, bad, "", 0), ROOM_EPROTO);
    /* forceBase64: "b4" + base64 in a text message. */
    assert_int_equal(eio_in(w, p, "451-[\"chat\",{\"_placeholder\":true,\"num\":0}]"), 0);
    assert_int_equal(eio_in(w, p, "b4CQg="), 0);
    assert_int_equal(seen.att_len, 2);
    assert_memory_equal(seen.att, "\x09\x08", 2);
    bad = eio_open(w, ROOM_EIO_WEBSOCKET, 3);
    assert_int_equal(eio_in(w, bad, "451-[\"chat\",{\"_placeholder\":true,\"num\":0}]"), 0);
    assert_int_equal(eio_in(w, bad, "bCQg="), ROOM_EPROTO);
    /* The copy for v3 failing to send closes the session. */
    p->fail_sends = 1;
    assert_true(room_broadcast_binary(root, "b", ph, &att, 1, NULL) >= 1);
    assert_int_equal(p->closes, 1);
    json_decref(ph);
}

/* A v3 polling session upgrades like a v4 one, and keeps v3's framing. */
static void upgrades_v3_sessions(void **state)
{
    eio_world *w = *state;
    eio_peer *poll = eio_open(w, ROOM_EIO_POLLING, 3), *ws = eio_peer_new(w);
    room_eio_session *s = poll->s;

    assert_int_equal(room_eio_upgrade_recv(w->eio, s, ws, ROOM_FRAME_TEXT, "2probe", 6, w->now),
                     ROOM_EIO_PROBING);
    assert_string_equal(eio_last(ws), "3probe");
    assert_int_equal(room_eio_upgrade_recv(w->eio, s, ws, ROOM_FRAME_TEXT, "5", 1, w->now),
                     ROOM_EIO_UPGRADED);
    poll->s = NULL;
    ws->s = s;
    assert_int_equal(eio_in(w, ws, "2"), 0);
    assert_string_equal(eio_last(ws), "3");
}

/* ---- Socket.IO v2 --------------------------------------------------------------- */

static void connects_v2_namespaces(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_WEBSOCKET, 3);

    /* The auth is the namespace's query. */
    assert_int_equal(eio_in(w, p, "40/admin?token=t%20x&n=1,"), 0);
    assert_string_equal(eio_last(p), "40/admin,");
    assert_string_equal(seen.auth, "{\"token\":\"t x\",\"n\":\"1\"}");
    assert_int_equal(eio_in(w, p, "42/admin,1[\"chat\",2]"), 0);
    assert_string_equal(eio_last(p), "43/admin,1[\"ok\"]");
    assert_int_equal(eio_in(w, p, "41/admin,"), 0);
    /* Without a query: {}; with a payload: ignored, as Socket.IO 4 does. */
    assert_int_equal(eio_in(w, p, "40/admin,{\"token\":\"bad\"}"), 0);
    assert_string_equal(seen.auth, "{}");
    assert_string_equal(eio_last(p), "40/admin,");
    assert_int_equal(eio_in(w, p, "41/admin"), 0);
    /* Refusals: the data, or the message, alone. */
    assert_int_equal(eio_in(w, p, "40/admin?token=bad,"), 0);
    assert_string_equal(eio_last(p), "44/admin,{\"why\":\"x\"}");
    assert_int_equal(eio_in(w, p, "40/admin?token=plain"), 0);
    assert_string_equal(eio_last(p), "44/admin,\"plain refusal\"");
    assert_int_equal(eio_in(w, p, "40/nope?x=1,"), 0);
    assert_string_equal(eio_last(p), "44/nope,{\"message\":\"Invalid namespace\"}");
    assert_int_equal(p->closes, 0);
    /* A query that does not parse, or a payload that is not an object. */
    assert_int_equal(eio_in(w, p, "40/admin?%zz,"), ROOM_EPROTO);
    p = eio_open(w, ROOM_EIO_WEBSOCKET, 3);
    assert_int_equal(eio_in(w, p, "40/admin,[1]"), ROOM_EPROTO);

    /* A v4 client's namespace is its name, '?' and all. */
    p = eio_open(w, ROOM_EIO_WEBSOCKET, 4);
    assert_int_equal(eio_in(w, p, "40/admin?token=x,"), 0);
    assert_string_equal(eio_last(p), "44/admin?token=x,{\"message\":\"Invalid namespace\"}");
}

/* ---- memory ----------------------------------------------------------------- */

static void scenario(eio_world *w)
{
    static const uint8_t body[] = {0, 2, 255, '4', '0', 1, 3, 255, 4, 9, 8};
    json_t *ph = json_pack("{sbsi}", "_placeholder", 1, "num", 0);
    room_bytes att = {(const uint8_t *)"\x01", 1};
    room_hub *root;
    w->cfg.allow_eio3 = true;
    if (room_eio_new(&w->eio, &w->cfg, &w->root) != 0)
        goto out;
    root = room_eio_hub(w->eio, "/");
    room_on(root, "chat", on_event, NULL);
    room_eio_namespace(w->eio, "/admin", NULL, NULL);
    for (int i = 0; i < 3; i++) {
        eio_peer *p = eio_peer_new(w);
        json_t *q = i == 2 ? json_pack("{ss}", "b64", "1") : NULL;
        int rc = eio_accept(w, p, i == 1 ? ROOM_EIO_WEBSOCKET : ROOM_EIO_POLLING, 3, q, NULL);
        json_decref(q);
        if (rc)
            continue;
        eio_post(w, p, "1:2");
        eio_post(w, p, "42:451-[\"chat\",{\"_placeholder\":true,\"num\":0}]6:b4AQID");
        post_bin(w, p, body, sizeof body);
        eio_in(w, p, "40/admin?a=b,");
        eio_in(w, p, "451-[\"chat\",{\"_placeholder\":true,\"num\":0}]");
        eio_in_bin(w, p, "\x04\x01", 2);
    }
    room_broadcast_binary(root, "b", ph, &att, 1, NULL);
    room_eio_tick(w->eio, 3000);
out:
    json_decref(ph);
}

static void survives_every_allocation_failure(void **state)
{
    eio_world *w = *state;
    size_t n;
    for (n = 1;; n++) {
        eio_world_config(w);
        w->alloc.fail_at = n;
        scenario(w);
        if (w->eio)
            eio_world_end(w);
        if (!w->alloc.failures)
            break;
    }
    assert_true(n > 20);
}

int main(void)
{
#define FRESH(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
#define STARTED(t) cmocka_unit_test_setup_teardown(t, setup_started, teardown)
    const struct CMUnitTest tests[] = {
        STARTED(connects_the_root_namespace_at_once),
        FRESH(reports_a_refused_root),
        FRESH(names_v2_root_sockets_after_the_sid),
        FRESH(unwinds_a_failed_root_connect),
        STARTED(answers_the_clients_pings),
        STARTED(decodes_v3_text_payloads),
        STARTED(decodes_v3_binary_payloads),
        STARTED(refuses_malformed_v3_payloads),
        STARTED(encodes_v3_poll_responses),
        STARTED(frames_binary_websocket_messages),
        STARTED(upgrades_v3_sessions),
        STARTED(connects_v2_namespaces),
        FRESH(survives_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
