/* table.c, through the hub: many rooms created and freed in every order
 * exercise growth and backward-shift deletion. */
#include "test_util.h"

static void grow_and_delete(void **state)
{
    enum { N = 5000 };
    fake_net net = {0};
    room_conn *c;
    char name[32];
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_config cfg;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.max_rooms_per_conn = N;
    room_hub_free(net.hub);
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    assert_int_equal(room_conn_open(net.hub, NULL, &c), 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "room-%d", i);
        assert_int_equal(room_join(net.hub, c, name), 0);
    }
    assert_int_equal(room_count(net.hub), N);
    for (int i = 0; i < N; i += 3) {
        snprintf(name, sizeof name, "room-%d", i);
        assert_int_equal(room_leave(net.hub, c, name), 0);
    }
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "room-%d", i);
        assert_int_equal(room_is_member(net.hub, c, name), i % 3 != 0);
    }
    room_conn_close(net.hub, c, NULL);
    assert_int_equal(room_count(net.hub), 0);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(grow_and_delete)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
