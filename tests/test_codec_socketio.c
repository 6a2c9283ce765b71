/* codec_socketio.c: Socket.IO v5 packets, both directions, for "/" and a
 * custom namespace. */
#include <stdlib.h>
#include <string.h>

#include "room/eio.h"
#include "test_util.h"

static room_codec *codec_for(const char *nsp)
{
    room_codec *c = NULL;
    assert_int_equal(room_codec_socketio_new(&c, nsp), 0);
    assert_non_null(c);
    return c;
}

static void creates_and_rejects_namespaces(void **state)
{
    room_codec *c = (room_codec *)1;
    (void)state;
    assert_int_equal(room_codec_socketio_new(&c, NULL), ROOM_EINVAL);
    assert_null(c);
    assert_int_equal(room_codec_socketio_new(&c, ""), ROOM_EINVAL);
    assert_int_equal(room_codec_socketio_new(&c, "admin"), ROOM_EINVAL);
    assert_int_equal(room_codec_socketio_new(&c, "/a,b"), ROOM_EINVAL);
    assert_int_equal(room_codec_socketio_new(NULL, "/"), ROOM_EINVAL);
    c = codec_for("/");
    assert_string_equal(c->name, "socketio");
    room_codec_socketio_free(c);
    room_codec_socketio_free(NULL);
}

/* Decodes `in` and compares with the expected message; args as JSON text. */
static void expect_decode(const room_codec *c, const char *in, int type, const char *event,
                          const char *args, int64_t id, size_t attachments)
{
    room_message m = {0, NULL, NULL, NULL, -1, 0};
    json_t *want = json_loads(args, 0, NULL);
    int rc = c->decode(c, (const uint8_t *)in, strlen(in), &m);
    if (rc != 0)
        fail_msg("%s: decode returned %d", in, rc);
    assert_int_equal(m.type, type);
    if (event)
        assert_string_equal(m.event, event);
    else
        assert_null(m.event);
    assert_non_null(want);
    if (!json_equal(m.args, want)) {
        char *got = json_dumps(m.args, JSON_COMPACT);
        fail_msg("%s: args %s, want %s", in, got, args);
    }
    assert_int_equal(m.id, id);
    assert_int_equal(m.attachments, attachments);
    json_decref(want);
    json_decref(m.args);
    json_decref(m.owner);
}

static void decodes_every_packet_type(void **state)
{
    room_codec *root = codec_for("/"), *admin = codec_for("/admin");
    (void)state;
    expect_decode(root, "2[\"ev\"]", ROOM_MSG_EVENT, "ev", "[]", -1, 0);
    expect_decode(root, "2[\"ev\",1,{\"a\":[true]},\"x\"]", ROOM_MSG_EVENT, "ev",
                  "[1,{\"a\":[true]},\"x\"]", -1, 0);
    expect_decode(root, "212[\"ev\",\"x\"]", ROOM_MSG_EVENT, "ev", "[\"x\"]", 12, 0);
    expect_decode(root, "20[\"ev\"]", ROOM_MSG_EVENT, "ev", "[]", 0, 0);
    expect_decode(root, "29007199254740992[\"ev\"]", ROOM_MSG_EVENT, "ev", "[]",
                  9007199254740992LL, 0);
    expect_decode(root, "312[]", ROOM_MSG_ACK, NULL, "[]", 12, 0);
    expect_decode(root, "313[\"bar\",1]", ROOM_MSG_ACK, NULL, "[\"bar\",1]", 13, 0);
    expect_decode(root, "51-[\"ev\",{\"_placeholder\":true,\"num\":0}]", ROOM_MSG_EVENT, "ev",
                  "[{\"_placeholder\":true,\"num\":0}]", -1, 1);
    expect_decode(root,
                  "52-7[\"ev\",{\"k\":[{\"_placeholder\":true,\"num\":1}]},"
                  "{\"_placeholder\":true,\"num\":0}]",
                  ROOM_MSG_EVENT, "ev",
                  "[{\"k\":[{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,\"num\":0}]",
                  7, 2);
    expect_decode(root, "510-[\"ev\",{\"_placeholder\":true,\"num\":9}]", ROOM_MSG_EVENT, "ev",
                  "[{\"_placeholder\":true,\"num\":9}]", -1, 10);
    expect_decode(root, "61-4[{\"_placeholder\":true,\"num\":0}]", ROOM_MSG_ACK, NULL,
                  "[{\"_placeholder\":true,\"num\":0}]", 4, 1);
    /* Only "_placeholder": true makes a placeholder. */
    expect_decode(root, "2[\"ev\",{\"_placeholder\":false,\"num\":3}]", ROOM_MSG_EVENT, "ev",
                  "[{\"_placeholder\":false,\"num\":3}]", -1, 0);

    expect_decode(admin, "2/admin,[\"ev\"]", ROOM_MSG_EVENT, "ev", "[]", -1, 0);
    expect_decode(admin, "2/admin,12[\"ev\",null]", ROOM_MSG_EVENT, "ev", "[null]", 12, 0);
    expect_decode(admin, "3/admin,13[\"bar\"]", ROOM_MSG_ACK, NULL, "[\"bar\"]", 13, 0);
    expect_decode(admin, "51-/admin,[\"ev\",{\"_placeholder\":true,\"num\":0}]", ROOM_MSG_EVENT,
                  "ev", "[{\"_placeholder\":true,\"num\":0}]", -1, 1);
    expect_decode(admin, "61-/admin,15[\"bar\",{\"_placeholder\":true,\"num\":0}]", ROOM_MSG_ACK,
                  NULL, "[\"bar\",{\"_placeholder\":true,\"num\":0}]", 15, 1);
    room_codec_socketio_free(root);
    room_codec_socketio_free(admin);
}

static void rejects_malformed(void **state)
{
    static const struct {
        const char *nsp;
        const char *in;
        int code;
    } cases[] = {
        {"/", "", ROOM_EPROTO},
        {"/", "x", ROOM_EPROTO},
        {"/", "7[\"x\"]", ROOM_EPROTO},
        {"/", "0", ROOM_EPROTO},                   /* CONNECT is the eio's */
        {"/", "0{}", ROOM_EPROTO},
        {"/", "1", ROOM_EPROTO},
        {"/", "4{\"message\":\"x\"}", ROOM_EPROTO}, /* CONNECT_ERROR */
        {"/", "2", ROOM_EPROTO},                   /* payload is mandatory */
        {"/", "212", ROOM_EPROTO},
        {"/", "2[", ROOM_EJSON},
        {"/", "2[\"x\"]]", ROOM_EJSON},
        {"/", "2[\"x\"] trailing", ROOM_EJSON},
        {"/", "2[\"x\",{\"a\":1,\"a\":2}]", ROOM_EJSON},
        {"/", "2[\"a\\u0000b\"]", ROOM_EJSON},
        {"/", "2-1[\"x\"]", ROOM_EJSON},
        {"/", "2{\"a\":1}", ROOM_EPROTO},
        {"/", "2\"x\"", ROOM_EPROTO},
        {"/", "27", ROOM_EPROTO},
        {"/", "2[]", ROOM_EPROTO},
        {"/", "2[1]", ROOM_EPROTO},
        {"/", "2[null]", ROOM_EPROTO},
        {"/", "2[\"\"]", ROOM_EPROTO},
        {"/", "29007199254740993[\"x\"]", ROOM_EPROTO},
        {"/", "299999999999999999999999999[\"x\"]", ROOM_EPROTO},
        {"/", "3[]", ROOM_EPROTO},                 /* ack without id */
        {"/", "312{}", ROOM_EPROTO},
        {"/", "2/admin,[\"x\"]", ROOM_EPROTO},
        {"/", "5[\"x\"]", ROOM_EPROTO},
        {"/", "51[\"x\"]", ROOM_EPROTO},
        {"/", "5-[\"x\"]", ROOM_EPROTO},
        {"/", "50-[\"x\"]", ROOM_EPROTO},
        {"/", "511-[\"x\"]", ROOM_EPROTO},
        {"/", "599999999999999999999-[\"x\"]", ROOM_EPROTO},
        {"/", "51-", ROOM_EPROTO},
        {"/", "51-[\"x\",{\"_placeholder\":true,\"num\":1}]", ROOM_EPROTO},
        {"/", "2[\"x\",{\"_placeholder\":true,\"num\":0}]", ROOM_EPROTO}, /* no attachments */
        {"/", "51-[\"x\",{\"_placeholder\":true,\"num\":-1}]", ROOM_EPROTO},
        {"/", "51-[\"x\",{\"_placeholder\":true,\"num\":0.5}]", ROOM_EPROTO},
        {"/", "51-[\"x\",{\"_placeholder\":true}]", ROOM_EPROTO},
        {"/", "51-[\"x\",[{\"_placeholder\":true,\"num\":\"0\"}]]", ROOM_EPROTO},
        {"/", "51-[\"x\",{\"a\":{\"_placeholder\":true,\"num\":2}}]", ROOM_EPROTO},
        {"/", "61-[{\"_placeholder\":true,\"num\":0}]", ROOM_EPROTO},
        {"/", "6[]", ROOM_EPROTO},
        {"/admin", "2[\"x\"]", ROOM_EPROTO},
        {"/admin", "2/admi,[\"x\"]", ROOM_EPROTO},
        {"/admin", "2/admin/x,[\"x\"]", ROOM_EPROTO},
        {"/admin", "2/admin[\"x\"]", ROOM_EPROTO},
        {"/admin", "2/admin,", ROOM_EPROTO},
        {"/admin", "3/admin,[1]", ROOM_EPROTO},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        room_codec *c = codec_for(cases[i].nsp);
        room_message m = {0, NULL, NULL, NULL, -1, 0};
        int rc = c->decode(c, (const uint8_t *)cases[i].in, strlen(cases[i].in), &m);
        if (rc != cases[i].code)
            fail_msg("case %zu (%s): got %d want %d", i, cases[i].in, rc, cases[i].code);
        assert_null(m.args);
        assert_null(m.owner);
        room_codec_socketio_free(c);
    }
}

static int reply_ok(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ud;
    return room_reply_new(hub, conn, ev, "result", json_string("ok"));
}

static int reply_binary(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    room_bytes b = {(const uint8_t *)"\x01\x02", 2};
    (void)ud;
    return room_reply_binary_new(hub, conn, ev, "result",
                                 json_pack("{sbsi}", "_placeholder", 1, "num", 0), &b, 1);
}

static int ack_seen;

static void on_ack(room_hub *hub, room_conn *conn, int status, json_t *args, void *ud)
{
    (void)hub;
    (void)conn;
    (void)ud;
    assert_int_equal(status, 0);
    assert_string_equal(json_string_value(json_array_get(args, 0)), "back");
    ack_seen++;
}

/* Expected frames for namespace "/" and, with the prefix, "/admin". */
static void encodes_through_a_hub(const char *nsp, const char *p)
{
    room_codec *c = codec_for(nsp);
    fake_net net = {0};
    room_config cfg;
    fake_peer *peer;
    json_t *payload = json_pack("{si}", "a", 1);
    room_bytes att = {(const uint8_t *)"\x00\xff", 2};
    char want[256], in[128];
    size_t n = 0;

    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.codec = c;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    room_on(net.hub, "e", reply_ok, NULL);
    room_on(net.hub, "b", reply_binary, NULL);
    peer = fake_open(&net);
    assert_non_null(peer);

    assert_int_equal(room_emit(net.hub, peer->conn, "ev", payload), 0);
    snprintf(want, sizeof want, "42%s[\"ev\",{\"a\":1}]", p);
    assert_string_equal(peer->frames[n++], want);

    assert_int_equal(room_emit(net.hub, peer->conn, "ev", NULL), 0);
    snprintf(want, sizeof want, "42%s[\"ev\"]", p);
    assert_string_equal(peer->frames[n++], want);

    assert_int_equal(room_emit(net.hub, peer->conn, "q\"\n", NULL), 0);
    snprintf(want, sizeof want, "42%s[\"q\\\"\\n\"]", p);
    assert_string_equal(peer->frames[n++], want);

    /* Server-side acks: ids count from 0 per connection. */
    assert_int_equal(room_emit_ack(net.hub, peer->conn, "ask", payload, 1000, on_ack, NULL), 0);
    snprintf(want, sizeof want, "42%s0[\"ask\",{\"a\":1}]", p);
    assert_string_equal(peer->frames[n++], want);
    snprintf(in, sizeof in, "3%s0[\"back\"]", p);
    ack_seen = 0;
    assert_int_equal(fake_recv(&net, peer, in), 0);
    assert_int_equal(ack_seen, 1);

    json_decref(payload);
    payload = json_pack("{sbsi}", "_placeholder", 1, "num", 0);
    assert_int_equal(room_emit_binary(net.hub, peer->conn, "bin", payload, &att, 1), 0);
    snprintf(want, sizeof want, "451-%s[\"bin\",{\"_placeholder\":true,\"num\":0}]", p);
    assert_string_equal(peer->frames[n], want);
    assert_int_equal(peer->kinds[n++], ROOM_FRAME_TEXT);
    assert_int_equal(peer->kinds[n], ROOM_FRAME_BINARY);
    assert_memory_equal(peer->frames[n++], "\x00\xff", 2);

    /* Client events with an ack id are answered with ACK packets. */
    snprintf(in, sizeof in, "2%s12[\"e\",\"x\"]", p);
    assert_int_equal(fake_recv(&net, peer, in), 0);
    snprintf(want, sizeof want, "43%s12[\"ok\"]", p);
    assert_string_equal(peer->frames[n++], want);

    snprintf(in, sizeof in, "2%s[\"e\",\"x\"]", p);
    assert_int_equal(fake_recv(&net, peer, in), 0);
    snprintf(want, sizeof want, "42%s[\"result\",\"ok\"]", p);
    assert_string_equal(peer->frames[n++], want);

    snprintf(in, sizeof in, "2%s7[\"b\"]", p);
    assert_int_equal(fake_recv(&net, peer, in), 0);
    snprintf(want, sizeof want, "461-%s7[{\"_placeholder\":true,\"num\":0}]", p);
    assert_string_equal(peer->frames[n++], want);
    assert_memory_equal(peer->frames[n++], "\x01\x02", 2);
    assert_int_equal(peer->nframes, n);

    json_decref(payload);
    fake_close(&net, peer);
    room_hub_free(net.hub);
    room_codec_socketio_free(c);
}

static void encodes_root_namespace(void **state)
{
    (void)state;
    encodes_through_a_hub("/", "");
}

static void encodes_custom_namespace(void **state)
{
    (void)state;
    encodes_through_a_hub("/admin", "/admin,");
}

/* Answers with every argument it got, attachments included. */
static int reply_all(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *argv[8];
    size_t i, n = json_array_size(ev->args);
    (void)ud;
    for (i = 0; i < n; i++)
        argv[i] = json_array_get(ev->args, i);
    return room_reply_args(hub, conn, ev, NULL, argv, n, ev->attachments, ev->attachment_count);
}

/* Several arguments, as emit("x", 1, "2", {three: 3}) sends them, and
 * binary placeholders in any of them, both ways, in a namespace. */
static void encodes_several_arguments(void **state)
{
    room_codec *c = codec_for("/admin");
    fake_net net = {0};
    room_config cfg;
    fake_peer *peer;
    json_t *argv[3];
    room_bytes att[2] = {{(const uint8_t *)"A", 1}, {(const uint8_t *)"BB", 2}};
    size_t n = 0;
    (void)state;

    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.codec = c;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    room_on(net.hub, "all", reply_all, NULL);
    peer = fake_open(&net);

    argv[0] = json_integer(1);
    argv[1] = json_string("2");
    argv[2] = json_pack("{si}", "three", 3);
    assert_int_equal(room_emit_args(net.hub, peer->conn, "x", argv, 3, NULL, 0), 0);
    assert_string_equal(peer->frames[n++], "42/admin,[\"x\",1,\"2\",{\"three\":3}]");
    assert_int_equal(room_emit_args(net.hub, peer->conn, "none", NULL, 0, NULL, 0), 0);
    assert_string_equal(peer->frames[n++], "42/admin,[\"none\"]");
    for (size_t i = 0; i < 3; i++)
        json_decref(argv[i]);

    /* Placeholders in the second and third arguments, one nested. */
    argv[0] = json_string("tail");
    argv[1] = json_pack("{s[{sbsi}]}", "nested", "_placeholder", 1, "num", 1);
    argv[2] = json_pack("{sbsi}", "_placeholder", 1, "num", 0);
    assert_int_equal(room_emit_args(net.hub, peer->conn, "bin", argv, 3, att, 2), 0);
    assert_string_equal(peer->frames[n++],
                        "452-/admin,[\"bin\",\"tail\",{\"nested\":[{\"_placeholder\":true,"
                        "\"num\":1}]},{\"_placeholder\":true,\"num\":0}]");
    assert_string_equal(peer->frames[n++], "A");
    assert_string_equal(peer->frames[n++], "BB");
    for (size_t i = 0; i < 3; i++)
        json_decref(argv[i]);

    /* Acks with no, two, and binary arguments. */
    assert_int_equal(fake_recv(&net, peer, "2/admin,4[\"all\"]"), 0);
    assert_string_equal(peer->frames[n++], "43/admin,4[]");
    assert_int_equal(fake_recv(&net, peer, "2/admin,5[\"all\",\"a\",[2]]"), 0);
    assert_string_equal(peer->frames[n++], "43/admin,5[\"a\",[2]]");
    assert_int_equal(fake_recv(&net, peer, "2/admin,6[\"all\",1,\"2\",{\"three\":3}]"), 0);
    assert_string_equal(peer->frames[n++], "43/admin,6[1,\"2\",{\"three\":3}]");
    /* Without an ack id: a "result" event with every argument. */
    assert_int_equal(fake_recv(&net, peer, "2/admin,[\"all\",1,\"2\"]"), 0);
    assert_string_equal(peer->frames[n++], "42/admin,[\"result\",1,\"2\"]");
    assert_int_equal(peer->nframes, n);

    /* Decoded placeholders may sit in any argument too. */
    expect_decode(c, "52-/admin,[\"e\",\"t\",{\"k\":{\"_placeholder\":true,\"num\":1}},"
                     "{\"_placeholder\":true,\"num\":0}]",
                  ROOM_MSG_EVENT, "e",
                  "[\"t\",{\"k\":{\"_placeholder\":true,\"num\":1}},{\"_placeholder\":true,\"num\":0}]",
                  -1, 2);
    expect_decode(c, "62-/admin,3[\"a\",{\"_placeholder\":true,\"num\":1},"
                     "{\"_placeholder\":true,\"num\":0}]",
                  ROOM_MSG_ACK, NULL,
                  "[\"a\",{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]",
                  3, 2);

    fake_close(&net, peer);
    room_hub_free(net.hub);
    room_codec_socketio_free(c);
}

static void *no_memory(size_t size)
{
    (void)size;
    return NULL;
}

/* When jansson cannot allocate, the packet is not the client's fault: the
 * answer is ROOM_ENOMEM (so the session is not closed for it), never a
 * syntax error read from an error jansson did not record. */
static void out_of_memory_is_not_bad_json(void **state)
{
    static const char *packets[] = {"2[\"ev\",{\"a\":[1,2,3]}]", "31[\"x\"]", "21[\"ev\",\"s\"]"};
    room_codec *codec;
    (void)state;
    assert_int_equal(room_codec_socketio_new(&codec, "/"), 0);
    json_set_alloc_funcs(no_memory, free);
    for (size_t i = 0; i < sizeof packets / sizeof packets[0]; i++) {
        room_message m = {0, NULL, NULL, NULL, -1, 0};
        int rc = codec->decode(codec, (const uint8_t *)packets[i], strlen(packets[i]), &m);
        if (rc != ROOM_ENOMEM)
            fail_msg("%s: got %d", packets[i], rc);
    }
    json_set_alloc_funcs(malloc, free);
    room_codec_socketio_free(codec);
}

/* Recovery: the offset is the last argument, a string, as Socket.IO's
 * SessionAwareAdapter writes it; binary events keep their placeholders
 * before it. No CONNECT-time message: the eio's CONNECT reply has the pid. */
static void encodes_offsets(void **state)
{
    room_codec *root = codec_for("/"), *admin = codec_for("/admin");
    room_buf *b;
    json_t *argv[2] = {json_integer(1), json_pack("{sbsi}", "_placeholder", 1, "num", 0)};
    (void)state;
    assert_non_null(root->encode_logged);
    assert_null(root->encode_open);
    assert_int_equal(room_buf_new(&b, NULL), 0);
    assert_int_equal(root->encode_logged(root, b, "x", argv, 1, "42", 0), 0);
    assert_memory_equal(room_buf_data(b), "42[\"x\",1,\"42\"]", room_buf_len(b));
    room_buf_reset(b);
    assert_int_equal(root->encode_logged(root, b, "none", NULL, 0, "7", 0), 0);
    assert_memory_equal(room_buf_data(b), "42[\"none\",\"7\"]", room_buf_len(b));
    room_buf_reset(b);
    assert_int_equal(admin->encode_logged(admin, b, "bin", argv, 2, "8", 1), 0);
    assert_int_equal(room_buf_len(b), strlen("451-/admin,[\"bin\",1,{\"_placeholder\":true,\"num\":0},\"8\"]"));
    assert_memory_equal(room_buf_data(b), "451-/admin,[\"bin\",1,{\"_placeholder\":true,\"num\":0},\"8\"]",
                        room_buf_len(b));
    room_buf_free(b);
    json_decref(argv[0]);
    json_decref(argv[1]);
    room_codec_socketio_free(root);
    room_codec_socketio_free(admin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encodes_offsets),
        cmocka_unit_test(creates_and_rejects_namespaces),
        cmocka_unit_test(decodes_every_packet_type),
        cmocka_unit_test(rejects_malformed),
        cmocka_unit_test(encodes_root_namespace),
        cmocka_unit_test(encodes_custom_namespace),
        cmocka_unit_test(encodes_several_arguments),
        cmocka_unit_test(out_of_memory_is_not_bad_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
