/* A complete libroom host in one file: newline-delimited JSON over plain
 * TCP with poll(). It shows the core needs no WebSocket: the host owns the
 * sockets, hands each line to the hub and writes what the hub sends.
 *   tcp_json [--port N]     (127.0.0.1; 0 picks a free port)
 * Try: nc 127.0.0.1 N, then {"event":"join","data":"lobby"}         */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "room/room.h"
#include "room/protocol.h"

#define MAX_CLIENTS 1024
#define LINE_MAX_BYTES 65536

typedef struct client {
    int fd;
    room_conn *conn;
    char in[LINE_MAX_BYTES];
    size_t inlen;
    char *out; /* unwritten output */
    size_t outlen, outcap;
    int closing;
} client;

static client *clients[MAX_CLIENTS];
static volatile sig_atomic_t stop;

/* The hub's send callback: queue payload + newline; poll() writes it. */
static int on_send(void *transport, room_frame *frame, void *ud)
{
    client *c = transport;
    size_t len;
    const uint8_t *bytes = room_frame_payload(frame, &len);
    (void)ud;
    if (c->outlen + len + 1 > c->outcap) {
        size_t cap = (c->outlen + len + 1) * 2;
        char *p = realloc(c->out, cap);
        if (!p)
            return ROOM_ENOMEM;
        c->out = p;
        c->outcap = cap;
    }
    memcpy(c->out + c->outlen, bytes, len);
    c->outlen += len;
    c->out[c->outlen++] = '\n';
    return 0;
}

/* The hub wants it gone: finish writing, then close (in the loop). */
static void on_close(void *transport, int code, const char *reason, void *ud)
{
    (void)code, (void)reason, (void)ud;
    ((client *)transport)->closing = 1;
}

static void drop(room_hub *hub, int i)
{
    client *c = clients[i];
    room_conn_close(hub, c->conn, "connection closed");
    close(c->fd);
    free(c->out);
    free(c);
    clients[i] = NULL;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Feeds every complete line to the hub; a line longer than the buffer is
 * a protocol error and closes the client. */
static int read_lines(room_hub *hub, client *c)
{
    ssize_t n = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
    char *start = c->in, *nl;
    if (n <= 0)
        return n == 0 || (errno != EAGAIN && errno != EINTR) ? -1 : 0;
    c->inlen += (size_t)n;
    while ((nl = memchr(start, '\n', c->inlen - (size_t)(start - c->in))) != NULL) {
        if (nl > start)
            room_conn_recv(hub, c->conn, start, (size_t)(nl - start));
        start = nl + 1;
    }
    c->inlen -= (size_t)(start - c->in);
    memmove(c->in, start, c->inlen);
    return c->inlen == sizeof c->in ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    struct pollfd pfd[MAX_CLIENTS + 1];
    int owner[MAX_CLIENTS + 1]; /* pfd index -> clients index */
    room_config cfg;
    room_hub *hub;
    int lfd, one = 1;

    addr.sin_port = htons((uint16_t)(argc > 2 && !strcmp(argv[1], "--port") ? atoi(argv[2]) : 7000));
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 64) < 0) {
        perror("listen");
        return 1;
    }
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    room_config_init(&cfg);
    cfg.send = on_send;
    cfg.close = on_close;
    if (room_hub_new(&hub, &cfg) != 0 || room_protocol_rooms_register(hub) != 0)
        return 1; /* join, leave, send, broadcast, direct */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    while (!stop) {
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++) {
            if (clients[i]) {
                owner[n] = i;
                pfd[n++] = (struct pollfd){.fd = clients[i]->fd,
                                           .events = (short)(POLLIN | (clients[i]->outlen ? POLLOUT : 0))};
            }
        }
        if (poll(pfd, (nfds_t)n, 1000) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & POLLIN) {
            int fd = accept(lfd, NULL, NULL), i = 0;
            while (fd >= 0 && i < MAX_CLIENTS && clients[i])
                i++;
            client *c = fd >= 0 && i < MAX_CLIENTS ? calloc(1, sizeof *c) : NULL;
            if (c && room_conn_open(hub, c, &c->conn) == 0) {
                c->fd = fd;
                clients[i] = c;
            } else if (fd >= 0) {
                free(c);
                close(fd);
            }
        }
        for (int k = 1; k < n; k++) {
            int i = owner[k];
            client *c = clients[i];
            if ((pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) && read_lines(hub, c) < 0) {
                drop(hub, i);
                continue;
            }
            if (c->outlen && (pfd[k].revents & POLLOUT)) {
                ssize_t w = write(c->fd, c->out, c->outlen);
                if (w > 0) {
                    memmove(c->out, c->out + w, c->outlen - (size_t)w);
                    c->outlen -= (size_t)w;
                }
            }
            if (c->closing && !c->outlen)
                drop(hub, i);
        }
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i])
            drop(hub, i);
    }
    room_hub_free(hub);
    close(lfd);
    return 0;
}
