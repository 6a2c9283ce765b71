/* The protocols roomd speaks besides the library's own "rooms". Each one is
 * a set of room_on() handlers built on the public API only. */
#ifndef ROOMD_PROTO_H
#define ROOMD_PROTO_H

#include "auth.h"
#include "room/room.h"

/* Pull-request rooms (docs/protocol-diffy.md). Identities (auth.h, `auth`
 * borrowed for the hub's life): a connection's username is its identity's
 * userId when it has one, and it joins only the rooms its identity allows.
 * Each room's "user-count"
 * and "active-users" wait for proto_diffy_flush(), so that a burst of joins
 * costs one roster per member, not one per join: when a room changes after
 * a flush, `wake(wake_arg)` asks the host to call it soon (roomd: once per
 * loop iteration, before the loop waits). Frees nothing on failure but
 * itself; the hub must then be freed unused. proto_diffy_free() after the
 * hub. */
typedef struct proto_diffy proto_diffy;
int proto_diffy_register(room_hub *hub, roomd_auth *auth, void (*wake)(void *arg), void *wake_arg,
                         proto_diffy **out);
void proto_diffy_flush(proto_diffy *d);
void proto_diffy_free(proto_diffy *d);
/* Classroom rooms with identities from the CONNECT auth payload
 * (docs/protocol-classroom.md), or with auth->key from a signed token
 * (`auth` borrowed for the hub's life). */
int proto_classroom_register(room_hub *hub, roomd_auth *auth);
/* join(room) and send(room, payload) -> msg(payload), for the benchmark. */
int proto_bench_register(room_hub *hub);

#endif
