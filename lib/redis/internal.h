/* libroom-redis internals shared by its files. Not installed. */
#ifndef ROOM_REDIS_INTERNAL_H
#define ROOM_REDIS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "room/adapter.h"
#include "room/history.h"
#include "room/redis.h"
#include "room/room.h"

/* ---- allocation (bus.c) ------------------------------------------------- */
void *rr_malloc(const room_allocator *a, size_t size);
void rr_free(const room_allocator *a, void *ptr);
char *rr_strdup(const room_allocator *a, const char *s);
/* Sets the default malloc/free when the host left them zero. */
void rr_allocator_resolve(room_allocator *a);

/* ---- the wire (wire.c) ---------------------------------------------------
 * Broadcasts: msgpack [uid, packet, opts] as @socket.io/redis-adapter 8.x
 * and @socket.io/redis-emitter publish them on "<key>#<nsp>#[<room>#]":
 *   packet {type: 2 (EVENT) or 5 (BINARY_EVENT), data: [event, ...args], nsp}
 *   opts   {rooms: [...], except: [...], flags: {...}}
 * Binary arguments travel as msgpack bin in place of libroom's
 * {"_placeholder": true, "num": i} objects. */

/* A growing output buffer. */
typedef struct rr_out {
    const room_allocator *alloc;
    uint8_t *data;
    size_t len, cap;
    int err; /* ROOM_ENOMEM once an append failed */
} rr_out;
void rr_out_init(rr_out *out, const room_allocator *alloc);
void rr_out_release(rr_out *out);
/* msgpack-c's write callback appending to an rr_out (`data`). */
int rr_out_write(void *data, const char *buf, size_t len);

int rr_encode_broadcast(rr_out *out, const char *uid, const char *nsp, const char *event,
                        json_t *const *argv, size_t argc, const room_bytes *att, size_t natt,
                        const char *room, const char *except_id);

/* rr_encode_broadcast() with a count tag (count.c) as fourth element:
 * receivers answer how many deliveries they made. */
int rr_encode_broadcast_counted(rr_out *out, const char *uid, const char *nsp, const char *event,
                                json_t *const *argv, size_t argc, const room_bytes *att,
                                size_t natt, const char *room, const char *except_id,
                                const char *count_id);

/* The most rooms (and except entries) a broadcast may name. */
#define RR_MAX_ROOMS 1024
/* The deepest msgpack nesting taken. */
#define RR_MAX_DEPTH 32

/* A decoded broadcast: borrowed views into `root` and the input bytes. */
typedef struct rr_broadcast {
    json_t *root;      /* [uid, nsp, event, args, rooms, except] owns the strings */
    const char *uid;
    const char *nsp;
    const char *event;
    json_t **argv;     /* the arguments (borrowed from root) */
    size_t argc;
    const char **rooms;
    size_t nrooms;
    const char **except;
    size_t nexcept;
    room_bytes *att;   /* point into the input */
    size_t natt;
    bool local;        /* flags.local: not for other nodes */
} rr_broadcast;
/* ROOM_EPROTO for anything but the shape above (a packet that is no event
 * included), ROOM_ENOMEM. On success rr_broadcast_release() frees it. */
int rr_decode_broadcast(const room_allocator *a, const uint8_t *bytes, size_t len,
                        rr_broadcast *out);
void rr_broadcast_release(const room_allocator *a, rr_broadcast *b);

/* Checks that `bytes` are exactly one msgpack object no deeper than
 * RR_MAX_DEPTH whose containers claim no more items than bytes remain
 * (msgpack-c would otherwise allocate what a five-byte header claims). */
bool rr_msgpack_check(const uint8_t *bytes, size_t len);
/* One msgpack object as JSON (bin as null): for requests sent with the
 * Socket.IO adapter's msgpack parser. NULL when not convertible. */
json_t *rr_msgpack_to_json(const uint8_t *bytes, size_t len);

/* Requests and responses between nodes: JSON objects, as the Socket.IO
 * adapter writes them (it also reads msgpack ones). */
enum {
    RR_REQ_JOIN = 2,       /* REMOTE_JOIN */
    RR_REQ_LEAVE = 3,      /* REMOTE_LEAVE */
    RR_REQ_DISCONNECT = 4, /* REMOTE_DISCONNECT */
    /* libroom's own, which Socket.IO nodes ignore ("unknown request type") */
    RR_REQ_LEAVE_ALL = 100,
    RR_REQ_EMIT = 101,
    RR_REQ_HEARTBEAT = 102,
    RR_REQ_BYE = 103,
    RR_REQ_PRESENCE = 104,
    RR_REQ_SYNC = 105, /* send me your full presence snapshot */
};
/* Decodes a request or response (JSON, or msgpack when the first byte is
 * not '{'); NULL unless an object. */
json_t *rr_decode_object(const uint8_t *bytes, size_t len);
/* The op a request asks for, borrowing from `req`: room names of the
 * room-wide kinds go to `rooms` (at most RR_MAX_ROOMS), an emit's
 * arguments to `argv` (at most RR_MAX_ARGS). Room-wide requests must name
 * exactly one room in opts.rooms. ROOM_EPROTO when it is not one libroom
 * serves. */
#define RR_MAX_ARGS 64
int rr_request_op(json_t *req, room_remote_op *op, const char **rooms, json_t **argv);
/* The JSON request for `op` (new reference). */
json_t *rr_request_new(const char *uid, const char *request_id, const room_remote_op *op);


/* ---- room storage across nodes (storage.c) --------------------------------------
 * roomd's own msgpack messages, [uid, {"type": T, "nsp": "roomd-storage"},
 * room, ...]: the header's "nsp" is no namespace, so a Socket.IO node that
 * hears one on a room channel ignores it ("different namespace"). */
enum {
    RR_ST_UPDATE = 120, /* room channel: [.., room, update bin] */
    RR_ST_RELAY = 121,  /* room channel: [.., room, bytes bin] */
    RR_ST_FETCH = 122,  /* request channel: [.., room, requestId, flags] */
    RR_ST_LOG = 123,    /* the asker's own response channel:
                         * [.., room, requestId, seq, flags, bytes bin] */
};
/* RR_ST_LOG flags. */
enum { RR_LOG_LAST = 1, RR_LOG_CURRENT = 2, RR_LOG_HAVE = 4 };
/* RR_ST_FETCH flags: asked after an outage (the answerer fetches in turn). */
enum { RR_FETCH_BACK = 1 };
/* The longest room name and request id the messages carry. */
#define RR_ST_ROOM_MAX 1024
#define RR_ST_ID_MAX 32

typedef struct rr_smsg {
    int type;
    char uid[16];
    char room[RR_ST_ROOM_MAX + 1];
    char id[RR_ST_ID_MAX + 1];
    uint64_t seq, flags;
    const uint8_t *data; /* into the decoded bytes */
    size_t len;
} rr_smsg;
/* 0, or ROOM_EPROTO for anything but one of the messages above (a
 * Socket.IO broadcast or request included). Allocates nothing. */
int rr_decode_storage(const uint8_t *bytes, size_t len, rr_smsg *out);
/* Encodes `m` (its data as the bin). */
int rr_encode_storage(rr_out *out, const rr_smsg *m);
/* A log answer is the concatenation of its messages' bytes: entries, each
 * a 4-byte big-endian length and the update. Reads the next entry at *pos:
 * 1 (an entry), 0 (the end), ROOM_EPROTO (a length past the end). */
int rr_log_next(const uint8_t *bytes, size_t len, size_t *pos, const uint8_t **entry,
                size_t *entry_len);
/* ---- cluster-wide counts (count.c) ------------------------------------------------
 * A counted broadcast is [uid, packet, opts, {"type": 140, "requestId"}]
 * on its usual channel; a member count is [uid, nil, {"rooms": [room]},
 * {"type": 141, "requestId"}] on the room's channel (Socket.IO nodes skip
 * both extras: a nil packet is "another namespace" to them). Every node
 * that receives one answers {"type": 142, "requestId", "count"} on the
 * asker's own response channel; the asker expects as many answers as
 * PUBLISH said subscribers got the message, its own subscriber included
 * (whose receipt counts as an answer of 0). */
enum {
    RR_COUNT_DELIVERIES = 140,
    RR_COUNT_MEMBERS = 141,
    RR_COUNT_ANSWER = 142,
};
/* The longest request id of a count. */
#define RR_COUNT_ID_MAX 31
/* A count message from another node, decoded. */
typedef struct rr_count_msg {
    int type;            /* RR_COUNT_* */
    char id[RR_COUNT_ID_MAX + 1];
    char uid[32];        /* the asker (DELIVERIES, MEMBERS) */
    const char *room;    /* MEMBERS: borrowed from `root` */
    uint64_t count;      /* ANSWER */
    json_t *root;        /* MEMBERS: owns `room` */
} rr_count_msg;
/* The count tag of a decoded broadcast's root ([uid, packet, opts, tag]):
 * true and `out` filled (type RR_COUNT_DELIVERIES) when it has one. */
bool rr_count_tag(json_t *root, rr_count_msg *out);
/* A member count request (msgpack bytes) or an answer (a decoded
 * response object): true and `out` filled when `bytes` / `obj` is one;
 * rr_count_msg_release() then frees it. */
bool rr_count_decode_request(const uint8_t *bytes, size_t len, rr_count_msg *out);
bool rr_count_decode_answer(json_t *obj, rr_count_msg *out);
void rr_count_msg_release(rr_count_msg *m);
/* The member count request for `room` (msgpack). */
int rr_count_encode_request(rr_out *out, const char *uid, const char *room, const char *id);

/* A count this node asked for. */
typedef struct rr_count {
    char id[RR_COUNT_ID_MAX + 1];
    uintptr_t seq;      /* how PUBLISH replies find it */
    room_hub *hub;
    uint64_t deadline;  /* once closed */
    uint64_t sum;
    uint64_t expected;  /* receivers PUBLISH reported */
    uint64_t answers;
    unsigned replies;   /* PUBLISH replies still to come */
    bool partial, closed;
    room_count_fn done;
    void *ud;
    struct rr_count *next;
} rr_count;

struct rr_adapter;
/* The adapter's hooks (room/adapter.h). */
int rr_count_begin(room_adapter *adapter, room_hub *hub);
int rr_count_end(room_adapter *adapter, room_hub *hub, uint64_t local, room_count_fn done, void *ud);
int rr_count_members(room_adapter *adapter, room_hub *hub, const char *room, uint64_t local,
                     room_count_fn done, void *ud);
/* From publish_event inside a count: the tag's id, or NULL. */
const char *rr_count_open_id(struct rr_adapter *ad);
/* Publishes a counted message, its PUBLISH reply added to the open count. */
void rr_count_publish(struct rr_adapter *ad, const char *chan, const void *msg, size_t len);
/* A counted message arrived here: answer it (another node's: `n` is what
 * this node counted) or count it (our own). */
void rr_count_received(struct rr_adapter *ad, const rr_count_msg *m, uint64_t n);
/* A response: true when it was a count answer (then consumed). */
bool rr_count_response(struct rr_adapter *ad, json_t *obj);
/* Counts past their deadline end partial. */
void rr_count_tick(struct rr_adapter *ad, uint64_t now);
/* The adapter goes: every count still waiting gets ROOM_ECLOSED. */
void rr_count_release(struct rr_adapter *ad);

/* ---- the bus (bus.c) and the adapters (adapter.c) ----------------------------- */
struct redisAsyncContext;
typedef struct rr_adapter rr_adapter;

/* One Redis connection and the descriptor the host watches for it. */
typedef struct rr_conn {
    struct room_redis *bus;
    struct redisAsyncContext *ac; /* NULL while down */
    int fd;
    int events;  /* ROOM_REDIS_READABLE | ROOM_REDIS_WRITABLE being watched */
    bool up;     /* connected (the connect callback said so) */
    uint64_t started; /* when the connect began */
    bool sub;    /* the subscriber */
} rr_conn;

/* Another node, from its heartbeats. */
typedef struct rr_node {
    char uid[16];
    char name[64];
    uint64_t last_seen;
    struct rr_node *next;
} rr_node;

struct room_redis {
    room_redis_config cfg; /* strings below are the copies */
    char *host, *password, *key, *node_id;
    int port;
    char uid[13];
    rr_conn pub, sub;
    rr_adapter *adapters;
    rr_node *nodes;
    uint64_t now, next_connect, next_heartbeat;
    bool outage;   /* logged once; cleared when both connections are back */
    bool closing;
    bool ticked;   /* `now` is the host's clock (not before the first tick) */
    uint64_t dropped_in_outage;
    uintptr_t count_seq; /* the last count's (count.c) */
    char *hb_chan; /* "<key>-roomd#" */
    room_redis_stats stats;
    /* (Un)subscriptions sent and confirmed on the subscriber connection
     * since it connected: a history fetch waits until those sent before it
     * are confirmed (history.c). */
    uint64_t sub_sent, sub_acked;
    char history_sha[3][41]; /* the history scripts' SHA1 once loaded (history.c) */
};

/* A pending by-id operation of this node. */
typedef struct rr_pending {
    char id[16];
    uint64_t deadline;
    room_done_fn done;
    void *ud;
    struct rr_pending *next;
} rr_pending;

struct rr_adapter {
    room_adapter base; /* first: the hub hands &base back */
    room_redis *bus;
    room_hub *hub;
    char *nsp;
    char *chan;      /* "<key>#<nsp>#" */
    char *req_chan;  /* "<key>-request#<nsp>#" */
    char *resp_chan; /* "<key>-response#<nsp>#" */
    char *own_chan;  /* "<key>-response#<nsp>#<uid>#" */
    char *pres_chan; /* "<key>-roomd-presence#<nsp>#": presence records */
    rr_pending *pending;
    rr_count *counts; /* counts asked, waiting (count.c) */
    rr_count *open;   /* between count_begin and count_end */
    struct rr_hist *hist; /* history rooms (history.c) */
    rr_adapter *next;
    struct rr_resume *resuming; /* resume requests of this node (resume.c) */
    struct rr_storage *storage; /* storage.c: fetches and answers running */
};

/* PUBLISH, unless Redis is away or the output bound is reached (then
 * counted as dropped). */
void rr_publish(room_redis *bus, const char *channel, size_t channel_len, const void *msg, size_t len);
/* rr_publish() whose reply (the number of subscribers that got the
 * message, or NULL when the connection went first) goes to `fn`; false
 * when dropped (then `fn` is not called). */
typedef void rr_reply_fn(struct redisAsyncContext *ac, void *reply, void *privdata);
bool rr_publish_reply(room_redis *bus, const char *channel, size_t channel_len, const void *msg,
                      size_t len, rr_reply_fn *fn, void *privdata);
/* SUBSCRIBE / UNSUBSCRIBE on the subscriber connection, when it is up
 * (on its return every channel is subscribed again). */
void rr_subscribe(room_redis *bus, const char *channel, size_t len, bool on);
/* Subscribes an adapter's channels: its own, then one per local room. */
void rr_adapter_subscribe_all(rr_adapter *ad);
/* A message on a channel of `ad`. */
void rr_adapter_message(rr_adapter *ad, const char *channel, size_t channel_len,
                        const uint8_t *msg, size_t len);
/* Redis is back: ask the others for their presence, publish ours. */
void rr_adapter_back(rr_adapter *ad);
/* A node appeared: publish this node's presence. */
void rr_adapter_announce(rr_adapter *ad);
/* Request timeouts. */
void rr_adapter_tick(rr_adapter *ad, uint64_t now);
/* `obj` as compact JSON on `chan` (counted as dropped when it cannot be
 * written). */
void rr_publish_json(rr_adapter *ad, const char *chan, json_t *obj);
/* A node left or died. */
void rr_adapter_node_gone(rr_adapter *ad, const char *uid);
void rr_log(room_redis *bus, int level, const char *fmt, ...);

/* ---- recovery across nodes (resume.c) ------------------------------------------
 * Request type 110 (JSON, on the request channel) and its answer 111
 * (msgpack, on the asker's own response channel); the layout is in
 * resume.c. */
enum { RR_REQ_RESUME = 110, RR_REQ_RESUME_ANSWER = 111 };
/* How long a node waits for the holder of a session (request_timeout_ms
 * when shorter): the client's CONNECT waits that long at most. */
#define RR_RESUME_TIMEOUT_MS 2000
/* The most events an answer may carry. */
#define RR_MAX_RESUME_EVENTS 65536
/* A decoded answer; its strings and events are its own, the events'
 * attachments point into the input. */
typedef struct rr_resume_answer {
    const char *request_id;
    bool accepted;
    const char *id;             /* accepted: the connection's public id */
    const char **rooms;
    size_t nrooms;
    rr_broadcast *events;       /* each event as a broadcast message */
    room_resume_event *ev;      /* the same, for the core */
    size_t nevents;
    char *strings;
    size_t strings_len;
} rr_resume_answer;
/* `s` NULL: not accepted. ROOM_ENOMEM. */
int rr_encode_resume_answer(rr_out *out, const char *uid, const char *nsp, const char *request_id,
                            const room_resume_session *s);
/* ROOM_EPROTO for anything but the layout above, ROOM_ENOMEM; on success
 * rr_resume_answer_release() frees it. */
int rr_decode_resume_answer(const room_allocator *a, const uint8_t *bytes, size_t len,
                            rr_resume_answer *out);
void rr_resume_answer_release(const room_allocator *a, rr_resume_answer *r);
/* room_adapter.resume. */
int rr_resume_ask(room_adapter *adapter, room_hub *hub, uint64_t ticket, const char *pid,
                  const char *offset);
/* A request of type 110 (true: it was one, handled). */
bool rr_resume_on_request(rr_adapter *ad, json_t *req);
/* A message on this node's own response channel that is an answer (true). */
bool rr_resume_on_answer(rr_adapter *ad, const uint8_t *msg, size_t len);
void rr_resume_tick(rr_adapter *ad, uint64_t now);
void rr_resume_drop(rr_adapter *ad);
/* "<a><b><c>" in one allocation. */
char *rr_concat(const room_allocator *a, const char *x, const char *y, const char *z);

/* ---- the adapters' storage traffic (storage.c) ---------------------------------- */
struct rr_storage;
/* A storage message of `ad` (any of its channels): true when it was one
 * (handled), false to go on with the other kinds. */
bool rr_storage_message(rr_adapter *ad, const uint8_t *msg, size_t len);
/* The subscriber confirmed `channel`: fetches waiting for it ask now. */
void rr_storage_subscribed(rr_adapter *ad, const char *channel, size_t len);
/* Timeouts, and answers waiting for the output to drain. */
void rr_storage_tick(rr_adapter *ad, uint64_t now);
void rr_storage_pump(rr_adapter *ad);
void rr_storage_free(rr_adapter *ad);
/* Redis is back: the rooms served here fetch the others' log again. */
void rr_storage_back(rr_adapter *ad);
int rr_storage_publish(room_adapter *adapter, room_hub *hub, const char *room, int kind,
                       const void *bytes, size_t len);
int rr_storage_fetch(room_adapter *adapter, room_hub *hub, const char *room);
/* Bytes waiting in the publishing connection's output (bus.c). */
size_t rr_pending_bytes(const room_redis *bus);
/* ---- history rooms (history.c): Redis owns their offsets -------------------
 * A history room's messages go through one Lua script that gives the next
 * offset, keeps the message in the room's log (a list) and publishes it on
 * "<key>-roomd-history#<nsp>#<room>#", which every node serving the room,
 * the publisher included, delivers from. Envelope (published, and kept in
 * the log): msgpack [offset, epoch, time_ms, pointer, record], where
 * record is the message as rr_encode_broadcast() writes it (empty: the
 * room's history starts again after offset in a new epoch) and pointer is
 * the JSON pointer (RFC 6901) of the stamp in its arguments ("" for none). */
typedef struct rr_history_msg {
    uint64_t offset;
    uint64_t time_ms;
    char epoch[ROOM_EPOCH_MAX + 1];
    const char *pointer; /* into the input, not NUL-terminated */
    size_t pointer_len;
    const uint8_t *record; /* into the input */
    size_t record_len;
} rr_history_msg;
/* Exactly that shape with a valid epoch, else ROOM_EPROTO. No allocation. */
int rr_decode_history(const uint8_t *bytes, size_t len, rr_history_msg *out);
/* The object that `pointer` ("/<argument index>/<key or index>...") names in
 * argv; NULL when it names none. */
json_t *rr_pointer_resolve(json_t *const *argv, size_t argc, const char *pointer, size_t len);
/* The pointer of `target` in argv (found by identity), allocated with `a`,
 * or NULL (not found, too deep, out of memory: *nomem says which). */
char *rr_pointer_of(const room_allocator *a, json_t *const *argv, size_t argc, json_t *target,
                    bool *nomem);

/* The adapter's history part: hooks and channel names (ROOM_ENOMEM). */
int rr_history_init(rr_adapter *ad);
void rr_history_destroy(rr_adapter *ad);
/* The room's history channel along with its broadcast channel. */
void rr_history_subscribe(rr_adapter *ad, const char *room, bool on);
/* Whether `channel` is one of the adapter's history channels. */
bool rr_history_channel(const rr_adapter *ad, const char *channel, size_t len);
void rr_history_message(rr_adapter *ad, const char *channel, size_t len, const uint8_t *msg,
                        size_t msg_len);
/* Redis is back (scripts loaded, epochs of rooms sent to while away
 * changed); it went away; a subscription was confirmed; the timer. */
void rr_history_back(rr_adapter *ad);
void rr_history_down(rr_adapter *ad);
void rr_history_acked(rr_adapter *ad);
void rr_history_tick(rr_adapter *ad);

/* ---- direct messages to a user on every node (user.c) ------------------------------
 * room_emit_user() for the other nodes: msgpack [uid, packet, opts, {"type":
 * 150, "to", "requestId"?}] (a broadcast's first three elements, rooms and
 * except empty) on the namespace's request channel, which every node
 * hears; Socket.IO nodes ignore it (an array has no request type). Each
 * node delivers to its connection `to`, else to its connections of user
 * `to`. With a requestId (sent inside a count) each answers its
 * deliveries as a count answer (142). */
enum { RR_REQ_EMIT_USER = 150 };
typedef struct rr_user_msg {
    rr_broadcast b;     /* uid, nsp, event, arguments, attachments */
    const char *to;     /* borrowed from b.root */
    bool counted;
    rr_count_msg count; /* when counted: the asker and the count's id */
} rr_user_msg;
int rr_user_encode(rr_out *out, const char *uid, const char *nsp, const char *to, const char *event,
                   json_t *const *argv, size_t argc, const room_bytes *att, size_t natt,
                   const char *count_id);
/* ROOM_EPROTO unless `bytes` is one; ROOM_ENOMEM. On success
 * rr_user_release() frees it. */
int rr_user_decode(const room_allocator *a, const uint8_t *bytes, size_t len, rr_user_msg *out);
void rr_user_release(const room_allocator *a, rr_user_msg *m);
/* The adapter's emit_user hook. */
int rr_emit_user(room_adapter *adapter, room_hub *hub, const char *to, const char *event,
                 json_t *const *argv, size_t argc, const room_bytes *att, size_t natt);
/* A message on the request channel: true when it was a direct message to
 * a user (then handled). */
bool rr_user_request(struct rr_adapter *ad, const uint8_t *msg, size_t len);

#endif
