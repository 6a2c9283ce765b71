/*
 * libroom: embeddable room-based realtime messaging.
 *
 * Threading: a hub and everything reached through it (connections, frames,
 * handlers) belongs to one thread. No call here locks. A multi-core host runs
 * one hub per thread (SO_REUSEPORT listeners, one event loop each) and joins
 * the hubs with a cluster adapter (room/adapter.h), exactly as it would join
 * hubs on separate machines.
 *
 * Ownership: a `const char *` argument is borrowed for the duration of the
 * call. A `json_t *` argument is borrowed unless the function name ends in
 * `_new`, in which case the reference is stolen (jansson's convention), even
 * when the call fails. Returned `const char *` stay valid while their owner
 * (connection, hub) lives.
 *
 * Errors: functions returning int return 0 or a negative ROOM_E* code;
 * room_strerror() describes it, room_error_name() gives the token sent to
 * clients in `data.code`.
 */
#ifndef ROOM_ROOM_H
#define ROOM_ROOM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "room/export.h"
#include "room/frame.h"
#include "room/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct room_hub room_hub;
typedef struct room_conn room_conn;
typedef struct room_codec room_codec;
typedef struct room_adapter room_adapter;

/* A borrowed run of bytes (binary attachments). */
typedef struct room_bytes {
    const uint8_t *data;
    size_t len;
} room_bytes;

/* ---- errors ---------------------------------------------------------- */

enum {
    ROOM_OK = 0,
    ROOM_ENOMEM = -1,        /* an allocation failed; state is unchanged */
    ROOM_EINVAL = -2,        /* bad argument from the host */
    ROOM_EJSON = -3,         /* the codec: inbound message is not valid JSON */
    ROOM_EPROTO = -4,        /* the codec: inbound message has wrong shape or types */
    ROOM_ETOOBIG = -5,       /* inbound message exceeds max_message_bytes */
    ROOM_ENAME = -6,         /* room name empty, too long or not UTF-8 */
    ROOM_ELIMIT = -7,        /* a configured limit would be exceeded */
    ROOM_ENOTMEMBER = -8,    /* connection is not in that room */
    ROOM_EALREADY = -9,      /* connection is already in that room */
    ROOM_ENOTFOUND = -10,    /* no such connection or room */
    ROOM_EUNKNOWN = -11,     /* no handler for that event */
    ROOM_ECLOSED = -12,      /* connection is closing */
    ROOM_ETRANSPORT = -13,   /* the host's send callback failed */
    ROOM_EDENIED = -14,      /* refused by the protocol (identity, role) */
    ROOM_ETIMEOUT = -15,     /* an acknowledgement did not arrive in time */
    ROOM_ERESERVED = -16,    /* a client sent a reserved event ("connect", "disconnect") */
    ROOM_ERATELIMIT = -17,   /* the connection sends faster than its rate limit */
    ROOM_EFORBIDDEN = -18,   /* a join authorization refused (room/presence.h) */
    ROOM_ETOOOLD = -19,      /* history: messages after that offset are gone (room/history.h) */
    ROOM_EEPOCH = -20,       /* history: not a position of the room's current epoch */
    ROOM_ESTORAGE = -21,     /* the storage backend failed; the room is read-only (room/storage.h) */
    ROOM_ERROR_MIN = -21
};

/* Why a connection is closed: the WebSocket close codes (RFC 6455, 7.4.1)
 * that libroom's layers send, and that the host's close callback receives. */
typedef enum room_close_code {
    ROOM_CLOSE_NORMAL = 1000,
    ROOM_CLOSE_GOING_AWAY = 1001,       /* server shutting down */
    ROOM_CLOSE_PROTOCOL_ERROR = 1002,
    ROOM_CLOSE_POLICY_VIOLATION = 1008, /* refused, slow consumer, rate limit, no pong */
    ROOM_CLOSE_MESSAGE_TOO_BIG = 1009,
    ROOM_CLOSE_INTERNAL_ERROR = 1011
} room_close_code;

/* Never returns NULL, also for unknown codes. */
ROOM_API const char *room_strerror(int code);
/* Short machine-readable token ("not_member", ...); never NULL. */
ROOM_API const char *room_error_name(int code);

/* ---- version --------------------------------------------------------- */

/* The version of the library actually linked, as "major.minor.patch". */
ROOM_API const char *room_version(void);
ROOM_API unsigned room_version_num(void);

/* ---- configuration --------------------------------------------------- */

/* Used for every allocation a hub makes: connections, rooms, frames,
 * handlers, buffers. (Codec objects, created before any hub, and the
 * libroom-ws binding use the C library's malloc; jansson's own allocations
 * follow json_set_alloc_funcs(), which belongs to the host.) realloc may be
 * NULL; then malloc+copy+free is used. */
typedef struct room_allocator {
    void *(*malloc)(size_t size, void *ud);
    void *(*realloc)(void *ptr, size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} room_allocator;

/* Copies a host-filled struct that starts with `size_t size` and grows at
 * its end (room_config, room_eio_config, room_ws_config, ...) into `dst`
 * (dst_size bytes): zeroes it, copies only as many bytes as both structs
 * hold, and sets dst's size to dst_size. Every layer reads its configs this
 * way. Returns 0, or ROOM_EINVAL when dst or src is NULL or src's size is
 * below min_size (older than the first released layout). */
ROOM_API int room_config_copy(void *dst, size_t dst_size, const void *src, size_t min_size);

/* The C library's malloc, realloc and free: what every layer uses when the
 * host gives no allocator. Static; never NULL. */
ROOM_API const room_allocator *room_allocator_libc(void);

enum { ROOM_LOG_ERROR = 0, ROOM_LOG_WARN = 1, ROOM_LOG_INFO = 2, ROOM_LOG_DEBUG = 3 };

/*
 * Host callbacks, shared with the Socket.IO layer (room/eio.h). `transport`
 * is the host's own handle for the connection, as given to room_conn_open*().
 * None of them may call back into the hub (they run in the middle of hub
 * operations); queue work for later instead.
 *
 * send:  deliver `frame` to `transport`. The frame is borrowed for the call;
 *        room_frame_ref() it to keep it (asynchronous writes). Return 0;
 *        ROOM_ECLOSED if the connection is already closing (not counted as
 *        delivered, nothing else happens); or another negative code if the
 *        connection cannot take it (not counted, and the hub asks the host
 *        to close the connection).
 * close: the hub wants the connection closed (protocol violation, refused
 *        handshake, slow consumer). `code` is a WebSocket close code,
 *        `reason` a short text that lives only for the call (copy it to
 *        keep it). The host closes the socket and later calls
 *        room_conn_close().
 * log:   diagnostics; `message` lives only for the call.
 * random: a source of unpredictable bytes (connection ids, the hash seed).
 *        Return 0 on success.
 */
typedef int (*room_send_fn)(void *transport, room_frame *frame, void *user_data);
typedef void (*room_close_fn)(void *transport, int code, const char *reason, void *user_data);
typedef void (*room_log_fn)(int level, const char *message, void *user_data);
typedef int (*room_random_fn)(void *buf, size_t len, void *user_data);

/* Formats one log line (printf-style, cut at 255 bytes) and hands it to
 * `log` with `user_data`; does nothing when `log` is NULL. */
ROOM_API void room_logf(room_log_fn log, void *user_data, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* room_logf() for layers that take their own printf-style arguments. */
ROOM_API void room_vlogf(room_log_fn log, void *user_data, int level, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 0)))
#endif
    ;

/* The most rooms one connection can be in (max_rooms_per_conn beyond it is
 * ROOM_EINVAL): the count is 16 bits, which keeps a connection small. */
#define ROOM_MAX_ROOMS_PER_CONN 65535

/* Connection ids (and Engine.IO session ids) are this many URL-safe
 * characters carrying 120 random bits. */
#define ROOM_CONN_ID_LEN 20
/* Writes a new id and its NUL to `out`, with bytes from `random` (NULL
 * means getrandom(2)). Returns 0, or ROOM_EINVAL when `random` fails. */
ROOM_API int room_id_generate(char out[ROOM_CONN_ID_LEN + 1], room_random_fn random, void *user_data);

/* What the hub does with an event that has neither a handler nor a
 * room_on_any() handler. */
enum {
    ROOM_UNKNOWN_REPLY_ERROR = 0, /* answer it with an `unknown_event` error (default) */
    ROOM_UNKNOWN_IGNORE = 1       /* drop it silently, as Socket.IO servers do */
};

/*
 * A hub's configuration. Initialise it with room_config_init(), which
 * records in `size` the layout your program was compiled with: the library
 * reads only that many bytes, so a program built against this header keeps
 * working with later libraries whose room_config has grown, and fields it
 * does not know about take their defaults. Every field left 0 (or NULL)
 * means its documented default; there is no other way to ask for one.
 */
typedef struct room_config {
    size_t size; /* sizeof(room_config) as the program saw it: room_config_init() */

    room_send_fn send;   /* required */
    room_close_fn close; /* NULL: the hub cannot ask for closes (it still stops sending) */
    room_log_fn log;     /* NULL: no diagnostics */
    room_random_fn random; /* NULL: getrandom(2) */
    /* Optional; lets the transport prepend its own frame header to each
     * encoded frame once, in the frame's headroom, so that every recipient
     * shares header and payload (see room/frame.h). */
    size_t (*seal)(const room_frame *frame, uint8_t *header, void *user_data);
    void *user_data;

    room_allocator allocator; /* all NULL: the C library's malloc/realloc/free */

    /* Limits. 0 means the default, not "unlimited". */
    size_t max_message_bytes;    /* default 1000000, Engine.IO's maxPayload; see
                                    room_hub_max_message_bytes() */
    size_t max_room_name_bytes;  /* default 128 */
    size_t max_rooms_per_conn;   /* default 128, at most ROOM_MAX_ROOMS_PER_CONN */
    size_t max_members_per_room; /* default 1000000 */
    size_t max_rooms;            /* default 1000000 */
    size_t seal_headroom;        /* bytes reserved for seal(); max 32, default 0 */

    /* The wire format; NULL means room_codec_json(). Borrowed; must outlive
     * the hub. */
    const room_codec *codec;
    /* The cluster adapter; NULL means the local adapter. Owned by the hub
     * after a successful room_hub_new() (destroyed by room_hub_free()). */
    room_adapter *adapter;

    /* ---- after ROOM_CONFIG_SIZE_MIN: absent from older programs' configs */

    /* ROOM_UNKNOWN_REPLY_ERROR (default) or ROOM_UNKNOWN_IGNORE. */
    int unknown_events;

    /* Rate limits on what each connection sends (events and acks alike),
     * as token buckets: `rate` per second refills up to `burst`. 0 rates
     * mean unlimited, the default. A message over either limit is dropped
     * and answered with an `error` event whose data.code is "rate_limited"
     * (ROOM_ERATELIMIT); after `rate_kick_after` such messages in a row the
     * connection is kicked with ROOM_CLOSE_POLICY_VIOLATION. Time is the
     * hub's: room_hub_tick() / room_hub_set_time(). With a limit set, each
     * connection costs 16 bytes more. */
    uint32_t rate_messages;       /* messages per second */
    uint32_t rate_messages_burst; /* default rate_messages; at most 4000000 */
    uint32_t rate_bytes;          /* bytes per second (payload and attachments) */
    /* Default the larger of rate_bytes and max_message_bytes; less than
     * max_message_bytes is ROOM_EINVAL (such a message could never pass). */
    uint32_t rate_bytes_burst;
    uint32_t rate_kick_after; /* default 10, at most 255 */

    /* Connection-state recovery (docs/recovery.md; Socket.IO's
     * connectionStateRecovery). 0, the default, turns it off and costs
     * nothing. With N > 0 a connection whose transport is lost (see
     * room_conn_close()) stays detached for N ms of hub time, keeping its
     * id and rooms, and a client that comes back in time with its private
     * id and last offset (room_open_args) gets it back with the events it
     * missed. Each event without an ack id carries an offset, and every
     * room, and the hub for broadcasts to all and direct emits, keeps a
     * log of the last of them: the shared frames themselves, at most
     * `recovery_log_events` and `recovery_log_bytes` (payload bytes) per
     * log, and none older than N ms. With recovery on, a connection costs
     * 40 bytes more and a room 40 bytes more. */
    uint32_t recovery_ms;
    uint32_t recovery_log_events; /* default 1000 */
    size_t recovery_log_bytes;    /* default 1048576 */
} room_config;

/* The smallest room_config a hub accepts: the first released layout, which
 * ended at `adapter`. New fields only ever go after it. */
#define ROOM_CONFIG_SIZE_MIN (offsetof(room_config, adapter) + sizeof(room_adapter *))

/* Zeroes `config` (every field its default) and sets config->size. Inline,
 * so that it writes exactly the struct the caller was compiled with. */
static inline void room_config_init(room_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
}

/* ---- hub ------------------------------------------------------------- */

/* Creates a hub. Returns 0 and sets *hub_out, or ROOM_EINVAL (missing send
 * callback, config->size below ROOM_CONFIG_SIZE_MIN, impossible limits, a
 * codec or adapter whose size is below its minimum, a random callback that
 * failed) or ROOM_ENOMEM. The first config->size bytes of the config are
 * copied (a larger size, from a program newer than the library, is
 * accepted; the fields the library does not know are ignored); the codec
 * and adapter tables are read once, here, up to their own sizes, and their
 * pointers kept. */
ROOM_API int room_hub_new(room_hub **hub_out, const room_config *config);
/* Frees every connection and everything else without running handlers or
 * callbacks (pending acknowledgements are dropped unanswered). NULL-safe. Frames still referenced by the host must be released first. */
ROOM_API void room_hub_free(room_hub *hub);

/* The largest inbound message the hub takes (max_message_bytes, default
 * resolved): the one message-size limit. Transports enforce it on the wire
 * and the Socket.IO layer announces it as maxPayload, so that a client sees
 * one number. 0 for NULL. */
ROOM_API size_t room_hub_max_message_bytes(const room_hub *hub);

/* Library memory currently allocated through the hub allocator, in bytes
 * (the hub tracks it; used by benchmarks and leak tests). */
ROOM_API size_t room_hub_memory(const room_hub *hub);

/* What a hub has done since it was created, for the host's metrics. Later
 * versions only append fields. */
typedef struct room_hub_stats {
    uint64_t messages_in;      /* messages from connections (room_conn_recv*()),
                                * refused and malformed ones included */
    uint64_t messages_out;     /* messages encoded to send (events, answers, acks,
                                * presence): each once, however many get it */
    uint64_t deliveries;       /* messages handed to the send callback, one per
                                * recipient (the adapter's other nodes not counted) */
    uint64_t rate_limited;     /* messages refused by the rate limits */
    uint64_t connects_refused; /* connections the "connect" handler refused */
} room_hub_stats;

/* Copies the first `size` bytes of the hub's counters into `stats`
 * (zeroing what the library does not have); room_hub_stats_get() passes
 * the host's own size. NULL hub: all zero. Any thread that owns the hub. */
ROOM_API void room_hub_stats_copy(const room_hub *hub, room_hub_stats *stats, size_t size);
static inline void room_hub_stats_get(const room_hub *hub, room_hub_stats *stats)
{
    room_hub_stats_copy(hub, stats, sizeof *stats);
}

/* Timers: the hub owns no clock. room_hub_tick() tells it the time (any
 * monotonic milliseconds); it expires acknowledgement timeouts and frees
 * connections detached for recovery_ms (no handler runs). It returns the
 * milliseconds until the next deadline, or -1 if none is pending. */
ROOM_API int64_t room_hub_tick(room_hub *hub, uint64_t now_ms);
/* Tells the hub the time without expiring anything. Rate limits refill by
 * the hub's time, so a host that sets them passes the time before handing
 * messages in, with this or room_hub_tick() (libroom-ws and the room_eio
 * do). A time earlier than the last one is ignored. */
ROOM_API void room_hub_set_time(room_hub *hub, uint64_t now_ms);

/* ---- connections ------------------------------------------------------ */

/* Registers an accepted connection. `transport` is the host's handle, given
 * back in callbacks. Runs the "connect" handler if one is registered (with
 * no auth payload). *conn_out is set before that handler runs, so that the
 * host's callbacks during it can tell which connection they serve, and is
 * NULL again after a failure. Errors: ROOM_ENOMEM, ROOM_EINVAL, ROOM_EDENIED
 * (the connect handler refused; the connection is not created). Frames a
 * connect handler sent before it refused were handed to the send callback
 * as it sent them, and the hub cannot take them back: whether they reach
 * the client is the host's choice (write them, or drop what it queued for
 * this transport when the open fails). Refusing before sending anything
 * avoids the question. */
ROOM_API int room_conn_open(room_hub *hub, void *transport, room_conn **conn_out);
/* Like room_conn_open(), passing `auth` (borrowed) to the connect handler,
 * as Socket.IO's CONNECT packet does. On ROOM_EDENIED, *refusal_out (if
 * non-NULL) receives a new reference to the refusal SocketResponse. */
ROOM_API int room_conn_open_auth(room_hub *hub, void *transport, json_t *auth,
                                 room_conn **conn_out, json_t **refusal_out);
/* The same, also passing the upgrade request's query parameters (`query`,
 * borrowed, a JSON object from room_query_parse(), or NULL). */
ROOM_API int room_conn_open_handshake(room_hub *hub, void *transport, json_t *auth, json_t *query,
                                      room_conn **conn_out, json_t **refusal_out);
/* What a transport knows about a connecting client, handed to the
 * "connect" handler. The host fills it after room_open_args_init(); later
 * versions only append fields, and the library reads no further than
 * `size`. Every pointer is borrowed for the call. */
/* room_open_args.resume_wait: the cluster answered for `transport`. */
typedef void (*room_resume_wait_fn)(room_hub *hub, void *transport, void *ud);
typedef struct room_open_args {
    size_t size; /* sizeof(room_open_args), set by room_open_args_init() */
    /* The client's auth payload (Socket.IO's CONNECT), or NULL. */
    json_t *auth;
    /* The request's query parameters (room_query_parse()), or NULL. */
    json_t *query;
    /* The request itself, or NULL: an object with "headers" (an object of
     * lower-case header names to string values, a repeated header's values
     * joined with ", "), "address" (the peer's IP address as text),
     * "url" (the request target), "transport" ("websocket" or "polling")
     * and "secure" (whether the host terminated TLS). Socket.IO's
     * socket.handshake, with the same names. */
    json_t *handshake;
    /* Resume a detached connection (room_config.recovery_ms): the private
     * id room_conn_pid() gave it and the offset of the last event the
     * client got, both as text. When both are set, the connection was
     * detached less than recovery_ms ago and nothing after `resume_offset`
     * that it should get has left the logs, the open gives that same
     * connection back (same id, same rooms, room_conn_recovered() true),
     * replays what it missed in order, each event once, and then runs the
     * "connect" handler. Otherwise it is a fresh connection, as without
     * these fields. When the host sets neither and the hub's codec tells
     * clients their private id itself (codec.h, encode_open), the query's
     * "pid" and "offset" parameters are used (docs/protocol-json.md). */
    const char *resume_pid;
    const char *resume_offset;
    /* ---- added with cross-node recovery (docs/recovery.md, "Across
     * nodes"); older hosts leave them out and never wait. */
    /* Set: the host can wait for the cluster. When the resume arguments
     * name no detached connection here and the hub's adapter can ask the
     * other nodes (room_adapter.resume), room_conn_open_with() opens
     * nothing and returns ROOM_OPEN_PENDING; the hub keeps references to
     * auth, query and handshake and copies of the resume arguments, and
     * calls resume_wait(hub, transport, resume_wait_ud) once when the
     * cluster has answered (from inside the adapter's
     * room_hub_resume_complete(), never inside a call of the host's for
     * that transport). The host then calls room_conn_open_pending(), from
     * the callback or later. NULL: the open never waits (a pid unknown
     * here gives a fresh connection, as on a single node). */
    room_resume_wait_fn resume_wait;
    void *resume_wait_ud;
} room_open_args;

/* room_conn_open_with() is waiting for the cluster (resume_wait). */
#define ROOM_OPEN_PENDING 1

/* The smallest room_open_args room_conn_open_with() takes. */
#define ROOM_OPEN_ARGS_MIN_SIZE (offsetof(room_open_args, handshake) + sizeof(json_t *))

static inline void room_open_args_init(room_open_args *args)
{
    memset(args, 0, sizeof *args);
    args->size = sizeof *args;
}

/* Registers a connection like room_conn_open(), running the "connect"
 * handler with args [auth, query, handshake] (each an object or null).
 * `args` NULL means none of them. On ROOM_EDENIED, *refusal_out (if
 * non-NULL) receives a new reference to the refusal SocketResponse.
 * With resume arguments that match a detached connection (see
 * room_open_args), *conn_out is that connection, the events it missed
 * have been handed to `send` before the connect handler runs, and a
 * refusal frees it. Errors: those of room_conn_open(), and ROOM_EINVAL for
 * args->size below ROOM_OPEN_ARGS_MIN_SIZE; ROOM_ENOMEM on a resume leaves
 * the detached connection waiting. With args->resume_wait it may return
 * ROOM_OPEN_PENDING (no connection yet; see room_open_args), and
 * ROOM_EALREADY while an open for `transport` is still pending. */
ROOM_API int room_conn_open_with(room_hub *hub, void *transport, const room_open_args *args,
                                 room_conn **conn_out, json_t **refusal_out);
/* Finishes an open that returned ROOM_OPEN_PENDING, once resume_wait has
 * run for `transport`: with what the cluster answered, *conn_out is the
 * connection recovered from another node (same id and pid, its rooms
 * joined here, room_conn_recovered() 1, the codec's open message and the
 * events it missed handed to `send` before the connect handler runs),
 * else a fresh one, as room_conn_open_with() would open it with the
 * arguments it was first given. The hub drops what it kept of them.
 * Results as room_conn_open_with()'s; ROOM_OPEN_PENDING while no answer
 * has come, ROOM_ENOTFOUND when nothing waits for `transport`. */
ROOM_API int room_conn_open_pending(room_hub *hub, void *transport, room_conn **conn_out,
                                    json_t **refusal_out);
/* The client of a waiting open went away: resume_wait will not run, and
 * the hub drops the arguments. A session the cluster hands over after
 * this still becomes a detached connection here, which the client may
 * resume until it expires. Returns 0, or ROOM_ENOTFOUND when nothing
 * waits for `transport`. Costs nothing on a hub without recovery. */
ROOM_API int room_conn_open_cancel(room_hub *hub, void *transport);
/* Parses a URL query string ("a=1&b=x%20y", without the '?') into a new
 * JSON object of strings, percent- and '+'-decoded; a name given twice keeps
 * its last value. Returns 0 and sets *out, ROOM_EPROTO (a broken escape, an
 * empty name, or a name or value that is not UTF-8), ROOM_ENOMEM or
 * ROOM_EINVAL. Uses the C library's malloc (there is no hub yet). */
ROOM_API int room_query_parse(const char *query, size_t len, json_t **out);
/* Hands the hub one complete inbound message; event handlers run inside
 * this call. Each result has one meaning:
 *   0               the message was handled (a handler's own failure is
 *                   answered to the client with room_fail() and logged at
 *                   ROOM_LOG_DEBUG; it never comes back here)
 *   ROOM_EJSON, ROOM_EPROTO
 *                   the codec could not decode these bytes, and nothing
 *                   else; the client got an `error` event
 *   ROOM_ETOOBIG    longer than max_message_bytes (answered likewise)
 *   ROOM_ERESERVED  an event named "connect" or "disconnect" (answered)
 *   ROOM_EUNKNOWN   no handler and no room_on_any() for the event
 *                   (answered; with ROOM_UNKNOWN_IGNORE, dropped and 0)
 *   ROOM_ENOMEM     out of memory decoding it
 *   ROOM_ECLOSED    the connection is closing or kicked
 *   ROOM_EINVAL     NULL arguments, or an attachment count that differs
 *                   from the one the message announced
 * The connection stays usable after any of them. */
ROOM_API int room_conn_recv(room_hub *hub, room_conn *conn, const void *bytes, size_t len);
/* The same for a message that announced binary attachments (Socket.IO's
 * BINARY_EVENT / BINARY_ACK), once all of them have arrived. */
ROOM_API int room_conn_recv_binary(room_hub *hub, room_conn *conn, const void *bytes, size_t len,
                                   const room_bytes *attachments, size_t attachment_count);
/* Charges one message of `len` bytes to the connection's rate limits
 * (room_config.rate_*), as room_conn_recv() does before it decodes: for a
 * host that reads a connection's messages itself (a prefix mount). 0 when
 * it passes (or the hub has no limits); ROOM_ERATELIMIT when it does not:
 * counted in room_hub_stats.rate_limited, nothing sent, the connection
 * left as it is (the caller answers in its protocol); ROOM_EINVAL for
 * NULL. */
ROOM_API int room_conn_rate_take(room_hub *hub, room_conn *conn, size_t len);
/* The connection is gone: runs the "disconnect" handler, leaves every room,
 * frees the connection. `reason` may be NULL. This is the host's call, made
 * outside hub callbacks; a handler that wants a connection gone uses
 * room_conn_kick(), and room_conn_close() called while any handler of the
 * hub is running behaves like room_conn_kick(hub, conn, 1000, reason).
 * NULL conn is a no-op.
 *
 * With recovery on (room_config.recovery_ms), a connection the server did
 * not kick is detached instead of freed: the "disconnect" handler runs as
 * above, then the connection keeps its id, rooms and data, receives
 * nothing, is not found by room_conn_find(), room_conns_foreach(),
 * room_members_foreach() or counted by room_conn_count() and
 * room_member_count(), and its pending acks fail with ROOM_ECLOSED. It is
 * freed (no handler runs again) when a resume takes it back, or
 * recovery_ms later at room_hub_tick(). The host forgets the pointer
 * either way. If the detached record cannot be allocated, the connection
 * is freed as without recovery. */
ROOM_API void room_conn_close(room_hub *hub, room_conn *conn, const char *reason);
/* room_conn_close() that never detaches: the client left on purpose
 * (Socket.IO's "client namespace disconnect"). */
ROOM_API void room_conn_close_final(room_hub *hub, room_conn *conn, const char *reason);
/* The connection's private id for resuming (ROOM_CONN_ID_LEN random
 * characters, secret between server and client, unlike room_conn_id()), or
 * "" when the hub has no recovery. Valid while the connection lives. */
ROOM_API const char *room_conn_pid(const room_hub *hub, const room_conn *conn);
/* 1 when the connection was resumed (room_open_args.resume_pid), from
 * inside its "connect" handler on; else 0. */
ROOM_API int room_conn_recovered(const room_conn *conn);
/* Asks the host to close the connection (the close callback, once), and
 * stops sending to it. The connection stays valid until the host calls
 * room_conn_close(). */
ROOM_API void room_conn_kick(room_hub *hub, room_conn *conn, int code, const char *reason);

/* Finds a connection by id; NULL if none (or it is closing). */
ROOM_API room_conn *room_conn_find(room_hub *hub, const char *id);
/* The connection's id (ROOM_CONN_ID_LEN characters, room_id_generate()). */
ROOM_API const char *room_conn_id(const room_conn *conn);
ROOM_API void *room_conn_transport(const room_conn *conn);
/* One pointer of protocol state per connection, owned by whoever sets it. */
ROOM_API void room_conn_set_data(room_conn *conn, void *data);
ROOM_API void *room_conn_data(const room_conn *conn);
ROOM_API size_t room_conn_count(const room_hub *hub);

/* ---- rooms ------------------------------------------------------------ */

/* Joins `conn` to `room` (created on first join). Errors: ROOM_ENAME,
 * ROOM_EALREADY, ROOM_ELIMIT, ROOM_ENOMEM, ROOM_ECLOSED. */
ROOM_API int room_join(room_hub *hub, room_conn *conn, const char *room);
/* Leaves; the room is freed when its last member leaves. Errors: ROOM_ENAME,
 * ROOM_ENOTMEMBER. */
ROOM_API int room_leave(room_hub *hub, room_conn *conn, const char *room);
/* Leaves every room; returns how many were left. */
ROOM_API int room_leave_all(room_hub *hub, room_conn *conn);
ROOM_API int room_is_member(room_hub *hub, const room_conn *conn, const char *room);
/* Members of a room; 0 for a room that does not exist. */
ROOM_API size_t room_member_count(room_hub *hub, const char *room);
ROOM_API size_t room_count(const room_hub *hub);

/* Iteration. The callback returns 0 to go on, non-zero to stop (that value
 * is returned). It must not join, leave or close. */
typedef int (*room_conn_visit_fn)(room_conn *conn, void *ud);
typedef int (*room_name_visit_fn)(const char *room, void *ud);
ROOM_API int room_members_foreach(room_hub *hub, const char *room, room_conn_visit_fn fn, void *ud);
/* Every connection of the hub, kicked ones included (a closing one, whose
 * disconnect handler is running, too), in no particular order. */
ROOM_API int room_conns_foreach(room_hub *hub, room_conn_visit_fn fn, void *ud);
ROOM_API int room_conn_rooms_foreach(room_hub *hub, const room_conn *conn, room_name_visit_fn fn, void *ud);
ROOM_API size_t room_conn_room_count(const room_conn *conn);

/* By connection id, on whichever node holds it (Sails' sockets.join/leave).
 * `done` (optional) runs once when the operation is complete on this node,
 * with 0 or a negative code; with the local adapter that happens before the
 * call returns. The return value reports argument errors only. */
typedef void (*room_done_fn)(room_hub *hub, int status, void *ud);
ROOM_API int room_join_id(room_hub *hub, const char *conn_id, const char *room, room_done_fn done, void *ud);
ROOM_API int room_leave_id(room_hub *hub, const char *conn_id, const char *room, room_done_fn done, void *ud);

/* ---- sending ------------------------------------------------------------ */

/* Every send encodes the event once into one frame shared by all
 * recipients. An event carries any number of arguments, as Socket.IO's
 * emit("x", 1, "2", {three: 3}) does: the _args calls take them as `argc`
 * JSON values in `argv` (borrowed; none may be NULL; argv may be NULL when
 * argc is 0), plus binary attachments (NULL, 0 for none) whose
 * {"_placeholder":true,"num":i} objects may sit in any argument
 * (docs/protocol-socketio.md). Attachments are copied into the shared frame
 * chain and need a codec with binary support (ROOM_EINVAL otherwise).
 *
 * The single-payload calls are the one-argument case: `payload` is the only
 * argument (borrowed; _new variants steal it), NULL sends the event with no
 * argument. Use room_response_new() to build the {"msg","data"} envelope.
 *
 * Sends to many return the number of deliveries made (>= 0) or a negative
 * code: ROOM_ENOMEM, ROOM_EINVAL, ROOM_ENAME. A room that does not exist has
 * no members: 0 deliveries. */
ROOM_API int room_send_args(room_hub *hub, const char *room, const char *event, json_t *const *argv,
                            size_t argc, const room_bytes *attachments, size_t attachment_count,
                            const room_conn *except);
ROOM_API int room_send(room_hub *hub, const char *room, const char *event, json_t *payload,
                       const room_conn *except);
ROOM_API int room_send_new(room_hub *hub, const char *room, const char *event, json_t *payload,
                           const room_conn *except);
/* To every connection of the hub. */
ROOM_API int room_broadcast_args(room_hub *hub, const char *event, json_t *const *argv, size_t argc,
                                 const room_bytes *attachments, size_t attachment_count,
                                 const room_conn *except);
ROOM_API int room_broadcast(room_hub *hub, const char *event, json_t *payload, const room_conn *except);
ROOM_API int room_broadcast_new(room_hub *hub, const char *event, json_t *payload,
                                const room_conn *except);
/* To one connection. Returns 0 or a negative code. */
ROOM_API int room_emit_args(room_hub *hub, room_conn *conn, const char *event, json_t *const *argv,
                            size_t argc, const room_bytes *attachments, size_t attachment_count);
ROOM_API int room_emit(room_hub *hub, room_conn *conn, const char *event, json_t *payload);
ROOM_API int room_emit_new(room_hub *hub, room_conn *conn, const char *event, json_t *payload);
/* To one connection, asking for an acknowledgement. When this returns 0,
 * `done` runs exactly once: with status 0 and the client's reply arguments
 * (a borrowed JSON array, as many as the client gave), or with
 * ROOM_ETIMEOUT / ROOM_ECLOSED and NULL. Needs a codec with acks.
 * Timeouts are measured against the time last given to room_hub_tick().
 * Errors (then `done` never runs): ROOM_EINVAL, ROOM_ECLOSED, ROOM_ENOMEM,
 * ROOM_ETRANSPORT (the send callback failed; the connection is kicked). */
typedef void (*room_ack_fn)(room_hub *hub, room_conn *conn, int status, json_t *args, void *ud);
ROOM_API int room_emit_ack_args(room_hub *hub, room_conn *conn, const char *event,
                                json_t *const *argv, size_t argc, const room_bytes *attachments,
                                size_t attachment_count, uint32_t timeout_ms, room_ack_fn done,
                                void *ud);
ROOM_API int room_emit_ack(room_hub *hub, room_conn *conn, const char *event, json_t *payload,
                           uint32_t timeout_ms, room_ack_fn done, void *ud);
/* The single-payload calls with binary attachments. */
ROOM_API int room_send_binary(room_hub *hub, const char *room, const char *event, json_t *payload,
                              const room_bytes *attachments, size_t attachment_count,
                              const room_conn *except);
ROOM_API int room_emit_binary(room_hub *hub, room_conn *conn, const char *event, json_t *payload,
                              const room_bytes *attachments, size_t attachment_count);
ROOM_API int room_broadcast_binary(room_hub *hub, const char *event, json_t *payload,
                                   const room_bytes *attachments, size_t attachment_count,
                                   const room_conn *except);
/* Sends an already encoded frame to a connection (the host's own frames). */
ROOM_API int room_send_frame(room_hub *hub, room_conn *conn, room_frame *frame);

/* {"msg": msg, "data": data}; `data` is stolen (NULL means JSON null).
 * Returns NULL when out of memory, or when `msg` is NULL or not UTF-8. */
ROOM_API json_t *room_response_new(const char *msg, json_t *data);

/* ---- event dispatch ------------------------------------------------------ */

/* An inbound event as the handler sees it. Everything is borrowed for the
 * duration of the handler. */
typedef struct room_event {
    const char *name;
    json_t *args;     /* JSON array of the arguments, never NULL */
    int64_t ack_id;   /* >= 0 when the client asked for an acknowledgement */
    const room_bytes *attachments; /* binary attachments, in placeholder order */
    size_t attachment_count;
} room_event;

/* A handler returns 0, or a negative code: when it has not replied itself,
 * the hub then answers with an error response built from that code.
 * Handlers may call any hub function except room_hub_free() and
 * room_conn_close() (use room_conn_kick()).
 *
 * Reserved names: "connect" runs inside room_conn_open*() with args
 * [auth, query, handshake] (each an object or null; see room_open_args) and may refuse with room_refuse(); "disconnect" runs inside
 * room_conn_close() with args [reason] while the connection is still in its
 * rooms. Clients cannot send reserved events. */
typedef int (*room_handler_fn)(room_hub *hub, room_conn *conn, const room_event *ev, void *ud);

/* Registers (or replaces, when `fn` is non-NULL, or removes, when NULL) the
 * handler for `event`. The name is copied. Errors: ROOM_EINVAL, ROOM_ENOMEM. */
ROOM_API int room_on(room_hub *hub, const char *event, room_handler_fn fn, void *ud);
/* A protocol's handlers, for room_on_many(). */
typedef struct room_handler_entry {
    const char *event;
    room_handler_fn fn;
} room_handler_entry;
/* room_on() for each of `count` entries, all with `ud`. Returns 0, or the
 * first error (the entries before it stay registered). */
ROOM_API int room_on_many(room_hub *hub, const room_handler_entry *entries, size_t count, void *ud);

/* The handler for events with no handler of their own; the default answers
 * ROOM_EUNKNOWN, or ignores them when the config's unknown_events says so.
 * A room_on_any() handler overrides either. */
ROOM_API int room_on_any(room_hub *hub, room_handler_fn fn, void *ud);

/* Answers `ev` with `argc` arguments (borrowed, as for room_emit_args()):
 * as the acknowledgement when the client asked for one (its callback gets
 * them all), otherwise as an event named `reply_event` (NULL means
 * "result"). At most one answer per event; later calls return
 * ROOM_EALREADY. */
ROOM_API int room_reply_args(room_hub *hub, room_conn *conn, const room_event *ev,
                             const char *reply_event, json_t *const *argv, size_t argc,
                             const room_bytes *attachments, size_t attachment_count);
/* room_reply_args() with the one argument `payload`, stolen. */
ROOM_API int room_reply_new(room_hub *hub, room_conn *conn, const room_event *ev,
                            const char *reply_event, json_t *payload);
/* room_reply_new() with binary attachments (payload stolen). */
ROOM_API int room_reply_binary_new(room_hub *hub, room_conn *conn, const room_event *ev,
                                   const char *reply_event, json_t *payload,
                                   const room_bytes *attachments, size_t attachment_count);
/* Answers `ev` with an error SocketResponse {"msg": message, "data":
 * {"code": room_error_name(code), "event": ev->name}}: as the ack when one
 * was asked for, otherwise as an `error` event. `message` NULL means
 * room_strerror(code). Returns `code`, so handlers can `return room_fail(..)`. */
ROOM_API int room_fail(room_hub *hub, room_conn *conn, const room_event *ev, int code, const char *message);
/* From a "connect" handler: refuse the connection with `message` and
 * optional `data` (stolen). The connection is refused once this succeeds,
 * whatever the handler returns; it should return ROOM_EDENIED. (Any
 * negative return from a connect handler refuses too, with a response built
 * from that code.) Errors: ROOM_EINVAL (not inside a connect handler for
 * `conn`, NULL message), ROOM_ENOMEM. */
ROOM_API int room_refuse(room_hub *hub, room_conn *conn, const char *message, json_t *data);

#ifdef __cplusplus
}
#endif

#endif
