/* The library's own protocol (docs/protocol-rooms.md), built only on the
 * public API: a set of room_on() handlers. Each request takes its
 * arguments positionally (Socket.IO style: emit('send', room, data)) or as
 * one object (JSON codec style: {"room": .., "data": ..}). */
#include <stdlib.h>
#include <string.h>

#include "room/protocol.h"

/* The handlers' user data: this address when hub-wide broadcast is
 * granted, NULL when not. Nothing else is configurable, so nothing is
 * allocated. */
static char hub_broadcast_granted;

/* The i-th positional argument, or member `key` of a lone object argument. */
static json_t *arg(const room_event *ev, size_t i, const char *key)
{
    json_t *first = json_array_get(ev->args, 0);
    if (json_is_object(first) && json_array_size(ev->args) == 1)
        return json_object_get(first, key);
    return json_array_get(ev->args, i);
}

static const char *room_arg(const room_event *ev)
{
    return json_string_value(arg(ev, 0, "room"));
}

static int ok(room_hub *hub, room_conn *conn, const room_event *ev, const char *msg, json_t *data)
{
    if (data)
        json_object_set_new(data, "event", json_string(ev->name));
    return room_reply_new(hub, conn, ev, NULL, room_response_new(msg, data));
}

static json_t *member_event(const char *room, const room_conn *who)
{
    return json_pack("{ssss}", "room", room, "id", room_conn_id(who));
}

static int on_join(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *room = room_arg(ev);
    int rc;
    (void)ud;
    if (!room)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "join needs a room name");
    if ((rc = room_join(hub, conn, room)) != 0)
        return rc;
    room_send_new(hub, room, "member-joined", room_response_new("Member joined", member_event(room, conn)),
                  conn);
    return ok(hub, conn, ev, "Joined room",
              json_pack("{sssI}", "room", room, "members", (json_int_t)room_member_count(hub, room)));
}

static int on_leave(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *room = room_arg(ev);
    int rc;
    (void)ud;
    if (!room)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "leave needs a room name");
    if ((rc = room_leave(hub, conn, room)) != 0)
        return rc;
    room_send_new(hub, room, "member-left", room_response_new("Member left", member_event(room, conn)),
                  NULL);
    return ok(hub, conn, ev, "Left room", json_pack("{ss}", "room", room));
}

/* {"msg": "Message", "data": {"room": .., "from": .., "data": ..}}, where
 * "data" is the request's first data argument (the one after the room or
 * the id) and, when it gave more than one, "args" all of them in order. */
static json_t *message(const char *room, const room_conn *from, const room_event *ev)
{
    json_t *d = json_pack("{s:s?,s:s,s:O?}", "room", room, "from", room_conn_id(from), "data",
                          arg(ev, 1, "data"));
    size_t n = json_array_size(ev->args);
    if (d && n > 2) {
        json_t *all = json_array();
        size_t i;
        for (i = 1; all && i < n; i++) {
            if (json_array_append(all, json_array_get(ev->args, i)) != 0) {
                json_decref(all);
                all = NULL;
            }
        }
        if (json_object_set_new(d, "args", all) != 0) {
            json_decref(d);
            return NULL;
        }
    }
    return d ? room_response_new("Message", d) : NULL;
}

/* Relays a message (with the request's binary attachments, if any) to
 * `room` (NULL: the whole hub) except `except`. */
static int relay(room_hub *hub, room_conn *conn, const room_event *ev, const char *room,
                 const room_conn *except)
{
    json_t *msg = message(room, conn, ev);
    int n;
    if (!msg)
        return ROOM_ENOMEM;
    if (room)
        n = room_send_binary(hub, room, "message", msg, ev->attachments, ev->attachment_count, except);
    else
        n = room_broadcast_binary(hub, "message", msg, ev->attachments, ev->attachment_count, except);
    json_decref(msg);
    return n;
}

static int on_send(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *room = room_arg(ev);
    int n;
    (void)ud;
    if (!room)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "send needs a room name");
    if (!room_is_member(hub, conn, room))
        return ROOM_ENOTMEMBER;
    n = relay(hub, conn, ev, room, NULL);
    if (n < 0)
        return n;
    return ok(hub, conn, ev, "Sent", json_pack("{sssi}", "room", room, "delivered", n));
}

static int on_broadcast(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *room_v = arg(ev, 0, "room");
    const char *room = json_string_value(room_v);
    int n;
    if (room_v && !json_is_null(room_v) && !room)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "room must be a string or null");
    if (!room && ud != &hub_broadcast_granted)
        return room_fail(hub, conn, ev, ROOM_EDENIED,
                         "broadcast to every connection is not enabled on this server: name a room");
    if (room && !room_is_member(hub, conn, room))
        return ROOM_ENOTMEMBER;
    n = relay(hub, conn, ev, room, conn);
    if (n < 0)
        return n;
    return ok(hub, conn, ev, "Broadcast", json_pack("{s:s?,s:i}", "room", room, "delivered", n));
}

static int on_direct(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *to = json_string_value(arg(ev, 0, "to"));
    room_conn *target;
    json_t *msg;
    int rc;
    (void)ud;
    if (!to)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "direct needs a connection id in \"to\"");
    target = room_conn_find(hub, to);
    if (!target)
        return room_fail(hub, conn, ev, ROOM_ENOTFOUND, "no connection with that id");
    msg = message(NULL, conn, ev);
    if (!msg)
        return ROOM_ENOMEM;
    rc = room_emit_binary(hub, target, "message", msg, ev->attachments, ev->attachment_count);
    json_decref(msg);
    if (rc)
        return rc;
    return ok(hub, conn, ev, "Sent", json_pack("{ss}", "to", to));
}

/* Answers with every argument it was given, binary attachments included:
 * lets clients check that several arguments (and an ack callback's several
 * arguments) make it both ways. */
static int on_echo(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    size_t i, n = json_array_size(ev->args);
    json_t **argv = NULL;
    int rc;
    (void)ud;
    if (n && !(argv = malloc(n * sizeof *argv)))
        return ROOM_ENOMEM;
    for (i = 0; i < n; i++)
        argv[i] = json_array_get(ev->args, i);
    rc = room_reply_args(hub, conn, ev, NULL, argv, n, ev->attachments, ev->attachment_count);
    free(argv);
    return rc;
}

static int tell_left(const char *room, void *ud)
{
    struct {
        room_hub *hub;
        room_conn *conn;
    } *ctx = ud;
    room_send_new(ctx->hub, room, "member-left",
                  room_response_new("Member left", member_event(room, ctx->conn)), ctx->conn);
    return 0;
}

static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    struct {
        room_hub *hub;
        room_conn *conn;
    } ctx = {hub, conn};
    (void)ev;
    (void)ud;
    return room_conn_rooms_foreach(hub, conn, tell_left, &ctx);
}

int room_protocol_rooms_register_flags(room_hub *hub, unsigned flags)
{
    static const room_handler_entry handlers[] = {
        {"join", on_join},         {"leave", on_leave},   {"send", on_send},
        {"broadcast", on_broadcast}, {"direct", on_direct}, {"echo", on_echo},
        {"disconnect", on_disconnect},
    };
    if (flags & ~(unsigned)ROOM_PROTOCOL_ROOMS_HUB_BROADCAST)
        return ROOM_EINVAL;
    return room_on_many(hub, handlers, sizeof handlers / sizeof handlers[0],
                        flags & ROOM_PROTOCOL_ROOMS_HUB_BROADCAST ? &hub_broadcast_granted : NULL);
}

int room_protocol_rooms_register(room_hub *hub)
{
    return room_protocol_rooms_register_flags(hub, 0);
}
