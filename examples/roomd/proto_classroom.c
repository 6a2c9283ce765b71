/* roomd --protocol classroom (docs/protocol-classroom.md). Identity and
 * room come with the Socket.IO CONNECT auth payload {room, ID, role, name},
 * or, key by key, from the query parameters of the connection; every server
 * event is a SocketResponse {msg, data}.
 *
 * A connection is in one room, "c:<room>", its class, and speaks for the
 * user "<ID>" in the core's presence (room/presence.h), which keys the
 * class's members on it. Several connections may share an ID (two tabs, or
 * a reconnect while the old connection is still timing out): presence makes
 * them one user, so the others hear user-connected for the first one and
 * user-disconnected after the last one, initial-response lists the ID once,
 * and a message to the ID reaches all of them. They must agree on role and
 * name; a connection claiming the ID with different ones is refused.
 *
 * Each connection is also in "u:<ID>:<room>", its user's inbox in the
 * class (an ID has no ':', so no two inboxes share a name, and clients
 * join no rooms of their own): a message to an ID is one room_send() to
 * it, encoded once, and over a cluster (docs/cluster.md) published once to
 * the nodes serving that inbox, whose per-room subscriptions keep the
 * others out. Whether the ID is in the class anywhere is presence's
 * answer, which is cluster-wide.
 *
 * With a secret (auth.h), ID, role and name are the signed token's (its
 * userId a whole decimal number): a connection declaring others is refused,
 * as is one whose token does not list its class. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "room/presence.h"

/* Leaves room for the prefixes within the hub's default 128-byte limit on
 * room names. */
#define CLASS_NAME_MAX 100

typedef struct member {
    json_t *info;              /* {"ID", "role", "name"}, as presence events carry it */
    json_int_t id;
    char user[24];             /* the ID in decimal: the presence key */
    char klass[CLASS_NAME_MAX + 3]; /* "c:<room>" */
    char inbox[CLASS_NAME_MAX + 27]; /* "u:<ID>:<room>" */
} member;

static int refuse(room_hub *hub, room_conn *conn, const char *why)
{
    room_refuse(hub, conn, why, NULL);
    return ROOM_EDENIED;
}

static int valid_role(const char *role)
{
    return role && (strcmp(role, "ADMIN") == 0 || strcmp(role, "TEACHER") == 0 ||
                    strcmp(role, "STUDENT") == 0);
}

/* A query parameter is a string: ID=42 becomes the integer 42 when it is
 * one whole decimal number, and stays a string (refused) otherwise. */
static json_t *query_value(json_t *v, int integer)
{
    const char *s = json_string_value(v);
    char *end;
    long long n;
    if (!integer || !s || !*s)
        return json_incref(v);
    errno = 0;
    n = strtoll(s, &end, 10);
    return *end || errno ? json_incref(v) : json_integer(n);
}

/* {room, ID, role, name}: each key from the auth payload, or else from the
 * query. A new object, or NULL when out of memory. */
static json_t *identity(json_t *auth, json_t *query)
{
    static const char *const keys[] = {"room", "ID", "role", "name"};
    json_t *id = json_object();
    size_t i;
    for (i = 0; id && i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(auth, keys[i]);
        v = v ? json_incref(v) : query_value(json_object_get(query, keys[i]), i == 1);
        if (v && json_object_set_new(id, keys[i], v) != 0) {
            json_decref(id);
            id = NULL;
        }
    }
    return id;
}

static const char *check_auth(json_t *auth, json_t *id)
{
    const char *room = json_string_value(json_object_get(id, "room"));
    const char *name = json_string_value(json_object_get(id, "name"));

    if (auth && !json_is_null(auth) && !json_is_object(auth))
        return "auth must be an object {room, ID, role, name}";
    if (!room || !room[0])
        return "room must be a non-empty string";
    if (strlen(room) > CLASS_NAME_MAX)
        return "room must be at most 100 bytes";
    if (!json_is_integer(json_object_get(id, "ID")))
        return "ID must be an integer";
    if (!valid_role(json_string_value(json_object_get(id, "role"))))
        return "role must be one of ADMIN, TEACHER, STUDENT";
    if (!name || !name[0])
        return "name must be a non-empty string";
    return NULL;
}

static member *member_new(json_t *auth)
{
    member *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    m->id = json_integer_value(json_object_get(auth, "ID"));
    m->info = json_pack("{s:I,s:O,s:O}", "ID", m->id, "role", json_object_get(auth, "role"), "name",
                        json_object_get(auth, "name"));
    if (!m->info) {
        free(m);
        return NULL;
    }
    snprintf(m->klass, sizeof m->klass, "c:%s", json_string_value(json_object_get(auth, "room")));
    snprintf(m->user, sizeof m->user, "%" JSON_INTEGER_FORMAT, m->id);
    snprintf(m->inbox, sizeof m->inbox, "u:%s:%s", m->user, m->klass + 2);
    return m;
}

static void member_free(member *m)
{
    json_decref(m->info);
    free(m);
}

static int first_conn(room_conn *conn, void *ud)
{
    *(room_conn **)ud = conn;
    return 1;
}

/* {"ID", "role", "name"} of a presence member: its ID is the key, role and
 * name those of its first connection (all of them agree). */
static json_t *user_info_new(const char *user, json_t *entry)
{
    return json_pack("{s:I,s:O,s:O}", "ID", (json_int_t)strtoll(user, NULL, 10), "role",
                     json_object_get(entry, "role"), "name", json_object_get(entry, "name"));
}

static int add_user(const room_presence_member *m, void *ud)
{
    return json_array_append_new(ud, user_info_new(m->user_id, m->entry)) ? ROOM_ENOMEM : 0;
}

/* Everyone in the class once per ID, the new user included. */
static void greet(room_hub *hub, room_conn *conn, const member *m)
{
    json_t *users = json_array();
    if (users && room_presence_foreach(hub, m->klass, add_user, users) == 0)
        room_emit_new(hub, conn, "initial-response", room_response_new("Connected users", users));
    else
        json_decref(users);
}

/* The others in the class hear of a user's first connection and of its
 * last one's going; further connections change nothing they see. */
static void on_presence(room_hub *hub, const char *room, const char *user,
                        room_presence_change change, room_conn *conn, json_t *entry, void *ud)
{
    (void)ud;
    /* A disconnecting connection is still in the class: not told. */
    if (change == ROOM_PRESENCE_JOIN)
        room_send_new(hub, room, "user-connected",
                      room_response_new("New user connected", user_info_new(user, entry)), conn);
    else if (change == ROOM_PRESENCE_LEAVE)
        room_send_new(hub, room, "user-disconnected",
                      room_response_new("User disconnected", user_info_new(user, entry)), conn);
}

/* {ID, role, name} from the verified `token` into `id`, refusing any the
 * client declared otherwise. */
static const char *from_token(json_t *token, json_t *id)
{
    static const char *const keys[] = {"ID", "role", "name"};
    const char *user = json_string_value(json_object_get(token, "userId"));
    json_t *v[3];
    size_t i;
    char *end;
    long long n;

    errno = 0;
    n = strtoll(user, &end, 10);
    if (*end || errno || !(*user >= '0' && *user <= '9'))
        return "the token's userId must be a whole decimal number";
    v[0] = json_integer(n);
    v[1] = json_incref(json_object_get(token, "role"));
    v[2] = json_incref(json_object_get(token, "name"));
    for (i = 0; i < 3; i++) {
        json_t *declared = json_object_get(id, keys[i]);
        if (declared && !json_equal(declared, v[i]))
            break;
    }
    if (i < 3 || !v[0]) {
        for (i = 0; i < 3; i++)
            json_decref(v[i]);
        return v[0] ? "ID, role and name come from the token" : room_strerror(ROOM_ENOMEM);
    }
    /* Absent from the token: check_auth() then says which is missing. */
    for (i = 0; i < 3; i++) {
        if (!v[i])
            json_object_del(id, keys[i]);
        else if (json_object_set_new(id, keys[i], v[i]) != 0) {
            while (++i < 3)
                json_decref(v[i]);
            return room_strerror(ROOM_ENOMEM);
        }
    }
    return NULL;
}

static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    roomd_auth *a = ud;
    json_t *auth = json_array_get(ev->args, 0);
    json_t *id = identity(auth, json_array_get(ev->args, 1));
    json_t *token = NULL;
    room_conn *peer = NULL;
    const char *why = NULL;
    room_user user;
    member *m;
    int rc;

    if (!id)
        return ROOM_ENOMEM;
    if (a->key) {
        if ((rc = roomd_auth_identity(a, ev, &token, &why)) == ROOM_ENOMEM) {
            json_decref(id);
            return rc;
        }
        if (!why)
            why = from_token(token, id);
    }
    if (!why)
        why = check_auth(auth, id);
    if (!why && token && !roomd_identity_may_join(token, json_string_value(json_object_get(id, "room"))))
        why = "the token does not allow this room";
    json_decref(token);
    m = why ? NULL : member_new(id);
    json_decref(id);
    if (why)
        return refuse(hub, conn, why);
    if (!m)
        return ROOM_ENOMEM;
    room_presence_user_conns_foreach(hub, m->klass, m->user, first_conn, &peer);
    if (peer && !json_equal(((const member *)room_conn_data(peer))->info, m->info)) {
        member_free(m);
        return refuse(hub, conn, "that ID is already connected with another role or name");
    }
    /* A resumed connection (recovery) is back in its class but not in its
     * presence, which it left at the drop (the others heard
     * user-disconnected): it enters again, as a new connection. */
    if (room_conn_recovered(conn))
        room_leave_all(hub, conn);
    room_user_init(&user);
    user.id = m->user;
    user.role = json_string_value(json_object_get(m->info, "role"));
    user.name = json_string_value(json_object_get(m->info, "name"));
    if ((rc = room_conn_set_user(hub, conn, &user)) != 0 ||
        (rc = room_join(hub, conn, m->inbox)) != 0 ||
        (rc = room_presence_join(hub, conn, m->klass, NULL, NULL)) != 0) {
        room_leave(hub, conn, m->inbox);
        room_conn_set_user(hub, conn, NULL);
        member_free(m);
        return rc == ROOM_ENOMEM ? rc : refuse(hub, conn, room_strerror(rc));
    }
    room_conn_set_data(conn, m);
    greet(hub, conn, m);
    return 0;
}

/* The SocketResponse {"msg": "New message", "data": {"from": <sender ID>,
 * "message": {"type", "value"}}} for the message in ev->args[0]. */
static int build_message(room_hub *hub, room_conn *conn, const room_event *ev, json_t **out)
{
    const member *self = room_conn_data(conn);
    json_t *body = json_array_get(ev->args, 0);
    json_t *type = json_object_get(body, "type"), *value = json_object_get(body, "value");
    json_t *data;

    if (!json_is_string(type) || !value)
        return room_fail(hub, conn, ev, ROOM_EPROTO,
                         "message must be an object {type, value} with a string type");
    data = json_pack("{s:I,s:{s:O,s:O}}", "from", self->id, "message", "type", type, "value", value);
    *out = data ? room_response_new("New message", data) : NULL;
    return *out ? 0 : ROOM_ENOMEM;
}

static int is_user(const room_presence_member *m, void *ud)
{
    return strcmp(m->user_id, ud) == 0;
}

/* Whether the user with that ID is in the class on any node: at once when
 * it has a connection here, else from the members other nodes told of. */
static int in_class(room_hub *hub, const char *klass, const char *user)
{
    room_conn *peer = NULL;
    room_presence_user_conns_foreach(hub, klass, user, first_conn, &peer);
    return peer || room_presence_foreach(hub, klass, is_user, (void *)user) == 1;
}

/* To every connection of the user with that ID in the sender's class, on
 * every node: to its inbox. */
static int on_message(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const member *self = room_conn_data(conn);
    json_t *to = json_array_get(ev->args, 1);
    json_t *msg;
    char user[24], inbox[sizeof self->inbox], why[64];
    int rc;
    (void)ud;

    if (!json_is_integer(to))
        return room_fail(hub, conn, ev, ROOM_EPROTO, "userID must be an integer");
    if ((rc = build_message(hub, conn, ev, &msg)) != 0)
        return rc;
    snprintf(user, sizeof user, "%" JSON_INTEGER_FORMAT, json_integer_value(to));
    if (!in_class(hub, self->klass, user)) {
        json_decref(msg);
        snprintf(why, sizeof why, "no user with ID %s in this room", user);
        return room_fail(hub, conn, ev, ROOM_ENOTFOUND, why);
    }
    snprintf(inbox, sizeof inbox, "u:%s:%s", user, self->klass + 2);
    rc = room_send_new(hub, inbox, "message", msg, NULL);
    return rc < 0 ? rc : 0;
}

static int on_broadcast(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const member *self = room_conn_data(conn);
    json_t *msg;
    int rc;
    (void)ud;
    if ((rc = build_message(hub, conn, ev, &msg)) != 0)
        return rc;
    rc = room_send_new(hub, self->klass, "message", msg, conn);
    return rc < 0 ? rc : 0;
}

/* The class is left after this, by the core: presence then says
 * user-disconnected from its own entry, so the member can go now. */
static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    member *m = room_conn_data(conn);
    (void)hub;
    (void)ev;
    (void)ud;
    room_conn_set_data(conn, NULL);
    member_free(m);
    return 0;
}

int proto_classroom_register(room_hub *hub, roomd_auth *auth)
{
    static const room_handler_entry handlers[] = {
        {"connect", on_connect},
        {"message", on_message},
        {"broadcast-message", on_broadcast},
        {"disconnect", on_disconnect},
    };
    room_presence_config presence;
    int rc;
    /* No event names: the classroom's wire format is its own (on_presence). */
    room_presence_config_init(&presence);
    presence.change = on_presence;
    if ((rc = room_presence_enable(hub, &presence)) != 0)
        return rc;
    return room_on_many(hub, handlers, sizeof handlers / sizeof handlers[0], auth);
}
