/* codec_json.c and buf.c: the plain JSON envelope, both directions. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static void decodes_events_and_acks(void **state)
{
    const room_codec *codec = room_codec_json();
    room_message m;
    const char *ev = "{\"event\":\"join\",\"data\":{\"room\":\"r\"},\"id\":7}";
    const char *ack = "{\"ack\":3,\"data\":[1,2]}";
    (void)state;
    assert_string_equal(codec->name, "json");
    assert_int_equal(codec->decode(codec, (const uint8_t *)ev, strlen(ev), &m), 0);
    assert_int_equal(m.type, ROOM_MSG_EVENT);
    assert_string_equal(m.event, "join");
    assert_int_equal(m.id, 7);
    assert_int_equal(json_array_size(m.args), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m.args, 0), "room")), "r");
    json_decref(m.args);
    json_decref(m.owner);

    assert_int_equal(codec->decode(codec, (const uint8_t *)ack, strlen(ack), &m), 0);
    assert_int_equal(m.type, ROOM_MSG_ACK);
    assert_int_equal(m.id, 3);
    assert_true(json_is_array(json_array_get(m.args, 0)));
    json_decref(m.args);
    json_decref(m.owner);
}

/* "args" carries several arguments; "data" next to it must repeat the
 * first, as the server writes it. */
static void decodes_several_arguments(void **state)
{
    static const struct {
        const char *in;
        size_t argc;
    } cases[] = {
        {"{\"event\":\"e\",\"args\":[1,\"2\",{\"three\":3}]}", 3},
        {"{\"event\":\"e\",\"data\":1,\"args\":[1,2]}", 2},
        {"{\"event\":\"e\",\"args\":[]}", 0},
        {"{\"event\":\"e\"}", 0},
        {"{\"ack\":1,\"args\":[null,false]}", 2},
        {"{\"ack\":1,\"data\":null,\"args\":[null,false]}", 2},
    };
    const room_codec *codec = room_codec_json();
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        room_message m;
        assert_int_equal(codec->decode(codec, (const uint8_t *)cases[i].in, strlen(cases[i].in), &m), 0);
        assert_int_equal(json_array_size(m.args), cases[i].argc);
        json_decref(m.args);
        json_decref(m.owner);
    }
}

static void rejects_malformed(void **state)
{
    static const struct {
        const char *in;
        int code;
    } cases[] = {
        {"", ROOM_EJSON},
        {"{", ROOM_EJSON},
        {"{\"event\":\"x\"} trailing", ROOM_EJSON},
        {"{\"event\":\"x\",\"event\":\"y\"}", ROOM_EJSON},
        {"[1,2]", ROOM_EPROTO},
        {"{}", ROOM_EPROTO},
        {"{\"event\":5}", ROOM_EPROTO},
        {"{\"event\":\"\"}", ROOM_EPROTO},
        {"{\"event\":\"a\\u0000b\"}", ROOM_EJSON},
        {"{\"event\":\"x\",\"id\":-1}", ROOM_EPROTO},
        {"{\"event\":\"x\",\"id\":1.5}", ROOM_EPROTO},
        {"{\"event\":\"x\",\"id\":\"1\"}", ROOM_EPROTO},
        {"{\"event\":\"x\",\"id\":9007199254740993}", ROOM_EPROTO},
        {"{\"event\":\"x\",\"ack\":1}", ROOM_EPROTO},
        {"{\"ack\":\"1\"}", ROOM_EPROTO},
        {"{\"ack\":1,\"id\":2}", ROOM_EPROTO},
        {"{\"event\":\"x\",\"args\":{}}", ROOM_EPROTO},
        {"{\"event\":\"x\",\"args\":1}", ROOM_EPROTO},
        {"{\"event\":\"x\",\"data\":2,\"args\":[1,2]}", ROOM_EPROTO},
        {"{\"event\":\"x\",\"data\":1,\"args\":[]}", ROOM_EPROTO},
    };
    const room_codec *codec = room_codec_json();
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        room_message m = {0, NULL, NULL, NULL, -1, 0};
        int rc = codec->decode(codec, (const uint8_t *)cases[i].in, strlen(cases[i].in), &m);
        if (rc != cases[i].code)
            fail_msg("case %zu (%s): got %d want %d", i, cases[i].in, rc, cases[i].code);
        assert_null(m.args);
        assert_null(m.owner);
    }
}

static int echo(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ud;
    return room_reply_new(hub, conn, ev, "echo", json_incref(ev->args));
}

/* Answers with each of its arguments as an argument of its own. */
static int many(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *argv[8];
    size_t n = json_array_size(ev->args);
    (void)ud;
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        argv[i] = json_array_get(ev->args, i);
    return room_reply_args(hub, conn, ev, NULL, argv, n, NULL, 0);
}

/* Encoding goes through a real hub (it owns the buffer). */
static void encodes_events_and_acks(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_on(net.hub, "e", echo, NULL);
    room_on(net.hub, "many", many, NULL);
    p = fake_open(&net);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"e\",\"data\":\"x\"}"), 0);
    assert_string_equal(p->frames[0], "{\"event\":\"echo\",\"data\":[\"x\"]}");
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"e\",\"data\":\"x\",\"id\":42}"), 0);
    assert_string_equal(p->frames[1], "{\"ack\":42,\"data\":[\"x\"]}");
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"e\",\"id\":0}"), 0);
    assert_string_equal(p->frames[2], "{\"ack\":0,\"data\":[]}");
    /* Each argument of a multi-argument answer, "data" the first. */
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"many\",\"args\":[1,[2],\"3\"],\"id\":5}"), 0);
    assert_string_equal(p->frames[3], "{\"ack\":5,\"data\":1,\"args\":[1,[2],\"3\"]}");
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"many\",\"args\":[1,[2]]}"), 0);
    assert_string_equal(p->frames[4], "{\"event\":\"result\",\"data\":1,\"args\":[1,[2]]}");
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"many\",\"id\":6}"), 0);
    assert_string_equal(p->frames[5], "{\"ack\":6,\"data\":null}");
    assert_int_equal(room_emit_binary(net.hub, p->conn, "b", NULL, &(room_bytes){(const uint8_t *)"x", 1}, 1),
                     ROOM_EINVAL);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

/* String payloads take the codec's own escaper; it must write exactly what
 * jansson writes for the same string. */
static void string_payloads_match_jansson(void **state)
{
    static const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {"plain", 5},
        {"", 0},
        {"quote\" back\\slash /slash", 24},
        {"\b\f\n\r\t\x01\x1f\x7f", 8},
        {"nul\0inside", 10},
        {"caf\xc3\xa9 \xf0\x9f\x8e\x89 \xe2\x80\xa8", 15},
        /* Long enough for the word-at-a-time scan, escapes at every offset in a word. */
        {"0123456789abcdef\"123456789abcdef\\23456789abcdef\x1f", 48},
        {"aaaaaaa\x7f" "\xc3\xa9" "\xe2\x82\xac" "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n", 56},
        {"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10 !#$%&'()*+,-./", 31},
    };
    fake_net net = {0};
    fake_peer *p;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    p = fake_open(&net);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *str = json_stringn(cases[i].s, cases[i].len);
        char *dumped = json_dumps(str, JSON_ENCODE_ANY | JSON_COMPACT);
        char expect[256];
        snprintf(expect, sizeof expect, "{\"event\":\"e\",\"data\":%s}", dumped);
        assert_int_equal(room_emit(net.hub, p->conn, "e", str), 0);
        assert_string_equal(p->frames[p->nframes - 1], expect);
        free(dumped);
        json_decref(str);
    }
    fake_close(&net, p);
    room_hub_free(net.hub);
}

/* Recovery: logged events carry "offset" as a string; the first message
 * names the connection. Straight through the codec's table. */
static void encodes_offsets_and_session(void **state)
{
    const room_codec *c = room_codec_json();
    room_buf *b;
    json_t *argv[2] = {json_integer(1), json_string("2")};
    (void)state;
    assert_true(c->size >= offsetof(room_codec, encode_open) + sizeof c->encode_open);
    assert_int_equal(room_buf_new(&b, NULL), 0);
    assert_int_equal(c->encode_logged(c, b, "x", argv, 2, "17", 0), 0);
    assert_memory_equal(room_buf_data(b), "{\"event\":\"x\",\"data\":1,\"args\":[1,\"2\"],\"offset\":\"17\"}",
                        room_buf_len(b));
    room_buf_reset(b);
    assert_int_equal(c->encode_logged(c, b, "none", NULL, 0, "0", 0), 0);
    assert_memory_equal(room_buf_data(b), "{\"event\":\"none\",\"offset\":\"0\"}", room_buf_len(b));
    room_buf_reset(b);
    assert_int_equal(c->encode_logged(c, b, "x", argv, 1, "1", 1), ROOM_EINVAL);
    room_buf_reset(b);
    assert_int_equal(c->encode_open(c, b, "ID", "PID", "5", 1), 0);
    assert_int_equal(room_buf_len(b), strlen("{\"event\":\"session\",\"data\":{\"id\":\"ID\",\"pid\":\"PID\","
                                             "\"offset\":\"5\",\"recovered\":true}}"));
    assert_memory_equal(room_buf_data(b),
                        "{\"event\":\"session\",\"data\":{\"id\":\"ID\",\"pid\":\"PID\",\"offset\":\"5\","
                        "\"recovered\":true}}",
                        room_buf_len(b));
    room_buf_reset(b);
    assert_int_equal(c->encode_open(c, b, "ID", "PID", "0", 0), 0);
    assert_memory_equal(room_buf_data(b),
                        "{\"event\":\"session\",\"data\":{\"id\":\"ID\",\"pid\":\"PID\",\"offset\":\"0\","
                        "\"recovered\":false}}",
                        room_buf_len(b));
    room_buf_free(b);
    json_decref(argv[0]);
    json_decref(argv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encodes_offsets_and_session),
        cmocka_unit_test(decodes_events_and_acks),
        cmocka_unit_test(decodes_several_arguments),
        cmocka_unit_test(rejects_malformed),
        cmocka_unit_test(encodes_events_and_acks),
        cmocka_unit_test(string_payloads_match_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
