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
/* Encodes an event (or an ack when event is NULL) with `argc` arguments
 * once; attachments become the chain's binary frames. */
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
    RM_CONN_CLOSING = 1u << 0, /* room_conn_close() in progress */
    RM_CONN_KICKED = 1u << 1,  /* host asked to close; sends dropped */
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

/* ---- sending (send.c) ------------------------------------------------------ */
/* Hands `frame` to one connection; counts failures and asks the host to
 * close connections whose send callback fails. */
int rm_deliver(room_hub *hub, room_conn *conn, room_frame *frame);
/* Fans `frame` out to a room's members except `except`. */
int rm_fanout_room(room_hub *hub, rm_room *room, room_frame *frame, const room_conn *except);
int rm_fanout_all(room_hub *hub, room_frame *frame, const room_conn *except);
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
};

/* What a connection's allocation holds: the struct, then its rm_limit
 * when the hub has rate limits. */
static inline size_t rm_conn_size(const room_hub *hub)
{
    return sizeof(room_conn) + (hub->limited ? sizeof(rm_limit) : 0);
}

#endif
