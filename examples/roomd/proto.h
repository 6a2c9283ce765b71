/* The protocols roomd speaks besides the library's own "rooms". Each one is
 * a set of room_on() handlers built on the public API only. */
#ifndef ROOMD_PROTO_H
#define ROOMD_PROTO_H

#include "room/room.h"

/* Pull-request rooms (docs/protocol-diffy.md). */
int proto_diffy_register(room_hub *hub);
/* Classroom rooms with identities from the CONNECT auth payload
 * (docs/protocol-classroom.md). */
int proto_classroom_register(room_hub *hub);
/* join(room) and send(room, payload) -> msg(payload), for the benchmark. */
int proto_bench_register(room_hub *hub);

#endif
