/*
 * libroom-protocol: the library's own rooms protocol (join, leave, send,
 * broadcast, direct; docs/protocol-rooms.md), an application protocol built
 * only on libroom's public API. A host that wants it registers it on a hub;
 * the core knows nothing of it.
 */
#ifndef ROOM_PROTOCOL_H
#define ROOM_PROTOCOL_H

#include "room/protocol_export.h"
#include "room/room.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Registers the protocol's handlers (room_on_many()) and its "disconnect"
 * handler on `hub`. Returns 0, ROOM_EINVAL (NULL hub) or ROOM_ENOMEM (the
 * handlers registered before the failure stay registered). */
ROOM_PROTOCOL_API int room_protocol_rooms_register(room_hub *hub);

#ifdef __cplusplus
}
#endif

#endif
