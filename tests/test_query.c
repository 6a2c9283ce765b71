/* query.c: URL query strings into JSON objects. */
#include <string.h>

#include "test_util.h"

static json_t *parse_ok(const char *q)
{
    json_t *obj = NULL;
    assert_int_equal(room_query_parse(q, strlen(q), &obj), 0);
    assert_true(json_is_object(obj));
    return obj;
}

static void decodes_parameters(void **state)
{
    json_t *o;
    (void)state;
    o = parse_ok("EIO=4&transport=websocket&room=math&ID=3&name=Ana+B%C3%A9%20C&flag&empty=&x=1&x=2&&");
    assert_string_equal(json_string_value(json_object_get(o, "room")), "math");
    assert_string_equal(json_string_value(json_object_get(o, "ID")), "3");
    assert_string_equal(json_string_value(json_object_get(o, "name")), "Ana B\xc3\xa9 C");
    assert_string_equal(json_string_value(json_object_get(o, "flag")), "");
    assert_string_equal(json_string_value(json_object_get(o, "empty")), "");
    assert_string_equal(json_string_value(json_object_get(o, "x")), "2"); /* last wins */
    assert_int_equal(json_object_size(o), 8);
    json_decref(o);
    o = parse_ok("");
    assert_int_equal(json_object_size(o), 0);
    json_decref(o);
    /* An upgrade without '?' has no query at all: (NULL, 0). */
    o = (json_t *)1;
    assert_int_equal(room_query_parse(NULL, 0, &o), 0);
    assert_int_equal(json_object_size(o), 0);
    json_decref(o);
    o = parse_ok("a%3Db=c%26d");
    assert_string_equal(json_string_value(json_object_get(o, "a=b")), "c&d");
    json_decref(o);
    o = parse_ok("v=%00");
    assert_int_equal(json_string_length(json_object_get(o, "v")), 1);
    json_decref(o);
}

static void refuses_malformed(void **state)
{
    static const char *bad[] = {"a=%", "a=%4", "a=%zz", "=value", "%=1", "a=%C3", "k%FF=v", "a%00b=1"};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *obj = (json_t *)1;
        int rc = room_query_parse(bad[i], strlen(bad[i]), &obj);
        if (rc != ROOM_EPROTO)
            fail_msg("%s: got %d", bad[i], rc);
        assert_null(obj);
    }
    assert_int_equal(room_query_parse(NULL, 3, &(json_t *){NULL}), ROOM_EINVAL);
    assert_int_equal(room_query_parse("a=1", 3, NULL), ROOM_EINVAL);
}

static int seen_query;
static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *q = json_array_get(ev->args, 1);
    (void)hub, (void)conn, (void)ud;
    assert_int_equal(json_array_size(ev->args), 3);
    assert_true(json_is_null(json_array_get(ev->args, 2)));
    assert_true(json_is_null(json_array_get(ev->args, 0)));
    seen_query = json_is_object(q) ? (int)json_object_size(q) : -1;
    return 0;
}

/* room_conn_open_handshake() hands the query to the connect handler. */
static void connect_handler_sees_query(void **state)
{
    fake_net net = {0};
    room_conn *c;
    json_t *q = parse_ok("a=1&b=2");
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_on(net.hub, "connect", on_connect, NULL);
    assert_int_equal(room_conn_open_handshake(net.hub, NULL, NULL, q, &c, NULL), 0);
    assert_int_equal(seen_query, 2);
    room_conn_close(net.hub, c, NULL);
    assert_int_equal(room_conn_open(net.hub, NULL, &c), 0);
    assert_int_equal(seen_query, -1);
    room_conn_close(net.hub, c, NULL);
    json_decref(q);
    room_hub_free(net.hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_parameters),
        cmocka_unit_test(refuses_malformed),
        cmocka_unit_test(connect_handler_sees_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
