/* The listener: accepts with accept4() itself, so that a connection it
 * cannot serve (max_connections, no memory) is simply closed and never
 * stalls the ones behind it. */
#define _GNU_SOURCE /* accept4() */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include "uv_internal.h"

/* Polling sessions count against max_connections as well, between their
 * requests too (a socket serving one's request is counted twice: the
 * limit errs on the side of memory). */
static size_t polling(const room_uv_server *srv)
{
    room_ws_stats st;
    room_ws_stats_get(srv->ws, &st);
    return (size_t)st.polling_sessions;
}

void rm_uv_on_listener(uv_poll_t *h, int status, int events)
{
    room_uv_server *srv = h->data;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    uv_os_fd_t lfd;
    int fd, i;

    (void)events;
    if (status < 0) {
        room_ws_logf(srv->ws, ROOM_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    if (uv_fileno((uv_handle_t *)h, &lfd) != 0)
        return;
    for (i = 0; i < RM_UV_ACCEPTS && !srv->stopping; i++) {
        peer_len = sizeof peer;
        fd = accept4(lfd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                room_ws_logf(srv->ws, ROOM_LOG_WARN, "accept: %s", strerror(errno));
            return;
        }
        if (srv->cfg.max_connections && srv->nconns + polling(srv) >= srv->cfg.max_connections) {
            /* One line when the limit is reached, not one per refusal: a
             * flood of them would be a flood of lines. */
            if (!srv->at_limit)
                room_ws_logf(srv->ws, ROOM_LOG_WARN,
                             "accept: %zu connections, the limit; refusing new ones (counted in "
                             "room_uv_stats.refused) until one closes",
                             srv->nconns);
            srv->at_limit = true;
        } else if (rm_uv_conn_open(srv, fd, (const struct sockaddr *)&peer, peer_len) != 0) {
            room_ws_logf(srv->ws, ROOM_LOG_ERROR, "accept: out of memory; refusing a connection");
        } else {
            srv->at_limit = false;
            continue;
        }
        srv->stats.refused++;
        close(fd);
    }
}
