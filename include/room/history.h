/*
 * libroom: room history (docs/history.md). A room with history keeps the
 * last messages sent to it with room_history_send_args(), each with an
 * offset that only grows and the room's epoch, and a member that comes back
 * (a reload) asks for what it missed since {offset, epoch}: it gets those
 * messages in order, or an explicit "too old" / "wrong epoch" answer, never
 * a silent partial result (Centrifugo's model).
 *
 * Which rooms: those matching room_storage_config.history_rooms, and those
 * given limits with room_history_set(). Limits: the last N messages and/or
 * none older than T ms of hub time, and a cap in bytes. The messages are
 * the frames the members got, kept once (a reference to the shared
 * frame), counted in room_hub_memory(). With a store (room/storage.h) the
 * history and its epoch survive a restart; without one, a restart (a new
 * hub) starts every room at a new epoch.
 *
 * Threading, ownership and errors follow room/room.h. These calls may be
 * made from handlers; not from the storage callbacks or store functions.
 */
#ifndef ROOM_HISTORY_H
#define ROOM_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "room/room.h"
#include "room/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A place in a room's history: the offset of a message (0: before the
 * first) in the run of offsets named by `epoch` (NUL-terminated). */
typedef struct room_history_pos {
    uint64_t offset;
    char epoch[ROOM_EPOCH_MAX + 1];
} room_history_pos;

/* One room's limits. Initialise with room_history_limits_init(); 0 fields
 * take the defaults of room_storage_config (history_messages, history_ms,
 * history_bytes). */
typedef struct room_history_limits {
    size_t size; /* sizeof(room_history_limits), set by room_history_limits_init() */
    uint32_t max_messages;
    uint32_t max_age_ms;
    size_t max_bytes;
} room_history_limits;

#define ROOM_HISTORY_LIMITS_SIZE_MIN (offsetof(room_history_limits, max_bytes) + sizeof(size_t))

static inline void room_history_limits_init(room_history_limits *limits)
{
    memset(limits, 0, sizeof *limits);
    limits->size = sizeof *limits;
}

/* Gives `room` history with `limits` (NULL: the defaults), or new limits
 * to a room that has it (applied at once: messages past them leave).
 * Opens the room's state (loading it from the store). Errors: ROOM_EINVAL
 * (NULL hub, limits->size below the minimum), ROOM_ENAME, ROOM_ELIMIT
 * (max_rooms), ROOM_ESTORAGE (could not be loaded), ROOM_ENOMEM. */
ROOM_API int room_history_set(room_hub *hub, const char *room, const room_history_limits *limits);
/* 1 when `room` has history (by pattern or room_history_set()), else 0. */
ROOM_API int room_history_enabled(room_hub *hub, const char *room);

/* room_send_args() that, in a room with history, gives the message the
 * room's next offset and keeps it. When `stamp` (borrowed, a JSON object,
 * may be NULL) is given, the hub sets its members "offset" (a JSON
 * integer) and "epoch" (a string) to the message's position before
 * encoding: pass the object inside argv that clients read (the rooms
 * protocol passes its message's "data"), so that every member, and every
 * later replay, sees where the message sits. *pos_out (optional) gets the
 * position. In a room without history this is room_send_args(): stamp is
 * left alone and pos_out->offset is 0. Returns the number of deliveries.
 * With a cluster adapter that owns history offsets (adapter.h,
 * history_publish) the message goes through the cluster's log and comes
 * back to every node, this one included: the call returns the number of
 * local members that will get it, and pos_out stays zero (the offset is
 * not known yet); while the adapter cannot publish, the message is
 * delivered here at once under an epoch of this node's.
 * Errors: those of room_send_args(), ROOM_EINVAL (stamp not an object),
 * ROOM_ELIMIT (max_rooms), ROOM_ESTORAGE (the store failed: nothing was
 * sent), ROOM_ENOMEM (nothing was sent or kept). */
ROOM_API int room_history_send_args(room_hub *hub, const char *room, const char *event,
                                    json_t *const *argv, size_t argc,
                                    const room_bytes *attachments, size_t attachment_count,
                                    const room_conn *except, json_t *stamp,
                                    room_history_pos *pos_out);

/* Sends `conn` the kept messages of `room` after `since` (NULL, or offset
 * 0 with an empty epoch: every kept message), in offset order, as the very
 * frames the members got (room_send_frame()). It never sends part of what
 * was asked: either every message after since.offset is still kept, or
 * nothing is sent and the answer says why. *now_out (optional) gets the
 * room's current position (last offset and epoch), also on ROOM_EEPOCH and
 * ROOM_ETOOOLD, so that the client can start over from it. Returns the
 * number of messages sent. Errors: ROOM_EINVAL (NULL hub or conn),
 * ROOM_ENAME, ROOM_ENOTFOUND (the room has no history), ROOM_EEPOCH (since
 * names another epoch, whose messages are gone; or an offset past the last
 * one given in this epoch, which is not a position of this run either),
 * ROOM_ETOOOLD (messages after since.offset have left the history),
 * ROOM_ESTORAGE (also: in a cluster, this node's copy is not whole for
 * `since`; room_history_request() then asks the cluster's log),
 * ROOM_ENOMEM. The connection need not be a member: the protocol decides
 * who may read. */
ROOM_API int room_history_replay(room_hub *hub, room_conn *conn, const char *room,
                                 const room_history_pos *since, room_history_pos *now_out);

/* `room`'s current position: the last offset given (0 when none) and the
 * epoch (in a cluster: of this node's copy). Errors: ROOM_EINVAL, ROOM_ENAME, ROOM_ENOTFOUND (no history),
 * ROOM_ESTORAGE, ROOM_ENOMEM. */
ROOM_API int room_history_position(room_hub *hub, const char *room, room_history_pos *pos_out);

/* Visits the kept messages after offset `after`, oldest first: offset and
 * frame (borrowed for the visit; room_frame_ref() to keep). The callback
 * returns non-zero to stop (that value is returned) and may only read and
 * send. Errors: those of room_history_position(). */
typedef int (*room_history_visit_fn)(uint64_t offset, room_frame *frame, void *ud);
ROOM_API int room_history_foreach(room_hub *hub, const char *room, uint64_t after,
                                  room_history_visit_fn fn, void *ud);

/* ---- answering later, and in a cluster (docs/history.md "In a cluster") ---- */

/* The answer to room_history_request(): `result` is the number of messages
 * sent, or a negative code as for room_history_replay() (ROOM_ESTORAGE
 * also when the cluster's log could not be reached); `now` (NULL on
 * errors other than ROOM_EEPOCH and ROOM_ETOOOLD) is the room's position.
 * `ev` is the request's event as the hub kept it (name, arguments, ack
 * id: room_reply_*() answers it), or NULL when none was given. `conn` is
 * NULL when the connection left the room or closed first, or the hub is
 * being freed: then only release `ud`. Otherwise the callback may do what
 * a handler may. */
typedef void (*room_history_done_fn)(room_hub *hub, room_conn *conn, const room_event *ev,
                                     const char *room, int result, const room_history_pos *now,
                                     void *ud);

/* room_history_replay() whose answer may come later: `done` runs exactly
 * once, inside the call on a single node (or when this node's copy of the
 * room answers), later when the cluster adapter must ask the cluster's log
 * (room_adapter.history_fetch). The messages are sent before `done` runs;
 * live messages of the room that arrive meanwhile reach `conn` after them,
 * none twice and none skipped. `ev` (optional, borrowed) is kept for
 * `done` so that the handler that got it can answer it later. While the
 * answer is pending, `conn` must stay a member of `room`: leaving or
 * closing ends the wait (`done` with conn NULL). Returns 0 when `done`
 * will run (or ran); else an argument error and `done` does not run:
 * ROOM_EINVAL, ROOM_ENAME, ROOM_ENOTMEMBER (pending answers need
 * membership), ROOM_ENOMEM. */
ROOM_API int room_history_request(room_hub *hub, room_conn *conn, const room_event *ev,
                                  const char *room, const room_history_pos *since,
                                  room_history_done_fn done, void *ud);

/* ---- for cluster adapters --------------------------------------------------
 * A cluster adapter with history_publish and history_fetch owns the offsets
 * of history rooms: every node, the publisher included, delivers a history
 * room's messages when the adapter hands them back, in offset order, and
 * keeps a copy. docs/history.md, "In a cluster", says what an adapter must
 * guarantee. */

/* A message from the cluster's log. Everything is borrowed for the call. */
typedef struct room_history_item {
    uint64_t offset;
    uint64_t age_ms; /* how long ago the log kept it (fetched items), for the age limit */
    const char *event;
    json_t *const *argv;
    size_t argc;
    const room_bytes *attachments;
    size_t attachment_count;
    json_t *stamp; /* the object in argv that gets "offset" and "epoch", or NULL */
} room_history_item;

/* A live message of `room` at `pos`, to this hub's members except
 * `except_id` (may be NULL), and into this node's copy (once: a fetch may
 * have put it there before it came live). `item` NULL: the room's history
 * starts again after `pos` (a new epoch). A position that does not follow
 * the copy's last one starts the copy again there. The hub writes the
 * position into item->stamp. Returns the number of deliveries, or
 * ROOM_EINVAL, ROOM_ENAME, ROOM_ENOMEM. */
ROOM_API int room_history_deliver_remote(room_hub *hub, const char *room,
                                         const room_history_pos *pos, const char *except_id,
                                         const room_history_item *item);
/* The answer to history_fetch `request`: `status` 0 with the log's position
 * `now`, `floor` (messages at or below it have left the log) and the kept
 * items after the request's since.offset in offset order (none when the
 * epoch differs or since.offset is out of range); or a negative status
 * (the log could not be reached). Unknown requests are ignored (the asker
 * left). Returns 0 or ROOM_EINVAL. */
ROOM_API int room_history_fetched(room_hub *hub, uint64_t request, int status,
                                  const room_history_pos *now, uint64_t floor,
                                  const room_history_item *items, size_t count);
/* A message the adapter took (history_publish returned 0) but could not
 * publish after all: delivered here as when history_publish fails, under
 * an epoch of this node's, so that no client takes this node's messages
 * for the cluster's history. Returns as room_history_deliver_remote(). */
ROOM_API int room_history_unpublished(room_hub *hub, const char *room, const char *except_id,
                                      const room_history_item *item);
/* The live messages of `room` (NULL: of every room) stopped reaching this
 * node (the bus went away): its copy answers no request alone until a
 * message that follows it, or a fetch, proves it whole again. */
ROOM_API void room_history_interrupted(room_hub *hub, const char *room);

#ifdef __cplusplus
}
#endif

#endif
