/*
 * libroom-uv: the WebSocket engine (room/ws.h) bound to a libuv loop, for
 * hosts that want a ready-made server. It listens on one address, accepts,
 * reads into one buffer shared by every connection, writes each
 * connection's queued output once per loop iteration (one sendmsg of up to
 * 64 iovecs, more while the socket takes everything) and runs the engine's
 * timers.
 *
 * Linux only: the connections' sockets are in one epoll instance of the
 * server's own, which the loop watches with one uv_poll_t; the listener,
 * timer and loop phases are ordinary libuv handles. Per connection it
 * keeps one byte beside the engine's connection, no libuv handle: the
 * engine connection's host pointer (room_ws_conn_host()) is the socket's
 * descriptor. The loop stays alive while there are connections.
 *
 * Wiring: create the room_ws engine and mount on it as room/ws.h says,
 * then room_uv_server_new() on it and room_uv_listen(). On exit,
 * room_uv_shutdown(), then, from its callback on, free the server, then
 * the engine, then the eio and hubs.
 *
 * The loop's thread only, no locks. Writes use MSG_NOSIGNAL: no SIGPIPE.
 */
#ifndef ROOM_WS_UV_H
#define ROOM_WS_UV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <uv.h>

#include "room/ws.h"
#include "room/uv_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct room_uv_server room_uv_server;

/* Fields are 0 for "the documented default"; the library reads only
 * `size` bytes. */
typedef struct room_uv_config {
    size_t size; /* sizeof(room_uv_config), set by room_uv_config_init() */

    int backlog; /* listen(2) backlog; default 511 */
    /* Accepted connections at most (handshaking, open or closing), with
     * the engine's polling sessions counted as connections too; more
     * are accepted and closed at once, with one warning when the limit is
     * reached (not one per refusal). 0: no limit (the default). Every
     * accepted socket gets TCP_NODELAY and SO_KEEPALIVE. */
    size_t max_connections;
    /* Set SO_REUSEPORT, so that one server per thread and loop can listen on
     * the same port (the kernel spreads connections). Default 0. */
    int reuse_port;
    /* Helper threads for socket writes, started on the first big flush (a
     * broadcast to a big room): the loop thread and these threads share the
     * write system calls, which are most of a broadcast's cost. Only the
     * calls move: hubs, frames and every other piece of state stay on the
     * loop's thread. Default 0. */
    unsigned write_threads;
    void *user_data; /* given to the shutdown callback */
} room_uv_config;

/* The size of the first room_uv_config (libroom-uv 0.2); smaller is refused. */
#define ROOM_UV_CONFIG_MIN_SIZE (offsetof(room_uv_config, user_data) + sizeof(void *))

static inline void room_uv_config_init(room_uv_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
}

typedef struct room_uv_stats {
    uint64_t writes;         /* sendmsg calls on connections */
    uint64_t refused;        /* accepted and closed: max_connections or no memory */
    uint64_t shared_flushes; /* flushes whose writes the helper threads shared */
} room_uv_stats;

/* Errors: ROOM_EINVAL (no loop or engine, size too small, more than 64
 * threads), ROOM_ENOMEM. The config is copied; NULL means every default.
 * Logs through the engine's logger. */
ROOM_UV_API int room_uv_server_new(room_uv_server **srv_out, uv_loop_t *loop, room_ws *ws,
                                   const room_uv_config *config);
/* NULL-safe. A server that listened must have been shut down first (its
 * callback has run): freeing a running one aborts. */
ROOM_UV_API void room_uv_server_free(room_uv_server *srv);

/* Binds `host` (an IPv4 or IPv6 literal; NULL means 0.0.0.0) and `port`
 * (0: any free port, see room_uv_port()) and starts accepting. Errors:
 * ROOM_EINVAL (bad address, already listening), ROOM_ETRANSPORT (bind or
 * listen failed; the reason is logged, nothing is left open). */
ROOM_UV_API int room_uv_listen(room_uv_server *srv, const char *host, int port);
/* The bound port, or 0 when not listening. */
ROOM_UV_API int room_uv_port(const room_uv_server *srv);

/* Stops accepting, closes every WebSocket with 1001 "server shutting down"
 * (their sessions end with that reason), waits for them to hang up (at most
 * the engine's close_timeout_ms), then runs `done` with the config's
 * user_data. Errors: ROOM_EINVAL (not listening, or already shutting
 * down). */
typedef void (*room_uv_done_fn)(room_uv_server *srv, void *user_data);
ROOM_UV_API int room_uv_shutdown(room_uv_server *srv, room_uv_done_fn done);

/* Copies the first `size` bytes of the counters (zeroing what the library
 * does not have); room_uv_stats_get() passes the host's own size. */
ROOM_UV_API void room_uv_stats_copy(const room_uv_server *srv, room_uv_stats *stats, size_t size);
static inline void room_uv_stats_get(const room_uv_server *srv, room_uv_stats *stats)
{
    room_uv_stats_copy(srv, stats, sizeof *stats);
}

#ifdef __cplusplus
}
#endif

#endif
