/*
 * libroom: Engine.IO v4 sessions carrying Socket.IO v5 (and, when allowed,
 * Engine.IO v3 / Socket.IO v2), on a WebSocket or HTTP long-polling. Pure:
 * no sockets and no clock; the host hands in complete WebSocket messages or
 * polling request bodies and the current time, and gets frames back through
 * callbacks (docs/protocol-engineio.md).
 *
 * One room_eio serves any number of sessions (one per client). Each
 * Socket.IO namespace is a room_hub of its own (rooms and socket ids are per
 * namespace, as in Socket.IO); a session CONNECTed to a namespace is a
 * room_conn of that namespace's hub, with the session as its transport.
 * Namespace "/" always exists.
 *
 * Same threading rules as the hub: one thread, no locks.
 */
#ifndef ROOM_EIO_H
#define ROOM_EIO_H

#include <stdbool.h>
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

    /* ---- after ROOM_EIO_CONFIG_MIN_SIZE: absent from older hosts' configs */

    /* Accept Engine.IO v3 / Socket.IO v2 clients (room_eio_request.protocol
     * 3), as Socket.IO's allowEIO3. Default false: they are refused. */
    bool allow_eio3;
    /* Keep each session's handshake (room_eio_request.handshake) for as
     * long as the session lives, so that namespaces CONNECTed late get it
     * too. Default false: it is dropped once the first CONNECT succeeds,
     * which saves its memory on every idle session; later CONNECTs then
     * get a handshake of null. */
    bool keep_handshake;
    /* Plain Engine.IO: when set, the room_eio carries no Socket.IO. Each
     * message of a session ("4..." on the wire) comes here instead (kind
     * ROOM_FRAME_TEXT or ROOM_FRAME_BINARY; bytes borrowed for the call),
     * and the host sends with room_eio_session_send(). No namespace hub
     * sees any session. May call room_eio_session_send() and
     * room_eio_session_shut(); not room_eio_close(). */
    void (*message)(room_eio *eio, room_eio_session *session, int kind, const void *bytes,
                    size_t len, void *user_data);
    /* Plain Engine.IO: a session opened (after its open packet) and one
     * ended (inside room_eio_close(), with its reason). Optional. */
    void (*session_open)(room_eio *eio, room_eio_session *session, void *user_data);
    void (*session_close)(room_eio *eio, room_eio_session *session, const char *reason,
                          void *user_data);
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
/* The transports a session can be on. */
enum { ROOM_EIO_WEBSOCKET = 0, ROOM_EIO_POLLING = 1 };

/* What the host knows about the request that opens a session. Filled
 * after room_eio_request_init(); later versions only append fields. */
typedef struct room_eio_request {
    size_t size;   /* sizeof(room_eio_request), set by room_eio_request_init() */
    int transport; /* ROOM_EIO_WEBSOCKET or ROOM_EIO_POLLING */
    int protocol;  /* the request's EIO= value: 4, or 3 (allow_eio3) */
    /* Borrowed: the query parameters (room_query_parse()), or NULL. The
     * namespaces' connect handlers get them without Engine.IO's own. */
    json_t *query;
    /* Borrowed: the request as room_open_args.handshake describes it, or
     * NULL. Referenced, not copied (see keep_handshake). */
    json_t *handshake;

    /* ---- after ROOM_EIO_REQUEST_MIN_SIZE: absent from older hosts' requests */

    /* The mount serves no WebSocket: a polling session's open packet lists
     * no upgrade, as engine.io lists only the transports it serves. */
    bool no_upgrade;
} room_eio_request;

#define ROOM_EIO_REQUEST_MIN_SIZE (offsetof(room_eio_request, handshake) + sizeof(json_t *))

static inline void room_eio_request_init(room_eio_request *request)
{
    memset(request, 0, sizeof *request);
    request->size = sizeof *request;
    request->protocol = 4;
}

/* Opens a session on `transport` and sends the open packet through the
 * send callback. A polling transport buffers what it is sent until the
 * client polls (room_eio_payload_encode()); its open packet lists
 * "websocket" in "upgrades". Errors: ROOM_EINVAL (also: request->size
 * below ROOM_EIO_REQUEST_MIN_SIZE, a protocol other than 4, or 3 without
 * allow_eio3), ROOM_ENOMEM, ROOM_ETRANSPORT. On an error there is no
 * session, and the host drops whatever `transport` was sent.
 * Socket.IO v2 (protocol 3, no `message`) connects namespace "/" at once:
 * its connect handler runs inside this call, and its CONNECT or
 * CONNECT_ERROR follows the open packet. */
ROOM_SIO_API int room_eio_accept(room_eio *eio, void *transport, const room_eio_request *request,
                                 uint64_t now_ms, room_eio_session **session_out);
/* The session whose id is `sid` (`len` bytes, not NUL-terminated), or
 * NULL. Only sessions opened on polling are found (also once upgraded, and
 * until room_eio_close()): no later request names a WebSocket session, and
 * leaving those out keeps their idle memory as it was. */
ROOM_SIO_API room_eio_session *room_eio_session_find(const room_eio *eio, const char *sid, size_t len);
/* ROOM_EIO_WEBSOCKET or ROOM_EIO_POLLING: the transport the session is on. */
ROOM_SIO_API int room_eio_session_transport_kind(const room_eio_session *session);
/* The session's Engine.IO protocol: 4, or 3. */
ROOM_SIO_API int room_eio_session_protocol(const room_eio_session *session);
/* Whether the session's client has probed a WebSocket and not finished
 * upgrading: a polling transport answers a poll at once (with what it
 * holds, or a noop) instead of holding it. */
ROOM_SIO_API bool room_eio_session_upgrading(const room_eio_session *session);

/* A polling client's POST body: decodes the payload of the session's
 * protocol (v4: packets joined by "\x1e", binary ones "b" + base64; v3:
 * length-prefixed, text or binary framing by `binary_body`, which the host
 * sets when the request's Content-Type is application/octet-stream) and
 * hands each packet to room_eio_recv(). The whole body is checked first: a
 * payload that does not decode (also: empty, an empty v4 packet, bad
 * base64 or UTF-8, a binary body for v4) delivers nothing, closes the
 * session (close callback) and returns ROOM_EPROTO; otherwise the first
 * error of the packets, like room_eio_recv(), and the packets after one
 * that closed the session are dropped. ROOM_ECLOSED for a closing session.
 * The host bounds the body (maxPayload). */
ROOM_SIO_API int room_eio_recv_payload(room_eio *eio, room_eio_session *session, const void *body,
                                       size_t len, bool binary_body, uint64_t now_ms);
/* Appends to `out` the body of a poll response carrying `frames` (each a
 * chain, as the send callback got them; borrowed) in order, encoded for
 * the session's protocol and the client's b64 choice. Sets *content_type
 * (static) to the Content-Type of that body: "text/plain; charset=UTF-8",
 * or "application/octet-stream" for a v3 binary payload. No frames: an
 * empty body (v4), "0:" (v3). Errors: ROOM_ENOMEM, ROOM_EINVAL (also: a
 * frame that is not one the room_eio sent). Does not change the session;
 * any thread that owns it may call it. */
ROOM_SIO_API int room_eio_payload_encode(const room_eio_session *session, room_frame *const *frames,
                                         size_t nframes, room_buf *out, const char **content_type);

/* What room_eio_upgrade_recv() reports besides errors. */
enum { ROOM_EIO_PROBING = 0, ROOM_EIO_UPGRADED = 1 };
/* One message on a WebSocket that came for polling session `session`
 * (?sid=) and is upgrading it. "2probe" is answered with "3probe" on
 * `ws_transport` (send callback), and a noop is sent on the polling
 * transport to release its pending poll: ROOM_EIO_PROBING. Then "5" moves
 * the session to `ws_transport`: ROOM_EIO_UPGRADED. Nothing has been sent
 * to the session between that switch and the return, so the host moves
 * what the polling transport still holds to the WebSocket, in order, ahead
 * of anything sent later, and drops the polling transport without a call
 * into the room_eio. Anything else ("5" before "2probe" too), a session
 * not on polling, or a second WebSocket while one probes, returns
 * ROOM_EPROTO: the host closes this WebSocket; the session goes on
 * polling. ROOM_ECLOSED: the session is closing. ROOM_ENOMEM,
 * ROOM_ETRANSPORT (the "3probe" send failed): the host closes this
 * WebSocket too.
 * While probing, the room_eio may itself end the probe, through the close
 * callback with `ws_transport`: when "5" has not come within 10 s
 * (engine.io's upgradeTimeout; from room_eio_tick()), and when the session
 * closes (also inside room_eio_close()). The host then closes that
 * WebSocket and makes no room_eio call for it: it is no session's.
 * A probe WebSocket that goes away on its own is reported with
 * room_eio_upgrade_abort(). */
ROOM_SIO_API int room_eio_upgrade_recv(room_eio *eio, room_eio_session *session, void *ws_transport,
                                       int kind, const void *bytes, size_t len, uint64_t now_ms);

/* The probe WebSocket `ws_transport` of `session` closed before it
 * upgraded it: the session stops upgrading (its polls are held again) and
 * the room_eio forgets that transport. Nothing happens if it is not the
 * session's probe. Needed because the room_eio would otherwise name a gone
 * transport when the upgrade times out. Not re-entrant from callbacks. */
ROOM_SIO_API void room_eio_upgrade_abort(room_eio *eio, room_eio_session *session, void *ws_transport);

/* Plain Engine.IO (config.message set): sends one message to the session
 * (copied). Errors: ROOM_EINVAL (not a plain Engine.IO room_eio, bad
 * kind), ROOM_ENOMEM, ROOM_ECLOSED (closing), ROOM_ETRANSPORT. */
ROOM_SIO_API int room_eio_session_send(room_eio *eio, room_eio_session *session, int kind,
                                       const void *bytes, size_t len);
/* Asks the host to close the session (close callback, once, code 1000)
 * with `reason` (static or outliving the close callback; NULL: "server
 * close"). Any room_eio, plain or not. NULL-safe. */
ROOM_SIO_API void room_eio_session_shut(room_eio *eio, room_eio_session *session, const char *reason);

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
