/* lib/core/count.c: counts on every node (room_member_count_cluster(),
 * room_count_deliveries()), alone and through a counting adapter that the
 * test answers for the other nodes; and the rooms protocol's answers that
 * wait for those counts (`members` of join, `delivered` of send and
 * broadcast), which need such an adapter to be driven. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "room/protocol.h"

/* The counting adapter: what it was asked, and the count it holds. */
typedef struct counter {
    int begins, ends, cancelled, members, published, in_scope;
    int open;
    int fail_begin, fail_end, fail_members;
    room_hub *hub;
    uint64_t local;
    room_count_fn done;
    void *ud;
    char room[32];
} counter;
static counter K;

static int k_begin(room_adapter *adapter, room_hub *hub)
{
    (void)adapter, (void)hub;
    if (K.fail_begin)
        return ROOM_ENOMEM;
    assert_false(K.open); /* never nested */
    K.open = 1;
    K.begins++;
    return 0;
}

static int k_end(room_adapter *adapter, room_hub *hub, uint64_t local, room_count_fn done, void *ud)
{
    (void)adapter;
    assert_true(K.open);
    K.open = 0;
    K.ends++;
    if (!done) {
        K.cancelled++;
        return 0;
    }
    if (K.fail_end)
        return ROOM_ENOMEM;
    assert_null(K.done);
    K.hub = hub;
    K.local = local;
    K.done = done;
    K.ud = ud;
    return 0;
}

static int k_members(room_adapter *adapter, room_hub *hub, const char *room, uint64_t local,
                     room_count_fn done, void *ud)
{
    (void)adapter;
    if (K.fail_members)
        return ROOM_ENOMEM;
    assert_null(K.done);
    K.members++;
    snprintf(K.room, sizeof K.room, "%s", room);
    K.hub = hub;
    K.local = local;
    K.done = done;
    K.ud = ud;
    return 0;
}

static int k_publish_event(room_adapter *adapter, room_hub *hub, const char *room,
                           const char *event, json_t *const *argv, size_t argc,
                           const room_bytes *att, size_t natt, const char *except_id)
{
    (void)adapter, (void)hub, (void)room, (void)event, (void)argv, (void)argc, (void)att;
    (void)natt, (void)except_id;
    K.published++;
    K.in_scope += K.open;
    return 0;
}

/* As the Redis adapter does: a count still waiting ends with ROOM_ECLOSED. */
static void k_destroy(room_adapter *adapter)
{
    room_count_fn done = K.done;
    (void)adapter;
    K.done = NULL;
    if (done)
        done(K.hub, ROOM_ECLOSED, 0, 1, K.ud);
}

static room_adapter counting = {.size = sizeof(room_adapter), .name = "counting",
                                .publish_event = k_publish_event, .destroy = k_destroy,
                                .count_begin = k_begin, .count_end = k_end,
                                .count_members = k_members};

/* The other nodes answer: `others` more, `partial` or not. */
static void answer(uint64_t others, int partial)
{
    room_count_fn done = K.done;
    assert_non_null(done);
    K.done = NULL;
    done(K.hub, 0, K.local + others, partial, K.ud);
}

static room_hub *counting_hub(fake_net *net, int rooms_protocol)
{
    room_config cfg;
    room_config_init(&cfg);
    fake_config(&cfg, net);
    cfg.adapter = &counting;
    memset(&K, 0, sizeof K);
    if (room_hub_new(&net->hub, &cfg) != 0)
        return NULL;
    if (rooms_protocol && room_protocol_rooms_register(net->hub) != 0) {
        room_hub_free(net->hub);
        return net->hub = NULL;
    }
    return net->hub;
}

/* What a count callback got. */
typedef struct got {
    int calls, status, partial;
    uint64_t count;
} got;

static void record(room_hub *hub, int status, uint64_t count, int partial, void *ud)
{
    got *g = ud;
    (void)hub;
    g->calls++;
    g->status = status;
    g->count = count;
    g->partial = partial;
}

static int send_lobby(room_hub *hub, void *ud)
{
    (void)ud;
    return room_send_new(hub, "lobby", "ev", json_integer(1), NULL);
}

static int send_fails(room_hub *hub, void *ud)
{
    (void)ud;
    return room_send_new(hub, "", "ev", json_integer(1), NULL);
}

static void one_node_counts_at_once(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    got g = {0};
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    assert_int_equal(room_hub_counts_cluster(net.hub), 0);
    assert_int_equal(room_hub_counts_cluster(NULL), 0);
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "lobby"), 0);
    assert_int_equal(room_join(net.hub, b->conn, "lobby"), 0);
    assert_int_equal(room_member_count_cluster(net.hub, "lobby", record, &g), 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.count, 2);
    assert_int_equal(g.partial, 0);
    assert_int_equal(room_member_count_cluster(net.hub, "nobody", record, &g), 0);
    assert_int_equal(g.count, 0);
    assert_int_equal(room_member_count_cluster(net.hub, "", record, &g), ROOM_ENAME);
    assert_int_equal(room_member_count_cluster(net.hub, "lobby", NULL, &g), ROOM_EINVAL);
    assert_int_equal(room_member_count_cluster(NULL, "lobby", record, &g), ROOM_EINVAL);
    assert_int_equal(g.calls, 2);

    memset(&g, 0, sizeof g);
    assert_int_equal(room_count_deliveries(net.hub, send_lobby, NULL, record, &g), 2);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.count, 2);
    assert_int_equal(g.partial, 0);
    assert_int_equal(a->nframes, 1);
    /* A failed step is returned; nothing is counted. */
    assert_int_equal(room_count_deliveries(net.hub, send_fails, NULL, record, &g), ROOM_ENAME);
    assert_int_equal(room_count_deliveries(net.hub, NULL, NULL, record, &g), ROOM_EINVAL);
    assert_int_equal(room_count_deliveries(net.hub, send_lobby, NULL, NULL, &g), ROOM_EINVAL);
    assert_int_equal(g.calls, 1);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static void counts_through_the_adapter(void **state)
{
    fake_net net = {0};
    fake_peer *a;
    got g = {0};
    (void)state;
    assert_non_null(counting_hub(&net, 0));
    assert_int_equal(room_hub_counts_cluster(net.hub), 1);
    a = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "lobby"), 0);

    /* Members: the adapter gets the local count, the sum comes later. */
    assert_int_equal(room_member_count_cluster(net.hub, "lobby", record, &g), 0);
    assert_int_equal(K.members, 1);
    assert_string_equal(K.room, "lobby");
    assert_int_equal(K.local, 1);
    assert_int_equal(g.calls, 0);
    answer(4, 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.count, 5);
    assert_int_equal(g.partial, 0);

    /* Deliveries: the step's broadcast is published inside the scope. */
    memset(&g, 0, sizeof g);
    assert_int_equal(room_count_deliveries(net.hub, send_lobby, NULL, record, &g), 1);
    assert_int_equal(K.begins, 1);
    assert_int_equal(K.ends, 1);
    assert_int_equal(K.published, 1);
    assert_int_equal(K.in_scope, 1);
    assert_int_equal(K.local, 1);
    assert_int_equal(g.calls, 0);
    answer(7, 1);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.count, 8);
    assert_int_equal(g.partial, 1);
    /* Outside a count, broadcasts are not counted. */
    assert_true(room_send_new(net.hub, "lobby", "ev", json_integer(2), NULL) >= 0);
    assert_int_equal(K.published, 2);
    assert_int_equal(K.in_scope, 1);

    /* A failed step closes the count without an answer. */
    memset(&g, 0, sizeof g);
    assert_int_equal(room_count_deliveries(net.hub, send_fails, NULL, record, &g), ROOM_ENAME);
    assert_int_equal(K.cancelled, 1);
    assert_int_equal(g.calls, 0);
    assert_null(K.done);

    /* The adapter cannot count: this node's deliveries, partial, at once. */
    K.fail_begin = 1;
    assert_int_equal(room_count_deliveries(net.hub, send_lobby, NULL, record, &g), 1);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.count, 1);
    assert_int_equal(g.partial, 1);
    K.fail_begin = 0;
    K.fail_end = 1;
    assert_int_equal(room_count_deliveries(net.hub, send_lobby, NULL, record, &g), 1);
    assert_int_equal(g.calls, 2);
    assert_int_equal(g.partial, 1);
    K.fail_end = 0;
    K.fail_members = 1;
    assert_int_equal(room_member_count_cluster(net.hub, "lobby", record, &g), ROOM_ENOMEM);
    assert_int_equal(g.calls, 2);
    K.fail_members = 0;

    /* A count still waiting when the hub goes ends with ROOM_ECLOSED. */
    memset(&g, 0, sizeof g);
    assert_int_equal(room_member_count_cluster(net.hub, "lobby", record, &g), 0);
    fake_close(&net, a);
    room_hub_free(net.hub);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.status, ROOM_ECLOSED);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* The data of the last `result` event `p` got, or NULL. */
static json_t *result_data(const fake_peer *p)
{
    json_t *j = NULL, *d;
    for (long i = fake_find(p, "result", 0); i >= 0; i = fake_find(p, "result", (size_t)i + 1)) {
        json_decref(j);
        j = fake_json(p, (size_t)i);
    }
    d = json_incref(json_object_get(json_object_get(j, "data"), "data"));
    json_decref(j);
    return d;
}

static void expect_result(const fake_peer *p, const char *want)
{
    json_t *d = result_data(p);
    char *text = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
    json_decref(d);
}

static void rooms_protocol_answers_wait_for_the_count(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    (void)state;
    assert_non_null(counting_hub(&net, 1));
    a = fake_open(&net);
    b = fake_open(&net);

    /* join: no answer until the other nodes counted. */
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"lobby\"}"), 0);
    assert_int_equal(fake_count(a, "result"), 0);
    assert_int_equal(K.local, 1);
    answer(3, 0);
    expect_result(a, "{\"event\":\"join\",\"members\":4,\"room\":\"lobby\"}");

    /* send: delivered here at once, answered with every node's count. */
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"join\",\"data\":\"lobby\"}"), 0);
    answer(3, 1);
    expect_result(b, "{\"event\":\"join\",\"members\":5,\"partial\":true,\"room\":\"lobby\"}");
    fake_clear(a);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"send\",\"data\":{\"room\":\"lobby\",\"data\":1}}"), 0);
    assert_int_equal(fake_count(a, "message"), 1);
    assert_int_equal(fake_count(a, "result"), 0);
    assert_int_equal(K.local, 2);
    assert_int_equal(K.in_scope, 1);
    answer(6, 0);
    expect_result(a, "{\"delivered\":8,\"event\":\"send\",\"room\":\"lobby\"}");

    /* broadcast (not to the sender), as the acknowledgement it asked for. */
    fake_clear(b);
    assert_int_equal(
        fake_recv(&net, b, "{\"event\":\"broadcast\",\"id\":9,\"data\":{\"room\":\"lobby\",\"data\":1}}"), 0);
    assert_int_equal(K.local, 1);
    answer(2, 1);
    {
        json_t *j = fake_json(b, b->nframes - 1);
        char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(text, "{\"ack\":9,\"data\":{\"data\":{\"delivered\":3,\"event\":\"broadcast\","
                                  "\"partial\":true,\"room\":\"lobby\"},\"msg\":\"Broadcast\"}}");
        free(text);
        json_decref(j);
    }

    /* A refused send is answered at once, and counts nothing. */
    fake_clear(a);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"send\",\"data\":{\"room\":\"other\",\"data\":1}}"), 0);
    assert_error_code(a, "not_member");
    assert_null(K.done);

    /* The adapter cannot count members: joined, this node's count, partial. */
    K.fail_members = 1;
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"second\"}"), 0);
    expect_result(a, "{\"event\":\"join\",\"members\":1,\"partial\":true,\"room\":\"second\"}");
    K.fail_members = 0;

    /* The requester left before the answer: nobody to tell. */
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"send\",\"data\":{\"room\":\"lobby\",\"data\":1}}"), 0);
    fake_close(&net, b);
    fake_clear(a);
    answer(1, 0);
    assert_int_equal(fake_count(a, "result"), 0);

    /* The hub goes with an answer waiting: its context is freed. */
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"send\",\"data\":{\"room\":\"lobby\",\"data\":1}}"), 0);
    assert_non_null(K.done);
    room_hub_free(net.hub);
    fake_peer_free(a);
    assert_null(K.done);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* Every hub allocation of a counted join and send may fail: each request
 * is answered once, or refused, and nothing leaks. */
static void counted_answers_with_failing_allocations(void **state)
{
    size_t failed = 0, n;
    (void)state;
    for (n = 1; n < 60; n++) {
        fake_net net = {0};
        fake_peer *a;
        assert_non_null(counting_hub(&net, 1));
        a = fake_open(&net);
        net.alloc.fail_at = net.alloc.allocs + n;
        fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"lobby\"}");
        if (K.done)
            answer(1, 0);
        fake_recv(&net, a, "{\"event\":\"send\",\"data\":{\"room\":\"lobby\",\"data\":1}}");
        if (K.done)
            answer(1, 0);
        net.alloc.fail_at = 0;
        failed += net.alloc.failures > 0;
        assert_true(fake_count(a, "result") + fake_count(a, "error") >= 1);
        fake_close(&net, a);
        room_hub_free(net.hub);
        assert_int_equal(net.alloc.allocs, net.alloc.frees);
        if (!net.alloc.failures)
            break; /* past the last allocation */
    }
    assert_true(failed >= 3 && n < 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_node_counts_at_once),
        cmocka_unit_test(counts_through_the_adapter),
        cmocka_unit_test(rooms_protocol_answers_wait_for_the_count),
        cmocka_unit_test(counted_answers_with_failing_allocations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
