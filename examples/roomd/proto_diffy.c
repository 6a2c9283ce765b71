/* roomd --protocol diffy: one room per pull request, "pr:<id>"
 * (docs/protocol-diffy.md). Events go out raw, without the SocketResponse
 * envelope, as Diffy's clients expect; only errors use it (room_fail).
 *
 * The connection's data is its identity (auth.h, a JSON object whose userId
 * is its username): from the connect (a signed token, or a userId the
 * client declared), or else made by its first successful join; kept until
 * it disconnects. With a token, the username is the token's: a request
 * naming another is refused, as are joins to rooms the token does not
 * list. The username is also the connection's user in the core's presence
 * (room/presence.h), which keys each room's members on it: two tabs of
 * alice are one user, counted and listed once, joining with the first and
 * leaving with the last.
 *
 * "joined" and "left" go out at once; "user-count" and "active-users" at
 * the core's presence flush (the `flushed` callback, once per loop tick),
 * once per room however many users came or went in it since the last. A
 * roster to every member on every join would make a burst of k joins cost
 * O(k^2) bytes per member: 1000 joins to one pull request sent 3.3 GB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "room/presence.h"

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

/* "<username> joined PR <id>" for room "pr:<id>". */
static json_t *notice_new(const char *username, const char *verb, const char *room)
{
    char text[USERNAME_MAX + 40];
    snprintf(text, sizeof text, "%s %s PR %s", username, verb, room + 3);
    return json_string(text);
}

static int add_user(const room_presence_member *m, void *ud)
{
    return json_array_append_new(ud, json_string(m->user_id)) ? ROOM_ENOMEM : 0;
}

/* Users, not connections: two tabs of alice are one "alice". NULL when out
 * of memory. */
static json_t *active_users_new(room_hub *hub, const char *room)
{
    json_t *users = json_array();
    if (users && room_presence_foreach(hub, room, add_user, users) != 0) {
        json_decref(users);
        users = NULL;
    }
    return users;
}

/* "user-count" then "active-users" to `conn`, or to the whole room when
 * conn is NULL. */
static void send_roster(room_hub *hub, const char *room, room_conn *conn)
{
    json_t *count, *users = active_users_new(hub, room);
    if (!users)
        return;
    count = json_pack("{sI}", "userCount", (json_int_t)json_array_size(users));
    if (conn) {
        room_emit_new(hub, conn, "user-count", count);
        room_emit_new(hub, conn, "active-users", users);
    } else {
        room_send_new(hub, room, "user-count", count, NULL);
        room_send_new(hub, room, "active-users", users, NULL);
    }
}

/* The presence flush: a room whose users changed since the last one.
 * Empty, it has nobody to tell. */
static void on_flushed(room_hub *hub, const char *room, void *ud)
{
    (void)ud;
    if (room_presence_user_count(hub, room))
        send_roster(hub, room, NULL);
}

/* `event` {"username": user} to the room's members that are not `user`
 * (none of its tabs): one encoding when the user has one connection
 * there, as is usual. */
typedef struct others {
    room_hub *hub;
    const char *user;
    const char *event;
    json_t *payload;
    room_conn *only; /* the user's connection, while it has one */
    size_t count;    /* its connections */
} others;

static int count_conn(room_conn *conn, void *ud)
{
    others *o = ud;
    o->only = conn;
    o->count++;
    return 0;
}

static int emit_other(room_conn *conn, void *ud)
{
    others *o = ud;
    const char *user = room_conn_user_id(o->hub, conn);
    if (!user || strcmp(user, o->user) != 0)
        room_emit(o->hub, conn, o->event, o->payload);
    return 0;
}

static void send_to_others(room_hub *hub, const char *room, const char *user, const char *event,
                           room_conn *typist)
{
    others o = {hub, user, event, json_pack("{ss}", "username", user), NULL, 0};
    if (!o.payload)
        return;
    room_presence_user_conns_foreach(hub, room, user, count_conn, &o);
    /* None left: the typist is leaving, and a disconnecting connection is
     * still in the room. */
    if (o.count <= 1)
        room_send(hub, room, event, o.payload, o.count ? o.only : typist);
    else
        room_members_foreach(hub, room, emit_other, &o);
    json_decref(o.payload);
}

/* Presence speaks diffy: a user's first connection to a PR is "joined" to
 * everyone, its last one's going "left" to those remaining; a further tab
 * hears its own "joined" and gets the roster, and nobody else hears of it.
 * Typing is relayed to the other users, and its end (explicit, after 5 s
 * without typing, or the typist gone) as "stop-typing". */
static void on_presence(room_hub *hub, const char *room, const char *user,
                        room_presence_change change, room_conn *conn, json_t *entry, void *ud)
{
    (void)entry;
    (void)ud;
    switch (change) {
    case ROOM_PRESENCE_JOIN:
        room_send_new(hub, room, "joined", notice_new(user, "joined", room), NULL);
        break;
    case ROOM_PRESENCE_CONN_JOIN:
        /* The room's users did not change: no flush for it, unless others
         * came or went in this tick too (then this tab gets two rosters,
         * the last one the room's). */
        room_emit_new(hub, conn, "joined", notice_new(user, "joined", room));
        send_roster(hub, room, conn);
        break;
    case ROOM_PRESENCE_LEAVE:
        /* A disconnecting connection is still in the room: not told. */
        room_send_new(hub, room, "left", notice_new(user, "left", room), conn);
        break;
    case ROOM_PRESENCE_TYPING:
        send_to_others(hub, room, user, "typing", conn);
        break;
    case ROOM_PRESENCE_STOP_TYPING:
        send_to_others(hub, room, user, "stop-typing", conn);
        break;
    default:
        break;
    }
}

static int on_join(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *made = NULL;
    request req;
    int rc;
    (void)ud;
    if ((rc = parse(hub, conn, ev, &req)) != 0)
        return rc;
    if (!roomd_identity_may_join(room_conn_data(conn), req.room))
        return roomd_forbid(hub, conn, ev, req.room);
    if (!room_conn_data(conn)) {
        if (!(made = json_pack("{ss}", "userId", req.username)))
            return ROOM_ENOMEM;
        if ((rc = roomd_auth_set_user(hub, conn, made)) != 0) {
            json_decref(made);
            return rc;
        }
        room_conn_set_data(conn, made);
    }
    if ((rc = room_presence_join(hub, conn, req.room, NULL, ev)) != 0 && made) {
        room_conn_set_user(hub, conn, NULL);
        room_conn_set_data(conn, NULL);
        json_decref(made);
    }
    return rc;
}

static int on_leave(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    request req;
    int rc;
    (void)ud;
    if ((rc = parse(hub, conn, ev, &req)) != 0)
        return rc;
    /* Presence says "left" when this was the user's last connection. */
    if (room_leave(hub, conn, req.room) != 0)
        return not_joined(hub, conn, ev, &req);
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

/* typing (re)starts the user's idle timer, stop-typing ends it; presence
 * relays both (on_presence). */
static int on_typing(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    request req;
    int rc;
    (void)ud;
    if ((rc = parse(hub, conn, ev, &req)) != 0)
        return rc;
    if (!room_is_member(hub, conn, req.room))
        return not_joined(hub, conn, ev, &req);
    return strcmp(ev->name, "typing") == 0 ? room_typing(hub, conn, req.room)
                                           : room_typing_stop(hub, conn, req.room);
}

static int add_name(const char *room, void *ud)
{
    return json_array_append_new(ud, json_string(room)) ? ROOM_ENOMEM : 0;
}

/* A resumed connection (recovery) is back in its rooms but not in their
 * presence, which it left at the drop (the others heard "left"). With the
 * username it connects with, it enters each again ("joined"); without one
 * (it was made by a join, and forgotten at the drop), it leaves them. */
static int resume(room_hub *hub, room_conn *conn)
{
    json_t *rooms = json_array(), *v;
    size_t i;
    int rc = rooms ? room_conn_rooms_foreach(hub, conn, add_name, rooms) : ROOM_ENOMEM;
    json_array_foreach(rooms, i, v) {
        room_leave(hub, conn, json_string_value(v));
        if (rc == 0 && room_conn_user_id(hub, conn))
            rc = room_presence_join(hub, conn, json_string_value(v), NULL, NULL);
    }
    json_decref(rooms);
    return rc;
}

/* The identity the connection presented, if any; the refusal's reason is
 * the client's connect_error message. */
static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *identity;
    const char *why;
    int rc = roomd_auth_identity(ud, ev, &identity, &why);
    if (rc == ROOM_EDENIED)
        room_refuse(hub, conn, why, NULL);
    if (rc != 0)
        return rc;
    if (identity && (rc = roomd_auth_set_user(hub, conn, identity)) != 0) {
        json_decref(identity);
        return rc;
    }
    room_conn_set_data(conn, identity);
    return room_conn_recovered(conn) ? resume(hub, conn) : 0;
}

/* Leaving the rooms is the core's, after this: presence says "left" with
 * the user's id, so the identity can go now. */
static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *identity = room_conn_data(conn);
    (void)hub;
    (void)ev;
    (void)ud;
    room_conn_set_data(conn, NULL);
    json_decref(identity);
    return 0;
}

int proto_diffy_register(room_hub *hub, roomd_auth *auth)
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
    room_presence_config presence;
    int rc;
    /* No event names: diffy's wire format is its own (on_presence,
     * on_flushed). */
    room_presence_config_init(&presence);
    presence.change = on_presence;
    presence.flushed = on_flushed;
    if ((rc = room_presence_enable(hub, &presence)) != 0)
        return rc;
    return room_on_many(hub, handlers, sizeof handlers / sizeof handlers[0], auth);
}
