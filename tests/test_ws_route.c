/* The host's HTTP routes (room_ws_route()) without sockets: matching by
 * prefix, the request's accessors, responses (HEAD, 204/304, header
 * checks, the 500 of a handler that does not answer), keep-alive and
 * pipelining, mounts first, and every allocation failing in turn (malloc
 * is wrapped: this test links the libraries statically with -Wl,--wrap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

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

typedef struct fx {
    room_ws *ws;
    room_eio *eio;
    uint64_t now;
    int calls;
    /* What the last handler saw. */
    char method[16], path[256], query[256], accept[256], peer[64], route[32];
    bool has_query, has_accept;
    /* What the handler answers; status 0: nothing. */
    int status;
    const char *type, *headers, *body;
    int rc; /* room_ws_http_respond()'s */
} fx;

static fx F;

static void copy(char *dst, size_t cap, const char *p, size_t n)
{
    snprintf(dst, cap, "%.*s", (int)n, p);
}

static void handler(room_ws_http *req, void *ud)
{
    fx *f = &F;
    const char *p;
    size_t n = 0;

    f->calls++;
    snprintf(f->route, sizeof f->route, "%s", (const char *)ud);
    snprintf(f->method, sizeof f->method, "%s", room_ws_http_method(req));
    p = room_ws_http_path(req, &n);
    copy(f->path, sizeof f->path, p, n);
    p = room_ws_http_query(req, &n);
    f->has_query = p != NULL;
    copy(f->query, sizeof f->query, p ? p : "", p ? n : 0);
    p = room_ws_http_header(req, "accept", &n);
    f->has_accept = p != NULL;
    copy(f->accept, sizeof f->accept, p ? p : "", p ? n : 0);
    snprintf(f->peer, sizeof f->peer, "%s", room_ws_http_peer(req));
    if (f->status)
        f->rc = room_ws_http_respond(req, f->status, f->type, f->headers, f->body, f->body ? strlen(f->body) : 0);
}

static fx *fx_new(void)
{
    room_eio_config ecfg;
    fx *f = &F;

    memset(f, 0, sizeof *f);
    f->now = 1000;
    f->status = 200;
    f->type = "text/plain";
    f->body = "hello";
    assert_int_equal(room_ws_new(&f->ws, NULL), 0);
    room_eio_config_init(&ecfg);
    room_ws_eio_config(f->ws, &ecfg);
    assert_int_equal(room_eio_new(&f->eio, &ecfg, NULL), 0);
    assert_int_equal(room_ws_mount_socketio(f->ws, f->eio), 0);
    assert_int_equal(room_ws_route(f->ws, "/", handler, "root"), 0);
    assert_int_equal(room_ws_route(f->ws, "/healthz", handler, "healthz"), 0);
    assert_int_equal(room_ws_route(f->ws, "/static/", handler, "static"), 0);
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
    inet_pton(AF_INET, "192.0.2.9", &sa.sin_addr);
    assert_int_equal(room_ws_conn_set_peer(c, (struct sockaddr *)&sa, sizeof sa), 0);
    return c;
}

static void put(fx *f, room_ws_conn *c, const char *bytes)
{
    room_ws_conn_input(c, bytes, strlen(bytes), f->now);
}

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
    bool has_length;
} resp;

/* The response at *p, whose body is `body_len` bytes when `with_body`
 * (HEAD: none whatever Content-Length says). */
static resp next_resp(const char **p, bool with_body)
{
    resp r;
    const char *end = strstr(*p, "\r\n\r\n"), *cl;
    memset(&r, 0, sizeof r);
    assert_non_null(end);
    assert_true(strncmp(*p, "HTTP/1.1 ", 9) == 0);
    r.status = atoi(*p + 9);
    memcpy(r.head, *p, (size_t)(end + 2 - *p));
    cl = strstr(r.head, "Content-Length: ");
    r.has_length = cl != NULL;
    r.body_len = cl ? strtoul(cl + 16, NULL, 10) : 0;
    if (with_body) {
        memcpy(r.body, end + 4, r.body_len);
        *p = end + 4 + r.body_len;
    } else {
        *p = end + 4;
    }
    return r;
}

static resp get(fx *f, room_ws_conn *c, const char *method, const char *target, const char *headers)
{
    char text[4096];
    const char *p = out;
    resp r;
    snprintf(text, sizeof text, "%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n", method, target, headers ? headers : "");
    put(f, c, text);
    take(f, c);
    r = next_resp(&p, strcmp(method, "HEAD") != 0);
    assert_int_equal(*p, '\0');
    return r;
}

static bool has(const resp *r, const char *line)
{
    return strstr(r->head, line) != NULL;
}

/* ---- tests ---------------------------------------------------------------- */

/* The longest prefix wins; a prefix without '/' at its end is exact. */
static void test_matching(void **state)
{
    fx *f = fx_new();
    room_ws_conn *c = conn_new(f);
    resp r;
    (void)state;

    r = get(f, c, "GET", "/healthz", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(f->route, "healthz");
    assert_string_equal(r.body, "hello");
    assert_true(has(&r, "Content-Type: text/plain\r\n"));
    assert_true(has(&r, "Content-Length: 5\r\n"));
    assert_false(has(&r, "Connection: close"));
    get(f, c, "GET", "/healthz/x", NULL);
    assert_string_equal(f->route, "root");
    get(f, c, "GET", "/healthzz", NULL);
    assert_string_equal(f->route, "root");
    get(f, c, "GET", "/static/app.js", NULL);
    assert_string_equal(f->route, "static");
    get(f, c, "GET", "/static", NULL);
    assert_string_equal(f->route, "root");
    get(f, c, "GET", "/", NULL);
    assert_string_equal(f->route, "root");
    assert_int_equal(f->calls, 6);
    room_ws_conn_free(c);
    fx_free(f);
}

/* What the handler reads of the request. */
static void test_accessors(void **state)
{
    fx *f = fx_new();
    room_ws_conn *c = conn_new(f);
    (void)state;

    get(f, c, "GET", "/static/a%20b.txt?v=1&x", "ACCEPT:   text/html, */*  \r\nX-A: 1\r\n");
    assert_string_equal(f->method, "GET");
    assert_string_equal(f->path, "/static/a%20b.txt");
    assert_true(f->has_query);
    assert_string_equal(f->query, "v=1&x");
    assert_true(f->has_accept);
    assert_string_equal(f->accept, "text/html, */*");
    assert_string_equal(f->peer, "192.0.2.9");
    get(f, c, "DELETE", "/x", "X-Accept: no\r\n");
    assert_string_equal(f->method, "DELETE");
    assert_false(f->has_query);
    assert_false(f->has_accept);
    get(f, c, "GET", "/x?", NULL);
    assert_true(f->has_query);
    assert_string_equal(f->query, "");
    room_ws_conn_free(c);
    fx_free(f);
}

/* HEAD: the GET's head, Content-Length included, and no body; 204 and 304
 * have no Content-Length and take no body. */
static void test_head_and_bodiless(void **state)
{
    fx *f = fx_new();
    room_ws_conn *c = conn_new(f);
    resp r;
    (void)state;

    r = get(f, c, "HEAD", "/healthz", NULL);
    assert_string_equal(f->method, "HEAD");
    assert_int_equal(r.status, 200);
    assert_true(has(&r, "Content-Length: 5\r\n"));
    /* Nothing after the head: the next request's answer starts at once. */
    r = get(f, c, "GET", "/healthz", NULL);
    assert_string_equal(r.body, "hello");

    f->status = 304;
    f->body = NULL;
    f->headers = "ETag: \"a\"\r\n";
    r = get(f, c, "GET", "/x", NULL);
    assert_int_equal(f->rc, 0);
    assert_int_equal(r.status, 304);
    assert_false(r.has_length);
    assert_true(has(&r, "HTTP/1.1 304 Not Modified\r\n"));
    assert_true(has(&r, "ETag: \"a\"\r\n"));
    f->status = 204;
    r = get(f, c, "GET", "/x", NULL);
    assert_int_equal(r.status, 204);
    assert_false(r.has_length);
    /* A body with them is refused; the handler did not answer: 500. */
    f->body = "no";
    r = get(f, c, "GET", "/x", NULL);
    assert_int_equal(f->rc, ROOM_EINVAL);
    assert_int_equal(r.status, 500);
    assert_true(has(&r, "HTTP/1.1 500 Internal Server Error\r\n"));
    room_ws_conn_free(c);
    fx_free(f);
}

/* Malformed answers are refused, and a handler that gives none gets 500
 * sent for it; a second answer is refused. */
static void answer_twice(room_ws_http *req, void *ud)
{
    int *rc = ud;
    rc[0] = room_ws_http_respond(req, 503, NULL, NULL, "a", 1);
    rc[1] = room_ws_http_respond(req, 200, NULL, NULL, "b", 1);
}

static void test_bad_answers(void **state)
{
    static const struct {
        int status;
        const char *type, *headers;
    } bad[] = {
        {199, NULL, NULL},
        {600, NULL, NULL},
        {200, "text/plain\r\nX-Evil: 1", NULL},
        {200, NULL, "X-A: 1"},
        {200, NULL, "X-A: 1\r\n\r\nX-B: 2\r\n"},
        {200, NULL, "no colon\r\n"},
        {200, NULL, ": empty name\r\n"},
        {200, NULL, "X-A: 1\nX-B: 2\r\n"},
    };
    fx *f = fx_new();
    room_ws_conn *c = conn_new(f);
    int rc[2];
    size_t i;
    resp r;
    (void)state;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f->status = bad[i].status;
        f->type = bad[i].type;
        f->headers = bad[i].headers;
        r = get(f, c, "GET", "/x", NULL);
        assert_int_equal(f->rc, ROOM_EINVAL);
        assert_int_equal(r.status, 500);
        assert_false(has(&r, "X-"));
    }
    f->status = 0;
    r = get(f, c, "GET", "/x", NULL);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body, "internal error\n");

    assert_int_equal(room_ws_route(f->ws, "/twice", answer_twice, rc), 0);
    r = get(f, c, "GET", "/twice", NULL);
    assert_int_equal(rc[0], 0);
    assert_int_equal(rc[1], ROOM_EINVAL);
    assert_int_equal(r.status, 503);
    assert_true(has(&r, "HTTP/1.1 503 Service Unavailable\r\n"));
    assert_string_equal(r.body, "a");

    assert_int_equal(room_ws_route(NULL, "/a", handler, NULL), ROOM_EINVAL);
    assert_int_equal(room_ws_route(f->ws, NULL, handler, NULL), ROOM_EINVAL);
    assert_int_equal(room_ws_route(f->ws, "/a", NULL, NULL), ROOM_EINVAL);
    assert_int_equal(room_ws_route(f->ws, "a", handler, NULL), ROOM_EINVAL);
    assert_int_equal(room_ws_route(f->ws, "/healthz", handler, NULL), ROOM_EINVAL);
    assert_int_equal(room_ws_http_respond(NULL, 200, NULL, NULL, NULL, 0), ROOM_EINVAL);
    assert_null(room_ws_http_method(NULL));
    assert_null(room_ws_http_path(NULL, NULL));
    assert_null(room_ws_http_query(NULL, NULL));
    assert_null(room_ws_http_header(NULL, "a", NULL));
    room_ws_conn_free(c);
    fx_free(f);
}

/* Pipelined requests are answered in order in one go; HTTP/1.0 and
 * Connection: close end the connection after their answer. */
static void test_pipelining(void **state)
{
    fx *f = fx_new();
    room_ws_conn *c = conn_new(f);
    const char *p = out;
    resp r;
    (void)state;

    put(f, c,
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        "HEAD /static/a HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        "GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
    take(f, c);
    r = next_resp(&p, true);
    assert_string_equal(r.body, "hello");
    r = next_resp(&p, false);
    assert_int_equal(r.status, 200);
    assert_true(has(&r, "Content-Length: 5\r\n"));
    r = next_resp(&p, true);
    assert_true(has(&r, "Connection: close\r\n"));
    assert_int_equal(*p, '\0');
    assert_int_equal(f->calls, 3);
    assert_true(room_ws_conn_wants(c) & ROOM_WS_WANT_SHUTDOWN);
    room_ws_conn_free(c);

    c = conn_new(f);
    put(f, c, "GET /healthz HTTP/1.0\r\n\r\n");
    take(f, c);
    p = out;
    r = next_resp(&p, true);
    assert_true(has(&r, "Connection: close\r\n"));
    room_ws_conn_free(c);
    fx_free(f);
}

/* Mounts come first; an upgrade to a route, a request with a body, and
 * a request to no route without a "/" route are refused as before. */
static void test_mounts_first(void **state)
{
    fx *f = fx_new();
    room_ws_conn *c = conn_new(f);
    room_ws *bare;
    resp r;
    (void)state;

    r = get(f, c, "GET", "/socket.io/?EIO=4&transport=polling", NULL);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.body, "0{\"sid\":", 8) == 0);
    assert_int_equal(f->calls, 0);
    room_ws_conn_free(c);

    c = conn_new(f);
    put(f, c,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    take(f, c);
    assert_true(strncmp(out, "HTTP/1.1 400 ", 13) == 0);
    assert_int_equal(f->calls, 0);
    room_ws_conn_free(c);

    c = conn_new(f);
    put(f, c, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    take(f, c);
    assert_true(strncmp(out, "HTTP/1.1 413 ", 13) == 0);
    assert_int_equal(f->calls, 0);
    room_ws_conn_free(c);

    /* Without routes: 400 "unknown path", as always. */
    assert_int_equal(room_ws_new(&bare, NULL), 0);
    assert_int_equal(room_ws_conn_new(bare, NULL, f->now, &c), 0);
    put(f, c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    room_ws_run(bare, f->now);
    {
        struct iovec iov[4];
        size_t n = room_ws_conn_output(c, iov, 4);
        assert_true(n >= 1);
        assert_true(strncmp(iov[0].iov_base, "HTTP/1.1 400 ", 13) == 0);
    }
    room_ws_conn_free(c);
    room_ws_free(bare);
    fx_free(f);
}

/* Shutting down (room_ws_close_all()), routes still answer, each on a
 * connection that then closes, and new sessions are refused with 503
 * (counted as handshake failures). */
static void test_shutting_down(void **state)
{
    fx *f = fx_new();
    room_ws_conn *c;
    room_ws_stats st;
    resp r;
    (void)state;

    room_ws_close_all(f->ws, 1001, "going away");
    c = conn_new(f);
    put(f, c,
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    take(f, c);
    assert_true(strncmp(out, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
    room_ws_conn_free(c);
    c = conn_new(f);
    r = get(f, c, "GET", "/socket.io/?EIO=4&transport=polling", NULL);
    assert_int_equal(r.status, 503);
    room_ws_conn_free(c);
    room_ws_stats_get(f->ws, &st);
    assert_int_equal(st.handshake_failures, 2);
    assert_int_equal(f->calls, 0);

    c = conn_new(f);
    f->status = 503;
    r = get(f, c, "GET", "/healthz", NULL);
    assert_int_equal(r.status, 503);
    assert_true(has(&r, "Connection: close\r\n"));
    assert_true(room_ws_conn_wants(c) & ROOM_WS_WANT_SHUTDOWN);
    room_ws_conn_free(c);
    fx_free(f);
}

/* Every allocation of routing and answering fails in turn: each request
 * gets its answer, a 500, or its connection closed, and nothing leaks
 * (valgrind, ASan). */
static void test_allocation_failures(void **state)
{
    long n;
    bool whole = false;
    (void)state;
    for (n = 0; !whole; n++) {
        fx *f = fx_new();
        room_ws_conn *c = conn_new(f);
        int rc;
        alloc_count = 0;
        alloc_fail_at = n;
        rc = room_ws_route(f->ws, "/new/", handler, "new");
        put(f, c, "GET /new/x HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        take(f, c);
        alloc_fail_at = -1;
        assert_true(rc == 0 || rc == ROOM_ENOMEM);
        if (out[0])
            assert_true(strncmp(out, "HTTP/1.1 200 ", 13) == 0 || strncmp(out, "HTTP/1.1 500 ", 13) == 0 ||
                        strncmp(out, "HTTP/1.1 400 ", 13) == 0);
        whole = rc == 0 && strcmp(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
                                       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello") == 0;
        room_ws_conn_free(c);
        fx_free(f);
    }
    assert_true(n > 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_head_and_bodiless),
        cmocka_unit_test(test_bad_answers),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_mounts_first),
        cmocka_unit_test(test_shutting_down),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
