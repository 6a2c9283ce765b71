/* identity.c, presence.c, typing.c: users, presence membership, batched
 * diffs, join authorization, state updates and typing, through the fake
 * transport. */
#include <string.h>

#include "room/presence.h"
#include "test_util.h"

typedef struct changes {
    int n[8];
    char last_user[64];
} changes;

static void on_change(room_hub *hub, const char *room, const char *user_id,
                      room_presence_change change, room_conn *conn, json_t *entry, void *ud)
{
    changes *c = ud;
    (void)room, (void)conn;
    assert_non_null(entry);
    c->n[change]++;
    snprintf(c->last_user, sizeof c->last_user, "%s", user_id);
    /* Presence cannot change from inside its callbacks. */
    assert_int_equal(room_presence_flush(hub), ROOM_EINVAL);
    assert_int_equal(room_typing(hub, conn, room), ROOM_EINVAL);
}

static int refuse_secret(room_hub *hub, room_conn *conn, const char *room, json_t *metadata,
                         room_join_verdict *verdict, void *ud)
{
    (void)hub, (void)conn, (void)ud;
    if (strcmp(room, "secret") == 0) {
        verdict->reason = "members only";
        return ROOM_EFORBIDDEN;
    }
    if (metadata)
        verdict->info = json_deep_copy(metadata);
    return 0;
}

static room_hub *presence_hub(fake_net *net, changes *c)
{
    room_presence_config pc;
    assert_non_null(fake_hub(net, 0));
    room_presence_config_init(&pc);
    pc.state_event = "presence";
    pc.diff_event = "presence-diff";
    pc.typing_event = "typing";
    pc.stop_typing_event = "stop-typing";
    pc.max_state_bytes = 64;
    pc.authorize = refuse_secret;
    pc.change = on_change;
    pc.user_data = c;
    assert_int_equal(room_presence_enable(net->hub, &pc), 0);
    return net->hub;
}

static void set_user(room_hub *hub, fake_peer *p, const char *id, const char *name)
{
    room_user u;
    room_user_init(&u);
    u.id = id;
    u.name = name;
    assert_int_equal(room_conn_set_user(hub, p->conn, &u), 0);
}

/* The data of the last frame of `event` that `p` got, or NULL. */
static json_t *last_data(const fake_peer *p, const char *event)
{
    long i, at = -1;
    json_t *j, *d;
    for (i = fake_find(p, event, 0); i >= 0; i = fake_find(p, event, (size_t)i + 1))
        at = i;
    if (at < 0)
        return NULL;
    j = fake_json(p, (size_t)at);
    d = json_incref(json_object_get(j, "data"));
    json_decref(j);
    return d;
}

static int count_conn(room_conn *conn, void *ud)
{
    (void)conn;
    (*(int *)ud)++;
    return 0;
}

static int stop_conn(room_conn *conn, void *ud)
{
    (void)conn, (void)ud;
    return 5;
}

/* Sums connections per member, and checks each entry against its id. */
static int sum_members(const room_presence_member *m, void *ud)
{
    assert_string_equal(json_string_value(json_object_get(m->entry, "id")), m->user_id);
    assert_true(json_is_object(m->state));
    *(size_t *)ud += m->connections;
    return 0;
}

static void identity(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    room_user u;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    a = fake_open(&net);
    b = fake_open(&net);
    assert_null(room_conn_user_id(net.hub, a->conn));
    room_user_init(&u);
    assert_int_equal(room_conn_set_user(net.hub, a->conn, &u), ROOM_EINVAL); /* no id */
    u.id = "\xff";
    assert_int_equal(room_conn_set_user(net.hub, a->conn, &u), ROOM_EINVAL);
    u.id = "alice";
    u.name = "Alice";
    u.role = "teacher";
    u.meta = json_pack("{s:i}", "age", 7);
    assert_int_equal(room_conn_set_user(net.hub, a->conn, &u), 0);
    json_decref(u.meta);
    assert_string_equal(room_conn_user_id(net.hub, a->conn), "alice");
    assert_string_equal(room_conn_user_name(net.hub, a->conn), "Alice");
    assert_string_equal(room_conn_user_role(net.hub, a->conn), "teacher");
    assert_int_equal(json_integer_value(json_object_get(room_conn_user_meta(net.hub, a->conn), "age")), 7);
    set_user(net.hub, b, "alice", NULL);
    assert_int_equal(room_user_conn_count(net.hub, "alice"), 2);
    int n = 0;
    assert_int_equal(room_user_conns_foreach(net.hub, "alice", count_conn, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(room_user_conns_foreach(net.hub, "alice", stop_conn, NULL), 5);
    assert_int_equal(room_user_conns_foreach(net.hub, "nobody", stop_conn, NULL), 0);
    /* Renaming within the same user keeps its place; changing user moves it. */
    set_user(net.hub, a, "alice", "Al");
    assert_string_equal(room_conn_user_name(net.hub, a->conn), "Al");
    assert_int_equal(room_user_conn_count(net.hub, "alice"), 2);
    set_user(net.hub, b, "bob", NULL);
    assert_int_equal(room_user_conn_count(net.hub, "alice"), 1);
    assert_int_equal(room_user_conn_count(net.hub, "bob"), 1);
    assert_int_equal(room_conn_set_user(net.hub, b->conn, NULL), 0);
    assert_int_equal(room_user_conn_count(net.hub, "bob"), 0);
    assert_null(room_conn_user_id(net.hub, b->conn));
    fake_close(&net, a);
    assert_int_equal(room_user_conn_count(net.hub, "alice"), 0);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

/* Two tabs of alice are one member: bob sees one join, and a leave only
 * after the second tab goes. */
static void two_connections_one_user(void **state)
{
    fake_net net = {0};
    changes c = {0};
    fake_peer *a1, *a2, *b;
    json_t *d;
    (void)state;
    presence_hub(&net, &c);
    a1 = fake_open(&net);
    a2 = fake_open(&net);
    b = fake_open(&net);
    set_user(net.hub, a1, "alice", "Alice");
    set_user(net.hub, a2, "alice", "Alice");
    set_user(net.hub, b, "bob", NULL);
    assert_int_equal(room_presence_join(net.hub, b->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_flush(net.hub), 1);
    fake_clear(b);
    assert_int_equal(room_presence_join(net.hub, a1->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_join(net.hub, a2->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_join(net.hub, a2->conn, "r", NULL, NULL), ROOM_EALREADY);
    assert_int_equal(c.n[ROOM_PRESENCE_JOIN], 2);
    assert_int_equal(c.n[ROOM_PRESENCE_CONN_JOIN], 1);
    assert_int_equal(room_presence_user_count(net.hub, "r"), 2);
    assert_int_equal(room_presence_conn_count(net.hub, "r"), 3);
    size_t conns = 0;
    int n = 0;
    assert_int_equal(room_presence_foreach(net.hub, "r", sum_members, &conns), 0);
    assert_int_equal(conns, 3);
    assert_int_equal(room_presence_user_conns_foreach(net.hub, "r", "alice", count_conn, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(room_presence_user_conns_foreach(net.hub, "r", "carol", count_conn, &n), 0);
    assert_int_equal(n, 2);
    /* The joiner got the full state at once, itself included. */
    d = last_data(a2, "presence");
    assert_non_null(json_object_get(d, "bob"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "alice"), "name")), "Alice");
    json_decref(d);
    /* One diff for the tick, with one join for alice. */
    assert_int_equal(fake_count(b, "presence-diff"), 0);
    assert_int_equal(room_hub_tick(net.hub, 10), -1);
    assert_int_equal(fake_count(b, "presence-diff"), 1);
    d = last_data(b, "presence-diff");
    assert_int_equal(json_object_size(json_object_get(d, "joins")), 1);
    assert_non_null(json_object_get(json_object_get(d, "joins"), "alice"));
    json_decref(d);
    /* The first tab goes: no leave. The last: one. */
    fake_clear(b);
    fake_close(&net, a1);
    assert_int_equal(room_presence_flush(net.hub), 0);
    assert_int_equal(fake_count(b, "presence-diff"), 0);
    assert_int_equal(c.n[ROOM_PRESENCE_CONN_LEAVE], 1);
    assert_int_equal(room_leave(net.hub, a2->conn, "r"), 0);
    assert_int_equal(room_presence_flush(net.hub), 1);
    d = last_data(b, "presence-diff");
    assert_non_null(json_object_get(json_object_get(d, "leaves"), "alice"));
    assert_int_equal(json_object_size(json_object_get(d, "joins")), 0);
    json_decref(d);
    assert_int_equal(c.n[ROOM_PRESENCE_LEAVE], 1);
    assert_int_equal(room_presence_user_count(net.hub, "r"), 1);
    /* A user cannot change while present. */
    assert_int_equal(room_conn_set_user(net.hub, b->conn, NULL), ROOM_EALREADY);
    fake_close(&net, a2);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

/* Many joins in one tick cost each member one diff frame; a join and leave
 * within the tick is never shown. */
static void one_diff_per_tick(void **state)
{
    fake_net net = {0};
    changes c = {0};
    fake_peer *p[50];
    char id[16];
    json_t *d;
    (void)state;
    presence_hub(&net, &c);
    for (int i = 0; i < 50; i++) {
        p[i] = fake_open(&net);
        snprintf(id, sizeof id, "u%d", i);
        set_user(net.hub, p[i], id, NULL);
        assert_int_equal(room_presence_join(net.hub, p[i]->conn, "big", NULL, NULL), 0);
    }
    fake_close(&net, p[49]);
    size_t before = net.sends;
    assert_int_equal(room_presence_flush(net.hub), 49);
    assert_int_equal(net.sends - before, 49);
    for (int i = 0; i < 49; i++)
        assert_int_equal(fake_count(p[i], "presence-diff"), 1);
    d = last_data(p[0], "presence-diff");
    assert_int_equal(json_object_size(json_object_get(d, "joins")), 49);
    assert_int_equal(json_object_size(json_object_get(d, "leaves")), 0);
    json_decref(d);
    /* Nothing pending: nothing sent. */
    assert_int_equal(room_presence_flush(net.hub), 0);
    for (int i = 0; i < 49; i++)
        fake_close(&net, p[i]);
    assert_int_equal(room_presence_flush(net.hub), 0);
    room_hub_free(net.hub);
}

static int enter(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *a = json_array_get(ev->args, 0);
    (void)ud;
    return room_presence_join(hub, conn, json_string_value(json_object_get(a, "room")),
                              json_object_get(a, "metadata"), ev);
}

static int update(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *a = json_array_get(ev->args, 0);
    (void)ud;
    return room_presence_update(hub, conn, json_string_value(json_object_get(a, "room")),
                                json_object_get(a, "presence"), ev);
}

/* The join callback refuses with a reason (an error with code forbidden,
 * nothing joined) or attaches its info to the member. */
static void join_authorization(void **state)
{
    fake_net net = {0};
    changes c = {0};
    fake_peer *a;
    json_t *d;
    (void)state;
    presence_hub(&net, &c);
    assert_int_equal(room_on(net.hub, "enter", enter, NULL), 0);
    a = fake_open(&net);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"enter\",\"data\":{\"room\":\"secret\"}}"), 0);
    assert_error_code(a, "forbidden");
    d = last_data(a, "error");
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "members only");
    json_decref(d);
    assert_false(room_is_member(net.hub, a->conn, "secret"));
    assert_int_equal(room_presence_user_count(net.hub, "secret"), 0);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"enter\",\"data\":{\"room\":\"open\",\"metadata\":{\"seat\":3}}}"), 0);
    /* No user: the connection is its own user. */
    d = last_data(a, "presence");
    json_t *e = json_object_get(d, room_conn_id(a->conn));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "info"), "seat")), 3);
    json_decref(d);
    assert_int_equal(room_presence_join(net.hub, a->conn, "", NULL, NULL), ROOM_ENAME);
    fake_close(&net, a);
    room_hub_free(net.hub);
}

static int refuse_odd(room_hub *hub, room_conn *conn, const char *room, json_t *st,
                      const char **message, void *ud)
{
    (void)hub, (void)conn, (void)room, (void)ud;
    if (json_integer_value(json_object_get(st, "n")) % 2) {
        *message = "n must be even";
        return ROOM_EPROTO;
    }
    return 0;
}

static void state_updates(void **state)
{
    fake_net net = {0};
    changes c = {0};
    room_presence_config pc;
    fake_peer *a, *b;
    json_t *d, *st;
    (void)state;
    presence_hub(&net, &c);
    room_presence_config_init(&pc);
    pc.diff_event = "presence-diff";
    pc.max_state_bytes = 64;
    pc.validate = refuse_odd;
    pc.change = on_change;
    pc.user_data = &c;
    assert_int_equal(room_presence_enable(net.hub, &pc), 0);
    assert_int_equal(room_on(net.hub, "update", update, NULL), 0);
    a = fake_open(&net);
    b = fake_open(&net);
    set_user(net.hub, a, "alice", NULL);
    set_user(net.hub, b, "bob", NULL);
    assert_int_equal(room_presence_join(net.hub, a->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_join(net.hub, b->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_flush(net.hub), 2);
    fake_clear(b);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update\",\"data\":{\"room\":\"r\",\"presence\":{\"cursor\":{\"x\":1,\"y\":2},\"n\":2}}}"), 0);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update\",\"data\":{\"room\":\"r\",\"presence\":{\"cursor\":{\"y\":null}}}}"), 0);
    assert_int_equal(c.n[ROOM_PRESENCE_UPDATE], 2);
    /* Refusals change nothing. */
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update\",\"data\":{\"room\":\"r\",\"presence\":{\"n\":3}}}"), 0);
    assert_error_code(a, "bad_message");
    d = last_data(a, "error");
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "n must be even");
    json_decref(d);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update\",\"data\":{\"room\":\"r\",\"presence\":{\"big\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}}}"), 0);
    assert_error_code(a, "too_big");
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update\",\"data\":{\"room\":\"r\",\"presence\":[1]}}"), 0);
    assert_error_code(a, "bad_message");
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update\",\"data\":{\"room\":\"elsewhere\",\"presence\":{}}}"), 0);
    assert_error_code(a, "not_member");
    /* An update that changes nothing is not sent. */
    st = json_pack("{s:i}", "n", 2);
    assert_int_equal(room_presence_update(net.hub, a->conn, "r", st, NULL), 0);
    json_decref(st);
    assert_int_equal(c.n[ROOM_PRESENCE_UPDATE], 2);
    assert_int_equal(room_presence_flush(net.hub), 2);
    assert_int_equal(fake_count(b, "presence-diff"), 1);
    d = last_data(b, "presence-diff");
    st = json_object_get(json_object_get(json_object_get(d, "joins"), "alice"), "state");
    assert_int_equal(json_integer_value(json_object_get(st, "n")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "cursor"), "x")), 1);
    assert_null(json_object_get(json_object_get(st, "cursor"), "y"));
    json_decref(d);
    d = room_presence_state(net.hub, "r");
    assert_int_equal(json_object_size(d), 2);
    json_decref(d);
    /* Diffs queued before diff_event is unset are dropped, not sent. */
    st = json_pack("{s:i}", "n", 4);
    assert_int_equal(room_presence_update(net.hub, a->conn, "r", st, NULL), 0);
    json_decref(st);
    pc.diff_event = NULL;
    assert_int_equal(room_presence_enable(net.hub, &pc), 0);
    assert_int_equal(room_presence_flush(net.hub), 0);
    assert_int_equal(fake_count(b, "presence-diff"), 1);
    pc.diff_event = "";
    assert_int_equal(room_presence_enable(net.hub, &pc), ROOM_EINVAL);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

/* typing goes to the other users only, and stop-typing follows after the
 * idle time on the hub clock, restarted by each typing, or at once when
 * the typist leaves. */
static void typing_expiry(void **state)
{
    fake_net net = {0};
    changes c = {0};
    fake_peer *a1, *a2, *b;
    (void)state;
    presence_hub(&net, &c);
    a1 = fake_open(&net);
    a2 = fake_open(&net);
    b = fake_open(&net);
    set_user(net.hub, a1, "alice", "Alice");
    set_user(net.hub, a2, "alice", "Alice");
    set_user(net.hub, b, "bob", NULL);
    assert_int_equal(room_presence_join(net.hub, a1->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_join(net.hub, a2->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_join(net.hub, b->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_typing(net.hub, b->conn, "elsewhere"), ROOM_ENOTMEMBER);
    room_hub_tick(net.hub, 1000);
    assert_int_equal(room_typing(net.hub, a1->conn, "r"), 0);
    assert_int_equal(fake_count(b, "typing"), 1);
    assert_int_equal(fake_count(a2, "typing"), 0);
    assert_int_equal(room_hub_tick(net.hub, 4000), 2000);
    assert_int_equal(room_typing(net.hub, a1->conn, "r"), 0); /* restarts, not resent */
    assert_int_equal(fake_count(b, "typing"), 1);
    assert_int_equal(room_hub_tick(net.hub, 8000), 1000);
    assert_int_equal(fake_count(b, "stop-typing"), 0);
    assert_int_equal(room_hub_tick(net.hub, 9000), -1);
    assert_int_equal(fake_count(b, "stop-typing"), 1);
    assert_int_equal(c.n[ROOM_PRESENCE_STOP_TYPING], 1);
    /* Explicit stop, and stop on leave. */
    assert_int_equal(room_typing(net.hub, b->conn, "r"), 0);
    assert_int_equal(room_typing_stop(net.hub, b->conn, "r"), 0);
    assert_int_equal(room_typing_stop(net.hub, b->conn, "r"), 0);
    assert_int_equal(fake_count(a1, "stop-typing"), 1);
    assert_int_equal(room_typing(net.hub, a2->conn, "r"), 0);
    fake_close(&net, a2);
    assert_int_equal(fake_count(b, "stop-typing"), 2);
    assert_int_equal(room_typing(net.hub, a1->conn, "r"), 0);
    fake_close(&net, a1);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

/* A session of everything, for the allocation failures below. */
static int session(fake_net *net, size_t fail_at)
{
    changes c = {0};
    fake_peer *p[3];
    room_presence_config pc;
    room_user u;
    json_t *patch;
    int rc = 0;
    assert_non_null(fake_hub(net, 0));
    net->alloc.fail_at = fail_at ? net->alloc.allocs + fail_at : 0;
    room_presence_config_init(&pc);
    pc.state_event = "presence";
    pc.diff_event = "presence-diff";
    pc.typing_event = "typing";
    pc.stop_typing_event = "stop-typing";
    pc.authorize = refuse_secret;
    pc.change = on_change;
    pc.user_data = &c;
    if (room_presence_enable(net->hub, &pc))
        rc = 1;
    for (int i = 0; i < 3; i++)
        p[i] = fake_open(net);
    for (int i = 0; i < 3; i++) {
        if (!p[i])
            continue;
        room_user_init(&u);
        u.id = i == 2 ? "bob" : "alice";
        u.name = "x";
        if (room_conn_set_user(net->hub, p[i]->conn, &u))
            rc = 1;
        if (room_presence_join(net->hub, p[i]->conn, "r", NULL, NULL))
            rc = 1;
    }
    patch = json_pack("{s:i}", "n", 1);
    if (p[0] && room_presence_update(net->hub, p[0]->conn, "r", patch, NULL))
        rc = 1;
    json_decref(patch);
    if (p[2] && room_typing(net->hub, p[2]->conn, "r"))
        rc = 1;
    if (room_presence_flush(net->hub) < 0)
        rc = 1;
    for (int i = 0; i < 3; i++) {
        if (p[i])
            fake_close(net, p[i]);
    }
    room_presence_flush(net->hub);
    assert_int_equal(room_hub_memory(net->hub) > 0, 1);
    return rc;
}

/* Each allocation fails in turn: the call reports it, nothing leaks, and
 * the memory the hub accounts returns to what an empty hub holds. */
static void fail_nth_allocation(void **state)
{
    size_t n, empty;
    (void)state;
    {
        fake_net net = {0};
        assert_non_null(fake_hub(&net, 0));
        empty = room_hub_memory(net.hub);
        room_hub_free(net.hub);
    }
    for (n = 1;; n++) {
        fake_net net = {0};
        int failed = session(&net, n);
        size_t mem = room_hub_memory(net.hub);
        size_t failures = net.alloc.failures;
        room_hub_free(net.hub);
        assert_int_equal(net.alloc.allocs, net.alloc.frees);
        /* Presence is freed with the last member; the people record and
         * tables stay until the hub goes. */
        assert_true(mem >= empty);
        if (!failures) {
            assert_int_equal(failed, 0);
            break;
        }
    }
    assert_true(n > 10);
}

/* Presence state comes back when its members leave. */
static void memory_returned(void **state)
{
    fake_net net = {0};
    changes c = {0};
    fake_peer *p[4];
    size_t base;
    (void)state;
    presence_hub(&net, &c);
    base = room_hub_memory(net.hub);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 4; i++) {
            p[i] = fake_open(&net);
            set_user(net.hub, p[i], i % 2 ? "a" : "b", "n");
            assert_int_equal(room_presence_join(net.hub, p[i]->conn, "r", NULL, NULL), 0);
        }
        assert_int_equal(room_typing(net.hub, p[0]->conn, "r"), 0);
        for (int i = 0; i < 4; i++)
            fake_close(&net, p[i]);
        assert_true(room_hub_memory(net.hub) > base); /* the pending diff */
        room_presence_flush(net.hub);
    }
    /* Only the tables' arrays grew. */
    size_t after = room_hub_memory(net.hub);
    for (int i = 0; i < 4; i++) {
        p[i] = fake_open(&net);
        set_user(net.hub, p[i], "z", NULL);
        fake_close(&net, p[i]);
    }
    assert_int_equal(room_hub_memory(net.hub), after);
    room_hub_free(net.hub);
}

/* A connection detached for recovery leaves presence and its user at
 * once, though it stays in its rooms. */
static void detached_leaves(void **state)
{
    fake_net net = {0};
    room_config cfg;
    room_presence_config pc;
    fake_peer *a, *b;
    json_t *d;
    (void)state;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.recovery_ms = 1000;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    room_presence_config_init(&pc);
    pc.diff_event = "presence-diff";
    assert_int_equal(room_presence_enable(net.hub, &pc), 0);
    a = fake_open(&net);
    b = fake_open(&net);
    set_user(net.hub, a, "alice", NULL);
    set_user(net.hub, b, "bob", NULL);
    assert_int_equal(room_presence_join(net.hub, a->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_join(net.hub, b->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_flush(net.hub), 2);
    room_conn_close(net.hub, a->conn, "transport close"); /* detached */
    assert_int_equal(room_presence_user_count(net.hub, "r"), 1);
    assert_int_equal(room_user_conn_count(net.hub, "alice"), 0);
    assert_int_equal(room_presence_flush(net.hub), 1);
    d = last_data(b, "presence-diff");
    assert_non_null(json_object_get(json_object_get(d, "leaves"), "alice"));
    json_decref(d);
    room_hub_tick(net.hub, 5000); /* frees the detached connection */
    fake_peer_free(a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity),
        cmocka_unit_test(two_connections_one_user),
        cmocka_unit_test(one_diff_per_tick),
        cmocka_unit_test(join_authorization),
        cmocka_unit_test(state_updates),
        cmocka_unit_test(typing_expiry),
        cmocka_unit_test(fail_nth_allocation),
        cmocka_unit_test(memory_returned),
        cmocka_unit_test(detached_leaves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
