/* The server: listener, connection lifecycle, the work list that runs
 * outside libroom's callbacks, timers, shutdown.
 *
 * Callbacks from the hub or eio (send, close) never call back into them:
 * they queue bytes, change state and put the connection on the work list.
 * The work list runs from the loop's prepare and check phases: sessions
 * whose connection is closing end there (room_eio_close(),
 * room_conn_close()), then every connection with output gets one writev. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "ws_internal.h"

#define OWN_HANDLES 5 /* listener, two timers, prepare, check */

void rm_ws_log(const room_ws_server *srv, int level, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    if (!srv->cfg.log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    srv->cfg.log(level, line, srv->cfg.user_data);
}

void room_ws_config_init(room_ws_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
    config->max_queued_bytes = 4u << 20;
    config->slow_policy = ROOM_WS_SLOW_CLOSE;
    config->max_payload = 1000000;
    config->handshake_timeout_ms = 10000;
    config->close_timeout_ms = 5000;
    config->backlog = 511;
}

/* ---- timers -------------------------------------------------------------- */

static void tick(room_ws_server *srv);

static void on_tick(uv_timer_t *t)
{
    tick(t->data);
}

/* Runs the hubs' clocks; re-arms the timer for the nearest deadline. */
static void tick(room_ws_server *srv)
{
    uint64_t now = uv_now(srv->loop);
    int64_t next = -1, t;
    const rm_ws_mount *m;

    srv->tick_due = false;
    srv->ticking = true;
    for (m = srv->mounts; m; m = m->next) {
        t = m->eio ? room_eio_tick(m->eio, now) : room_hub_tick(m->hub, now);
        if (t >= 0 && (next < 0 || t < next))
            next = t;
    }
    srv->ticking = false;
    if (next >= 0)
        uv_timer_start(&srv->tick_timer, on_tick, (uint64_t)next, 0);
    else
        uv_timer_stop(&srv->tick_timer);
}

static void on_reap(uv_timer_t *t);

/* Handshake and closing connections are in deadline order (one timeout
 * each), so the timer only needs the two heads. */
static void reap_arm(room_ws_server *srv)
{
    const rm_ws_conn *h = srv->lists[RM_WS_HANDSHAKE].head, *c = srv->lists[RM_WS_CLOSING].head;
    uint64_t due, now = uv_now(srv->loop);
    if (!h && !c) {
        uv_timer_stop(&srv->reap_timer);
        return;
    }
    due = h ? h->deadline : c->deadline;
    if (c && c->deadline < due)
        due = c->deadline;
    uv_timer_start(&srv->reap_timer, on_reap, due > now ? due - now : 0, 0);
}

/* ---- connection lifecycle ------------------------------------------------ */

static void conn_move(rm_ws_conn *c, int state)
{
    room_ws_server *srv = c->srv;
    rm_ws_list *l = &srv->lists[c->state];

    if (c->state != RM_WS_CLOSED) {
        *(c->prev ? &c->prev->next : &l->head) = c->next;
        *(c->next ? &c->next->prev : &l->tail) = c->prev;
    }
    if (c->state == RM_WS_OPEN)
        srv->stats.connections--;
    c->state = (uint8_t)state;
    if (state == RM_WS_CLOSED)
        return;
    if (state == RM_WS_OPEN)
        srv->stats.connections++;
    l = &srv->lists[state];
    c->next = NULL;
    c->prev = l->tail;
    *(l->tail ? &l->tail->next : &l->head) = c;
    l->tail = c;
    if (state != RM_WS_OPEN) {
        c->deadline = uv_now(srv->loop) +
                      (state == RM_WS_HANDSHAKE ? srv->cfg.handshake_timeout_ms : srv->cfg.close_timeout_ms);
        reap_arm(srv);
    }
}

void rm_ws_work(rm_ws_conn *c)
{
    room_ws_server *srv = c->srv;
    if (c->flags & RM_WS_WORK)
        return;
    c->flags |= RM_WS_WORK;
    c->work_next = NULL;
    *(srv->work_tail ? &srv->work_tail->work_next : &srv->work) = c;
    srv->work_tail = c;
}

static void set_reason(rm_ws_conn *c, const char *why)
{
    free(c->reason);
    c->reason = why ? strdup(why) : NULL;
}

void rm_ws_closing(rm_ws_conn *c, const char *why)
{
    if (c->state != RM_WS_OPEN)
        return;
    set_reason(c, why);
    conn_move(c, RM_WS_CLOSING);
    rm_ws_work(c);
}

void rm_ws_close(rm_ws_conn *c, int code, const char *reason)
{
    if (c->state != RM_WS_OPEN)
        return;
    if (rm_ws_queue_close(c, code, reason) != 0) {
        rm_ws_abort(c, reason);
        return;
    }
    rm_ws_closing(c, reason);
}

void rm_ws_abort(rm_ws_conn *c, const char *why)
{
    if (c->state == RM_WS_CLOSED)
        return;
    if (c->state != RM_WS_CLOSING) {
        set_reason(c, why);
        conn_move(c, RM_WS_CLOSING);
    }
    c->flags |= RM_WS_ABORT;
    uv_read_stop((uv_stream_t *)&c->tcp);
    rm_ws_work(c);
}

/* Never from inside a libroom callback: the disconnect handlers run here. */
static void core_close(rm_ws_conn *c)
{
    c->flags &= ~RM_WS_CORE;
    if (c->mount->eio)
        room_eio_close(c->mount->eio, c->core.session, c->reason);
    else
        room_conn_close(c->mount->hub, c->core.conn, c->reason);
}

static void settle(room_ws_server *srv);

static void on_conn_closed(uv_handle_t *h)
{
    rm_ws_conn *c = (rm_ws_conn *)h;
    room_ws_server *srv = c->srv;
    free(c->reason);
    free(c);
    srv->nconns--;
    settle(srv);
}

static void conn_destroy(rm_ws_conn *c)
{
    room_ws_server *srv = c->srv;
    rm_ws_conn *prev = NULL, *it;

    if (c->flags & RM_WS_CORE)
        core_close(c);
    if (c->flags & RM_WS_WORK) {
        for (it = srv->work; it != c; it = it->work_next)
            prev = it;
        *(prev ? &prev->work_next : &srv->work) = c->work_next;
        if (srv->work_tail == c)
            srv->work_tail = prev;
        c->flags &= ~RM_WS_WORK;
    }
    conn_move(c, RM_WS_CLOSED);
    rm_ws_queue_release(c);
    rm_ws_parser_drop(c);
    free(c->request);
    c->request = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    rm_ws_conn *c = (rm_ws_conn *)req->handle;
    free(req);
    /* Otherwise wait for the peer to hang up (or the close deadline). */
    if (c->state != RM_WS_CLOSED && (status < 0 || (c->flags & RM_WS_EOF)))
        conn_destroy(c);
}

/* Everything is written: send FIN. */
static void conn_shutdown(rm_ws_conn *c)
{
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        conn_destroy(c);
        return;
    }
    c->flags |= RM_WS_SHUT;
}

static void conn_progress(rm_ws_conn *c)
{
    if (c->state == RM_WS_OPEN)
        rm_ws_flush(c);
    if (c->state != RM_WS_CLOSING)
        return;
    if (c->flags & RM_WS_CORE)
        core_close(c);
    rm_ws_parser_drop(c);
    if (!(c->flags & RM_WS_ABORT))
        rm_ws_flush(c);
    if (c->flags & RM_WS_ABORT)
        conn_destroy(c);
    else if (!(c->flags & (RM_WS_WRITING | RM_WS_SHUT)) && !c->qlen)
        (c->flags & RM_WS_EOF) ? conn_destroy(c) : conn_shutdown(c);
}

/* The work list, from the prepare and check phases. */
static void srv_run(room_ws_server *srv)
{
    rm_ws_conn *c, *next;
    while (srv->work || srv->tick_due) {
        if (srv->tick_due)
            tick(srv);
        /* Sessions end first: their disconnect handlers may queue frames
         * for others, which then leave in the same write. */
        for (c = srv->work; c; c = c->work_next) {
            if ((c->flags & RM_WS_CORE) && c->state == RM_WS_CLOSING)
                core_close(c);
        }
        c = srv->work;
        srv->work = srv->work_tail = NULL;
        rm_ws_flush_shared(srv, c);
        for (; c; c = next) {
            next = c->work_next;
            c->flags &= ~RM_WS_WORK;
            conn_progress(c);
        }
    }
}

static void on_prepare(uv_prepare_t *h)
{
    srv_run(h->data);
}

static void on_check(uv_check_t *h)
{
    srv_run(h->data);
}

static void on_reap(uv_timer_t *t)
{
    room_ws_server *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    rm_ws_conn *c;
    while ((c = srv->lists[RM_WS_HANDSHAKE].head) && c->deadline <= now)
        conn_destroy(c);
    while ((c = srv->lists[RM_WS_CLOSING].head) && c->deadline <= now)
        conn_destroy(c);
    reap_arm(srv);
}

/* ---- the opening handshake ------------------------------------------------ */

static void conn_upgrade(rm_ws_conn *c, const rm_ws_mount *m, const char *accept, json_t *query)
{
    json_t *refusal = NULL;
    int rc;

    c->mount = m;
    conn_move(c, RM_WS_OPEN);
    if (rm_ws_respond_101(c, accept) != 0) {
        rm_ws_abort(c, NULL);
        return;
    }
    /* The open packet and whatever the connect handler sends follow the
     * 101 in the queue. */
    if (m->eio)
        rc = room_eio_open_query(m->eio, c, query, uv_now(c->srv->loop), &c->core.session);
    else
        rc = room_conn_open_handshake(m->hub, c, NULL, query, &c->core.conn, &refusal);
    if (rc == 0) {
        c->flags |= RM_WS_CORE;
    } else if (rc == ROOM_EDENIED) {
        const char *msg = json_string_value(json_object_get(refusal, "msg"));
        rm_ws_close(c, 1008, msg ? msg : "connection refused");
    } else {
        rm_ws_close(c, 1011, room_strerror(rc));
    }
    json_decref(refusal);
}

static void conn_request(rm_ws_conn *c, const uint8_t *p, size_t n)
{
    const rm_ws_mount *m = NULL;
    char accept[RM_WS_ACCEPT_LEN + 1];
    json_t *query = NULL;
    const char *why;
    size_t end;

    /* Usually the whole head is in one read; otherwise collect it. */
    if (c->request) {
        uint8_t *b = realloc(c->request, c->request_len + n);
        if (!b) {
            conn_destroy(c);
            return;
        }
        memcpy(b + c->request_len, p, n);
        c->request = b;
        c->request_len += (uint32_t)n;
        p = b;
        n = c->request_len;
    }
    end = rm_ws_request_end(p, n);
    if (!end && n < RM_WS_MAX_REQUEST) {
        if (!c->request) {
            if (!(c->request = malloc(n))) {
                conn_destroy(c);
                return;
            }
            memcpy(c->request, p, n);
            c->request_len = (uint32_t)n;
        }
        return;
    }
    if (!end || end > RM_WS_MAX_REQUEST)
        why = "request too large\n";
    else
        why = rm_ws_handshake(c->srv, p, end, &m, accept, &query);
    if (!why) {
        conn_upgrade(c, m, accept, query);
        json_decref(query);
        /* A client may send frames right behind the request. */
        if (n > end)
            rm_ws_input(c, p + end, n - end);
    } else if (rm_ws_respond_400(c, why) == 0) {
        conn_move(c, RM_WS_CLOSING);
    } else {
        conn_destroy(c);
        return;
    }
    free(c->request);
    c->request = NULL;
    c->request_len = 0;
}

/* ---- sockets ----------------------------------------------------------------- */

/* Reads are handled before the next one: one buffer serves every
 * connection. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    room_ws_server *srv = ((rm_ws_conn *)h)->srv;
    (void)suggested;
    *buf = uv_buf_init((char *)srv->rbuf, sizeof srv->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    rm_ws_conn *c = (rm_ws_conn *)s;

    if (nread > 0) {
        if (c->state == RM_WS_HANDSHAKE)
            conn_request(c, (const uint8_t *)buf->base, (size_t)nread);
        else if (c->state == RM_WS_OPEN)
            rm_ws_input(c, (const uint8_t *)buf->base, (size_t)nread);
        return; /* closing: what the peer still sends is moot */
    }
    if (nread == 0)
        return;
    if (c->state == RM_WS_OPEN) {
        rm_ws_abort(c, nread == UV_EOF ? "transport close" : "transport error");
    } else if (c->state == RM_WS_CLOSING && nread == UV_EOF && ((c->flags & RM_WS_WRITING) || c->qlen)) {
        /* Finish writing (the peer may still read), then hang up. */
        c->flags |= RM_WS_EOF;
        uv_read_stop(s);
    } else {
        conn_destroy(c);
    }
}

static void refuse_pending(room_ws_server *srv);

static void on_refused_closed(uv_handle_t *h)
{
    room_ws_server *srv = h->data;
    srv->refusing = false;
    srv->nconns--;
    if (srv->refuse_again && !srv->stopping) {
        srv->refuse_again = false;
        refuse_pending(srv);
    }
    settle(srv);
}

/* Accepts the pending connection only to close it. One refusal is in
 * flight at a time (the handle is reused); a second waits for the first. */
static void refuse_pending(room_ws_server *srv)
{
    if (srv->refusing) {
        srv->refuse_again = true;
        return;
    }
    srv->refusing = true;
    srv->nconns++;
    srv->stats.refused++;
    uv_tcp_init(srv->loop, &srv->refused);
    srv->refused.data = srv;
    uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&srv->refused);
    uv_close((uv_handle_t *)&srv->refused, on_refused_closed);
}

static void on_connection(uv_stream_t *listener, int status)
{
    room_ws_server *srv = listener->data;
    rm_ws_conn *c;

    if (status < 0) {
        rm_ws_log(srv, ROOM_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    if (srv->cfg.max_connections && srv->nconns - srv->refusing >= srv->cfg.max_connections) {
        rm_ws_log(srv, ROOM_LOG_WARN, "accept: %zu connections, the limit; refusing one",
                  srv->nconns);
        refuse_pending(srv);
        return;
    }
    if (!(c = calloc(1, sizeof *c))) {
        rm_ws_log(srv, ROOM_LOG_ERROR, "accept: out of memory; refusing a connection");
        refuse_pending(srv);
        return;
    }
    c->srv = srv;
    c->state = RM_WS_CLOSED;
    uv_tcp_init(srv->loop, &c->tcp);
    srv->nconns++;
    conn_move(c, RM_WS_HANDSHAKE);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_destroy(c);
        return;
    }
    /* Writes are already coalesced per loop iteration. */
    uv_tcp_nodelay(&c->tcp, 1);
}

/* ---- hub and eio callbacks ---------------------------------------------------- */

static int eio_send(void *transport, room_frame *frame, void *user_data)
{
    (void)user_data;
    return rm_ws_send(transport, frame);
}

static void eio_close(void *transport, int code, const char *reason, void *user_data)
{
    (void)user_data;
    rm_ws_close(transport, code, reason);
}

void room_ws_eio_config(const room_ws_server *srv, room_eio_config *config)
{
    if (!srv || !config)
        return;
    config->send = eio_send;
    config->close = eio_close;
    config->seal = rm_ws_seal;
    config->seal_headroom = RM_WS_HEADROOM;
}

void room_ws_hub_config(const room_ws_server *srv, room_config *config)
{
    if (!srv || !config)
        return;
    config->send = eio_send;
    config->close = eio_close;
    config->seal = rm_ws_seal;
    config->seal_headroom = RM_WS_HEADROOM;
}

/* ---- server ------------------------------------------------------------------- */

static void helper_main(void *arg)
{
    room_ws_server *srv = arg;
    for (;;) {
        uv_sem_wait(&srv->go);
        if (srv->quit)
            return;
        rm_ws_run_jobs(srv);
        uv_sem_post(&srv->finished);
    }
}

static void helpers_stop(room_ws_server *srv)
{
    unsigned i;
    srv->quit = true;
    for (i = 0; i < srv->nthreads; i++)
        uv_sem_post(&srv->go);
    for (i = 0; i < srv->nthreads; i++)
        uv_thread_join(&srv->threads[i]);
    if (srv->threads) {
        uv_sem_destroy(&srv->go);
        uv_sem_destroy(&srv->finished);
    }
    free(srv->threads);
    srv->threads = NULL;
    srv->nthreads = 0;
}

static int helpers_start(room_ws_server *srv, unsigned n)
{
    if (!n)
        return 0;
    if (n > 64)
        return ROOM_EINVAL;
    if (!(srv->threads = calloc(n, sizeof *srv->threads)))
        return ROOM_ENOMEM;
    if (uv_sem_init(&srv->go, 0) != 0 || uv_sem_init(&srv->finished, 0) != 0) {
        free(srv->threads);
        srv->threads = NULL;
        return ROOM_ENOMEM;
    }
    while (srv->nthreads < n) {
        if (uv_thread_create(&srv->threads[srv->nthreads], helper_main, srv) != 0) {
            helpers_stop(srv);
            return ROOM_ENOMEM;
        }
        srv->nthreads++;
    }
    return 0;
}

int room_ws_server_new(room_ws_server **srv_out, uv_loop_t *loop, const room_ws_config *config)
{
    int rc;
    room_ws_config cfg;
    room_ws_server *srv;

    if (!srv_out)
        return ROOM_EINVAL;
    *srv_out = NULL;
    room_ws_config_init(&cfg);
    if (config) {
        if (config->size < sizeof *config)
            return ROOM_EINVAL;
        cfg = *config;
    }
    if (!loop || (cfg.slow_policy != ROOM_WS_SLOW_CLOSE && cfg.slow_policy != ROOM_WS_SLOW_DROP))
        return ROOM_EINVAL;
    if (!cfg.max_queued_bytes)
        cfg.max_queued_bytes = 4u << 20;
    if (!cfg.max_payload)
        cfg.max_payload = 1000000;
    if (!cfg.handshake_timeout_ms)
        cfg.handshake_timeout_ms = 10000;
    if (!cfg.close_timeout_ms)
        cfg.close_timeout_ms = 5000;
    if (cfg.backlog <= 0)
        cfg.backlog = 511;
    if (!(srv = calloc(1, sizeof *srv)))
        return ROOM_ENOMEM;
    srv->loop = loop;
    srv->cfg = cfg;
    if ((rc = helpers_start(srv, cfg.write_threads)) != 0) {
        free(srv);
        return rc;
    }
    *srv_out = srv;
    return 0;
}

void room_ws_server_free(room_ws_server *srv)
{
    rm_ws_mount *m;
    if (!srv)
        return;
    if (srv->listening) {
        /* Its handles are still in the loop: freeing would corrupt it. */
        rm_ws_log(srv, ROOM_LOG_ERROR, "room_ws_server_free() before shutdown completed");
        abort();
    }
    while ((m = srv->mounts) != NULL) {
        srv->mounts = m->next;
        free(m);
    }
    rm_ws_pool_free(srv);
    helpers_stop(srv);
    free(srv->jobs);
    free(srv->iov);
    free(srv);
}

static int mount(room_ws_server *srv, const char *path, room_eio *eio, room_hub *hub)
{
    rm_ws_mount **tail, *m;
    size_t len = strlen(path);

    for (tail = &srv->mounts; *tail; tail = &(*tail)->next) {
        if (strcmp((*tail)->path, path) == 0)
            return ROOM_EINVAL;
    }
    if (!(m = malloc(sizeof *m + len + 1)))
        return ROOM_ENOMEM;
    m->next = NULL;
    m->eio = eio;
    m->hub = hub;
    memcpy(m->path, path, len + 1);
    *tail = m;
    return 0;
}

int room_ws_mount_socketio(room_ws_server *srv, room_eio *eio)
{
    if (!srv || !eio)
        return ROOM_EINVAL;
    return mount(srv, "/socket.io/", eio, NULL);
}

int room_ws_mount_json(room_ws_server *srv, const char *path, room_hub *hub)
{
    if (!srv || !path || path[0] != '/' || !hub)
        return ROOM_EINVAL;
    return mount(srv, path, NULL, hub);
}

/* The server's handles exist from a successful listen until shutdown. */
static void handles_init(room_ws_server *srv)
{
    uv_tcp_init(srv->loop, &srv->listener);
    uv_timer_init(srv->loop, &srv->tick_timer);
    uv_timer_init(srv->loop, &srv->reap_timer);
    uv_prepare_init(srv->loop, &srv->prepare);
    uv_check_init(srv->loop, &srv->check);
    srv->listener.data = srv->tick_timer.data = srv->reap_timer.data = srv;
    srv->prepare.data = srv->check.data = srv;
    uv_prepare_start(&srv->prepare, on_prepare);
    uv_check_start(&srv->check, on_check);
    /* Only the listener and the connections keep the loop alive. */
    uv_unref((uv_handle_t *)&srv->tick_timer);
    uv_unref((uv_handle_t *)&srv->reap_timer);
    uv_unref((uv_handle_t *)&srv->prepare);
    uv_unref((uv_handle_t *)&srv->check);
    srv->handles = OWN_HANDLES;
    srv->listening = true;
}

int room_ws_listen(room_ws_server *srv, const char *host, int port)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    int fd, err, on = 1;

    if (!srv || srv->listening || srv->stopping || port < 0 || port > 65535)
        return ROOM_EINVAL;
    if (!host)
        host = "0.0.0.0";
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) == 0)
        salen = sizeof(struct sockaddr_in);
    else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) == 0)
        salen = sizeof(struct sockaddr_in6);
    else
        return ROOM_EINVAL;
    /* Bound and listening before any handle exists: a failure leaves
     * nothing open, and the server can be freed at once. */
    fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (srv->cfg.reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
        bind(fd, (struct sockaddr *)&sa, salen) != 0 || listen(fd, srv->cfg.backlog) != 0) {
        err = errno;
        if (fd >= 0)
            close(fd);
        rm_ws_log(srv, ROOM_LOG_ERROR, "listen on %s port %d: %s", host, port, strerror(err));
        return ROOM_ETRANSPORT;
    }
    handles_init(srv);
    /* Cannot fail on a fresh listening socket; if libuv ever refused it,
     * the handles exist and the server is shut down like a listening one. */
    if ((err = uv_tcp_open(&srv->listener, fd)) != 0) {
        close(fd);
    } else if ((err = uv_listen((uv_stream_t *)&srv->listener, srv->cfg.backlog, on_connection)) == 0) {
        return 0;
    }
    rm_ws_log(srv, ROOM_LOG_ERROR, "listen on %s port %d: %s", host, port, uv_strerror(err));
    return ROOM_ETRANSPORT;
}

int room_ws_port(const room_ws_server *srv)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    if (!srv || !srv->listening || srv->stopping ||
        uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&sa, &len) != 0)
        return 0;
    if (sa.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    return ntohs(((struct sockaddr_in *)&sa)->sin_port);
}

static void on_own_closed(uv_handle_t *h)
{
    room_ws_server *srv = h->data;
    srv->handles--;
    settle(srv);
}

/* Shutdown's progress: connections gone, then our own handles, then done. */
static void settle(room_ws_server *srv)
{
    if (!srv->stopping || srv->nconns)
        return;
    if (srv->handles == OWN_HANDLES - 1) { /* only the listener is closed */
        uv_close((uv_handle_t *)&srv->tick_timer, on_own_closed);
        uv_close((uv_handle_t *)&srv->reap_timer, on_own_closed);
        uv_close((uv_handle_t *)&srv->prepare, on_own_closed);
        uv_close((uv_handle_t *)&srv->check, on_own_closed);
    } else if (srv->handles == 0) {
        srv->listening = false;
        if (srv->done)
            srv->done(srv, srv->cfg.user_data);
    }
}

int room_ws_shutdown(room_ws_server *srv, room_ws_done_fn done)
{
    rm_ws_conn *c, *next;

    if (!srv || !srv->listening || srv->stopping)
        return ROOM_EINVAL;
    srv->stopping = true;
    srv->done = done;
    uv_close((uv_handle_t *)&srv->listener, on_own_closed);
    while ((c = srv->lists[RM_WS_HANDSHAKE].head) != NULL)
        conn_destroy(c);
    for (c = srv->lists[RM_WS_OPEN].head; c; c = next) {
        next = c->next;
        rm_ws_close(c, 1001, "server shutting down");
    }
    return 0;
}

void room_ws_stats_get(const room_ws_server *srv, room_ws_stats *stats)
{
    if (srv && stats)
        *stats = srv->stats;
}
