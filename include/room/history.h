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
 * ROOM_ESTORAGE, ROOM_ENOMEM. The connection need not be a member: the
 * protocol decides who may read. */
ROOM_API int room_history_replay(room_hub *hub, room_conn *conn, const char *room,
                                 const room_history_pos *since, room_history_pos *now_out);

/* `room`'s current position: the last offset given (0 when none) and the
 * epoch. Errors: ROOM_EINVAL, ROOM_ENAME, ROOM_ENOTFOUND (no history),
 * ROOM_ESTORAGE, ROOM_ENOMEM. */
ROOM_API int room_history_position(room_hub *hub, const char *room, room_history_pos *pos_out);

/* Visits the kept messages after offset `after`, oldest first: offset and
 * frame (borrowed for the visit; room_frame_ref() to keep). The callback
 * returns non-zero to stop (that value is returned) and may only read and
 * send. Errors: those of room_history_position(). */
typedef int (*room_history_visit_fn)(uint64_t offset, room_frame *frame, void *ud);
ROOM_API int room_history_foreach(room_hub *hub, const char *room, uint64_t after,
                                  room_history_visit_fn fn, void *ud);

#ifdef __cplusplus
}
#endif

#endif
