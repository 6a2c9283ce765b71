/* The library's own protocol (docs/protocol-rooms.md), built only on the
 * public API: a set of room_on() handlers. Each request takes its
 * arguments positionally (Socket.IO style: emit('send', room, data)) or as
 * one object (JSON codec style: {"room": .., "data": ..}). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "room/adapter.h"
#include "room/protocol.h"
#include "rooms_history.h"

/* The handlers' user data: the address of the element holding the flags
 * (ROOM_PROTOCOL_ROOMS_*) they were registered with, so that nothing is
 * allocated. */
static unsigned char flag_sets[4] = {0, 1, 2, 3};

static unsigned flags_of(const void *ud)
{
    return *(const unsigned char *)ud;
}

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

/* ---- answers that wait for a count over the cluster's nodes
 * (room_hub_counts_cluster()): `join`'s members, `send`'s and `broadcast`'s
 * deliveries. The answer names its requester by id (it may be gone by
 * then); `ctx` is {"from", "ack", "event", "msg", "key", "data", "users"?}:
 * data gets key = the count, then "users" and, when some node did not
 * answer in time, "partial": true. */
static json_t *count_context(const room_conn *conn, const room_event *ev, const char *msg,
                             const char *key, json_t *data)
{
    json_t *ctx = data ? json_pack("{sssIsssssssO}", "from", room_conn_id(conn), "ack",
                                   (json_int_t)ev->ack_id, "event", ev->name, "msg", msg, "key",
                                   key, "data", data)
                       : NULL;
    json_decref(data);
    return ctx;
}

static void counted(room_hub *hub, int status, uint64_t count, int partial, void *ud)
{
    json_t *ctx = ud, *data = json_object_get(ctx, "data"), *users = json_object_get(ctx, "users");
    json_t *args;
    room_conn *from;
    room_event ev = {json_string_value(json_object_get(ctx, "event")), NULL,
                     json_integer_value(json_object_get(ctx, "ack")), NULL, 0};
    /* ROOM_ECLOSED: the hub is going, and its connections with it. */
    if (status == 0 && (from = room_conn_find(hub, json_string_value(json_object_get(ctx, "from")))) &&
        (ev.args = args = json_array()) != NULL) {
        if (json_object_set_new(data, json_string_value(json_object_get(ctx, "key")),
                                json_integer((json_int_t)count)) != 0 ||
            (users && json_object_set(data, "users", users) != 0) ||
            (partial && json_object_set_new(data, "partial", json_true()) != 0))
            room_fail(hub, from, &ev, ROOM_ENOMEM, NULL);
        else
            ok(hub, from, &ev, json_string_value(json_object_get(ctx, "msg")), json_incref(data));
        json_decref(args);
    }
    json_decref(ctx);
}

/* Who a connection speaks for, as the server knows it: its user's id (the
 * connection's id when the host set no user) in `from`, and the user's
 * name. Never anything the client wrote. */
static int put_sender(room_hub *hub, const room_conn *conn, json_t *d)
{
    const char *user = room_conn_user_id(hub, conn);
    const char *name = room_conn_user_name(hub, conn);
    if (json_object_set_new(d, "from", json_string(user ? user : room_conn_id(conn))) != 0)
        return ROOM_ENOMEM;
    if (name && json_object_set_new(d, "name", json_string(name)) != 0)
        return ROOM_ENOMEM;
    return 0;
}

/* {"room", "id": connection id, "user"?: its user's id}. */
static json_t *member_event(room_hub *hub, const char *room, const room_conn *who)
{
    return json_pack("{s:s,s:s,s:s*}", "room", room, "id", room_conn_id(who), "user",
                     room_conn_user_id(hub, who));
}

static int is_conn(room_conn *c, void *ud)
{
    return c == ud;
}

/* Whether `conn` is in `room`'s presence: there its presence diffs tell
 * the members who came and went, per user and batched per loop tick, in
 * place of member-joined / member-left (one frame per join to every member,
 * n^2 frames when n users arrive). */
static bool in_presence(room_hub *hub, room_conn *conn, const char *room)
{
    const char *user = room_conn_user_id(hub, conn);
    return room_presence_user_conns_foreach(hub, room, user ? user : room_conn_id(conn), is_conn, conn) != 0;
}

/* The answer to `join` once every node counted its members. */
static int join_counted(room_hub *hub, room_conn *conn, const room_event *ev, const char *room,
                        bool presence)
{
    json_t *ctx = count_context(conn, ev, "Joined room", "members", json_pack("{ss}", "room", room));
    int rc = ctx ? 0 : ROOM_ENOMEM;
    if (ctx && presence)
        rc = json_object_set_new(ctx, "users",
                                 json_integer((json_int_t)room_presence_user_count(hub, room)));
    if (!rc)
        rc = room_member_count_cluster(hub, room, counted, ctx);
    if (rc) {
        json_decref(ctx);
        /* Joined all the same: this node's count, which may be short. */
        return ok(hub, conn, ev, "Joined room",
                  json_pack("{sssIsb}", "room", room, "members",
                            (json_int_t)room_member_count(hub, room), "partial", 1));
    }
    return 0;
}

static int on_join(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *room = room_arg(ev);
    bool presence = flags_of(ud) & ROOM_PROTOCOL_ROOMS_PRESENCE;
    json_t *res;
    int rc;
    if (!room)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "join needs a room name");
    /* A refusal is answered by the core, with its reason and "forbidden";
     * the joiner's `presence` state goes out at the next flush. */
    rc = presence ? room_presence_join(hub, conn, room, arg(ev, 1, "metadata"), ev)
                  : room_join(hub, conn, room);
    if (rc != 0)
        return rc;
    if (!presence)
        room_send_new(hub, room, "member-joined",
                      room_response_new("Member joined", member_event(hub, room, conn)), conn);
    if (room_hub_counts_cluster(hub))
        return join_counted(hub, conn, ev, room, presence);
    res = json_pack("{sssI}", "room", room, "members", (json_int_t)room_member_count(hub, room));
    if (res && presence &&
        json_object_set_new(res, "users", json_integer((json_int_t)room_presence_user_count(hub, room))))
        res = (json_decref(res), NULL);
    return ok(hub, conn, ev, "Joined room", res);
}

static int on_leave(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *room = room_arg(ev);
    bool quiet;
    int rc;
    (void)ud;
    if (!room)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "leave needs a room name");
    quiet = in_presence(hub, conn, room);
    if ((rc = room_leave(hub, conn, room)) != 0)
        return rc;
    if (!quiet)
        room_send_new(hub, room, "member-left",
                      room_response_new("Member left", member_event(hub, room, conn)), NULL);
    return ok(hub, conn, ev, "Left room", json_pack("{ss}", "room", room));
}

/* {"msg": "Message", "data": {"room": .., "from": .., "data": ..}}, where
 * "data" is the request's first data argument (the one after the room or
 * the id) and, when it gave more than one, "args" all of them in order. */
static json_t *message(room_hub *hub, const char *room, const room_conn *from, const room_event *ev)
{
    json_t *d = json_pack("{s:s?,s:O?}", "room", room, "data", arg(ev, 1, "data"));
    size_t n = json_array_size(ev->args);
    if (d && put_sender(hub, from, d) != 0) {
        json_decref(d);
        return NULL;
    }
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
    json_t *msg = message(hub, room, conn, ev);
    int n;
    if (!msg)
        return ROOM_ENOMEM;
    if (room)
        n = rm_rooms_history_relay(hub, room, msg, ev, except);
    else
        n = room_broadcast_binary(hub, "message", msg, ev->attachments, ev->attachment_count, except);
    json_decref(msg);
    return n;
}

struct relay_step {
    room_conn *conn;
    const room_event *ev;
    const char *room;
    const room_conn *except;
};

static int relay_step(room_hub *hub, void *ud)
{
    struct relay_step *r = ud;
    return relay(hub, r->conn, r->ev, r->room, r->except);
}

/* relay(), answered with the deliveries made on every node. */
static int relay_counted(room_hub *hub, room_conn *conn, const room_event *ev, const char *room,
                         const room_conn *except, const char *msg)
{
    struct relay_step step = {conn, ev, room, except};
    json_t *ctx = count_context(conn, ev, msg, "delivered", json_pack("{s:s?}", "room", room));
    int n;
    if (!ctx)
        return ROOM_ENOMEM;
    n = room_count_deliveries(hub, relay_step, &step, counted, ctx);
    if (n < 0)
        json_decref(ctx);
    return n < 0 ? n : 0;
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
    if (room_hub_counts_cluster(hub))
        return relay_counted(hub, conn, ev, room, NULL, "Sent");
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
    if (!room && !(flags_of(ud) & ROOM_PROTOCOL_ROOMS_HUB_BROADCAST))
        return room_fail(hub, conn, ev, ROOM_EDENIED,
                         "broadcast to every connection is not enabled on this server: name a room");
    if (room && !room_is_member(hub, conn, room))
        return ROOM_ENOTMEMBER;
    if (room_hub_counts_cluster(hub))
        return relay_counted(hub, conn, ev, room, conn, "Broadcast");
    n = relay(hub, conn, ev, room, conn);
    if (n < 0)
        return n;
    return ok(hub, conn, ev, "Broadcast", json_pack("{s:s?,s:i}", "room", room, "delivered", n));
}

struct direct {
    room_hub *hub;
    const room_event *ev;
    json_t *msg;
    int delivered;
};

static int direct_one(room_conn *target, void *ud)
{
    struct direct *d = ud;
    int rc = room_emit_binary(d->hub, target, "message", d->msg, d->ev->attachments,
                              d->ev->attachment_count);
    if (rc == ROOM_ENOMEM)
        return rc;
    d->delivered += rc == 0;
    return 0;
}

/* A direct message to a connection on another node (room_emit_id()) is
 * answered when that node did it; `ctx` is {"from", "to", "ack"}. */
static void direct_remote_done(room_hub *hub, int status, void *ud)
{
    json_t *ctx = ud;
    /* ROOM_ECLOSED: the hub is going, its connections are gone already. */
    room_conn *from = status == ROOM_ECLOSED
                          ? NULL
                          : room_conn_find(hub, json_string_value(json_object_get(ctx, "from")));
    json_t *args = json_array();
    room_event ev = {"direct", args, json_integer_value(json_object_get(ctx, "ack")), NULL, 0};
    const char *to = json_string_value(json_object_get(ctx, "to"));
    if (from && args && status == 0)
        ok(hub, from, &ev, "Sent", json_pack("{ss}", "to", to));
    else if (from && args)
        room_fail(hub, from, &ev, status,
                  status == ROOM_ENOTFOUND ? "no connection or user with that id" : NULL);
    json_decref(args);
    json_decref(ctx);
}

/* `to` names a connection, or else a user: then every connection of that
 * user on this hub (its tabs) gets the message. A connection id unknown
 * here is asked of the other nodes of a cluster (without attachments). */
static int on_direct(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *to = json_string_value(arg(ev, 0, "to"));
    room_conn *target;
    struct direct d = {hub, ev, NULL, 0};
    int rc;
    (void)ud;
    if (!to)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "direct needs a connection or user id in \"to\"");
    target = room_conn_find(hub, to);
    if (!(d.msg = message(hub, NULL, conn, ev)))
        return ROOM_ENOMEM;
    if (!target && !room_user_conn_count(hub, to)) {
        json_t *ctx = json_pack("{sssssI}", "from", room_conn_id(conn), "to", to, "ack",
                                (json_int_t)ev->ack_id);
        rc = ctx ? room_emit_id(hub, to, "message", &d.msg, 1, direct_remote_done, ctx) : ROOM_ENOMEM;
        json_decref(d.msg);
        if (rc) {
            json_decref(ctx);
            return room_fail(hub, conn, ev, ROOM_ENOTFOUND, "no connection or user with that id");
        }
        return 0;
    }
    if (target)
        rc = room_emit_binary(hub, target, "message", d.msg, ev->attachments, ev->attachment_count);
    else
        rc = room_user_conns_foreach(hub, to, direct_one, &d);
    json_decref(d.msg);
    if (rc)
        return rc;
    /* To a user: how many of its connections it reached. */
    return ok(hub, conn, ev, "Sent",
              target ? json_pack("{ss}", "to", to) : json_pack("{sssi}", "to", to, "delivered", d.delivered));
}

/* update-presence room patch: an RFC 7386 merge patch of the sender's own
 * presence state in the room; the core caps, validates and answers its
 * refusals. */
static int on_update_presence(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *room = room_arg(ev);
    json_t *patch = arg(ev, 1, "presence");
    int rc;
    (void)ud;
    if (!room)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "update-presence needs a room name");
    if (!patch)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "update-presence needs a presence object");
    if ((rc = room_presence_update(hub, conn, room, patch, ev)) != 0)
        return rc;
    return ok(hub, conn, ev, "Presence updated", json_pack("{ss}", "room", room));
}

static int on_typing(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *room = room_arg(ev);
    bool stop = strcmp(ev->name, "stop-typing") == 0;
    int rc;
    (void)ud;
    if (!room)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "typing needs a room name");
    rc = stop ? room_typing_stop(hub, conn, room) : room_typing(hub, conn, room);
    if (rc != 0)
        return rc;
    return ok(hub, conn, ev, stop ? "Stopped typing" : "Typing", json_pack("{ss}", "room", room));
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
    if (in_presence(ctx->hub, ctx->conn, room))
        return 0;
    room_send_new(ctx->hub, room, "member-left",
                  room_response_new("Member left", member_event(ctx->hub, room, ctx->conn)), ctx->conn);
    return 0;
}

int room_protocol_rooms_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    struct {
        room_hub *hub;
        room_conn *conn;
    } ctx = {hub, conn};
    (void)ev;
    (void)ud;
    return room_conn_rooms_foreach(hub, conn, tell_left, &ctx);
}

void room_protocol_rooms_presence_config(room_presence_config *config)
{
    room_presence_config_init(config);
    config->state_event = "presence";
    config->diff_event = "presence-diff";
    config->typing_event = "typing";
    config->stop_typing_event = "stop-typing";
    /* Presence diffs at most ten times a second per room (Liveblocks
     * throttles presence to 100 ms too), and at most 10 000 diff frames a
     * second per room: a burst of joins into a room of 10 000 costs each
     * member a frame a second, not one per loop iteration. */
    config->diff_ms = 100;
    config->diff_budget = 10000;
}

int room_protocol_rooms_register_flags(room_hub *hub, unsigned flags)
{
    static const room_handler_entry handlers[] = {
        {"join", on_join},           {"leave", on_leave},   {"send", on_send},
        {"broadcast", on_broadcast}, {"direct", on_direct}, {"echo", on_echo},
        {"disconnect", room_protocol_rooms_disconnect},
    };
    static const room_handler_entry presence_handlers[] = {
        {"update-presence", on_update_presence},
        {"typing", on_typing},
        {"stop-typing", on_typing},
    };
    void *ud = &flag_sets[flags & 3];
    int rc;
    if (!hub || flags & ~(unsigned)(ROOM_PROTOCOL_ROOMS_HUB_BROADCAST | ROOM_PROTOCOL_ROOMS_PRESENCE))
        return ROOM_EINVAL;
    if ((rc = room_on_many(hub, handlers, sizeof handlers / sizeof handlers[0], ud)) != 0 ||
        (rc = rm_rooms_history_register(hub)) != 0)
        return rc;
    /* Registered again without presence: the requests go back to unknown
     * (removing a handler cannot fail). */
    for (size_t i = 0; i < sizeof presence_handlers / sizeof presence_handlers[0]; i++) {
        rc = room_on(hub, presence_handlers[i].event,
                     flags & ROOM_PROTOCOL_ROOMS_PRESENCE ? presence_handlers[i].fn : NULL, ud);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int room_protocol_rooms_register(room_hub *hub)
{
    return room_protocol_rooms_register_flags(hub, 0);
}
