/* protocol_rooms.c: the library's own protocol over the JSON codec. */
#include <string.h>

#include "room/protocol.h"
#include "test_util.h"

static json_t *last_data(const fake_peer *p, const char *event)
{
    json_t *d = NULL;
    for (long i = fake_find(p, event, 0); i >= 0; i = fake_find(p, event, (size_t)i + 1)) {
        json_t *j = fake_json(p, (size_t)i);
        json_decref(d);
        d = json_incref(json_object_get(j, "data"));
        json_decref(j);
    }
    return d;
}

static void join_send_leave(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b, *c;
    json_t *d;
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    a = fake_open(&net);
    b = fake_open(&net);
    c = fake_open(&net);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"lobby\"}"), 0);
    d = last_data(a, "result");
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "Joined room");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "data"), "members")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "event")), "join");
    json_decref(d);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"join\",\"data\":{\"room\":\"lobby\"}}"), 0);
    d = last_data(a, "member-joined");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "id")),
                        room_conn_id(b->conn));
    json_decref(d);
    assert_int_equal(fake_count(b, "member-joined"), 0); /* not to the joiner */

    /* send: everyone in the room, sender included; not outsiders. */
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"send\",\"data\":{\"room\":\"lobby\",\"data\":{\"t\":\"hi\"}}}"), 0);
    for (int i = 0; i < 2; i++) {
        fake_peer *p = i ? b : a;
        d = last_data(p, "message");
        assert_string_equal(json_string_value(json_object_get(d, "msg")), "Message");
        assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "from")),
                            room_conn_id(a->conn));
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(json_object_get(d, "data"), "data"), "t")), "hi");
        json_decref(d);
    }
    assert_int_equal(c->nframes, 0);
    d = last_data(a, "result");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "data"), "delivered")), 2);
    json_decref(d);

    /* send to a room one is not in */
    assert_int_equal(fake_recv(&net, c, "{\"event\":\"send\",\"data\":{\"room\":\"lobby\",\"data\":1}}"), 0);
    assert_error_code(c, "not_member");
    assert_int_equal(fake_count(a, "message"), 1);

    /* broadcast: the room minus the sender; or the hub minus the sender. */
    fake_clear(a);
    fake_clear(b);
    fake_clear(c);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"broadcast\",\"data\":{\"room\":\"lobby\",\"data\":2}}"), 0);
    assert_int_equal(fake_count(a, "message"), 0);
    assert_int_equal(fake_count(b, "message"), 1);
    assert_int_equal(fake_count(c, "message"), 0);
    /* To the whole hub only when the host granted it. */
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"broadcast\",\"data\":{\"data\":3}}"), 0);
    assert_error_code(a, "denied");
    assert_int_equal(fake_count(b, "message"), 1);
    assert_int_equal(fake_count(c, "message"), 0);
    assert_int_equal(room_protocol_rooms_register_flags(net.hub, 1u << 7), ROOM_EINVAL);
    assert_int_equal(room_protocol_rooms_register_flags(net.hub, ROOM_PROTOCOL_ROOMS_HUB_BROADCAST), 0);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"broadcast\",\"data\":{\"data\":3}}"), 0);
    assert_int_equal(fake_count(a, "message"), 0);
    assert_int_equal(fake_count(b, "message"), 2);
    assert_int_equal(fake_count(c, "message"), 1);
    assert_int_equal(fake_recv(&net, c, "{\"event\":\"broadcast\",\"data\":{\"room\":5}}"), 0);
    assert_error_code(c, "bad_message");

    /* direct */
    {
        char msg[128];
        snprintf(msg, sizeof msg, "{\"event\":\"direct\",\"data\":{\"to\":\"%s\",\"data\":\"psst\"}}",
                 room_conn_id(c->conn));
        assert_int_equal(fake_recv(&net, a, msg), 0);
        d = last_data(c, "message");
        assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "data")), "psst");
        json_decref(d);
        assert_int_equal(fake_recv(&net, a, "{\"event\":\"direct\",\"data\":{\"to\":\"nobody\"}}"), 0);
        assert_error_code(a, "not_found");
    }

    /* leave: the remaining members hear it; leaving twice is an error. */
    fake_clear(a);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"leave\",\"data\":\"lobby\"}"), 0);
    assert_int_equal(fake_count(a, "member-left"), 1);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"leave\",\"data\":\"lobby\"}"), 0);
    assert_error_code(b, "not_member");
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"join\",\"data\":\"\"}"), 0);
    assert_error_code(b, "bad_room_name");

    /* disconnect: the remaining members hear member-left. */
    fake_clear(a);
    assert_int_equal(fake_recv(&net, c, "{\"event\":\"join\",\"data\":\"lobby\"}"), 0);
    fake_close(&net, c);
    assert_int_equal(fake_count(a, "member-left"), 1);
    fake_close(&net, a);
    fake_close(&net, b);
    assert_int_equal(room_count(net.hub), 0);
    room_hub_free(net.hub);
}

static void acks_carry_results(void **state)
{
    fake_net net = {0};
    fake_peer *a;
    json_t *j;
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    a = fake_open(&net);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"r\",\"id\":1}"), 0);
    j = fake_json(a, 0);
    assert_int_equal(json_integer_value(json_object_get(j, "ack")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "data"), "msg")), "Joined room");
    json_decref(j);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"r\",\"id\":2}"), 0);
    j = fake_json(a, 1);
    assert_int_equal(json_integer_value(json_object_get(j, "ack")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(j, "data"), "data"), "code")),
        "already_member");
    json_decref(j);
    fake_close(&net, a);
    room_hub_free(net.hub);
}

/* send, broadcast and direct forward every data argument; echo answers
 * with all of its own. */
static void several_arguments(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    json_t *j;
    char msg[160];
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"echo\",\"args\":[1,\"2\",{\"three\":3}],\"id\":4}"), 0);
    assert_string_equal(a->frames[0], "{\"ack\":4,\"data\":1,\"args\":[1,\"2\",{\"three\":3}]}");
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"echo\",\"args\":[\"x\",\"y\"]}"), 0);
    assert_string_equal(a->frames[1], "{\"event\":\"result\",\"data\":\"x\",\"args\":[\"x\",\"y\"]}");
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"echo\",\"id\":5}"), 0);
    assert_string_equal(a->frames[2], "{\"ack\":5,\"data\":null}");

    fake_clear(a);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    fake_clear(a);
    fake_clear(b);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"send\",\"args\":[\"r\",1,\"2\",{\"three\":3}]}"), 0);
    j = fake_event_data(b, "message");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "data")), 1);
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "data"), "args")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(j, "data"), "args"), 1)),
                        "2");
    json_decref(j);
    /* One data argument: no "args", as before. */
    fake_clear(b);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"broadcast\",\"args\":[\"r\",7]}"), 0);
    j = fake_event_data(b, "message");
    assert_null(json_object_get(json_object_get(j, "data"), "args"));
    json_decref(j);
    fake_clear(b);
    snprintf(msg, sizeof msg, "{\"event\":\"direct\",\"args\":[\"%s\",true,false]}", room_conn_id(b->conn));
    assert_int_equal(fake_recv(&net, a, msg), 0);
    j = fake_event_data(b, "message");
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "data"), "args")), 2);
    json_decref(j);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

/* ---- presence (ROOM_PROTOCOL_ROOMS_PRESENCE) ------------------------------ */

/* Refuses room "secret" with a reason; attaches an object metadata as the
 * member's info. */
static int authorize(room_hub *hub, room_conn *conn, const char *room, json_t *metadata,
                     room_join_verdict *verdict, void *ud)
{
    (void)hub;
    (void)conn;
    (void)ud;
    if (strcmp(room, "secret") == 0) {
        verdict->reason = "members only";
        return ROOM_EFORBIDDEN;
    }
    if (json_is_object(metadata))
        verdict->info = json_incref(metadata);
    return 0;
}

/* Refuses a state whose "status" is not a string. */
static int validate(room_hub *hub, room_conn *conn, const char *room, json_t *state,
                    const char **message, void *ud)
{
    json_t *status = json_object_get(state, "status");
    (void)hub;
    (void)conn;
    (void)room;
    (void)ud;
    if (status && !json_is_string(status)) {
        *message = "status must be a string";
        return ROOM_EPROTO;
    }
    return 0;
}

static room_hub *presence_hub(fake_net *net)
{
    room_presence_config pc;
    if (!fake_hub(net, 0))
        return NULL;
    room_protocol_rooms_presence_config(&pc);
    pc.typing_ms = 1000;
    pc.max_state_bytes = 64;
    pc.authorize = authorize;
    pc.validate = validate;
    assert_int_equal(room_presence_enable(net->hub, &pc), 0);
    assert_int_equal(room_protocol_rooms_register_flags(net->hub, ROOM_PROTOCOL_ROOMS_PRESENCE), 0);
    return net->hub;
}

/* A connection speaking for `id` (what a host's connect handler does). */
static fake_peer *user_open(fake_net *net, const char *id, const char *name)
{
    fake_peer *p = fake_open(net);
    room_user u;
    assert_non_null(p);
    room_user_init(&u);
    u.id = id;
    u.name = name;
    assert_int_equal(room_conn_set_user(net->hub, p->conn, &u), 0);
    return p;
}

static json_t *diff_of(const fake_peer *p)
{
    return last_data(p, "presence-diff");
}

/* Two tabs of alice are one member: bob sees her join on the first and
 * leave after the last; the joiner gets the full state with the room. */
static void presence_multi_tab(void **state)
{
    fake_net net = {0};
    fake_peer *a1, *a2, *b;
    json_t *d, *members;
    (void)state;
    assert_non_null(presence_hub(&net));
    a1 = user_open(&net, "alice", "Alice");
    a2 = user_open(&net, "alice", "Alice");
    b = user_open(&net, "bob", NULL);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"join\",\"data\":\"lobby\"}"), 0);
    assert_int_equal(room_presence_flush(net.hub), 1);
    fake_clear(b);
    assert_int_equal(fake_recv(&net, a1, "{\"event\":\"join\",\"data\":{\"room\":\"lobby\",\"metadata\":{\"color\":\"red\"}}}"), 0);
    /* The answer with users and connections at once; the rest batched:
     * nothing for bob, no state for the joiner, until the flush. */
    d = last_data(a1, "result");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "data"), "users")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "data"), "members")), 2);
    json_decref(d);
    assert_int_equal(fake_count(b, "presence-diff"), 0);
    assert_int_equal(fake_count(a1, "presence"), 0);
    assert_int_equal(fake_recv(&net, a2, "{\"event\":\"join\",\"data\":\"lobby\"}"), 0);
    assert_int_equal(room_presence_flush(net.hub), 3);
    /* The joiners' full state, with the room's name; no diff for them. */
    assert_int_equal(fake_count(a1, "presence-diff"), 0);
    d = last_data(a1, "presence");
    assert_string_equal(json_string_value(json_object_get(d, "room")), "lobby");
    members = json_object_get(d, "members");
    assert_int_equal(json_object_size(members), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(members, "alice"), "name")), "Alice");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(members, "alice"), "info"), "color")), "red");
    /* Compact entries: the key is the id, nothing unset is sent. */
    assert_null(json_object_get(json_object_get(members, "alice"), "id"));
    assert_int_equal(json_object_size(json_object_get(members, "bob")), 0);
    json_decref(d);
    assert_int_equal(fake_count(a2, "presence"), 1);
    assert_int_equal(fake_count(b, "presence-diff"), 1);
    d = diff_of(b);
    assert_string_equal(json_string_value(json_object_get(d, "room")), "lobby");
    assert_int_equal(json_object_size(json_object_get(d, "joins")), 1);
    assert_non_null(json_object_get(json_object_get(d, "joins"), "alice"));
    assert_true(json_is_array(json_object_get(d, "leaves")));
    assert_int_equal(json_array_size(json_object_get(d, "leaves")), 0);
    json_decref(d);
    /* Presence replaces the per-connection member-joined: the diff is the
     * only frame the members got for two joins. */
    assert_int_equal(fake_count(b, "member-joined"), 0);
    assert_int_equal(b->nframes, 1);
    /* The first tab leaves: alice is still there, and nobody is told. */
    fake_clear(b);
    assert_int_equal(fake_recv(&net, a1, "{\"event\":\"leave\",\"data\":\"lobby\"}"), 0);
    room_presence_flush(net.hub);
    assert_int_equal(b->nframes, 0);
    assert_int_equal(room_presence_user_count(net.hub, "lobby"), 2);
    /* The last one drops: one leave, and no member-left. */
    fake_close(&net, a2);
    room_presence_flush(net.hub);
    assert_int_equal(b->nframes, 1);
    d = diff_of(b);
    /* A leave is the user id alone. */
    assert_int_equal(json_array_size(json_object_get(d, "leaves")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(d, "leaves"), 0)), "alice");
    assert_int_equal(json_object_size(json_object_get(d, "joins")), 0);
    json_decref(d);
    assert_int_equal(room_presence_user_count(net.hub, "lobby"), 1);
    fake_close(&net, a1);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

/* update-presence merges into the sender's own state; bad patches get a
 * clear error and change nothing. */
static void presence_updates(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b, *c;
    json_t *d, *st;
    (void)state;
    assert_non_null(presence_hub(&net));
    a = user_open(&net, "alice", NULL);
    b = user_open(&net, "bob", NULL);
    c = user_open(&net, "carol", NULL);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    room_presence_flush(net.hub);
    fake_clear(b);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update-presence\",\"args\":[\"r\",{\"cursor\":{\"x\":1,\"y\":2},\"status\":\"ok\"}]}"), 0);
    d = last_data(a, "result");
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "Presence updated");
    json_decref(d);
    /* A merge patch: null removes, objects merge; a spoofed id is just state. */
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update-presence\",\"data\":{\"room\":\"r\",\"presence\":{\"cursor\":{\"y\":null},\"status\":null,\"id\":\"bob\"}}}"), 0);
    assert_int_equal(room_presence_flush(net.hub), 2);
    assert_int_equal(fake_count(b, "presence-diff"), 1); /* batched: both patches, one frame */
    d = diff_of(b);
    st = json_object_get(json_object_get(json_object_get(d, "joins"), "alice"), "state");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "cursor"), "x")), 1);
    assert_null(json_object_get(json_object_get(st, "cursor"), "y"));
    assert_null(json_object_get(st, "status"));
    assert_string_equal(json_string_value(json_object_get(st, "id")), "bob");
    assert_null(json_object_get(json_object_get(json_object_get(d, "joins"), "alice"), "id"));
    assert_null(json_object_get(json_object_get(d, "joins"), "bob"));
    json_decref(d);
    /* Refusals: each answered, none broadcast. */
    fake_clear(b);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update-presence\",\"args\":[\"r\",{\"big\":\"0123456789012345678901234567890123456789012345678901234567890123\"}]}"), 0);
    assert_error_code(a, "too_big");
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update-presence\",\"args\":[\"r\",{\"status\":5}]}"), 0);
    assert_error_code(a, "bad_message");
    d = last_data(a, "error");
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "status must be a string");
    json_decref(d);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update-presence\",\"args\":[\"r\",[1]]}"), 0);
    assert_error_code(a, "bad_message");
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update-presence\",\"args\":[\"r\"]}"), 0);
    assert_error_code(a, "bad_message");
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update-presence\",\"args\":[7,{}]}"), 0);
    assert_error_code(a, "bad_message");
    assert_int_equal(fake_recv(&net, c, "{\"event\":\"update-presence\",\"args\":[\"r\",{\"x\":1}]}"), 0);
    assert_error_code(c, "not_member");
    /* Acks carry refusals too. */
    assert_int_equal(fake_recv(&net, c, "{\"event\":\"update-presence\",\"args\":[\"r\",{\"x\":1}],\"id\":9}"), 0);
    d = fake_json(c, c->nframes - 1);
    assert_int_equal(json_integer_value(json_object_get(d, "ack")), 9);
    json_decref(d);
    assert_int_equal(room_presence_flush(net.hub), 0);
    assert_int_equal(fake_count(b, "presence-diff"), 0);
    fake_close(&net, a);
    fake_close(&net, b);
    fake_close(&net, c);
    room_hub_free(net.hub);
}

/* typing goes to the other users (not the typist's tabs), with the
 * server's identity; stop-typing follows typing_ms of hub time after the
 * last typing, or at once when the typist leaves. */
static void typing_expiry(void **state)
{
    fake_net net = {0};
    fake_peer *a1, *a2, *b;
    json_t *d;
    (void)state;
    assert_non_null(presence_hub(&net));
    a1 = user_open(&net, "alice", "Alice");
    a2 = user_open(&net, "alice", "Alice");
    b = user_open(&net, "bob", NULL);
    room_hub_tick(net.hub, 10000);
    assert_int_equal(fake_recv(&net, a1, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_recv(&net, a2, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    /* Whatever the client claims, the typist is the server's alice. */
    assert_int_equal(fake_recv(&net, a1, "{\"event\":\"typing\",\"data\":{\"room\":\"r\",\"id\":\"bob\",\"name\":\"Bob\"}}"), 0);
    d = last_data(a1, "result");
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "Typing");
    json_decref(d);
    d = last_data(b, "typing");
    assert_string_equal(json_string_value(json_object_get(d, "room")), "r");
    assert_string_equal(json_string_value(json_object_get(d, "id")), "alice");
    assert_string_equal(json_string_value(json_object_get(d, "name")), "Alice");
    json_decref(d);
    assert_int_equal(fake_count(a2, "typing"), 0);
    /* Restarted by each typing: no stop 1000 ms after the first. */
    room_hub_tick(net.hub, 10600);
    assert_int_equal(fake_recv(&net, a2, "{\"event\":\"typing\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_count(b, "typing"), 1); /* already typing: not relayed again */
    room_hub_tick(net.hub, 11100);
    assert_int_equal(fake_count(b, "stop-typing"), 0);
    room_hub_tick(net.hub, 11600);
    assert_int_equal(fake_count(b, "stop-typing"), 1);
    d = last_data(b, "stop-typing");
    assert_string_equal(json_string_value(json_object_get(d, "id")), "alice");
    json_decref(d);
    /* Explicit stop, and stop at once when the typist leaves. */
    assert_int_equal(fake_recv(&net, a1, "{\"event\":\"typing\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_recv(&net, a1, "{\"event\":\"stop-typing\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_count(b, "stop-typing"), 2);
    d = last_data(a1, "result");
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "Stopped typing");
    json_decref(d);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"typing\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_count(a1, "typing"), 1);
    fake_close(&net, b);
    assert_int_equal(fake_count(a1, "stop-typing"), 1);
    /* Outside the room's presence. */
    assert_int_equal(fake_recv(&net, a1, "{\"event\":\"typing\",\"data\":\"elsewhere\"}"), 0);
    assert_error_code(a1, "not_member");
    assert_int_equal(fake_recv(&net, a1, "{\"event\":\"typing\",\"data\":{}}"), 0);
    assert_error_code(a1, "bad_message");
    fake_close(&net, a1);
    fake_close(&net, a2);
    room_hub_free(net.hub);
}

/* Refused joins: the reason, "forbidden", nothing joined, nobody told. */
static void refused_join(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    json_t *d;
    (void)state;
    assert_non_null(presence_hub(&net));
    a = user_open(&net, "alice", NULL);
    b = user_open(&net, "bob", NULL);
    assert_int_equal(fake_recv(&net, b, "{\"event\":\"join\",\"data\":\"secret\"}"), 0);
    assert_error_code(b, "forbidden");
    d = last_data(b, "error");
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "members only");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "event")), "join");
    json_decref(d);
    assert_int_equal(fake_count(b, "presence"), 0);
    assert_int_equal(fake_count(b, "result"), 0);
    assert_false(room_is_member(net.hub, b->conn, "secret"));
    assert_int_equal(room_presence_flush(net.hub), 0);
    assert_int_equal(a->nframes, 0);
    /* Joining twice, as before. */
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    assert_error_code(a, "already_member");
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

/* Sender fields carry the server's identity; direct reaches a user's tabs. */
static void identity_and_direct(void **state)
{
    fake_net net = {0};
    fake_peer *a1, *a2, *m, *anon;
    json_t *d;
    (void)state;
    assert_non_null(presence_hub(&net));
    a1 = user_open(&net, "alice", "Alice");
    a2 = user_open(&net, "alice", "Alice");
    m = user_open(&net, "mallory", NULL);
    anon = fake_open(&net);
    assert_int_equal(fake_recv(&net, a1, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_recv(&net, m, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    assert_int_equal(fake_recv(&net, anon, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    /* mallory writes a "from" of her own: it is overwritten. */
    assert_int_equal(fake_recv(&net, m, "{\"event\":\"send\",\"data\":{\"room\":\"r\",\"from\":\"alice\",\"name\":\"Alice\",\"data\":1}}"), 0);
    d = last_data(a1, "message");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "from")), "mallory");
    assert_null(json_object_get(json_object_get(d, "data"), "name"));
    json_decref(d);
    assert_int_equal(fake_recv(&net, a1, "{\"event\":\"broadcast\",\"args\":[\"r\",2]}"), 0);
    d = last_data(m, "message");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "from")), "alice");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "name")), "Alice");
    json_decref(d);
    /* Without a user, a connection is itself. */
    assert_int_equal(fake_recv(&net, anon, "{\"event\":\"send\",\"args\":[\"r\",3]}"), 0);
    d = last_data(m, "message");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "from")),
                        room_conn_id(anon->conn));
    json_decref(d);
    /* direct to a user: each of its connections, in rooms or not. */
    assert_int_equal(fake_recv(&net, m, "{\"event\":\"direct\",\"data\":{\"to\":\"alice\",\"data\":\"psst\"}}"), 0);
    assert_int_equal(fake_count(a1, "message"), 3); /* mallory's send, anon's, the direct */
    assert_int_equal(fake_count(a2, "message"), 1);
    d = last_data(m, "result");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "data"), "delivered")), 2);
    json_decref(d);
    d = last_data(a2, "message");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "data"), "from")), "mallory");
    assert_true(json_is_null(json_object_get(json_object_get(d, "data"), "room")));
    json_decref(d);
    assert_int_equal(fake_recv(&net, m, "{\"event\":\"direct\",\"data\":{\"to\":\"nobody\"}}"), 0);
    assert_error_code(m, "not_found");
    fake_close(&net, a1);
    fake_close(&net, a2);
    fake_close(&net, m);
    fake_close(&net, anon);
    room_hub_free(net.hub);
}

/* Without the flag the presence requests are unknown, and registering
 * again without it takes them away. */
static void presence_is_opt_in(void **state)
{
    fake_net net = {0};
    fake_peer *a;
    room_presence_config pc;
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    a = fake_open(&net);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"typing\",\"data\":\"r\"}"), ROOM_EUNKNOWN);
    assert_error_code(a, "unknown_event");
    /* The flag without presence enabled: the join fails, nothing joined. */
    assert_int_equal(room_protocol_rooms_register_flags(net.hub, ROOM_PROTOCOL_ROOMS_PRESENCE), 0);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    assert_error_code(a, "invalid_argument");
    assert_false(room_is_member(net.hub, a->conn, "r"));
    room_protocol_rooms_presence_config(&pc);
    assert_string_equal(pc.diff_event, "presence-diff");
    assert_string_equal(pc.state_event, "presence");
    assert_int_equal(room_presence_enable(net.hub, &pc), 0);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"join\",\"data\":\"r\"}"), 0);
    assert_int_equal(room_presence_flush(net.hub), 1);
    assert_int_equal(fake_count(a, "presence"), 1);
    assert_int_equal(room_protocol_rooms_register(net.hub), 0);
    assert_int_equal(fake_recv(&net, a, "{\"event\":\"update-presence\",\"args\":[\"r\",{}]}"), ROOM_EUNKNOWN);
    assert_error_code(a, "unknown_event");
    fake_close(&net, a);
    room_hub_free(net.hub);
}

/* A presence session through the protocol with each hub allocation failing
 * in turn: nothing leaks, and the hub stays consistent. */
static void presence_fail_nth_allocation(void **state)
{
    (void)state;
    for (size_t n = 1;; n++) {
        fake_net net = {0};
        fake_peer *p[3];
        size_t failures;
        assert_non_null(presence_hub(&net));
        net.alloc.fail_at = net.alloc.allocs + n;
        for (int i = 0; i < 3; i++) {
            p[i] = fake_open(&net);
            if (p[i]) {
                room_user u;
                room_user_init(&u);
                u.id = i == 2 ? "bob" : "alice";
                room_conn_set_user(net.hub, p[i]->conn, &u);
                fake_recv(&net, p[i], "{\"event\":\"join\",\"data\":\"r\"}");
            }
        }
        if (p[0]) {
            fake_recv(&net, p[0], "{\"event\":\"update-presence\",\"args\":[\"r\",{\"x\":1}]}");
            fake_recv(&net, p[0], "{\"event\":\"typing\",\"data\":\"r\"}");
        }
        room_presence_flush(net.hub);
        for (int i = 0; i < 3; i++) {
            if (p[i])
                fake_close(&net, p[i]);
        }
        room_presence_flush(net.hub);
        assert_int_equal(room_count(net.hub), 0);
        failures = net.alloc.failures;
        room_hub_free(net.hub);
        assert_int_equal(net.alloc.allocs, net.alloc.frees);
        if (!failures)
            break;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(join_send_leave),
        cmocka_unit_test(acks_carry_results),
        cmocka_unit_test(several_arguments),
        cmocka_unit_test(presence_multi_tab),
        cmocka_unit_test(presence_updates),
        cmocka_unit_test(typing_expiry),
        cmocka_unit_test(refused_join),
        cmocka_unit_test(identity_and_direct),
        cmocka_unit_test(presence_is_opt_in),
        cmocka_unit_test(presence_fail_nth_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
