/* ack.c: server-initiated acknowledgements, timeouts, close. */
#include <string.h>

#include "test_util.h"

struct result {
    int calls;
    int status;
    json_t *args;
};

static void on_ack(room_hub *hub, room_conn *conn, int status, json_t *args, void *ud)
{
    struct result *r = ud;
    (void)hub, (void)conn;
    r->calls++;
    r->status = status;
    json_decref(r->args);
    r->args = json_incref(args);
}

static void ack_resolves_once(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    struct result r = {0};
    json_t *j;
    char reply[64];
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    p = fake_open(&net);
    assert_int_equal(room_hub_tick(net.hub, 1000), -1);
    assert_int_equal(room_emit_ack(net.hub, p->conn, "ask", json_true(), 500, on_ack, &r), 0);
    assert_int_equal(room_hub_tick(net.hub, 1100), 400);
    j = fake_json(p, 0);
    snprintf(reply, sizeof reply, "{\"ack\":%lld,\"data\":\"yes\"}",
             (long long)json_integer_value(json_object_get(j, "id")));
    json_decref(j);
    assert_int_equal(fake_recv(&net, p, reply), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0);
    assert_string_equal(json_string_value(json_array_get(r.args, 0)), "yes");
    assert_int_equal(fake_recv(&net, p, reply), 0); /* a duplicate is ignored */
    assert_int_equal(r.calls, 1);
    assert_int_equal(room_hub_tick(net.hub, 5000), -1);
    json_decref(r.args);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

static void ack_times_out_or_closes(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    struct result r1 = {0}, r2 = {0};
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    p = fake_open(&net);
    room_hub_tick(net.hub, 0);
    assert_int_equal(room_emit_ack(net.hub, p->conn, "a", NULL, 100, on_ack, &r1), 0);
    assert_int_equal(room_emit_ack(net.hub, p->conn, "b", NULL, 10000, on_ack, &r2), 0);
    assert_int_equal(room_hub_tick(net.hub, 99), 1);
    assert_int_equal(r1.calls, 0);
    assert_int_equal(room_hub_tick(net.hub, 100), 9900);
    assert_int_equal(r1.calls, 1);
    assert_int_equal(r1.status, ROOM_ETIMEOUT);
    assert_null(r1.args);
    fake_close(&net, p);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(r2.status, ROOM_ECLOSED);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static void hub_free_drops_pending_acks_silently(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    struct result r = {0};
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    p = fake_open(&net);
    assert_int_equal(room_emit_ack(net.hub, p->conn, "a", NULL, 100, on_ack, &r), 0);
    room_hub_free(net.hub);
    assert_int_equal(r.calls, 0);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
    fake_peer_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ack_resolves_once),
        cmocka_unit_test(ack_times_out_or_closes),
        cmocka_unit_test(hub_free_drops_pending_acks_silently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
