/* The engine's HTTP side without sockets: keep-alive and pipelined
 * requests, Engine.IO's long-polling transport and its upgrade to
 * WebSocket, CORS, the handshake that connect handlers get, and every
 * allocation failing in turn (malloc is wrapped: this test links the
 * libraries statically with -Wl,--wrap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <malloc.h>

#include "room/ws.h"

/* ---- failing allocations ---------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
static long alloc_fail_at = -1, alloc_count;

static bool alloc_fails(void)
{
    return alloc_fail_at >= 0 && alloc_count++ == alloc_fail_at;
}
void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
    return alloc_fails() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size)
{
    return alloc_fails() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n)
{
    return alloc_fails() ? NULL : __real_realloc(p, n);
}

/* ---- the fixture ---------------------------------------------------------- */

#define SIO "/socket.io/?EIO=4&transport=polling"
#define KEY_HEADERS                                                                                \
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"                                                \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

typedef struct fx {
    room_ws *ws;
    room_eio *eio;
    room_hub *root;
    uint64_t now;
    room_conn *last_conn;
    char handshake[2048]; /* the last connect handler's third argument */
    int connects;
} fx;

static fx F;

static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    fx *f = ud;
    char *text = json_dumps(json_array_get(ev->args, 2), JSON_COMPACT | JSON_SORT_KEYS);
    (void)hub;
    f->connects++;
    f->last_conn = conn;
    snprintf(f->handshake, sizeof f->handshake, "%s", text ? text : "");
    free(text);
    return 0;
}

static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    fx *f = ud;
    (void)hub, (void)ev;
    if (f->last_conn == conn)
        f->last_conn = NULL;
    return 0;
}

static fx *fx_new(const room_ws_mount_config *mcfg, const room_ws_config *wcfg)
{
    room_eio_config ecfg;
    room_config root;
    fx *f = &F;

    memset(f, 0, sizeof *f);
    f->now = 1000;
    assert_int_equal(room_ws_new(&f->ws, wcfg), 0);
    room_eio_config_init(&ecfg);
    room_ws_eio_config(f->ws, &ecfg);
    room_config_init(&root);
    root.max_message_bytes = 1000;
    assert_int_equal(room_eio_new(&f->eio, &ecfg, &root), 0);
    f->root = room_eio_hub(f->eio, "/");
    assert_int_equal(room_on(f->root, "connect", on_connect, f), 0);
    assert_int_equal(room_on(f->root, "disconnect", on_disconnect, f), 0);
    assert_int_equal(room_ws_mount_socketio_with(f->ws, f->eio, mcfg), 0);
    room_ws_run(f->ws, f->now);
    return f;
}

static void fx_free(fx *f)
{
    room_ws_free(f->ws);
    room_eio_free(f->eio);
}

static room_ws_conn *conn_new(fx *f)
{
    room_ws_conn *c;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    assert_int_equal(room_ws_conn_new(f->ws, NULL, f->now, &c), 0);
    inet_pton(AF_INET, "192.0.2.7", &sa.sin_addr);
    assert_int_equal(room_ws_conn_set_peer(c, (struct sockaddr *)&sa, sizeof sa), 0);
    return c;
}

static void put(fx *f, room_ws_conn *c, const char *bytes)
{
    room_ws_conn_input(c, bytes, strlen(bytes), f->now);
}

/* A request: "Content-Length" is added for a body. */
static void request(fx *f, room_ws_conn *c, const char *method, const char *target, const char *headers,
                    const char *body)
{
    char text[16384];
    snprintf(text, sizeof text, "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n%s", method, target,
             headers ? headers : "", body ? strlen(body) : (size_t)0, body ? body : "");
    put(f, c, text);
}

/* Runs the engine and takes (writes) everything the connection has. */
static char out[65536];
static size_t take(fx *f, room_ws_conn *c)
{
    struct iovec iov[64];
    size_t n, len = 0, i;
    room_ws_run(f->ws, f->now);
    while (room_ws_ready(f->ws))
        ;
    n = room_ws_conn_output(c, iov, 64);
    for (i = 0; i < n && len + iov[i].iov_len < sizeof out; i++) {
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    out[len] = '\0';
    room_ws_conn_written(c, len);
    return len;
}

typedef struct resp {
    int status;
    char head[4096];
    char body[8192];
    size_t body_len;
} resp;

/* Parses the response at *p and moves past it. */
static resp next_resp(const char **p)
{
    resp r;
    const char *end = strstr(*p, "\r\n\r\n"), *cl;
    memset(&r, 0, sizeof r);
    assert_non_null(end);
    assert_true(strncmp(*p, "HTTP/1.1 ", 9) == 0);
    r.status = atoi(*p + 9);
    memcpy(r.head, *p, (size_t)(end + 2 - *p));
    cl = strstr(r.head, "Content-Length: ");
    r.body_len = cl ? strtoul(cl + 16, NULL, 10) : 0;
    memcpy(r.body, end + 4, r.body_len);
    *p = end + 4 + r.body_len;
    return r;
}

static resp one_resp(fx *f, room_ws_conn *c)
{
    const char *p = out;
    resp r;
    take(f, c);
    r = next_resp(&p);
    assert_int_equal(*p, '\0');
    return r;
}

static bool has_header(const resp *r, const char *line)
{
    return strstr(r->head, line) != NULL;
}

/* A polling handshake on `c`: the session id. */
static void handshake(fx *f, room_ws_conn *c, char sid[64])
{
    resp r;
    request(f, c, "GET", SIO, NULL, NULL);
    r = one_resp(f, c);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: text/plain; charset=UTF-8\r\n"));
    assert_true(strncmp(r.body, "0{\"sid\":\"", 9) == 0);
    assert_non_null(strstr(r.body, "\"upgrades\":[\"websocket\"]"));
    assert_non_null(strstr(r.body, "\"maxPayload\":1000"));
    assert_non_null(strchr(r.body + 9, '"'));
    snprintf(sid, 64, "%.*s", (int)(strchr(r.body + 9, '"') - (r.body + 9)), r.body + 9);
}

static const char *with_sid(const char *sid)
{
    static char t[256];
    snprintf(t, sizeof t, SIO "&sid=%s", sid);
    return t;
}

static void expect_eio_error(fx *f, room_ws_conn *c, int status, const char *body)
{
    resp r = one_resp(f, c);
    assert_int_equal(r.status, status);
    assert_true(has_header(&r, "Content-Type: application/json\r\n"));
    assert_string_equal(r.body, body);
}

/* ---- tests ---------------------------------------------------------------- */

/* One connection, many requests: the handshake, a CONNECT by POST, the
 * poll that takes its answer; the connect handler got the request. */
static void test_keep_alive(void **state)
{
    fx *f = fx_new(NULL, NULL);
    room_ws_conn *c = conn_new(f);
    room_ws_stats st;
    char sid[64], text[512];
    resp r;
    (void)state;

    handshake(f, c, sid);
    room_ws_stats_get(f->ws, &st);
    assert_int_equal(st.polling_sessions, 1);
    assert_int_equal(st.connections, 0);
    request(f, c, "POST", with_sid(sid), "User-Agent: test\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\n", "40");
    r = one_resp(f, c);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    assert_true(has_header(&r, "Content-Type: text/html\r\n"));
    assert_false(has_header(&r, "Connection: close"));
    assert_int_equal(f->connects, 1);
    /* The handshake is the GET's that opened the session. */
    assert_non_null(strstr(f->handshake, "\"address\":\"192.0.2.7\""));
    assert_non_null(strstr(f->handshake, "\"transport\":\"polling\""));
    assert_non_null(strstr(f->handshake, "\"secure\":false"));
    assert_non_null(strstr(f->handshake, "\"url\":\"/socket.io/?EIO=4&transport=polling\""));
    assert_non_null(strstr(f->handshake, "\"host\":\"x\""));
    request(f, c, "GET", with_sid(sid), NULL, NULL);
    r = one_resp(f, c);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.body, "40{\"sid\":\"", 10) == 0);
    assert_true(has_header(&r, "Cache-Control: no-store\r\n"));
    assert_int_equal(room_ws_conn_wants(c), 0);

    /* "Expect: 100-continue", as curl sends it: answered before the body. */
    snprintf(text, sizeof text, "POST %s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
             with_sid(sid));
    put(f, c, text);
    take(f, c);
    assert_string_equal(out, "HTTP/1.1 100 Continue\r\n\r\n");
    put(f, c, "3");
    r = one_resp(f, c);
    assert_string_equal(r.body, "ok");
    room_ws_conn_free(c);
    room_ws_stats_get(f->ws, &st);
    assert_int_equal(st.polling_sessions, 1); /* the session outlives the connection */
    fx_free(f);
}

static int json_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    return on_connect(hub, conn, ev, ud);
}

/* A JSON hub's connect handler gets the upgrade request too, repeated
 * headers joined with ", ". */
static void test_handshake_json(void **state)
{
    fx *f = fx_new(NULL, NULL);
    room_config cfg;
    room_hub *hub;
    room_ws_conn *c;
    (void)state;

    room_config_init(&cfg);
    room_ws_hub_config(f->ws, &cfg);
    assert_int_equal(room_hub_new(&hub, &cfg), 0);
    assert_int_equal(room_on(hub, "connect", json_connect, f), 0);
    assert_int_equal(room_ws_mount_json(f->ws, "/ws", hub), 0);
    c = conn_new(f);
    put(f, c, "GET /ws?a=1 HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "Cookie: a=1\r\nX-Forwarded-For: 10.0.0.1\r\n"
              "x-forwarded-for: 10.0.0.2\r\n\r\n");
    take(f, c);
    assert_true(strncmp(out, "HTTP/1.1 101", 12) == 0);
    assert_int_equal(f->connects, 1);
    assert_non_null(strstr(f->handshake, "\"x-forwarded-for\":\"10.0.0.1, 10.0.0.2\""));
    assert_non_null(strstr(f->handshake, "\"cookie\":\"a=1\""));
    assert_non_null(strstr(f->handshake, "\"transport\":\"websocket\""));
    assert_non_null(strstr(f->handshake, "\"url\":\"/ws?a=1\""));
    assert_non_null(strstr(f->handshake, "\"address\":\"192.0.2.7\""));
    room_ws_conn_free(c);
    room_ws_free(f->ws);
    room_hub_free(hub);
    room_eio_free(f->eio);
}

/* Requests in one read are answered in order; a request behind a parked
 * poll waits for it. */
static void test_pipelining(void **state)
{
    fx *f = fx_new(NULL, NULL);
    room_ws_conn *c = conn_new(f);
    char sid[64], text[1024];
    const char *p;
    resp r;
    (void)state;

    handshake(f, c, sid);
    snprintf(text, sizeof text,
             "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n40"
             "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
             with_sid(sid), with_sid(sid));
    put(f, c, text);
    take(f, c);
    p = out;
    r = next_resp(&p);
    assert_string_equal(r.body, "ok");
    r = next_resp(&p);
    assert_true(strncmp(r.body, "40{", 3) == 0);
    assert_int_equal(*p, '\0');

    /* A GET parks; a POST pipelined behind it waits until the ping at 25 s
     * releases the GET. */
    snprintf(text, sizeof text,
             "GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n3",
             with_sid(sid), with_sid(sid));
    put(f, c, text);
    assert_int_equal(take(f, c), 0);
    f->now += 25000;
    take(f, c);
    p = out;
    r = next_resp(&p);
    assert_string_equal(r.body, "2");
    r = next_resp(&p);
    assert_string_equal(r.body, "ok");
    assert_int_equal(*p, '\0');
    /* The pong arrived: the session lives past the ping timeout. */
    f->now += 21000;
    take(f, c);
    assert_int_equal(room_eio_session_count(f->eio), 1);
    room_ws_conn_free(c);
    fx_free(f);
}

/* Garbage, truncated and oversized requests. */
static void test_bad_http(void **state)
{
    fx *f = fx_new(NULL, NULL);
    room_ws_conn *c;
    char big[10000], sid[64];
    resp r;
    (void)state;

    c = conn_new(f);
    put(f, c, "\x16\x03\x01garbage\r\n\r\n");
    r = one_resp(f, c);
    assert_int_equal(r.status, 400);
    assert_true(has_header(&r, "Connection: close\r\n"));
    assert_int_equal(room_ws_conn_wants(c), ROOM_WS_WANT_SHUTDOWN);
    room_ws_conn_free(c);

    /* Truncated: waits, then the handshake deadline. */
    c = conn_new(f);
    put(f, c, "GET " SIO " HTTP/1.1\r\nHost:");
    assert_int_equal(take(f, c), 0);
    f->now += 10000;
    take(f, c);
    assert_int_equal(room_ws_conn_wants(c), ROOM_WS_WANT_CLOSE);
    room_ws_conn_free(c);

    /* A head over 8 KiB. */
    c = conn_new(f);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "GET " SIO " HTTP/1.1\r\nX: ", 47);
    put(f, c, big);
    r = one_resp(f, c);
    assert_int_equal(r.status, 431);
    assert_string_equal(r.body, "request too large\n");
    room_ws_conn_free(c);

    /* A body over maxPayload: 413, and its session is closed. */
    c = conn_new(f);
    handshake(f, c, sid);
    memset(big, 'x', 1001);
    big[1001] = '\0';
    big[0] = '4';
    request(f, c, "POST", with_sid(sid), NULL, big);
    r = one_resp(f, c);
    assert_int_equal(r.status, 413);
    assert_true(has_header(&r, "Connection: close\r\n"));
    room_ws_conn_free(c);
    f->now += 5000;
    room_ws_run(f->ws, f->now);
    assert_int_equal(room_eio_session_count(f->eio), 0);

    /* Chunked bodies are not taken. */
    c = conn_new(f);
    put(f, c, "POST " SIO " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n40\r\n0\r\n\r\n");
    r = one_resp(f, c);
    assert_int_equal(r.status, 411);
    room_ws_conn_free(c);
    fx_free(f);
}

/* Engine.IO's answers: code and message in JSON, as engine.io's server. */
static void test_eio_errors(void **state)
{
    room_ws_mount_config mcfg;
    fx *f = fx_new(NULL, NULL);
    room_ws_conn *c = conn_new(f);
    resp r;
    (void)state;

    request(f, c, "GET", SIO "&sid=nope", NULL, NULL);
    expect_eio_error(f, c, 400, "{\"code\":1,\"message\":\"Session ID unknown\"}");
    request(f, c, "GET", "/socket.io/?EIO=4&transport=carrier-pigeon", NULL, NULL);
    expect_eio_error(f, c, 400, "{\"code\":0,\"message\":\"Transport unknown\"}");
    request(f, c, "POST", SIO, NULL, "40");
    expect_eio_error(f, c, 400, "{\"code\":2,\"message\":\"Bad handshake method\"}");
    request(f, c, "GET", "/socket.io/?EIO=4&transport=websocket", NULL, NULL);
    expect_eio_error(f, c, 400, "{\"code\":3,\"message\":\"Bad request\"}");
    request(f, c, "GET", "/socket.io/?EIO=5&transport=polling", NULL, NULL);
    expect_eio_error(f, c, 400, "{\"code\":5,\"message\":\"Unsupported protocol version\"}");
    /* EIO=3 without allow_eio3: the eio refuses it. */
    request(f, c, "GET", "/socket.io/?EIO=3&transport=polling", NULL, NULL);
    expect_eio_error(f, c, 400, "{\"code\":5,\"message\":\"Unsupported protocol version\"}");
    assert_int_equal(room_eio_session_count(f->eio), 0);
    room_ws_conn_free(c);
    fx_free(f);

    /* A mount without WebSocket offers no upgrade, and refuses one. */
    room_ws_mount_config_init(&mcfg);
    mcfg.transports = ROOM_WS_TRANSPORT_POLLING;
    f = fx_new(&mcfg, NULL);
    c = conn_new(f);
    request(f, c, "GET", SIO, NULL, NULL);
    r = one_resp(f, c);
    assert_non_null(strstr(r.body, "\"upgrades\":[]"));
    room_ws_conn_free(c);
    c = conn_new(f);
    put(f, c, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n" KEY_HEADERS "\r\n");
    r = one_resp(f, c);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "unsupported transport\n");
    room_ws_conn_free(c);
    fx_free(f);

    /* A mount without polling. */
    room_ws_mount_config_init(&mcfg);
    mcfg.transports = ROOM_WS_TRANSPORT_WEBSOCKET;
    f = fx_new(&mcfg, NULL);
    c = conn_new(f);
    request(f, c, "GET", SIO, NULL, NULL);
    expect_eio_error(f, c, 400, "{\"code\":0,\"message\":\"Transport unknown\"}");
    room_ws_conn_free(c);
    fx_free(f);
}

/* engine.io's "overlap from client": the second GET gets a bare 400, the
 * session closes and the first GET takes the close packet. */
static void test_two_gets(void **state)
{
    fx *f = fx_new(NULL, NULL);
    room_ws_conn *a = conn_new(f), *b = conn_new(f);
    char sid[64];
    resp r;
    (void)state;

    handshake(f, a, sid);
    request(f, a, "GET", with_sid(sid), NULL, NULL);
    assert_int_equal(take(f, a), 0);
    request(f, b, "GET", with_sid(sid), NULL, NULL);
    r = one_resp(f, b);
    assert_int_equal(r.status, 400);
    assert_int_equal(r.body_len, 0);
    r = one_resp(f, a);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "1");
    assert_int_equal(room_eio_session_count(f->eio), 0);
    request(f, b, "GET", with_sid(sid), NULL, NULL);
    expect_eio_error(f, b, 400, "{\"code\":1,\"message\":\"Session ID unknown\"}");
    room_ws_conn_free(a);
    room_ws_conn_free(b);
    fx_free(f);
}

/* engine.io's other refusals: a POST while another's body is coming, a
 * binary body on v4, a body cut by FIN; each closes the session. */
static void test_post_refusals(void **state)
{
    fx *f = fx_new(NULL, NULL);
    room_ws_conn *a = conn_new(f), *b = conn_new(f);
    char sid[64], text[512];
    resp r;
    (void)state;

    handshake(f, a, sid);
    snprintf(text, sizeof text, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n40", with_sid(sid));
    put(f, a, text);
    assert_int_equal(take(f, a), 0);
    request(f, b, "POST", with_sid(sid), NULL, "40");
    r = one_resp(f, b);
    assert_int_equal(r.status, 400);
    assert_int_equal(r.body_len, 0);
    assert_int_equal(room_eio_session_count(f->eio), 0);
    /* The body still coming is cut, as engine.io destroys that request. */
    assert_int_equal(room_ws_conn_wants(a), ROOM_WS_WANT_CLOSE);
    room_ws_conn_free(a);

    handshake(f, b, sid);
    request(f, b, "POST", with_sid(sid), "Content-Type: application/octet-stream\r\n", "40");
    r = one_resp(f, b);
    assert_int_equal(r.status, 400);
    assert_int_equal(room_eio_session_count(f->eio), 0);

    handshake(f, b, sid);
    snprintf(text, sizeof text, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n40", with_sid(sid));
    put(f, b, text);
    assert_int_equal(take(f, b), 0);
    room_ws_conn_eof(b);
    r = one_resp(f, b);
    assert_int_equal(r.status, 400);
    assert_true(has_header(&r, "Connection: close\r\n"));
    assert_int_equal(room_ws_conn_wants(b), ROOM_WS_WANT_CLOSE);
    assert_int_equal(room_eio_session_count(f->eio), 0);
    room_ws_conn_free(b);
    fx_free(f);
}

static void echo(room_eio *eio, room_eio_session *session, int kind, const void *bytes, size_t len, void *ud)
{
    (void)ud;
    room_eio_session_send(eio, session, kind, bytes, len);
}

/* Plain Engine.IO at /engine.io/, over polling; and a JSON hub's
 * WebSocket refused for its Origin. */
static void test_other_mounts(void **state)
{
    static const char *const origins[] = {"https://app.example", NULL};
    fx *f = fx_new(NULL, NULL);
    room_ws_mount_config mcfg;
    room_eio_config ecfg;
    room_config cfg;
    room_eio *plain;
    room_hub *hub;
    room_ws_conn *c = conn_new(f);
    char sid[64], target[128];
    const char *p;
    resp r;
    (void)state;

    room_eio_config_init(&ecfg);
    room_ws_eio_config(f->ws, &ecfg);
    ecfg.message = echo;
    assert_int_equal(room_eio_new(&plain, &ecfg, NULL), 0);
    assert_int_equal(room_ws_mount_engineio(f->ws, plain, NULL), 0);
    assert_int_equal(room_ws_mount_engineio(f->ws, plain, NULL), ROOM_EINVAL); /* the path is taken */
    request(f, c, "GET", "/engine.io/?EIO=4&transport=polling", NULL, NULL);
    r = one_resp(f, c);
    assert_true(strncmp(r.body, "0{\"sid\":\"", 9) == 0);
    snprintf(sid, sizeof sid, "%.*s", (int)(strchr(r.body + 9, '"') - (r.body + 9)), r.body + 9);
    snprintf(target, sizeof target, "/engine.io/?EIO=4&transport=polling&sid=%s", sid);
    request(f, c, "POST", target, NULL, "4hello\x1e" "bAQI=");
    request(f, c, "GET", target, NULL, NULL);
    take(f, c);
    p = out;
    r = next_resp(&p);
    assert_string_equal(r.body, "ok");
    r = next_resp(&p);
    assert_string_equal(r.body, "4hello\x1e" "bAQI=");
    room_ws_conn_free(c);

    room_ws_mount_config_init(&mcfg);
    mcfg.path = "/ws";
    mcfg.origins = origins;
    mcfg.transports = ROOM_WS_TRANSPORT_POLLING;
    room_config_init(&cfg);
    room_ws_hub_config(f->ws, &cfg);
    assert_int_equal(room_hub_new(&hub, &cfg), 0);
    assert_int_equal(room_ws_mount_json_with(f->ws, hub, &mcfg), ROOM_EINVAL); /* WebSocket only */
    mcfg.transports = 0;
    assert_int_equal(room_ws_mount_json_with(f->ws, hub, &mcfg), 0);
    c = conn_new(f);
    put(f, c, "GET /ws HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n" KEY_HEADERS "\r\n");
    r = one_resp(f, c);
    assert_int_equal(r.status, 403);
    assert_int_equal(room_conn_count(hub), 0);
    room_ws_conn_free(c);
    c = conn_new(f);
    put(f, c, "GET /ws HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n" KEY_HEADERS "\r\n");
    take(f, c);
    assert_true(strncmp(out, "HTTP/1.1 101", 12) == 0);
    assert_non_null(strstr(out, "\r\nAccess-Control-Allow-Origin: https://app.example\r\n"));
    assert_int_equal(room_conn_count(hub), 1);
    room_ws_conn_free(c);
    fx_free(f);
    room_eio_free(plain);
    room_hub_free(hub);
}

/* A client frame (masked with a zero key). */
static void ws_text(fx *f, room_ws_conn *c, const char *payload)
{
    uint8_t fr[256] = {0x81, (uint8_t)(0x80 | strlen(payload)), 0, 0, 0, 0};
    memcpy(fr + 6, payload, strlen(payload));
    room_ws_conn_input(c, fr, 6 + strlen(payload), f->now);
}

/* The text payloads of the server frames in out[0..len). */
static void ws_messages(const char *p, size_t len, char *joined, size_t cap)
{
    size_t at = 0;
    joined[0] = '\0';
    while (len >= 2) {
        size_t n = (uint8_t)p[1];
        assert_true(n < 126);
        at += (size_t)snprintf(joined + at, cap - at, "%s%.*s", at ? "|" : "", (int)n, p + 2);
        p += 2 + n;
        len -= 2 + n;
    }
}

/* The upgrade: probe, noop for the held poll, "5"; what was sent while
 * probing arrives once, in order, on the WebSocket; polling is then
 * refused. */
static void test_upgrade(void **state)
{
    fx *f = fx_new(NULL, NULL);
    room_ws_conn *pc = conn_new(f), *wc;
    room_ws_stats st;
    char sid[64], text[512], msgs[1024];
    size_t len;
    const char *body;
    resp r;
    (void)state;

    handshake(f, pc, sid);
    request(f, pc, "POST", with_sid(sid), NULL, "40");
    one_resp(f, pc);
    request(f, pc, "GET", with_sid(sid), NULL, NULL);
    one_resp(f, pc); /* 40{...} */
    request(f, pc, "GET", with_sid(sid), NULL, NULL);
    assert_int_equal(take(f, pc), 0); /* parked */

    wc = conn_new(f);
    snprintf(text, sizeof text, "GET /socket.io/?EIO=4&transport=websocket&sid=%s HTTP/1.1\r\nHost: x\r\n" KEY_HEADERS "\r\n", sid);
    put(f, wc, text);
    len = take(f, wc);
    assert_true(strncmp(out, "HTTP/1.1 101", 12) == 0);
    assert_int_equal(strlen(strstr(out, "\r\n\r\n")), 4); /* nothing after the 101 yet */
    (void)len;
    ws_text(f, wc, "2probe");
    len = take(f, wc);
    ws_messages(out, len, msgs, sizeof msgs);
    assert_string_equal(msgs, "3probe");
    /* The parked GET is released with a noop. */
    r = one_resp(f, pc);
    assert_string_equal(r.body, "6");
    /* Sent while probing: held by the polling transport. */
    room_emit_new(f->root, f->last_conn, "a", json_integer(1));
    room_emit_new(f->root, f->last_conn, "b", json_integer(2));
    ws_text(f, wc, "5");
    room_emit_new(f->root, f->last_conn, "c", json_integer(3));
    len = take(f, wc);
    ws_messages(out, len, msgs, sizeof msgs);
    assert_string_equal(msgs, "42[\"a\",1]|42[\"b\",2]|42[\"c\",3]");
    assert_int_equal(take(f, pc), 0);
    room_ws_stats_get(f->ws, &st);
    assert_int_equal(st.polling_sessions, 0);
    assert_int_equal(st.connections, 1);
    assert_int_equal(st.bytes_pending, 0);

    /* Polling on the upgraded session. */
    request(f, pc, "GET", with_sid(sid), NULL, NULL);
    expect_eio_error(f, pc, 400, "{\"code\":3,\"message\":\"Bad request\"}");
    request(f, pc, "POST", with_sid(sid), NULL, "42[\"x\"]");
    expect_eio_error(f, pc, 400, "{\"code\":3,\"message\":\"Bad request\"}");
    body = NULL;
    (void)body;
    room_ws_conn_free(wc);
    assert_int_equal(room_eio_session_count(f->eio), 0);
    room_ws_conn_free(pc);
    fx_free(f);
}

/* A probing WebSocket that goes away leaves the session polling. */
static void test_probe_gone(void **state)
{
    fx *f = fx_new(NULL, NULL);
    room_ws_conn *pc = conn_new(f), *wc;
    char sid[64], text[512];
    resp r;
    (void)state;

    handshake(f, pc, sid);
    wc = conn_new(f);
    snprintf(text, sizeof text, "GET /socket.io/?EIO=4&transport=websocket&sid=%s HTTP/1.1\r\nHost: x\r\n" KEY_HEADERS "\r\n", sid);
    put(f, wc, text);
    take(f, wc);
    ws_text(f, wc, "2probe");
    take(f, wc);
    room_ws_conn_eof(wc);
    take(f, wc);
    room_ws_conn_free(wc);
    request(f, pc, "POST", with_sid(sid), NULL, "40");
    one_resp(f, pc);
    request(f, pc, "GET", with_sid(sid), NULL, NULL);
    r = one_resp(f, pc);
    /* The CONNECT's answer; the noop the probe sent was for a parked GET
     * only. */
    assert_true(strncmp(r.body, "40{", 3) == 0);
    assert_int_equal(room_eio_session_count(f->eio), 1);
    room_ws_conn_free(pc);
    fx_free(f);
}

static int allow_example(const char *origin, size_t len, void *ud)
{
    (void)ud;
    return len == 19 && memcmp(origin, "https://example.net", 19) == 0;
}

/* CORS: allowed origins echoed on responses, errors and preflights;
 * others refused, polling and WebSocket alike. */
static void test_cors(void **state)
{
    static const char *const origins[] = {"https://app.example", NULL};
    static const char *const any[] = {"*", NULL};
    room_ws_mount_config mcfg;
    fx *f;
    room_ws_conn *c;
    char text[512];
    resp r;
    (void)state;

    room_ws_mount_config_init(&mcfg);
    mcfg.origins = origins;
    mcfg.origin_allowed = allow_example;
    mcfg.credentials = true;
    f = fx_new(&mcfg, NULL);
    c = conn_new(f);

    request(f, c, "GET", SIO, "Origin: https://app.example\r\n", NULL);
    r = one_resp(f, c);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "\r\nAccess-Control-Allow-Origin: https://app.example\r\n"));
    assert_true(has_header(&r, "\r\nAccess-Control-Allow-Credentials: true\r\n"));
    assert_true(has_header(&r, "\r\nVary: Origin\r\n"));

    request(f, c, "GET", SIO "&sid=x", "Origin: https://example.net\r\n", NULL);
    r = one_resp(f, c);
    assert_int_equal(r.status, 400);
    assert_true(has_header(&r, "\r\nAccess-Control-Allow-Origin: https://example.net\r\n"));
    assert_string_equal(r.body, "{\"code\":1,\"message\":\"Session ID unknown\"}");

    request(f, c, "OPTIONS", SIO, "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n"
                                  "Access-Control-Request-Headers: content-type\r\n", NULL);
    r = one_resp(f, c);
    assert_int_equal(r.status, 204);
    assert_true(has_header(&r, "\r\nAccess-Control-Allow-Origin: https://app.example\r\n"));
    assert_true(has_header(&r, "\r\nAccess-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE\r\n"));
    assert_true(has_header(&r, "\r\nAccess-Control-Allow-Headers: content-type\r\n"));

    /* Not allowed: no CORS header, and no session. */
    request(f, c, "GET", SIO, "Origin: https://evil.example\r\n", NULL);
    r = one_resp(f, c);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, "{\"code\":4,\"message\":\"Forbidden\"}");
    assert_false(has_header(&r, "Access-Control"));
    request(f, c, "OPTIONS", SIO, "Origin: https://evil.example\r\n", NULL);
    r = one_resp(f, c);
    assert_int_equal(r.status, 204);
    assert_false(has_header(&r, "Access-Control-Allow-Origin"));
    assert_int_equal(room_eio_session_count(f->eio), 1);
    room_ws_conn_free(c);

    c = conn_new(f);
    snprintf(text, sizeof text, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                                "Origin: https://evil.example\r\n" KEY_HEADERS "\r\n");
    put(f, c, text);
    r = one_resp(f, c);
    assert_int_equal(r.status, 403);
    assert_int_equal(room_eio_session_count(f->eio), 1);
    room_ws_conn_free(c);
    fx_free(f);

    /* "*" without credentials is answered "*", as the cors package does. */
    room_ws_mount_config_init(&mcfg);
    mcfg.origins = any;
    f = fx_new(&mcfg, NULL);
    c = conn_new(f);
    request(f, c, "GET", SIO, "Origin: https://evil.example\r\n", NULL);
    r = one_resp(f, c);
    assert_true(has_header(&r, "\r\nAccess-Control-Allow-Origin: *\r\n"));
    assert_false(has_header(&r, "Vary"));
    room_ws_conn_free(c);
    fx_free(f);

    /* The default: no CORS header, every origin; a preflight is one more
     * request that is no handshake. */
    f = fx_new(NULL, NULL);
    c = conn_new(f);
    request(f, c, "GET", SIO, "Origin: https://evil.example\r\n", NULL);
    r = one_resp(f, c);
    assert_int_equal(r.status, 200);
    assert_false(has_header(&r, "Access-Control"));
    request(f, c, "OPTIONS", SIO, "Origin: https://evil.example\r\n", NULL);
    expect_eio_error(f, c, 400, "{\"code\":2,\"message\":\"Bad handshake method\"}");
    room_ws_conn_free(c);
    fx_free(f);
}

/* A session never polled again ends on the heartbeat (the ping at 25 s,
 * the timeout at 45 s) and nothing is left; one the server closes waits
 * close_timeout_ms for the polls that take what it holds and the close
 * packet. */
static void test_never_polled(void **state)
{
    fx *f = fx_new(NULL, NULL);
    room_ws_conn *c = conn_new(f);
    room_ws_stats st;
    char sid[64];
    resp r;
    (void)state;

    handshake(f, c, sid);
    room_ws_stats_get(f->ws, &st);
    assert_int_equal(st.polling_sessions, 1);
    f->now += 25000;
    room_ws_run(f->ws, f->now);
    room_ws_stats_get(f->ws, &st);
    assert_int_equal(st.bytes_pending, 1); /* the ping, held */
    f->now += 19999;
    room_ws_run(f->ws, f->now);
    assert_int_equal(room_eio_session_count(f->eio), 1);
    f->now += 1;
    room_ws_run(f->ws, f->now);
    assert_int_equal(room_eio_session_count(f->eio), 0);
    room_ws_stats_get(f->ws, &st);
    assert_int_equal(st.polling_sessions, 0);
    assert_int_equal(st.bytes_pending, 0);
    assert_int_equal(room_ws_run(f->ws, f->now), -1);

    /* Closed by the server: the next poll gets the close packet. (The idle
     * keep-alive connection is gone: handshake_timeout_ms.) */
    assert_int_equal(room_ws_conn_wants(c), ROOM_WS_WANT_CLOSE);
    room_ws_conn_free(c);
    c = conn_new(f);
    handshake(f, c, sid);
    request(f, c, "POST", with_sid(sid), NULL, "40");
    one_resp(f, c);
    room_eio_session_shut(f->eio, room_eio_session_find(f->eio, sid, strlen(sid)), NULL);
    room_ws_run(f->ws, f->now);
    assert_int_equal(room_eio_session_count(f->eio), 1);
    /* What it held first, in a response of its own (a client handles a
     * payload's messages a tick after a close packet in it), then the
     * close packet. */
    request(f, c, "GET", with_sid(sid), NULL, NULL);
    r = one_resp(f, c);
    assert_true(strncmp(r.body, "40{", 3) == 0);
    assert_null(strchr(r.body, '\x1e'));
    request(f, c, "GET", with_sid(sid), NULL, NULL);
    r = one_resp(f, c);
    assert_string_equal(r.body, "1");
    assert_int_equal(room_eio_session_count(f->eio), 0);
    /* And unpolled, it ends after close_timeout_ms. */
    handshake(f, c, sid);
    room_eio_session_shut(f->eio, room_eio_session_find(f->eio, sid, strlen(sid)), NULL);
    f->now += 4999;
    room_ws_run(f->ws, f->now);
    assert_int_equal(room_eio_session_count(f->eio), 1);
    f->now += 1;
    room_ws_run(f->ws, f->now);
    assert_int_equal(room_eio_session_count(f->eio), 0);
    room_ws_conn_free(c);
    fx_free(f);
}

/* Shutting down: a parked poll gets the close packet and its connection
 * closes; a session not polling ends after close_timeout_ms. */
static void test_close_all(void **state)
{
    fx *f = fx_new(NULL, NULL);
    room_ws_conn *a = conn_new(f), *b = conn_new(f);
    char sid[64];
    resp r;
    (void)state;

    handshake(f, a, sid);
    request(f, a, "GET", with_sid(sid), NULL, NULL);
    assert_int_equal(take(f, a), 0);
    handshake(f, b, sid);
    room_ws_close_all(f->ws, ROOM_CLOSE_GOING_AWAY, "shutting down");
    r = one_resp(f, a);
    assert_string_equal(r.body, "1");
    assert_true(has_header(&r, "Connection: close\r\n"));
    assert_int_equal(room_ws_conn_wants(a), ROOM_WS_WANT_SHUTDOWN);
    assert_int_equal(room_ws_conn_wants(b), ROOM_WS_WANT_CLOSE);
    assert_int_equal(room_eio_session_count(f->eio), 1);
    f->now += 5000;
    room_ws_run(f->ws, f->now);
    assert_int_equal(room_eio_session_count(f->eio), 0);
    room_ws_conn_free(a);
    room_ws_conn_free(b);
    fx_free(f);
}

/* max_queued_bytes holds for what a polling session holds too. */
static void test_slow_poller(void **state)
{
    room_ws_config wcfg;
    fx *f;
    room_ws_conn *c;
    room_ws_stats st;
    char sid[64];
    int i;
    (void)state;

    room_ws_config_init(&wcfg);
    wcfg.max_queued_bytes = 300;
    f = fx_new(NULL, &wcfg);
    c = conn_new(f);
    handshake(f, c, sid);
    request(f, c, "POST", with_sid(sid), NULL, "40");
    one_resp(f, c);
    for (i = 0; i < 30; i++)
        room_emit_new(f->root, f->last_conn, "e", json_string("0123456789"));
    room_ws_stats_get(f->ws, &st);
    assert_int_equal(st.slow_closes, 1);
    f->now += 5000;
    room_ws_run(f->ws, f->now);
    assert_int_equal(room_eio_session_count(f->eio), 0);
    room_ws_stats_get(f->ws, &st);
    assert_int_equal(st.bytes_pending, 0);
    room_ws_conn_free(c);
    fx_free(f);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* What an idle polling session costs the server: CONNECTed to "/", its
 * GET parked on a keep-alive connection of its own. */
static void test_idle_memory(void **state)
{
    enum { N = 1000 };
    fx *f = fx_new(NULL, NULL);
    room_ws_conn **cs = calloc(N, sizeof *cs), *warm = conn_new(f);
    size_t before, after, i;
    char sid[64];
    (void)state;

    handshake(f, warm, sid); /* the engine's response buffer, the eio's tables */
    before = heap_in_use();
    for (i = 0; i < N; i++) {
        cs[i] = conn_new(f);
        handshake(f, cs[i], sid);
        request(f, cs[i], "POST", with_sid(sid), NULL, "40");
        one_resp(f, cs[i]);
        request(f, cs[i], "GET", with_sid(sid), NULL, NULL);
        one_resp(f, cs[i]);
        request(f, cs[i], "GET", with_sid(sid), NULL, NULL);
        assert_int_equal(take(f, cs[i]), 0);
    }
    after = heap_in_use();
    /* Under valgrind or ASan, mallinfo2() does not see the heap. */
    if (after > before) {
        print_message("idle polling session: %zu bytes of server heap (%d sessions, GET parked)\n",
                      (after - before) / N, N);
        assert_true((after - before) / N <= 2048);
    }
    for (i = 0; i < N; i++)
        room_ws_conn_free(cs[i]);
    free(cs);
    room_ws_conn_free(warm);
    fx_free(f);
}

/* The polling path with each allocation failing in turn: no crash, no
 * leak (the sanitizers and valgrind check), and the engine still
 * accounts 0 bytes at the end. */
static void test_allocation_failures(void **state)
{
    long n;
    int i;
    bool upgraded = false;
    (void)state;
    for (n = 0;; n++) {
        fx *f = fx_new(NULL, NULL);
        room_ws_conn *c = conn_new(f), *wc = conn_new(f);
        room_ws_stats st;
        char text[512];
        const char *sid;
        room_eio_session *s;

        alloc_count = 0;
        alloc_fail_at = n;
        request(f, c, "GET", SIO, "Origin: o\r\n", NULL);
        take(f, c);
        sid = strstr(out, "0{\"sid\":\"");
        if (sid && (s = room_eio_session_find(f->eio, sid + 9, 20)) != NULL) {
            char id[32];
            snprintf(id, sizeof id, "%.20s", sid + 9);
            request(f, c, "POST", with_sid(id), NULL, "40");
            take(f, c);
            request(f, c, "GET", with_sid(id), NULL, NULL);
            take(f, c);
            request(f, c, "GET", with_sid(id), NULL, NULL);
            take(f, c);
            snprintf(text, sizeof text, "GET /socket.io/?EIO=4&transport=websocket&sid=%s HTTP/1.1\r\nHost: x\r\n" KEY_HEADERS "\r\n", id);
            put(f, wc, text);
            take(f, wc);
            ws_text(f, wc, "2probe");
            take(f, wc);
            if (f->last_conn)
                room_emit_new(f->root, f->last_conn, "a", json_integer(1));
            ws_text(f, wc, "5");
            take(f, wc);
            take(f, c);
        }
        alloc_fail_at = -1;
        room_ws_stats_get(f->ws, &st);
        upgraded = st.connections == 1 && !st.polling_sessions;
        room_ws_conn_free(c);
        room_ws_conn_free(wc);
        /* The heartbeat ends what is left. */
        for (i = 0; i < 8; i++) {
            f->now += 10000;
            room_ws_run(f->ws, f->now);
        }
        room_ws_stats_get(f->ws, &st);
        if (st.bytes_pending)
            fail_msg("allocation %ld failing: %lu bytes still pending, %lu polling, %zu sessions", n,
                     (unsigned long)st.bytes_pending, (unsigned long)st.polling_sessions,
                     room_eio_session_count(f->eio));
        fx_free(f);
        if (alloc_count <= n)
            break;
    }
    /* The run without a failure went all the way. */
    assert_true(upgraded);
    printf("allocations on the path: %ld\n", n);
    assert_true(n > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_handshake_json),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_bad_http),
        cmocka_unit_test(test_eio_errors),
        cmocka_unit_test(test_two_gets),
        cmocka_unit_test(test_post_refusals),
        cmocka_unit_test(test_other_mounts),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_probe_gone),
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_never_polled),
        cmocka_unit_test(test_close_all),
        cmocka_unit_test(test_slow_poller),
        cmocka_unit_test(test_idle_memory),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
