/*
 * libroom-protocol: the library's own rooms protocol (join, leave, send,
 * broadcast, direct; docs/protocol-rooms.md), an application protocol built
 * only on libroom's public API. A host that wants it registers it on a hub;
 * the core knows nothing of it.
 */
#ifndef ROOM_PROTOCOL_H
#define ROOM_PROTOCOL_H

#include "room/presence.h"
#include "room/protocol_export.h"
#include "room/room.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flags of room_protocol_rooms_register_flags(). */
enum {
    /* Lets every client `broadcast` to every connection of the hub (a
     * null room). Off, such a request is refused with ROOM_EDENIED: a
     * message sent to all is a message queued for all, so one client could
     * fill every connection's output bound and have the slow readers closed
     * (40 messages of 900 KB closed 50 clients). Grant it on a hub whose
     * clients are trusted (an admin namespace) or small. */
    ROOM_PROTOCOL_ROOMS_HUB_BROADCAST = 1 << 0,
    /* Presence (docs/protocol-rooms.md, "Presence"): `join` enters the
     * room's presence with room_presence_join() (authorization, metadata,
     * the `presence` snapshot), and `update-presence`, `typing` and
     * `stop-typing` are served. The host turns presence on first, with
     * room_presence_enable() and a config from
     * room_protocol_rooms_presence_config(); without it, `join` fails with
     * ROOM_EINVAL. */
    ROOM_PROTOCOL_ROOMS_PRESENCE = 1 << 1,
};

/* room_presence_config_init() plus the protocol's event names:
 * `presence`, `presence-diff`, `typing`, `stop-typing`, and diffs spaced by
 * 100 ms (`diff_ms`) and 10 000 frames a second per room (`diff_budget`).
 * The host may then
 * set typing_ms, max_state_bytes and the callbacks before
 * room_presence_enable(). */
ROOM_PROTOCOL_API void room_protocol_rooms_presence_config(room_presence_config *config);

/* Registers the protocol's handlers (room_on_many()) and its "disconnect"
 * handler on `hub`, with `flags` (ROOM_PROTOCOL_ROOMS_*). Returns 0,
 * ROOM_EINVAL (NULL hub, unknown flags) or ROOM_ENOMEM (the handlers
 * registered before the failure stay registered). */
ROOM_PROTOCOL_API int room_protocol_rooms_register_flags(room_hub *hub, unsigned flags);
/* room_protocol_rooms_register_flags() with no flags: hub-wide broadcast
 * refused. */
ROOM_PROTOCOL_API int room_protocol_rooms_register(room_hub *hub);

/* The protocol's "disconnect" handler (`member-left` to the rooms the
 * connection was in, but for those it is in with presence, whose diffs
 * tell), for a host that registers a "disconnect" handler of its own after
 * the protocol's, which replaces it: call this from it. `ud` is unused. Returns 0 or what room_conn_rooms_foreach() returns. */
ROOM_PROTOCOL_API int room_protocol_rooms_disconnect(room_hub *hub, room_conn *conn,
                                                     const room_event *ev, void *ud);

#ifdef __cplusplus
}
#endif

#endif
