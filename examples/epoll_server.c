/* epoll_server: the WebSocket engine (room/ws.h) bound to a bare Linux
 * epoll loop, as docs/writing-a-transport.md explains. It serves the
 * library's rooms protocol over Socket.IO at /socket.io/ (namespaces "/"
 * and "/admin") and over the JSON codec at /ws, like roomd --protocol
 * rooms, and runs roomd's interop tests (tests/interop).
 *
 *   epoll_server --port PORT [--host ADDR] [--ping-interval MS] [--ping-timeout MS]
 */
#define _GNU_SOURCE /* accept4() */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "room/eio.h"
#include "room/protocol.h"
#include "room/ws.h"

/* One per socket; the listener's has no connection. */
typedef struct sock {
    int fd;
    uint32_t events; /* registered with epoll */
    room_ws_conn *wc;
} sock;

static int epfd;
static volatile sig_atomic_t stop_requested;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_signal(int signum)
{
    (void)signum;
    stop_requested = 1;
}

static void watch(sock *s, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = s};
    if (s->events != events)
        epoll_ctl(epfd, s->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &ev);
    s->events = events;
}

/* Does what the engine wants for the connection until it has to wait. */
static void serve(sock *s)
{
    for (;;) {
        unsigned wants = room_ws_conn_wants(s->wc);
        if (wants & ROOM_WS_WANT_CLOSE) {
            close(s->fd); /* also leaves the epoll set */
            room_ws_conn_free(s->wc);
            free(s);
            return;
        }
        if (wants & ROOM_WS_WANT_WRITE) {
            struct iovec iov[64];
            struct msghdr m = {.msg_iov = iov, .msg_iovlen = room_ws_conn_output(s->wc, iov, 64)};
            ssize_t r = sendmsg(s->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (r >= 0) {
                room_ws_conn_written(s->wc, (size_t)r);
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch(s, (s->events & EPOLLIN) | EPOLLOUT);
                return;
            } else if (errno != EINTR) {
                room_ws_conn_error(s->wc);
            }
            continue;
        }
        watch(s, s->events & EPOLLIN);
        if (!(wants & ROOM_WS_WANT_SHUTDOWN))
            return;
        shutdown(s->fd, SHUT_WR);
    }
}

static void on_readable(sock *s)
{
    uint8_t buf[64 * 1024];
    ssize_t n = read(s->fd, buf, sizeof buf);
    if (n > 0) {
        room_ws_conn_input(s->wc, buf, (size_t)n, now_ms());
    } else if (n == 0) {
        watch(s, s->events & EPOLLOUT); /* level-triggered: EOF would repeat */
        room_ws_conn_eof(s->wc);
    } else if (errno != EAGAIN && errno != EINTR) {
        room_ws_conn_error(s->wc);
    }
}

static void on_listener(room_ws *ws, sock *l)
{
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    int fd, on = 1;
    sock *s;
    while ((fd = accept4(l->fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        if (!(s = calloc(1, sizeof *s)) || room_ws_conn_new(ws, s, now_ms(), &s->wc) != 0) {
            free(s);
            close(fd);
            continue;
        }
        /* The connect handlers see it as handshake.address. */
        room_ws_conn_set_peer(s->wc, (struct sockaddr *)&peer, peer_len);
        peer_len = sizeof peer;
        s->fd = fd;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        /* The kernel finds peers that vanished without a FIN. */
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
        watch(s, EPOLLIN);
    }
}

static int listen_on(const char *host, int port, sock *l)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t len = sizeof sa;
    int on = 1;
    l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(l->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l->fd, 511) != 0 ||
        getsockname(l->fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    watch(l, EPOLLIN);
    return ntohs(sa.sin_port);
}

/* The hubs: rooms protocol on "/", "/admin" and /ws. */
static int setup(room_ws *ws, room_eio **eio, room_hub **json, uint32_t ping_interval, uint32_t ping_timeout)
{
    room_eio_config ecfg;
    room_config rcfg, jcfg;
    room_hub *admin;

    room_eio_config_init(&ecfg);
    room_ws_eio_config(ws, &ecfg);
    if (ping_interval)
        ecfg.ping_interval_ms = ping_interval;
    if (ping_timeout)
        ecfg.ping_timeout_ms = ping_timeout;
    room_config_init(&rcfg);
    room_config_init(&jcfg);
    room_ws_hub_config(ws, &jcfg);
    return room_eio_new(eio, &ecfg, &rcfg) || room_protocol_rooms_register(room_eio_hub(*eio, "/")) ||
           room_eio_namespace(*eio, "/admin", &rcfg, &admin) || room_protocol_rooms_register(admin) ||
           room_ws_mount_socketio(ws, *eio) || room_hub_new(json, &jcfg) ||
           room_protocol_rooms_register(*json) || room_ws_mount_json(ws, "/ws", *json);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    long port = -1, ping_interval = 0, ping_timeout = 0;
    struct sigaction sa = {.sa_handler = on_signal};
    struct epoll_event evs[64];
    sigset_t stops, waiting;
    room_eio *eio = NULL;
    room_hub *json = NULL;
    room_ws *ws;
    room_ws_conn *wc;
    sock listener = {0};
    int i, n, bound;

    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--host"))
            host = argv[i + 1];
        else if (!strcmp(argv[i], "--ping-interval"))
            ping_interval = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--ping-timeout"))
            ping_timeout = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--protocol") || strcmp(argv[i + 1], "rooms"))
            break; /* only the rooms protocol is served */
    }
    if (i != argc || port < 0 || port > 65535 || ping_interval < 0 || ping_timeout < 0) {
        fputs("usage: epoll_server --port PORT [--host IPV4] [--protocol rooms]\n"
              "                    [--ping-interval MS] [--ping-timeout MS]\n", stderr);
        return 2;
    }
    /* Signals arrive only inside epoll_pwait(), so none slips in between
     * the check of stop_requested and the wait. */
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    sigprocmask(SIG_BLOCK, &stops, &waiting);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 || room_ws_new(&ws, NULL) != 0)
        return 1;
    if (setup(ws, &eio, &json, (uint32_t)ping_interval, (uint32_t)ping_timeout) != 0 ||
        (bound = listen_on(host, (int)port, &listener)) < 0) {
        fprintf(stderr, "epoll_server: cannot serve on %s port %ld\n", host, port);
        return 1;
    }
    /* roomd's line: the interop tests read the port from it. */
    fprintf(stderr, "roomd listening on %s:%d\n", host, bound);

    while (!stop_requested || room_ws_conn_count(ws)) {
        int64_t timeout;
        if (stop_requested && listener.fd >= 0) {
            close(listener.fd);
            listener.fd = -1;
            room_ws_close_all(ws, ROOM_CLOSE_GOING_AWAY, "server shutting down");
        }
        /* Serving may end sessions whose handlers queue frames for others. */
        do {
            timeout = room_ws_run(ws, now_ms());
            for (n = 0; (wc = room_ws_ready(ws)) != NULL; n++)
                serve(room_ws_conn_host(wc));
        } while (n);
        if (stop_requested && !room_ws_conn_count(ws))
            break;
        n = epoll_pwait(epfd, evs, 64, timeout < 0 ? -1 : (int)timeout, &waiting);
        for (i = 0; i < n; i++) {
            sock *s = evs[i].data.ptr;
            if (s == &listener) {
                on_listener(ws, s);
                continue;
            }
            /* Reading never frees the socket; serving may. */
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(s);
            if (evs[i].events & EPOLLOUT)
                serve(s);
        }
    }
    room_ws_free(ws); /* before the hubs: queued frames are theirs */
    room_hub_free(json);
    room_eio_free(eio);
    close(epfd);
    return 0;
}
