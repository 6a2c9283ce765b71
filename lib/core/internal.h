/* libroom internals shared by the core's files. Not installed. */
#ifndef ROOM_INTERNAL_H
#define ROOM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "room/adapter.h"
#include "room/codec.h"
#include "room/frame.h"
#include "room/room.h"

/* ---- allocation (alloc.c) ---------------------------------------------
 * Frees are sized so that the hub can account every byte without a header
 * per allocation (room_hub_memory() is exact). */
typedef struct rm_alloc {
    room_allocator fn;
    size_t bytes;
} rm_alloc;

void rm_alloc_init(rm_alloc *a, const room_allocator *fn);
void *rm_malloc(rm_alloc *a, size_t size);
void *rm_calloc(rm_alloc *a, size_t size);
void *rm_realloc(rm_alloc *a, void *ptr, size_t old_size, size_t new_size);
void rm_free(rm_alloc *a, void *ptr, size_t size);
/* Grows an array to hold at least `need` elements (doubling). */
int rm_grow(rm_alloc *a, void **items, uint32_t *cap, uint32_t need, size_t elem_size);

/* ---- output buffer (buf.c) ---------------------------------------------- */
struct room_buf {
    rm_alloc *alloc;
    uint8_t *data;
    size_t len;
    size_t cap;
};
/* room_buf_append() for the encoders' hot path: small appends of known
 * size become plain stores when the buffer has room. */
static inline int rm_buf_put(room_buf *buf, const void *bytes, size_t len)
{
    if (len && len <= buf->cap - buf->len) {
        memcpy(buf->data + buf->len, bytes, len);
        buf->len += len;
        return 0;
    }
    return len ? room_buf_append(buf, bytes, len) : 0;
}
void rm_buf_init(room_buf *buf, rm_alloc *alloc);
void rm_buf_release(room_buf *buf);
int rm_buf_append_json_stringn(room_buf *buf, const char *s, size_t len);

/* ---- randomness (random.c) ------------------------------------------------- */
/* The default random callback: getrandom(2). */
int rm_random_default(void *buf, size_t len, void *user_data);

/* ---- frames (frame.c) ------------------------------------------------------ */
#define RM_SEAL_MAX 32
struct room_frame {
    uint32_t refs;    /* the chain's count lives in its head */
    uint32_t len;     /* payload bytes */
    uint8_t kind;
    uint8_t header_len;
    uint8_t headroom;
    rm_alloc *alloc;
    room_frame *head; /* the chain's first frame (itself for the head) */
    room_frame *next;
    uint8_t bytes[];  /* headroom, then payload */
};
/* Builds one frame from bytes, sealed with the hub's seal callback. */
room_frame *rm_frame_make(room_hub *hub, int kind, const void *bytes, size_t len);
/* A head frame of `kind` followed by `natt` binary attachment frames that
 * share it; NULL (nothing kept) when memory runs out. */
room_frame *rm_frame_make_chain(room_hub *hub, int kind, const void *bytes, size_t len,
                                const room_bytes *att, size_t natt);
/* The same with `prefix` in front of the bytes (storage's update frames). */
room_frame *rm_frame_make_prefixed(room_hub *hub, int kind, const void *prefix, size_t plen,
                                   const void *bytes, size_t len);
/* Encodes an event (or an ack when event is NULL) with `argc` arguments
 * once; attachments become the chain's binary frames. ack_id
 * RM_ACK_LOGGED encodes an event with the hub's next offset (recovery). */
#define RM_ACK_LOGGED (-2)
int rm_frame_encode(room_hub *hub, const char *event, json_t *const *argv, size_t argc,
                    int64_t ack_id, const room_bytes *att, size_t natt, room_frame **out);

/* ---- string table (table.c) -------------------------------------------------
 * Open addressing with linear probing and backward-shift deletion. Items
 * carry their key (a NUL-terminated string) and its hash at fixed offsets,
 * so a slot is one pointer: a connection costs the id table 8 bytes per
 * slot, not 16. */
typedef struct rm_table {
    void **slots;
    uint32_t cap; /* 0 or a power of two */
    uint32_t count;
    uint16_t key_off;  /* offsetof the item's key */
    uint16_t hash_off; /* offsetof the item's uint32_t hash */
} rm_table;

uint32_t rm_hash(uint64_t seed, const char *s, size_t len);
void rm_table_init(rm_table *t, size_t key_off, size_t hash_off);
void rm_table_release(rm_table *t, rm_alloc *a);
void *rm_table_get(const rm_table *t, uint32_t hash, const char *key);
/* Makes room for one more item; call before rm_table_put so that the put
 * cannot fail. */
int rm_table_reserve(rm_table *t, rm_alloc *a);
void rm_table_put(rm_table *t, void *item);
void rm_table_del(rm_table *t, const void *item);

/* ---- rooms and membership (rooms.c) ----------------------------------------
 * Both sides hold the other's index, so leave is O(1) swap-remove on both. */
typedef struct rm_room rm_room;
typedef struct rm_member {
    room_conn *conn;
    uint32_t slot; /* index in conn->rooms */
} rm_member;
typedef struct rm_membership {
    rm_room *room;
    uint32_t index; /* index in room->members */
} rm_membership;
struct rm_room {
    rm_member *members;
    uint32_t count;
    uint32_t cap;
    uint32_t hash;
    uint32_t name_len;
    char name[];
};
rm_room *rm_room_find(room_hub *hub, const char *name, size_t *len_out, int *err);
void rm_rooms_free_all(room_hub *hub);
bool rm_utf8_valid(const unsigned char *s, size_t len);
/* ROOM_ENAME unless `name` is 1..max bytes of valid UTF-8. */
int rm_check_room_name(const room_hub *hub, const char *name, size_t *len_out);

/* ---- connections (conn.c) ------------------------------------------------- */
enum {
    RM_CONN_CLOSING = 1u << 0,   /* room_conn_close() in progress, or detached */
    RM_CONN_KICKED = 1u << 1,    /* host asked to close; sends dropped */
    RM_CONN_DETACHED = 1u << 2,  /* transport lost, waiting for a resume */
    RM_CONN_RECOVERED = 1u << 3, /* opened by a resume */
    /* Handed over by another node and not resumed here yet: the client's
     * offset is that node's, and it has none of this hub's events. */
    RM_CONN_ADOPTED = 1u << 4,
};
struct room_conn {
    void *transport;
    void *data;
    /* &first until a second room is joined: most connections are in one
     * room, and an array of one would cost an allocation each. */
    rm_membership *rooms;
    rm_membership first;
    uint32_t id_hash;
    uint16_t nrooms;     /* at most ROOM_MAX_ROOMS_PER_CONN */
    uint16_t depth;      /* handlers running for this connection */
    uint8_t flags;
    uint8_t rooms_log2;  /* rooms holds 1 << rooms_log2 */
    char id[ROOM_CONN_ID_LEN + 1];
};
/* An idle connection in one room fits a 72-byte allocation (an 80-byte
 * glibc chunk): the fields above are sized for that. */
void rm_conn_free(room_hub *hub, room_conn *conn);

/* ---- rate limits (limit.c) ---------------------------------------------------
 * Two token buckets in 16 bytes, placed right after the connection in the
 * same allocation and only when the hub has limits: a hub without them
 * pays nothing, and one with them 16 bytes (88 bytes, a 96-byte chunk). */
typedef struct rm_limit {
    uint32_t at;      /* hub time of the last refill, ms (low 32 bits) */
    uint32_t msgs;    /* message tokens, in thousandths */
    uint32_t bytes;   /* byte tokens, hub->byte_scale per byte */
    uint32_t strikes; /* messages refused in a row */
} rm_limit;
#define RM_RATE_BURST_MAX 4000000u /* message tokens fit 32 bits in thousandths */
/* Sets hub->limited and the byte tokens' scale from the resolved config. */
void rm_limit_start(room_hub *hub);
void rm_limit_init(room_hub *hub, room_conn *conn);
/* Takes one message of `len` bytes from the buckets. Over a limit: the
 * client gets a `rate_limited` error, a persistent offender is kicked, and
 * the result is ROOM_ERATELIMIT. */
int rm_limit_take(room_hub *hub, room_conn *conn, size_t len);

/* ---- connection-state recovery (recovery.c, roomlog.c) ----------------------
 * A log is a ring of the frames of logged events in offset order: one per
 * room (in the room's allocation, after its name) and one in the hub for
 * broadcasts to all and direct emits. Frames are the shared ones: a log
 * holds a reference, never a copy. */
typedef struct rm_logent {
    room_frame *frame;
    uintptr_t except; /* the connection left out, only compared */
    room_conn *to;    /* a direct emit's connection (hub log), else NULL */
    uint64_t offset;
} rm_logent;
typedef struct rm_log {
    rm_logent *ents;
    uint32_t cap, head, count;
    uint32_t detached; /* a room's detached members */
    size_t bytes;      /* payload bytes of the logged frames */
    uint64_t floor;    /* highest offset that left the log (0: none) */
} rm_log;
/* What a connection of a hub with recovery carries after its struct (and
 * its rm_limit). */
typedef struct rm_conn_ext {
    uint64_t created;      /* the hub offset at open: it missed nothing older */
    uint64_t direct_floor; /* highest offset of a direct emit to it that left the log */
    char pid[ROOM_CONN_ID_LEN + 1];
} rm_conn_ext;
/* A detached connection, in the hub's table by pid and its list by time. */
typedef struct rm_detached {
    room_conn *conn;
    uint64_t at; /* hub time it was detached; RM_AT_UNKNOWN until the hub next learns the time */
    struct rm_detached *prev, *next;
    uint32_t hash;
    char pid[ROOM_CONN_ID_LEN + 1];
} rm_detached;
#define RM_LOG_GONE ((room_conn *)(uintptr_t)1) /* a freed connection's direct emits */
#define RM_AT_UNKNOWN UINT64_MAX
/* A point of hub time and the last offset given by then: events up to
 * `offset` were logged no later than `at`. */
typedef struct rm_mark {
    uint64_t at;
    uint64_t offset;
} rm_mark;
#define RM_MARKS 16

void rm_log_release(room_hub *hub, rm_log *log);
/* Takes a reference to `frame`, logged at `offset`; drops what the bounds
 * push out. Out of memory, the event is counted as dropped (floor). */
void rm_log_add(room_hub *hub, rm_log *log, room_frame *frame, uint64_t offset,
                const room_conn *except, room_conn *to);
/* A connection is freed: its direct emits in the hub log go nowhere. */
void rm_log_forget(room_hub *hub, const room_conn *conn);
/* Whether every event after `offset` that `conn` should get is still in
 * the logs of its rooms and the hub; then replays them in offset order. */
bool rm_log_complete(room_hub *hub, const room_conn *conn, uint64_t offset);
/* `pos` has room for conn->nrooms + 1 positions. */
void rm_log_replay(room_hub *hub, room_conn *conn, uint64_t offset, uint32_t *pos);
/* The same merge, handing each frame to `visit` instead of the connection. */
void rm_log_walk(room_hub *hub, room_conn *conn, uint64_t offset, uint32_t *pos,
                 void (*visit)(room_hub *hub, room_conn *conn, room_frame *frame, void *ud),
                 void *ud);

rm_conn_ext *rm_conn_ext_of(const room_hub *hub, const room_conn *conn);
rm_log *rm_room_log(const room_hub *hub, const rm_room *room);
/* Appends an event carrying the next offset to `buf` (rm_frame_encode()). */
int rm_encode_logged(room_hub *hub, room_buf *buf, const char *event, json_t *const *argv,
                     size_t argc, size_t natt);
/* Encodes an event with the next offset, which it takes (recovery on). */
int rm_frame_encode_logged(room_hub *hub, const char *event, json_t *const *argv, size_t argc,
                           const room_bytes *att, size_t natt, uint64_t *offset_out,
                           room_frame **out);
void rm_recovery_start(room_hub *hub);
/* The hub learnt the time (room_hub_tick(), room_hub_set_time()). */
void rm_recovery_clock(room_hub *hub);
/* A new connection's private id and starting offset. */
int rm_recovery_conn_init(room_hub *hub, room_conn *conn);
/* The resume arguments: the host's, else (a codec with encode_open) the
 * query's; false when there are none. */
bool rm_recovery_args(const room_hub *hub, const room_open_args *args, const char **pid,
                      const char **offset);
/* Opens a connection; with resume arguments that match a detached one,
 * that one comes back: 1 and *conn_out, after the replay. 0: open a fresh
 * one (*known tells whether a detached connection had that pid). Negative:
 * an error. */
int rm_recovery_resume(room_hub *hub, void *transport, const room_open_args *args,
                       room_conn **conn_out, bool *known);
/* Whether `text` is an offset as offset_text() writes them. */
bool rm_offset_parse(const char *text, uint64_t *out);
void rm_offset_text(uint64_t offset, char out[21]);
/* Logs an event from another node that this hub delivered (recovery on):
 * in the log of each room of `found` (NULL: not here) or the hub's when
 * nrooms is 0. found[nrooms..nrooms + nexcept) are the except list's
 * rooms here, `except` its names. */
void rm_recovery_log_remote(room_hub *hub, rm_room *const *found, size_t nrooms,
                            const char *const *except, size_t nexcept, room_frame *frame,
                            uint64_t offset);

/* ---- recovery across nodes (resume.c) ------------------------------------ */
/* An open waiting for the cluster (room_open_args.resume_wait). */
typedef struct rm_resuming {
    struct rm_resuming *next;
    void *transport;           /* NULL once the host cancelled */
    room_resume_wait_fn wait;
    void *wait_ud;
    json_t *auth, *query, *handshake;
    uint64_t ticket;
    int status;                /* 1 while waiting, 0 handed over, < 0 refused */
    char pid[ROOM_CONN_ID_LEN + 1];
    char offset[21];           /* the client's; handed over: where its replay starts here */
} rm_resuming;
/* After no local detached connection had the pid: ROOM_OPEN_PENDING when
 * the adapter asks the cluster, 0 to open a fresh connection now,
 * ROOM_EALREADY, ROOM_ENOMEM. */
int rm_resume_ask(room_hub *hub, void *transport, const room_open_args *args, const char *pid,
                  const char *offset);
void rm_resume_free(room_hub *hub);
/* After the disconnect handler of a closing connection: 0 when it is
 * detached now, else the caller frees it. */
int rm_recovery_detach(room_hub *hub, room_conn *conn);
void rm_recovery_forget(room_hub *hub, room_conn *conn);
/* Frees connections detached for recovery_ms; the next expiry, in ms from
 * now, or -1. */
int64_t rm_recovery_expire(room_hub *hub, uint64_t now_ms);
void rm_recovery_free(room_hub *hub);
/* Sends the codec's open message (encode_open) naming `offset`. */
int rm_recovery_open_message(room_hub *hub, room_conn *conn, uint64_t offset);

/* ---- dispatch (dispatch.c) ------------------------------------------------ */
typedef struct rm_handler {
    char *name;
    size_t name_size;
    room_handler_fn fn;
    void *ud;
} rm_handler;
/* One per event being handled, linked while handlers run, to know whether
 * the handler has answered. */
typedef struct rm_dispatch {
    const room_event *ev;
    room_conn *conn;
    bool replied;
    json_t *refusal; /* connect: room_refuse() result */
    struct rm_dispatch *prev;
} rm_dispatch;
int rm_dispatch_event(room_hub *hub, room_conn *conn, room_event *ev);
/* Runs a reserved-name handler (connect/disconnect) if registered, with
 * `args` (a borrowed array). */
int rm_dispatch_reserved(room_hub *hub, room_conn *conn, const char *name, json_t *args,
                         json_t **refusal_out);
void rm_handlers_free(room_hub *hub);
void rm_acks_fail_conn(room_hub *hub, room_conn *conn);
void rm_ack_resolve(room_hub *hub, room_conn *conn, int64_t id, json_t *args);
void rm_acks_free(room_hub *hub);

typedef struct rm_pending_ack {
    room_conn *conn;
    uint32_t id;
    uint64_t deadline;
    room_ack_fn fn;
    void *ud;
    struct rm_pending_ack *next;
} rm_pending_ack;

/* One of the characters room_id_generate() writes (ids, pids, epochs). */
static inline bool rm_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* ---- sending (send.c) ------------------------------------------------------ */
/* Hands `frame` to one connection; counts failures and asks the host to
 * close connections whose send callback fails. */
int rm_deliver(room_hub *hub, room_conn *conn, room_frame *frame);
/* Fans `frame` out to a room's members except `except`. */
int rm_fanout_room(room_hub *hub, rm_room *room, room_frame *frame, const room_conn *except);
int rm_fanout_all(room_hub *hub, room_frame *frame, const room_conn *except);
/* To a room (`name` non-NULL; `room` NULL when it is not here) or to the
 * hub, then to the adapter; the number of deliveries. */
int rm_fan_out(room_hub *hub, const char *name, rm_room *room, room_frame *frame,
               const room_conn *except);
/* send_to() with recovery on: the event gets the next offset and goes into
 * the room's log (the hub's for a broadcast to all). */
int rm_send_logged(room_hub *hub, const char *name, rm_room *room, const char *event,
                   json_t *const *argv, size_t argc, const room_bytes *att, size_t natt,
                   const room_conn *except);
/* Encodes and delivers to one connection; `event` NULL encodes the ack of
 * `ack_id`. */
int rm_emit_frame(room_hub *hub, room_conn *conn, const char *event, json_t *const *argv,
                  size_t argc, int64_t ack_id, const room_bytes *att, size_t natt);
/* ROOM_EINVAL for a NULL array with a count or a NULL element. */
static inline int rm_check_args(json_t *const *argv, size_t argc, const room_bytes *att, size_t natt)
{
    size_t i;
    if ((!argv && argc) || (!att && natt))
        return ROOM_EINVAL;
    for (i = 0; i < argc; i++) {
        if (!argv[i])
            return ROOM_EINVAL;
    }
    return 0;
}
#define rm_log(hub, ...) room_logf((hub)->cfg.log, (hub)->cfg.user_data, __VA_ARGS__)

/* ---- the hub (hub.c) ------------------------------------------------------- */
struct room_hub {
    room_config cfg;     /* defaults resolved; cfg.codec and cfg.adapter are
                            the host's pointers, handed to their functions */
    rm_alloc alloc;
    uint64_t seed;
    room_codec codec;     /* the codec's table, up to its size, zero beyond */
    room_adapter adapter; /* likewise */

    rm_table rooms;
    rm_table conns_by_id;
    uint32_t nconns; /* closing ones included: conns_by_id has the others */

    rm_handler *handlers;
    uint32_t nhandlers;
    uint32_t caphandlers;
    room_handler_fn any_fn;
    void *any_ud;
    rm_dispatch *dispatch;

    rm_pending_ack *acks;
    uint64_t now_ms;   /* the host's time: room_hub_tick(), room_hub_set_time() */
    bool limited;        /* a rate limit is set: connections carry an rm_limit */
    uint32_t byte_scale; /* byte tokens per byte (limit.c) */
    uint32_t next_ack; /* the next server ack id, for any connection */

    room_buf scratch; /* reused encoding buffer */

    /* Recovery (cfg.recovery_ms > 0): every field below stays 0 without. */
    uint64_t offset;     /* the last offset given to an event */
    rm_log log;          /* hub broadcasts and direct emits */
    rm_table detached;   /* rm_detached by pid */
    rm_detached *oldest, *newest;
    uint32_t ndetached;
    uint16_t ext_off;    /* rm_conn_ext's place in a connection's allocation */
    /* Events are aged by offset, not by a time of their own, since the
     * hub's time may be stale when they are sent: marks taken as the hub
     * learns the time tell which offsets are older than recovery_ms. */
    rm_mark marks[RM_MARKS]; /* oldest first */
    uint32_t nmarks;
    uint64_t aged;           /* events up to this offset are older than recovery_ms */
    rm_resuming *resuming;   /* opens waiting for the cluster (resume.c) */
    uint64_t tickets;        /* the last ticket given to the adapter */

    /* Identity and presence (people.h); NULL until first used. */
    struct rm_people *people;
    /* History and storage (stored.h); NULL until first used. */
    struct rm_storage *storage;

    room_hub_stats stats; /* room_hub_stats_copy() */
};

/* What a connection's allocation holds: the struct, then its rm_limit
 * when the hub has rate limits. */
static inline size_t rm_conn_size(const room_hub *hub)
{
    return sizeof(room_conn) + (hub->limited ? sizeof(rm_limit) : 0) +
           (hub->cfg.recovery_ms ? sizeof(rm_conn_ext) : 0);
}
/* A room's allocation: the struct, its name, then its log with recovery. */
static inline size_t rm_room_name_end(size_t name_len)
{
    return (sizeof(rm_room) + name_len + 1 + 7) & ~(size_t)7;
}
static inline size_t rm_room_size(const room_hub *hub, size_t name_len)
{
    return hub->cfg.recovery_ms ? rm_room_name_end(name_len) + sizeof(rm_log)
                                : sizeof(rm_room) + name_len + 1;
}

#endif
