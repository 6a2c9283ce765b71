/* The WebSocket engine alone: bytes in, iovecs out, a fake clock, no
 * sockets and no event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "room/ws.h"

#define UPGRADE(path)                                                                              \
    "GET " path " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"            \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

typedef struct engine {
    room_ws *ws;
    room_eio *eio;
} engine;

static engine *eng_new(void)
{
    static engine e;
    room_eio_config ecfg;
    assert_int_equal(room_ws_new(&e.ws, NULL), 0);
    room_eio_config_init(&ecfg);
    room_ws_eio_config(e.ws, &ecfg);
    assert_int_equal(room_eio_new(&e.eio, &ecfg, NULL), 0);
    assert_int_equal(room_ws_mount_socketio(e.ws, e.eio), 0);
    return &e;
}

static void eng_free(engine *e)
{
    room_ws_free(e->ws);
    room_eio_free(e->eio);
}

/* Everything pending, as one string, without marking it written. */
static size_t pending(room_ws_conn *c, char *out, size_t cap)
{
    struct iovec iov[16];
    size_t n = room_ws_conn_output(c, iov, 16), len = 0, i;
    for (i = 0; i < n && len + iov[i].iov_len < cap; i++) {
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    out[len] = '\0';
    return len;
}

static void feed(room_ws_conn *c, const char *s, uint64_t now)
{
    room_ws_conn_input(c, s, strlen(s), now);
}

/* The 101 and the Engine.IO open packet come out as iovecs; a partial
 * write leaves the rest, in order. */
static void test_upgrade_and_partial_writes(void **state)
{
    engine *e = eng_new();
    room_ws_conn *c;
    char out[1024], rest[1024];
    size_t len;
    (void)state;

    assert_int_equal(room_ws_conn_new(e->ws, e, 1000, &c), 0);
    assert_ptr_equal(room_ws_conn_host(c), e);
    assert_int_equal(room_ws_conn_wants(c), 0);
    feed(c, UPGRADE("/socket.io/?EIO=4&transport=websocket"), 1000);
    assert_true(room_ws_run(e->ws, 1000) >= 0); /* the eio's ping deadline */
    assert_ptr_equal(room_ws_ready(e->ws), c);
    assert_null(room_ws_ready(e->ws));
    assert_int_equal(room_ws_conn_wants(c), ROOM_WS_WANT_WRITE);
    len = pending(c, out, sizeof out);
    assert_true(strncmp(out, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
    assert_non_null(strstr(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert_non_null(strstr(out, "0{\"sid\":"));

    room_ws_conn_written(c, 7);
    assert_int_equal(pending(c, rest, sizeof rest), len - 7);
    assert_string_equal(rest, out + 7);
    room_ws_conn_written(c, len - 7);
    assert_int_equal(room_ws_conn_output(c, NULL, 16), 0);
    assert_int_equal(room_ws_conn_wants(c), 0);
    assert_int_equal(room_eio_session_count(e->eio), 1);
    room_ws_conn_free(c);
    assert_int_equal(room_eio_session_count(e->eio), 0);
    eng_free(e);
}

/* Freeing a connection whose output is partly written drops only what is
 * still pending from the engine's count (found by tests/fuzz, ws target). */
static void test_free_after_partial_write(void **state)
{
    engine *e = eng_new();
    room_ws_conn *c;
    room_ws_stats stats;
    (void)state;

    assert_int_equal(room_ws_conn_new(e->ws, NULL, 0, &c), 0);
    feed(c, UPGRADE("/socket.io/?EIO=4&transport=websocket"), 0);
    room_ws_run(e->ws, 0);
    room_ws_conn_written(c, 7);
    room_ws_stats_get(e->ws, &stats);
    assert_true(stats.bytes_pending > 0);
    room_ws_conn_free(c);
    room_ws_stats_get(e->ws, &stats);
    assert_int_equal(stats.bytes_pending, 0);
    eng_free(e);
}

/* A refused request gets a 400 with its reason, then FIN once written,
 * then the socket closes on the peer's FIN. */
static void test_refusal(void **state)
{
    engine *e = eng_new();
    room_ws_conn *c;
    char out[1024];
    (void)state;

    assert_int_equal(room_ws_conn_new(e->ws, NULL, 0, &c), 0);
    feed(c, UPGRADE("/nowhere"), 5);
    room_ws_run(e->ws, 5);
    assert_ptr_equal(room_ws_ready(e->ws), c);
    assert_int_equal(room_ws_conn_wants(c), ROOM_WS_WANT_WRITE);
    room_ws_conn_written(c, pending(c, out, sizeof out));
    assert_true(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
    assert_non_null(strstr(out, "\r\n\r\nunknown path\n"));
    assert_int_equal(room_ws_conn_wants(c), ROOM_WS_WANT_SHUTDOWN);
    assert_int_equal(room_ws_conn_wants(c), 0); /* reported once */
    room_ws_conn_eof(c);
    assert_int_equal(room_ws_conn_wants(c), ROOM_WS_WANT_CLOSE);
    room_ws_conn_free(c);
    assert_int_equal(room_ws_conn_count(e->ws), 0);
    eng_free(e);
}

/* The deadlines run on the host's clock: a request that does not finish
 * within handshake_timeout_ms is cut when the clock says so. */
static void test_handshake_deadline(void **state)
{
    engine *e = eng_new();
    room_ws_conn *c;
    (void)state;

    assert_int_equal(room_ws_conn_new(e->ws, NULL, 100, &c), 0);
    feed(c, "GET /socket.io/ HTTP/1.1\r\n", 200);
    assert_int_equal(room_ws_run(e->ws, 200), 10000 - 100);
    assert_null(room_ws_ready(e->ws));
    room_ws_run(e->ws, 100 + 10000);
    assert_ptr_equal(room_ws_ready(e->ws), c);
    assert_int_equal(room_ws_conn_wants(c), ROOM_WS_WANT_CLOSE);
    room_ws_conn_free(c);
    eng_free(e);
}

/* A frame header announcing more than the hub's max_message_bytes is refused with 1009
 * before its payload arrives. */
static void test_too_big_header(void **state)
{
    engine *e = eng_new();
    room_ws_conn *c;
    char out[1024];
    const uint8_t big[] = {0x81, 0xff, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4};
    size_t len;
    (void)state;

    assert_int_equal(room_ws_conn_new(e->ws, NULL, 0, &c), 0);
    feed(c, UPGRADE("/socket.io/?EIO=4&transport=websocket"), 0);
    room_ws_run(e->ws, 0);
    room_ws_conn_written(c, pending(c, out, sizeof out));
    room_ws_conn_input(c, big, sizeof big, 1);
    room_ws_run(e->ws, 1);
    len = pending(c, out, sizeof out);
    /* Close frame: FIN+close, length, code 1009, reason. */
    assert_true(len > 4);
    assert_int_equal((uint8_t)out[0], 0x88);
    assert_int_equal(((uint8_t)out[2] << 8) | (uint8_t)out[3], ROOM_CLOSE_MESSAGE_TOO_BIG);
    room_ws_conn_free(c);
    eng_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upgrade_and_partial_writes),
        cmocka_unit_test(test_free_after_partial_write),
        cmocka_unit_test(test_refusal),
        cmocka_unit_test(test_handshake_deadline),
        cmocka_unit_test(test_too_big_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
