/* roomd --protocol classroom (docs/protocol-classroom.md). Identity and
 * room come with the Socket.IO CONNECT auth payload {room, ID, role, name},
 * or, key by key, from the query parameters of the connection; every server
 * event is a SocketResponse {msg, data}.
 *
 * Each connection is in two rooms: "c:<room>", the class, and
 * "u:<ID>:<room>", its user's own, which turns a message to an ID into one
 * room_send(). The prefixes keep a class name from ever naming another
 * user's room.
 *
 * Several connections may share an ID (two tabs, or a reconnect while the
 * old connection is still timing out). The user is present while any of
 * them is: the others hear user-connected for the first one and
 * user-disconnected after the last one, messages to the ID reach all of
 * them, and initial-response lists the ID once. They must agree on role and
 * name; a connection claiming the ID with different ones is refused.
 *
 * With a secret (auth.h), ID, role and name are the signed token's (its
 * userId a whole decimal number): a connection declaring others is refused,
 * as is one whose token does not list its class. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Leaves room for the prefixes within the hub's default 128-byte limit on
 * room names. */
#define CLASS_NAME_MAX 100

typedef struct member {
    json_t *info;              /* {"ID", "role", "name"}, as presence events carry it */
    json_int_t id;
    char klass[CLASS_NAME_MAX + 3]; /* "c:<room>" */
    char user[CLASS_NAME_MAX + 25]; /* "u:<ID>:<room>" */
} member;

static void user_room(char *out, size_t size, json_int_t id, const member *in)
{
    snprintf(out, size, "u:%" JSON_INTEGER_FORMAT ":%s", id, in->klass + 2);
}

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
    user_room(m->user, sizeof m->user, m->id, m);
    return m;
}

static void member_free(member *m)
{
    json_decref(m->info);
    free(m);
}

static int first_member(room_conn *conn, void *ud)
{
    *(const member **)ud = room_conn_data(conn);
    return 1;
}

/* Everyone in the class once per ID, the new user included. */
typedef struct roster {
    json_t *users;
    json_t *seen; /* IDs listed so far, as keys */
} roster;

static int add_user(room_conn *conn, void *ud)
{
    const member *m = room_conn_data(conn);
    roster *r = ud;
    char key[24];
    snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, m->id);
    if (!json_object_get(r->seen, key)) {
        json_object_set_new(r->seen, key, json_true());
        json_array_append(r->users, m->info);
    }
    return 0;
}

static void greet(room_hub *hub, room_conn *conn, const member *m)
{
    roster r = {json_array(), json_object()};
    if (r.users && r.seen) {
        room_members_foreach(hub, m->klass, add_user, &r);
        room_emit_new(hub, conn, "initial-response", room_response_new("Connected users", r.users));
        r.users = NULL;
    }
    json_decref(r.users);
    json_decref(r.seen);
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
    const member *peer = NULL;
    const char *why = NULL;
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
    room_members_foreach(hub, m->user, first_member, &peer);
    if (peer && !json_equal(peer->info, m->info)) {
        member_free(m);
        return refuse(hub, conn, "that ID is already connected with another role or name");
    }
    /* Before joining, so that the roster finds it. */
    room_conn_set_data(conn, m);
    if ((rc = room_join(hub, conn, m->klass)) != 0 || (rc = room_join(hub, conn, m->user)) != 0) {
        room_leave_all(hub, conn);
        room_conn_set_data(conn, NULL);
        member_free(m);
        return refuse(hub, conn, room_strerror(rc));
    }
    greet(hub, conn, m);
    if (!peer)
        room_send_new(hub, m->klass, "user-connected",
                      room_response_new("New user connected", json_incref(m->info)), conn);
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

static int on_message(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const member *self = room_conn_data(conn);
    json_t *to = json_array_get(ev->args, 1), *msg;
    char room[sizeof self->user], why[64];
    int rc;
    (void)ud;

    if (!json_is_integer(to))
        return room_fail(hub, conn, ev, ROOM_EPROTO, "userID must be an integer");
    if ((rc = build_message(hub, conn, ev, &msg)) != 0)
        return rc;
    user_room(room, sizeof room, json_integer_value(to), self);
    rc = room_send_new(hub, room, "message", msg, NULL);
    if (rc == 0) {
        snprintf(why, sizeof why, "no user with ID %" JSON_INTEGER_FORMAT " in this room",
                 json_integer_value(to));
        return room_fail(hub, conn, ev, ROOM_ENOTFOUND, why);
    }
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

static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    member *m = room_conn_data(conn);
    (void)ev;
    (void)ud;
    /* Still in its rooms: the last connection of its ID is leaving. */
    if (room_member_count(hub, m->user) == 1)
        room_send_new(hub, m->klass, "user-disconnected",
                      room_response_new("User disconnected", json_incref(m->info)), conn);
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
    return room_on_many(hub, handlers, sizeof handlers / sizeof handlers[0], auth);
}
