/* A connection's socket: watched in the server's epoll instance, read into
 * the server's one buffer, written with sendmsg() of the engine's iovecs,
 * shut down and closed. Level-triggered, like libuv's own polls. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "uv_internal.h"

static uint32_t watched(unsigned state)
{
    return (state & RM_UV_EOF ? 0 : EPOLLIN) | (state & RM_UV_WRITABLE ? EPOLLOUT : 0);
}

/* Changes what the socket is watched for. A socket watched for nothing
 * leaves the set: EPOLLHUP would be reported on every iteration. */
static int set_state(room_uv_server *srv, room_ws_conn *wc, unsigned state)
{
    int fd = rm_uv_fd(wc), op;
    struct epoll_event ev = {.events = watched(state), .data.ptr = wc};
    uint32_t was = watched(srv->fdstate[fd]);

    if (srv->fdstate[fd] == state)
        return 0;
    srv->fdstate[fd] = (uint8_t)state;
    op = !ev.events ? EPOLL_CTL_DEL : was ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    return epoll_ctl(srv->epfd, op, fd, &ev);
}

static void conn_close(room_uv_server *srv, room_ws_conn *wc)
{
    int fd = rm_uv_fd(wc);
    room_ws_conn_free(wc);
    /* Its only descriptor: closing it takes it out of the epoll set. */
    close(fd);
    if (--srv->nconns == 0) {
        uv_unref((uv_handle_t *)&srv->conns);
        rm_uv_settle(srv);
    }
}

/* fdstate covers every descriptor up to `fd`. */
static int reserve(room_uv_server *srv, int fd)
{
    size_t cap = srv->capfd ? srv->capfd : 1024;
    uint8_t *p;
    if ((size_t)fd < srv->capfd)
        return 0;
    while (cap <= (size_t)fd)
        cap *= 2;
    if (!(p = realloc(srv->fdstate, cap)))
        return ROOM_ENOMEM;
    srv->fdstate = p;
    srv->capfd = cap;
    return 0;
}

int rm_uv_conn_open(room_uv_server *srv, int fd, const struct sockaddr *peer, size_t peer_len)
{
    struct epoll_event ev = {.events = EPOLLIN};
    room_ws_conn *wc;
    int on = 1;

    /* The engine keeps the descriptor as the host pointer. */
    if (reserve(srv, fd) != 0 || room_ws_conn_new(srv->ws, (void *)(intptr_t)fd, uv_now(srv->loop), &wc) != 0)
        return ROOM_ENOMEM;
    /* For the connect handlers' handshake; a Unix socket has none. */
    room_ws_conn_set_peer(wc, peer, peer_len);
    ev.data.ptr = wc;
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        room_ws_conn_free(wc);
        return ROOM_ENOMEM;
    }
    srv->fdstate[fd] = 0;
    if (srv->nconns++ == 0)
        uv_ref((uv_handle_t *)&srv->conns);
    /* Writes are already coalesced per loop iteration. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    /* A peer that vanished without a FIN (power, NAT timeout) is found by
     * the kernel even on a connection nothing is written to. */
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    return 0;
}

/* One sendmsg of what is queued. False when the connection must wait for
 * the socket (or has failed). */
static bool write_some(room_uv_server *srv, room_ws_conn *wc)
{
    struct iovec iov[RM_UV_IOV];
    struct msghdr m = {.msg_iov = iov};
    size_t n = room_ws_conn_output(wc, iov, RM_UV_IOV), total = 0, i;
    ssize_t r;

    m.msg_iovlen = n;
    for (i = 0; i < n; i++)
        total += iov[i].iov_len;
    srv->stats.writes++;
    do
        r = sendmsg(rm_uv_fd(wc), &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        room_ws_conn_error(wc);
        return true;
    }
    if (r > 0)
        room_ws_conn_written(wc, (size_t)r);
    return r >= 0 && (size_t)r == total;
}

void rm_uv_serve(room_uv_server *srv, room_ws_conn *wc)
{
    unsigned wants, eof;
    for (;;) {
        wants = room_ws_conn_wants(wc);
        eof = srv->fdstate[rm_uv_fd(wc)] & RM_UV_EOF;
        if (wants & ROOM_WS_WANT_CLOSE) {
            conn_close(srv, wc);
            return;
        }
        if (wants & ROOM_WS_WANT_WRITE) {
            if (write_some(srv, wc))
                continue;
            if (set_state(srv, wc, eof | RM_UV_WRITABLE) == 0)
                return;
        } else if (set_state(srv, wc, eof) == 0) {
            if (!(wants & ROOM_WS_WANT_SHUTDOWN))
                return;
            shutdown(rm_uv_fd(wc), SHUT_WR);
            continue;
        }
        /* epoll_ctl() failed (no memory): the socket cannot be watched. */
        room_ws_conn_error(wc);
    }
}

static void on_io(room_uv_server *srv, room_ws_conn *wc, uint32_t events)
{
    int fd = rm_uv_fd(wc);
    unsigned state = srv->fdstate[fd];
    ssize_t n;

    /* Errors and hangups show as what is watched: the read or write says
     * which. */
    if (events & (EPOLLERR | EPOLLHUP))
        events |= watched(state);
    if (events & EPOLLIN) {
        do
            n = read(fd, srv->rbuf, sizeof srv->rbuf);
        while (n < 0 && errno == EINTR);
        if (n > 0) {
            room_ws_conn_input(wc, srv->rbuf, (size_t)n, uv_now(srv->loop));
        } else if (n == 0) {
            /* Level-triggered: EOF would be reported on every iteration. */
            if (set_state(srv, wc, state | RM_UV_EOF) != 0)
                room_ws_conn_error(wc);
            room_ws_conn_eof(wc);
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            room_ws_conn_error(wc);
        }
    }
    /* What reading changed (and writes) are served in the check phase;
     * a socket that became writable is served now. */
    if (events & EPOLLOUT)
        rm_uv_serve(srv, wc);
}

void rm_uv_on_conns(uv_poll_t *h, int status, int events)
{
    room_uv_server *srv = h->data;
    int n, i, rounds = 0;

    (void)events;
    if (status < 0) {
        room_ws_logf(srv->ws, ROOM_LOG_ERROR, "epoll: %s", uv_strerror(status));
        return;
    }
    /* Only the connection of an event is ever closed while handling it,
     * so the rest of the batch stays valid. A full batch means more are
     * ready: take them too before the writes of the check phase, as libuv
     * does, so that each socket's frames leave in fewer, fuller writes. */
    do {
        do
            n = epoll_wait(srv->epfd, srv->events, RM_UV_EVENTS, 0);
        while (n < 0 && errno == EINTR);
        for (i = 0; i < n; i++)
            on_io(srv, srv->events[i].data.ptr, srv->events[i].events);
    } while (n == RM_UV_EVENTS && ++rounds < RM_UV_ROUNDS);
}
