/*
 * libroom: shared room storage (an append-only log of opaque updates per
 * room, compacted without understanding it), room history's settings, and
 * the storage backend interface (`room_store`). docs/history.md has the
 * model; room/history.h the history calls.
 *
 * Threading, ownership and errors follow room/room.h: one thread per hub,
 * `const char *` and byte arguments borrowed for the call (the hub copies
 * what it keeps), negative ROOM_E* codes.
 *
 * Model. Every room can have two kinds of kept state, each opened at its
 * first use and counted in room_hub_memory():
 *   - history (room/history.h): the last messages sent to the room with
 *     room_history_send_args(), as the shared frames the members got;
 *   - storage (this header): a log of opaque binary updates that clients
 *     submit. Each append is kept once (a big one as the frame relayed to
 *     the other members; one of 512 bytes or less as its bytes, its frame
 *     made again for a joiner), relayed at once to the room's synced
 *     members, and a member that starts a sync gets the whole log, streamed
 *     at the pace its host chooses, before any relay.
 * Both live apart from the room's membership: they outlive the room's
 * last member, and a room without members keeps them (until the hub is
 * freed, or, with a store, until they are written and unloaded).
 *
 * Offsets. Each history message and each log entry has an offset: history
 * offsets are 1, 2, 3... per room and never reused, log offsets likewise on
 * their own counter. A room's epoch (text, ROOM_EPOCH_MAX characters at
 * most, [A-Za-z0-9_-]) names one unbroken run of offsets: it is drawn at
 * random when a room's state is created, kept by a store across restarts,
 * and replaced when the state is lost (no store and a restart, or an
 * unloaded room whose history was not kept).
 *
 * Persistence. With a store (room_storage_config.store), the state of a
 * room is loaded at its first use, and what changed is handed to the store
 * in one batch per room at each flush (room_hub_tick() and
 * room_storage_flush(): once per loop iteration in libroom-ws), never
 * during a send. A store that fails makes the rooms of the failed write
 * read-only: their state stays in memory (nothing is dropped; later flushes
 * retry the write), and room_storage_append() and room_history_send_args()
 * on them answer ROOM_ESTORAGE until a write succeeds. A load that fails
 * answers ROOM_ESTORAGE to the call that needed the room, which may retry.
 * Without a store, the state lives in the hub's memory only, and goes with
 * the hub.
 *
 * Re-entrancy: the compact callback runs inside room_hub_tick() /
 * room_storage_flush(); it may send (room_emit(), room_send_frame(), ...)
 * and call room_storage_compaction_begin() and _member(), but must not
 * join, leave or close; the other room_storage_* and room_history_* calls
 * made from it (or from a foreach visit) return ROOM_EINVAL. Store
 * functions run inside hub calls too and must not call into the hub at all
 * (only the room_store_sink_* functions during load).
 *
 * room_hub_free() hands the store what is still unwritten once more (no
 * compaction asks); a failure there is logged. Single node: appends are
 * not published to the cluster adapter.
 */
#ifndef ROOM_STORAGE_H
#define ROOM_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "room/room.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest epoch, in characters (excluding the NUL). */
#define ROOM_EPOCH_MAX 32
/* The longest prefix an update_prefix callback may write. */
#define ROOM_STORAGE_PREFIX_MAX 16

/* ---- the storage backend interface --------------------------------------- */

typedef struct room_store room_store;
/* What a store's load function feeds a room's state into. */
typedef struct room_store_sink room_store_sink;

/* One log entry of a batch: the update's bytes (without the frame prefix),
 * borrowed for the write call. */
typedef struct room_store_update {
    uint64_t offset;
    const uint8_t *data;
    size_t len;
} room_store_update;

/* One history message of a batch: the encoded frames as the members got
 * them (without transport header), borrowed for the write call. parts[0]
 * is the message (`kind`, ROOM_FRAME_TEXT or ROOM_FRAME_BINARY), parts[1..]
 * its binary attachments (Socket.IO), in order. */
typedef struct room_store_message {
    uint64_t offset;
    int kind;
    const room_bytes *parts;
    size_t part_count;
} room_store_message;

/* What changed in one room since the last successful write. Everything is
 * borrowed for the write call; a store that writes later copies it first.
 * A store applies the parts in this order, atomically for the batch (a
 * store that cannot be atomic says so in its documentation):
 *   1. meta: epoch, history_last, log_last (replace what it had);
 *   2. history: delete messages with offset <= history_floor, then add
 *      `messages` (offsets above any it has);
 *   3. log: when replace_upto > 0, delete entries with offset <=
 *      replace_upto and add `snapshot` as the entry at offset
 *      replace_upto (a compaction); then add `updates` (offsets above
 *      replace_upto and above any it has). */
typedef struct room_store_batch {
    size_t size; /* sizeof(room_store_batch) of the library */
    const char *room;
    const char *epoch;
    uint64_t history_last;  /* the last history offset given (0: none yet) */
    uint64_t history_floor; /* messages at or below it are gone */
    const room_store_message *messages;
    size_t message_count;
    uint64_t log_last;      /* the last log offset given (0: none yet) */
    uint64_t replace_upto;  /* 0: no compaction in this batch */
    room_bytes snapshot;    /* the compacted entry, when replace_upto > 0 */
    const room_store_update *updates;
    size_t update_count;
} room_store_batch;

/*
 * A backend. Like room_adapter, the table starts with the size it was built
 * with; room_storage_enable() refuses one below ROOM_STORE_SIZE_MIN, copies
 * its first `size` bytes, and passes the host's own pointer to its
 * functions. The store is borrowed: it must outlive every hub using it (so
 * that one store can serve several hubs, and a hub can be freed and made
 * again on the same store, which is a restart). `scope` is the hub's
 * room_storage_config.store_scope ("" when unset): a store shared by hubs
 * keeps their rooms apart by it.
 *
 * load:  at a room's first use: feed what is stored for (scope, room) to
 *        the sink (room_store_sink_meta() first, then its updates and
 *        messages, each in offset order) and return 0; or return
 *        ROOM_ENOTFOUND when nothing is stored (the room starts empty
 *        with a new epoch); or another negative code (the room is not
 *        opened; the caller gets ROOM_ESTORAGE). A sink function's error
 *        must be returned as is. NULL: every room starts empty.
 * write: hand over `count` batches (at most one per room) at a flush.
 *        Return 0 once the store has them (written, or copied to be
 *        written); a negative code makes every room of the call read-only
 *        until a later write succeeds, and the same changes (with any
 *        newer ones) are offered again at each flush. Never called with
 *        count 0.
 * destroy: frees the store (room_store_free()); may be NULL.
 */
struct room_store {
    size_t size; /* sizeof(struct room_store) the store was built with */
    const char *name;
    void *state;
    int (*load)(room_store *store, const char *scope, const char *room, room_store_sink *sink);
    int (*write)(room_store *store, const char *scope, const room_store_batch *batches,
                 size_t count);
    void (*destroy)(room_store *store);
};

#define ROOM_STORE_SIZE_MIN (offsetof(struct room_store, destroy) + sizeof(void (*)(room_store *)))

/* From a load function only, for its sink. Each copies what it is given.
 * Errors: ROOM_EINVAL (a malformed epoch; meta not first or given twice;
 * offsets not increasing, above the meta's last, or at or below
 * history_floor; an empty part list), ROOM_ETOOBIG (past the hub's caps),
 * ROOM_ENOMEM. A load whose sink failed opens nothing. */
ROOM_API int room_store_sink_meta(room_store_sink *sink, const char *epoch, uint64_t history_last,
                                  uint64_t history_floor, uint64_t log_last);
ROOM_API int room_store_sink_update(room_store_sink *sink, uint64_t offset, const void *data,
                                    size_t len);
ROOM_API int room_store_sink_message(room_store_sink *sink, uint64_t offset, int kind,
                                     const room_bytes *parts, size_t part_count);

/* Calls the store's destroy. NULL-safe. */
ROOM_API void room_store_free(room_store *store);

/* A store that keeps everything in process memory, apart from any hub: a
 * hub freed and made again on it finds its rooms as they were (same
 * epoch), as with a database. The reference implementation of the
 * interface; tests use it to restart with persistence. `alloc` NULL: the C
 * library's. Its memory is not any hub's (room_store_memory_bytes()).
 * Errors: ROOM_EINVAL, ROOM_ENOMEM. */
ROOM_API int room_store_memory_new(room_store **store_out, const room_allocator *alloc);
/* Bytes the memory store holds; 0 for NULL or another kind of store. */
ROOM_API size_t room_store_memory_bytes(const room_store *store);
/* Makes the memory store's next `count` writes fail with ROOM_ESTORAGE
 * (tests of the failure path; 0 stops). Returns ROOM_EINVAL for another
 * kind of store. */
ROOM_API int room_store_memory_fail_writes(room_store *store, unsigned count);

/* ---- configuration ------------------------------------------------------ */

/* Called at a flush for a room whose log has grown past its compaction
 * threshold (below), once per crossing (again after more appends, or after
 * an aborted compaction). The protocol layer picks a synced member, calls
 * room_storage_compaction_begin() and asks that member for its full state
 * (y-websocket: a sync step 1 with an empty state vector); doing nothing
 * is allowed. See the re-entrancy rule above. */
typedef void (*room_storage_compact_fn)(room_hub *hub, const char *room, void *ud);

/* Writes the bytes that go in front of an update in its frame (a
 * y-websocket message header, say) into `prefix` (at most
 * ROOM_STORAGE_PREFIX_MAX bytes) and returns how many. Pure: it must not
 * call into the hub. */
typedef size_t (*room_storage_prefix_fn)(const uint8_t *update, size_t len, uint8_t *prefix,
                                         void *ud);

/* A room's event for the protocol layer (room_storage_config.fetched). */
typedef void (*room_storage_room_fn)(room_hub *hub, const char *room, void *ud);
/* Relayed bytes from another node (room_storage_config.relayed). */
typedef void (*room_storage_relay_fn)(room_hub *hub, const char *room, const void *bytes, size_t len,
                                      void *ud);

/* A hub's history and storage settings. Initialise with
 * room_storage_config_init(); 0 / NULL fields take their defaults. Copied
 * by room_storage_enable(); later versions only append fields. */
typedef struct room_storage_config {
    size_t size; /* sizeof(room_storage_config), set by room_storage_config_init() */

    /* The backend; NULL (default) keeps everything in the hub's memory
     * only. Borrowed (see room_store). */
    room_store *store;
    const char *store_scope; /* copied; NULL: "" */

    /* History by name: rooms whose name matches one of these
     * comma-separated glob patterns (`*` any run, `?` one character;
     * "chat:*,lobby") keep history with the limits below; NULL: none by
     * pattern (room_history_set() still turns it on per room). Copied. */
    const char *history_rooms;
    uint32_t history_messages; /* N: the last N messages; default 100 when history_ms is 0, else no count limit */
    uint32_t history_ms;       /* T: none older than T ms of hub time; default 0 (no age limit) */
    size_t history_bytes;      /* payload bytes per room (attachments included); default 1048576 */

    /* Storage caps. An update over max_update_bytes is ROOM_ETOOBIG; an
     * append that would take a room's log past max_log_bytes is
     * ROOM_ELIMIT; opening state for more than max_rooms rooms (history
     * or storage) is ROOM_ELIMIT. */
    size_t max_update_bytes; /* default: the hub's max_message_bytes */
    size_t max_log_bytes;    /* default 67108864 (64 MiB) */
    uint32_t max_rooms;      /* default 10000 */

    /* Compaction: the compact callback is asked for when a room's log
     * holds more than compact_bytes and has grown by more than
     * compact_growth_percent (below) of what it held right after its last
     * compaction (so a big document is not compacted over and over).
     * default 1048576; compact NULL: never. */
    size_t compact_bytes;
    room_storage_compact_fn compact;

    /* The frames of updates (what is relayed and streamed): `kind`
     * (default ROOM_FRAME_BINARY), the update prefixed by update_prefix's
     * bytes (NULL: none). */
    int frame_kind;
    room_storage_prefix_fn update_prefix;

    void *user_data; /* given to compact and update_prefix */

    /* The growth past the last compaction's size that asks for the next
     * one, in percent of that size; default 0: 100 (the log doubles). A
     * smaller one keeps a log of many small updates, which cost a few
     * times their bytes as entries, nearer its document's size at the
     * price of more snapshots. Added after ROOM_STORAGE_CONFIG_SIZE_MIN. */
    uint32_t compact_growth_percent;

    /* ---- clustered hubs (an adapter with storage hooks, room/adapter.h;
     * docs/cluster.md "Room storage"). Added after
     * ROOM_STORAGE_CONFIG_SIZE_MIN. */

    /* The other nodes' log of `room` is in (or they did not answer in
     * time): the syncs that waited for it (room_storage_sync_send()
     * returned 0 with nothing left to send) can finish; call
     * room_storage_sync_send() again for them. Runs inside
     * room_storage_remote_fetched() (from the adapter, outside any hub
     * operation): it may do what a handler may. NULL: nothing is told. */
    room_storage_room_fn fetched;
    /* Bytes another node passed with room_storage_relay() for `room`
     * (borrowed for the call), for the protocol layer to deliver to its
     * members here or answer. Runs inside room_storage_remote_relay(), like
     * `fetched`. NULL: relays are dropped. */
    room_storage_relay_fn relayed;
} room_storage_config;

#define ROOM_STORAGE_CONFIG_SIZE_MIN (offsetof(room_storage_config, user_data) + sizeof(void *))

static inline void room_storage_config_init(room_storage_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
}

/* Sets the hub's history and storage settings. Optional: a hub that never
 * calls it has every default (no store, no history by pattern). Call it
 * before any room has state (ROOM_EALREADY after). Errors: ROOM_EINVAL
 * (NULL, size below the minimum, a store table below ROOM_STORE_SIZE_MIN
 * or without write, a bad frame_kind, an empty pattern in history_rooms),
 * ROOM_EALREADY, ROOM_ENOMEM (nothing changed). */
ROOM_API int room_storage_enable(room_hub *hub, const room_storage_config *config);

/* ---- the update log ------------------------------------------------------- */

/* Appends `update` (len bytes, copied into its frame) to `room`'s log
 * and relays that frame to the room's members except `from` and except
 * those still syncing (they get it from their sync; so does `from` when it
 * is syncing itself). `from` is the member
 * that sent it, or NULL for the host. Opens the room's storage if needed
 * (loading it from the store). Returns the number of deliveries and sets
 * *offset_out (optional) to the entry's offset. Errors: ROOM_EINVAL (NULL
 * hub, update NULL with len > 0, called from a callback), ROOM_ENAME,
 * ROOM_ENOTMEMBER (`from` is not in the room), ROOM_ETOOBIG
 * (max_update_bytes), ROOM_ELIMIT (max_log_bytes, max_rooms), ROOM_ESTORAGE
 * (the store failed: the room is read-only, or could not be loaded),
 * ROOM_ENOMEM. On error nothing was appended or relayed. */
ROOM_API int room_storage_append(room_hub *hub, room_conn *from, const char *room,
                                 const void *update, size_t len, uint64_t *offset_out);

/* Starts streaming `room`'s whole log to `conn`, a member: from now on
 * appends are not relayed to it but reach it through the stream, in order,
 * after everything that came before. Nothing is sent by this call. Call it
 * right after joining (nothing is relayed between the two calls, so
 * nothing arrives twice). Errors: ROOM_EINVAL, ROOM_ENAME,
 * ROOM_ENOTMEMBER, ROOM_EALREADY (already syncing that room),
 * ROOM_ESTORAGE (could not be loaded), ROOM_ELIMIT (max_rooms),
 * ROOM_ENOMEM. */
ROOM_API int room_storage_sync_begin(room_hub *hub, room_conn *conn, const char *room);
/* Sends `conn` the next entries of its sync (room_send_frame() of each
 * entry's frame): as many as fit in `max_bytes` of frame payload, and at
 * least one (0: all). Call it again when the connection's output has
 * drained (libroom-ws: room_ws_conn_output() / its queue), so that a log
 * of many megabytes never sits whole in one connection's queue. Returns 0
 * when entries remain, 1 when the connection has everything: the sync is
 * over and appends reach it live from here on (the protocol layer can then
 * say so, e.g. y-websocket's sync step 2). A compaction during a sync
 * changes nothing for it: the entries it was still to get are kept for it.
 * Errors: ROOM_EINVAL, ROOM_ENAME, ROOM_ENOTFOUND (no sync of that room
 * running for conn: never begun, over, or ended when it left the room),
 * ROOM_ECLOSED / ROOM_ETRANSPORT (a send failed: the sync is ended),
 * ROOM_ENOMEM (an entry's frame could not be made: the sync is ended). */
ROOM_API int room_storage_sync_send(room_hub *hub, room_conn *conn, const char *room,
                                    size_t max_bytes);
/* Ends conn's sync of `room` without finishing it (the connection no
 * longer wants it; a leave does this by itself). 0 or ROOM_ENOTFOUND. */
ROOM_API int room_storage_sync_end(room_hub *hub, room_conn *conn, const char *room);

/* One log entry, borrowed for the visit: its offset, the update's bytes
 * (`update`, inside the frame's payload after the prefix) and its frame
 * (for a small update, made for the visit). */
typedef struct room_storage_entry {
    uint64_t offset;
    room_bytes update;
    room_frame *frame;
} room_storage_entry;
typedef int (*room_storage_visit_fn)(const room_storage_entry *entry, void *ud);
/* Visits the log in offset order; the callback returns non-zero to stop
 * (that value is returned) and may only read and send (no append, no
 * compaction, no join, leave or close). Opens the room's storage if
 * needed. Errors: those of opening (ROOM_EINVAL, ROOM_ENAME, ROOM_ELIMIT,
 * ROOM_ESTORAGE, ROOM_ENOMEM), ROOM_ENOMEM (an entry's frame could not be
 * made: the visit stops there). */
ROOM_API int room_storage_foreach(room_hub *hub, const char *room, room_storage_visit_fn fn,
                                  void *ud);

/* A room's storage as it stands. */
typedef struct room_storage_info {
    size_t size;            /* sizeof(room_storage_info) of the library */
    uint64_t first_offset;  /* of the oldest entry (a snapshot's, after compaction); 0: empty */
    uint64_t last_offset;   /* of the newest entry; 0: none ever */
    size_t entries;
    size_t bytes;           /* update bytes in the log */
    size_t syncing;         /* members whose sync is running */
    int status;             /* 0, or ROOM_ESTORAGE while read-only */
    int compacting;         /* 1 while a compaction waits for its snapshot */
    char epoch[ROOM_EPOCH_MAX + 1];
} room_storage_info;
/* Fills *info for `room`, opening its storage if needed. Errors: those of
 * room_storage_foreach(). */
ROOM_API int room_storage_get_info(room_hub *hub, const char *room, room_storage_info *info);

/* ---- compaction ---------------------------------------------------------------- */

/* Starts a compaction of `room`'s log: `member` is the one the caller will
 * ask for its full state: a member whose sync of the room is complete
 * (room_storage_sync_send() returned 1, and it has not begun another since,
 * so it has every entry), or NULL to let the hub pick one. Every entry up
 * to the current last offset has reached it; that offset is the token
 * (*token_out). Errors: ROOM_EINVAL, ROOM_ENAME, ROOM_ENOTMEMBER (member
 * not in the room, or its sync not complete), ROOM_ENOTFOUND (an empty
 * log; or NULL member and none eligible), ROOM_EALREADY (a compaction is
 * running), ROOM_ESTORAGE. */
ROOM_API int room_storage_compaction_begin(room_hub *hub, const char *room, room_conn *member,
                                           uint64_t *token_out);
/* The member's full state arrived: the entries with offsets up to `token`
 * are replaced by one entry holding `snapshot` (len bytes, copied) at
 * offset `token`; the entries after it (appended while the member was
 * asked) stay, after it. Syncs running keep what they had not yet sent.
 * Errors: ROOM_EINVAL, ROOM_ENAME, ROOM_ENOTFOUND (no compaction with that
 * token: it was aborted, e.g. the member left), ROOM_ETOOBIG (over
 * max_log_bytes), ROOM_ENOMEM (the compaction stays running). */
ROOM_API int room_storage_compaction_commit(room_hub *hub, const char *room, uint64_t token,
                                            const void *snapshot, size_t len);
/* Gives the compaction up (the member refused, or sent garbage). A member
 * that leaves the room aborts its compaction by itself. 0 or
 * ROOM_ENOTFOUND. */
ROOM_API int room_storage_compaction_abort(room_hub *hub, const char *room, uint64_t token);
/* The member a running compaction of `room` waits for, and its token
 * (optional); NULL when none runs. */
ROOM_API room_conn *room_storage_compaction_member(room_hub *hub, const char *room,
                                                   uint64_t *token_out);

/* ---- across nodes (docs/cluster.md "Room storage") ------------------------
 * With an adapter that has the storage hooks (libroom-redis), every node
 * serving a room keeps (and with a store persists) its own copy of the
 * room's log: an update appended on one node goes to the others
 * (room_adapter.storage_publish), and each appends it to its own log and
 * relays it to its own members, with its own offsets and compactions. The
 * copies hold the same updates, not always in the same order, nor always
 * once: this is only right for updates that commute and are idempotent,
 * as Yjs updates are (a client applies them in any order, any number of
 * times). A node whose first member begins a sync fetches the others' log
 * first (room_adapter.storage_fetch), so that a node that never served a
 * room, or whose stored copy is stale, gives its joiner the whole log. */

/* A sync of a room whose log is being fetched from the other nodes does not
 * finish before the fetch is over: room_storage_sync_send() returns 0
 * (after sending what there is) until then, and the `fetched` callback
 * says when to call it again. */

/* Passes `bytes` (len, copied by the adapter) to the other nodes serving
 * `room`, for their `relayed` callback: a protocol's messages that are
 * not logged (y-websocket's awareness). Nothing is sent to the members
 * here. Returns 0, or ROOM_ENOTFOUND (no other node: the adapter has no
 * storage hooks), ROOM_EINVAL, ROOM_ENAME, the adapter's error. */
ROOM_API int room_storage_relay(room_hub *hub, const char *room, const void *bytes, size_t len);

/* For adapters. An update from another node: appended to this node's log
 * of `room` and relayed to the members here as room_storage_append() does
 * (one frame; syncing members get it from their stream), not published
 * again. Taken only while `room` has members here (the node follows the
 * room's traffic only then; a node that gets its first member again
 * fetches the log): ROOM_ENOTFOUND otherwise. Accepted on a read-only room
 * too (kept in memory; the store is retried), where the member's own
 * append is refused. Returns the number of deliveries, or ROOM_EINVAL
 * (also from a storage callback), ROOM_ENAME, ROOM_ENOTFOUND, ROOM_ETOOBIG,
 * ROOM_ELIMIT, ROOM_ESTORAGE (could not be loaded), ROOM_ENOMEM. */
ROOM_API int room_storage_remote_append(room_hub *hub, const char *room, const void *update,
                                        size_t len);
/* For adapters: bytes another node passed with room_storage_relay(), for
 * the `relayed` callback (run before this returns). ROOM_ENOTFOUND
 * without members of `room` here, ROOM_EINVAL, ROOM_ENAME. */
ROOM_API int room_storage_remote_relay(room_hub *hub, const char *room, const void *bytes,
                                       size_t len);
/* For adapters: the fetch asked for by room_adapter.storage_fetch is over
 * (its answers are appended). Syncs of `room` may finish from now on; the
 * `fetched` callback runs. 0, or ROOM_ENOTFOUND (no fetch of `room` runs:
 * its members left and its state was unloaded), ROOM_EINVAL, ROOM_ENAME. */
ROOM_API int room_storage_remote_fetched(room_hub *hub, const char *room);
/* For adapters: the other nodes' traffic about `room` (NULL: every room)
 * may have been lost (the bus was away, here or on the node that says
 * so). Each such room whose copy followed the cluster fetches the others'
 * log again (room_adapter.storage_fetch; its syncs wait for it as a first
 * member's do), and one whose fetch is running fetches again once it is
 * over (its answers may be what was lost), so that copies that diverged
 * meanwhile take each other's updates. Returns how many rooms will ask,
 * or ROOM_EINVAL (NULL hub, or from a storage callback), ROOM_ENAME. */
ROOM_API int room_storage_remote_lost(room_hub *hub, const char *room);
/* For adapters answering another node's fetch: visits this node's log of
 * `room` as room_storage_foreach() does (the callback may keep references
 * to the entries' frames, room_frame_ref(), to send them later), but only
 * when the room has state in memory or in the store: it is never created.
 * *current (optional) is set to 1 when the copy follows the cluster (the
 * room has members here and no fetch of its log is running), else 0.
 * Returns what foreach returns, or ROOM_ENOTFOUND (no such state). */
ROOM_API int room_storage_peek(room_hub *hub, const char *room, room_storage_visit_fn fn, void *ud,
                               int *current);

/* ---- flushing --------------------------------------------------------------------- */

/* Hands the store what changed (one write call for all rooms), asks for
 * compactions, ages history, and unloads rooms that no member uses and
 * whose state is written (with a store) or empty (history without one).
 * room_hub_tick() runs it. Returns 0, ROOM_ESTORAGE (the write failed; the
 * rooms are read-only until a later flush succeeds), ROOM_ENOMEM (retried
 * at the next flush), ROOM_EINVAL (NULL hub, or called from a callback). */
ROOM_API int room_storage_flush(room_hub *hub);

#ifdef __cplusplus
}
#endif

#endif
