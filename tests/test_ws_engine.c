/* The WebSocket engine alone: bytes in, iovecs out, a fake clock, no
 * sockets and no event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "room/presence.h"
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

/* A host built against the 0.2 header (no polling counters) gets exactly
 * the counters it knows: nothing is written past its struct. */
static void test_stats_copy_size(void **state)
{
    engine *e = eng_new();
    room_ws_conn *c;
    size_t old_size = offsetof(room_ws_stats, polling_sessions);
    _Alignas(room_ws_stats) unsigned char buf[sizeof(room_ws_stats) + 8];
    room_ws_stats full;
    size_t i;
    (void)state;

    assert_int_equal(room_ws_conn_new(e->ws, NULL, 0, &c), 0);
    feed(c, UPGRADE("/socket.io/?EIO=4&transport=websocket"), 0);
    room_ws_run(e->ws, 0);
    memset(buf, 0xa5, sizeof buf);
    room_ws_stats_copy(e->ws, (room_ws_stats *)(void *)buf, old_size);
    for (i = old_size; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xa5);
    room_ws_stats_get(e->ws, &full);
    assert_memory_equal(buf, &full, old_size);
    assert_int_equal(full.connections, 1);
    room_ws_conn_free(c);
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

/* A JSON hub at /ws on an engine of its own. */
typedef struct json_engine {
    room_ws *ws;
    room_hub *hub;
} json_engine;

static void json_new(json_engine *j, const room_ws_config *wcfg, const room_config *hub_cfg)
{
    room_config cfg;
    assert_int_equal(room_ws_new(&j->ws, wcfg), 0);
    if (hub_cfg)
        cfg = *hub_cfg;
    else
        room_config_init(&cfg);
    room_ws_hub_config(j->ws, &cfg);
    assert_int_equal(room_hub_new(&j->hub, &cfg), 0);
    assert_int_equal(room_ws_mount_json(j->ws, "/ws", j->hub), 0);
}

static void json_free(json_engine *j)
{
    room_ws_free(j->ws);
    room_hub_free(j->hub);
}

/* An upgraded /ws connection whose 101 is written. */
static room_ws_conn *json_open(json_engine *j, uint64_t now)
{
    room_ws_conn *c;
    char out[1024];
    assert_int_equal(room_ws_conn_new(j->ws, NULL, now, &c), 0);
    feed(c, UPGRADE("/ws"), now);
    room_ws_run(j->ws, now);
    room_ws_conn_written(c, pending(c, out, sizeof out));
    assert_true(strncmp(out, "HTTP/1.1 101", 12) == 0);
    return c;
}

/* A client frame (masked with a zero key, so the payload reads as is). */
static void client_frame(room_ws_conn *c, uint8_t opcode, const char *payload, uint64_t now)
{
    uint8_t f[256] = {(uint8_t)(0x80 | opcode), (uint8_t)(0x80 | strlen(payload)), 0, 0, 0, 0};
    memcpy(f + 6, payload, strlen(payload));
    room_ws_conn_input(c, f, 6 + strlen(payload), now);
}

static unsigned close_code(const char *out, size_t len)
{
    assert_true(len >= 4);
    assert_int_equal((uint8_t)out[0], 0x88);
    return ((unsigned)(uint8_t)out[2] << 8) | (uint8_t)out[3];
}

/* A quiet /ws connection is pinged; a pong (or any frame) keeps it, no
 * answer within pong_timeout_ms closes it with 1008. Socket.IO mounts are
 * left to Engine.IO's heartbeat. */
static void test_keepalive(void **state)
{
    json_engine j;
    room_ws_config wcfg;
    room_eio_config ecfg;
    room_eio *eio;
    room_ws_conn *c, *sio;
    room_ws_stats st;
    char out[1024];
    size_t len;
    (void)state;

    room_ws_config_init(&wcfg);
    wcfg.ping_interval_ms = 1000;
    wcfg.pong_timeout_ms = 500;
    json_new(&j, &wcfg, NULL);
    room_eio_config_init(&ecfg);
    room_ws_eio_config(j.ws, &ecfg);
    assert_int_equal(room_eio_new(&eio, &ecfg, NULL), 0);
    assert_int_equal(room_ws_mount_socketio(j.ws, eio), 0);

    c = json_open(&j, 0);
    assert_int_equal(room_ws_conn_new(j.ws, NULL, 0, &sio), 0);
    feed(sio, UPGRADE("/socket.io/?EIO=4&transport=websocket"), 0);
    room_ws_run(j.ws, 0);
    room_ws_conn_written(sio, pending(sio, out, sizeof out));

    /* The first round finds it just upgraded: no ping yet. */
    assert_int_equal(room_ws_run(j.ws, 0), 1000);
    assert_int_equal(room_ws_run(j.ws, 1000), 500);
    assert_int_equal(room_ws_conn_output(c, NULL, 16), 0);
    assert_int_equal(room_ws_run(j.ws, 1500), 500);
    /* The second finds it quiet. */
    room_ws_run(j.ws, 2000);
    assert_int_equal(pending(c, out, sizeof out), 2);
    assert_int_equal((uint8_t)out[0], 0x89);
    assert_int_equal((uint8_t)out[1], 0x00);
    room_ws_conn_written(c, 2);
    assert_int_equal(room_ws_conn_output(sio, NULL, 16), 0);
    client_frame(c, 0xA, "", 2400); /* the pong */
    room_ws_run(j.ws, 2500);
    assert_int_equal(room_ws_conn_wants(c), 0);

    /* Pinged again two rounds later, and this time silent. */
    room_ws_run(j.ws, 3000);
    assert_int_equal(room_ws_conn_output(c, NULL, 16), 0);
    room_ws_run(j.ws, 4000);
    room_ws_conn_written(c, pending(c, out, sizeof out));
    room_ws_run(j.ws, 4499);
    assert_int_equal(room_ws_conn_wants(c), 0);
    room_ws_run(j.ws, 4500);
    len = pending(c, out, sizeof out);
    assert_int_equal(close_code(out, len), ROOM_CLOSE_POLICY_VIOLATION);
    assert_true(len == 4 + strlen("ping timeout") && memcmp(out + 4, "ping timeout", 12) == 0);
    room_ws_stats_get(j.ws, &st);
    assert_int_equal(st.ping_timeouts, 1);
    assert_int_equal(room_conn_count(j.hub), 0); /* its session has ended */

    /* The Socket.IO connection got no WebSocket ping (Engine.IO pings it
     * every 25 s), and no rounds run when no connection is open. */
    assert_int_equal(room_ws_conn_output(sio, NULL, 16), 0);
    room_ws_conn_free(sio);
    room_ws_conn_free(c);
    /* What remains is the eio's tick for the ping it scheduled at 0, not
     * a round (one would be due within 1000 ms). */
    assert_int_equal(room_ws_run(j.ws, 5000), 25000 - 5000);
    json_free(&j);
    room_eio_free(eio);

    /* ROOM_WS_PING_OFF: never. */
    wcfg.ping_interval_ms = ROOM_WS_PING_OFF;
    json_new(&j, &wcfg, NULL);
    c = json_open(&j, 0);
    assert_int_equal(room_ws_run(j.ws, 100000), -1);
    assert_int_equal(room_ws_conn_output(c, NULL, 16), 0);
    room_ws_conn_free(c);
    json_free(&j);
}

static int broadcast_to(room_ws *ws, room_hub *hub)
{
    json_t *payload = json_string("0123456789012345678901234567890123456789");
    int n = room_broadcast_new(hub, "e", payload, NULL);
    room_ws_run(ws, 0);
    return n;
}

/* max_total_queued_bytes bounds what all connections hold together: the
 * send that would pass it meets slow_policy. */
static void test_total_queue_cap(void **state)
{
    json_engine j;
    room_ws_config wcfg;
    room_ws_conn *a, *b;
    room_ws_stats st;
    size_t frame_len;
    char out[1024];
    int policy;
    (void)state;

    for (policy = ROOM_WS_SLOW_CLOSE; policy <= ROOM_WS_SLOW_DROP; policy++) {
        room_ws_config_init(&wcfg);
        wcfg.slow_policy = policy;
        /* One 65-byte frame fits; two do not. */
        wcfg.max_total_queued_bytes = 100;
        json_new(&j, &wcfg, NULL);
        a = json_open(&j, 0);
        b = json_open(&j, 0);
        broadcast_to(j.ws, j.hub);
        /* 2 + {"event":"e","data":"...40..."} for one of them. */
        frame_len = pending(a, out, sizeof out) + pending(b, out, sizeof out);
        room_ws_stats_get(j.ws, &st);
        assert_int_equal(st.total_full, 1);
        assert_int_equal(st.bytes_pending, frame_len);
        if (policy == ROOM_WS_SLOW_CLOSE) {
            /* The other is closing: only its close frame is queued. */
            assert_int_equal(frame_len, 65 + 2 + 2 + strlen("slow consumer"));
            assert_int_equal(st.slow_closes, 1);
            assert_int_equal(room_conn_count(j.hub), 1);
        } else {
            assert_int_equal(frame_len, 65);
            assert_int_equal(st.frames_dropped, 1);
            assert_int_equal(room_conn_count(j.hub), 2);
        }
        room_ws_conn_free(a);
        room_ws_conn_free(b);
        json_free(&j);
    }
}

static int handled;
static int count_event(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)hub, (void)conn, (void)ev, (void)ud;
    handled++;
    return 0;
}

/* A JSON hub's rate limits refill by the time of each message the engine
 * hands it, with no room_ws_run() in between. */
static void test_rate_limit_clock(void **state)
{
    json_engine j;
    room_config cfg;
    room_ws_conn *c;
    char out[1024];
    (void)state;

    room_config_init(&cfg);
    cfg.rate_messages = 1;
    json_new(&j, NULL, &cfg);
    room_on(j.hub, "m", count_event, NULL);
    handled = 0;
    c = json_open(&j, 1000);
    client_frame(c, 0x1, "{\"event\":\"m\"}", 1000);
    client_frame(c, 0x1, "{\"event\":\"m\"}", 1500);
    assert_int_equal(handled, 1);
    assert_non_null(strstr((pending(c, out, sizeof out), out), "rate_limited"));
    room_ws_conn_written(c, pending(c, out, sizeof out));
    client_frame(c, 0x1, "{\"event\":\"m\"}", 2000);
    assert_int_equal(handled, 2);
    assert_int_equal(room_ws_conn_output(c, NULL, 16), 0);
    room_ws_conn_free(c);
    json_free(&j);
}

static int enter(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ud;
    return room_presence_join(hub, conn, "r", NULL, ev);
}

/* Presence changes made while handling input go out at the engine's next
 * run, batched, without waiting for a hub deadline. */
static void test_presence_flush(void **state)
{
    json_engine j;
    room_presence_config pc;
    room_ws_conn *c;
    char out[1024];
    (void)state;

    json_new(&j, NULL, NULL);
    room_presence_config_init(&pc);
    pc.state_event = "presence";
    assert_int_equal(room_presence_enable(j.hub, &pc), 0);
    room_on(j.hub, "enter", enter, NULL);
    c = json_open(&j, 0);
    client_frame(c, 0x1, "{\"event\":\"enter\"}", 0);
    assert_int_equal(room_ws_conn_output(c, NULL, 16), 0);
    room_ws_run(j.ws, 0);
    memset(out, 0, sizeof out);
    room_ws_conn_written(c, pending(c, out, sizeof out));
    assert_non_null(strstr(out, "\"presence\""));
    room_ws_conn_free(c);
    json_free(&j);
}

/* RFC 9112 2.2, RFC 9110 5.5: a NUL, a bare CR or a bare LF in the request
 * head gets a 400 at once, LF-only line endings included. */
static void test_strict_request(void **state)
{
    static const struct {
        const char *request;
        size_t len;
        const char *reason;
    } cases[] = {
#define CASE(text, reason) {text, sizeof text - 1, reason}
        CASE("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\0y\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             "NUL byte in request\n"),
        CASE("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\nHost: x\nUpgrade: websocket\n"
             "Connection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
             "Sec-WebSocket-Version: 13\n\n",
             "line endings must be CRLF\n"),
        CASE("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\n\r\n",
             "line endings must be CRLF\n"),
        CASE("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\ry\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             "bare CR in request\n"),
#undef CASE
    };
    engine *e = eng_new();
    room_ws_conn *c;
    char out[1024];
    size_t i;
    (void)state;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(room_ws_conn_new(e->ws, NULL, 0, &c), 0);
        room_ws_conn_input(c, cases[i].request, cases[i].len, 1);
        room_ws_run(e->ws, 1);
        assert_int_equal(room_ws_conn_wants(c), ROOM_WS_WANT_WRITE);
        pending(c, out, sizeof out);
        assert_true(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
        assert_string_equal(strstr(out, "\r\n\r\n") + 4, cases[i].reason);
        assert_int_equal(room_eio_session_count(e->eio), 0);
        room_ws_conn_free(c);
    }
    eng_free(e);
}

/* RFC 6455 5.2: a payload length in a longer form than it needs, or with
 * the 64-bit form's top bit set, is a protocol error: close with 1002,
 * before any payload arrives. */
static void test_non_minimal_length(void **state)
{
    static const uint8_t headers[][14] = {
        {0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4},                   /* 5 in the 16-bit form */
        {0x81, 0x80 | 126, 0, 125, 1, 2, 3, 4},                 /* 125 likewise */
        {0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 200, 1, 2, 3, 4}, /* 200 in the 64-bit form */
        {0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4},
        {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4},  /* top bit set */
        {0x89, 0x80 | 126, 0, 3, 1, 2, 3, 4},                   /* a ping too */
    };
    engine *e = eng_new();
    room_ws_conn *c;
    char out[1024];
    size_t i, len;
    (void)state;

    for (i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        size_t hlen = (headers[i][1] & 0x7f) == 126 ? 8 : 14;
        assert_int_equal(room_ws_conn_new(e->ws, NULL, 0, &c), 0);
        feed(c, UPGRADE("/socket.io/?EIO=4&transport=websocket"), 0);
        room_ws_run(e->ws, 0);
        room_ws_conn_written(c, pending(c, out, sizeof out));
        room_ws_conn_input(c, headers[i], hlen, 1);
        room_ws_run(e->ws, 1);
        len = pending(c, out, sizeof out);
        assert_true(len > 4);
        assert_int_equal((uint8_t)out[0], 0x88);
        assert_int_equal(((uint8_t)out[2] << 8) | (uint8_t)out[3], ROOM_CLOSE_PROTOCOL_ERROR);
        room_ws_conn_free(c);
    }
    eng_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upgrade_and_partial_writes),
        cmocka_unit_test(test_free_after_partial_write),
        cmocka_unit_test(test_stats_copy_size),
        cmocka_unit_test(test_refusal),
        cmocka_unit_test(test_handshake_deadline),
        cmocka_unit_test(test_too_big_header),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_total_queue_cap),
        cmocka_unit_test(test_rate_limit_clock),
        cmocka_unit_test(test_presence_flush),
        cmocka_unit_test(test_strict_request),
        cmocka_unit_test(test_non_minimal_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
