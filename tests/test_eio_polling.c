/* libroom-sio on HTTP long-polling (Engine.IO v4): room_eio_accept() and
 * the request it describes, sessions by sid, the handshake handed to
 * connect handlers, poll payloads both ways (payload.c), and the upgrade
 * to a WebSocket (upgrade.c). Driven through the fake host of eio_fake.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio_fake.h"
#include "test_util.h"

/* ---- what the handlers saw -------------------------------------------- */

static struct {
    char log[2048];      /* "event args;" per event */
    char handshake[512]; /* the last connect handler's third argument */
    size_t attachments;
    char att[16];
    size_t att_len;
    int connects;
} seen;

static void note(const char *fmt, const char *a, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    size_t used = strlen(seen.log);
    snprintf(seen.log + used, sizeof seen.log - used, fmt, a, text ? text : "-");
    free(text);
}

static int on_event(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ud;
    note("%s %s;", ev->name, ev->args);
    if (ev->attachment_count) {
        seen.attachments = ev->attachment_count;
        seen.att_len = ev->attachments[0].len;
        memcpy(seen.att, ev->attachments[0].data, seen.att_len < 16 ? seen.att_len : 16);
    }
    if (ev->ack_id >= 0)
        return room_reply_new(hub, conn, ev, NULL, json_string("ok"));
    return 0;
}

/* Refuses {"token":"bad"}. */
static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *token = json_string_value(json_object_get(json_array_get(ev->args, 0), "token"));
    char *text = json_dumps(json_array_get(ev->args, 2), JSON_COMPACT | JSON_ENCODE_ANY);
    (void)ud;
    seen.connects++;
    snprintf(seen.handshake, sizeof seen.handshake, "%s", text ? text : "?");
    free(text);
    if (token && strcmp(token, "bad") == 0) {
        room_refuse(hub, conn, "bad token", NULL);
        return ROOM_EDENIED;
    }
    return 0;
}

/* Broadcasts `event` with one placeholder argument per attachment. */
static int broadcast_binary(room_hub *hub, const char *event, const room_bytes *att, size_t n)
{
    json_t *argv[4];
    int rc;
    for (size_t i = 0; i < n; i++)
        argv[i] = json_pack("{sbsi}", "_placeholder", 1, "num", (int)i);
    rc = room_broadcast_args(hub, event, argv, n, att, n, NULL);
    for (size_t i = 0; i < n; i++)
        json_decref(argv[i]);
    return rc;
}

/* ---- fixtures ------------------------------------------------------------ */

static void start(eio_world *w)
{
    room_hub *admin;
    eio_world_start(w);
    assert_int_equal(room_eio_namespace(w->eio, "/admin", NULL, &admin), 0);
    room_on(room_eio_hub(w->eio, "/"), "chat", on_event, NULL);
    room_on(room_eio_hub(w->eio, "/"), "up", on_event, NULL);
    room_on(room_eio_hub(w->eio, "/"), "connect", on_connect, NULL);
    room_on(admin, "connect", on_connect, NULL);
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

static json_t *open_json(const eio_peer *p)
{
    json_t *open = json_loads(p->msgs[0] + 1, 0, NULL);
    assert_non_null(open);
    return open;
}

/* ---- accept ---------------------------------------------------------------- */

static void opens_on_either_transport(void **state)
{
    eio_world *w = *state;
    eio_peer *ws = eio_open(w, ROOM_EIO_WEBSOCKET, 4), *poll = eio_open(w, ROOM_EIO_POLLING, 4);
    json_t *open = open_json(ws);
    char *text;

    /* A WebSocket session has nowhere to upgrade to; a polling one may go
     * to a WebSocket. */
    text = json_dumps(json_object_get(open, "upgrades"), JSON_COMPACT);
    assert_string_equal(text, "[]");
    free(text);
    json_decref(open);
    open = open_json(poll);
    text = json_dumps(json_object_get(open, "upgrades"), JSON_COMPACT);
    assert_string_equal(text, "[\"websocket\"]");
    free(text);
    assert_int_equal(json_object_size(open), 5);
    assert_string_equal(json_string_value(json_object_get(open, "sid")),
                        room_eio_session_id(poll->s));
    json_decref(open);

    assert_int_equal(room_eio_session_transport_kind(ws->s), ROOM_EIO_WEBSOCKET);
    assert_int_equal(room_eio_session_transport_kind(poll->s), ROOM_EIO_POLLING);
    assert_int_equal(room_eio_session_protocol(ws->s), 4);
    assert_int_equal(room_eio_session_protocol(poll->s), 4);
    assert_false(room_eio_session_upgrading(poll->s));
    assert_int_equal(room_eio_session_transport_kind(NULL), ROOM_EIO_WEBSOCKET);
    assert_int_equal(room_eio_session_protocol(NULL), 4);
    assert_false(room_eio_session_upgrading(NULL));

    /* Only polling sessions are found by sid. */
    assert_ptr_equal(room_eio_session_find(w->eio, room_eio_session_id(poll->s), 20), poll->s);
    assert_null(room_eio_session_find(w->eio, room_eio_session_id(ws->s), 20));
    assert_null(room_eio_session_find(w->eio, room_eio_session_id(poll->s), 19));
    assert_null(room_eio_session_find(w->eio, "", 0));
    assert_null(room_eio_session_find(w->eio, NULL, 20));
    assert_null(room_eio_session_find(NULL, room_eio_session_id(poll->s), 20));

    /* A mount without WebSocket offers no upgrade, and refuses one. */
    {
        eio_peer *only = eio_peer_new(w), *ws2 = eio_peer_new(w);
        room_eio_request req;
        room_eio_request_init(&req);
        req.transport = ROOM_EIO_POLLING;
        req.no_upgrade = true;
        assert_int_equal(room_eio_accept(w->eio, only, &req, w->now, &only->s), 0);
        assert_non_null(strstr(only->msgs[0], "\"upgrades\":[]"));
        assert_int_equal(room_eio_upgrade_recv(w->eio, only->s, ws2, ROOM_FRAME_TEXT, "2probe", 6,
                                               w->now),
                         ROOM_EPROTO);
        assert_int_equal(ws2->n, 0);
    }
    /* The old entry points open v4 WebSocket sessions. */
    {
        eio_peer *old = eio_peer_new(w);
        assert_int_equal(room_eio_open(w->eio, old, w->now, &old->s), 0);
        assert_int_equal(room_eio_session_transport_kind(old->s), ROOM_EIO_WEBSOCKET);
        assert_null(room_eio_session_find(w->eio, room_eio_session_id(old->s), 20));
    }
    eio_close(w, poll, "bye");
    assert_int_equal(room_eio_session_count(w->eio), 3);
}

static void refuses_bad_requests(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_peer_new(w);
    room_eio_request req;
    unsigned char *small;
    room_eio_session *s = (room_eio_session *)1;

    room_eio_request_init(&req);
    assert_int_equal(req.protocol, 4);
    assert_int_equal(req.transport, ROOM_EIO_WEBSOCKET);
    assert_int_equal(room_eio_accept(w->eio, p, NULL, 0, &s), ROOM_EINVAL);
    assert_null(s);
    assert_int_equal(room_eio_accept(w->eio, p, &req, 0, NULL), ROOM_EINVAL);
    assert_int_equal(room_eio_accept(NULL, p, &req, 0, &s), ROOM_EINVAL);
    assert_int_equal(eio_accept(w, p, 2, 4, NULL, NULL), ROOM_EINVAL);
    assert_int_equal(eio_accept(w, p, -1, 4, NULL, NULL), ROOM_EINVAL);
    assert_int_equal(eio_accept(w, p, ROOM_EIO_POLLING, 5, NULL, NULL), ROOM_EINVAL);
    assert_int_equal(eio_accept(w, p, ROOM_EIO_POLLING, 2, NULL, NULL), ROOM_EINVAL);
    /* v3 only when allowed. */
    assert_int_equal(eio_accept(w, p, ROOM_EIO_POLLING, 3, NULL, NULL), ROOM_EINVAL);
    assert_int_equal(p->n, 0);
    assert_int_equal(room_eio_session_count(w->eio), 0);

    /* A request of the minimum size (an older host's, without no_upgrade),
     * in a block of exactly that size: the upgrade is offered. */
    small = malloc(ROOM_EIO_REQUEST_MIN_SIZE);
    req.size = ROOM_EIO_REQUEST_MIN_SIZE;
    req.transport = ROOM_EIO_POLLING;
    memcpy(small, &req, ROOM_EIO_REQUEST_MIN_SIZE);
    assert_int_equal(room_eio_accept(w->eio, p, (room_eio_request *)small, 0, &p->s), 0);
    assert_int_equal(room_eio_session_transport_kind(p->s), ROOM_EIO_POLLING);
    assert_non_null(strstr(p->msgs[0], "\"upgrades\":[\"websocket\"]"));
    req.size = ROOM_EIO_REQUEST_MIN_SIZE - 1;
    memcpy(small, &req.size, sizeof req.size);
    assert_int_equal(room_eio_accept(w->eio, p, (room_eio_request *)small, 0, &s), ROOM_EINVAL);
    free(small);

    /* The open packet's send failing: no session, nothing indexed. */
    p = eio_peer_new(w);
    p->fail_sends = 1;
    assert_int_equal(eio_accept(w, p, ROOM_EIO_POLLING, 4, NULL, NULL), ROOM_ETRANSPORT);
    assert_int_equal(room_eio_session_count(w->eio), 1);
}

/* Many polling sessions in the index, closed in an order that moves
 * entries back over every hole. */
static void indexes_many_sessions(void **state)
{
    enum { N = 300 };
    eio_world *w = *state;
    eio_peer *peers[N];
    char sids[N][21];
    size_t i;

    for (i = 0; i < N; i++) {
        peers[i] = eio_open(w, i % 7 ? ROOM_EIO_POLLING : ROOM_EIO_WEBSOCKET, 4);
        memcpy(sids[i], room_eio_session_id(peers[i]->s), 21);
    }
    for (i = 0; i < N; i++) {
        room_eio_session *found = room_eio_session_find(w->eio, sids[i], 20);
        assert_ptr_equal(found, i % 7 ? peers[i]->s : NULL);
    }
    for (i = 0; i < N; i += 3)
        eio_close(w, peers[i], "bye");
    for (i = 0; i < N; i++) {
        room_eio_session *found = room_eio_session_find(w->eio, sids[i], 20);
        assert_ptr_equal(found, i % 3 && i % 7 ? peers[i]->s : NULL);
    }
    for (i = 0; i < N; i++) {
        if (i % 3)
            eio_close(w, peers[i], "bye");
    }
    for (i = 0; i < N; i++)
        assert_null(room_eio_session_find(w->eio, sids[i], 20));
}

/* A deterministic random callback: sids that collide are drawn again. */
static int repeating_random(void *buf, size_t len, void *ud)
{
    unsigned *n = ud;
    memset(buf, 0, len);
    ((unsigned char *)buf)[0] = (unsigned char)(*n / 2);
    (*n)++;
    return 0;
}

static void draws_sids_again_on_collision(void **state)
{
    eio_world *w = *state;
    unsigned n = 0;
    eio_peer *a, *b, *c;

    w->root.random = repeating_random;
    w->root.user_data = &n;
    start(w);
    a = eio_open(w, ROOM_EIO_POLLING, 4);
    b = eio_open(w, ROOM_EIO_POLLING, 4);
    c = eio_open(w, ROOM_EIO_WEBSOCKET, 4);
    assert_string_not_equal(room_eio_session_id(a->s), room_eio_session_id(b->s));
    assert_ptr_equal(room_eio_session_find(w->eio, room_eio_session_id(a->s), 20), a->s);
    assert_ptr_equal(room_eio_session_find(w->eio, room_eio_session_id(b->s), 20), b->s);
    (void)c;
}

/* The handshake reaches the connect handlers until the first CONNECT
 * succeeds, or for the session's life with keep_handshake. */
static void hands_the_handshake_to_connect_handlers(void **state)
{
    eio_world *w = *state;
    json_t *hs = json_pack("{s{ss}ssss}", "headers", "origin", "http://x", "address", "1.2.3.4",
                           "transport", "polling");
    eio_peer *p = eio_peer_new(w);

    start(w);
    assert_int_equal(eio_accept(w, p, ROOM_EIO_POLLING, 4, NULL, hs), 0);
    /* Referenced, not copied: the host may drop its own reference. */
    assert_int_equal(hs->refcount, 2);
    assert_int_equal(eio_post(w, p, "40{\"token\":\"bad\"}"), 0);
    assert_string_equal(seen.handshake,
                        "{\"headers\":{\"origin\":\"http://x\"},\"address\":\"1.2.3.4\","
                        "\"transport\":\"polling\"}");
    /* Refused: kept for the next try. */
    seen.handshake[0] = '\0';
    assert_int_equal(eio_post(w, p, "40"), 0);
    assert_non_null(strstr(seen.handshake, "1.2.3.4"));
    assert_int_equal(hs->refcount, 1);
    /* Dropped after the first success. */
    assert_int_equal(eio_post(w, p, "40/admin,"), 0);
    assert_string_equal(seen.handshake, "null");
    assert_int_equal(seen.connects, 3);

    /* No handshake at all: null. */
    p = eio_open(w, ROOM_EIO_WEBSOCKET, 4);
    assert_int_equal(eio_in(w, p, "40"), 0);
    assert_string_equal(seen.handshake, "null");
    eio_world_end(w);

    /* keep_handshake: every namespace, however late. */
    eio_world_config(w);
    w->cfg.keep_handshake = true;
    start(w);
    p = eio_peer_new(w);
    assert_int_equal(eio_accept(w, p, ROOM_EIO_WEBSOCKET, 4, NULL, hs), 0);
    assert_int_equal(eio_in(w, p, "40"), 0);
    assert_non_null(strstr(seen.handshake, "1.2.3.4"));
    seen.handshake[0] = '\0';
    assert_int_equal(eio_in(w, p, "40/admin,"), 0);
    assert_non_null(strstr(seen.handshake, "1.2.3.4"));
    assert_int_equal(eio_in(w, p, "41/admin,"), 0);
    assert_int_equal(hs->refcount, 2);
    eio_close(w, p, "bye");
    assert_int_equal(hs->refcount, 1);
    json_decref(hs);
}

/* ---- payloads ----------------------------------------------------------------- */

static void decodes_v4_payloads(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 4);
    static const char bin[] = "451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1e"
                              "bAQID";

    assert_int_equal(eio_post(w, p, "40"), 0);
    assert_true(strncmp(eio_last(p), "40{\"sid\":\"", 10) == 0);
    assert_int_equal(eio_post(w, p, "42[\"chat\",1]\x1e" "42[\"chat\",\"\xc3\xa9\"]\x1e" "6"), 0);
    assert_string_equal(seen.log, "chat [1];chat [\"\xc3\xa9\"];");
    /* Binary: "b" + base64, here an attachment. */
    assert_int_equal(eio_post(w, p, bin), 0);
    assert_int_equal(seen.attachments, 1);
    assert_int_equal(seen.att_len, 3);
    assert_memory_equal(seen.att, "\x01\x02\x03", 3);
    /* Every length of base64 padding, and an empty binary message. */
    assert_int_equal(eio_post(w, p, "451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1e" "bAQ=="), 0);
    assert_int_equal(seen.att_len, 1);
    assert_int_equal(eio_post(w, p, "451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1e" "bAQI="), 0);
    assert_int_equal(seen.att_len, 2);
    assert_int_equal(eio_post(w, p, "451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1e" "b"), 0);
    assert_int_equal(seen.att_len, 0);
    /* An ack through the payload, answered on the session's transport. */
    assert_int_equal(eio_post(w, p, "427[\"chat\"]"), 0);
    assert_string_equal(eio_last(p), "437[\"ok\"]");
    /* Errors of the packets come back; the first one wins. */
    assert_int_equal(eio_post(w, p, "42[\"nobody\"]\x1e" "42[\"chat\",3]"), ROOM_EUNKNOWN);
    assert_non_null(strstr(seen.log, "chat [3];"));
    assert_int_equal(p->closes, 0);
    /* A close packet ends the session; what follows it is dropped. */
    assert_int_equal(eio_post(w, p, "1\x1e" "42[\"chat\",4]"), 0);
    assert_int_equal(p->closes, 1);
    assert_null(strstr(seen.log, "chat [4];"));
    assert_int_equal(eio_post(w, p, "6"), ROOM_ECLOSED);
}

/* Each body is malformed: nothing in it is delivered, the session is
 * closed with a protocol error. */
static void refuses_malformed_v4_payloads(void **state)
{
    static const struct {
        const char *body;
        size_t len;
        bool binary;
    } cases[] = {
        {"", 0, false},
        {"\x1e", 1, false},
        {"42[\"chat\",1]\x1e", 13, false},
        {"\x1e" "42[\"chat\",1]", 13, false},
        {"42[\"chat\",1]\x1e\x1e" "6", 15, false},
        {"42[\"chat\",1]\x1e" "bAQ", 16, false},
        {"42[\"chat\",1]\x1e" "bA=QI", 18, false},
        {"42[\"chat\",1]\x1e" "b====", 18, false},
        {"42[\"chat\",1]\x1e" "bAQI=\n", 19, false},
        {"42[\"chat\",1]\x1e" "bAQ I", 18, false},
        {"42[\"chat\",1]\x1e" "bAQ-_", 18, false},
        {"42[\"chat\",1]\x1e" "bAR==", 18, false}, /* bits after the data */
        {"42[\"chat\",1]\x1e" "bAQJ=", 18, false},
        {"42[\"chat\",1]\x1e" "42[\"\xff\"]", 20, false},
        {"42[\"chat\",1]\x1e" "42[\"\xc0\xaf\"]", 21, false},
        {"42[\"chat\",1]\x1e" "42[\"\xed\xa0\x80\"]", 22, false},
        {"42[\"chat\",1]", 12, true},
    };
    eio_world *w = *state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 4);
        int rc;
        assert_int_equal(eio_post(w, p, "40"), 0);
        seen.log[0] = '\0';
        rc = room_eio_recv_payload(w->eio, p->s, cases[i].body, cases[i].len, cases[i].binary,
                                   w->now);
        if (rc != ROOM_EPROTO || p->closes != 1 || p->close_code != ROOM_CLOSE_PROTOCOL_ERROR ||
            seen.log[0])
            fail_msg("case %zu: rc %d, %d closes, log %s", i, rc, p->closes, seen.log);
        assert_string_equal(p->reason, "invalid payload");
    }
    assert_int_equal(room_eio_recv_payload(w->eio, NULL, "6", 1, false, 0), ROOM_EINVAL);
    assert_int_equal(room_eio_recv_payload(NULL, NULL, "6", 1, false, 0), ROOM_EINVAL);
}

static void encodes_v4_poll_responses(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 4);
    const char *type = NULL;
    size_t len;
    char *body = eio_poll(p, &len, &type);
    room_hub *root = room_eio_hub(w->eio, "/");
    room_bytes att = {(const uint8_t *)"\x01\x02\x03\xff", 4};

    assert_string_equal(type, "text/plain; charset=UTF-8");
    assert_string_equal(body, p->msgs[0]);
    free(body);

    assert_int_equal(eio_post(w, p, "40"), 0);
    /* An event with a binary attachment, then a plain one: one body. */
    assert_int_equal(broadcast_binary(root, "bin", &att, 1), 1);
    assert_int_equal(room_broadcast(root, "t", NULL, NULL), 1);
    body = eio_poll(p, &len, &type);
    assert_true(strncmp(body, "40{\"sid\":\"", 10) == 0);
    assert_non_null(strstr(body, "\x1e" "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\x1e"
                                 "bAQID/w==\x1e" "42[\"t\"]"));
    assert_int_equal(strlen(body), len);
    free(body);
    /* Nothing to send: an empty body. */
    body = eio_poll(p, &len, &type);
    assert_int_equal(len, 0);
    free(body);
    {
        room_buf *out;
        assert_int_equal(room_buf_new(&out, NULL), 0);
        assert_int_equal(room_eio_payload_encode(NULL, NULL, 0, out, &type), ROOM_EINVAL);
        assert_int_equal(room_eio_payload_encode(p->s, NULL, 1, out, &type), ROOM_EINVAL);
        assert_int_equal(room_eio_payload_encode(p->s, NULL, 0, NULL, &type), ROOM_EINVAL);
        assert_int_equal(room_eio_payload_encode(p->s, NULL, 0, out, NULL), ROOM_EINVAL);
        room_buf_free(out);
    }
}

/* The response of one session decodes as a request of another: the two
 * directions agree (the packets themselves are the server's, so the second
 * session refuses them, but not as a payload). */
static void encoding_round_trips(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 4), *q = eio_open(w, ROOM_EIO_POLLING, 4);
    room_bytes att[2] = {{(const uint8_t *)"", 0}, {(const uint8_t *)"\xfe\xff\x00\x01\x02", 5}};
    const char *type;
    size_t len;
    char *body;

    assert_int_equal(eio_post(w, p, "40"), 0);
    assert_int_equal(broadcast_binary(room_eio_hub(w->eio, "/"), "bin", att, 2), 1);
    body = eio_poll(p, &len, &type);
    assert_non_null(strstr(body, "\x1e" "b\x1e" "b/v8AAQI="));
    assert_int_equal(room_eio_recv_payload(w->eio, q->s, body, len, false, w->now), ROOM_EPROTO);
    assert_string_not_equal(q->reason, "invalid payload");
    free(body);
}

/* Encoding into a buffer whose allocations fail: ROOM_ENOMEM, nothing
 * leaked, and with enough memory the whole body. */
static void encodes_under_allocation_failure(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 4);
    room_bytes att = {(const uint8_t *)"0123456789abcdefghijklmnopqrstuvwxyz", 36};
    fake_alloc counts = {0};
    room_allocator alloc = fake_allocator(&counts);
    const char *type;
    size_t n;

    assert_int_equal(eio_post(w, p, "40"), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(broadcast_binary(room_eio_hub(w->eio, "/"), "bin", &att, 1), 1);
    for (n = 1;; n++) {
        room_buf *out;
        int rc;
        memset(&counts, 0, sizeof counts);
        counts.fail_at = n;
        rc = room_buf_new(&out, &alloc);
        if (rc == 0) {
            rc = room_eio_payload_encode(p->s, p->chains, p->nchains, out, &type);
            assert_true(rc == 0 || rc == ROOM_ENOMEM);
            if (rc == 0)
                assert_true(room_buf_len(out) > 20 * 48);
            room_buf_free(out);
        }
        assert_int_equal(counts.allocs, counts.frees);
        if (!counts.failures)
            break;
    }
    assert_true(n > 2);
}

/* A client with forceBase64 sends binary as "b" + base64 on its WebSocket
 * too, which engine.io reads as binary. */
static void takes_base64_binary_on_a_websocket(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_WEBSOCKET, 4);

    assert_int_equal(eio_in(w, p, "40"), 0);
    assert_int_equal(eio_in(w, p, "451-[\"up\",{\"_placeholder\":true,\"num\":0}]"), 0);
    assert_int_equal(eio_in(w, p, "bAQID"), 0);
    assert_int_equal(seen.att_len, 3);
    assert_memory_equal(seen.att, "\x01\x02\x03", 3);
    /* Not base64, or not announced: protocol errors. */
    assert_int_equal(eio_in(w, p, "bAQ"), ROOM_EPROTO);
    p = eio_open(w, ROOM_EIO_WEBSOCKET, 4);
    assert_int_equal(eio_in(w, p, "40"), 0);
    assert_int_equal(eio_in(w, p, "bAQID"), ROOM_EPROTO);
    assert_string_equal(p->reason, "unexpected binary message");
}

/* ---- upgrade -------------------------------------------------------------------- */

static int probe(eio_world *w, eio_peer *poll, eio_peer *ws, const char *text)
{
    return room_eio_upgrade_recv(w->eio, poll->s, ws, ROOM_FRAME_TEXT, text, strlen(text), w->now);
}

static void upgrades_to_a_websocket(void **state)
{
    eio_world *w = *state;
    eio_peer *poll = eio_open(w, ROOM_EIO_POLLING, 4), *ws = eio_peer_new(w);
    room_eio_session *s = poll->s;
    room_hub *root = room_eio_hub(w->eio, "/");
    const char *type;
    size_t len;

    assert_int_equal(eio_post(w, poll, "40"), 0);
    free(eio_poll(poll, &len, &type));

    assert_int_equal(probe(w, poll, ws, "2probe"), ROOM_EIO_PROBING);
    assert_int_equal(ws->n, 1);
    assert_string_equal(eio_last(ws), "3probe");
    /* The noop releases the pending poll; the host answers polls at once
     * while the session upgrades. */
    assert_string_equal(eio_last(poll), "6");
    assert_true(room_eio_session_upgrading(s));
    assert_int_equal(room_eio_session_transport_kind(s), ROOM_EIO_POLLING);
    /* A second probe on the same WebSocket is answered again. */
    assert_int_equal(probe(w, poll, ws, "2probe"), ROOM_EIO_PROBING);
    assert_int_equal(ws->n, 2);

    /* Sent while probing: still polling's, in order. */
    assert_int_equal(room_broadcast(root, "a", NULL, NULL), 1);
    assert_int_equal(eio_post(w, poll, "42[\"chat\",1]"), 0);
    assert_int_equal(probe(w, poll, ws, "5"), ROOM_EIO_UPGRADED);
    assert_false(room_eio_session_upgrading(s));
    assert_int_equal(room_eio_session_transport_kind(s), ROOM_EIO_WEBSOCKET);
    assert_ptr_equal(room_eio_session_transport(s), ws);
    /* Still found by sid, so that a late poll is answered as the
     * reference answers a poll on an upgraded session. */
    assert_ptr_equal(room_eio_session_find(w->eio, room_eio_session_id(s), 20), s);
    eio_move_unpolled(poll, ws);
    /* The session is the WebSocket's now (eio_world_end() closes it). */
    poll->s = NULL;
    ws->s = s;
    assert_int_equal(room_broadcast(root, "b", NULL, NULL), 1);
    assert_int_equal(ws->n, 6);
    assert_string_equal(ws->msgs[3], "6");
    assert_string_equal(ws->msgs[4], "42[\"a\"]");
    assert_string_equal(ws->msgs[5], "42[\"b\"]");
    /* From now on everything comes by the WebSocket, pings too. */
    assert_int_equal(eio_in(w, ws, "42[\"chat\",2]"), 0);
    assert_string_equal(seen.log, "chat [1];chat [2];");
    room_eio_tick(w->eio, 1000);
    assert_string_equal(eio_last(ws), "2");
    /* The upgraded session cannot upgrade again. */
    assert_int_equal(room_eio_upgrade_recv(w->eio, s, ws, ROOM_FRAME_TEXT, "2probe", 6, w->now),
                     ROOM_EPROTO);
}

static void refuses_bad_upgrades(void **state)
{
    eio_world *w = *state;
    eio_peer *poll = eio_open(w, ROOM_EIO_POLLING, 4), *ws = eio_peer_new(w),
             *other = eio_peer_new(w), *wsonly = eio_open(w, ROOM_EIO_WEBSOCKET, 4);

    assert_int_equal(room_eio_upgrade_recv(NULL, poll->s, ws, ROOM_FRAME_TEXT, "5", 1, 0),
                     ROOM_EINVAL);
    assert_int_equal(room_eio_upgrade_recv(w->eio, poll->s, NULL, ROOM_FRAME_TEXT, "5", 1, 0),
                     ROOM_EINVAL);
    /* "5" before any probe. */
    assert_int_equal(probe(w, poll, ws, "5"), ROOM_EPROTO);
    assert_int_equal(ws->n, 0);
    /* Not a probe. */
    assert_int_equal(probe(w, poll, ws, "2"), ROOM_EPROTO);
    assert_int_equal(probe(w, poll, ws, "2probex"), ROOM_EPROTO);
    assert_int_equal(room_eio_upgrade_recv(w->eio, poll->s, ws, ROOM_FRAME_BINARY, "2probe", 6, 0),
                     ROOM_EPROTO);
    /* A WebSocket session has nothing to upgrade. */
    assert_int_equal(room_eio_upgrade_recv(w->eio, wsonly->s, ws, ROOM_FRAME_TEXT, "2probe", 6, 0),
                     ROOM_EPROTO);
    assert_int_equal(ws->n, 0);

    /* Probing, then a second WebSocket: refused, the first goes on. */
    assert_int_equal(probe(w, poll, ws, "2probe"), ROOM_EIO_PROBING);
    assert_int_equal(probe(w, poll, other, "2probe"), ROOM_EPROTO);
    assert_true(room_eio_session_upgrading(poll->s));
    /* Anything else on the probe ends it: the session goes on polling. */
    assert_int_equal(probe(w, poll, ws, "42[\"chat\"]"), ROOM_EPROTO);
    assert_false(room_eio_session_upgrading(poll->s));
    assert_int_equal(room_eio_session_transport_kind(poll->s), ROOM_EIO_POLLING);
    assert_int_equal(poll->closes, 0);
    assert_int_equal(ws->closes, 0);
    assert_int_equal(eio_post(w, poll, "40"), 0);

    /* The probe's send failing. */
    other->fail_sends = 1;
    assert_int_equal(probe(w, poll, other, "2probe"), ROOM_ETRANSPORT);
    assert_false(room_eio_session_upgrading(poll->s));
    /* A closing session. */
    assert_int_equal(eio_post(w, poll, "1"), 0);
    assert_int_equal(probe(w, poll, ws, "2probe"), ROOM_ECLOSED);
}

static void ends_probes(void **state)
{
    eio_world *w = *state;
    eio_peer *poll, *ws;

    w->cfg.ping_interval_ms = 100000;
    start(w);
    poll = eio_open(w, ROOM_EIO_POLLING, 4);
    ws = eio_peer_new(w);
    /* No "5" within 10 s: the room_eio closes the probe itself. */
    assert_int_equal(eio_post(w, poll, "40"), 0);
    w->now = 100;
    assert_int_equal(probe(w, poll, ws, "2probe"), ROOM_EIO_PROBING);
    assert_int_equal(room_eio_tick(w->eio, 10099), 1);
    assert_int_equal(ws->closes, 0);
    room_eio_tick(w->eio, 10100);
    assert_int_equal(ws->closes, 1);
    assert_string_equal(ws->reason, "upgrade timeout");
    assert_false(room_eio_session_upgrading(poll->s));
    assert_int_equal(poll->closes, 0);

    /* The probe WebSocket went away: aborted, never named again. */
    ws = eio_peer_new(w);
    assert_int_equal(probe(w, poll, ws, "2probe"), ROOM_EIO_PROBING);
    room_eio_upgrade_abort(w->eio, poll->s, poll); /* not the probe: no effect */
    assert_true(room_eio_session_upgrading(poll->s));
    room_eio_upgrade_abort(w->eio, poll->s, ws);
    assert_false(room_eio_session_upgrading(poll->s));
    room_eio_tick(w->eio, 30000);
    assert_int_equal(ws->closes, 0);
    room_eio_upgrade_abort(w->eio, poll->s, ws);
    room_eio_upgrade_abort(NULL, poll->s, ws);
    room_eio_upgrade_abort(w->eio, NULL, ws);

    /* The session closing closes its probe. */
    ws = eio_peer_new(w);
    assert_int_equal(probe(w, poll, ws, "2probe"), ROOM_EIO_PROBING);
    room_eio_session_shut(w->eio, poll->s, "bye");
    assert_int_equal(poll->closes, 1);
    assert_int_equal(ws->closes, 1);
    assert_string_equal(ws->reason, "session closed");
    eio_close(w, poll, "bye");
    assert_int_equal(ws->closes, 1);

    /* And so does room_eio_close() while probing. */
    poll = eio_open(w, ROOM_EIO_POLLING, 4);
    ws = eio_peer_new(w);
    assert_int_equal(probe(w, poll, ws, "2probe"), ROOM_EIO_PROBING);
    eio_close(w, poll, "gone");
    assert_int_equal(ws->closes, 1);
    assert_int_equal(room_eio_tick(w->eio, 60000), -1);
}

/* A polling session that is never polled again times out on the heartbeat
 * like any other. */
static void times_out_unpolled_sessions(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 4);
    assert_int_equal(eio_post(w, p, "40"), 0);
    room_eio_tick(w->eio, 1000);
    assert_string_equal(eio_last(p), "2");
    room_eio_tick(w->eio, 1500);
    assert_int_equal(p->closes, 1);
    assert_string_equal(p->reason, "ping timeout");
}

/* ---- memory ------------------------------------------------------------------ */

/* Bytes live through the allocator. */
static size_t metered;

static void *meter_malloc(size_t size, void *ud)
{
    size_t *p = malloc(sizeof(size_t) * 2 + size);
    (void)ud;
    metered += size;
    p[0] = size;
    return p + 2;
}

static void *meter_realloc(void *ptr, size_t size, void *ud)
{
    size_t *p = (size_t *)ptr - 2;
    (void)ud;
    metered += size - p[0];
    p = realloc(p, sizeof(size_t) * 2 + size);
    p[0] = size;
    return p + 2;
}

static void meter_free(void *ptr, void *ud)
{
    size_t *p = (size_t *)ptr - 2;
    (void)ud;
    metered -= p[0];
    free(p);
}

/* An idle polling session costs the room_eio what a WebSocket one does,
 * plus its slot in the sid index; a WebSocket session costs what it did. */
static void idle_polling_sessions_are_small(void **state)
{
    enum { N = 3000 };
    eio_world *w = *state;
    room_hub *root;
    eio_peer *p;
    size_t before, ws, poll, hub;

    w->cfg.allocator = (room_allocator){meter_malloc, meter_realloc, meter_free, NULL};
    start(w);
    root = room_eio_hub(w->eio, "/");
    before = metered;
    hub = room_hub_memory(root);
    for (size_t i = 0; i < N; i++) {
        p = eio_open(w, ROOM_EIO_WEBSOCKET, 4);
        assert_int_equal(eio_in(w, p, "40"), 0);
    }
    ws = (metered - before - (room_hub_memory(root) - hub)) / N;
    before = metered;
    hub = room_hub_memory(root);
    for (size_t i = 0; i < N; i++) {
        p = eio_open(w, ROOM_EIO_POLLING, 4);
        assert_int_equal(eio_post(w, p, "40"), 0);
    }
    poll = (metered - before - (room_hub_memory(root) - hub)) / N;
    print_message("the room_eio's bytes per idle session in \"/\": %zu on a WebSocket, %zu on "
                  "polling (sid index included)\n", ws, poll);
    assert_true(ws <= 88);
    assert_true(poll <= 88 + 16);
    eio_world_end(w);
    assert_int_equal(metered, 0);
}

static void scenario(eio_world *w)
{
    json_t *hs = json_pack("{ss}", "address", "1.2.3.4");
    json_t *query = json_pack("{ssss}", "EIO", "4", "room", "x");
    eio_peer *p, *ws;
    room_hub *root;

    if (room_eio_new(&w->eio, &w->cfg, &w->root) != 0)
        goto out;
    root = room_eio_hub(w->eio, "/");
    room_on(root, "chat", on_event, NULL);
    room_on(root, "up", on_event, NULL);
    room_on(root, "connect", on_connect, NULL);
    for (int i = 0; i < 3; i++) {
        p = eio_peer_new(w);
        if (eio_accept(w, p, ROOM_EIO_POLLING, 4, query, hs) != 0)
            continue;
        eio_post(w, p, "40\x1e" "42[\"chat\",1]");
        eio_post(w, p, "451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1e" "bAQID");
        room_broadcast(root, "x", NULL, NULL);
        ws = eio_peer_new(w);
        if (probe(w, p, ws, "2probe") == ROOM_EIO_PROBING && i == 1 &&
            probe(w, p, ws, "5") == ROOM_EIO_UPGRADED) {
            ws->s = p->s;
            p->s = NULL;
            eio_in(w, ws, "42[\"chat\",2]");
        }
    }
    room_eio_tick(w->eio, 20000);
out:
    json_decref(hs);
    json_decref(query);
}

static void survives_every_allocation_failure(void **state)
{
    eio_world *w = *state;
    size_t n;
    for (n = 1;; n++) {
        eio_world_config(w);
        w->cfg.keep_handshake = n % 2;
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
        STARTED(opens_on_either_transport),
        STARTED(refuses_bad_requests),
        STARTED(indexes_many_sessions),
        FRESH(draws_sids_again_on_collision),
        FRESH(hands_the_handshake_to_connect_handlers),
        STARTED(decodes_v4_payloads),
        STARTED(refuses_malformed_v4_payloads),
        STARTED(encodes_v4_poll_responses),
        STARTED(encoding_round_trips),
        STARTED(encodes_under_allocation_failure),
        STARTED(takes_base64_binary_on_a_websocket),
        STARTED(upgrades_to_a_websocket),
        STARTED(refuses_bad_upgrades),
        FRESH(ends_probes),
        STARTED(times_out_unpolled_sessions),
        FRESH(survives_every_allocation_failure),
        FRESH(idle_polling_sessions_are_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
