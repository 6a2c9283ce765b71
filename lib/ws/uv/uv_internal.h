/* libroom-uv internals shared by the files of lib/ws/uv. Not installed. */
#ifndef ROOM_UV_INTERNAL_H
#define ROOM_UV_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/epoll.h>
#include <sys/uio.h>

#include "room/ws_uv.h"

#define RM_UV_READ_BUF (64 * 1024) /* one per server: reads are handled at once */
#define RM_UV_IOV 64               /* iovecs per write on the loop thread */
#define RM_UV_ACCEPTS 128          /* per wakeup of the listener, to stay fair */
#define RM_UV_EVENTS 1024          /* epoll events taken per wakeup, as libuv does */
#define RM_UV_ROUNDS 48            /* full batches taken per wakeup, as libuv does */

/* A connection is the engine's room_ws_conn, whose host pointer is the
 * socket's descriptor, and one byte of ours, fdstate[fd]: what its epoll
 * registration watches. A libuv handle per connection (uv_poll_t, 160
 * bytes) would be most of an idle connection's memory. */
enum {
    RM_UV_WRITABLE = 1u << 0, /* watching EPOLLOUT */
    RM_UV_EOF = 1u << 1       /* not watching EPOLLIN: the peer has finished */
};

static inline int rm_uv_fd(const room_ws_conn *wc)
{
    return (int)(intptr_t)room_ws_conn_host(wc);
}

/* One connection's writes in a shared flush. */
typedef struct rm_uv_job {
    room_ws_conn *c;
    int fd;
    size_t first, n; /* its buffers: iov[first .. first + n) */
    ssize_t result;  /* bytes taken, or -errno */
} rm_uv_job;

/* The write helpers, started on the first flush big enough to share. */
typedef struct rm_uv_threads {
    rm_uv_job *jobs;
    size_t njobs, capjobs;
    struct iovec *iov;
    size_t capiov;
    unsigned small_flushes; /* flushes in a row that used a quarter of iov or less */
    atomic_size_t next_job;
    uv_thread_t *threads;
    unsigned nthreads;
    uv_sem_t go, finished;
    bool quit;
} rm_uv_threads;

struct room_uv_server {
    uv_loop_t *loop;
    room_ws *ws;
    room_uv_config cfg;

    uv_poll_t listener;
    /* The connections' sockets are in one epoll instance of ours, and the
     * loop watches that: referenced while there are connections. */
    uv_poll_t conns;
    uv_timer_t timer;     /* the engine's next deadline */
    uv_prepare_t prepare; /* serve the engine before the loop blocks */
    uv_check_t check;     /* ... and right after I/O */
    unsigned handles;     /* of the five above, not yet closed */
    size_t nconns;        /* accepted, not yet closed */
    bool listening, stopping; /* listening: from listen until shutdown is done */
    bool at_limit;            /* refusing for max_connections; logged once */
    room_uv_done_fn done;

    int epfd;
    uint8_t *fdstate; /* RM_UV_*, indexed by descriptor */
    size_t capfd;
    struct epoll_event events[RM_UV_EVENTS];

    room_ws_conn **batch; /* ready connections, when helpers may share them */
    size_t capbatch;
    rm_uv_threads helpers;
    room_uv_stats stats;
    uint8_t rbuf[RM_UV_READ_BUF];
};

/* server.c */
/* Shutdown's progress: connections gone, then our handles, then done. */
void rm_uv_settle(room_uv_server *srv);

/* accept.c */
void rm_uv_on_listener(uv_poll_t *h, int status, int events);

/* io.c */
int rm_uv_conn_open(room_uv_server *srv, int fd, const struct sockaddr *peer, size_t peer_len);
/* The epoll instance is readable: serves what its sockets report. */
void rm_uv_on_conns(uv_poll_t *h, int status, int events);
/* Does what the engine wants for the connection: write, shut down, close. */
void rm_uv_serve(room_uv_server *srv, room_ws_conn *wc);

/* threads.c */
/* Writes the connections' output, the loop thread and the helpers sharing
 * the system calls, and tells the engine what was taken. False (nothing
 * written) when the batch is too small to share or memory is short. */
bool rm_uv_flush_shared(room_uv_server *srv, room_ws_conn **batch, size_t n);
void rm_uv_threads_stop(rm_uv_threads *t);

#endif
