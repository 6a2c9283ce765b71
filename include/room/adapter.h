/*
 * libroom: the cluster adapter seam.
 *
 * The hub always delivers to its own connections itself; the adapter carries
 * what must reach other nodes: broadcasts (as already encoded frames) and
 * operations on connections that live elsewhere. The local adapter (the
 * default) has no other nodes. An adapter receiving traffic from other nodes
 * feeds it back with room_hub_deliver_remote() and room_join_id() /
 * room_leave_id() on the hub that holds the connection.
 */
#ifndef ROOM_ADAPTER_H
#define ROOM_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "room/room.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Like room_codec, the table starts with the size it was built with; the
 * hub refuses one below ROOM_ADAPTER_SIZE_MIN, copies the first `size`
 * bytes once at room_hub_new() (later changes to the table are not seen)
 * and never reads past them. The hub passes the adapter's own pointer to
 * its functions. */
struct room_adapter {
    size_t size; /* sizeof(room_adapter) the adapter was built with */
    const char *name;
    void *state;
    /* A broadcast was delivered locally; forward it. `room` NULL means every
     * connection. `except_id` may be NULL. The frame is borrowed. */
    int (*publish)(room_adapter *adapter, room_hub *hub, const char *room, const room_frame *frame,
                   const char *except_id);
    /* Join/leave for a connection id not on this node. Must call `done`
     * exactly once (possibly later) if it returns 0. NULL: there is no other
     * node, and `done` gets ROOM_ENOTFOUND. */
    int (*remote_join)(room_adapter *adapter, room_hub *hub, const char *conn_id, const char *room,
                       room_done_fn done, void *ud);
    int (*remote_leave)(room_adapter *adapter, room_hub *hub, const char *conn_id, const char *room,
                        room_done_fn done, void *ud);
    /* Frees the adapter; may be NULL. */
    void (*destroy)(room_adapter *adapter);

    /* ---- after ROOM_ADAPTER_SIZE_MIN: absent from older adapters */

    /* A presence change made on this node (room/presence.h), for the other
     * nodes: `change` is a room_presence_change, `conn_id` the connection
     * that caused it (NULL for an expiry), `entry` the user's entry as
     * members see it (borrowed for the call). NULL: single node. Runs with
     * the same restrictions as presence callbacks (no joins, leaves,
     * closes, presence changes). docs/presence.md says what an adapter
     * must carry. */
    void (*presence)(room_adapter *adapter, room_hub *hub, const char *room, const char *user_id,
                     int change, const char *conn_id, json_t *entry);
};

/* The smallest adapter table a hub accepts: the layout above. */
#define ROOM_ADAPTER_SIZE_MIN (offsetof(struct room_adapter, destroy) + sizeof(void (*)(room_adapter *)))

/* The single-node adapter: publishes nowhere, and an id that is not local
 * does not exist (ROOM_ENOTFOUND). Static; never freed. */
ROOM_API room_adapter *room_adapter_local(void);

/* Delivers a frame received from another node to this hub's members of
 * `room` (NULL: every connection) except `except_id`, without publishing it
 * again. Returns the number of deliveries or a negative code. */
ROOM_API int room_hub_deliver_remote(room_hub *hub, const char *room, int kind, const void *bytes,
                                     size_t len, const char *except_id);

#ifdef __cplusplus
}
#endif

#endif
