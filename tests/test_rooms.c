/* rooms.c: membership edge cases and limits. */
#include <string.h>

#include "test_util.h"

static int collect(const char *room, void *ud)
{
    json_t *arr = ud;
    json_array_append_new(arr, json_string(room));
    return 0;
}

static int count_members(room_conn *c, void *ud)
{
    (void)c;
    (*(int *)ud)++;
    return 0;
}

static int stop_at_first(room_conn *c, void *ud)
{
    (void)c, (void)ud;
    return 7;
}

static void join_leave_and_edges(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    json_t *names = json_array();
    int n = 0;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r1"), 0);
    assert_int_equal(room_join(net.hub, a->conn, "r1"), ROOM_EALREADY);
    assert_int_equal(room_join(net.hub, b->conn, "r1"), 0);
    assert_int_equal(room_join(net.hub, a->conn, "r2"), 0);
    assert_int_equal(room_member_count(net.hub, "r1"), 2);
    assert_int_equal(room_member_count(net.hub, "r2"), 1);
    assert_int_equal(room_member_count(net.hub, "none"), 0);
    assert_int_equal(room_count(net.hub), 2);
    assert_true(room_is_member(net.hub, a->conn, "r2"));
    assert_false(room_is_member(net.hub, b->conn, "r2"));
    assert_int_equal(room_conn_room_count(a->conn), 2);
    assert_int_equal(room_conn_rooms_foreach(net.hub, a->conn, collect, names), 0);
    assert_int_equal(json_array_size(names), 2);
    json_decref(names);
    assert_int_equal(room_members_foreach(net.hub, "r1", count_members, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(room_members_foreach(net.hub, "r1", stop_at_first, NULL), 7);
    assert_int_equal(room_members_foreach(net.hub, "nobody-here", count_members, &n), 0);

    assert_int_equal(room_leave(net.hub, b->conn, "r2"), ROOM_ENOTMEMBER);
    assert_int_equal(room_leave(net.hub, b->conn, "never"), ROOM_ENOTMEMBER);
    assert_int_equal(room_leave(net.hub, a->conn, "r2"), 0);
    assert_int_equal(room_count(net.hub), 1); /* empty rooms are freed */
    assert_int_equal(room_leave(net.hub, a->conn, "r2"), ROOM_ENOTMEMBER);
    assert_int_equal(room_leave_all(net.hub, a->conn), 1);
    assert_int_equal(room_member_count(net.hub, "r1"), 1);
    fake_close(&net, a);
    fake_close(&net, b);
    assert_int_equal(room_count(net.hub), 0);
    room_hub_free(net.hub);
}

static void names_are_validated(void **state)
{
    fake_net net = {0};
    fake_peer *a;
    char longname[130];
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    a = fake_open(&net);
    memset(longname, 'x', 129);
    longname[129] = '\0';
    assert_int_equal(room_join(net.hub, a->conn, ""), ROOM_ENAME);
    assert_int_equal(room_join(net.hub, a->conn, NULL), ROOM_ENAME);
    assert_int_equal(room_join(net.hub, a->conn, longname), ROOM_ENAME);
    longname[128] = '\0';
    assert_int_equal(room_join(net.hub, a->conn, longname), 0);
    assert_int_equal(room_join(net.hub, a->conn, "\xc3\x28"), ROOM_ENAME);     /* bad continuation */
    assert_int_equal(room_join(net.hub, a->conn, "\xc0\xaf"), ROOM_ENAME);     /* overlong */
    assert_int_equal(room_join(net.hub, a->conn, "\xed\xa0\x80"), ROOM_ENAME); /* surrogate */
    assert_int_equal(room_join(net.hub, a->conn, "caf\xc3\xa9 \xf0\x9f\x8e\x89"), 0);
    assert_int_equal(room_leave(net.hub, a->conn, ""), ROOM_ENAME);
    fake_close(&net, a);
    room_hub_free(net.hub);
}

static void limits_are_enforced(void **state)
{
    fake_net net = {0};
    room_config cfg;
    room_conn *c[4];
    (void)state;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.max_rooms_per_conn = 2;
    cfg.max_members_per_room = 2;
    cfg.max_rooms = 3;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(room_conn_open(net.hub, NULL, &c[i]), 0);
    assert_int_equal(room_join(net.hub, c[0], "a"), 0);
    assert_int_equal(room_join(net.hub, c[0], "b"), 0);
    assert_int_equal(room_join(net.hub, c[0], "c"), ROOM_ELIMIT);
    assert_int_equal(room_join(net.hub, c[1], "a"), 0);
    assert_int_equal(room_join(net.hub, c[2], "a"), ROOM_ELIMIT);
    assert_int_equal(room_join(net.hub, c[2], "c"), 0);
    assert_int_equal(room_join(net.hub, c[3], "d"), ROOM_ELIMIT);
    assert_int_equal(room_count(net.hub), 3);
    assert_int_equal(room_member_count(net.hub, "a"), 2);
    for (int i = 0; i < 4; i++)
        room_conn_close(net.hub, c[i], NULL);
    room_hub_free(net.hub);
}

/* Many connections in many rooms, leaving in scrambled order: the
 * back-indices on both sides must stay right. */
static void swap_remove_keeps_indices(void **state)
{
    enum { N = 40, R = 7 };
    fake_net net = {0};
    room_conn *c[N];
    char name[16];
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    for (int i = 0; i < N; i++) {
        assert_int_equal(room_conn_open(net.hub, NULL, &c[i]), 0);
        for (int r = 0; r < R; r++) {
            snprintf(name, sizeof name, "room%d", r);
            assert_int_equal(room_join(net.hub, c[i], name), 0);
        }
    }
    for (int step = 0; step < N * R; step++) {
        int i = (step * 13) % N, r = (step * 5 + step / N) % R;
        snprintf(name, sizeof name, "room%d", r);
        if (room_is_member(net.hub, c[i], name)) {
            size_t before = room_member_count(net.hub, name);
            assert_int_equal(room_leave(net.hub, c[i], name), 0);
            assert_int_equal(room_member_count(net.hub, name), before - 1);
            assert_false(room_is_member(net.hub, c[i], name));
        }
    }
    for (int i = 0; i < N; i++) {
        for (int r = 0; r < R; r++) {
            snprintf(name, sizeof name, "room%d", r);
            if (room_is_member(net.hub, c[i], name))
                assert_int_equal(room_leave(net.hub, c[i], name), 0);
        }
        assert_int_equal(room_conn_room_count(c[i]), 0);
    }
    assert_int_equal(room_count(net.hub), 0);
    for (int i = 0; i < N; i++)
        room_conn_close(net.hub, c[i], NULL);
    room_hub_free(net.hub);
}

static void close_in_many_rooms(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    char name[16];
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    a = fake_open(&net);
    b = fake_open(&net);
    for (int r = 0; r < 100; r++) {
        snprintf(name, sizeof name, "r%d", r);
        assert_int_equal(room_join(net.hub, a->conn, name), 0);
        if (r % 2)
            assert_int_equal(room_join(net.hub, b->conn, name), 0);
    }
    assert_int_equal(room_count(net.hub), 100);
    fake_close(&net, a);
    assert_int_equal(room_count(net.hub), 50);
    assert_int_equal(room_member_count(net.hub, "r1"), 1);
    fake_close(&net, b);
    assert_int_equal(room_count(net.hub), 0);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static int done_status;
static void record_done(room_hub *hub, int status, void *ud)
{
    (void)hub;
    (*(int *)ud)++;
    done_status = status;
}

static void join_and_leave_by_id(void **state)
{
    fake_net net = {0};
    fake_peer *a;
    int calls = 0;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    a = fake_open(&net);
    assert_int_equal(room_join_id(net.hub, room_conn_id(a->conn), "fun", record_done, &calls), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(done_status, 0);
    assert_true(room_is_member(net.hub, a->conn, "fun"));
    assert_int_equal(room_leave_id(net.hub, room_conn_id(a->conn), "fun", record_done, &calls), 0);
    assert_int_equal(calls, 2);
    assert_int_equal(done_status, 0);
    assert_int_equal(room_leave_id(net.hub, room_conn_id(a->conn), "fun", record_done, &calls), 0);
    assert_int_equal(done_status, ROOM_ENOTMEMBER);
    /* Unknown id on a single node: the local adapter says not found. */
    assert_int_equal(room_leave_id(net.hub, "AAAAAAAAAAAAAAAAAAAA", "fun", record_done, &calls), 0);
    assert_int_equal(calls, 4);
    assert_int_equal(done_status, ROOM_ENOTFOUND);
    assert_int_equal(room_join_id(net.hub, room_conn_id(a->conn), "", record_done, &calls), ROOM_ENAME);
    assert_int_equal(room_join_id(net.hub, NULL, "x", NULL, NULL), ROOM_EINVAL);
    assert_int_equal(room_join_id(net.hub, room_conn_id(a->conn), "quiet", NULL, NULL), 0);
    assert_int_equal(calls, 4);
    fake_close(&net, a);
    room_hub_free(net.hub);
}

static void adapter_without_remote_ops(void **state)
{
    room_adapter bare = {.size = sizeof(room_adapter), .name = "bare"};
    room_adapter small = bare;
    fake_net net = {0};
    room_config cfg;
    int calls = 0;
    (void)state;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    small.size = 8;
    cfg.adapter = &small;
    assert_int_equal(room_hub_new(&net.hub, &cfg), ROOM_EINVAL);
    cfg.adapter = &bare;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    assert_int_equal(room_join_id(net.hub, "AAAAAAAAAAAAAAAAAAAA", "r", record_done, &calls), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(done_status, ROOM_ENOTFOUND);
    room_hub_free(net.hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(join_leave_and_edges),      cmocka_unit_test(names_are_validated),
        cmocka_unit_test(limits_are_enforced),       cmocka_unit_test(swap_remove_keeps_indices),
        cmocka_unit_test(close_in_many_rooms),       cmocka_unit_test(join_and_leave_by_id),
        cmocka_unit_test(adapter_without_remote_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
