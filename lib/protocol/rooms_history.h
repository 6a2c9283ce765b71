/* The rooms protocol's history request (rooms_history.c), for rooms.c.
 * Not installed. */
#ifndef ROOM_PROTOCOL_ROOMS_HISTORY_H
#define ROOM_PROTOCOL_ROOMS_HISTORY_H

#include "room/room.h"

/* Registers `history` on `hub`: 0 or ROOM_ENOMEM. */
int rm_rooms_history_register(room_hub *hub);
/* The `message` event `msg` ({"msg", "data"}, borrowed) to `room`, with
 * the offset and epoch of the room's history in its data when it has
 * history: the number of deliveries or a negative code. */
int rm_rooms_history_relay(room_hub *hub, const char *room, json_t *msg, const room_event *ev,
                           const room_conn *except);

#endif
