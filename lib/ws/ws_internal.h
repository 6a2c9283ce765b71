/* libroom-ws internals shared by the files of lib/ws. Not installed. */
#ifndef ROOM_WS_INTERNAL_H
#define ROOM_WS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wslay/wslay.h>

#include "room/ws.h"

#define RM_WS_MAX_REQUEST 8192 /* HTTP request head */
#define RM_WS_POOL 32          /* idle rx states (wslay contexts) kept for reuse */
#define RM_WS_HEADROOM 10      /* largest server frame header */
#define RM_WS_ACCEPT_LEN 28    /* base64 of a SHA-1 digest */
/* RFC 6455's "unsupported data", which only this layer sends. */
#define RM_WS_CLOSE_UNSUPPORTED_DATA 1003

/* The defaults of room_ws_config, written once. */
#define RM_WS_DEFAULT_MAX_QUEUED ((size_t)4 << 20)
#define RM_WS_DEFAULT_HANDSHAKE_MS 10000u
#define RM_WS_DEFAULT_CLOSE_MS 5000u
#define RM_WS_DEFAULT_PING_MS 25000u
#define RM_WS_DEFAULT_PONG_MS 20000u
#define RM_WS_DEFAULT_MAX_TOTAL_QUEUED ((size_t)1 << 30)

/* A connection's states. HANDSHAKE and CLOSING ones have a deadline and
 * are in deadline order in ws->timed[] (one timeout each); DONE ones wait
 * for the host to close the socket and free them. */
enum { RM_WS_HANDSHAKE, RM_WS_OPEN, RM_WS_CLOSING, RM_WS_DONE };

enum {
    RM_WS_WORK = 1u << 0,     /* on ws->work */
    RM_WS_CORE = 1u << 1,     /* owns an eio session or room_conn */
    RM_WS_IN_FRAME = 1u << 2, /* rx->hdr is complete; the frame is being fed */
    RM_WS_MSG_OPEN = 1u << 3, /* a fragmented message is unfinished */
    RM_WS_SHUT = 1u << 4,     /* ROOM_WS_WANT_SHUTDOWN was reported */
    RM_WS_EOF = 1u << 5,      /* the peer has finished sending */
    RM_WS_HEARD = 1u << 6,    /* OPEN: input since the last keepalive round */
    RM_WS_PINGED = 1u << 7,   /* OPEN: pinged, nothing heard since */
};

#define RM_WS_MAX_MOUNTS 255 /* a connection names its mount in a byte */

typedef struct rm_ws_mount {
    room_eio *eio; /* Socket.IO, or NULL for a JSON hub */
    room_hub *hub;
    uint32_t max_message; /* largest inbound message: 1009 past it */
    char path[];
} rm_ws_mount;

/* Bytes of our own: an HTTP response, a pong, a close frame. */
typedef struct rm_ws_chunk {
    size_t len;
    uint8_t bytes[];
} rm_ws_chunk;

/* One queued message: a referenced frame chain, or a chunk. */
typedef struct rm_ws_item {
    room_frame *frame;
    rm_ws_chunk *chunk;
} rm_ws_item;

/* A connection's output, allocated only while there is some: an idle
 * connection has none. */
typedef struct rm_ws_queue {
    size_t pending;    /* bytes in items, less head_off */
    uint32_t len, cap; /* len >= 1 */
    uint32_t head_off; /* bytes of items[0] already written */
    rm_ws_item items[]; /* not yet written; items[0] may be partly */
} rm_ws_queue;

/* What only a connection that is not open needs (HANDSHAKE, CLOSING,
 * DONE): an open one, which most are, has none. */
typedef struct rm_ws_side {
    room_ws_conn *conn;
    struct rm_ws_side *prev, *next; /* in ws->timed[], HANDSHAKE and CLOSING */
    uint64_t deadline;              /* host ms */
    char *reason;                   /* why the session ends */
    uint8_t *request;               /* HANDSHAKE: a request head that came in pieces */
    uint32_t request_len;
} rm_ws_side;

/* Inbound state, borrowed from ws->pool only while a frame or a message
 * is unfinished: between messages an open connection has none. */
typedef struct rm_ws_rx {
    wslay_event_context_ptr parser;
    uint32_t left;            /* payload of the current frame not yet fed */
    uint8_t hdr_len, hdr_off; /* header bytes collected, fed to wslay */
    uint8_t hdr[14];
} rm_ws_rx;

typedef struct rm_ws_list {
    rm_ws_side *head, *tail;
} rm_ws_list;

/* Kept small: an idle open connection is this struct and its slot in
 * ws->conns, nothing else. */
struct room_ws_conn {
    room_ws *ws;
    void *host;
    union {
        room_eio_session *session;
        room_conn *conn;
    } core;
    rm_ws_rx *rx;     /* only while a frame or message is unfinished */
    rm_ws_queue *out; /* only while output is pending */
    rm_ws_side *side; /* only while not OPEN */
    room_ws_conn *work_next;
    uint32_t slot; /* in ws->conns */
    uint8_t state;
    uint8_t flags;
    uint8_t mount; /* ws->mounts[mount], once OPEN */
};

struct room_ws {
    room_ws_config cfg;
    rm_ws_mount *mounts[RM_WS_MAX_MOUNTS];
    unsigned nmounts;
    room_ws_conn **conns; /* every connection, in any state */
    size_t nconns, capconns;
    rm_ws_list timed[2];            /* HANDSHAKE, CLOSING: by deadline */
    room_ws_conn *work, *work_tail; /* connections with something to do */
    uint64_t now;                   /* the host's clock, as last given */
    uint64_t tick_at;               /* the hubs' next deadline; 0: none */
    uint64_t ping_at, pong_at;      /* keepalive rounds; 0: none */
    bool tick_due, ticking;

    /* What wslay's callbacks work on: the connection being read and the
     * part of the input not yet handed to wslay. */
    room_ws_conn *cur;
    const uint8_t *in;
    size_t in_len;

    rm_ws_rx *pool[RM_WS_POOL];
    unsigned npool;
    room_ws_stats stats;
};

static inline const rm_ws_mount *rm_ws_conn_mount(const room_ws_conn *c)
{
    return c->ws->mounts[c->mount];
}

static inline size_t rm_ws_pending(const room_ws_conn *c)
{
    return c->out ? c->out->pending : 0;
}

/* conn.c */
/* Without memory for what a closing connection needs, it is DONE instead. */
void rm_ws_move(room_ws_conn *c, int state);
/* Puts the connection on the work list (for the host, or to end its
 * session outside the hubs' callbacks). */
void rm_ws_work(room_ws_conn *c);
/* Server-initiated close of an open connection: the close frame goes after
 * what is queued; the session ends, with `reason`, outside any callback. */
void rm_ws_close(room_ws_conn *c, int code, const char *reason);
/* The same when the close frame is already queued (wslay's). */
void rm_ws_closing(room_ws_conn *c, const char *why);
/* The socket is unusable: end the session and hang up. */
void rm_ws_abort(room_ws_conn *c, const char *why);
/* Ends the session and drops the parser of a connection that is no longer
 * open. Never from inside a hub's callback: disconnect handlers run. */
void rm_ws_settle(room_ws_conn *c);

/* keepalive.c */
/* Runs the keepalive rounds that are due; returns the next one's time, or
 * 0 when none is needed. */
uint64_t rm_ws_keepalive(room_ws *ws);

/* handshake.c */
/* Request bytes of a HANDSHAKE connection; upgrades or refuses it. */
void rm_ws_request_input(room_ws_conn *c, const uint8_t *p, size_t n);

/* mount.c */
void rm_ws_mounts_free(room_ws *ws);
/* The index of the mount serving `path`, or -1. */
int rm_ws_mount_find(const room_ws *ws, const char *path, size_t len);

/* output.c */
size_t rm_ws_seal(const room_frame *frame, uint8_t *header, void *user_data);
/* A hub or eio frame for the connection, subject to max_queued_bytes. */
int rm_ws_send(room_ws_conn *c, room_frame *frame);
/* Appends bytes of our own (not subject to the limit). */
int rm_ws_queue_bytes(room_ws_conn *c, const void *bytes, size_t len);
int rm_ws_queue_close(room_ws_conn *c, int code, const char *reason);
/* Over max_queued_bytes: the slow consumer policy's close. */
void rm_ws_slow_close(room_ws_conn *c);
/* Releases what is queued, but for the part of q[0] already written when
 * `keep_partial` (the stream must stay whole for the close frame). */
void rm_ws_queue_release(room_ws_conn *c, bool keep_partial);

/* input.c */
/* Frames from the peer; messages go to the mount. */
void rm_ws_input(room_ws_conn *c, const uint8_t *p, size_t n);
void rm_ws_parser_drop(room_ws_conn *c);
void rm_ws_pool_free(room_ws *ws);

#endif
