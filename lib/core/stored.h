/* History and storage (history.c, storage.c, store_sink.c): the core's
 * private view. Everything hangs off hub->storage, allocated at first use,
 * so a hub that keeps nothing pays one pointer. A room's kept state (its
 * "stored room") lives in a table of its own, apart from the room's
 * membership, because it outlives the room's last member. */
#ifndef ROOM_STORED_H
#define ROOM_STORED_H

#include "internal.h"
#include "room/history.h"
#include "room/storage.h"

/* A kept history message: the shared frame, its offset, and the hub time it
 * was kept at (for the age limit). */
typedef struct rm_hent {
    room_frame *frame;
    uint64_t offset;
    uint64_t at;
} rm_hent;

/* A log entry. A small update (RM_LOG_INLINE bytes at most: typing, the
 * bulk of a document's log) is kept as its bytes in the room's buffer,
 * `at` bytes in (`frame` NULL), and gets a frame again only when a joiner
 * streams it: the frame relayed costs several times its bytes. A bigger
 * one keeps the frame relayed and streamed, the update `at` bytes into its
 * payload (after the prefix). */
typedef struct rm_lent {
    room_frame *frame;
    uint64_t offset;
    uint32_t at;
    uint32_t len;
} rm_lent;
#define RM_LOG_INLINE 512

/* A member streaming the log: it has got every entry up to `pos`, and
 * before the live entries after it, `held` (references to entries a
 * compaction replaced before the member got them). */
typedef struct rm_sync {
    room_conn *conn;
    uint64_t pos;
    room_frame **held;
    uint32_t nheld, iheld, capheld;
} rm_sync;

enum {
    RM_S_HISTORY = 1u << 0, /* the room keeps history */
    RM_S_LISTED = 1u << 1,  /* on the storage's pending list */
    RM_S_FAILED = 1u << 2,  /* the last write failed: read-only */
    RM_S_COMPACT = 1u << 3, /* the compact callback is due at the next flush */
    RM_S_NEW = 1u << 4,     /* never written: its meta is due */
    /* Cluster (storage_remote.c): the other nodes' log is being fetched;
     * the copy follows the cluster (fetched while it had members, and it
     * has had some ever since). */
    RM_S_FETCHING = 1u << 5,
    RM_S_CURRENT = 1u << 6,
    RM_S_AGAIN = 1u << 7, /* traffic was lost during the fetch: fetch again after it */
    /* In a cluster (history_cluster.c): the copy is the log's up to hlast
     * and the log's live messages keep reaching this node. */
    RM_S_LIVE = 1u << 8,
    /* In a cluster: the bus was away when a message was sent here, so the
     * copy runs under an epoch of this node's. */
    RM_S_OUTAGE = 1u << 9,
};

typedef struct rm_sroom {
    struct rm_sroom *next_pending;
    /* History: a ring of hcap (a power of two) entries. */
    rm_hent *hist;
    uint32_t hcap, hhead, hcount;
    uint32_t hmax_messages, hmax_ms; /* 0: no such limit */
    size_t hmax_bytes;
    size_t hbytes;
    uint64_t hlast, hfloor;            /* last offset given, highest dropped */
    uint64_t hsaved, hfloor_saved;     /* what the store has */
    /* Log: an array in offset order. */
    rm_lent *log;
    uint32_t lcap, lcount;
    uint32_t lpeak;  /* the most entries since the last compaction */
    uint8_t *lbuf;   /* the small updates' bytes, in offset order */
    uint32_t lbcap, lblen, lbpeak;
    size_t lbytes;   /* update bytes */
    size_t lbase;    /* bytes right after the last compaction */
    uint64_t llast;  /* last offset given */
    uint64_t lsaved; /* the store has entries up to it */
    uint64_t lreplaced; /* a compaction the store has not been told of (0: none) */
    /* A running compaction. */
    room_conn *compactor;
    uint64_t ctoken;
    rm_sync *syncs;
    uint32_t nsyncs, capsyncs;
    /* Members that completed a sync and so have every entry: the only ones
     * a compaction may ask. Room for the running syncs is kept. */
    room_conn **synced;
    uint32_t nsynced, capsynced;
    uint32_t flags;
    uint32_t hwaiting; /* history requests waiting for the cluster's log */
    uint32_t hash;
    uint32_t name_len;
    char epoch[ROOM_EPOCH_MAX + 1];
    char name[];
} rm_sroom;

/* A live message held for a connection whose history request waits for
 * the cluster's log: it goes out after the replay. */
typedef struct rm_hheld {
    room_frame *frame;
    uint64_t offset;
    char epoch[ROOM_EPOCH_MAX + 1];
} rm_hheld;

/* A history request waiting for the cluster's log (history_cluster.c). */
typedef struct rm_hreq {
    struct rm_hreq *next;
    uint64_t id;
    room_conn *conn;
    rm_sroom *room; /* stays: the asker is a member, so the room is not unloaded */
    room_history_pos since;
    bool given; /* since was given */
    int failed; /* a live message could not be held: the answer */
    room_history_done_fn done;
    void *ud;
    /* The request's event, for `done`. */
    char *ev_name;
    size_t ev_name_size;
    json_t *ev_args;
    int64_t ack_id;
    rm_hheld *held;
    uint32_t nheld, capheld;
    /* Answered (done ran): the asker got the log's messages up to
     * `since` from the fetch; copies of those still on their way live are
     * not delivered to it again. Freed once a live message reaches that
     * offset, another epoch comes, or the asker leaves. */
    bool replayed;
} rm_hreq;

typedef struct rm_storage {
    room_storage_config cfg; /* defaults resolved; strings point at the copies below */
    room_store store;        /* the store's table, copied up to its size */
    char *scope;
    size_t scope_size;
    char *patterns;
    size_t patterns_size;
    rm_table rooms; /* rm_sroom by name */
    rm_sroom *pending;
    uint32_t busy;      /* a callback or store function is running */
    bool configured;    /* room_storage_enable() happened, or state exists */
    uint64_t swept_at;  /* hub time of the last age sweep */
    bool from_node;     /* the append running came from another node (storage_remote.c) */
    rm_hreq *requests;  /* history requests waiting for the cluster's log */
    uint64_t next_request;
} rm_storage;

/* storage.c */
/* hub->storage, made with the defaults on first use; NULL out of memory. */
rm_storage *rm_storage_get(room_hub *hub);
/* The room's state, loaded on first use when `create`; NULL with *err set
 * (0 when it does not exist and create is false). */
rm_sroom *rm_sroom_open(room_hub *hub, const char *name, bool create, int *err);
rm_sroom *rm_sroom_find(room_hub *hub, const char *name, int *err);
/* Puts the room on the pending list (a write or a compaction is due). */
void rm_sroom_pending(rm_storage *st, rm_sroom *r);
void rm_storage_free(room_hub *hub);
/* conn left `room` (rooms.c, before the room may be freed). */
void rm_storage_left(room_hub *hub, room_conn *conn, const rm_room *room);
/* For room_hub_tick(): flushes; ms until the next flush is due, or -1. */
int64_t rm_storage_tick(room_hub *hub);
/* The epoch syntax: 1..ROOM_EPOCH_MAX of [A-Za-z0-9_-]. */
bool rm_epoch_valid(const char *epoch);
size_t rm_chain_bytes(const room_frame *f);

/* Like rm_sroom_open() with create, except that a room the store does not
 * have is not created (NULL, *err ROOM_ENOTFOUND). */
rm_sroom *rm_sroom_open_existing(room_hub *hub, const char *name, int *err);

/* storage_remote.c */
/* A sync of r begins: fetch the other nodes' log first when the copy does
 * not follow the cluster. */
void rm_storage_fetch_begin(room_hub *hub, rm_sroom *r);

/* updatelog.c */
/* Appends an entry at `offset`. *relay_out (optional): a new reference to
 * the update's frame (built with the prefix), for the caller to send. */
int rm_log_entry_add(room_hub *hub, rm_sroom *r, uint64_t offset, const void *data, size_t len,
                     room_frame **relay_out);
/* An entry's update bytes. */
const uint8_t *rm_log_data(const rm_sroom *r, const rm_lent *e);
/* Drops every entry (a load that found nothing, freeing). */
void rm_log_clear(rm_sroom *r);
/* The running compaction is over; `ask_again`: ask for another if the log
 * is still over its threshold (an abort). */
void rm_compaction_end(room_hub *hub, rm_sroom *r, bool ask_again);
rm_sync *rm_sync_of(rm_sroom *r, const room_conn *conn);
/* conn no longer counts as synced (it left, or syncs again). */
void rm_synced_remove(rm_sroom *r, const room_conn *conn);
void rm_sync_remove(room_hub *hub, rm_sroom *r, rm_sync *s);

/* history.c */
/* Whether `name` matches the configured patterns. */
bool rm_history_matches(const rm_storage *st, const char *name, size_t len);
/* Gives the room history with the config's limits (pattern rooms). */
void rm_history_defaults(const rm_storage *st, rm_sroom *r);
/* Drops what the limits push out, `incoming` bytes about to come. */
void rm_history_trim(room_hub *hub, rm_sroom *r, size_t incoming);
/* Appends a kept message (a new reference to `frame`); ROOM_ENOMEM. */
int rm_history_push(room_hub *hub, rm_sroom *r, room_frame *frame, uint64_t offset);
void rm_history_release(room_hub *hub, rm_sroom *r);
/* The i-th kept message, oldest first. */
rm_hent *rm_history_at(const rm_sroom *r, uint32_t i);
/* The room's state when it has history (opened from the store if the
 * patterns say so); NULL with *err 0 when it has none. */
rm_sroom *rm_history_room(room_hub *hub, const char *room, int *err);
/* Stamps `stamp` with offset and r's epoch, encodes once (with the
 * recovery offset when recovery is on), keeps the frame at `offset` when
 * `keep` and sends it to the room's members except `except`; `publish`:
 * through a frame adapter too (the single-node path). The number of
 * deliveries. */
int rm_history_emit(room_hub *hub, rm_sroom *r, const char *room, uint64_t offset,
                    const char *event, json_t *const *argv, size_t argc,
                    const room_bytes *att, size_t natt, const room_conn *except, json_t *stamp,
                    bool publish, bool keep);
/* Empties the ring (the copy starts again after hfloor). */
void rm_history_drop(room_hub *hub, rm_sroom *r);
/* The sync replay of `since` (NULL: all kept) from the copy. */
int rm_history_replay_copy(room_hub *hub, room_conn *conn, rm_sroom *r,
                           const room_history_pos *since, room_history_pos *now_out);

/* history_cluster.c */
/* The adapter owns the offsets of history rooms. */
bool rm_history_clustered(const room_hub *hub);
/* The copy answers `since` alone: not in a cluster; or the copy is whole
 * (live, or this node's own outage run) for that position. */
bool rm_history_copy_answers(const rm_sroom *r, const room_history_pos *since);
/* room_history_send_args() in a cluster. */
int rm_history_cluster_send(room_hub *hub, rm_sroom *r, const char *room, const char *event,
                            json_t *const *argv, size_t argc, const room_bytes *att,
                            size_t natt, const room_conn *except, json_t *stamp);
/* Sends the frame to the room's members except `except`; members whose
 * request waits get it held. */
int rm_history_fan_out(room_hub *hub, rm_sroom *r, rm_room *members, room_frame *frame,
                       uint64_t offset, const room_conn *except);
/* conn left the room (last: no member is left here). */
void rm_history_left(room_hub *hub, rm_sroom *r, room_conn *conn, bool last);
/* Ends every waiting request (the hub is going). */
void rm_history_requests_free(room_hub *hub);

#endif
