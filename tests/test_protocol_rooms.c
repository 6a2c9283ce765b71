/* protocol_rooms.c: the library's own protocol over the JSON codec. */
#include <string.h>

#include "room/protocol.h"
#include "test_util.h"

static json_t *last_data(const fake_peer *p, const char *event)
{
    json_t *d = NULL;
    for (long i = fake_find(p, event, 0); i >= 0; i = fake_find(p, event, (size_t)i + 1)) {
        json_t *j = fake_json(p, (size_t)i);
        json_decref(d);
        d = json_incref(json_object_get(j, "data"));
        json_decref(j);
    }
    return d;
}

static void join_send_leave(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b, *c;
    json_t *d;
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    a = fake_open(&net);
    b = fake_open(&net);
    c = fake_open(&net);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"lobby\"}"), 0);
    d = last_data(a, "result");
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "Joined room");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "data"), "members")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "event")), "join");
    json_decref(d);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"join\",\"data\":{\"room\":\"lobby\"}}"), 0);
    d = last_data(a, "member-joined");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "id")),
                        room_conn_id(b->conn));
    json_decref(d);
    assert_int_equal(fake_count(b, "member-joined"), 0); /* not to the joiner */

    /* send: everyone in the room, sender included; not outsiders. */
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"send\",\"data\":{\"room\":\"lobby\",\"data\":{\"t\":\"hi\"}}}"), 0);
    for (int i = 0; i < 2; i++) {
        fake_peer *p = i ? b : a;
        d = last_data(p, "message");
        assert_string_equal(json_string_value(json_object_get(d, "msg")), "Message");
        assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "from")),
                            room_conn_id(a->conn));
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(json_object_get(d, "data"), "data"), "t")), "hi");
        json_decref(d);
    }
    assert_int_equal(c->nframes, 0);
    d = last_data(a, "result");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "data"), "delivered")), 2);
    json_decref(d);

    /* send to a room one is not in */
    assert_int_equal(fake_recv(&net, c, "{\"event\":\"send\",\"data\":{\"room\":\"lobby\",\"data\":1}}"), 0);
    assert_error_code(c, "not_member");
    assert_int_equal(fake_count(a, "message"), 1);

    /* broadcast: the room minus the sender; or the hub minus the sender. */
    fake_clear(a);
    fake_clear(b);
    fake_clear(c);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"broadcast\",\"data\":{\"room\":\"lobby\",\"data\":2}}"), 0);
    assert_int_equal(fake_count(a, "message"), 0);
    assert_int_equal(fake_count(b, "message"), 1);
    assert_int_equal(fake_count(c, "message"), 0);
    /* To the whole hub only when the host granted it. */
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"broadcast\",\"data\":{\"data\":3}}"), 0);
    assert_error_code(a, "denied");
    assert_int_equal(fake_count(b, "message"), 1);
    assert_int_equal(fake_count(c, "message"), 0);
    assert_int_equal(room_protocol_rooms_register_flags(net.hub, 1u << 7), ROOM_EINVAL);
    assert_int_equal(room_protocol_rooms_register_flags(net.hub, ROOM_PROTOCOL_ROOMS_HUB_BROADCAST), 0);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"broadcast\",\"data\":{\"data\":3}}"), 0);
    assert_int_equal(fake_count(a, "message"), 0);
    assert_int_equal(fake_count(b, "message"), 2);
    assert_int_equal(fake_count(c, "message"), 1);
    assert_int_equal(fake_recv(&net, c, "{\"event\":\"broadcast\",\"data\":{\"room\":5}}"), 0);
    assert_error_code(c, "bad_message");

    /* direct */
    {
        char msg[128];
        snprintf(msg, sizeof msg, "{\"event\":\"direct\",\"data\":{\"to\":\"%s\",\"data\":\"psst\"}}",
                 room_conn_id(c->conn));
        assert_int_equal(fake_recv(&net, a, msg), 0);
        d = last_data(c, "message");
        assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "data")), "psst");
        json_decref(d);
        assert_int_equal(fake_recv(&net, a, "{\"event\":\"direct\",\"data\":{\"to\":\"nobody\"}}"), 0);
        assert_error_code(a, "not_found");
    }

    /* leave: the remaining members hear it; leaving twice is an error. */
    fake_clear(a);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"leave\",\"data\":\"lobby\"}"), 0);
    assert_int_equal(fake_count(a, "member-left"), 1);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"leave\",\"data\":\"lobby\"}"), 0);
    assert_error_code(b, "not_member");
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"join\",\"data\":\"\"}"), 0);
    assert_error_code(b, "bad_room_name");

    /* disconnect: the remaining members hear member-left. */
    fake_clear(a);
    assert_int_equal(fake_recv(&net, c, "{\"event\":\"join\",\"data\":\"lobby\"}"), 0);
    fake_close(&net, c);
    assert_int_equal(fake_count(a, "member-left"), 1);
    fake_close(&net, a);
    fake_close(&net, b);
    assert_int_equal(room_count(net.hub), 0);
    room_hub_free(net.hub);
}

static void acks_carry_results(void **state)
{
    fake_net net = {0};
    fake_peer *a;
    json_t *j;
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    a = fake_open(&net);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"r\",\"id\":1}"), 0);
    j = fake_json(a, 0);
    assert_int_equal(json_integer_value(json_object_get(j, "ack")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "data"), "msg")), "Joined room");
    json_decref(j);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"r\",\"id\":2}"), 0);
    j = fake_json(a, 1);
    assert_int_equal(json_integer_value(json_object_get(j, "ack")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(j, "data"), "data"), "code")),
        "already_member");
    json_decref(j);
    fake_close(&net, a);
    room_hub_free(net.hub);
}

/* send, broadcast and direct forward every data argument; echo answers
 * with all of its own. */
static void several_arguments(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    json_t *j;
    char msg[160];
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"echo\",\"args\":[1,\"2\",{\"three\":3}],\"id\":4}"), 0);
    assert_string_equal(a->frames[0], "{\"ack\":4,\"data\":1,\"args\":[1,\"2\",{\"three\":3}]}");
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"echo\",\"args\":[\"x\",\"y\"]}"), 0);
    assert_string_equal(a->frames[1], "{\"event\":\"result\",\"data\":\"x\",\"args\":[\"x\",\"y\"]}");
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"echo\",\"id\":5}"), 0);
    assert_string_equal(a->frames[2], "{\"ack\":5,\"data\":null}");

    fake_clear(a);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    fake_clear(a);
    fake_clear(b);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"send\",\"args\":[\"r\",1,\"2\",{\"three\":3}]}"), 0);
    j = fake_event_data(b, "message");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "data")), 1);
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "data"), "args")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(j, "data"), "args"), 1)),
                        "2");
    json_decref(j);
    /* One data argument: no "args", as before. */
    fake_clear(b);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"broadcast\",\"args\":[\"r\",7]}"), 0);
    j = fake_event_data(b, "message");
    assert_null(json_object_get(json_object_get(j, "data"), "args"));
    json_decref(j);
    fake_clear(b);
    snprintf(msg, sizeof msg, "{\"event\":\"direct\",\"args\":[\"%s\",true,false]}", room_conn_id(b->conn));
    assert_int_equal(fake_recv(&net, a, msg), 0);
    j = fake_event_data(b, "message");
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "data"), "args")), 2);
    json_decref(j);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(join_send_leave),
        cmocka_unit_test(acks_carry_results),
        cmocka_unit_test(several_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
