/*
 * libroom-yjs: a Yjs backend that the stock y-websocket client uses
 * unchanged (docs/protocol-yjs.md).
 *
 * Two parts:
 *   - the y-websocket wire codec: lib0's variable-length integers and byte
 *     arrays, the message envelope (sync step 1 / step 2 / update,
 *     awareness, auth, query-awareness) and awareness updates, decoded
 *     strictly (every length checked against the bytes that remain, no
 *     integer past 2^53 - 1, JavaScript's safe range) and fuzzed
 *     (tests/fuzz/fuzz_yjs.c);
 *   - the protocol on a hub (room_yjs): one hub per mount, one connection
 *     per WebSocket, the room from the URL path. Documents are the core's
 *     room storage (room/storage.h: an update log relayed with one frame
 *     for every member, streamed to joiners, compacted by asking a member
 *     for its full state); awareness is the core's presence
 *     (room/presence.h): each awareness client's state is a key of its
 *     connection's presence state in the room.
 *
 * The server never understands a Yjs update: it keeps and relays them.
 *
 * Threading, ownership and errors follow room/room.h: one thread per hub,
 * arguments borrowed for the call, negative ROOM_E* codes.
 */
#ifndef ROOM_YJS_H
#define ROOM_YJS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "room/presence.h"
#include "room/room.h"
#include "room/storage.h"
#include "room/yjs_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the wire codec ------------------------------------------------------ */

/* The largest integer lib0 reads (Number.MAX_SAFE_INTEGER). */
#define ROOM_YJS_MAX_UINT (((uint64_t)1 << 53) - 1)
/* The most bytes a varUint of that range takes. */
#define ROOM_YJS_VARUINT_MAX 8

/* y-websocket's message types (the first varUint of a message). */
enum {
    ROOM_YJS_MSG_SYNC = 0,
    ROOM_YJS_MSG_AWARENESS = 1,
    ROOM_YJS_MSG_AUTH = 2,
    ROOM_YJS_MSG_QUERY_AWARENESS = 3
};
/* y-protocols' sync message types (the second varUint of a sync message). */
enum { ROOM_YJS_SYNC_STEP1 = 0, ROOM_YJS_SYNC_STEP2 = 1, ROOM_YJS_SYNC_UPDATE = 2 };

/* lib0 readVarUint: reads one integer at *pos of `bytes` (len bytes) and
 * advances *pos past it. Returns 0, or ROOM_EPROTO (the bytes end inside
 * it, or it passes ROOM_YJS_MAX_UINT); *pos is unchanged on error. */
ROOM_YJS_API int room_yjs_read_uint(const uint8_t *bytes, size_t len, size_t *pos, uint64_t *out);
/* lib0 readVarUint8Array (also readVarString's bytes): a varUint length,
 * then that many bytes, which must all be there. Sets *data (pointing into
 * `bytes`) and *data_len. Errors as room_yjs_read_uint(). */
ROOM_YJS_API int room_yjs_read_bytes(const uint8_t *bytes, size_t len, size_t *pos,
                                     const uint8_t **data, size_t *data_len);
/* lib0 writeVarUint of `v` (at most ROOM_YJS_MAX_UINT) into `out`, which
 * has room for ROOM_YJS_VARUINT_MAX bytes; returns the bytes written. */
ROOM_YJS_API size_t room_yjs_write_uint(uint8_t *out, uint64_t v);

/* One decoded message, pointing into the decoded bytes. */
typedef struct room_yjs_msg {
    uint64_t type;       /* ROOM_YJS_MSG_*, or another value (see below) */
    uint64_t sync;       /* ROOM_YJS_MSG_SYNC: ROOM_YJS_SYNC_* */
    /* SYNC: the state vector (step 1) or the update (step 2, update);
     * AWARENESS: the awareness update; AUTH: what follows the type (its
     * own varUint and reason); QUERY_AWARENESS: nothing; another type:
     * the rest of the bytes, which cannot be split without knowing it. */
    const uint8_t *data;
    size_t len;
    /* The whole message within the decoded bytes (relays copy it as is). */
    size_t start, end;
} room_yjs_msg;

/* Decodes the message at *pos of `bytes` (len) and advances *pos past it.
 * y-websocket sends one message per WebSocket message, but its reader
 * takes several in a row, so a caller loops until 0. Returns 1 (a
 * message), 0 (*pos is at the end), or ROOM_EPROTO (a length past the end,
 * an integer out of range, an unknown sync type; *pos unchanged). */
ROOM_YJS_API int room_yjs_decode(const uint8_t *bytes, size_t len, size_t *pos, room_yjs_msg *msg);

/* One entry of an awareness update (y-protocols' encodeAwarenessUpdate:
 * varUint count, then per entry varUint clientID, varUint clock,
 * varString JSON state, "null" for a removed client). */
typedef struct room_yjs_awareness_entry {
    uint64_t client;
    uint64_t clock;
    const char *state; /* the JSON text, not NUL-terminated; inside the update */
    size_t state_len;
} room_yjs_awareness_entry;

/* Reads the entry count of an awareness update at *pos (0 for a fresh
 * update). ROOM_EPROTO also when the count cannot fit in the bytes left
 * (an entry takes at least 3). */
ROOM_YJS_API int room_yjs_awareness_count(const uint8_t *update, size_t len, size_t *pos,
                                          uint64_t *count);
/* Reads the next entry. Returns 0 or ROOM_EPROTO (as room_yjs_decode();
 * the state's UTF-8 and JSON are not checked here). */
ROOM_YJS_API int room_yjs_awareness_next(const uint8_t *update, size_t len, size_t *pos,
                                         room_yjs_awareness_entry *entry);

/* ---- the protocol on a hub ------------------------------------------------ */

typedef struct room_yjs room_yjs;

/* A connection is opening in `room`, before it enters the room: the host
 * may set its user (room_conn_set_user(), from a token in `query`, say) or
 * refuse it with a negative code and *reason (the host's storage, read at
 * once; NULL: room_strerror()). `query` and `handshake` are borrowed (each
 * may be NULL). */
typedef int (*room_yjs_connect_fn)(room_hub *hub, room_conn *conn, const char *room, json_t *query,
                                   json_t *handshake, const char **reason, void *ud);

/* Host-filled; initialise with room_yjs_config_init(); 0 / NULL fields
 * take their defaults; later versions only append fields. */
typedef struct room_yjs_config {
    size_t size; /* sizeof(room_yjs_config), set by room_yjs_config_init() */

    /* Memory of the layer's own (per connection and per awareness
     * client); NULL: the C library's. */
    const room_allocator *allocator;

    /* Identity (optional, see room_yjs_connect_fn) and the join
     * authorization: `authorize` runs as the presence join hook
     * (room/presence.h) with the request's query parameters (an object,
     * `?token=...`) as the join's metadata; a refusal closes the
     * WebSocket with 1008 after an auth message "permission-denied" that
     * the client logs. */
    room_yjs_connect_fn connect;
    room_join_auth_fn authorize;
    void *user_data; /* given to connect and authorize */

    /* The room storage settings (room/storage.h): store, scope, caps,
     * compact_bytes (0: 1024 here, not the storage's 1 MiB: a document's
     * small updates cost about twice their bytes as log entries),
     * compact_growth_percent (0: 10 here, not the storage's 100, for the
     * same reason). Copied; update_prefix, frame_kind, compact and
     * user_data are the layer's own. NULL: every default. */
    const room_storage_config *storage;

    /* Payload bytes of the log streamed to a joiner per step; the next
     * step waits until the connection's output is written
     * (room_yjs_drained()). Default 262144. */
    size_t sync_chunk_bytes;
    /* Every connection gets at least one message this often, so that a
     * client alone in a room, whose own awareness is not echoed (its
     * local state is null), keeps its socket (y-websocket closes one that
     * received nothing for 30 s). Default 15000. */
    uint32_t keepalive_ms;
    /* The largest awareness state of one client, JSON bytes; the presence
     * state of a connection holds all of its clients'. Default 16384. */
    size_t max_awareness_bytes;
} room_yjs_config;

#define ROOM_YJS_CONFIG_SIZE_MIN (offsetof(room_yjs_config, max_awareness_bytes) + sizeof(size_t))

static inline void room_yjs_config_init(room_yjs_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
}

/* Serves y-websocket on `hub` (borrowed; it must outlive the room_yjs and
 * serve nothing else): registers its "connect" and "disconnect" handlers,
 * turns presence on (room_presence_enable(), no events of its own) and
 * storage (room_storage_enable(): call it on a hub without room state).
 * The room of a connection is the "name" of its handshake (libroom-ws's
 * prefix mounts set it from the path), else its query's "room". Errors:
 * ROOM_EINVAL (NULL, size below the minimum), those of
 * room_storage_enable() and room_presence_enable(), ROOM_ENOMEM. */
ROOM_YJS_API int room_yjs_new(room_yjs **yjs_out, room_hub *hub, const room_yjs_config *config);
/* Unregisters the handlers and frees the layer's memory; call it after the
 * hub's connections are closed (room_hub_free() needs no room_yjs).
 * NULL-safe. */
ROOM_YJS_API void room_yjs_free(room_yjs *yjs);

/* A binary WebSocket message of `conn`: one or more y-websocket messages,
 * handled in order. Returns 0, or the error that made it close the
 * connection (room_conn_kick()): ROOM_EPROTO (1002: undecodable, or an
 * awareness state that is not JSON), ROOM_ETOOBIG (1009: an awareness
 * state past max_awareness_bytes, an update past the storage caps),
 * ROOM_ELIMIT (1008: the document is at max_log_bytes), ROOM_ERATELIMIT
 * (1008: over the hub's rate limits, room_config.rate_*, charged once per
 * WebSocket message; closed rather than dropped, since a dropped update
 * would leave the client believing the server has it, and the client
 * sends its whole state again when it reconnects), ROOM_ESTORAGE (1011:
 * the room is read-only; likewise), ROOM_ENOMEM (1011). A client's auth
 * messages and messages of unknown types are ignored. */
ROOM_YJS_API int room_yjs_recv(room_yjs *yjs, room_conn *conn, const void *bytes, size_t len);
/* The connection's output has been written: streams the next part of
 * a joiner's log. */
ROOM_YJS_API void room_yjs_drained(room_yjs *yjs, room_conn *conn);
/* Runs the hub's clock (room_hub_tick()) and the keepalive; returns the
 * milliseconds until it wants to run again, or -1. */
ROOM_YJS_API int64_t room_yjs_tick(room_yjs *yjs, uint64_t now_ms);
/* The hub served. */
ROOM_YJS_API room_hub *room_yjs_hub(const room_yjs *yjs);

#ifdef __cplusplus
}
#endif

#endif
