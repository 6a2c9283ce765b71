/* alloc.c: fail the Nth allocation of a whole scripted session, for every
 * N, with both the hub allocator and jansson's failing. Every failure must
 * surface as an error, leave the hub usable, and leak nothing. */
#include <stdlib.h>
#include <string.h>

#include "room/protocol.h"
#include "test_util.h"

/* jansson belongs to the host; a test is a host, so it may count it too. */
static fake_alloc *json_counter;
static void *json_malloc(size_t size)
{
    fake_alloc *a = json_counter;
    if (a && a->fail_at && a->allocs + a->failures + 1 == a->fail_at) {
        a->failures++;
        return NULL;
    }
    if (a)
        a->allocs++;
    return malloc(size);
}
static void json_free(void *p)
{
    if (p && json_counter)
        json_counter->frees++;
    free(p);
}

static const char *script[] = {
    "{\"event\":\"join\",\"data\":\"a\",\"id\":1}",
    "{\"event\":\"join\",\"data\":\"b\"}",
    "{\"event\":\"send\",\"data\":{\"room\":\"a\",\"data\":{\"x\":[1,2,3]}}}",
    "{\"event\":\"broadcast\",\"data\":{\"data\":\"hi\"}}",
    "{\"event\":\"leave\",\"data\":\"b\"}",
    "bad json",
    "{\"event\":\"nope\"}",
    /* Several arguments: forwarded, echoed as an ack and as an event. */
    "{\"event\":\"send\",\"args\":[\"a\",1,\"2\",{\"three\":3}]}",
    "{\"event\":\"echo\",\"args\":[1,[2],\"3\"],\"id\":2}",
    "{\"event\":\"echo\",\"args\":[true,false]}",
    "{\"event\":\"broadcast\",\"args\":[null,1,2]}",
};

static int acks_done;
static void ack_done(room_hub *hub, room_conn *conn, int status, json_t *args, void *ud)
{
    (void)hub, (void)conn, (void)status, (void)args, (void)ud;
    acks_done++;
}

/* The server's own multi-argument sends, and an ack with several
 * arguments coming back. */
static void server_sends(fake_net *net, fake_peer *p)
{
    json_t *argv[2] = {json_integer(1), json_string("two")};
    int rc, emitted;
    acks_done = 0;
    rc = room_broadcast_args(net->hub, "x", argv, 2, NULL, 0, NULL);
    assert_true(rc >= ROOM_ERROR_MIN);
    rc = room_send_args(net->hub, "a", "y", argv, 2, NULL, 0, NULL);
    assert_true(rc >= ROOM_ERROR_MIN);
    emitted = room_emit_ack_args(net->hub, p->conn, "ask", argv, 2, NULL, 0, 1000, ack_done, NULL);
    assert_true(emitted <= 0 && emitted >= ROOM_ERROR_MIN);
    rc = fake_recv(net, p, "{\"ack\":0,\"args\":[1,2]}");
    assert_true(rc <= 0 && rc >= ROOM_ERROR_MIN);
    fake_close(net, p);
    /* done ran exactly once (answered, or failed by the close) when the
     * emit succeeded, and never otherwise. */
    assert_int_equal(acks_done, emitted == 0);
    json_decref(argv[0]);
    json_decref(argv[1]);
}

/* Returns how many allocations the session made when nothing failed. */
static size_t run_session(size_t fail_at)
{
    fake_alloc a = {0};
    room_config cfg;
    room_hub *hub = NULL;
    fake_net net = {0};
    fake_peer *p[3] = {0};
    size_t total;

    a.fail_at = fail_at;
    json_counter = &a;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.allocator = fake_allocator(&a);
    if (room_hub_new(&hub, &cfg) == 0) {
        net.hub = hub;
        /* A registration cut short leaves part of the protocol: the script
         * must run against that too. */
        (void)room_protocol_rooms_register(hub);
        for (int i = 0; i < 3; i++) {
            p[i] = calloc(1, sizeof *p[i]);
            if (room_conn_open(hub, p[i], &p[i]->conn) != 0) {
                free(p[i]);
                p[i] = NULL;
            }
        }
        for (size_t s = 0; s < sizeof script / sizeof script[0]; s++) {
            for (int i = 0; i < 3; i++) {
                if (p[i]) {
                    int rc = fake_recv(&net, p[i], script[s]);
                    assert_true(rc <= 0 && rc >= ROOM_ERROR_MIN);
                }
            }
        }
        /* The hub is still consistent: membership counts match. */
        size_t members = 0;
        for (int i = 0; i < 3; i++)
            members += p[i] ? room_conn_room_count(p[i]->conn) : 0;
        assert_true(room_member_count(hub, "a") + room_member_count(hub, "b") == members);
        if (p[0])
            server_sends(&net, p[0]);
        for (int i = 1; i < 3; i++) {
            if (p[i])
                fake_close(&net, p[i]);
        }
        assert_int_equal(room_count(hub), 0);
        room_hub_free(hub);
    }
    json_counter = NULL;
    if (a.allocs != a.frees)
        fail_msg("failing allocation %zu leaks %zu blocks", fail_at, a.allocs - a.frees);
    total = a.allocs;
    return total;
}

static void every_allocation_may_fail(void **state)
{
    size_t total;
    (void)state;
    json_set_alloc_funcs(json_malloc, json_free);
    total = run_session(0);
    assert_true(total > 50);
    for (size_t n = 1; n <= total; n++)
        run_session(n);
    json_set_alloc_funcs(malloc, free);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(every_allocation_may_fail)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
