/*
 * libroom: Engine.IO v4 sessions carrying Socket.IO v5, websocket transport
 * only. Pure: no sockets and no clock; the host hands in complete WebSocket
 * messages and the current time, and gets frames back through callbacks.
 *
 * One room_eio serves any number of sessions (one per WebSocket). Each
 * Socket.IO namespace is a room_hub of its own (rooms and socket ids are per
 * namespace, as in Socket.IO); a session CONNECTed to a namespace is a
 * room_conn of that namespace's hub, with the session as its transport.
 * Namespace "/" always exists.
 *
 * Same threading rules as the hub: one thread, no locks.
 */
#ifndef ROOM_EIO_H
#define ROOM_EIO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "room/codec.h"
#include "room/sio_export.h"
#include "room/room.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct room_eio room_eio;
typedef struct room_eio_session room_eio_session;

typedef struct room_eio_config {
    size_t size; /* sizeof(room_eio_config), set by room_eio_config_init() */

    /* Write one WebSocket message (frame->kind: text or binary; a frame
     * chain is several messages, in order). Borrowed for the call; ref it
     * to keep it. Return 0 or a negative code (the session is then closed).
     * Must not call back into the room_eio. */
    room_send_fn send;
    /* Close the WebSocket with `code` (RFC 6455) and `reason`; the host
     * later calls room_eio_close(). Must not call back into the room_eio. */
    room_close_fn close;
    room_log_fn log; /* optional */
    void *user_data;

    /* Copied into every namespace hub (see room_config). */
    size_t (*seal)(const room_frame *frame, uint8_t *header, void *user_data);
    size_t seal_headroom;
    room_allocator allocator;

    /* 0 means the default. The open packet announces the intervals, and as
     * maxPayload the root hub's max_message_bytes: the one limit on what a
     * client may send, a binary packet and its attachments together. */
    uint32_t ping_interval_ms;   /* default 25000 */
    uint32_t ping_timeout_ms;    /* default 20000 */
    uint32_t connect_timeout_ms; /* no CONNECT within this: close; default 45000 */
} room_eio_config;

/* The smallest `size` room_eio_new() takes: the layout of libroom-sio 0.2.
 * Later versions only append fields; the library reads no further than
 * `size`, and a field the host's layout lacks takes its default. */
#define ROOM_EIO_CONFIG_MIN_SIZE (offsetof(room_eio_config, connect_timeout_ms) + sizeof(uint32_t))

/* Zeroes `config` (every field its default) and sets its size. Inline, so
 * that `size` is the layout the host was compiled with. */
static inline void room_eio_config_init(room_eio_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
}

/* Errors: ROOM_EINVAL (no send/close callback, config->size below
 * ROOM_EIO_CONFIG_MIN_SIZE, a bad root_config), ROOM_ENOMEM. The namespace
 * "/" hub is created with `root_config` (its send, close, codec and seal
 * fields are set by the room_eio; NULL means room_config_init() defaults).
 * Like room_hub_new(), it takes root_config->adapter only when it
 * succeeds. */
ROOM_SIO_API int room_eio_new(room_eio **eio_out, const room_eio_config *config, const room_config *root_config);
/* Closes every session without events and frees all hubs. NULL-safe. */
ROOM_SIO_API void room_eio_free(room_eio *eio);

/* Adds namespace `nsp` ("/admin") with its own hub, configured like
 * root_config above (its adapter taken only on success). The hub is owned
 * by the room_eio. Errors: ROOM_EINVAL (name does not start with '/' or
 * contains ','), ROOM_EALREADY, ROOM_ELIMIT, ROOM_ENOMEM. */
ROOM_SIO_API int room_eio_namespace(room_eio *eio, const char *nsp, const room_config *config,
                                room_hub **hub_out);
/* The hub of namespace `nsp`, or NULL. */
ROOM_SIO_API room_hub *room_eio_hub(room_eio *eio, const char *nsp);

/* A WebSocket was accepted: creates the session and sends the open packet.
 * `now_ms` is the host's monotonic clock. Errors: ROOM_EINVAL (also: the
 * root hub's random callback failed), ROOM_ENOMEM, ROOM_ETRANSPORT. */
ROOM_SIO_API int room_eio_open(room_eio *eio, void *transport, uint64_t now_ms, room_eio_session **session_out);
/* The same, with the upgrade request's query parameters (a borrowed object
 * from room_query_parse(), or NULL). Every namespace's "connect" handler
 * gets them, without Engine.IO's own (EIO, transport, sid, t, j, b64), as
 * its second argument. */
ROOM_SIO_API int room_eio_open_query(room_eio *eio, void *transport, json_t *query, uint64_t now_ms,
                                 room_eio_session **session_out);
/* One complete WebSocket message. A message that breaks the protocol
 * (including one the namespace's codec cannot decode, and one beyond
 * maxPayload) makes the room_eio ask the host to close this session (close
 * callback) and returns ROOM_EPROTO; it never affects other sessions.
 * Otherwise the result of room_conn_recv_binary() for the packet. */
ROOM_SIO_API int room_eio_recv(room_eio *eio, room_eio_session *session, int kind, const void *bytes,
                           size_t len, uint64_t now_ms);
/* The WebSocket is gone: disconnects every namespace (their "disconnect"
 * handlers run), frees the session. NULL session is a no-op. */
ROOM_SIO_API void room_eio_close(room_eio *eio, room_eio_session *session, const char *reason);
/* Sends due pings, closes sessions whose pong or CONNECT is overdue, and
 * runs the hubs' timers. Returns milliseconds until the next deadline, or
 * -1 when nothing is pending. */
ROOM_SIO_API int64_t room_eio_tick(room_eio *eio, uint64_t now_ms);

ROOM_SIO_API const char *room_eio_session_id(const room_eio_session *session);
ROOM_SIO_API void *room_eio_session_transport(const room_eio_session *session);
ROOM_SIO_API size_t room_eio_session_count(const room_eio *eio);

/* The Socket.IO v5 codec for namespace `nsp`, encoding Engine.IO message
 * packets ("42[...]", "42/nsp,[...]", "43<id>[...]", "451-[...]").
 * A codec exists before any hub, so it comes from the C library's malloc,
 * not from a room_allocator. Errors: ROOM_EINVAL (nsp does not start with
 * '/' or contains ','), ROOM_ENOMEM. Free with room_codec_socketio_free(). */
ROOM_SIO_API int room_codec_socketio_new(room_codec **codec_out, const char *nsp);
ROOM_SIO_API void room_codec_socketio_free(room_codec *codec);

#ifdef __cplusplus
}
#endif

#endif
