/* lib/core/direct.c: room_emit_user() here and through a recording
 * adapter's emit_user, room_hub_deliver_remote_user() for what other
 * nodes send, with recovery (an event per connection), from presence
 * callbacks, and with failing allocations. */
#include "test_util.h"

#include <string.h>

#include "fake.h"
#include "room/adapter.h"
#include "room/presence.h"

/* What the recording adapter's emit_user was given. */
typedef struct rec {
    int calls, fail;
    char to[32], event[32];
    size_t argc, natt;
    json_t *first; /* its first argument, kept */
} rec;
static rec R;

static int rec_emit_user(room_adapter *adapter, room_hub *hub, const char *to, const char *event,
                         json_t *const *argv, size_t argc, const room_bytes *att, size_t natt)
{
    (void)adapter, (void)hub, (void)att;
    R.calls++;
    snprintf(R.to, sizeof R.to, "%s", to);
    snprintf(R.event, sizeof R.event, "%s", event);
    R.argc = argc;
    R.natt = natt;
    json_decref(R.first);
    R.first = argc ? json_deep_copy(argv[0]) : NULL;
    return R.fail;
}

static room_adapter recording = {.size = sizeof(room_adapter), .name = "rec",
                                 .emit_user = rec_emit_user};

static room_hub *hub_with(fake_net *net, room_adapter *adapter, int recovery_ms)
{
    room_config cfg;
    room_config_init(&cfg);
    fake_config(&cfg, net);
    cfg.adapter = adapter;
    cfg.recovery_ms = recovery_ms;
    assert_int_equal(room_hub_new(&net->hub, &cfg), 0);
    json_decref(R.first);
    memset(&R, 0, sizeof R);
    return net->hub;
}

static void set_user(room_hub *hub, fake_peer *p, const char *id)
{
    room_user u;
    room_user_init(&u);
    u.id = id;
    assert_int_equal(room_conn_set_user(hub, p->conn, &u), 0);
}

static uint64_t encoded(room_hub *hub)
{
    room_hub_stats st;
    room_hub_stats_get(hub, &st);
    return st.messages_out;
}

/* Every tab of a user here gets one frame, encoded once; the adapter
 * carries the event to the other nodes unless a connection here was
 * meant. */
static void to_a_user_here_and_elsewhere(void **state)
{
    fake_net net = {0};
    fake_peer *a1, *a2, *b, *anon;
    json_t *arg = json_pack("{si}", "n", 1), *d;
    uint64_t before;
    (void)state;
    hub_with(&net, &recording, 0);
    a1 = fake_open(&net);
    a2 = fake_open(&net);
    b = fake_open(&net);
    anon = fake_open(&net);
    set_user(net.hub, a1, "alice");
    set_user(net.hub, a2, "alice");
    set_user(net.hub, b, "bob");

    before = encoded(net.hub);
    assert_int_equal(room_emit_user(net.hub, "alice", "ev", &arg, 1, NULL, 0), 2);
    assert_int_equal(encoded(net.hub) - before, 1);
    assert_int_equal(fake_count(a1, "ev"), 1);
    assert_int_equal(fake_count(a2, "ev"), 1);
    assert_int_equal(fake_count(b, "ev") + fake_count(anon, "ev"), 0);
    d = fake_event_data(a2, "ev");
    assert_true(json_equal(d, arg));
    json_decref(d);
    /* alice may have tabs on other nodes too. */
    assert_int_equal(R.calls, 1);
    assert_string_equal(R.to, "alice");
    assert_string_equal(R.event, "ev");
    assert_int_equal(R.argc, 1);
    assert_true(json_equal(R.first, arg));

    /* A connection id here: that connection only, told to nobody else. */
    assert_int_equal(room_emit_user(net.hub, room_conn_id(b->conn), "ev", NULL, 0, NULL, 0), 1);
    assert_int_equal(room_emit_user(net.hub, room_conn_id(anon->conn), "ev", NULL, 0, NULL, 0), 1);
    assert_int_equal(fake_count(b, "ev") + fake_count(anon, "ev"), 2);
    assert_int_equal(fake_count(a1, "ev"), 1);
    assert_int_equal(R.calls, 1);

    /* Nobody here: the other nodes may have it. */
    assert_int_equal(room_emit_user(net.hub, "carol", "ev", NULL, 0, NULL, 0), 0);
    assert_int_equal(R.calls, 2);
    assert_string_equal(R.to, "carol");
    /* An adapter that fails is logged; the local deliveries stand. */
    R.fail = ROOM_ENOMEM;
    net.logs = 0;
    assert_int_equal(room_emit_user(net.hub, "alice", "ev", NULL, 0, NULL, 0), 2);
    assert_int_equal(net.logs, 1);
    R.fail = 0;

    assert_int_equal(room_emit_user(NULL, "alice", "ev", NULL, 0, NULL, 0), ROOM_EINVAL);
    assert_int_equal(room_emit_user(net.hub, NULL, "ev", NULL, 0, NULL, 0), ROOM_EINVAL);
    assert_int_equal(room_emit_user(net.hub, "alice", NULL, NULL, 0, NULL, 0), ROOM_EINVAL);
    assert_int_equal(room_emit_user(net.hub, "alice", "ev", NULL, 1, NULL, 0), ROOM_EINVAL);
    assert_int_equal(R.calls, 3);
    /* The JSON codec carries no attachments: nothing sent, nothing told. */
    {
        room_bytes blob = {(const uint8_t *)"x", 1};
        json_t *ph = json_pack("{sbsi}", "_placeholder", 1, "num", 0);
        assert_int_equal(room_emit_user(net.hub, "alice", "ev", &ph, 1, &blob, 1), ROOM_EINVAL);
        assert_int_equal(fake_count(a1, "ev"), 2);
        assert_int_equal(R.calls, 3);
        /* Nobody here to encode for: the other nodes get them. */
        assert_int_equal(room_emit_user(net.hub, "carol", "ev", &ph, 1, &blob, 1), 0);
        assert_int_equal(R.calls, 4);
        assert_int_equal(R.natt, 1);
        json_decref(ph);
    }

    json_decref(arg);
    json_decref(R.first);
    R.first = NULL;
    fake_close(&net, a1);
    fake_close(&net, a2);
    fake_close(&net, b);
    fake_close(&net, anon);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* From another node: here only, a connection of that id before a user of
 * that id, never back to the adapter. */
static void from_other_nodes(void **state)
{
    fake_net net = {0};
    fake_peer *a1, *a2, *b, *mallory;
    (void)state;
    hub_with(&net, &recording, 0);
    a1 = fake_open(&net);
    a2 = fake_open(&net);
    b = fake_open(&net);
    mallory = fake_open(&net);
    set_user(net.hub, a1, "alice");
    set_user(net.hub, a2, "alice");
    /* A user whose id is another connection's. */
    set_user(net.hub, mallory, room_conn_id(b->conn));

    assert_int_equal(room_hub_deliver_remote_user(net.hub, "alice", "ev", NULL, 0, NULL, 0), 2);
    assert_int_equal(fake_count(a1, "ev") + fake_count(a2, "ev"), 2);
    assert_int_equal(room_hub_deliver_remote_user(net.hub, room_conn_id(b->conn), "ev", NULL, 0,
                                                  NULL, 0), 1);
    assert_int_equal(fake_count(b, "ev"), 1);
    assert_int_equal(fake_count(mallory, "ev"), 0);
    assert_int_equal(room_hub_deliver_remote_user(net.hub, "nobody", "ev", NULL, 0, NULL, 0), 0);
    assert_int_equal(room_hub_deliver_remote_user(net.hub, "alice", NULL, NULL, 0, NULL, 0), ROOM_EINVAL);
    assert_int_equal(room_hub_deliver_remote_user(NULL, "alice", "ev", NULL, 0, NULL, 0), ROOM_EINVAL);
    assert_int_equal(R.calls, 0);
    /* The same precedence here. */
    assert_int_equal(room_emit_user(net.hub, room_conn_id(b->conn), "ev", NULL, 0, NULL, 0), 1);
    assert_int_equal(fake_count(mallory, "ev"), 0);

    /* A connection going away is no delivery. */
    fake_close(&net, a2);
    assert_int_equal(room_hub_deliver_remote_user(net.hub, "alice", "ev", NULL, 0, NULL, 0), 1);

    fake_close(&net, a1);
    fake_close(&net, b);
    fake_close(&net, mallory);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* Without an adapter that carries it (the local one), the event stays
 * here; with recovery each connection gets an event of its own offset. */
static void single_node_and_recovery(void **state)
{
    fake_net net = {0};
    fake_peer *a1, *a2;
    uint64_t before;
    int recovery;
    (void)state;
    for (recovery = 0; recovery <= 1; recovery++) {
        hub_with(&net, NULL, recovery ? 1000 : 0);
        a1 = fake_open(&net);
        a2 = fake_open(&net);
        set_user(net.hub, a1, "alice");
        set_user(net.hub, a2, "alice");
        before = encoded(net.hub);
        assert_int_equal(room_emit_user(net.hub, "alice", "ev", NULL, 0, NULL, 0), 2);
        assert_int_equal(encoded(net.hub) - before, recovery ? 2u : 1u);
        assert_int_equal(fake_count(a1, "ev") + fake_count(a2, "ev"), 2);
        assert_int_equal(room_emit_user(net.hub, "bob", "ev", NULL, 0, NULL, 0), 0);
        fake_close(&net, a1);
        fake_close(&net, a2);
        room_hub_free(net.hub);
        assert_int_equal(net.alloc.allocs, net.alloc.frees);
        memset(&net, 0, sizeof net);
    }
}

/* Presence callbacks run on every node for every change: what they emit
 * stays here. */
static void on_change(room_hub *hub, const char *room, const char *user_id,
                      room_presence_change change, room_conn *conn, json_t *entry, void *ud)
{
    (void)room, (void)conn, (void)entry, (void)ud;
    if (change == ROOM_PRESENCE_JOIN)
        assert_int_equal(room_emit_user(hub, user_id, "welcome", NULL, 0, NULL, 0), 1);
}

static void not_forwarded_from_presence_callbacks(void **state)
{
    fake_net net = {0};
    room_presence_config pc;
    fake_peer *a;
    (void)state;
    hub_with(&net, &recording, 0);
    room_presence_config_init(&pc);
    pc.state_event = "presence";
    pc.diff_event = "presence-diff";
    pc.change = on_change;
    assert_int_equal(room_presence_enable(net.hub, &pc), 0);
    a = fake_open(&net);
    set_user(net.hub, a, "alice");
    assert_int_equal(room_presence_join(net.hub, a->conn, "r", NULL, NULL), 0);
    room_presence_flush(net.hub);
    assert_int_equal(fake_count(a, "welcome"), 1);
    assert_int_equal(R.calls, 0);
    fake_close(&net, a);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* Every hub allocation may fail: the call reports ROOM_ENOMEM or its
 * deliveries, and nothing leaks. */
static void failing_allocations(void **state)
{
    size_t n, failed = 0;
    json_t *arg = json_pack("{s[iii]}", "k", 1, 2, 3);
    int rc, recovery;
    (void)state;
    for (recovery = 0; recovery <= 1; recovery++) {
        for (n = 1; n < 40; n++) {
            fake_net net = {0};
            fake_peer *a1, *a2;
            hub_with(&net, &recording, recovery ? 1000 : 0);
            a1 = fake_open(&net);
            a2 = fake_open(&net);
            set_user(net.hub, a1, "alice");
            set_user(net.hub, a2, "alice");
            net.alloc.fail_at = net.alloc.allocs + n;
            rc = room_emit_user(net.hub, "alice", "ev", &arg, 1, NULL, 0);
            assert_true(rc == 2 || rc == ROOM_ENOMEM);
            rc = room_hub_deliver_remote_user(net.hub, "alice", "ev", &arg, 1, NULL, 0);
            assert_true(rc == 2 || rc == ROOM_ENOMEM);
            net.alloc.fail_at = 0;
            failed += net.alloc.failures > 0;
            fake_close(&net, a1);
            fake_close(&net, a2);
            room_hub_free(net.hub);
            assert_int_equal(net.alloc.allocs, net.alloc.frees);
            if (!net.alloc.failures)
                break; /* past the last allocation */
        }
        assert_true(n < 40);
    }
    assert_true(failed >= 2);
    json_decref(arg);
    json_decref(R.first);
    R.first = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(to_a_user_here_and_elsewhere),
        cmocka_unit_test(from_other_nodes),
        cmocka_unit_test(single_node_and_recovery),
        cmocka_unit_test(not_forwarded_from_presence_callbacks),
        cmocka_unit_test(failing_allocations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
