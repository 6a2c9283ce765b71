/* roomd --protocol diffy: one room per pull request, "pr:<id>"
 * (docs/protocol-diffy.md). Events go out raw, without the SocketResponse
 * envelope, as Diffy's clients expect; only errors use it (room_fail).
 *
 * The connection's data is its identity (auth.h, a JSON object whose userId
 * is its username): from the connect (a signed token, or a userId the
 * client declared), or else made by its first successful join; kept until
 * it disconnects. With a token, the username is the token's: a request
 * naming another is refused, as are joins to rooms the token does not
 * list.
 *
 * "joined" and "left" go out at once; "user-count" and "active-users" are
 * sent by proto_diffy_flush(), once per room however many joins and leaves
 * it had since the last flush. A roster to every member on every join
 * would make a burst of k joins cost O(k^2) bytes per member: 1000 joins to
 * one pull request sent 3.3 GB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Usernames travel in every active-users list: keep them bounded. */
#define USERNAME_MAX 128

/* A checked {pullRequestId, username, ...} payload. */
typedef struct request {
    json_t *body;
    json_int_t id;
    const char *username;
    char room[32]; /* "pr:" and at most 19 digits */
} request;

static const char *username_of(const room_conn *conn)
{
    return json_string_value(json_object_get(room_conn_data(conn), "userId"));
}

static int parse(room_hub *hub, room_conn *conn, const room_event *ev, request *req)
{
    json_t *id;
    const char *self = username_of(conn);

    req->body = json_array_get(ev->args, 0);
    if (!json_is_object(req->body))
        return room_fail(hub, conn, ev, ROOM_EPROTO,
                         "payload must be an object {pullRequestId, username}");
    id = json_object_get(req->body, "pullRequestId");
    if (!json_is_integer(id) || json_integer_value(id) < 0)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "pullRequestId must be a non-negative integer");
    req->username = json_string_value(json_object_get(req->body, "username"));
    if (!req->username || !req->username[0] || strlen(req->username) > USERNAME_MAX)
        return room_fail(hub, conn, ev, ROOM_EPROTO,
                         "username must be a non-empty string of at most 128 bytes");
    if (self && strcmp(self, req->username) != 0)
        return room_fail(hub, conn, ev, ROOM_EDENIED,
                         "username differs from the one this connection joined with");
    req->id = json_integer_value(id);
    snprintf(req->room, sizeof req->room, "pr:%" JSON_INTEGER_FORMAT, req->id);
    return 0;
}

static int not_joined(room_hub *hub, room_conn *conn, const room_event *ev, const request *req)
{
    char msg[64];
    snprintf(msg, sizeof msg, "not in PR room %" JSON_INTEGER_FORMAT ": join-pr-room first", req->id);
    return room_fail(hub, conn, ev, ROOM_ENOTMEMBER, msg);
}

struct proto_diffy {
    room_hub *hub;
    roomd_auth *auth;
    /* Rooms whose members changed since the last flush: room name -> true.
     * jansson's object is a set with seeded hashing and insertion order. */
    json_t *dirty;
    void (*wake)(void *arg);
    void *wake_arg;
};

typedef struct roster {
    json_t *users;
    const room_conn *gone;
} roster;

static int add_user(room_conn *conn, void *ud)
{
    roster *r = ud;
    if (conn != r->gone)
        json_array_append_new(r->users, json_string(username_of(conn)));
    return 0;
}

/* Tells the members of `room` who came or went (`event` "joined" or "left"
 * with `text`) now, and how many they are and who at the next flush.
 * `gone` is a member that is disconnecting: still in the room, but no
 * longer told (it has left by the time of the flush). */
static void announce(proto_diffy *d, const char *room, const char *event, const char *text,
                     const room_conn *gone)
{
    room_send_new(d->hub, room, event, json_string(text), gone);
    /* Without memory, this change goes unannounced until the room's next. */
    if (json_object_size(d->dirty) == 0 && d->wake)
        d->wake(d->wake_arg);
    json_object_set_new(d->dirty, room, json_true());
}

void proto_diffy_flush(proto_diffy *d)
{
    const char *room;
    json_t *v;
    json_object_foreach(d->dirty, room, v) {
        roster r = {json_array(), NULL};
        if (!r.users)
            break;
        room_members_foreach(d->hub, room, add_user, &r);
        /* An empty room has nobody to tell. */
        if (json_array_size(r.users) == 0) {
            json_decref(r.users);
            continue;
        }
        room_send_new(d->hub, room, "user-count",
                      json_pack("{sI}", "userCount", (json_int_t)json_array_size(r.users)), NULL);
        room_send_new(d->hub, room, "active-users", r.users, NULL);
    }
    json_object_clear(d->dirty);
}

static void announce_left(proto_diffy *d, const char *room, const char *username,
                          const room_conn *gone)
{
    char text[USERNAME_MAX + 40];
    /* room is "pr:<id>" */
    snprintf(text, sizeof text, "%s left PR %s", username, room + 3);
    announce(d, room, "left", text, gone);
}

static int on_join(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    char text[USERNAME_MAX + 40];
    json_t *made = NULL;
    request req;
    int rc;
    if ((rc = parse(hub, conn, ev, &req)) != 0)
        return rc;
    if (!roomd_identity_may_join(room_conn_data(conn), req.room))
        return roomd_forbid(hub, conn, ev, req.room);
    if (!room_conn_data(conn)) {
        made = json_pack("{ss}", "userId", req.username);
        if (!made)
            return ROOM_ENOMEM;
        /* Before joining, so that the roster finds it. */
        room_conn_set_data(conn, made);
    }
    if ((rc = room_join(hub, conn, req.room)) != 0) {
        if (made) {
            room_conn_set_data(conn, NULL);
            json_decref(made);
        }
        return rc;
    }
    snprintf(text, sizeof text, "%s joined PR %" JSON_INTEGER_FORMAT, req.username, req.id);
    announce(ud, req.room, "joined", text, NULL);
    return 0;
}

static int on_leave(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    request req;
    int rc;
    (void)ud;
    if ((rc = parse(hub, conn, ev, &req)) != 0)
        return rc;
    if (room_leave(hub, conn, req.room) != 0)
        return not_joined(hub, conn, ev, &req);
    announce_left(ud, req.room, req.username, NULL);
    return 0;
}

static int on_send(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *message;
    request req;
    int rc;
    (void)ud;
    if ((rc = parse(hub, conn, ev, &req)) != 0)
        return rc;
    message = json_object_get(req.body, "message");
    if (!json_is_string(message))
        return room_fail(hub, conn, ev, ROOM_EPROTO, "message must be a string");
    if (!room_is_member(hub, conn, req.room))
        return not_joined(hub, conn, ev, &req);
    rc = room_send_new(hub, req.room, "pr-room-message",
                       json_pack("{s:s,s:O}", "username", req.username, "message", message), NULL);
    return rc < 0 ? rc : 0;
}

/* typing and stop-typing: relayed under their own name to the others. */
static int on_typing(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    request req;
    int rc;
    (void)ud;
    if ((rc = parse(hub, conn, ev, &req)) != 0)
        return rc;
    if (!room_is_member(hub, conn, req.room))
        return not_joined(hub, conn, ev, &req);
    rc = room_send_new(hub, req.room, ev->name, json_pack("{ss}", "username", req.username), conn);
    return rc < 0 ? rc : 0;
}

typedef struct leaving {
    proto_diffy *d;
    room_conn *conn;
} leaving;

static int tell_left(const char *room, void *ud)
{
    leaving *l = ud;
    announce_left(l->d, room, username_of(l->conn), l->conn);
    return 0;
}

/* The identity the connection presented, if any; the refusal's reason is
 * the client's connect_error message. */
static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    proto_diffy *d = ud;
    json_t *identity;
    const char *why;
    int rc = roomd_auth_identity(d->auth, ev, &identity, &why);
    if (rc == ROOM_EDENIED)
        room_refuse(hub, conn, why, NULL);
    else if (rc == 0)
        room_conn_set_data(conn, identity);
    return rc;
}

static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *identity = room_conn_data(conn);
    leaving l = {ud, conn};
    (void)ev;
    /* No identity: it never joined a room. */
    if (!identity)
        return 0;
    room_conn_rooms_foreach(hub, conn, tell_left, &l);
    room_conn_set_data(conn, NULL);
    json_decref(identity);
    return 0;
}

int proto_diffy_register(room_hub *hub, roomd_auth *auth, void (*wake)(void *arg), void *wake_arg,
                         proto_diffy **out)
{
    static const room_handler_entry handlers[] = {
        {"connect", on_connect},
        {"join-pr-room", on_join},
        {"leave-pr-room", on_leave},
        {"send-message-to-pr-room", on_send},
        {"typing", on_typing},
        {"stop-typing", on_typing},
        {"disconnect", on_disconnect},
    };
    proto_diffy *d = malloc(sizeof *d);
    int rc;
    *out = NULL;
    if (!d || !(d->dirty = json_object())) {
        free(d);
        return ROOM_ENOMEM;
    }
    d->hub = hub;
    d->auth = auth;
    d->wake = wake;
    d->wake_arg = wake_arg;
    if ((rc = room_on_many(hub, handlers, sizeof handlers / sizeof handlers[0], d)) != 0) {
        proto_diffy_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void proto_diffy_free(proto_diffy *d)
{
    if (!d)
        return;
    json_decref(d->dirty);
    free(d);
}
