/* libroom-ws internals shared by the files of lib/ws. Not installed. */
#ifndef ROOM_WS_INTERNAL_H
#define ROOM_WS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>
#include <wslay/wslay.h>

#include "room/ws.h"

#define RM_WS_READ_BUF (64 * 1024) /* one per server: reads are handled at once */
#define RM_WS_MAX_REQUEST 8192     /* HTTP request head */
#define RM_WS_POOL 32              /* idle wslay contexts kept for reuse */
#define RM_WS_HEADROOM 10          /* largest server frame header */
#define RM_WS_ACCEPT_LEN 28        /* base64 of a SHA-1 digest */

/* A connection is in exactly one state's list, except CLOSED (uv_close()
 * called, memory released by its close callback). */
enum { RM_WS_CLOSED, RM_WS_HANDSHAKE, RM_WS_OPEN, RM_WS_CLOSING, RM_WS_NSTATES };

enum {
    RM_WS_WORK = 1u << 0,     /* on srv->work */
    RM_WS_WRITING = 1u << 1,  /* a uv_write() is in flight */
    RM_WS_CORE = 1u << 2,     /* owns an eio session or room_conn */
    RM_WS_IN_FRAME = 1u << 3, /* hdr is complete; the frame is being fed */
    RM_WS_MSG_OPEN = 1u << 4, /* a fragmented message is unfinished */
    RM_WS_ABORT = 1u << 5,    /* hang up without writing what is queued */
    RM_WS_SHUT = 1u << 6,     /* uv_shutdown() issued */
    RM_WS_EOF = 1u << 7,      /* the peer has finished sending */
};

typedef struct rm_ws_mount {
    struct rm_ws_mount *next;
    room_eio *eio; /* Socket.IO, or NULL for a JSON hub */
    room_hub *hub;
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

typedef struct rm_ws_conn rm_ws_conn;

typedef struct rm_ws_list {
    rm_ws_conn *head, *tail;
} rm_ws_list;

struct rm_ws_conn {
    uv_tcp_t tcp; /* first: the stream pointer is the connection */
    room_ws_server *srv;
    const rm_ws_mount *mount;
    rm_ws_conn *prev, *next; /* in srv->lists[state] */
    rm_ws_conn *work_next;
    union {
        room_eio_session *session;
        room_conn *conn;
    } core;
    wslay_event_context_ptr parser; /* only while a message is unfinished */
    uint8_t *request;               /* a request head that came in pieces */
    char *reason;                   /* why the session ends */
    rm_ws_item *q;                  /* not yet handed to libuv */
    size_t pending;                 /* bytes queued or being written */
    uint64_t left;                  /* payload of the current frame not yet fed */
    uint64_t deadline;              /* handshake or close, uv_now() ms */
    uint32_t qlen, qcap;
    uint32_t request_len;
    uint8_t state;
    uint8_t flags;
    uint8_t hdr_len, hdr_off; /* header bytes collected, fed to wslay */
    uint8_t hdr[14];
};

/* One connection's writes in a shared flush. */
typedef struct rm_ws_job {
    rm_ws_conn *c;
    int fd;
    size_t first, n; /* its buffers: iov[first .. first + n) */
    ssize_t result;  /* bytes taken, or a negative libuv error */
} rm_ws_job;

struct room_ws_server {
    uv_loop_t *loop;
    room_ws_config cfg;
    rm_ws_mount *mounts;

    uv_tcp_t listener;
    uv_timer_t tick_timer; /* room_eio_tick() and room_hub_tick() */
    uv_timer_t reap_timer; /* handshake and close deadlines */
    uv_prepare_t prepare;  /* run the work list before the loop blocks */
    uv_check_t check;      /* ... and right after I/O */
    unsigned handles;      /* of the five above, not yet closed */
    size_t nconns;         /* accepted, not yet freed (a refusal counts) */
    /* A connection we cannot serve is accepted into this handle and closed:
     * libuv watches the listener again only after an accept. */
    uv_tcp_t refused;
    bool refusing, refuse_again;
    bool listening, stopping; /* listening: from listen until shutdown is done */
    room_ws_done_fn done;

    rm_ws_list lists[RM_WS_NSTATES];
    rm_ws_conn *work, *work_tail; /* connections with something to do */
    bool tick_due, ticking;

    /* What wslay's callbacks work on: the connection being read and the
     * part of the read buffer not yet handed to wslay. */
    rm_ws_conn *cur;
    const uint8_t *in;
    size_t in_len;

    /* Shared flushes (write_threads): one job per connection, whose buffers
     * lie in iov; helpers and the loop thread take jobs by next_job. */
    rm_ws_job *jobs;
    size_t njobs, capjobs;
    uv_buf_t *iov;
    size_t capiov;
    atomic_size_t next_job;
    uv_thread_t *threads;
    unsigned nthreads;
    uv_sem_t go, finished;
    bool quit;

    wslay_event_context_ptr pool[RM_WS_POOL];
    unsigned npool;
    room_ws_stats stats;
    uint8_t rbuf[RM_WS_READ_BUF];
};

/* server.c */
void rm_ws_log(const room_ws_server *srv, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Puts the connection on the work list (flush, finish a close). */
void rm_ws_work(rm_ws_conn *c);
/* Server-initiated close of an open connection: the close frame goes after
 * what is queued; the session ends, with `reason`, outside any callback. */
void rm_ws_close(rm_ws_conn *c, int code, const char *reason);
/* The same when the close frame is already queued (wslay's). */
void rm_ws_closing(rm_ws_conn *c, const char *why);
/* The socket is unusable: end the session and hang up. */
void rm_ws_abort(rm_ws_conn *c, const char *why);

/* handshake.c */
/* Length of the request head up to and including its blank line; 0 while
 * incomplete. */
size_t rm_ws_request_end(const uint8_t *p, size_t len);
/* Checks a complete request head. Returns NULL and sets the mount, the
 * Sec-WebSocket-Accept value and the query parameters (a new object), or
 * the reason (one line) to refuse it. */
const char *rm_ws_handshake(const room_ws_server *srv, const uint8_t *head, size_t len,
                            const rm_ws_mount **mount_out, char accept[RM_WS_ACCEPT_LEN + 1],
                            json_t **query_out);
int rm_ws_respond_101(rm_ws_conn *c, const char *accept);
int rm_ws_respond_400(rm_ws_conn *c, const char *reason);

/* output.c */
size_t rm_ws_seal(const room_frame *frame, uint8_t *header, void *user_data);
/* A hub or eio frame for the connection, subject to max_queued_bytes. */
int rm_ws_send(rm_ws_conn *c, room_frame *frame);
/* Flushes the work list's connections with the write helpers; false when it
 * did not (too few, or no helpers). */
bool rm_ws_flush_shared(room_ws_server *srv, rm_ws_conn *list);
void rm_ws_run_jobs(room_ws_server *srv);
/* Appends bytes of our own (not subject to the limit). */
int rm_ws_queue_bytes(rm_ws_conn *c, const void *bytes, size_t len);
int rm_ws_queue_close(rm_ws_conn *c, int code, const char *reason);
/* Over max_queued_bytes: the slow consumer policy's close. */
void rm_ws_slow_close(rm_ws_conn *c);
/* Writes everything queued with one writev, unless a write is in flight. */
void rm_ws_flush(rm_ws_conn *c);
/* Releases what is queued but not yet handed to libuv. */
void rm_ws_queue_release(rm_ws_conn *c);

/* input.c */
/* Frames from the peer; messages go to the mount. */
void rm_ws_input(rm_ws_conn *c, const uint8_t *p, size_t n);
void rm_ws_parser_drop(rm_ws_conn *c);
void rm_ws_pool_free(room_ws_server *srv);

#endif
