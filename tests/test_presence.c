/* identity.c, presence.c, typing.c: users, presence membership, batched
 * diffs, join authorization, state updates and typing, through the fake
 * transport. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "room/codec.h"
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

/* The members of the last state event `p` got ({"room", "members"}). */
static json_t *state_members(const fake_peer *p)
{
    json_t *d = last_data(p, "presence");
    json_t *m = json_incref(json_object_get(d, "members"));
    assert_non_null(json_object_get(d, "room"));
    json_decref(d);
    return m;
}

/* Whether the leaves of diff `d` (an array of user ids) name `id`. */
static bool left_in(const json_t *d, const char *id)
{
    json_t *leaves = json_object_get(d, "leaves"), *v;
    size_t i;
    assert_true(json_is_array(leaves));
    json_array_foreach(leaves, i, v) {
        if (strcmp(json_string_value(v), id) == 0)
            return true;
    }
    return false;
}

/* The entry the host API shows for wire entry `w` of user `id`: what a
 * client rebuilds, the id from the key and an empty state by default. */
static json_t *full_entry(const char *id, json_t *w)
{
    json_t *e = json_deep_copy(w);
    assert_true(json_is_object(e));
    assert_null(json_object_get(e, "id"));
    /* An empty state is left out, never sent. */
    assert_true(!json_object_get(e, "state") || json_object_size(json_object_get(e, "state")) > 0);
    json_object_set_new(e, "id", json_string(id));
    if (!json_object_get(e, "state"))
        json_object_set_new(e, "state", json_object());
    return e;
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
    /* Nothing goes out before the tick; then each joiner gets the full
     * state, itself included, and bob one diff with one join for alice. */
    assert_int_equal(fake_count(a2, "presence"), 0);
    assert_int_equal(fake_count(b, "presence-diff"), 0);
    assert_int_equal(room_hub_tick(net.hub, 10), -1);
    assert_int_equal(a1->nframes, 1);
    assert_int_equal(a2->nframes, 1);
    d = state_members(a2);
    assert_non_null(json_object_get(d, "bob"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "alice"), "name")), "Alice");
    json_decref(d);
    assert_int_equal(fake_count(b, "presence-diff"), 1);
    assert_int_equal(b->nframes, 1);
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
    assert_true(left_in(d, "alice"));
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
    /* All joined in the tick: one shared state frame each, no diff. */
    size_t before = net.sends;
    assert_int_equal(room_presence_flush(net.hub), 49);
    assert_int_equal(net.sends - before, 49);
    for (int i = 0; i < 49; i++) {
        assert_int_equal(p[i]->nframes, 1);
        assert_int_equal(fake_count(p[i], "presence"), 1);
    }
    d = state_members(p[0]);
    assert_int_equal(json_object_size(d), 49);
    json_decref(d);
    /* The next tick: 10 join and 5 leave; the 10 get the state, the 44
     * others one diff, which shows neither the 5 nor the 10 twice. */
    for (int i = 49; i > 44; i--)
        fake_close(&net, p[i - 1]);
    fake_peer *q[10];
    for (int i = 0; i < 10; i++) {
        q[i] = fake_open(&net);
        snprintf(id, sizeof id, "q%d", i);
        set_user(net.hub, q[i], id, NULL);
        assert_int_equal(room_presence_join(net.hub, q[i]->conn, "big", NULL, NULL), 0);
    }
    assert_int_equal(room_presence_flush(net.hub), 54);
    for (int i = 0; i < 44; i++)
        assert_int_equal(p[i]->nframes, 2);
    d = last_data(p[0], "presence-diff");
    assert_int_equal(json_object_size(json_object_get(d, "joins")), 10);
    assert_int_equal(json_array_size(json_object_get(d, "leaves")), 5);
    json_decref(d);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(q[i]->nframes, 1);
        d = state_members(q[i]);
        assert_int_equal(json_object_size(d), 54);
        json_decref(d);
    }
    /* Nothing pending: nothing sent. */
    assert_int_equal(room_presence_flush(net.hub), 0);
    for (int i = 0; i < 10; i++)
        fake_close(&net, q[i]);
    assert_int_equal(room_presence_flush(net.hub), 44);
    for (int i = 0; i < 44; i++)
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
    assert_int_equal(room_presence_flush(net.hub), 1);
    /* No user: the connection is its own user. */
    d = state_members(a);
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
    pc.diff_ms = 10;
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
        if (i == 0)
            room_hub_tick(net->hub, 1);
        if (room_presence_join(net->hub, p[i]->conn, i == 2 ? "s" : "t", NULL, NULL))
            rc = 1;
    }
    /* Diffs held back (diff_ms) in two rooms, states sent. */
    room_hub_tick(net->hub, 2);
    patch = json_pack("{s:i}", "n", 1);
    if (p[0] && room_presence_update(net->hub, p[0]->conn, "r", patch, NULL))
        rc = 1;
    json_decref(patch);
    room_hub_tick(net->hub, 3);
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
    assert_true(left_in(d, "alice"));
    json_decref(d);
    room_hub_tick(net.hub, 5000); /* frees the detached connection */
    fake_peer_free(a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

/* The flushed callback: which rooms, and their users at that moment. */
typedef struct flushes {
    int n;
    char rooms[8][8];
    size_t users[8];
} flushes;

static void on_flushed(room_hub *hub, const char *room, void *ud)
{
    flushes *f = ud;
    assert_true(f->n < 8);
    snprintf(f->rooms[f->n], sizeof f->rooms[0], "%s", room);
    f->users[f->n++] = room_presence_user_count(hub, room);
    assert_int_equal(room_presence_flush(hub), ROOM_EINVAL);
}

/* A host with its own wire format hears once per changed room per flush,
 * without event names; a user's further connections change nothing. */
static void flushed_once_per_room(void **state)
{
    fake_net net = {0};
    room_presence_config pc;
    flushes f = {0};
    fake_peer *a, *a2, *b, *c;
    json_t *patch;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_presence_config_init(&pc);
    pc.flushed = on_flushed;
    pc.user_data = &f;
    assert_int_equal(room_presence_enable(net.hub, &pc), 0);
    a = fake_open(&net);
    a2 = fake_open(&net);
    b = fake_open(&net);
    c = fake_open(&net);
    set_user(net.hub, a, "alice", NULL);
    set_user(net.hub, a2, "alice", NULL);
    set_user(net.hub, b, "bob", NULL);
    set_user(net.hub, c, "carol", NULL);
    assert_int_equal(room_presence_join(net.hub, a->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_join(net.hub, a2->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_join(net.hub, b->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_join(net.hub, c->conn, "s", NULL, NULL), 0);
    assert_int_equal(room_presence_flush(net.hub), 0); /* nothing sent */
    assert_int_equal(f.n, 2);
    assert_string_equal(f.rooms[0], "s");
    assert_int_equal(f.users[0], 1);
    assert_string_equal(f.rooms[1], "r");
    assert_int_equal(f.users[1], 2);
    room_presence_flush(net.hub);
    assert_int_equal(f.n, 2);
    /* A second tab comes and goes: the users did not change. */
    assert_int_equal(room_leave(net.hub, a2->conn, "r"), 0);
    room_presence_flush(net.hub);
    assert_int_equal(f.n, 2);
    patch = json_pack("{s:i}", "x", 1);
    assert_int_equal(room_presence_update(net.hub, b->conn, "r", patch, NULL), 0);
    json_decref(patch);
    room_hub_tick(net.hub, 1);
    assert_int_equal(f.n, 3);
    /* A user that leaves: the room, now empty of it, is told once. */
    fake_close(&net, b);
    fake_close(&net, a);
    room_presence_flush(net.hub);
    assert_int_equal(f.n, 4);
    assert_string_equal(f.rooms[3], "r");
    assert_int_equal(f.users[3], 0);
    fake_close(&net, a2);
    fake_close(&net, c);
    room_hub_free(net.hub);
}

static int adapter_seen[8];
static char adapter_last[128];

static void adapter_presence(room_adapter *adapter, room_hub *hub, const char *room,
                             const char *user_id, int change, const char *conn_id, json_t *entry)
{
    (void)adapter, (void)hub;
    assert_true(change > 0 && change < 8);
    assert_string_equal(json_string_value(json_object_get(entry, "id")), user_id);
    adapter_seen[change]++;
    snprintf(adapter_last, sizeof adapter_last, "%s/%s/%s", room, user_id, conn_id ? conn_id : "-");
}

/* Every change reaches the adapter's presence hook, with the connection
 * that made it (none for an expiry). */
static void adapter_hook(void **state)
{
    fake_net net = {0};
    room_config cfg;
    room_presence_config pc;
    room_adapter adapter = {.size = sizeof adapter, .name = "presence-test",
                            .presence = adapter_presence};
    fake_peer *a;
    json_t *patch = json_pack("{s:i}", "x", 1);
    char want[128];
    (void)state;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.adapter = &adapter;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    room_presence_config_init(&pc);
    assert_int_equal(room_presence_enable(net.hub, &pc), 0);
    a = fake_open(&net);
    set_user(net.hub, a, "alice", NULL);
    assert_int_equal(room_presence_join(net.hub, a->conn, "r", NULL, NULL), 0);
    snprintf(want, sizeof want, "r/alice/%s", room_conn_id(a->conn));
    assert_string_equal(adapter_last, want);
    assert_int_equal(room_presence_update(net.hub, a->conn, "r", patch, NULL), 0);
    json_decref(patch);
    assert_int_equal(room_typing(net.hub, a->conn, "r"), 0);
    room_hub_tick(net.hub, 60000);
    assert_string_equal(adapter_last, "r/alice/-");
    fake_close(&net, a);
    assert_int_equal(adapter_seen[ROOM_PRESENCE_JOIN], 1);
    assert_int_equal(adapter_seen[ROOM_PRESENCE_UPDATE], 1);
    assert_int_equal(adapter_seen[ROOM_PRESENCE_TYPING], 1);
    assert_int_equal(adapter_seen[ROOM_PRESENCE_STOP_TYPING], 1);
    assert_int_equal(adapter_seen[ROOM_PRESENCE_LEAVE], 1);
    /* Nothing was queued or sent: no events are configured. */
    assert_int_equal(net.sends, 0);
    room_hub_free(net.hub);
}


/* What `p` believes its room's members are: its last state, then each
 * diff after it (leaves, then joins), in the order the frames came. */
static json_t *view_of(const fake_peer *p)
{
    json_t *view = NULL;
    for (size_t i = 0; i < p->nframes; i++) {
        json_t *j = fake_json(p, i), *d = json_object_get(j, "data"), *v;
        const char *ev = json_string_value(json_object_get(j, "event")), *k;
        size_t n;
        if (ev && strcmp(ev, "presence") == 0) {
            json_decref(view);
            view = json_object();
            json_object_foreach(json_object_get(d, "members"), k, v)
                json_object_set_new(view, k, full_entry(k, v));
        } else if (ev && strcmp(ev, "presence-diff") == 0) {
            assert_non_null(view); /* never a diff before the state */
            json_array_foreach(json_object_get(d, "leaves"), n, v)
                json_object_del(view, json_string_value(v));
            json_object_foreach(json_object_get(d, "joins"), k, v)
                json_object_set_new(view, k, full_entry(k, v));
        }
        json_decref(j);
    }
    return view ? view : json_object();
}

/* With diff_ms, joiners get their state at the next tick and the others a
 * diff at most every diff_ms of hub time; room_hub_tick() names the
 * deadline. A connection whose state holds every change of a diff is not
 * sent it; one shown a user only in a state hears of its leave. */
static void diff_interval(void **state)
{
    fake_net net = {0};
    room_presence_config pc;
    fake_peer *a, *b, *c, *d;
    json_t *v, *want;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_presence_config_init(&pc);
    pc.state_event = "presence";
    pc.diff_event = "presence-diff";
    pc.diff_ms = 100;
    assert_int_equal(room_presence_enable(net.hub, &pc), 0);
    a = fake_open(&net);
    b = fake_open(&net);
    c = fake_open(&net);
    d = fake_open(&net);
    set_user(net.hub, a, "alice", NULL);
    set_user(net.hub, b, "bob", NULL);
    set_user(net.hub, c, "carol", NULL);
    set_user(net.hub, d, "dave", NULL);
    room_hub_tick(net.hub, 1000);
    assert_int_equal(room_presence_join(net.hub, a->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_hub_tick(net.hub, 1000), -1);
    assert_int_equal(a->nframes, 1);
    /* The first change after a quiet time goes at once. */
    assert_int_equal(room_presence_join(net.hub, b->conn, "r", NULL, NULL), 0);
    room_hub_tick(net.hub, 1010);
    assert_int_equal(b->nframes, 1);
    assert_int_equal(fake_count(a, "presence-diff"), 1);
    /* The next within 100 ms: carol's state now, alice's diff held. */
    assert_int_equal(room_presence_join(net.hub, c->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_hub_tick(net.hub, 1030), 80);
    assert_int_equal(c->nframes, 1);
    assert_int_equal(a->nframes, 2);
    assert_int_equal(b->nframes, 1);
    /* Dave comes and goes before the diff: carol saw him in no state, but
     * his join went into the pending diff for the others only while he
     * stayed. */
    assert_int_equal(room_presence_join(net.hub, d->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_hub_tick(net.hub, 1040), 70);
    assert_int_equal(d->nframes, 1);
    assert_int_equal(fake_count(c, "presence-diff"), 0);
    fake_close(&net, d);
    assert_int_equal(room_hub_tick(net.hub, 1109), 1);
    assert_int_equal(a->nframes, 2);
    assert_int_equal(room_hub_tick(net.hub, 1110), -1);
    /* One diff each for alice and bob (carol, then the join and leave of
     * dave); carol had carol and dave in her state, so she hears dave
     * leave. */
    assert_int_equal(fake_count(a, "presence-diff"), 2);
    assert_int_equal(fake_count(b, "presence-diff"), 1);
    assert_int_equal(fake_count(c, "presence-diff"), 1);
    want = room_presence_state(net.hub, "r");
    assert_int_equal(json_object_size(want), 3);
    for (fake_peer *p = a; p; p = p == a ? b : p == b ? c : NULL) {
        v = view_of(p);
        assert_true(json_equal(v, want));
        json_decref(v);
    }
    /* A tick with nothing held sends nothing; a flush sends what is held
     * at once. */
    assert_int_equal(room_presence_join(net.hub, (d = fake_open(&net))->conn, "r", NULL, NULL), 0);
    room_hub_tick(net.hub, 1120);
    assert_int_equal(d->nframes, 1);
    assert_int_equal(room_presence_flush(net.hub), 3);
    json_decref(want);
    want = room_presence_state(net.hub, "r");
    for (fake_peer *p = a; p; p = p == a ? b : p == b ? c : p == c ? d : NULL) {
        v = view_of(p);
        assert_true(json_equal(v, want));
        json_decref(v);
    }
    json_decref(want);
    fake_close(&net, a);
    fake_close(&net, b);
    fake_close(&net, c);
    fake_close(&net, d);
    room_hub_free(net.hub);
}

/* Sets {"n": n} as `p`'s state in room r: a change. */
static void set_n(room_hub *hub, fake_peer *p, int n)
{
    json_t *patch = json_pack("{s:i}", "n", n);
    assert_int_equal(room_presence_update(hub, p->conn, "r", patch, NULL), 0);
    json_decref(patch);
}

/* diff_budget spaces a large room's diffs by its connections' share of
 * the budget: 5 connections at 10 a second, half a second. A diff whose
 * changes settled (diff_ms without one) goes early, taken from the
 * spacings to come, two at most. */
static void diff_budget_spacing(void **state)
{
    fake_net net = {0};
    room_presence_config pc;
    fake_peer *p[6];
    char id[8];
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_presence_config_init(&pc);
    pc.state_event = "presence";
    pc.diff_event = "presence-diff";
    pc.diff_ms = 100;
    pc.diff_budget = 10;
    assert_int_equal(room_presence_enable(net.hub, &pc), 0);
    for (int i = 0; i < 6; i++) {
        p[i] = fake_open(&net);
        snprintf(id, sizeof id, "u%d", i);
        set_user(net.hub, p[i], id, NULL);
    }
    room_hub_tick(net.hub, 1000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(room_presence_join(net.hub, p[i]->conn, "r", NULL, NULL), 0);
    room_hub_tick(net.hub, 1000);
    assert_int_equal(room_presence_join(net.hub, p[4]->conn, "r", NULL, NULL), 0);
    /* A diff to four goes at once; the next waits 500 ms, not 100. */
    assert_int_equal(room_hub_tick(net.hub, 1001), -1);
    assert_int_equal(fake_count(p[0], "presence-diff"), 1);
    assert_int_equal(room_presence_join(net.hub, p[5]->conn, "r", NULL, NULL), 0);
    /* Changes every 50 ms never settle: the diff waits for the spacing,
     * and the tick names the nearer of settling and the spacing's end. */
    for (int64_t t = 1050; t <= 1500; t += 50) {
        assert_int_equal(room_hub_tick(net.hub, (uint64_t)t), (t + 100 < 1501 ? t + 100 : 1501) - t);
        set_n(net.hub, p[1], (int)t);
    }
    assert_int_equal(fake_count(p[0], "presence-diff"), 1);
    assert_int_equal(room_hub_tick(net.hub, 1501), -1);
    assert_int_equal(fake_count(p[0], "presence-diff"), 2);
    /* A change settles diff_ms after the tick that took it (a long loop
     * iteration is no quiet time) and then goes, taken from the spacings
     * to come (600 ms each with 6 connections), */
    set_n(net.hub, p[1], 1501);
    assert_int_equal(room_hub_tick(net.hub, 1550), 100);
    assert_int_equal(room_hub_tick(net.hub, 1649), 1);
    assert_int_equal(room_hub_tick(net.hub, 1650), -1);
    assert_int_equal(fake_count(p[0], "presence-diff"), 3);
    /* and a second one, */
    set_n(net.hub, p[1], 1650);
    assert_int_equal(room_hub_tick(net.hub, 1700), 100);
    assert_int_equal(room_hub_tick(net.hub, 1800), -1);
    assert_int_equal(fake_count(p[0], "presence-diff"), 4);
    /* then no more than one a spacing. */
    set_n(net.hub, p[1], 1800);
    assert_int_equal(room_hub_tick(net.hub, 1850), 251);
    assert_int_equal(room_hub_tick(net.hub, 2101), -1);
    assert_int_equal(fake_count(p[0], "presence-diff"), 5);
    set_n(net.hub, p[1], 2101);
    assert_int_equal(room_hub_tick(net.hub, 2200), 501);
    assert_int_equal(fake_count(p[0], "presence-diff"), 5);
    assert_int_equal(room_hub_tick(net.hub, 2701), -1);
    assert_int_equal(fake_count(p[0], "presence-diff"), 6);
    /* A room that shrank does not wait for what it was. */
    for (int i = 1; i < 6; i++)
        fake_close(&net, p[i]);
    assert_int_equal(room_hub_tick(net.hub, 2702), -1);
    assert_int_equal(fake_count(p[0], "presence-diff"), 7);
    fake_close(&net, p[0]);
    room_hub_free(net.hub);
}

/* Joins, tabs, leaves and state updates at random, ticks at random times
 * with diffs held for diff_ms: each connection gets at most one presence
 * frame per tick, and once the held diffs are out every connection's view
 * is the room's state. */
static void views_converge(void **state)
{
    enum { SLOTS = 24, STEPS = 600 };
    fake_net net = {0};
    room_presence_config pc;
    fake_peer *p[SLOTS] = {0};
    size_t before[SLOTS];
    uint32_t seed = 12345;
    uint64_t now = 1;
    char id[16];
    json_t *want, *v;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_presence_config_init(&pc);
    pc.state_event = "presence";
    pc.diff_event = "presence-diff";
    pc.diff_ms = 50;
    assert_int_equal(room_presence_enable(net.hub, &pc), 0);
    for (int step = 0; step < STEPS; step++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t r = seed >> 8, i = r % SLOTS, op = (r / SLOTS) % 10;
        if (op < 4 && !p[i]) {
            p[i] = fake_open(&net);
            snprintf(id, sizeof id, "u%u", i % 9); /* some users have several tabs */
            set_user(net.hub, p[i], id, NULL);
            assert_int_equal(room_presence_join(net.hub, p[i]->conn, "r", NULL, NULL), 0);
        } else if (op < 6 && p[i]) {
            if (op == 4) {
                fake_close(&net, p[i]);
            } else {
                assert_int_equal(room_leave(net.hub, p[i]->conn, "r"), 0);
                fake_close(&net, p[i]);
            }
            p[i] = NULL;
        } else if (op == 6 && p[i]) {
            json_t *patch = json_pack("{s:i}", "n", step);
            assert_int_equal(room_presence_update(net.hub, p[i]->conn, "r", patch, NULL), 0);
            json_decref(patch);
        } else if (op >= 7) {
            for (int k = 0; k < SLOTS; k++)
                before[k] = p[k] ? p[k]->nframes : 0;
            now += r % 40;
            room_hub_tick(net.hub, now);
            for (int k = 0; k < SLOTS; k++)
                assert_true(!p[k] || p[k]->nframes - before[k] <= 1);
        }
    }
    room_hub_tick(net.hub, now + 50);
    want = room_presence_state(net.hub, "r");
    for (int k = 0; k < SLOTS; k++) {
        if (!p[k])
            continue;
        v = view_of(p[k]);
        assert_true(json_equal(v, want));
        json_decref(v);
        fake_close(&net, p[k]);
    }
    json_decref(want);
    room_hub_free(net.hub);
}

/* A codec that puts its own length before the JSON codec's text: the
 * state's text cannot go between fixed bytes, so it is parsed back and
 * encoded as any payload, and comes out whole. */
static int prefixed_encode(const room_codec *codec, room_buf *out, const char *event,
                           json_t *const *argv, size_t argc, int64_t ack_id, size_t attachments)
{
    const room_codec *json = room_codec_json();
    room_buf *tmp;
    int rc;
    (void)codec;
    if (room_buf_new(&tmp, NULL))
        return ROOM_ENOMEM;
    rc = json->encode_event(json, tmp, event, argv, argc, ack_id, attachments);
    if (!rc)
        rc = room_buf_append_int(out, (int64_t)room_buf_len(tmp));
    if (!rc)
        rc = room_buf_append(out, ":", 1);
    if (!rc)
        rc = room_buf_append(out, room_buf_data(tmp), room_buf_len(tmp));
    room_buf_free(tmp);
    return rc;
}

static int prefixed_ack(const room_codec *codec, room_buf *out, int64_t ack_id, json_t *const *argv,
                        size_t argc, size_t attachments)
{
    (void)codec;
    return room_codec_json()->encode_ack(room_codec_json(), out, ack_id, argv, argc, attachments);
}

static int prefixed_decode(const room_codec *codec, const uint8_t *bytes, size_t len, room_message *msg)
{
    (void)codec;
    return room_codec_json()->decode(room_codec_json(), bytes, len, msg);
}

static void opaque_codec(void **state)
{
    fake_net net = {0};
    room_config cfg;
    room_presence_config pc;
    room_codec codec = {sizeof codec, "prefixed", prefixed_encode, prefixed_ack, prefixed_decode,
                        NULL, NULL, NULL, NULL};
    fake_peer *a, *b;
    json_t *j, *bob;
    const char *colon;
    (void)state;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.codec = &codec;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    room_presence_config_init(&pc);
    pc.state_event = "presence";
    pc.diff_event = "presence-diff";
    assert_int_equal(room_presence_enable(net.hub, &pc), 0);
    a = fake_open(&net);
    b = fake_open(&net);
    set_user(net.hub, a, "alice", "Alice");
    set_user(net.hub, b, "bob", NULL);
    assert_int_equal(room_presence_join(net.hub, a->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_flush(net.hub), 1);
    assert_int_equal(room_presence_join(net.hub, b->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_flush(net.hub), 2);
    /* bob's state, alice's diff: each its length, a colon, the JSON. */
    for (fake_peer *p = a; p; p = p == a ? b : NULL) {
        const char *f = p->frames[p->nframes - 1];
        colon = strchr(f, ':');
        assert_non_null(colon);
        assert_int_equal(strtoul(f, NULL, 10), strlen(colon + 1));
        j = json_loads(colon + 1, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "event")),
                            p == a ? "presence-diff" : "presence");
        bob = json_object_get(json_object_get(json_object_get(j, "data"), p == a ? "joins" : "members"), "bob");
        assert_true(json_is_object(bob) && json_object_size(bob) == 0);
        json_decref(j);
    }
    j = json_loads(strchr(b->frames[0], ':') + 1, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(
                            json_object_get(j, "data"), "members"), "alice"), "name")), "Alice");
    json_decref(j);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

/* The last frame `p` got holds `text`. */
static void last_frame_has(const fake_peer *p, const char *text)
{
    assert_true(p->nframes > 0);
    if (!strstr(p->frames[p->nframes - 1], text))
        fail_msg("%s\nhas no %s", p->frames[p->nframes - 1], text);
}

/* On the wire an entry is keyed by the user id and holds only what is
 * set: no id inside, no empty state; a leave is the id alone. The host
 * API keeps the whole entry. */
static void compact_wire(void **state)
{
    fake_net net = {0};
    changes c = {0};
    fake_peer *a, *b;
    json_t *meta = json_pack("{s:i}", "seat", 3), *patch, *st;
    (void)state;
    presence_hub(&net, &c);
    a = fake_open(&net);
    b = fake_open(&net);
    set_user(net.hub, a, "alice", "Alice");
    set_user(net.hub, b, "bob", NULL);
    assert_int_equal(room_presence_join(net.hub, a->conn, "r", meta, NULL), 0);
    json_decref(meta);
    assert_int_equal(room_presence_flush(net.hub), 1);
    assert_int_equal(room_presence_join(net.hub, b->conn, "r", NULL, NULL), 0);
    assert_int_equal(room_presence_flush(net.hub), 2);
    last_frame_has(b, "{\"room\":\"r\",\"members\":{\"alice\":{\"name\":\"Alice\",\"info\":{\"seat\":3}},\"bob\":{}}}");
    last_frame_has(a, "{\"room\":\"r\",\"joins\":{\"bob\":{}},\"leaves\":[]}");
    patch = json_pack("{s:i}", "x", 1);
    assert_int_equal(room_presence_update(net.hub, b->conn, "r", patch, NULL), 0);
    json_decref(patch);
    assert_int_equal(room_presence_flush(net.hub), 2);
    last_frame_has(a, "\"joins\":{\"bob\":{\"state\":{\"x\":1}}},\"leaves\":[]");
    /* Back to an empty state: back to the bare entry. */
    patch = json_pack("{s:n}", "x");
    assert_int_equal(room_presence_update(net.hub, b->conn, "r", patch, NULL), 0);
    json_decref(patch);
    assert_int_equal(room_presence_flush(net.hub), 2);
    last_frame_has(a, "\"joins\":{\"bob\":{}}");
    st = room_presence_state(net.hub, "r");
    patch = json_pack("{s:s,s:{}}", "id", "bob", "state");
    assert_true(json_equal(json_object_get(st, "bob"), patch));
    json_decref(patch);
    assert_string_equal(json_string_value(json_object_get(json_object_get(st, "alice"), "id")), "alice");
    json_decref(st);
    fake_close(&net, b);
    assert_int_equal(room_presence_flush(net.hub), 1);
    last_frame_has(a, "{\"room\":\"r\",\"joins\":{},\"leaves\":[\"bob\"]}");
    fake_close(&net, a);
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
        cmocka_unit_test(flushed_once_per_room),
        cmocka_unit_test(adapter_hook),
        cmocka_unit_test(diff_interval),
        cmocka_unit_test(diff_budget_spacing),
        cmocka_unit_test(views_converge),
        cmocka_unit_test(opaque_codec),
        cmocka_unit_test(compact_wire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
