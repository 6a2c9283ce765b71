/* libroom-ws internals shared by the files of lib/ws. Not installed. */
#ifndef ROOM_WS_INTERNAL_H
#define ROOM_WS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wslay/wslay.h>

#include "room/ws.h"

#define RM_WS_MAX_REQUEST 8192 /* HTTP request head */
#define RM_WS_PEER_LEN 46      /* INET6_ADDRSTRLEN */

/* The first byte of both objects an eio session's transport pointer can
 * be: the send and close callbacks tell them apart by it. */
enum { RM_WS_TAG_CONN = 0xc1, RM_WS_TAG_POLL = 0xb0 };
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
enum { RM_WS_HANDSHAKE, RM_WS_OPEN, RM_WS_CLOSING, RM_WS_DONE, RM_WS_PARKED };
/* HANDSHAKE reads HTTP requests (keep-alive: one after another, the
 * deadline restarting after each response). PARKED holds a long-poll GET
 * for a polling session (no deadline: the session's heartbeat answers it
 * within a ping interval); input behind it waits, so that responses leave
 * in request order. */

enum {
    RM_WS_WORK = 1u << 0,     /* on ws->work */
    RM_WS_CORE = 1u << 1,     /* owns an eio session or room_conn */
    RM_WS_IN_FRAME = 1u << 2, /* rx->hdr is complete; the frame is being fed */
    RM_WS_MSG_OPEN = 1u << 3, /* a fragmented message is unfinished */
    RM_WS_SHUT = 1u << 4,     /* CLOSING: ROOM_WS_WANT_SHUTDOWN was reported */
    /* OPEN: a WebSocket probing to upgrade polling session core.session,
     * which it does not own yet (the bit is free outside CLOSING). */
    RM_WS_PROBE = 1u << 4,
    RM_WS_EOF = 1u << 5,      /* the peer has finished sending */
    RM_WS_HEARD = 1u << 6,    /* OPEN: input since the last keepalive round */
    RM_WS_PINGED = 1u << 7,   /* OPEN: pinged, nothing heard since */
};

#define RM_WS_MAX_MOUNTS 255 /* a connection names its mount in a byte */

typedef struct rm_ws_mount {
    room_eio *eio; /* Socket.IO or plain Engine.IO, or NULL for a JSON hub */
    room_hub *hub;
    uint32_t max_message; /* largest inbound message: 1009 past it, 413 for a POST */
    unsigned transports;  /* ROOM_WS_TRANSPORT_* */
    bool cors;            /* origins or origin_allowed configured */
    bool any_origin;      /* "*" among them */
    bool credentials;
    int (*origin_allowed)(const char *origin, size_t len, void *user_data);
    void *user_data;
    char **origins; /* NULL-terminated, in this allocation */
    /* A prefix mount's hooks (mount_prefix.c), or NULL: then `path` is
     * matched exactly. */
    struct rm_ws_prefix *prefix;
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
    /* HANDSHAKE, PARKED: input not yet served (a request that came in
     * pieces, requests pipelined behind a parked one). */
    uint8_t *request;
    uint32_t request_len;
    bool keep_alive;          /* PARKED: after its response, the next request */
    bool continued;           /* HANDSHAKE: "100 Continue" sent for the request coming */
    struct rm_ws_poll *poll;  /* PARKED: the polling session the GET is for */
    struct rm_ws_poll *posting; /* HANDSHAKE: the session whose POST body is coming */
    char *origin;             /* PARKED: the allowed Origin its response echoes */
    char peer[RM_WS_PEER_LEN]; /* the peer's address, for the handshake JSON */
} rm_ws_side;

/* Inbound state, borrowed from ws->pool only while a frame or a message
 * is unfinished: between messages an open connection has none. */
typedef struct rm_ws_rx {
    wslay_event_context_ptr parser;
    uint32_t left;            /* payload of the current frame not yet fed */
    uint8_t hdr_len, hdr_off; /* header bytes collected, fed to wslay */
    uint8_t hdr[14];
} rm_ws_rx;

typedef struct rm_ws_route rm_ws_route;

typedef struct rm_ws_list {
    rm_ws_side *head, *tail;
} rm_ws_list;

/* Kept small: an idle open connection is this struct and its slot in
 * ws->conns, nothing else. */
struct room_ws_conn {
    uint8_t tag; /* RM_WS_TAG_CONN */
    uint8_t state;
    uint8_t flags;
    uint8_t mount; /* ws->mounts[mount], once OPEN */
    uint32_t slot; /* in ws->conns */
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
};

/* A polling session's transport (polling.c): the frames the eio sent it,
 * held until the client polls, and the GET parked for them. */
typedef struct rm_ws_poll {
    uint8_t tag; /* RM_WS_TAG_POLL */
    uint8_t flags;
    uint8_t mount;
    uint32_t slot; /* in ws->polls */
    room_ws *ws;
    room_eio_session *session;
    room_ws_conn *get;   /* the parked GET, or NULL */
    room_ws_conn *probe; /* a WebSocket upgrading the session, or NULL */
    room_ws_conn *post;  /* a connection whose POST body for it is coming */
    struct rm_ws_poll *work_next;
    uint64_t deadline;   /* closing: the session ends by then, polled or not */
    char *reason;        /* closing: why */
    room_frame **frames; /* held, each a reference */
    uint32_t nframes, capframes;
    size_t pending;      /* their payload bytes */
} rm_ws_poll;

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
    bool probing;  /* inside room_eio_upgrade_recv() */
    bool shutting; /* room_ws_close_all(): no more keep-alive */

    /* What wslay's callbacks work on: the connection being read and the
     * part of the input not yet handed to wslay. */
    room_ws_conn *cur;
    const uint8_t *in;
    size_t in_len;

    rm_ws_poll **polls; /* every polling session's transport */
    size_t npolls, cappolls;
    rm_ws_poll *poll_work; /* with a GET to answer or a close to finish */
    room_buf *body;        /* a response body being built, reused */

    rm_ws_rx *pool[RM_WS_POOL];
    unsigned npool;
    room_ws_stats stats;

    rm_ws_route **routes; /* the host's HTTP routes (route.c) */
    size_t nroutes;
    /* JSON connections whose open waits for the cluster (recovery across
     * nodes, handshake.c): while none does, closing costs nothing more. */
    size_t resuming;
};

static inline const rm_ws_mount *rm_ws_conn_mount(const room_ws_conn *c)
{
    return c->ws->mounts[c->mount];
}

/* A JSON connection closing before the cluster answered its resume: its
 * open is cancelled (handshake.c). */
void rm_ws_resume_cancel(room_ws_conn *c);

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

/* engine.c */
/* The debug lines of a session's start and end (roomd --verbose): one
 * per connection, never one per message. */
void rm_ws_log_open(const room_ws *ws, const char *transport, const char *id, const char *peer, const char *path);
void rm_ws_log_close(const room_ws *ws, const char *id, const char *reason);

/* keepalive.c */
/* Runs the keepalive rounds that are due; returns the next one's time, or
 * 0 when none is needed. */
uint64_t rm_ws_keepalive(room_ws *ws);

/* http.c */
/* Bytes of a HANDSHAKE or PARKED connection: HTTP requests, served in
 * order until one upgrades the connection, parks or closes it. */
void rm_ws_request_input(room_ws_conn *c, const uint8_t *p, size_t n);
/* A request, parsed. Spans point into the request's bytes. */
typedef struct rm_ws_span {
    const char *p;
    size_t len;
} rm_ws_span;
enum { RM_HTTP_GET, RM_HTTP_POST, RM_HTTP_OPTIONS, RM_HTTP_OTHER };
typedef struct rm_ws_request {
    const uint8_t *head; /* the whole head, CRLF CRLF included */
    size_t head_len;
    int method;
    bool http11, keep_alive;
    rm_ws_span target, path, query;
    rm_ws_span key, ws_version, origin, request_headers, content_type;
    int keys, ws_versions;
    bool upgrade, connection_upgrade; /* the tokens websocket and upgrade */
    bool upgrade_header;              /* any Upgrade header: a WebSocket request */
    bool chunked, expect_continue;
    uint64_t content_length;
    const uint8_t *body;
    int mount;         /* index in ws->mounts, or -1 */
    bool origin_ok;    /* no Origin, or an allowed one */
    bool cors;         /* responses carry CORS headers (an allowed Origin) */
    const char *method_name; /* "GET", "HEAD", ... (http-parser's) */
} rm_ws_request;
/* The value of `name` in the query "a=1&b=2"; p is NULL when absent. */
rm_ws_span rm_ws_query_get(rm_ws_span query, const char *name);
bool rm_ws_span_is(rm_ws_span s, const char *lit);
/* Queues a complete response: status line, Content-Type and -Length, the
 * CORS headers the request earns, `extra` header lines (CRLF-ended, or
 * NULL), then `body`. Connection: close unless `keep_alive`. */
int rm_ws_respond(room_ws_conn *c, const rm_ws_request *r, int status, const char *content_type,
                  const char *extra, const void *body, size_t len, bool keep_alive);
/* The same for a response whose request is gone (a parked poll's): the
 * CORS headers of mount `m` for `origin` (NULL: none). */
int rm_ws_respond_to(room_ws_conn *c, const rm_ws_mount *m, const char *origin, size_t origin_len,
                     int status, const char *content_type, const char *extra, const void *body,
                     size_t len, bool keep_alive);
/* "OK", "Not Found", ... for the status line. */
const char *rm_ws_status_text(int status);
/* The peer ended a request half-way: 400, then close. */
void rm_ws_request_eof(room_ws_conn *c);
/* After a response: the next request (keep-alive), or FIN. */
void rm_ws_request_done(room_ws_conn *c, bool keep_alive);
/* The handshake of room_open_args / room_eio_request: a new object, or NULL
 * when out of memory. */
json_t *rm_ws_handshake_json(const room_ws_conn *c, const rm_ws_request *r, bool websocket);

/* handshake.c */
/* A WebSocket upgrade request to mount r->mount. */
void rm_ws_upgrade(room_ws_conn *c, const rm_ws_request *r, const uint8_t *rest, size_t rest_len);
/* The request's EIO=: 4, 3, or 0 for anything else. */
int rm_ws_eio_protocol(const rm_ws_request *r);
/* A refusal in plain text (upgrades, non-Engine.IO paths), then FIN. */
void rm_ws_refuse(room_ws_conn *c, const rm_ws_request *r, int status, const char *reason);

/* engineio.c */
/* A request to an Engine.IO mount that is not a WebSocket upgrade:
 * polling GET/POST, preflight. */
void rm_ws_eio_request(room_ws_conn *c, const rm_ws_request *r);
/* Engine.IO's error answer: 400 (403 for 4) {"code":N,"message":"..."}. */
void rm_ws_eio_error(room_ws_conn *c, const rm_ws_request *r, int code, bool keep_alive);
enum { RM_EIO_UNKNOWN_TRANSPORT, RM_EIO_UNKNOWN_SID, RM_EIO_BAD_HANDSHAKE_METHOD, RM_EIO_BAD_REQUEST,
       RM_EIO_FORBIDDEN, RM_EIO_UNSUPPORTED_PROTOCOL };

/* cors.c */
/* Sets r->origin_ok and r->cors for the mount. */
void rm_ws_cors_check(const room_ws *ws, rm_ws_request *r);
/* Appends the CORS response headers for an allowed origin (`origin`,
 * `len` bytes) of mount `m` to `out` (cap bytes); returns the length
 * written, or 0 when they do not fit. */
size_t rm_ws_cors_headers(const rm_ws_mount *m, const char *origin, size_t len, char *out, size_t cap);

/* polling.c */
/* A polling session's handshake: opens it and answers with the open packet. */
void rm_ws_poll_open(room_ws_conn *c, const rm_ws_request *r);
/* GET and POST of a polling session. */
void rm_ws_poll_get(room_ws_conn *c, const rm_ws_request *r, rm_ws_poll *p);
void rm_ws_poll_post(room_ws_conn *c, const rm_ws_request *r, rm_ws_poll *p);
/* A request whose body is over the mount's limit: 413, and a polling
 * session it was for is closed. */
void rm_ws_poll_too_large(room_ws_conn *c, const rm_ws_request *r);
int rm_ws_poll_send(rm_ws_poll *p, room_frame *frame);
/* A POST whose body is still coming (one per session at a time, as
 * engine.io's), and its end. */
void rm_ws_poll_posting(room_ws_conn *c, const rm_ws_request *r);
void rm_ws_poll_posted(room_ws_conn *c);
/* The session is to end: a parked GET gets the close packet; without one
 * it ends at once, or, to `linger` (a close the eio asked for in good
 * order), after the next GET took what is held and the close packet, or
 * close_timeout_ms. */
void rm_ws_poll_close(rm_ws_poll *p, const char *reason, bool linger);
/* Closing and past lingering: requests treat it as unknown. */
bool rm_ws_poll_gone(const rm_ws_poll *p);
/* A parked GET's connection is leaving PARKED: answered, or `gone` (then
 * the session closes, as engine.io's does). */
void rm_ws_poll_unpark(room_ws_conn *c, bool gone);
/* A probing WebSocket's message; its leaving OPEN on its own (the eio is
 * told); its end asked by the eio (nothing to tell). */
void rm_ws_poll_probe_recv(room_ws_conn *c, int kind, const void *bytes, size_t len);
void rm_ws_poll_probe_end(room_ws_conn *c);
void rm_ws_probe_detach(room_ws_conn *c);
/* Answers parked GETs, ends closed sessions; returns the next deadline (0: none). */
uint64_t rm_ws_polls_run(room_ws *ws);
void rm_ws_polls_free(room_ws *ws);

/* route.c */
/* A request to no mount that is not an upgrade: answered by the host's
 * route for its path (true), or not served here (false). */
bool rm_ws_route_request(room_ws_conn *c, const rm_ws_request *r);
void rm_ws_routes_free(room_ws *ws);

/* mount.c */
void rm_ws_mounts_free(room_ws *ws);
/* The index of the mount serving `path`, or -1. */
int rm_ws_mount_find(const room_ws *ws, const char *path, size_t len);

/* mount_prefix.c */
/* Whether `path` (len bytes) is served by prefix mount `m`. */
bool rm_ws_prefix_match(const rm_ws_mount *m, const char *path, size_t len);
/* A prefix mount's upgrade: the path's name after the prefix,
 * percent-decoded and checked, as the handshake's "name". Returns NULL or
 * the reason to refuse (one line). */
const char *rm_ws_prefix_handshake(const room_ws_conn *c, const rm_ws_request *r, json_t *handshake);
/* A message of one of its connections, the written end of its output, its
 * clock (instead of room_hub_tick()), its per-connection output bound (0:
 * the engine's). */
void rm_ws_prefix_recv(room_ws_conn *c, int kind, const uint8_t *bytes, size_t len);
void rm_ws_prefix_drained(room_ws_conn *c);
int64_t rm_ws_prefix_tick(const rm_ws_mount *m, uint64_t now);
size_t rm_ws_prefix_max_queued(const room_ws_conn *c);
void rm_ws_prefix_free(rm_ws_mount *m);

/* output.c */
size_t rm_ws_seal(const room_frame *frame, uint8_t *header, void *user_data);
/* A hub or eio frame for the connection, subject to max_queued_bytes. */
int rm_ws_send(room_ws_conn *c, room_frame *frame);
/* Appends bytes of our own (not subject to the limit). */
int rm_ws_queue_bytes(room_ws_conn *c, const void *bytes, size_t len);
/* Puts bytes of our own ahead of everything queued (none of it written). */
int rm_ws_queue_front(room_ws_conn *c, const void *bytes, size_t len);
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
