/* The rooms protocol's history (docs/protocol-rooms.md, "History"): the
 * `message` events of rooms with history carry their offset and epoch, and
 * `history` replays what a member missed since {offset, epoch}, or says
 * why it cannot (too old, wrong epoch) with the room's current position,
 * never a part of it; in a cluster the answer may wait for the cluster's
 * log (room_history_request()). Built on room/history.h only. */
#include <stdbool.h>
#include <string.h>

#include "room/history.h"
#include "rooms_history.h"

int rm_rooms_history_relay(room_hub *hub, const char *room, json_t *msg, const room_event *ev,
                           const room_conn *except)
{
    return room_history_send_args(hub, room, "message", &msg, 1, ev->attachments,
                                  ev->attachment_count, except, json_object_get(msg, "data"), NULL);
}

/* The i-th positional argument, or member `key` of a lone object argument
 * (rooms.c reads arguments the same way). */
static json_t *arg(const room_event *ev, size_t i, const char *key)
{
    json_t *first = json_array_get(ev->args, 0);
    if (json_is_object(first) && json_array_size(ev->args) == 1)
        return json_object_get(first, key);
    return json_array_get(ev->args, i);
}

/* `since`: absent or null (everything kept), or {"offset": integer >= 0,
 * "epoch": string}. */
static bool read_since(json_t *v, room_history_pos *since, bool *given)
{
    json_t *offset, *epoch;
    const char *e;
    *given = false;
    if (!v || json_is_null(v))
        return true;
    offset = json_object_get(v, "offset");
    epoch = json_object_get(v, "epoch");
    if (!json_is_object(v) || !json_is_integer(offset) || json_integer_value(offset) < 0 ||
        !(e = json_string_value(epoch)) || strlen(e) > ROOM_EPOCH_MAX)
        return false;
    since->offset = (uint64_t)json_integer_value(offset);
    strcpy(since->epoch, e);
    *given = true;
    return true;
}

/* {"room", "offset", "epoch"}: where the room's history stands. */
static json_t *position(const char *room, const room_history_pos *pos)
{
    return json_pack("{s:s,s:I,s:s}", "room", room, "offset", (json_int_t)pos->offset, "epoch",
                     pos->epoch);
}

/* The answer, now (this node's copy answered) or once the cluster's log
 * did: the messages went out before it. */
static void history_done(room_hub *hub, room_conn *conn, const room_event *ev, const char *room,
                         int n, const room_history_pos *now, void *ud)
{
    json_t *data;
    (void)ud;
    if (!conn || !ev)
        return; /* the asker left */
    if (n == ROOM_ENOTFOUND) {
        room_fail(hub, conn, ev, n, "that room keeps no history");
        return;
    }
    if (n == ROOM_ETOOOLD || n == ROOM_EEPOCH) {
        /* The client starts over from the current position: tell it. */
        if (!(data = position(room, now)) ||
            json_object_set_new(data, "code", json_string(room_error_name(n))) != 0 ||
            json_object_set_new(data, "event", json_string(ev->name)) != 0) {
            json_decref(data);
            room_fail(hub, conn, ev, ROOM_ENOMEM, NULL);
            return;
        }
        room_reply_new(hub, conn, ev, "error", room_response_new(room_strerror(n), data));
        return;
    }
    if (n < 0) {
        room_fail(hub, conn, ev, n, NULL);
        return;
    }
    if (!(data = position(room, now)) || json_object_set_new(data, "count", json_integer(n)) != 0 ||
        json_object_set_new(data, "event", json_string(ev->name)) != 0) {
        json_decref(data);
        room_fail(hub, conn, ev, ROOM_ENOMEM, NULL);
        return;
    }
    room_reply_new(hub, conn, ev, NULL, room_response_new("History", data));
}

static int on_history(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *room = json_string_value(arg(ev, 0, "room"));
    room_history_pos since;
    bool given;
    (void)ud;
    memset(&since, 0, sizeof since);
    if (!room)
        return room_fail(hub, conn, ev, ROOM_EPROTO, "history needs a room name");
    if (!read_since(arg(ev, 1, "since"), &since, &given))
        return room_fail(hub, conn, ev, ROOM_EPROTO,
                         "since must be {\"offset\": a number >= 0, \"epoch\": a string}");
    if (!room_is_member(hub, conn, room))
        return ROOM_ENOTMEMBER;
    /* In a cluster the answer may come later: history_done() gives it. */
    return room_history_request(hub, conn, ev, room, given ? &since : NULL, history_done, NULL);
}

int rm_rooms_history_register(room_hub *hub)
{
    return room_on(hub, "history", on_history, NULL);
}
