/* The server: listening socket, the loop phases that serve the engine, its
 * timer, shutdown. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "uv_internal.h"

#define OWN_HANDLES 5 /* listener, conns, timer, prepare, check */
#define DEFAULT_BACKLOG 511

static void on_timer(uv_timer_t *t);

/* Runs the engine, then does what its connections want, until neither has
 * more to do; arms the timer for the engine's next deadline. */
static void serve_all(room_uv_server *srv)
{
    room_ws_conn *wc;
    int64_t next;
    size_t n;

    for (;;) {
        next = room_ws_run(srv->ws, uv_now(srv->loop));
        if (!srv->helpers.nthreads && !srv->cfg.write_threads) {
            if (!(wc = room_ws_ready(srv->ws)))
                break;
            do
                rm_uv_serve(srv, wc);
            while ((wc = room_ws_ready(srv->ws)) != NULL);
            continue;
        }
        for (n = 0; (wc = room_ws_ready(srv->ws)) != NULL; n++) {
            if (n == srv->capbatch) {
                size_t cap = n ? 2 * n : 256;
                room_ws_conn **b = realloc(srv->batch, cap * sizeof *b);
                if (!b) {
                    rm_uv_serve(srv, wc);
                    break;
                }
                srv->batch = b;
                srv->capbatch = cap;
            }
            srv->batch[n] = wc;
        }
        if (!n)
            break;
        if (!rm_uv_flush_shared(srv, srv->batch, n)) {
            while (n)
                rm_uv_serve(srv, srv->batch[--n]);
        }
    }
    /* Shutting down, the last connection gone: our handles are closing. */
    if (srv->stopping && !srv->nconns)
        return;
    if (next >= 0)
        uv_timer_start(&srv->timer, on_timer, (uint64_t)next, 0);
    else
        uv_timer_stop(&srv->timer);
}

static void on_timer(uv_timer_t *t)
{
    serve_all(t->data);
}

static void on_prepare(uv_prepare_t *h)
{
    serve_all(h->data);
}

static void on_check(uv_check_t *h)
{
    serve_all(h->data);
}

int room_uv_server_new(room_uv_server **srv_out, uv_loop_t *loop, room_ws *ws, const room_uv_config *config)
{
    room_uv_config cfg;
    room_uv_server *srv;

    if (!srv_out)
        return ROOM_EINVAL;
    *srv_out = NULL;
    room_uv_config_init(&cfg);
    if (config && room_config_copy(&cfg, sizeof cfg, config, ROOM_UV_CONFIG_MIN_SIZE) != 0)
        return ROOM_EINVAL;
    if (!loop || !ws || cfg.write_threads > 64)
        return ROOM_EINVAL;
    if (cfg.backlog <= 0)
        cfg.backlog = DEFAULT_BACKLOG;
    if (!(srv = calloc(1, sizeof *srv)))
        return ROOM_ENOMEM;
    srv->loop = loop;
    srv->ws = ws;
    srv->cfg = cfg;
    *srv_out = srv;
    return 0;
}

void room_uv_server_free(room_uv_server *srv)
{
    if (!srv)
        return;
    if (srv->listening) {
        /* Its handles are still in the loop: freeing would corrupt it. */
        room_ws_logf(srv->ws, ROOM_LOG_ERROR, "room_uv_server_free() before shutdown completed");
        abort();
    }
    rm_uv_threads_stop(&srv->helpers);
    free(srv->batch);
    free(srv->fdstate);
    free(srv);
}

/* The connections' epoll instance and the handle that watches it. */
static int conns_init(room_uv_server *srv)
{
    int err, epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return uv_translate_sys_error(errno);
    if ((err = uv_poll_init(srv->loop, &srv->conns, epfd)) != 0) {
        close(epfd);
        return err;
    }
    srv->epfd = epfd;
    srv->conns.data = srv;
    /* Referenced only while there are connections (io.c). */
    uv_unref((uv_handle_t *)&srv->conns);
    return uv_poll_start(&srv->conns, UV_READABLE, rm_uv_on_conns);
}

/* The server's handles exist from a successful listen until shutdown. */
static int handles_init(room_uv_server *srv, int fd)
{
    int err = uv_poll_init(srv->loop, &srv->listener, fd), conns_err;
    if (err)
        return err;
    srv->epfd = -1;
    conns_err = conns_init(srv);
    uv_timer_init(srv->loop, &srv->timer);
    uv_prepare_init(srv->loop, &srv->prepare);
    uv_check_init(srv->loop, &srv->check);
    srv->listener.data = srv->timer.data = srv->prepare.data = srv->check.data = srv;
    uv_prepare_start(&srv->prepare, on_prepare);
    uv_check_start(&srv->check, on_check);
    /* Only the listener and the connections keep the loop alive. */
    uv_unref((uv_handle_t *)&srv->timer);
    uv_unref((uv_handle_t *)&srv->prepare);
    uv_unref((uv_handle_t *)&srv->check);
    /* Without its epoll instance (no memory), the server has the other
     * handles and never accepts. */
    srv->handles = OWN_HANDLES - (srv->epfd < 0);
    srv->listening = true;
    return conns_err ? conns_err : uv_poll_start(&srv->listener, UV_READABLE, rm_uv_on_listener);
}

int room_uv_listen(room_uv_server *srv, const char *host, int port)
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
    fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (srv->cfg.reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
        bind(fd, (struct sockaddr *)&sa, salen) != 0 || listen(fd, srv->cfg.backlog) != 0) {
        err = errno;
        if (fd >= 0)
            close(fd);
        room_ws_logf(srv->ws, ROOM_LOG_ERROR, "listen on %s port %d: %s", host, port, strerror(err));
        return ROOM_ETRANSPORT;
    }
    if ((err = handles_init(srv, fd)) == 0)
        return 0;
    /* Cannot fail on a fresh listening socket but for memory; if libuv
     * ever refused it, the server is shut down like a listening one. */
    room_ws_logf(srv->ws, ROOM_LOG_ERROR, "listen on %s port %d: %s", host, port, uv_strerror(err));
    if (!srv->listening)
        close(fd);
    return ROOM_ETRANSPORT;
}

int room_uv_port(const room_uv_server *srv)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    uv_os_fd_t fd;
    if (!srv || !srv->listening || srv->stopping || uv_fileno((const uv_handle_t *)&srv->listener, &fd) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return 0;
    if (sa.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    return ntohs(((struct sockaddr_in *)&sa)->sin_port);
}

static void on_listener_closed(uv_handle_t *h)
{
    room_uv_server *srv = h->data;
    uv_os_fd_t fd;
    /* uv_poll_t does not own its descriptor. */
    if (uv_fileno(h, &fd) == 0)
        close(fd);
    srv->handles--;
    rm_uv_settle(srv);
}

static void on_conns_closed(uv_handle_t *h)
{
    room_uv_server *srv = h->data;
    close(srv->epfd);
    srv->handles--;
    rm_uv_settle(srv);
}

static void on_own_closed(uv_handle_t *h)
{
    room_uv_server *srv = h->data;
    srv->handles--;
    rm_uv_settle(srv);
}

void rm_uv_settle(room_uv_server *srv)
{
    if (!srv->stopping || srv->nconns)
        return;
    if (srv->handles == OWN_HANDLES - 1 - (srv->epfd < 0)) { /* only the listener is closed */
        if (srv->epfd >= 0)
            uv_close((uv_handle_t *)&srv->conns, on_conns_closed);
        uv_close((uv_handle_t *)&srv->timer, on_own_closed);
        uv_close((uv_handle_t *)&srv->prepare, on_own_closed);
        uv_close((uv_handle_t *)&srv->check, on_own_closed);
    } else if (srv->handles == 0) {
        srv->listening = false;
        if (srv->done)
            srv->done(srv, srv->cfg.user_data);
    }
}

int room_uv_shutdown(room_uv_server *srv, room_uv_done_fn done)
{
    if (!srv || !srv->listening || srv->stopping)
        return ROOM_EINVAL;
    srv->stopping = true;
    srv->done = done;
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
    room_ws_close_all(srv->ws, ROOM_CLOSE_GOING_AWAY, "server shutting down");
    return 0;
}

void room_uv_stats_copy(const room_uv_server *srv, room_uv_stats *stats, size_t size)
{
    if (!srv || !stats)
        return;
    memset(stats, 0, size);
    memcpy(stats, &srv->stats, size < sizeof srv->stats ? size : sizeof srv->stats);
}
