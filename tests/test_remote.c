/* lib/core/remote.c: operations by connection id and room-wide, through a
 * recording adapter, and traffic from other nodes. */
#include "test_util.h"

#include <string.h>

#include "fake.h"
#include "room/adapter.h"
#include "room/presence.h"

static int done_calls, done_status;
static void record_done(room_hub *hub, int status, void *ud)
{
    (void)hub;
    (void)ud;
    done_calls++;
    done_status = status;
}

/* What the recording adapter was asked. */
typedef struct rec {
    int remote_calls, last_kind;
    char last_id[32];
    room_done_fn done;
    void *done_ud;
    int published;
    char published_room[32], published_event[32];
    char room_events[256];
} rec;
static rec R;

static int rec_remote(room_adapter *adapter, room_hub *hub, const room_remote_op *op,
                      room_done_fn done, void *ud)
{
    (void)adapter;
    (void)hub;
    R.remote_calls++;
    R.last_kind = op->kind;
    snprintf(R.last_id, sizeof R.last_id, "%s", op->conn_id ? op->conn_id : "");
    R.done = done;
    R.done_ud = ud;
    return 0;
}

static int rec_publish_event(room_adapter *adapter, room_hub *hub, const char *room,
                             const char *event, json_t *const *argv, size_t argc,
                             const room_bytes *att, size_t natt, const char *except_id)
{
    (void)adapter, (void)hub, (void)argv, (void)argc, (void)att, (void)natt, (void)except_id;
    R.published++;
    snprintf(R.published_room, sizeof R.published_room, "%s", room ? room : "(all)");
    snprintf(R.published_event, sizeof R.published_event, "%s", event);
    return 0;
}

static void rec_room_local(room_adapter *adapter, room_hub *hub, const char *room, int present)
{
    size_t len = strlen(R.room_events);
    (void)adapter, (void)hub;
    snprintf(R.room_events + len, sizeof R.room_events - len, "%c%s ", present ? '+' : '-', room);
}

static room_adapter recording = {.size = sizeof(room_adapter), .name = "rec",
                                 .remote = rec_remote, .publish_event = rec_publish_event,
                                 .room_local = rec_room_local};

static room_hub *hub_with(fake_net *net, room_adapter *adapter)
{
    room_config cfg;
    room_config_init(&cfg);
    fake_config(&cfg, net);
    cfg.adapter = adapter;
    assert_int_equal(room_hub_new(&net->hub, &cfg), 0);
    memset(&R, 0, sizeof R);
    done_calls = 0;
    return net->hub;
}

static void local_by_id(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    json_t *arg;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    done_calls = 0;
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "x"), 0);
    assert_int_equal(room_join(net.hub, a->conn, "y"), 0);
    assert_int_equal(room_leave_all_id(net.hub, room_conn_id(a->conn), record_done, NULL), 0);
    assert_int_equal(done_calls, 1);
    assert_int_equal(done_status, 0);
    assert_int_equal(room_conn_room_count(a->conn), 0);
    assert_int_equal(room_count(net.hub), 0);

    arg = json_integer(7);
    assert_int_equal(room_emit_id(net.hub, room_conn_id(b->conn), "hi", &arg, 1, record_done, NULL), 0);
    json_decref(arg);
    assert_int_equal(done_status, 0);
    assert_int_equal(fake_count(b, "hi"), 1);
    assert_int_equal(room_emit_id(net.hub, room_conn_id(b->conn), NULL, NULL, 0, record_done, NULL),
                     ROOM_EINVAL);
    assert_int_equal(done_calls, 2);

    assert_int_equal(room_disconnect_id(net.hub, room_conn_id(b->conn), NULL, record_done, NULL), 0);
    assert_int_equal(done_status, 0);
    assert_int_equal(b->kicked, 1);
    assert_string_equal(b->close_reason, "server disconnect");

    /* Unknown ids on a single node: not found, at once. */
    assert_int_equal(room_leave_all_id(net.hub, "AAAAAAAAAAAAAAAAAAAA", record_done, NULL), 0);
    assert_int_equal(done_status, ROOM_ENOTFOUND);
    assert_int_equal(room_disconnect_id(net.hub, "AAAAAAAAAAAAAAAAAAAA", "x", record_done, NULL), 0);
    assert_int_equal(done_status, ROOM_ENOTFOUND);
    assert_int_equal(done_calls, 5);
    assert_int_equal(room_leave_all_id(net.hub, NULL, record_done, NULL), ROOM_EINVAL);
    assert_int_equal(done_calls, 5);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static void members_join_and_leave(void **state)
{
    fake_net net = {0};
    fake_peer *p[3];
    const char *to[] = {"b", "c"};
    const char *bad[] = {""};
    int i;
    (void)state;
    hub_with(&net, &recording);
    for (i = 0; i < 3; i++)
        p[i] = fake_open(&net);
    assert_int_equal(room_join(net.hub, p[0]->conn, "a"), 0);
    assert_int_equal(room_join(net.hub, p[1]->conn, "a"), 0);
    assert_int_equal(room_join(net.hub, p[1]->conn, "b"), 0);
    assert_int_equal(room_members_join(net.hub, "a", to, 2, record_done, NULL), 0);
    assert_int_equal(done_calls, 1);
    assert_int_equal(done_status, 0); /* p1 already in b: not an error */
    assert_int_equal(room_member_count(net.hub, "b"), 2);
    assert_int_equal(room_member_count(net.hub, "c"), 2);
    assert_false(room_is_member(net.hub, p[2]->conn, "c"));
    /* Forwarded to the other nodes, without a callback. */
    assert_int_equal(R.remote_calls, 1);
    assert_int_equal(R.last_kind, ROOM_REMOTE_MEMBERS_JOIN);
    assert_null(R.done);

    /* Leaving the room whose members are walked reorders it: all leave. */
    to[0] = "a";
    assert_int_equal(room_members_leave(net.hub, "a", to, 2, record_done, NULL), 0);
    assert_int_equal(done_status, 0);
    assert_int_equal(room_member_count(net.hub, "a"), 0);
    assert_int_equal(room_member_count(net.hub, "c"), 0);
    assert_int_equal(room_member_count(net.hub, "b"), 2);
    assert_int_equal(room_members_join(net.hub, "a", bad, 1, record_done, NULL), ROOM_ENAME);
    assert_int_equal(room_members_join(net.hub, "a", NULL, 1, record_done, NULL), ROOM_EINVAL);
    assert_int_equal(done_calls, 2);
    /* The adapter heard of rooms appearing and emptying here. */
    assert_string_equal(R.room_events, "+a +b +c -a -c ");
    for (i = 0; i < 3; i++)
        fake_close(&net, p[i]);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static void remote_ids_go_to_the_adapter(void **state)
{
    fake_net net = {0};
    fake_peer *a;
    (void)state;
    hub_with(&net, &recording);
    a = fake_open(&net);
    assert_int_equal(room_leave_id(net.hub, "BBBBBBBBBBBBBBBBBBBB", "x", record_done, &net), 0);
    assert_int_equal(R.remote_calls, 1);
    assert_int_equal(R.last_kind, ROOM_REMOTE_LEAVE);
    assert_string_equal(R.last_id, "BBBBBBBBBBBBBBBBBBBB");
    assert_ptr_equal(R.done, record_done);
    assert_ptr_equal(R.done_ud, &net);
    assert_int_equal(done_calls, 0); /* the adapter answers later */
    /* A local id never reaches it. */
    assert_int_equal(room_join_id(net.hub, room_conn_id(a->conn), "x", record_done, NULL), 0);
    assert_int_equal(R.remote_calls, 1);
    assert_int_equal(done_calls, 1);
    /* Broadcasts go out as events. */
    assert_int_equal(room_send(net.hub, "x", "ev", NULL, NULL), 1);
    assert_int_equal(R.published, 1);
    assert_string_equal(R.published_room, "x");
    assert_string_equal(R.published_event, "ev");
    assert_int_equal(room_send(net.hub, "nobody-here", "ev2", NULL, NULL), 0);
    assert_int_equal(R.published, 2);
    assert_string_equal(R.published_room, "nobody-here");
    fake_close(&net, a);
    room_hub_free(net.hub);
}

static void apply_from_other_nodes(void **state)
{
    fake_net net = {0};
    fake_peer *a;
    room_remote_op op = {.kind = ROOM_REMOTE_JOIN, .room = "x"};
    (void)state;
    hub_with(&net, &recording);
    a = fake_open(&net);
    op.conn_id = "CCCCCCCCCCCCCCCCCCCC";
    assert_int_equal(room_remote_apply(net.hub, &op), ROOM_ENOTFOUND);
    op.conn_id = room_conn_id(a->conn);
    assert_int_equal(room_remote_apply(net.hub, &op), 0);
    assert_true(room_is_member(net.hub, a->conn, "x"));
    assert_int_equal(room_remote_apply(net.hub, &op), ROOM_EALREADY);
    op.kind = ROOM_REMOTE_LEAVE;
    assert_int_equal(room_remote_apply(net.hub, &op), 0);
    op.kind = 99;
    assert_int_equal(room_remote_apply(net.hub, &op), ROOM_EINVAL);
    assert_int_equal(room_remote_apply(net.hub, NULL), ROOM_EINVAL);
    /* Never forwarded again. */
    assert_int_equal(R.remote_calls, 0);
    fake_close(&net, a);
    room_hub_free(net.hub);
}

static int collect(const char *room, void *ud)
{
    strcat(ud, room);
    return 0;
}

static void deliver_remote_events(void **state)
{
    fake_net net = {0};
    fake_peer *p[4];
    const char *rooms[] = {"a", "b"}, *except[] = {"c", NULL};
    json_t *arg = json_string("v");
    char names[16] = "";
    int i;
    (void)state;
    hub_with(&net, &recording);
    for (i = 0; i < 4; i++)
        p[i] = fake_open(&net);
    room_join(net.hub, p[0]->conn, "a");
    room_join(net.hub, p[1]->conn, "a");
    room_join(net.hub, p[1]->conn, "b"); /* in both: gets it once */
    room_join(net.hub, p[2]->conn, "b");
    room_join(net.hub, p[2]->conn, "c"); /* excepted by room */
    except[1] = room_conn_id(p[0]->conn); /* excepted by id */
    assert_int_equal(room_hub_deliver_remote_event(net.hub, rooms, 2, except, 2, "ev", &arg, 1,
                                                   NULL, 0), 1);
    assert_int_equal(fake_count(p[1], "ev"), 1);
    assert_int_equal(fake_count(p[0], "ev") + fake_count(p[2], "ev") + fake_count(p[3], "ev"), 0);
    /* Everyone but room c; never published again. */
    assert_int_equal(room_hub_deliver_remote_event(net.hub, NULL, 0, except, 1, "all", NULL, 0,
                                                   NULL, 0), 3);
    assert_int_equal(fake_count(p[2], "all"), 0);
    assert_int_equal(fake_count(p[3], "all"), 1);
    /* No room here: nothing. */
    rooms[0] = "zzz";
    assert_int_equal(room_hub_deliver_remote_event(net.hub, rooms, 1, NULL, 0, "ev", NULL, 0, NULL, 0), 0);
    assert_int_equal(room_hub_deliver_remote_event(net.hub, NULL, 1, NULL, 0, "ev", NULL, 0, NULL, 0),
                     ROOM_EINVAL);
    assert_int_equal(R.published, 0);
    assert_int_equal(room_hub_rooms_foreach(net.hub, collect, names), 0);
    assert_int_equal(strlen(names), 3);
    assert_non_null(strchr(names, 'a'));
    assert_non_null(strchr(names, 'c'));
    json_decref(arg);
    for (i = 0; i < 4; i++)
        fake_close(&net, p[i]);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* Every allocation of a room-wide operation and a remote delivery may
 * fail: an error comes back and nothing leaks. */
static void failing_allocations(void **state)
{
    size_t n;
    const char *to[] = {"b"};
    int rc;
    (void)state;
    for (n = 1; n < 40; n++) {
        fake_net net = {0};
        fake_peer *a;
        hub_with(&net, &recording);
        a = fake_open(&net);
        assert_int_equal(room_join(net.hub, a->conn, "a"), 0);
        net.alloc.fail_at = net.alloc.allocs + n;
        done_status = 1;
        assert_int_equal(room_members_join(net.hub, "a", to, 1, record_done, NULL), 0);
        assert_true(done_status == 0 || done_status == ROOM_ENOMEM);
        rc = room_hub_deliver_remote_event(net.hub, to, 1, to, 1, "e", NULL, 0, NULL, 0);
        assert_true(rc == 0 || rc == ROOM_ENOMEM);
        net.alloc.fail_at = 0;
        fake_close(&net, a);
        room_hub_free(net.hub);
        assert_int_equal(net.alloc.allocs, net.alloc.frees);
    }
}


/* ---- presence from other nodes (remote_presence.c) ------------------------ */

typedef struct told {
    int n[8];
    int with_conn; /* changes that named a connection */
} told;

static void on_told(room_hub *hub, const char *room, const char *user_id, room_presence_change change,
                    room_conn *conn, json_t *entry, void *ud)
{
    told *t = ud;
    (void)room, (void)user_id, (void)entry;
    t->n[change]++;
    t->with_conn += conn != NULL;
    /* Every node runs this for every change: not published. */
    room_send(hub, room, "from-callback", NULL, NULL);
}

static room_hub *presence_hub(fake_net *net, told *t, room_adapter *adapter)
{
    room_presence_config pc;
    hub_with(net, adapter);
    room_presence_config_init(&pc);
    pc.state_event = "presence";
    pc.diff_event = "presence-diff";
    pc.typing_event = "typing";
    pc.stop_typing_event = "stop-typing";
    pc.change = on_told;
    pc.user_data = t;
    assert_int_equal(room_presence_enable(net->hub, &pc), 0);
    return net->hub;
}

static void set_user(room_hub *hub, fake_peer *p, const char *id)
{
    room_user u;
    room_user_init(&u);
    u.id = id;
    assert_int_equal(room_conn_set_user(hub, p->conn, &u), 0);
}

/* The keys of data.joins / data.leaves of p's last diff, "joins|leaves". */
static void last_diff(const fake_peer *p, char *out, size_t size)
{
    long i, at = -1;
    json_t *j, *d, *v;
    const char *key;
    size_t n = 0, k;
    for (i = fake_find(p, "presence-diff", 0); i >= 0; i = fake_find(p, "presence-diff", (size_t)i + 1))
        at = i;
    out[0] = '\0';
    if (at < 0)
        return;
    j = fake_json(p, (size_t)at);
    d = json_object_get(j, "data");
    json_object_foreach(json_object_get(d, "joins"), key, v) {
        n += (size_t)snprintf(out + n, size - n, "+%s", key);
    }
    /* Leaves are an array of user ids (docs/protocol-rooms.md). */
    json_array_foreach(json_object_get(d, "leaves"), k, v) {
        n += (size_t)snprintf(out + n, size - n, "-%s", json_string_value(v));
    }
    json_decref(j);
}

static void remote_presence_merges_by_user(void **state)
{
    fake_net net = {0};
    told t = {{0}, 0};
    fake_peer *a;
    json_t *bob = json_pack("{sss{}}", "id", "bob", "state");
    json_t *alice_there = json_pack("{sss{}}", "id", "alice", "state");
    json_t *bob_away = json_pack("{sss{ss}}", "id", "bob", "state", "status", "away");
    json_t *st;
    char diff[64];
    (void)state;
    presence_hub(&net, &t, &recording);
    a = fake_open(&net);
    set_user(net.hub, a, "alice");
    assert_int_equal(room_presence_join(net.hub, a->conn, "r", NULL, NULL), 0);
    room_presence_flush(net.hub);
    memset(&t, 0, sizeof t);
    R.published = 0;

    /* bob on node B: a member here, with the usual diff and callback. */
    assert_int_equal(room_presence_remote(net.hub, "B", "r", "bob", ROOM_PRESENCE_JOIN, 2, bob), 0);
    assert_int_equal(room_presence_user_count(net.hub, "r"), 2);
    assert_int_equal(room_presence_conn_count(net.hub, "r"), 3);
    assert_int_equal(t.n[ROOM_PRESENCE_JOIN], 1);
    assert_int_equal(t.with_conn, 0);
    assert_int_equal(R.published, 0); /* the callback's send stayed here */
    room_presence_flush(net.hub);
    last_diff(a, diff, sizeof diff);
    assert_string_equal(diff, "+bob");
    st = room_presence_state(net.hub, "r");
    assert_int_equal(json_object_size(st), 2);
    json_decref(st);
    /* A second node of bob's, and alice also on B: nothing members see. */
    assert_int_equal(room_presence_remote(net.hub, "C", "r", "bob", ROOM_PRESENCE_JOIN, 1, bob), 0);
    assert_int_equal(room_presence_remote(net.hub, "B", "r", "alice", ROOM_PRESENCE_JOIN, 1, alice_there), 0);
    assert_int_equal(t.n[ROOM_PRESENCE_JOIN], 1);
    assert_int_equal(room_presence_user_count(net.hub, "r"), 2);
    /* An update replaces the entry. */
    assert_int_equal(room_presence_remote(net.hub, "B", "r", "bob", ROOM_PRESENCE_UPDATE, 2, bob_away), 0);
    assert_int_equal(t.n[ROOM_PRESENCE_UPDATE], 1);
    /* Typing is relayed once, and its stop. */
    fake_clear(a);
    assert_int_equal(room_presence_remote(net.hub, "B", "r", "bob", ROOM_PRESENCE_TYPING, 2, bob_away), 0);
    assert_int_equal(room_presence_remote(net.hub, "B", "r", "bob", ROOM_PRESENCE_TYPING, 2, bob_away), 0);
    assert_int_equal(room_presence_remote(net.hub, "B", "r", "bob", ROOM_PRESENCE_STOP_TYPING, 2, bob_away), 0);
    assert_int_equal(fake_count(a, "typing"), 1);
    assert_int_equal(fake_count(a, "stop-typing"), 1);
    /* bob leaves B but stays on C; then node C dies. */
    assert_int_equal(room_presence_remote(net.hub, "B", "r", "bob", ROOM_PRESENCE_LEAVE, 0, bob), 0);
    assert_int_equal(t.n[ROOM_PRESENCE_LEAVE], 0);
    assert_int_equal(room_presence_remote_forget(net.hub, "C"), 1);
    assert_int_equal(t.n[ROOM_PRESENCE_LEAVE], 1);
    room_presence_flush(net.hub);
    last_diff(a, diff, sizeof diff);
    assert_string_equal(diff, "-bob");
    /* alice's local connection goes: she stays, present on B. */
    fake_close(&net, a);
    assert_int_equal(room_presence_user_count(net.hub, "r"), 1);
    assert_int_equal(t.n[ROOM_PRESENCE_LEAVE], 1);
    /* A full snapshot of B without alice: she leaves. */
    assert_int_equal(room_presence_remote_sync(net.hub, "B", ROOM_PRESENCE_SYNC_BEGIN), 0);
    assert_int_equal(room_presence_remote_sync(net.hub, "B", ROOM_PRESENCE_SYNC_END), 1);
    assert_int_equal(room_presence_user_count(net.hub, "r"), 0);
    assert_int_equal(t.n[ROOM_PRESENCE_LEAVE], 2);

    /* Refusals. */
    assert_int_equal(room_presence_remote(net.hub, NULL, "r", "x", ROOM_PRESENCE_JOIN, 1, bob), ROOM_EINVAL);
    assert_int_equal(room_presence_remote(net.hub, "B", "", "x", ROOM_PRESENCE_JOIN, 1, bob), ROOM_ENAME);
    assert_int_equal(room_presence_remote(net.hub, "B", "r", "x", ROOM_PRESENCE_JOIN, 1, NULL), ROOM_EINVAL);
    assert_int_equal(room_presence_remote(net.hub, "B", "r", "x", 99, 1, bob), ROOM_EINVAL);
    assert_int_equal(room_presence_remote(net.hub, "0123456789012345678901234567890123", "r", "x",
                                          ROOM_PRESENCE_JOIN, 1, bob), ROOM_EINVAL);
    assert_int_equal(room_presence_remote(net.hub, "B", "r", "x", ROOM_PRESENCE_LEAVE, 0, bob), 0);
    assert_int_equal(room_presence_remote_sync(net.hub, "B", 7), ROOM_EINVAL);
    assert_int_equal(room_presence_user_count(net.hub, "r"), 0);
    json_decref(bob);
    json_decref(alice_there);
    json_decref(bob_away);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* Every allocation of a remote join may fail: nothing changes, nothing
 * leaks. */
static void remote_presence_allocations(void **state)
{
    json_t *bob = json_pack("{sss{}}", "id", "bob", "state");
    size_t n;
    int rc;
    (void)state;
    for (n = 1; n < 12; n++) {
        fake_net net = {0};
        told t = {{0}, 0};
        presence_hub(&net, &t, &recording);
        net.alloc.fail_at = net.alloc.allocs + n;
        rc = room_presence_remote(net.hub, "B", "r", "bob", ROOM_PRESENCE_JOIN, 1, bob);
        net.alloc.fail_at = 0;
        assert_true(rc == 0 || rc == ROOM_ENOMEM);
        assert_int_equal(room_presence_user_count(net.hub, "r"), rc == 0 ? 1 : 0);
        assert_int_equal(t.n[ROOM_PRESENCE_JOIN], rc == 0);
        room_hub_free(net.hub);
        assert_int_equal(net.alloc.allocs, net.alloc.frees);
    }
    json_decref(bob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(local_by_id),
        cmocka_unit_test(members_join_and_leave),
        cmocka_unit_test(remote_ids_go_to_the_adapter),
        cmocka_unit_test(apply_from_other_nodes),
        cmocka_unit_test(deliver_remote_events),
        cmocka_unit_test(failing_allocations),
        cmocka_unit_test(remote_presence_merges_by_user),
        cmocka_unit_test(remote_presence_allocations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
