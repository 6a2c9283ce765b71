/* Outbound: frames sealed once with their WebSocket header, queued per
 * connection by reference, and written with one writev per flush. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ws_internal.h"

#define FLUSH_IOV 64 /* uv_bufs on the stack; more are allocated */

/* A uv_write() in flight owns the items it carries. */
typedef struct rm_ws_write {
    uv_write_t req; /* first: the request pointer is the write */
    rm_ws_item *items;
    uint32_t n;
} rm_ws_write;

/* A server frame header: FIN, opcode, unmasked length (RFC 6455 5.2). */
static size_t header(uint8_t *h, unsigned opcode, uint64_t len)
{
    int i;
    h[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        h[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        return 4;
    }
    h[1] = 127;
    for (i = 0; i < 8; i++)
        h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

size_t rm_ws_seal(const room_frame *frame, uint8_t *h, void *user_data)
{
    size_t len;
    (void)user_data;
    room_frame_payload(frame, &len);
    return header(h, room_frame_kind(frame) == ROOM_FRAME_BINARY ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
                  len);
}

/* Fills `bufs` (when not NULL) with the item's wire bytes; returns how many
 * buffers that takes. */
static size_t item_bufs(const rm_ws_item *it, uv_buf_t *bufs)
{
    const room_frame *f;
    size_t n = 0;
    if (it->chunk) {
        if (bufs) {
            bufs->base = (char *)it->chunk->bytes;
            bufs->len = it->chunk->len;
        }
        return 1;
    }
    for (f = it->frame; f; f = room_frame_next(f), n++) {
        if (bufs)
            bufs[n].base = (char *)room_frame_wire(f, &bufs[n].len);
    }
    return n;
}

static size_t item_bytes(const rm_ws_item *it)
{
    const room_frame *f;
    size_t n = 0, len;
    if (it->chunk)
        return it->chunk->len;
    for (f = it->frame; f; f = room_frame_next(f)) {
        room_frame_wire(f, &len);
        n += len;
    }
    return n;
}

static void account(rm_ws_conn *c, size_t bytes)
{
    c->pending += bytes;
    c->srv->stats.bytes_pending += bytes;
    c->srv->stats.bytes_queued += bytes;
}

static void item_release(rm_ws_conn *c, rm_ws_item *it)
{
    size_t n = item_bytes(it);
    c->pending -= n;
    c->srv->stats.bytes_pending -= n;
    if (it->chunk)
        free(it->chunk);
    else
        room_frame_unref(it->frame);
}

static int push(rm_ws_conn *c, room_frame *frame, rm_ws_chunk *chunk, size_t bytes)
{
    if (c->qlen == c->qcap) {
        uint32_t cap = c->qcap ? c->qcap * 2 : 4;
        rm_ws_item *q = realloc(c->q, cap * sizeof *q);
        if (!q)
            return ROOM_ENOMEM;
        c->q = q;
        c->qcap = cap;
    }
    c->q[c->qlen].frame = frame;
    c->q[c->qlen].chunk = chunk;
    c->qlen++;
    account(c, bytes);
    rm_ws_work(c);
    return 0;
}

int rm_ws_send(rm_ws_conn *c, room_frame *frame)
{
    room_ws_server *srv = c->srv;
    const room_frame *f;
    size_t bytes = 0, len;

    if (c->state != RM_WS_OPEN)
        return ROOM_ECLOSED;
    for (f = frame; f; f = room_frame_next(f)) {
        if (!room_frame_header_len(f)) {
            rm_ws_log(srv, ROOM_LOG_ERROR, "unsealed frame: configure the hub with room_ws_hub_config()");
            return ROOM_EINVAL;
        }
        room_frame_wire(f, &len);
        bytes += len;
    }
    /* A send may come with a new deadline (an ack); see srv_run(). */
    if (!srv->ticking)
        srv->tick_due = true;
    if (c->pending + bytes > srv->cfg.max_queued_bytes) {
        if (srv->cfg.slow_policy == ROOM_WS_SLOW_DROP) {
            srv->stats.frames_dropped++;
            return 0;
        }
        rm_ws_slow_close(c);
        return ROOM_ECLOSED;
    }
    if (push(c, room_frame_ref(frame), NULL, bytes) != 0) {
        room_frame_unref(frame);
        return ROOM_ENOMEM;
    }
    return 0;
}

int rm_ws_queue_bytes(rm_ws_conn *c, const void *bytes, size_t len)
{
    rm_ws_item *last = c->qlen ? &c->q[c->qlen - 1] : NULL;
    rm_ws_chunk *ch;

    /* wslay hands a control frame over in pieces: keep them in one chunk. */
    if (last && last->chunk) {
        ch = realloc(last->chunk, sizeof *ch + last->chunk->len + len);
        if (!ch)
            return ROOM_ENOMEM;
        memcpy(ch->bytes + ch->len, bytes, len);
        ch->len += len;
        last->chunk = ch;
        account(c, len);
        return 0;
    }
    ch = malloc(sizeof *ch + len);
    if (!ch)
        return ROOM_ENOMEM;
    ch->len = len;
    memcpy(ch->bytes, bytes, len);
    if (push(c, NULL, ch, len) != 0) {
        free(ch);
        return ROOM_ENOMEM;
    }
    return 0;
}

int rm_ws_queue_close(rm_ws_conn *c, int code, const char *reason)
{
    uint8_t frame[4 + 125];
    size_t n = reason ? strlen(reason) : 0, h;

    /* Only codes that peers accept on the wire (RFC 6455 7.4.1). */
    if (code < 1000 || code > 4999 || (code > 1003 && code < 1007) || (code > 1011 && code < 3000))
        code = ROOM_CLOSE_NORMAL;
    /* A control payload is at most 125 bytes; cut at a UTF-8 boundary. */
    if (n > 123) {
        n = 123;
        while (n && ((uint8_t)reason[n] & 0xc0) == 0x80)
            n--;
    }
    h = header(frame, WSLAY_CONNECTION_CLOSE, 2 + n);
    frame[h] = (uint8_t)(code >> 8);
    frame[h + 1] = (uint8_t)code;
    if (n)
        memcpy(frame + h + 2, reason, n);
    return rm_ws_queue_bytes(c, frame, h + 2 + n);
}

void rm_ws_slow_close(rm_ws_conn *c)
{
    c->srv->stats.slow_closes++;
    /* What has not reached the socket is moot now; the close frame goes
     * right after what has. */
    rm_ws_queue_release(c);
    rm_ws_close(c, ROOM_CLOSE_POLICY_VIOLATION, "slow consumer");
}

void rm_ws_queue_release(rm_ws_conn *c)
{
    uint32_t i;
    for (i = 0; i < c->qlen; i++)
        item_release(c, &c->q[i]);
    free(c->q);
    c->q = NULL;
    c->qlen = c->qcap = 0;
}

static void on_write(uv_write_t *req, int status)
{
    rm_ws_write *w = (rm_ws_write *)req;
    rm_ws_conn *c = (rm_ws_conn *)req->handle;
    uint32_t i;

    for (i = 0; i < w->n; i++)
        item_release(c, &w->items[i]);
    free(w->items);
    free(w);
    c->flags &= ~RM_WS_WRITING;
    if (c->state == RM_WS_CLOSED)
        return; /* cancelled by uv_close() */
    if (status < 0)
        rm_ws_abort(c, "transport error");
    else if (c->qlen || c->state == RM_WS_CLOSING)
        rm_ws_work(c);
}

/* The socket took `r` bytes of `bufs` (or failed with `r` < 0, UV_EAGAIN
 * meaning nothing was taken): release what left, and hand the rest to
 * libuv, which owns it until on_write(). */
static void flush_finish(rm_ws_conn *c, uv_buf_t *bufs, size_t nbufs, ssize_t r)
{
    size_t done, k = 0;
    rm_ws_write *w;
    uint32_t i;

    if (r < 0 && r != UV_EAGAIN) {
        rm_ws_abort(c, "transport error");
        return;
    }
    done = r > 0 ? (size_t)r : 0;
    for (i = 0; i < c->qlen && done >= item_bytes(&c->q[i]); i++) {
        done -= item_bytes(&c->q[i]);
        k += item_bufs(&c->q[i], NULL);
        item_release(c, &c->q[i]);
    }
    c->qlen -= i;
    if (!c->qlen) {
        /* Idle connections keep no queue: that is most of them. */
        free(c->q);
        c->q = NULL;
        c->qcap = 0;
        return;
    }
    memmove(c->q, c->q + i, c->qlen * sizeof *c->q);
    while (done >= bufs[k].len)
        done -= bufs[k++].len;
    bufs[k].base += done;
    bufs[k].len -= done;

    if (!(w = malloc(sizeof *w))) {
        rm_ws_abort(c, "out of memory");
        return;
    }
    w->items = c->q;
    w->n = c->qlen;
    c->q = NULL;
    c->qlen = c->qcap = 0;
    c->srv->stats.writes++;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs + k, (unsigned)(nbufs - k), on_write) < 0) {
        for (i = 0; i < w->n; i++)
            item_release(c, &w->items[i]);
        free(w->items);
        free(w);
        rm_ws_abort(c, "transport error");
        return;
    }
    c->flags |= RM_WS_WRITING;
}

static size_t queued_bufs(const rm_ws_conn *c)
{
    size_t n = 0;
    uint32_t i;
    for (i = 0; i < c->qlen; i++)
        n += item_bufs(&c->q[i], NULL);
    return n;
}

static void fill_bufs(const rm_ws_conn *c, uv_buf_t *bufs)
{
    size_t k = 0;
    uint32_t i;
    for (i = 0; i < c->qlen; i++)
        k += item_bufs(&c->q[i], bufs + k);
}

void rm_ws_flush(rm_ws_conn *c)
{
    uv_buf_t stack[FLUSH_IOV], *bufs = stack;
    size_t nbufs;

    if (!c->qlen || (c->flags & RM_WS_WRITING))
        return;
    nbufs = queued_bufs(c);
    if (nbufs > FLUSH_IOV && !(bufs = malloc(nbufs * sizeof *bufs))) {
        rm_ws_abort(c, "out of memory");
        return;
    }
    fill_bufs(c, bufs);
    /* Most flushes fit in the socket buffer: then no request is needed. */
    c->srv->stats.writes++;
    flush_finish(c, bufs, nbufs, uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)nbufs));
    if (bufs != stack)
        free(bufs);
}

/* ---- shared flushes ------------------------------------------------------------ */

/* Below this many connections, waking the helpers costs more than it saves. */
#define SHARED_FLUSH_MIN 64
/* Buffers per sendmsg(): Linux's IOV_MAX; the rest goes as a partial write. */
#define SHARED_IOV_MAX 1024

/* Takes jobs until none is left. Runs on the loop thread and on helpers:
 * it only reads the prepared buffers (immutable frame bytes) and writes its
 * job's result, so it touches no libroom state. */
void rm_ws_run_jobs(room_ws_server *srv)
{
    size_t i;
    while ((i = atomic_fetch_add_explicit(&srv->next_job, 1, memory_order_relaxed)) < srv->njobs) {
        rm_ws_job *j = &srv->jobs[i];
        /* uv_buf_t is laid out as struct iovec on Unix (libuv's promise). */
        struct msghdr m = {.msg_iov = (struct iovec *)(srv->iov + j->first),
                           .msg_iovlen = j->n < SHARED_IOV_MAX ? j->n : SHARED_IOV_MAX};
        ssize_t r;
        do
            r = sendmsg(j->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (r < 0 && errno == EINTR);
        j->result = r >= 0 ? r : (errno == EAGAIN || errno == EWOULDBLOCK) ? UV_EAGAIN : -errno;
    }
}

static bool shareable(const rm_ws_conn *c)
{
    return c->state == RM_WS_OPEN && c->qlen && !(c->flags & RM_WS_WRITING);
}

/* Writes every connection of the work list that has output, the loop
 * thread and the helpers sharing the system calls; what is left to do
 * (partial writes, closes) the normal flush then does on the loop thread.
 * Returns false (and writes nothing) when the list is too short to share
 * or memory for the jobs is short. */
bool rm_ws_flush_shared(room_ws_server *srv, rm_ws_conn *list)
{
    size_t njobs = 0, nbufs = 0, i;
    rm_ws_conn *c;

    if (!srv->nthreads)
        return false;
    for (c = list; c; c = c->work_next) {
        if (shareable(c)) {
            njobs++;
            nbufs += queued_bufs(c);
        }
    }
    if (njobs < SHARED_FLUSH_MIN)
        return false;
    if (njobs > srv->capjobs) {
        rm_ws_job *p = realloc(srv->jobs, njobs * sizeof *p);
        if (!p)
            return false;
        srv->jobs = p;
        srv->capjobs = njobs;
    }
    if (nbufs > srv->capiov) {
        uv_buf_t *p = realloc(srv->iov, nbufs * sizeof *p);
        if (!p)
            return false;
        srv->iov = p;
        srv->capiov = nbufs;
    }
    srv->njobs = 0;
    nbufs = 0;
    for (c = list; c; c = c->work_next) {
        uv_os_fd_t fd;
        if (!shareable(c) || uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
            continue;
        srv->jobs[srv->njobs++] = (rm_ws_job){c, fd, nbufs, queued_bufs(c), 0};
        fill_bufs(c, srv->iov + nbufs);
        nbufs += srv->jobs[srv->njobs - 1].n;
    }
    /* The semaphores order the jobs before the helpers and the results
     * before us. */
    atomic_store_explicit(&srv->next_job, 0, memory_order_relaxed);
    for (i = 0; i < srv->nthreads; i++)
        uv_sem_post(&srv->go);
    rm_ws_run_jobs(srv);
    for (i = 0; i < srv->nthreads; i++)
        uv_sem_wait(&srv->finished);
    srv->stats.shared_flushes++;
    for (i = 0; i < srv->njobs; i++) {
        rm_ws_job *j = &srv->jobs[i];
        srv->stats.writes++;
        flush_finish(j->c, srv->iov + j->first, j->n, j->result);
    }
    return true;
}
