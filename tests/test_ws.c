/* libroom-ws and its libuv binding end to end: a server on 127.0.0.1,
 * port 0, in the test's own uv loop, and raw TCP clients in the same
 * process. The loop runs in
 * UV_RUN_NOWAIT steps; every wait is bounded in steps and in time. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "room/adapter.h"
#include "room/ws.h"
#include "room/ws_uv.h"

#define WAIT_MS 10000
#define WAIT_STEPS 1000000
/* Opcodes (RFC 6455 5.2), written out: the test does not use wslay. */
enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

typedef struct fixture {
    uv_loop_t loop;
    room_ws *ws;
    room_uv_server *srv;
    room_eio *eio;
    room_hub *json;
    room_conn *json_conn; /* the last JSON connection opened */
    int port;
    int done; /* the shutdown callback ran */
    int disconnects;
    char reason[64]; /* of the last disconnect */
} fixture;

typedef struct client {
    int fd;
    uint8_t *buf;
    size_t len, cap;
    size_t off; /* parsed up to here */
    int eof;
} client;

typedef struct frame {
    int opcode;
    int fin;
    uint8_t *data; /* a copy, NUL-terminated */
    size_t len;
} frame;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the server side ------------------------------------------------------ */

static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)hub;
    (void)ev;
    ((fixture *)ud)->json_conn = conn;
    return 0;
}

static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    fixture *f = ud;
    const char *why = json_string_value(json_array_get(ev->args, 0));
    (void)hub;
    (void)conn;
    f->disconnects++;
    snprintf(f->reason, sizeof f->reason, "%s", why ? why : "");
    return 0;
}

static int on_echo(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ud;
    return room_reply_new(hub, conn, ev, "echo", json_incref(json_array_get(ev->args, 0)));
}

/* Sends the binary attachment back. */
static int on_up(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ud;
    assert_int_equal(ev->attachment_count, 1);
    return room_reply_binary_new(hub, conn, ev, "up", json_pack("{s:b,s:i}", "_placeholder", 1, "num", 0),
                                 ev->attachments, ev->attachment_count);
}

static void on_done(room_uv_server *srv, void *ud)
{
    (void)srv;
    ((fixture *)ud)->done++;
}

static uint32_t ping_ms; /* Engine.IO ping interval and timeout for fx_new(); 0: defaults */
static size_t json_limit = 65536; /* the JSON hub's max_message_bytes for fx_new() */

static fixture *fx_new(const room_ws_config *wcfg, const room_uv_config *ucfg)
{
    fixture *f = calloc(1, sizeof *f);
    room_ws_config cfg;
    room_uv_config ucf;
    room_eio_config ecfg;
    room_config rcfg, jcfg;

    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    if (wcfg)
        cfg = *wcfg;
    else
        room_ws_config_init(&cfg);
    if (ucfg)
        ucf = *ucfg;
    else
        room_uv_config_init(&ucf);
    ucf.user_data = f;
    assert_int_equal(room_ws_new(&f->ws, &cfg), 0);
    assert_int_equal(room_uv_server_new(&f->srv, &f->loop, f->ws, &ucf), 0);

    room_eio_config_init(&ecfg);
    room_ws_eio_config(f->ws, &ecfg);
    if (ping_ms)
        ecfg.ping_interval_ms = ecfg.ping_timeout_ms = ping_ms;
    room_config_init(&rcfg);
    assert_int_equal(room_eio_new(&f->eio, &ecfg, &rcfg), 0);
    assert_int_equal(room_on(room_eio_hub(f->eio, "/"), "disconnect", on_disconnect, f), 0);
    assert_int_equal(room_on(room_eio_hub(f->eio, "/"), "up", on_up, f), 0);

    room_config_init(&jcfg);
    room_ws_hub_config(f->ws, &jcfg);
    jcfg.user_data = f; /* the binding's callbacks do not use it */
    jcfg.max_message_bytes = json_limit;
    assert_int_equal(room_hub_new(&f->json, &jcfg), 0);
    assert_int_equal(room_on(f->json, "connect", on_connect, f), 0);
    assert_int_equal(room_on(f->json, "disconnect", on_disconnect, f), 0);
    assert_int_equal(room_on(f->json, "echo", on_echo, f), 0);

    assert_int_equal(room_ws_mount_socketio(f->ws, f->eio), 0);
    assert_int_equal(room_ws_mount_socketio(f->ws, f->eio), ROOM_EINVAL);
    assert_int_equal(room_ws_mount_json(f->ws, "/ws", f->json), 0);
    assert_int_equal(room_ws_mount_json(f->ws, "/ws", f->json), ROOM_EINVAL);
    assert_int_equal(room_ws_mount_json(f->ws, "ws", f->json), ROOM_EINVAL);
    assert_int_equal(room_uv_port(f->srv), 0);
    assert_int_equal(room_uv_listen(f->srv, "127.0.0.1", 0), 0);
    assert_int_equal(room_uv_listen(f->srv, "127.0.0.1", 0), ROOM_EINVAL);
    f->port = room_uv_port(f->srv);
    assert_true(f->port > 0);
    return f;
}

static void pump(fixture *f)
{
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Runs the loop until `cond` holds; false on timeout. */
static int run_until(fixture *f, int (*cond)(fixture *, void *), void *arg)
{
    uint64_t deadline = now_ms() + WAIT_MS;
    long i;
    for (i = 0; i < WAIT_STEPS && now_ms() < deadline; i++) {
        struct pollfd p = {uv_backend_fd(&f->loop), POLLIN, 0};
        pump(f);
        if (cond(f, arg))
            return 1;
        poll(&p, 1, 1);
    }
    return cond(f, arg);
}

static int is_done(fixture *f, void *arg)
{
    (void)arg;
    return f->done;
}

static int json_conns_are(fixture *f, void *arg)
{
    return room_conn_count(f->json) == *(size_t *)arg;
}

static void expect_json_conns(fixture *f, size_t n)
{
    assert_true(run_until(f, json_conns_are, &n));
}

static void fx_free(fixture *f)
{
    assert_int_equal(room_uv_shutdown(f->srv, on_done), 0);
    assert_int_equal(room_uv_shutdown(f->srv, on_done), ROOM_EINVAL);
    assert_true(run_until(f, is_done, NULL));
    assert_int_equal(f->done, 1);
    room_uv_server_free(f->srv);
    room_ws_free(f->ws);
    room_hub_free(f->json);
    room_eio_free(f->eio);
    /* Every handle the server opened is closed. */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
}

/* The engine's and the binding's figures side by side. */
typedef struct stats_t {
    uint64_t connections, bytes_queued, bytes_pending, frames_dropped, slow_closes, parsers;
    uint64_t writes, refused, shared_flushes;
} stats_t;

static stats_t stats(fixture *f)
{
    room_ws_stats w;
    room_uv_stats u;
    room_ws_stats_get(f->ws, &w);
    room_uv_stats_get(f->srv, &u);
    return (stats_t){w.connections, w.bytes_queued, w.bytes_pending, w.frames_dropped, w.slow_closes,
                     w.parsers, u.writes, u.refused, u.shared_flushes};
}

/* ---- raw clients ------------------------------------------------------------ */

static client *cl_new(fixture *f, int rcvbuf)
{
    client *c = calloc(1, sizeof *c);
    struct sockaddr_in sa;

    assert_non_null(c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    if (rcvbuf)
        assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)f->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* The kernel completes it from the listen backlog. */
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
    return c;
}

static void cl_free(client *c)
{
    close(c->fd);
    free(c->buf);
    free(c);
}

static void cl_read(client *c)
{
    for (;;) {
        ssize_t n;
        if (c->len == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 65536;
            c->buf = realloc(c->buf, c->cap + 1);
            assert_non_null(c->buf);
        }
        n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            c->buf[c->len] = '\0';
        } else {
            if (n == 0 || (errno != EAGAIN && errno != EINTR))
                c->eof = 1;
            return;
        }
    }
}

static void cl_write(fixture *f, client *c, const void *bytes, size_t len)
{
    const uint8_t *p = bytes;
    uint64_t deadline = now_ms() + WAIT_MS;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        assert_true(errno == EAGAIN && now_ms() < deadline);
        pump(f);
        poll(&(struct pollfd){c->fd, POLLOUT, 0}, 1, 1);
    }
}

static void cl_puts(fixture *f, client *c, const char *s)
{
    cl_write(f, c, s, strlen(s));
}

typedef int (*cl_cond)(client *c, void *arg);

static int cl_wait(fixture *f, client *c, cl_cond cond, void *arg)
{
    uint64_t deadline = now_ms() + WAIT_MS;
    long i;
    for (i = 0; i < WAIT_STEPS && now_ms() < deadline; i++) {
        struct pollfd p[2] = {{c->fd, POLLIN, 0}, {uv_backend_fd(&f->loop), POLLIN, 0}};
        pump(f);
        cl_read(c);
        if (cond(c, arg))
            return 1;
        poll(p, 2, 1);
    }
    return 0;
}

static int got_eof(client *c, void *arg)
{
    (void)arg;
    return c->eof;
}

static int got_head(client *c, void *arg)
{
    (void)arg;
    return memmem(c->buf, c->len, "\r\n\r\n", 4) != NULL || c->eof;
}

/* A complete server frame at p: its size, or 0. */
static size_t parse_frame(const uint8_t *p, size_t n, frame *fr)
{
    size_t h = 2;
    uint64_t len;
    int i;
    if (n < 2)
        return 0;
    assert_false(p[1] & 0x80); /* server frames are not masked */
    len = p[1] & 0x7f;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        for (len = 0, i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        h = 10;
    }
    if (n - h < len)
        return 0;
    if (fr) {
        fr->fin = p[0] >> 7;
        fr->opcode = p[0] & 0x0f;
        fr->len = (size_t)len;
        fr->data = malloc(fr->len + 1);
        assert_non_null(fr->data);
        memcpy(fr->data, p + h, fr->len);
        fr->data[fr->len] = '\0';
    }
    return h + (size_t)len;
}

static int got_frame(client *c, void *arg)
{
    (void)arg;
    return parse_frame(c->buf + c->off, c->len - c->off, NULL) > 0;
}

/* The next frame from the server; fails the test if none comes. */
static frame cl_frame(fixture *f, client *c)
{
    frame fr;
    assert_true(cl_wait(f, c, got_frame, NULL));
    c->off += parse_frame(c->buf + c->off, c->len - c->off, &fr);
    return fr;
}

static void expect_text(fixture *f, client *c, const char *prefix)
{
    frame fr = cl_frame(f, c);
    assert_int_equal(fr.opcode, OP_TEXT);
    assert_int_equal(fr.fin, 1);
    if (strncmp((char *)fr.data, prefix, strlen(prefix)) != 0)
        fail_msg("expected \"%s...\", got \"%s\"", prefix, (char *)fr.data);
    free(fr.data);
}

static void expect_close(fixture *f, client *c, int code)
{
    frame fr = cl_frame(f, c);
    assert_int_equal(fr.opcode, OP_CLOSE);
    assert_true(fr.len >= 2);
    assert_int_equal(fr.data[0] << 8 | fr.data[1], code);
    free(fr.data);
}

/* A masked client frame. */
static size_t client_frame(uint8_t *out, int opcode, int fin, const void *payload, size_t len)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 0, i;
    out[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        out[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = 0x80 | 127;
        for (i = 0; i < 8; i++)
            out[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(out + h, key, 4);
    h += 4;
    for (i = 0; i < len; i++)
        out[h + i] = ((const uint8_t *)payload)[i] ^ key[i % 4];
    return h + len;
}

static void cl_send_frame(fixture *f, client *c, int opcode, int fin, const void *payload, size_t len)
{
    uint8_t *buf = malloc(len + 14);
    assert_non_null(buf);
    cl_write(f, c, buf, client_frame(buf, opcode, fin, payload, len));
    free(buf);
}

static void cl_send_text(fixture *f, client *c, const char *text)
{
    cl_send_frame(f, c, OP_TEXT, 1, text, strlen(text));
}

static char *upgrade_request(const char *target)
{
    static char req[512];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\n"
             "Host: 127.0.0.1\r\n"
             "Upgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Key: " RFC_KEY "\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n",
             target);
    return req;
}

static void expect_101(fixture *f, client *c)
{
    char *end;
    assert_true(cl_wait(f, c, got_head, NULL));
    if (strncmp((char *)c->buf, "HTTP/1.1 101 Switching Protocols\r\n", 34) != 0)
        fail_msg("expected 101, got \"%s\"", (char *)c->buf);
    assert_non_null(strstr((char *)c->buf, "\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n"));
    assert_non_null(strstr((char *)c->buf, "\r\nUpgrade: websocket\r\n"));
    end = strstr((char *)c->buf, "\r\n\r\n");
    c->off = (size_t)(end + 4 - (char *)c->buf);
}

/* An upgraded Socket.IO connection whose open packet has been read. */
static client *sio_client(fixture *f)
{
    client *c = cl_new(f, 0);
    cl_puts(f, c, upgrade_request("/socket.io/?EIO=4&transport=websocket"));
    expect_101(f, c);
    expect_text(f, c, "0{\"sid\":\"");
    return c;
}

static client *json_client(fixture *f)
{
    client *c = cl_new(f, 0);
    f->json_conn = NULL;
    cl_puts(f, c, upgrade_request("/ws"));
    expect_101(f, c);
    assert_non_null(f->json_conn);
    return c;
}

/* ---- the opening handshake ---------------------------------------------------- */

static void expect_refusal(fixture *f, const char *request, const char *status, const char *reason)
{
    client *c = cl_new(f, 0);
    const char *body;
    cl_puts(f, c, request);
    assert_true(cl_wait(f, c, got_eof, NULL));
    if (strncmp((char *)c->buf, status, strlen(status)) != 0)
        fail_msg("expected 400 for \"%s\", got \"%s\"", request, (char *)c->buf);
    body = strstr((char *)c->buf, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, reason);
    cl_free(c);
}

static void expect_400(fixture *f, const char *request, const char *reason)
{
    expect_refusal(f, request, "HTTP/1.1 400 Bad Request\r\n", reason);
}

static char *request_with(const char *target, const char *headers)
{
    static char req[1024];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", target, headers);
    return req;
}

#define WS_HEADERS                                                                                 \
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY                    \
    "\r\nSec-WebSocket-Version: 13\r\n"
#define SIO "/socket.io/?EIO=4&transport=websocket"

static void test_refused_requests(void **state)
{
    fixture *f = fx_new(NULL, NULL);
    char big[9000];
    (void)state;

    expect_400(f, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "unknown path\n");
    /* Not an upgrade: Engine.IO's answer, JSON (the connection would stay
     * open for the next request without Connection: close). */
    expect_400(f, request_with(SIO, "Connection: close\r\n"), "{\"code\":3,\"message\":\"Bad request\"}");
    expect_400(f, request_with("/chat", WS_HEADERS), "unknown path\n");
    expect_400(f, request_with("/socket.io", WS_HEADERS), "unknown path\n");
    expect_400(f, request_with("/socket.io/?EIO=3&transport=websocket", WS_HEADERS),
               "unsupported protocol version\n");
    expect_400(f, request_with("/socket.io/?transport=websocket", WS_HEADERS),
               "unsupported protocol version\n");
    expect_400(f, request_with("/socket.io/?EIO=4", WS_HEADERS), "unsupported transport\n");
    expect_400(f, request_with("/socket.io/?EIO=4&transport=polling", WS_HEADERS),
               "unsupported transport\n");
    expect_400(f, request_with(SIO "&sid=abc", WS_HEADERS), "session ID unknown\n");
    expect_400(f, request_with(SIO "&name=%E9", WS_HEADERS), "malformed query\n");
    expect_400(f, request_with("/ws?x=%zz", WS_HEADERS), "malformed query\n");
    expect_400(f,
               "POST " SIO " HTTP/1.1\r\n" WS_HEADERS "\r\n", "only GET can upgrade\n");
    expect_400(f, "GET " SIO " HTTP/1.0\r\n" WS_HEADERS "\r\n", "HTTP/1.1 required\n");
    expect_400(f,
               request_with(SIO, "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 8\r\n"),
               "unsupported websocket version\n");
    expect_400(f,
               request_with(SIO, "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n"),
               "bad websocket key\n");
    expect_400(f,
               request_with(SIO, "Upgrade: websocket\r\nConnection: keep-alive\r\n"
                                 "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n"),
               "websocket upgrade required\n");
    expect_400(f, "hello\r\n\r\n", "malformed request line\n");
    expect_400(f, request_with(SIO, "Upgrade websocket\r\n"), "malformed header\n");
    expect_400(f, request_with(SIO, "Upgrade : websocket\r\n"), "malformed header\n");
    /* A head that never ends within 8 KiB. */
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    expect_refusal(f, big, "HTTP/1.1 431 Request Header Fields Too Large\r\n", "request too large\n");
    assert_int_equal(stats(f).connections, 0);
    fx_free(f);
}

static void test_upgrade(void **state)
{
    fixture *f = fx_new(NULL, NULL);
    const char *req = "GET /socket.io/?transport=websocket&foo=bar&EIO=4 HTTP/1.1\r\n"
                      "sec-websocket-version: 13\r\n"
                      "SEC-WEBSOCKET-KEY:   " RFC_KEY "  \r\n"
                      "host: 127.0.0.1\r\n"
                      "connection: keep-alive,  Upgrade\r\n"
                      "upgrade: WebSocket\r\n"
                      "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                      "\r\n";
    uint64_t writes;
    client *c;
    frame fr;
    (void)state;

    /* Query parameters in any order, headers in any order and case. */
    c = cl_new(f, 0);
    writes = stats(f).writes;
    cl_puts(f, c, req);
    expect_101(f, c);
    /* No extension is accepted. */
    assert_null(strstr((char *)c->buf, "Extensions"));
    fr = cl_frame(f, c);
    assert_int_equal(fr.opcode, OP_TEXT);
    assert_non_null(strstr((char *)fr.data, "\"maxPayload\":1000000"));
    assert_memory_equal(fr.data, "0{\"sid\":\"", 9);
    free(fr.data);
    /* The 101 and the open packet left in one write. */
    assert_int_equal(stats(f).writes - writes, 1);
    assert_int_equal(stats(f).connections, 1);
    assert_int_equal(room_eio_session_count(f->eio), 1);

    /* Socket.IO CONNECT to "/". */
    cl_send_text(f, c, "40");
    expect_text(f, c, "40{\"sid\":\"");
    cl_free(c);

    /* The request in single bytes. */
    c = cl_new(f, 0);
    for (req = upgrade_request(SIO); *req; req++) {
        cl_write(f, c, req, 1);
        pump(f);
    }
    expect_101(f, c);
    expect_text(f, c, "0{");
    cl_free(c);
    fx_free(f);
}

/* A request with a frame right behind it; a binary attachment each way
 * (a frame chain on the way out). */
static void test_socketio_binary(void **state)
{
    fixture *f = fx_new(NULL, NULL);
    client *c = cl_new(f, 0);
    const char *req = upgrade_request(SIO);
    uint8_t buf[600];
    size_t n = strlen(req);
    frame fr;
    (void)state;

    memcpy(buf, req, n);
    n += client_frame(buf + n, OP_TEXT, 1, "40", 2);
    cl_write(f, c, buf, n);
    expect_101(f, c);
    expect_text(f, c, "0{");
    expect_text(f, c, "40{\"sid\":");

    cl_send_text(f, c, "451-[\"up\",{\"_placeholder\":true,\"num\":0}]");
    cl_send_frame(f, c, OP_BINARY, 1, "\x00\x01\x02\xff", 4);
    expect_text(f, c, "451-[\"up\",{\"_placeholder\":true,\"num\":0}]");
    fr = cl_frame(f, c);
    assert_int_equal(fr.opcode, OP_BINARY);
    assert_int_equal(fr.len, 4);
    assert_memory_equal(fr.data, "\x00\x01\x02\xff", 4);
    free(fr.data);
    cl_free(c);
    fx_free(f);
}

static void test_handshake_timeout(void **state)
{
    room_ws_config cfg;
    fixture *f;
    client *c;
    (void)state;

    room_ws_config_init(&cfg);
    cfg.handshake_timeout_ms = 50;
    f = fx_new(&cfg, NULL);
    c = cl_new(f, 0);
    cl_puts(f, c, "GET /ws HTTP/1.1\r\n");
    assert_true(cl_wait(f, c, got_eof, NULL));
    assert_int_equal(c->len, 0);
    cl_free(c);
    fx_free(f);
}

/* ---- frames ---------------------------------------------------------------------- */

static void send_bytewise(fixture *f, client *c, const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        cl_write(f, c, p + i, 1);
        pump(f);
    }
}

static int parsers_are(fixture *f, void *arg)
{
    return stats(f).parsers == *(uint64_t *)arg;
}

static void expect_parsers(fixture *f, uint64_t n)
{
    assert_true(run_until(f, parsers_are, &n));
}

static void test_frames_bytewise(void **state)
{
    fixture *f;
    client *c;
    uint8_t buf[80000];
    char text[72000];
    size_t n, i;
    (void)state;

    json_limit = sizeof text; /* room for a message with a 64-bit length */
    f = fx_new(NULL, NULL);
    json_limit = 65536;
    c = json_client(f);

    /* A short frame: the pooled receive state (header bytes and parser) is
     * held from the frame's first byte to the end of its message, and not
     * before or after. */
    n = client_frame(buf, OP_TEXT, 1, "{\"event\":\"echo\",\"data\":\"hi\"}", 28);
    assert_int_equal(n, 6 + strlen("{\"event\":\"echo\",\"data\":\"hi\"}"));
    expect_parsers(f, 0);
    send_bytewise(f, c, buf, 5);
    expect_parsers(f, 1);
    send_bytewise(f, c, buf + 5, 2);
    expect_parsers(f, 1);
    send_bytewise(f, c, buf + 7, n - 7);
    expect_text(f, c, "{\"event\":\"echo\",\"data\":\"hi\"}");
    expect_parsers(f, 0);

    /* 16-bit length. */
    memset(text, 'x', sizeof text);
    memcpy(text, "{\"event\":\"echo\",\"data\":\"", 24);
    memcpy(text + 300 - 2, "\"}", 2);
    n = client_frame(buf, OP_TEXT, 1, text, 300);
    send_bytewise(f, c, buf, n);
    expect_text(f, c, "{\"event\":\"echo\",\"data\":\"xxx");

    /* A fragmented message with a ping between its fragments. */
    n = client_frame(buf, OP_TEXT, 0, "{\"event\":\"echo\",", 16);
    n += client_frame(buf + n, OP_PING, 1, "p1", 2);
    send_bytewise(f, c, buf, n);
    {
        frame fr = cl_frame(f, c);
        assert_int_equal(fr.opcode, OP_PONG);
        assert_string_equal((char *)fr.data, "p1");
        free(fr.data);
    }
    expect_parsers(f, 1); /* mid-message: the context stays */
    n = client_frame(buf, OP_CONT, 1, "\"data\":2}", 9);
    send_bytewise(f, c, buf, n);
    expect_text(f, c, "{\"event\":\"echo\",\"data\":2}");
    expect_parsers(f, 0);

    /* 64-bit length: the header bytewise, the payload in pieces. */
    memset(text, ' ', sizeof text);
    memcpy(text, "{\"event\":\"echo\",\"data\":1}", 25);
    n = client_frame(buf, OP_TEXT, 1, text, 70000);
    send_bytewise(f, c, buf, 14);
    for (i = 14; i < n; i += 4096)
        cl_write(f, c, buf + i, n - i < 4096 ? n - i : 4096);
    expect_text(f, c, "{\"event\":\"echo\",\"data\":1}");

    /* Three frames in one write, then more in the same one. */
    n = client_frame(buf, OP_TEXT, 1, "{\"event\":\"echo\",\"data\":1}", 25);
    n += client_frame(buf + n, OP_TEXT, 1, "{\"event\":\"echo\",\"data\":2}", 25);
    n += client_frame(buf + n, OP_TEXT, 1, "{\"event\":\"echo\",\"data\":3}", 25);
    cl_write(f, c, buf, n);
    expect_text(f, c, "{\"event\":\"echo\",\"data\":1}");
    expect_text(f, c, "{\"event\":\"echo\",\"data\":2}");
    expect_text(f, c, "{\"event\":\"echo\",\"data\":3}");
    expect_parsers(f, 0);
    assert_int_equal(stats(f).connections, 1);
    cl_free(c);
    fx_free(f);
}

static void test_ping_pong(void **state)
{
    fixture *f = fx_new(NULL, NULL);
    client *c = sio_client(f);
    frame fr;
    (void)state;

    cl_send_frame(f, c, OP_PING, 1, "hello", 5);
    fr = cl_frame(f, c);
    assert_int_equal(fr.opcode, OP_PONG);
    assert_string_equal((char *)fr.data, "hello");
    free(fr.data);
    /* An unsolicited pong needs no answer; the connection goes on. */
    cl_send_frame(f, c, OP_PONG, 1, "x", 1);
    cl_send_text(f, c, "40");
    expect_text(f, c, "40{");
    cl_free(c);
    fx_free(f);
}

static void test_max_payload(void **state)
{
    uint8_t buf[2100], payload[2000];
    fixture *f;
    client *c;
    (void)state;

    json_limit = 1000; /* the hub's limit is the one the ws layer enforces */
    f = fx_new(NULL, NULL);
    json_limit = 65536;
    c = json_client(f);
    memset(payload, 'a', sizeof payload);
    /* The header alone is enough: no payload byte is needed. */
    cl_write(f, c, buf, client_frame(buf, OP_TEXT, 1, payload, sizeof payload) - sizeof payload);
    expect_close(f, c, 1009);
    assert_true(cl_wait(f, c, got_eof, NULL));
    assert_int_equal(f->disconnects, 1);
    assert_int_equal(room_conn_count(f->json), 0);
    cl_free(c);
    fx_free(f);
}

/* Control frames that break RFC 6455 get 1002 from their header on. */
static void test_bad_control_frames(void **state)
{
    uint8_t buf[300], payload[200] = {0};
    fixture *f = fx_new(NULL, NULL);
    struct {
        int opcode, fin;
        size_t len;
    } bad[] = {
        {OP_PING, 1, 126}, /* over 125 bytes */
        {OP_PING, 0, 4},   /* fragmented */
        {OP_CLOSE, 1, 1},  /* a one-byte close body */
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        client *c = json_client(f);
        size_t n = client_frame(buf, bad[i].opcode, bad[i].fin, payload, bad[i].len);
        cl_write(f, c, buf, n - bad[i].len); /* the header only */
        expect_close(f, c, 1002);
        assert_true(cl_wait(f, c, got_eof, NULL));
        cl_free(c);
    }
    expect_json_conns(f, 0);
    fx_free(f);
}

static int all_gone(fixture *f, void *arg)
{
    (void)arg;
    return !room_eio_session_count(f->eio) && !room_conn_count(f->json) && !stats(f).connections;
}

static void test_closes(void **state)
{
    fixture *f = fx_new(NULL, NULL);
    uint8_t buf[64];
    client *c;
    frame fr;
    (void)state;

    /* The peer closes: its close is echoed, then the server hangs up. */
    c = json_client(f);
    cl_send_frame(f, c, OP_CLOSE, 1, "\x03\xe8" "bye", 5);
    fr = cl_frame(f, c);
    assert_int_equal(fr.opcode, OP_CLOSE);
    assert_memory_equal(fr.data, "\x03\xe8" "bye", 5);
    free(fr.data);
    assert_true(cl_wait(f, c, got_eof, NULL));
    assert_string_equal(f->reason, "transport close");
    cl_free(c);

    /* An unmasked frame is a protocol error. */
    c = json_client(f);
    cl_write(f, c, "\x81\x02hi", 4);
    expect_close(f, c, 1002);
    assert_true(cl_wait(f, c, got_eof, NULL));
    assert_string_equal(f->reason, "transport error");
    cl_free(c);

    /* Binary on a JSON hub. */
    c = json_client(f);
    cl_write(f, c, buf, client_frame(buf, OP_BINARY, 1, "\x01\x02", 2));
    expect_close(f, c, 1003);
    cl_free(c);

    /* The peer vanishes. */
    c = sio_client(f);
    cl_send_text(f, c, "40");
    expect_text(f, c, "40{");
    assert_int_equal(room_eio_session_count(f->eio), 1);
    cl_free(c);
    assert_true(run_until(f, all_gone, NULL));
    assert_string_equal(f->reason, "transport close");
    fx_free(f);
}

/* ---- output ------------------------------------------------------------------ */

/* With write helpers, a broadcast to many connections is written by the
 * loop thread and the helpers together; every client still gets every
 * frame, in order, once. */
static void test_shared_flush(void **state)
{
    enum { N = 80 }; /* above the sharing threshold (64) */
    room_uv_config cfg;
    fixture *f;
    client *c[N];
    (void)state;
    room_uv_config_init(&cfg);
    cfg.write_threads = 2;
    f = fx_new(NULL, &cfg);
    for (int i = 0; i < N; i++)
        c[i] = json_client(f);
    /* 80 connections x 1 KiB: over the 64 KiB a flush needs to be shared. */
    for (int k = 0; k < 3; k++) {
        char data[1024];
        memset(data, 'a' + k, sizeof data - 1);
        data[sizeof data - 1] = '\0';
        assert_int_equal(room_broadcast_new(f->json, "tick", json_string(data), NULL), N);
    }
    for (int k = 0; k < 3; k++) {
        char want[1100];
        int len = snprintf(want, sizeof want, "{\"event\":\"tick\",\"data\":\"");
        memset(want + len, 'a' + k, 1023);
        snprintf(want + len + 1023, sizeof want - (size_t)len - 1023, "\"}");
        for (int i = 0; i < N; i++)
            expect_text(f, c[i], want);
    }
    assert_true(stats(f).shared_flushes >= 1);
    assert_int_equal(stats(f).bytes_pending, 0);
    for (int i = 0; i < N; i++)
        cl_free(c[i]);
    fx_free(f);
}

static void test_coalesced_writes(void **state)
{
    fixture *f = fx_new(NULL, NULL);
    client *a = json_client(f), *b = json_client(f);
    uint64_t writes, queued, bytes;
    int i;
    (void)state;

    writes = stats(f).writes;
    queued = stats(f).bytes_queued;
    for (i = 0; i < 5; i++)
        assert_int_equal(room_broadcast_new(f->json, "tick", json_integer(i), NULL), 2);
    assert_true(stats(f).bytes_pending > 0);
    for (i = 0, bytes = 0; i < 5; i++) {
        char want[64];
        bytes += 2 * (2 + (uint64_t)snprintf(want, sizeof want, "{\"event\":\"tick\",\"data\":%d}", i));
        expect_text(f, a, want);
        expect_text(f, b, want);
    }
    /* Five frames per connection, one writev each. */
    assert_int_equal(stats(f).writes - writes, 2);
    assert_int_equal(stats(f).bytes_queued - queued, bytes);
    assert_int_equal(stats(f).bytes_pending, 0);
    cl_free(a);
    cl_free(b);
    fx_free(f);
}

static int slow_closed(fixture *f, void *arg)
{
    (void)arg;
    return stats(f).slow_closes > 0;
}

static void test_slow_consumer_close(void **state)
{
    room_ws_config cfg;
    char *text = malloc(8192);
    fixture *f;
    client *c, *fast;
    int i;
    size_t pos;
    (void)state;

    room_ws_config_init(&cfg);
    cfg.max_queued_bytes = 256 * 1024;
    cfg.close_timeout_ms = 60000;
    f = fx_new(&cfg, NULL);
    c = cl_new(f, 4096); /* never reads until the end */
    cl_puts(f, c, upgrade_request("/ws"));
    expect_json_conns(f, 1);
    fast = json_client(f);
    memset(text, 'z', 8191);
    text[8191] = '\0';
    for (i = 0; i < 4096 && !stats(f).slow_closes; i++) {
        room_broadcast_new(f->json, "bulk", json_string(text), NULL);
        pump(f);
        /* Bounded: never more than the limit (plus a close frame). */
        assert_true(stats(f).bytes_pending <= 2 * (cfg.max_queued_bytes + 64));
        cl_read(fast);
        fast->len = 0;
    }
    assert_true(run_until(f, slow_closed, NULL));
    assert_int_equal(stats(f).slow_closes, 1);
    assert_int_equal(room_conn_count(f->json), 1); /* its session has ended */
    assert_string_equal(f->reason, "slow consumer");

    /* Draining it shows the frames that were already on their way, then
     * 1008, then the end. */
    assert_true(cl_wait(f, c, got_eof, NULL));
    pos = (size_t)((uint8_t *)memmem(c->buf, c->len, "\r\n\r\n", 4) + 4 - c->buf);
    for (;;) {
        frame fr;
        size_t n = parse_frame(c->buf + pos, c->len - pos, &fr);
        assert_true(n > 0);
        pos += n;
        if (fr.opcode == OP_CLOSE) {
            assert_int_equal(fr.data[0] << 8 | fr.data[1], 1008);
            assert_string_equal((char *)fr.data + 2, "slow consumer");
            free(fr.data);
            break;
        }
        assert_int_equal(fr.opcode, OP_TEXT);
        free(fr.data);
    }
    assert_int_equal(pos, c->len);
    cl_free(c);
    cl_free(fast);
    free(text);
    fx_free(f);
}

static int drained(client *c, void *arg)
{
    (void)c;
    return stats(arg).bytes_pending == 0;
}

static void test_slow_consumer_drop(void **state)
{
    room_ws_config cfg;
    char *text = malloc(8192);
    fixture *f;
    client *c;
    int i, got = 0;
    (void)state;

    room_ws_config_init(&cfg);
    cfg.max_queued_bytes = 64 * 1024;
    cfg.slow_policy = ROOM_WS_SLOW_DROP;
    f = fx_new(&cfg, NULL);
    c = cl_new(f, 4096);
    cl_puts(f, c, upgrade_request("/ws"));
    expect_json_conns(f, 1);
    memset(text, 'z', 8191);
    text[8191] = '\0';
    for (i = 0; i < 2048 && stats(f).frames_dropped < 10; i++) {
        room_emit_new(f->json, f->json_conn, "bulk", json_string(text));
        pump(f);
        assert_true(stats(f).bytes_pending <= cfg.max_queued_bytes);
    }
    assert_true(stats(f).frames_dropped >= 10);
    assert_int_equal(stats(f).slow_closes, 0);
    /* Still open: it gets what was kept, and later messages. */
    expect_101(f, c);
    assert_true(cl_wait(f, c, drained, f));
    assert_int_equal(room_emit(f->json, f->json_conn, "last", NULL), 0);
    for (;;) {
        frame fr = cl_frame(f, c);
        assert_int_equal(fr.opcode, OP_TEXT);
        got++;
        if (strcmp((char *)fr.data, "{\"event\":\"last\"}") == 0) {
            free(fr.data);
            break;
        }
        free(fr.data);
    }
    assert_true(got > 1);
    assert_int_equal(stats(f).connections, 1);
    cl_free(c);
    free(text);
    fx_free(f);
}

/* ---- timers ------------------------------------------------------------------------ */

/* Past max_connections a connection is accepted and closed at once, and the
 * listener keeps accepting: once a slot frees, the next one is served. */
static void test_max_connections(void **state)
{
    room_uv_config cfg;
    fixture *f;
    client *a, *b, *extra, *late;
    (void)state;
    room_uv_config_init(&cfg);
    cfg.max_connections = 2;
    f = fx_new(NULL, &cfg);
    a = sio_client(f);
    b = sio_client(f);
    extra = cl_new(f, 0);
    assert_true(cl_wait(f, extra, got_eof, NULL));
    assert_int_equal(stats(f).refused, 1);
    cl_free(extra);
    cl_free(b);
    /* Wait until the server has let go of b before the next one. */
    for (int i = 0; i < 200 && stats(f).connections > 1; i++) {
        pump(f);
        usleep(1000);
    }
    late = sio_client(f);
    assert_int_equal(stats(f).refused, 1);
    cl_free(late);
    cl_free(a);
    fx_free(f);
}

static void on_second_done(room_uv_server *srv, void *ud)
{
    (void)srv;
    *(int *)ud = 1;
}

/* With reuse_port, a second server can listen on the same port; without,
 * it cannot. */
static void test_reuse_port(void **state)
{
    room_uv_config cfg;
    room_ws *ws2;
    room_uv_server *second;
    fixture *f;
    int done = 0;
    (void)state;
    room_uv_config_init(&cfg);
    cfg.reuse_port = 1;
    f = fx_new(NULL, &cfg);

    assert_int_equal(room_ws_new(&ws2, NULL), 0);
    cfg.reuse_port = 0;
    assert_int_equal(room_uv_server_new(&second, &f->loop, ws2, &cfg), 0);
    assert_int_equal(room_uv_listen(second, "127.0.0.1", f->port), ROOM_ETRANSPORT);
    room_uv_server_free(second);

    cfg.reuse_port = 1;
    cfg.user_data = &done;
    assert_int_equal(room_uv_server_new(&second, &f->loop, ws2, &cfg), 0);
    assert_int_equal(room_uv_listen(second, "127.0.0.1", f->port), 0);
    assert_int_equal(room_uv_port(second), f->port);
    assert_int_equal(room_uv_shutdown(second, on_second_done), 0);
    for (int i = 0; i < 1000 && !done; i++)
        pump(f);
    assert_int_equal(done, 1);
    room_uv_server_free(second);
    room_ws_free(ws2);
    fx_free(f);
}

static void on_ack(room_hub *hub, room_conn *conn, int status, json_t *args, void *ud)
{
    (void)hub;
    (void)conn;
    (void)args;
    *(int *)ud = status;
}

static int acked(fixture *f, void *arg)
{
    (void)f;
    return *(int *)arg != 1;
}

/* Nobody but the server drives the clocks here: its timer runs
 * room_eio_tick() and room_hub_tick(). */
static void test_timers(void **state)
{
    fixture *f;
    client *c;
    frame fr;
    int status = 1;
    (void)state;

    ping_ms = 100;
    f = fx_new(NULL, NULL);
    ping_ms = 0;
    c = sio_client(f);
    cl_send_text(f, c, "40");
    expect_text(f, c, "40{");
    expect_text(f, c, "2");
    cl_send_text(f, c, "3");
    expect_text(f, c, "2");
    /* No pong this time. */
    fr = cl_frame(f, c);
    assert_int_equal(fr.opcode, OP_CLOSE);
    assert_string_equal((char *)fr.data + 2, "ping timeout");
    free(fr.data);
    assert_true(cl_wait(f, c, got_eof, NULL));
    assert_string_equal(f->reason, "ping timeout");
    cl_free(c);

    /* An acknowledgement asked for from outside the loop times out. */
    c = json_client(f);
    assert_int_equal(room_emit_ack(f->json, f->json_conn, "ask", NULL, 50, on_ack, &status), 0);
    expect_text(f, c, "{\"event\":\"ask\",\"id\":");
    assert_true(run_until(f, acked, &status));
    assert_int_equal(status, ROOM_ETIMEOUT);
    cl_free(c);
    fx_free(f);
}

/* ---- lifecycle ----------------------------------------------------------------- */

static void test_json_hub(void **state)
{
    fixture *f = fx_new(NULL, NULL);
    client *c = json_client(f);
    (void)state;

    cl_send_text(f, c, "{\"event\":\"echo\",\"data\":{\"a\":[1,2]},\"id\":7}");
    expect_text(f, c, "{\"ack\":7,\"data\":{\"a\":[1,2]}}");
    cl_send_text(f, c, "{\"event\":\"nope\"}");
    expect_text(f, c, "{\"event\":\"error\"");
    cl_send_text(f, c, "not json");
    expect_text(f, c, "{\"event\":\"error\"");
    assert_int_equal(room_conn_count(f->json), 1);
    cl_free(c);
    fx_free(f);
}

/* Recovery across nodes (lib/ws/handshake.c): a JSON upgrade with a pid
 * this node does not know waits for the cluster (here a fake adapter);
 * its session message follows the answer; a message meanwhile closes it
 * (1008) and cancels the wait. */
typedef struct fake_cluster {
    room_adapter base;
    int asked;
    uint64_t ticket;
} fake_cluster;

static fake_cluster cluster;

static int cluster_resume(room_adapter *adapter, room_hub *hub, uint64_t ticket, const char *pid,
                          const char *offset)
{
    (void)adapter, (void)hub, (void)pid, (void)offset;
    cluster.asked++;
    cluster.ticket = ticket;
    return 0;
}

static int asked_is(fixture *f, void *arg)
{
    (void)f;
    return cluster.asked == *(int *)arg;
}

static void test_json_resume_waits(void **state)
{
    fixture *f = fx_new(NULL, NULL);
    room_config cfg;
    room_hub *hub;
    client *c, *d;
    int n = 1;
    (void)state;

    memset(&cluster, 0, sizeof cluster);
    cluster.base.size = sizeof cluster.base;
    cluster.base.name = "fake-cluster";
    cluster.base.resume = cluster_resume;
    room_config_init(&cfg);
    room_ws_hub_config(f->ws, &cfg);
    cfg.recovery_ms = 1000;
    cfg.adapter = &cluster.base;
    assert_int_equal(room_hub_new(&hub, &cfg), 0);
    assert_int_equal(room_ws_mount_json(f->ws, "/wsr", hub), 0);

    c = cl_new(f, 0);
    cl_puts(f, c, upgrade_request("/wsr?pid=AAAAAAAAAAAAAAAAAAAA&offset=1"));
    expect_101(f, c);
    assert_true(run_until(f, asked_is, &n));
    assert_int_equal(room_conn_count(hub), 0);
    /* No node answered: a fresh session, sent now. */
    assert_int_equal(room_hub_resume_complete(hub, cluster.ticket, ROOM_ETIMEOUT, NULL), 0);
    expect_text(f, c, "{\"event\":\"session\"");
    assert_int_equal(room_conn_count(hub), 1);

    d = cl_new(f, 0);
    cl_puts(f, d, upgrade_request("/wsr?pid=BBBBBBBBBBBBBBBBBBBB&offset=1"));
    expect_101(f, d);
    n = 2;
    assert_true(run_until(f, asked_is, &n));
    cl_send_text(f, d, "{\"event\":\"echo\"}");
    expect_close(f, d, 1008);
    cl_free(d);
    /* Its wait was cancelled before the close went out: the answer
     * opens nothing. */
    assert_int_equal(room_hub_resume_complete(hub, cluster.ticket, ROOM_ETIMEOUT, NULL), 0);
    assert_int_equal(room_conn_count(hub), 1);
    cl_free(c);
    fx_free(f);
    room_hub_free(hub);
}

static void test_shutdown(void **state)
{
    fixture *f = fx_new(NULL, NULL);
    client *a = sio_client(f), *b = json_client(f);
    uint8_t buf[16];
    (void)state;

    cl_send_text(f, a, "40");
    expect_text(f, a, "40{");
    assert_int_equal(room_uv_shutdown(f->srv, on_done), 0);
    expect_close(f, a, 1001);
    expect_close(f, b, 1001);
    assert_int_equal(f->disconnects, 2);
    assert_string_equal(f->reason, "server shutting down");
    /* The clients answer the close; the server then hangs up. */
    cl_write(f, a, buf, client_frame(buf, OP_CLOSE, 1, "\x03\xe9", 2));
    assert_true(cl_wait(f, a, got_eof, NULL));
    cl_free(a);
    cl_free(b);
    assert_true(run_until(f, is_done, NULL));
    assert_int_equal(stats(f).connections, 0);
    room_uv_server_free(f->srv);
    room_ws_free(f->ws);
    room_hub_free(f->json);
    room_eio_free(f->eio);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
}

static void test_unused_server(void **state)
{
    uv_loop_t loop;
    room_ws *ws;
    room_uv_server *srv;
    room_ws_config cfg;
    room_uv_config ucfg;
    (void)state;

    assert_int_equal(uv_loop_init(&loop), 0);
    room_ws_config_init(&cfg);
    cfg.slow_policy = 7;
    assert_int_equal(room_ws_new(&ws, &cfg), ROOM_EINVAL);
    cfg.slow_policy = ROOM_WS_SLOW_CLOSE;
    cfg.size = ROOM_WS_CONFIG_MIN_SIZE - 1;
    assert_int_equal(room_ws_new(&ws, &cfg), ROOM_EINVAL);
    assert_int_equal(room_ws_new(&ws, NULL), 0);
    room_uv_config_init(&ucfg);
    ucfg.write_threads = 65;
    assert_int_equal(room_uv_server_new(&srv, &loop, ws, &ucfg), ROOM_EINVAL);
    assert_int_equal(room_uv_server_new(&srv, NULL, ws, NULL), ROOM_EINVAL);
    assert_int_equal(room_uv_server_new(&srv, &loop, NULL, NULL), ROOM_EINVAL);
    assert_int_equal(room_uv_server_new(&srv, &loop, ws, NULL), 0);
    assert_int_equal(room_uv_listen(srv, "not an address", 0), ROOM_EINVAL);
    assert_int_equal(room_uv_listen(srv, "127.0.0.1", 70000), ROOM_EINVAL);
    /* A failed listen leaves nothing open. */
    assert_int_equal(room_uv_listen(srv, "192.0.2.1", 1), ROOM_ETRANSPORT);
    assert_int_equal(room_uv_shutdown(srv, on_done), ROOM_EINVAL);
    room_uv_server_free(srv);
    room_uv_server_free(NULL);
    room_ws_free(ws);
    room_ws_free(NULL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- memory ------------------------------------------------------------------------ */

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static size_t frames_in(const client *c)
{
    const uint8_t *head = memmem(c->buf, c->len, "\r\n\r\n", 4);
    size_t pos, n = 0, k;
    if (!head)
        return 0;
    for (pos = (size_t)(head + 4 - c->buf); (k = parse_frame(c->buf + pos, c->len - pos, NULL)) != 0; pos += k)
        n++;
    return n;
}

typedef struct crowd {
    client *cs;
    size_t n, want;
} crowd;

static int crowd_has(fixture *f, void *arg)
{
    crowd *cr = arg;
    size_t i;
    (void)f;
    for (i = 0; i < cr->n; i++) {
        cl_read(&cr->cs[i]);
        if (frames_in(&cr->cs[i]) < cr->want)
            return 0;
    }
    return 1;
}

/* Server heap per idle Socket.IO connection (WebSocket, Engine.IO session,
 * Socket.IO connection to "/"). The clients' buffers are allocated before
 * measuring and their sockets cost no heap. */
static void test_idle_memory(void **state)
{
    fixture *f = fx_new(NULL, NULL);
    const char *env = getenv("ROOM_WS_TEST_CONNS");
    size_t n = env ? (size_t)atoi(env) : 1000, i, before, after;
    uint8_t connect[16];
    size_t connect_len = client_frame(connect, OP_TEXT, 1, "40", 2);
    client *warm;
    crowd cr;
    (void)state;

    /* Warm up: the read buffer, a wslay context in the pool. */
    warm = sio_client(f);
    cl_write(f, warm, connect, connect_len);
    expect_text(f, warm, "40{");

    cr.n = n;
    cr.cs = calloc(n, sizeof *cr.cs);
    assert_non_null(cr.cs);
    for (i = 0; i < n; i++) {
        cr.cs[i].cap = 1024; /* the 101, the open packet, the CONNECT reply */
        cr.cs[i].buf = malloc(cr.cs[i].cap + 1);
        assert_non_null(cr.cs[i].buf);
    }
    before = heap_in_use();
    for (i = 0; i < n; i++) {
        client *c = cl_new(f, 0);
        cr.cs[i].fd = c->fd;
        free(c);
        cl_puts(f, &cr.cs[i], upgrade_request(SIO));
        pump(f);
    }
    cr.want = 1;
    assert_true(run_until(f, crowd_has, &cr));
    for (i = 0; i < n; i++)
        cl_write(f, &cr.cs[i], connect, connect_len);
    cr.want = 2;
    assert_true(run_until(f, crowd_has, &cr));
    assert_int_equal(room_eio_session_count(f->eio), n + 1);
    assert_int_equal(room_conn_count(room_eio_hub(f->eio, "/")), n + 1);
    assert_int_equal(stats(f).parsers, 0);
    assert_int_equal(stats(f).bytes_pending, 0);
    after = heap_in_use();
    /* Under valgrind or ASan, mallinfo2() does not see the heap. */
    if (after > before) {
        print_message("idle Socket.IO connection: %zu bytes of server heap (%zu connections)\n",
                      (after - before) / n, n);
        assert_true((after - before) / n <= 1024);
    }
    for (i = 0; i < n; i++) {
        close(cr.cs[i].fd);
        free(cr.cs[i].buf);
    }
    free(cr.cs);
    cl_free(warm);
    assert_true(run_until(f, all_gone, NULL));
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_requests),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_socketio_binary),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_frames_bytewise),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_max_payload),
        cmocka_unit_test(test_closes),
        cmocka_unit_test(test_coalesced_writes),
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_slow_consumer_close),
        cmocka_unit_test(test_slow_consumer_drop),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_bad_control_frames),
        cmocka_unit_test(test_shared_flush),
        cmocka_unit_test(test_reuse_port),
        cmocka_unit_test(test_json_hub),
        cmocka_unit_test(test_json_resume_waits),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_unused_server),
        cmocka_unit_test(test_idle_memory),
    };
    /* As in any libuv server: a peer that hung up costs EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
