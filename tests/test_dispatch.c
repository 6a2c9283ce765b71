/* dispatch.c: handlers, replies, errors for bad input. */
#include <string.h>

#include "room/protocol.h"
#include "test_util.h"

static int calls;

static int counting(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)hub, (void)conn, (void)ev;
    calls++;
    return ud ? *(int *)ud : 0;
}

static int twice(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ud;
    assert_int_equal(room_reply_new(hub, conn, ev, "first", json_true()), 0);
    assert_int_equal(room_reply_new(hub, conn, ev, "second", json_true()), ROOM_EALREADY);
    return ROOM_ELIMIT; /* already answered: no error event on top */
}

static void register_replace_remove(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    int fail = ROOM_EDENIED;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    p = fake_open(&net);
    assert_int_equal(room_on(net.hub, "", counting, NULL), ROOM_EINVAL);
    assert_int_equal(room_on(net.hub, "ping", counting, NULL), 0);
    calls = 0;
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"ping\"}"), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(p->nframes, 0);
    assert_int_equal(room_on(net.hub, "ping", counting, &fail), 0); /* replace */
    /* A handler's failure is answered and logged, not returned. */
    net.logs = 0;
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"ping\"}"), 0);
    assert_int_equal(calls, 2);
    assert_error_code(p, "denied");
    assert_int_equal(net.logs, 1);
    assert_int_equal(net.log_level, ROOM_LOG_DEBUG);
    assert_non_null(strstr(net.last_log, "ping"));
    assert_non_null(strstr(net.last_log, "denied"));
    assert_int_equal(room_on(net.hub, "ping", NULL, NULL), 0); /* remove */
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"ping\"}"), ROOM_EUNKNOWN);
    assert_int_equal(calls, 2);
    assert_error_code(p, "unknown_event");
    assert_int_equal(room_on_any(net.hub, counting, NULL), 0);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"whatever\"}"), 0);
    assert_int_equal(calls, 3);
    room_on(net.hub, "twice", twice, NULL);
    fake_clear(p);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"twice\"}"), 0);
    assert_int_equal(p->nframes, 1);
    assert_int_equal(fake_find(p, "first", 0), 0);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

/* unknown_events = ROOM_UNKNOWN_IGNORE: no answer, 0; room_on_any still
 * takes them. */
static void unknown_events_can_be_ignored(void **state)
{
    fake_net net = {0};
    room_config cfg;
    fake_peer *p;
    (void)state;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.unknown_events = ROOM_UNKNOWN_IGNORE;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    p = fake_open(&net);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"nobody\"}"), 0);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"nobody\",\"id\":1}"), 0);
    assert_int_equal(p->nframes, 0);
    /* Reserved names are still refused. */
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"connect\"}"), ROOM_ERESERVED);
    assert_int_equal(p->nframes, 1);
    calls = 0;
    assert_int_equal(room_on_any(net.hub, counting, NULL), 0);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"nobody\"}"), 0);
    assert_int_equal(calls, 1);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

static void register_many(void **state)
{
    static const room_handler_entry good[] = {{"a", counting}, {"b", counting}};
    static const room_handler_entry bad[] = {{"c", counting}, {"", counting}, {"d", counting}};
    fake_net net = {0};
    fake_peer *p;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    p = fake_open(&net);
    assert_int_equal(room_on_many(net.hub, good, 2, NULL), 0);
    assert_int_equal(room_on_many(net.hub, bad, 3, NULL), ROOM_EINVAL);
    assert_int_equal(room_on_many(net.hub, NULL, 1, NULL), ROOM_EINVAL);
    calls = 0;
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"a\"}"), 0);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"b\"}"), 0);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"c\"}"), 0); /* before the bad entry */
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"d\"}"), ROOM_EUNKNOWN);
    assert_int_equal(calls, 3);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

static void bad_input_gets_error_events(void **state)
{
    fake_net net = {0};
    room_config cfg;
    fake_peer *p;
    char big[200];
    (void)state;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.max_message_bytes = 100;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    assert_int_equal(room_protocol_rooms_register(net.hub), 0);
    p = fake_open(&net);
    assert_int_equal(fake_recv(&net, p, "not json"), ROOM_EJSON);
    assert_error_code(p, "bad_json");
    assert_int_equal(fake_recv(&net, p, "{\"nothing\":1}"), ROOM_EPROTO);
    assert_error_code(p, "bad_message");
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(fake_recv(&net, p, big), ROOM_ETOOBIG);
    assert_error_code(p, "too_big");
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"disconnect\"}"), ROOM_ERESERVED);
    assert_error_code(p, "reserved_event");
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"connect\"}"), ROOM_ERESERVED);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"nope\"}"), ROOM_EUNKNOWN);
    assert_error_code(p, "unknown_event");
    /* The handler's own bad_message: answered, but the message was decoded. */
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"join\",\"data\":5}"), 0);
    assert_error_code(p, "bad_message");
    /* Attachments the message did not announce: the host's mistake. */
    fake_clear(p);
    assert_int_equal(room_conn_recv_binary(net.hub, p->conn, "{\"event\":\"join\"}", 16,
                                           &(room_bytes){(const uint8_t *)"x", 1}, 1),
                     ROOM_EINVAL);
    assert_int_equal(p->nframes, 0);
    /* Nothing changed. */
    assert_int_equal(room_count(net.hub), 0);
    assert_int_equal(room_conn_recv(net.hub, p->conn, NULL, 3), ROOM_EINVAL);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

static void errors_go_to_the_ack_when_asked(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    json_t *j;
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    p = fake_open(&net);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"leave\",\"data\":\"r\",\"id\":9}"), 0);
    j = fake_json(p, 0);
    assert_int_equal(json_integer_value(json_object_get(j, "ack")), 9);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(j, "data"), "data"), "code")),
        "not_member");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(j, "data"), "data"), "event")),
        "leave");
    json_decref(j);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

static int disconnects;
static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ud;
    disconnects++;
    assert_string_equal(json_string_value(json_array_get(ev->args, 0)), "test close");
    /* Still in its rooms while the handler runs, but no longer findable. */
    assert_int_equal(room_conn_room_count(conn), 1);
    assert_null(room_conn_find(hub, room_conn_id(conn)));
    assert_int_equal(room_emit_new(hub, conn, "late", json_true()), ROOM_ECLOSED);
    return 0;
}

static void disconnect_handler_runs_in_rooms(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_on(net.hub, "disconnect", on_disconnect, NULL);
    p = fake_open(&net);
    room_join(net.hub, p->conn, "r");
    disconnects = 0;
    fake_close(&net, p);
    assert_int_equal(disconnects, 1);
    assert_int_equal(room_count(net.hub), 0);
    room_hub_free(net.hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(register_replace_remove),
        cmocka_unit_test(register_many),
        cmocka_unit_test(unknown_events_can_be_ignored),
        cmocka_unit_test(bad_input_gets_error_events),
        cmocka_unit_test(errors_go_to_the_ack_when_asked),
        cmocka_unit_test(disconnect_handler_runs_in_rooms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
