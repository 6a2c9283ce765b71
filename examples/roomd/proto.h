/* The protocols roomd speaks besides the library's own "rooms". Each one is
 * a set of room_on() handlers built on the public API only. */
#ifndef ROOMD_PROTO_H
#define ROOMD_PROTO_H

#include "auth.h"
#include "room/room.h"

/* Pull-request rooms (docs/protocol-diffy.md). Identities (auth.h, `auth`
 * borrowed for the hub's life): a connection's username is its identity's
 * userId when it has one, and it joins only the rooms its identity allows.
 * Turns on the hub's presence (room_presence_enable(), with diffy's own
 * events), keyed by username; each room's "user-count" and "active-users"
 * go out at the hub's presence flush, once per changed room per loop tick,
 * so that a burst of joins costs one roster per member, not one per join. */
int proto_diffy_register(room_hub *hub, roomd_auth *auth);
/* Classroom rooms with identities from the CONNECT auth payload
 * (docs/protocol-classroom.md), or with auth->key from a signed token
 * (`auth` borrowed for the hub's life). Turns on the hub's presence, keyed
 * by ID, with the classroom's own events. */
int proto_classroom_register(room_hub *hub, roomd_auth *auth);
/* join(room) and send(room, payload) -> msg(payload), for the benchmark. */
int proto_bench_register(room_hub *hub);
/* Sails' virtual requests (docs/protocol-sails.md): get/post/... events
 * answered through the acknowledgement with {body, headers, statusCode},
 * on the routes of the Sails example controller. Its connections' data is
 * its own. The host serves it with Engine.IO v3 allowed, as Sails does
 * (sails.io.js ships socket.io-client 2). */
int proto_sails_register(room_hub *hub);

#endif
