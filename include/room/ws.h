/*
 * libroom-ws: a WebSocket engine for libroom, with no event loop of its own.
 *
 * It serves Socket.IO v5 (a room_eio) at /socket.io/, plain Engine.IO at
 * /engine.io/ and plain JSON hubs at paths of their own ("/ws") over
 * connections that the host owns: the host accepts sockets, hands the
 * engine the bytes it reads and the time, and writes what the engine gives
 * it as iovecs. Inside are HTTP/1.1 (http-parser: keep-alive, pipelining,
 * Engine.IO's long-polling and its upgrade, CORS), the frame parser
 * (wslay), the output queue with the slow-consumer policy, the close
 * handshake and the handshake and close deadlines. Outbound
 * frames are sealed with their WebSocket header once and the same frame is
 * queued, by reference, for every recipient.
 *
 * A host's loop, per iteration (docs/writing-a-transport.md; a complete one
 * in examples/epoll_server.c, the libuv one in room/ws_uv.h):
 *
 *   readable:  n = read(fd, buf, ...); room_ws_conn_input(c, buf, n, now),
 *              or room_ws_conn_eof() / room_ws_conn_error()
 *   then:      timeout = room_ws_run(ws, now);
 *              while ((c = room_ws_ready(ws)))  serve(c);
 *   writable:  serve(c)
 *
 *   serve(c):  w = room_ws_conn_wants(c);
 *              WRITE:    n = room_ws_conn_output(c, iov, max);
 *                        room_ws_conn_written(c, writev(fd, iov, n)), again;
 *                        while WRITE stays, wait for the socket to be writable
 *              SHUTDOWN: shutdown(fd, SHUT_WR), keep reading until EOF
 *              CLOSE:    close(fd); room_ws_conn_free(c)
 *
 * Wiring: configure the room_eio with room_ws_eio_config() and JSON hubs
 * with room_ws_hub_config() (they install the send, close and seal
 * callbacks), create them, mount them. Free the engine before the eio and
 * hubs: queued frames belong to them.
 *
 * Same threading rules as the hub: one thread, no locks. None of these
 * functions may be called from inside a hub or eio handler, except
 * room_ws_close_all(), which only queues close frames and work.
 */
#ifndef ROOM_WS_H
#define ROOM_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "room/eio.h"
#include "room/room.h"
#include "room/ws_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct room_ws room_ws;
typedef struct room_ws_conn room_ws_conn;
struct sockaddr;

/* What to do with a connection whose unwritten output would exceed
 * max_queued_bytes. */
enum {
    ROOM_WS_SLOW_CLOSE = 0, /* close it with 1008 "slow consumer" */
    ROOM_WS_SLOW_DROP = 1   /* drop the message for that connection */
};

/* What a connection wants from its host (room_ws_conn_wants()). */
enum {
    ROOM_WS_WANT_WRITE = 1u << 0,    /* output is pending: room_ws_conn_output() */
    ROOM_WS_WANT_SHUTDOWN = 1u << 1, /* all is written: shutdown(SHUT_WR), read on */
    ROOM_WS_WANT_CLOSE = 1u << 2     /* close the socket and room_ws_conn_free() */
};

/* Fields are 0 for "the documented default", so a host built against an
 * older header keeps working: the library reads only `size` bytes. */
typedef struct room_ws_config {
    size_t size; /* sizeof(room_ws_config), set by room_ws_config_init() */

    /* Output per connection not yet written; default 4 MiB. */
    size_t max_queued_bytes;
    int slow_policy; /* default ROOM_WS_SLOW_CLOSE */
    uint32_t handshake_timeout_ms; /* to send the whole request; default 10000 */
    /* A closing connection gets this long to take its last bytes and hang
     * up before it is cut; default 5000. */
    uint32_t close_timeout_ms;

    /* The one logger of the engine and of its bindings. */
    void (*log)(int level, const char *message, void *user_data);
    void *user_data;

    /* ---- after ROOM_WS_CONFIG_MIN_SIZE: absent from older hosts' configs */

    /* Keepalive of JSON mounts (Socket.IO mounts have Engine.IO's
     * heartbeat): a connection that has sent nothing for a ping interval
     * gets a WebSocket ping; one that then sends nothing (a pong, or any
     * frame) for pong_timeout_ms is closed with 1008 "ping timeout". The
     * engine checks in rounds, so a quiet connection is pinged between one
     * and two intervals after its last frame, and rounds are at least
     * pong_timeout_ms apart. Defaults 25000 and 20000, Engine.IO's;
     * ROOM_WS_PING_OFF: no pings. */
    uint32_t ping_interval_ms;
    uint32_t pong_timeout_ms;
    /* Output of all connections together not yet written; default 1 GiB.
     * A hub or eio send that would pass it is treated like one past the
     * connection's max_queued_bytes: slow_policy decides. */
    size_t max_total_queued_bytes;
} room_ws_config;

/* The size of the first room_ws_config (libroom-ws 0.2); smaller is refused. */
#define ROOM_WS_CONFIG_MIN_SIZE (offsetof(room_ws_config, user_data) + sizeof(void *))

/* ping_interval_ms: never ping. */
#define ROOM_WS_PING_OFF UINT32_MAX

static inline void room_ws_config_init(room_ws_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
}

typedef struct room_ws_stats {
    uint64_t connections;    /* WebSocket connections open now */
    uint64_t bytes_queued;   /* bytes ever queued for writing */
    uint64_t bytes_pending;  /* queued, not yet written */
    uint64_t frames_dropped; /* messages dropped by ROOM_WS_SLOW_DROP */
    uint64_t slow_closes;    /* connections closed by ROOM_WS_SLOW_CLOSE */
    uint64_t parsers;        /* receive states (header bytes, wslay context) held by
                              * connections mid-frame or mid-message; pooled */
    uint64_t total_full;     /* sends that met max_total_queued_bytes (then
                              * counted in frames_dropped or slow_closes too) */
    uint64_t ping_timeouts;  /* JSON connections closed for not answering a ping */
    /* ---- libroom-ws 0.2 + polling */
    uint64_t polling_sessions; /* Engine.IO sessions on HTTP long-polling now; their
                                * buffered bytes count in bytes_queued and bytes_pending */
    uint64_t http_requests;    /* HTTP requests answered other than upgrades */
    /* ---- libroom-ws 0.3 + routes */
    uint64_t handshake_failures; /* WebSocket upgrades refused (bad request, origin,
                                  * version, shutting down) and requests to an
                                  * Engine.IO mount answered with an Engine.IO error */
} room_ws_stats;

/* Errors: ROOM_EINVAL (size too small, bad policy), ROOM_ENOMEM. The config
 * is copied; NULL means every default. */
ROOM_WS_API int room_ws_new(room_ws **ws_out, const room_ws_config *config);
/* Frees the connections still there (their sessions end), then the engine.
 * NULL-safe. Free it before the room_eio and hubs it serves. */
ROOM_WS_API void room_ws_free(room_ws *ws);

/* Fills send, close, seal and seal_headroom of a room_eio config (call
 * after room_eio_config_init()). */
ROOM_WS_API void room_ws_eio_config(const room_ws *ws, room_eio_config *config);
/* Fills send, close, seal and seal_headroom of a JSON hub's config. */
ROOM_WS_API void room_ws_hub_config(const room_ws *ws, room_config *config);

/* The transports of an Engine.IO mount (room_ws_mount_config.transports). */
enum {
    ROOM_WS_TRANSPORT_WEBSOCKET = 1u << 0,
    ROOM_WS_TRANSPORT_POLLING = 1u << 1 /* HTTP long-polling, with upgrade to WebSocket */
};

/* How a mount serves: its path, its transports and which browser origins
 * it accepts (CORS). Zeroed fields take the defaults; the library reads
 * only `size` bytes, so later versions only append fields. Every pointer
 * is read during the mount call and copied. */
typedef struct room_ws_mount_config {
    size_t size; /* sizeof(room_ws_mount_config), set by room_ws_mount_config_init() */
    /* NULL: "/socket.io/" for Socket.IO, "/engine.io/" for plain Engine.IO;
     * required for JSON hubs. Matched exactly against the request's path. */
    const char *path;
    /* ROOM_WS_TRANSPORT_* bits of Engine.IO mounts; 0: both. A request for
     * a transport not in the mask gets 400 {"code":0,"message":"Transport
     * unknown"}. JSON hubs are WebSocket only. */
    unsigned transports;
    /* Allowed browser origins (the request's Origin header, compared
     * exactly, e.g. "https://app.example.com"), a NULL-terminated array;
     * an entry "*" allows every origin. With neither this nor
     * origin_allowed (the default, as Socket.IO's), responses carry no CORS
     * header and every origin may open a WebSocket. Otherwise a request
     * whose Origin is not allowed is refused with 403 (WebSocket upgrades
     * and polling requests; a preflight gets its 204 without
     * Access-Control-Allow-Origin), and responses to allowed ones echo the
     * origin in Access-Control-Allow-Origin. A request without an Origin
     * header (not a browser's cross-origin request) is served as usual. */
    const char *const *origins;
    /* Decides instead of (or besides) `origins`: nonzero allows `origin`
     * (`len` bytes, not NUL-terminated). Called during
     * room_ws_conn_input(); must not call into the engine. */
    int (*origin_allowed)(const char *origin, size_t len, void *user_data);
    void *user_data;
    /* Access-Control-Allow-Credentials: true on allowed origins' responses
     * (cookies with polling requests: withCredentials). Default false. */
    bool credentials;
} room_ws_mount_config;

#define ROOM_WS_MOUNT_CONFIG_MIN_SIZE (offsetof(room_ws_mount_config, credentials) + sizeof(bool))

static inline void room_ws_mount_config_init(room_ws_mount_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
}

/* Serves Socket.IO at /socket.io/ over WebSocket and HTTP long-polling,
 * without CORS headers (room_ws_mount_socketio_with() with NULL). The eio
 * must be configured with room_ws_eio_config(). Errors: ROOM_EINVAL (NULL
 * argument, one is already mounted, 255 mounts already), ROOM_ENOMEM. */
ROOM_WS_API int room_ws_mount_socketio(room_ws *ws, room_eio *eio);
/* Serves the JSON codec hub `hub` at `path` ("/ws", copied). Errors:
 * ROOM_EINVAL (NULL argument; path empty, not starting with '/', or taken;
 * 255 mounts already), ROOM_ENOMEM. */
ROOM_WS_API int room_ws_mount_json(room_ws *ws, const char *path, room_hub *hub);

/* Serves the Socket.IO `eio` as `config` says (NULL: every default, which
 * is room_ws_mount_socketio()): WebSocket and HTTP long-polling
 * (?EIO=4&transport=polling, upgraded to WebSocket when the client asks),
 * keep-alive and pipelined requests. Errors: ROOM_EINVAL (NULL ws or eio,
 * config->size below ROOM_WS_MOUNT_CONFIG_MIN_SIZE, a bad path, unknown
 * transport bits, the path taken, 255 mounts already), ROOM_ENOMEM. */
ROOM_WS_API int room_ws_mount_socketio_with(room_ws *ws, room_eio *eio, const room_ws_mount_config *config);
/* The same for plain Engine.IO (a room_eio whose config.message is set),
 * at "/engine.io/" unless config->path says otherwise. */
ROOM_WS_API int room_ws_mount_engineio(room_ws *ws, room_eio *eio, const room_ws_mount_config *config);
/* The JSON hub `hub` at config->path (required), with config's origins
 * for its WebSocket upgrades. Errors as room_ws_mount_json(), and
 * ROOM_EINVAL for a transports mask other than 0 or WebSocket alone. */
ROOM_WS_API int room_ws_mount_json_with(room_ws *ws, room_hub *hub, const room_ws_mount_config *config);

/* Runs what waits outside the hubs' callbacks (sessions of closing
 * connections end, their disconnect handlers run), the hubs' and eio's
 * timers and the handshake and close deadlines, with `now_ms` from the
 * host's monotonic clock. Returns the milliseconds until it wants to run
 * again, or -1 when nothing is pending. Call it once per loop iteration
 * (and whenever that many milliseconds have passed), then serve
 * room_ws_ready(). */
ROOM_WS_API int64_t room_ws_run(room_ws *ws, uint64_t now_ms);
/* The next connection whose wants changed (output queued, closing), taken
 * off the engine's list, or NULL. */
ROOM_WS_API room_ws_conn *room_ws_ready(room_ws *ws);

/* Closes every connection: handshaking ones at once, open ones with `code`
 * and `reason` after what is queued (their sessions end with `reason`).
 * Polling sessions get the close packet with their parked or next poll
 * (whose connection then closes), or end after close_timeout_ms (in
 * room_ws_run()), or in room_ws_free(). Then serve room_ws_ready() as
 * usual until the host has freed every connection. */
ROOM_WS_API void room_ws_close_all(room_ws *ws, int code, const char *reason);
/* Connections not yet freed, in any state. */
ROOM_WS_API size_t room_ws_conn_count(const room_ws *ws);

/* Logs a printf-style line through the config's logger (room_logf());
 * bindings log through it too. */
ROOM_WS_API void room_ws_logf(const room_ws *ws, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Copies the first `size` bytes of the engine's counters into `stats`
 * (zeroing what the library does not have), so that a host built against
 * a header with fewer counters, or more, reads only what both know. Use
 * room_ws_stats_get(), which passes the size the host was compiled with. */
ROOM_WS_API void room_ws_stats_copy(const room_ws *ws, room_ws_stats *stats, size_t size);
static inline void room_ws_stats_get(const room_ws *ws, room_ws_stats *stats)
{
    room_ws_stats_copy(ws, stats, sizeof *stats);
}

/* ---- connections --------------------------------------------------------- */

/* A socket was accepted; `host` is the host's own pointer for it
 * (room_ws_conn_host()). The handshake deadline starts at `now_ms`. Errors:
 * ROOM_EINVAL, ROOM_ENOMEM. */
ROOM_WS_API int room_ws_conn_new(room_ws *ws, void *host, uint64_t now_ms, room_ws_conn **conn_out);
/* Frees the connection, ending its session; the host closes the socket.
 * Usually after ROOM_WS_WANT_CLOSE, but allowed at any time. NULL-safe. */
ROOM_WS_API void room_ws_conn_free(room_ws_conn *conn);
ROOM_WS_API void *room_ws_conn_host(const room_ws_conn *conn);
/* The peer's address (from accept()), for the connect handlers' handshake
 * ("address": "1.2.3.4"). Call before the first room_ws_conn_input(); the
 * address is copied as text. Errors: ROOM_EINVAL (NULL, a family other than
 * AF_INET or AF_INET6, `len` too short, or the request already read). */
ROOM_WS_API int room_ws_conn_set_peer(room_ws_conn *conn, const struct sockaddr *addr, size_t len);

/* Bytes read from the socket, any amount. Handlers run from here. */
ROOM_WS_API void room_ws_conn_input(room_ws_conn *conn, const void *bytes, size_t len, uint64_t now_ms);
/* The peer has finished sending (read returned 0). */
ROOM_WS_API void room_ws_conn_eof(room_ws_conn *conn);
/* The socket failed: the connection ends without writing more. */
ROOM_WS_API void room_ws_conn_error(room_ws_conn *conn);

/* What the host must do for the connection now, ROOM_WS_WANT_* bits (0:
 * wait for input or a deadline). ROOM_WS_WANT_SHUTDOWN is reported once. */
ROOM_WS_API unsigned room_ws_conn_wants(room_ws_conn *conn);
/* Fills up to `max` iovecs with the pending output, in order; returns how
 * many (0: nothing pending; `iov` NULL only counts). They stay valid until
 * the next call on this connection other than room_ws_conn_output(). */
ROOM_WS_API size_t room_ws_conn_output(const room_ws_conn *conn, struct iovec *iov, size_t max);
/* The socket took `bytes` of that output. */
ROOM_WS_API void room_ws_conn_written(room_ws_conn *conn, size_t bytes);


/* ---- HTTP routes of the host ---------------------------------------------- */

/* Plain HTTP requests (health checks, metrics, static files) that no mount
 * serves are answered by the host's routes, in the order they came, with
 * keep-alive and pipelining as every other request. A request is one
 * room_ws_http, valid only during the handler's call. */
typedef struct room_ws_http room_ws_http;

/* Answers `req` with room_ws_http_respond(); a handler that returns without
 * a response (the return value is not used) gets a 500 sent for it. It runs
 * inside room_ws_conn_input(): it may read the engine (room_ws_stats_get(),
 * room_ws_conn_count()) and the hubs, but must not call room_ws_* functions
 * that change the engine, nor hub functions that send. */
typedef void (*room_ws_route_fn)(room_ws_http *req, void *user_data);

/* Routes requests whose path is `prefix` ("/healthz"), or, for a prefix that
 * ends in '/' ("/" or "/static/"), starts with it; the longest prefix wins,
 * and mounts come first (a request to a mount's path never reaches a route).
 * Every method reaches the handler (HEAD too: room_ws_http_respond() then
 * sends the head of the answer only). A request with a body is refused
 * with 413 before any route, and a WebSocket upgrade to a route's path
 * with 400. `prefix` is copied. Errors: ROOM_EINVAL (NULL argument, prefix
 * not starting with '/', or routed already), ROOM_ENOMEM. */
ROOM_WS_API int room_ws_route(room_ws *ws, const char *prefix, room_ws_route_fn handler, void *user_data);

/* The request's method, "GET", "HEAD", "POST", ... (NUL-terminated, static). */
ROOM_WS_API const char *room_ws_http_method(const room_ws_http *req);
/* The path of the request target as sent (percent-encoded, not
 * NUL-terminated), `*len` bytes; without the query. */
ROOM_WS_API const char *room_ws_http_path(const room_ws_http *req, size_t *len);
/* The query after '?' (not NUL-terminated, `*len` bytes), or NULL when the
 * target has no '?'. */
ROOM_WS_API const char *room_ws_http_query(const room_ws_http *req, size_t *len);
/* The value of the first header `name` (case-insensitive), trimmed, not
 * NUL-terminated, `*len` bytes; NULL when absent. */
ROOM_WS_API const char *room_ws_http_header(const room_ws_http *req, const char *name, size_t *len);
/* The peer's address as room_ws_conn_set_peer() gave it ("" when not set). */
ROOM_WS_API const char *room_ws_http_peer(const room_ws_http *req);

/* Queues the response: the status line, `content_type` (NULL: no
 * Content-Type), Content-Length (not for 204 and 304), the host's
 * `headers` (NULL, or lines each ending in "\r\n", e.g. "ETag:
 * \"1f-2a\"\r\nCache-Control: no-cache\r\n"), "Connection: close" when the
 * connection ends after it (HTTP/1.0, the client's Connection: close, the
 * engine shutting down), then `len` bytes of `body`, copied; a HEAD
 * request gets everything but the body (which may then be NULL: only `len`
 * is used, for Content-Length). Once per request. Errors:
 * ROOM_EINVAL (NULL req, answered already, status outside 200..599, a
 * body with 204 or 304, a CR or LF in content_type, malformed header
 * lines), ROOM_ENOMEM (then the handler may answer again, unless part of
 * the response was queued: that connection is closed). */
ROOM_WS_API int room_ws_http_respond(room_ws_http *req, int status, const char *content_type,
                                     const char *headers, const void *body, size_t len);

/* ---- prefix mounts: a hub's binary protocol at /prefix/<name> -------------- */

/* What a prefix mount does with its connections' messages, output and
 * clock. Host-filled; initialise with room_ws_prefix_hooks_init(); later
 * versions only append fields. None of the callbacks may call into the
 * engine; they may call the hub (they run outside its callbacks). */
typedef struct room_ws_prefix_hooks {
    size_t size; /* sizeof(room_ws_prefix_hooks), set by room_ws_prefix_hooks_init() */
    /* Required: a complete message (`kind` ROOM_FRAME_BINARY or
     * ROOM_FRAME_TEXT, `len` bytes borrowed for the call) of `conn`, a
     * connection of the mount's hub. The hub's codec is not used. */
    void (*message)(room_hub *hub, room_conn *conn, int kind, const void *bytes, size_t len,
                    void *user_data);
    /* Optional: everything queued for `conn` has been written (the host
     * called room_ws_conn_written() for the last of it): the time to send
     * the next part of a long stream. */
    void (*drained)(room_hub *hub, room_conn *conn, void *user_data);
    /* Optional: runs the mount's clock instead of room_hub_tick(hub, now)
     * (the callback ticks the hub itself); returns the milliseconds until
     * it wants to run again, or -1. */
    int64_t (*tick)(room_hub *hub, uint64_t now_ms, void *user_data);
    /* Unwritten output per connection of this mount; 0: the engine's
     * max_queued_bytes. A protocol whose single messages can be bigger
     * than the engine's bound (a whole document) raises it here. */
    size_t max_queued_bytes;
    void *user_data;
} room_ws_prefix_hooks;

#define ROOM_WS_PREFIX_HOOKS_SIZE_MIN (offsetof(room_ws_prefix_hooks, user_data) + sizeof(void *))

static inline void room_ws_prefix_hooks_init(room_ws_prefix_hooks *hooks)
{
    memset(hooks, 0, sizeof *hooks);
    hooks->size = sizeof *hooks;
}

/* Serves `hub` (configured with room_ws_hub_config()) on WebSocket
 * upgrades to every path that starts with config->path (required, ending
 * in '/', "/yjs/") followed by a name: the rest of the path,
 * percent-decoded, which must be UTF-8 without control characters, at
 * most 1024 bytes (the protocol's room names may allow less); others get
 * 400. Each WebSocket is a connection of the hub,
 * opened with room_conn_open_with() as a JSON mount's, whose handshake
 * object also carries "name" (that decoded name); its messages go to
 * hooks->message. The message limit is the hub's max_message_bytes.
 * Errors: those of room_ws_mount_json_with(), ROOM_EINVAL (a path not
 * ending in '/', hooks without message or size below the minimum). */
ROOM_WS_API int room_ws_mount_prefix(room_ws *ws, room_hub *hub, const room_ws_mount_config *config,
                                     const room_ws_prefix_hooks *hooks);

#ifdef __cplusplus
}
#endif

#endif
