/*
 * libroom-ws: a ready-made WebSocket transport for libroom on libuv, for
 * hosts that want WebSocket without writing it (docs/writing-a-transport.md
 * explains how it is built, for hosts that bind their own sockets).
 *
 * One room_ws_server listens on one address of one uv loop and serves
 * Socket.IO v5 (a room_eio) at /socket.io/ and/or plain JSON hubs at paths
 * of their own ("/ws"). Outbound frames are sealed with their WebSocket
 * header once and shared by every recipient; each connection's queued
 * frames leave in one writev per loop iteration.
 *
 * Wiring: configure the room_eio with room_ws_eio_config() and JSON hubs
 * with room_ws_hub_config() (they install the send, close and seal
 * callbacks), create them, mount them, listen. On exit, room_ws_shutdown(),
 * then, from its callback on, free the server before the eio and hubs.
 *
 * Same threading rules as the hub: the loop's thread only, no locks. As in
 * any libuv server, the process should ignore SIGPIPE.
 */
#ifndef ROOM_WS_H
#define ROOM_WS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "room/eio.h"
#include "room/ws_export.h"
#include "room/room.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct room_ws_server room_ws_server;

/* What to do with a connection whose unwritten output would exceed
 * max_queued_bytes. */
enum {
    ROOM_WS_SLOW_CLOSE = 0, /* close it with 1008 "slow consumer" */
    ROOM_WS_SLOW_DROP = 1   /* drop the message for that connection */
};

typedef struct room_ws_config {
    size_t size; /* sizeof(room_ws_config), set by room_ws_config_init() */

    /* Output per connection not yet written (queued or being written),
     * default 4 MiB. */
    size_t max_queued_bytes;
    int slow_policy;               /* default ROOM_WS_SLOW_CLOSE */
    /* Largest inbound message; larger ones close the connection with 1009.
     * Default 1000000, Engine.IO's maxPayload. */
    uint32_t max_payload;
    uint32_t handshake_timeout_ms; /* to send the whole request; default 10000 */
    /* A closing connection gets this long to take its last bytes and hang
     * up before it is cut; default 5000. */
    uint32_t close_timeout_ms;
    int backlog;                   /* listen(2) backlog; default 511 */

    void (*log)(int level, const char *message, void *user_data);
    void *user_data; /* given to log and to the shutdown callback */

    /* Accepted TCP connections at most (handshaking or open); more are
     * accepted and closed at once. 0: no limit (the default). */
    size_t max_connections;
    /* Set SO_REUSEPORT, so that one server per thread and loop can listen on
     * the same port (the kernel spreads connections). Default 0. */
    int reuse_port;
    /* Helper threads for socket writes. When a loop iteration has many
     * connections to flush (a broadcast to a big room), the loop thread and
     * these threads share the write system calls, which are most of a
     * broadcast's cost. Only the calls move: hubs, frames and every other
     * piece of state stay on the loop's thread. Default 0. */
    unsigned write_threads;
} room_ws_config;

typedef struct room_ws_stats {
    uint64_t connections;    /* WebSocket connections open now */
    uint64_t bytes_queued;   /* bytes ever queued for writing */
    uint64_t bytes_pending;  /* queued or being written now */
    uint64_t writes;         /* uv_try_write calls, one per connection per flush, plus a
                              * uv_write when the socket did not take everything */
    uint64_t frames_dropped; /* messages dropped by ROOM_WS_SLOW_DROP */
    uint64_t slow_closes;    /* connections closed by ROOM_WS_SLOW_CLOSE */
    uint64_t refused;        /* accepted and closed: max_connections or no memory */
    uint64_t shared_flushes; /* flushes whose writes the helper threads shared */
    uint64_t parsers;        /* wslay contexts held by connections mid-message */
} room_ws_stats;

ROOM_WS_API void room_ws_config_init(room_ws_config *config);

/* Errors: ROOM_EINVAL (no loop, size too small, bad policy), ROOM_ENOMEM.
 * The config is copied; NULL means room_ws_config_init() defaults. */
ROOM_WS_API int room_ws_server_new(room_ws_server **srv_out, uv_loop_t *loop, const room_ws_config *config);
/* NULL-safe. A server that listened must have been shut down first (its
 * callback has run): freeing a running one aborts. Free it before the
 * room_eio and hubs it serves: queued frames belong to them. */
ROOM_WS_API void room_ws_server_free(room_ws_server *srv);

/* Fills send, close, seal and seal_headroom of a room_eio config (call
 * after room_eio_config_init()). Engine.IO announces the root hub's
 * max_message_bytes as maxPayload: give it this server's max_payload. */
ROOM_WS_API void room_ws_eio_config(const room_ws_server *srv, room_eio_config *config);
/* Fills send, close, seal and seal_headroom of a JSON hub's config. */
ROOM_WS_API void room_ws_hub_config(const room_ws_server *srv, room_config *config);

/* Serves Socket.IO at /socket.io/ (?EIO=4&transport=websocket). The eio
 * must be configured with room_ws_eio_config(). Errors: ROOM_EINVAL (one
 * is already mounted), ROOM_ENOMEM. */
ROOM_WS_API int room_ws_mount_socketio(room_ws_server *srv, room_eio *eio);
/* Serves the JSON codec hub `hub` at `path` ("/ws", copied). Errors:
 * ROOM_EINVAL (path empty, not starting with '/', or taken), ROOM_ENOMEM. */
ROOM_WS_API int room_ws_mount_json(room_ws_server *srv, const char *path, room_hub *hub);

/* Binds `host` (an IPv4 or IPv6 literal; NULL means 0.0.0.0) and `port`
 * (0: any free port, see room_ws_port()) and starts accepting. Errors:
 * ROOM_EINVAL (bad address, already listening), ROOM_ETRANSPORT (bind or
 * listen failed; the reason is logged, nothing is left open). */
ROOM_WS_API int room_ws_listen(room_ws_server *srv, const char *host, int port);
/* The bound port, or 0 when not listening. */
ROOM_WS_API int room_ws_port(const room_ws_server *srv);

/* Stops accepting, closes every WebSocket with 1001 "server shutting down"
 * (their sessions end with that reason), waits for them to hang up (at most
 * close_timeout_ms), then runs `done` with the config's user_data. Safe to
 * call from handlers: the work happens on the next loop iteration. Errors:
 * ROOM_EINVAL (not listening, or already shutting down). */
typedef void (*room_ws_done_fn)(room_ws_server *srv, void *user_data);
ROOM_WS_API int room_ws_shutdown(room_ws_server *srv, room_ws_done_fn done);

ROOM_WS_API void room_ws_stats_get(const room_ws_server *srv, room_ws_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
