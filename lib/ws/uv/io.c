/* A connection's socket: reads into the server's one buffer, writes the
 * engine's iovecs with sendmsg(), shutdown and close. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "uv_internal.h"

static int conn_fd(const rm_uv_conn *c)
{
    uv_os_fd_t fd;
    return uv_fileno((const uv_handle_t *)&c->poll, &fd) == 0 ? fd : -1;
}

static void on_io(uv_poll_t *h, int status, int events);

static void on_closed(uv_handle_t *h)
{
    rm_uv_conn *c = (rm_uv_conn *)h;
    room_uv_server *srv = c->srv;
    free(c);
    srv->nconns--;
    rm_uv_settle(srv);
}

static void set_events(rm_uv_conn *c, bool writable, bool eof)
{
    int events = (eof ? 0 : UV_READABLE) | (writable ? UV_WRITABLE : 0);
    if (c->writable == writable && c->eof == eof)
        return;
    c->writable = writable;
    c->eof = eof;
    if (events)
        uv_poll_start(&c->poll, events, on_io);
    else
        uv_poll_stop(&c->poll);
}

static void conn_close(rm_uv_conn *c)
{
    int fd = conn_fd(c);
    room_ws_conn_free(c->poll.data);
    c->poll.data = NULL;
    uv_close((uv_handle_t *)&c->poll, on_closed);
    /* uv_poll_t does not own its descriptor. */
    close(fd);
}

int rm_uv_conn_open(room_uv_server *srv, int fd)
{
    rm_uv_conn *c = malloc(sizeof *c);
    room_ws_conn *wc;
    int on = 1;

    if (!c)
        return ROOM_ENOMEM;
    if (room_ws_conn_new(srv->ws, c, uv_now(srv->loop), &wc) != 0) {
        free(c);
        return ROOM_ENOMEM;
    }
    if (uv_poll_init(srv->loop, &c->poll, fd) != 0) {
        room_ws_conn_free(wc);
        free(c);
        return ROOM_ENOMEM;
    }
    c->poll.data = wc;
    c->srv = srv;
    c->writable = c->eof = false;
    srv->nconns++;
    /* Writes are already coalesced per loop iteration. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    uv_poll_start(&c->poll, UV_READABLE, on_io);
    return 0;
}

/* One sendmsg of what is queued. False when the connection must wait for
 * the socket (or has failed). */
static bool write_some(room_uv_server *srv, rm_uv_conn *c)
{
    struct iovec iov[RM_UV_IOV];
    struct msghdr m = {.msg_iov = iov};
    size_t n = room_ws_conn_output(c->poll.data, iov, RM_UV_IOV), total = 0, i;
    ssize_t r;

    m.msg_iovlen = n;
    for (i = 0; i < n; i++)
        total += iov[i].iov_len;
    srv->stats.writes++;
    do
        r = sendmsg(conn_fd(c), &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        room_ws_conn_error(c->poll.data);
        return true;
    }
    if (r > 0)
        room_ws_conn_written(c->poll.data, (size_t)r);
    return r >= 0 && (size_t)r == total;
}

void rm_uv_serve(room_uv_server *srv, rm_uv_conn *c)
{
    unsigned wants;
    for (;;) {
        wants = room_ws_conn_wants(c->poll.data);
        if (wants & ROOM_WS_WANT_CLOSE) {
            conn_close(c);
            return;
        }
        if (wants & ROOM_WS_WANT_WRITE) {
            if (write_some(srv, c))
                continue;
            set_events(c, true, c->eof);
            return;
        }
        set_events(c, false, c->eof);
        if (!(wants & ROOM_WS_WANT_SHUTDOWN))
            return;
        shutdown(conn_fd(c), SHUT_WR);
    }
}

static void on_io(uv_poll_t *h, int status, int events)
{
    rm_uv_conn *c = (rm_uv_conn *)h;
    room_uv_server *srv = c->srv;
    ssize_t n;

    if (status < 0) {
        room_ws_conn_error(h->data);
    } else if (events & UV_READABLE) {
        do
            n = read(conn_fd(c), srv->rbuf, sizeof srv->rbuf);
        while (n < 0 && errno == EINTR);
        if (n > 0)
            room_ws_conn_input(h->data, srv->rbuf, (size_t)n, uv_now(srv->loop));
        else if (n == 0) {
            /* Level-triggered: EOF would be reported on every iteration. */
            set_events(c, c->writable, true);
            room_ws_conn_eof(h->data);
        }
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            room_ws_conn_error(h->data);
    }
    /* What reading changed (and writes) are served in the check phase;
     * a socket that became writable is served now. */
    if (events & UV_WRITABLE && status >= 0)
        rm_uv_serve(srv, c);
}
