/* Write helper threads. When a loop iteration has many connections to
 * flush (a broadcast to a big room), the loop thread and the helpers share
 * the sendmsg() calls. They start on the first flush big enough to share:
 * a server that never broadcasts widely (or a connection storm, where
 * waking them costs more than the writes) never pays for them. */
#include <errno.h>
#include <stdlib.h>

#include <sys/socket.h>

#include "uv_internal.h"

/* Below this many connections or bytes, waking the helpers costs more than
 * it saves. */
#define SHARED_FLUSH_MIN 64
#define SHARED_FLUSH_MIN_BYTES (64 * 1024)
/* Buffers per sendmsg(): Linux's IOV_MAX; the rest goes as a partial write. */
#define SHARED_IOV_MAX 1024

/* Takes jobs until none is left. Runs on the loop thread and on helpers:
 * it only reads the prepared buffers (immutable frame bytes) and writes its
 * job's result, so it touches no libroom state. */
static void run_jobs(rm_uv_threads *t)
{
    size_t i;
    while ((i = atomic_fetch_add_explicit(&t->next_job, 1, memory_order_relaxed)) < t->njobs) {
        rm_uv_job *j = &t->jobs[i];
        struct msghdr m = {.msg_iov = t->iov + j->first,
                           .msg_iovlen = j->n < SHARED_IOV_MAX ? j->n : SHARED_IOV_MAX};
        ssize_t r;
        do
            r = sendmsg(j->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (r < 0 && errno == EINTR);
        j->result = r >= 0 ? r : -errno;
    }
}

static void helper_main(void *arg)
{
    rm_uv_threads *t = arg;
    for (;;) {
        uv_sem_wait(&t->go);
        if (t->quit)
            return;
        run_jobs(t);
        uv_sem_post(&t->finished);
    }
}

void rm_uv_threads_stop(rm_uv_threads *t)
{
    unsigned i;
    t->quit = true;
    for (i = 0; i < t->nthreads; i++)
        uv_sem_post(&t->go);
    for (i = 0; i < t->nthreads; i++)
        uv_thread_join(&t->threads[i]);
    if (t->threads) {
        uv_sem_destroy(&t->go);
        uv_sem_destroy(&t->finished);
    }
    free(t->threads);
    free(t->jobs);
    free(t->iov);
    *t = (rm_uv_threads){0};
}

static bool threads_start(room_uv_server *srv)
{
    rm_uv_threads *t = &srv->helpers;
    unsigned n = srv->cfg.write_threads;

    if (!(t->threads = calloc(n, sizeof *t->threads)))
        return false;
    if (uv_sem_init(&t->go, 0) != 0) {
        free(t->threads);
        t->threads = NULL;
        return false;
    }
    if (uv_sem_init(&t->finished, 0) != 0) {
        uv_sem_destroy(&t->go);
        free(t->threads);
        t->threads = NULL;
        return false;
    }
    while (t->nthreads < n && uv_thread_create(&t->threads[t->nthreads], helper_main, t) == 0)
        t->nthreads++;
    if (!t->nthreads) {
        room_ws_logf(srv->ws, ROOM_LOG_WARN, "write threads: cannot start any; writing on the loop thread");
        srv->cfg.write_threads = 0;
    }
    return t->nthreads > 0;
}

bool rm_uv_flush_shared(room_uv_server *srv, room_ws_conn **batch, size_t n)
{
    rm_uv_threads *t = &srv->helpers;
    size_t njobs = 0, nbufs = 0, bytes = 0, i, k;

    if (n < SHARED_FLUSH_MIN)
        return false;
    for (i = 0; i < n; i++) {
        k = room_ws_conn_output(batch[i], NULL, SIZE_MAX);
        njobs += k > 0;
        nbufs += k;
    }
    if (njobs < SHARED_FLUSH_MIN)
        return false;
    if (njobs > t->capjobs) {
        rm_uv_job *p = realloc(t->jobs, njobs * sizeof *p);
        if (!p)
            return false;
        t->jobs = p;
        t->capjobs = njobs;
    }
    /* A backlog's flush (tens of thousands of buffers) would keep its
     * array for good: it halves once 256 flushes in a row used a quarter
     * of it. Not at the first small one: fan-out alternates big and small
     * flushes, and resizing at each turn costs a realloc (an mremap when
     * big) per flush. */
    t->small_flushes = nbufs <= t->capiov / 4 ? t->small_flushes + 1 : 0;
    if (t->small_flushes >= 256) {
        struct iovec *p = realloc(t->iov, t->capiov / 2 * sizeof *p);
        t->small_flushes = 0;
        if (p) {
            t->iov = p;
            t->capiov /= 2;
        }
    }
    if (nbufs > t->capiov) {
        struct iovec *p = realloc(t->iov, nbufs * sizeof *p);
        if (!p)
            return false;
        t->iov = p;
        t->capiov = nbufs;
    }
    t->njobs = 0;
    nbufs = 0;
    for (i = 0; i < n; i++) {
        room_ws_conn *c = batch[i];
        if (!(k = room_ws_conn_output(c, t->iov + nbufs, SIZE_MAX)))
            continue;
        t->jobs[t->njobs++] = (rm_uv_job){c, rm_uv_fd(c), nbufs, k, 0};
        while (k--)
            bytes += t->iov[nbufs++].iov_len;
    }
    if (bytes < SHARED_FLUSH_MIN_BYTES || (!t->nthreads && !threads_start(srv)))
        return false;
    /* The semaphores order the jobs before the helpers and the results
     * before us. */
    atomic_store_explicit(&t->next_job, 0, memory_order_relaxed);
    for (i = 0; i < t->nthreads; i++)
        uv_sem_post(&t->go);
    run_jobs(t);
    for (i = 0; i < t->nthreads; i++)
        uv_sem_wait(&t->finished);
    srv->stats.shared_flushes++;
    for (i = 0; i < t->njobs; i++) {
        rm_uv_job *j = &t->jobs[i];
        srv->stats.writes++;
        if (j->result > 0)
            room_ws_conn_written(j->c, (size_t)j->result);
        else if (j->result < 0 && j->result != -EAGAIN && j->result != -EWOULDBLOCK)
            room_ws_conn_error(j->c);
    }
    /* What is left (partial writes, closes, connections without output)
     * goes the usual way. */
    for (i = 0; i < n; i++)
        rm_uv_serve(srv, batch[i]);
    return true;
}
