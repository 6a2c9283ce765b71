/* The engine's HTTP side: requests (keep-alive, pipelined, cut anywhere)
 * to a Socket.IO mount with long-polling and CORS (/socket.io/), a plain
 * Engine.IO echo mount (/engine.io/) and a JSON hub (/ws), polling
 * sessions and their upgrades, and the host's HTTP routes (/r/ and
 * /h, room_ws_route()). Three connections; the input is a list of
 * steps "<ctl><n>", followed by n bytes for steps 0 and 1, where ctl % 4
 * names the connection (3 is the first) and (ctl >> 2) & 7 the step:
 *
 *   0  these n bytes arrive, with "$S" replaced by the last session id the
 *      server sent in an open packet (so that polls and upgrades can name
 *      a session)
 *   1  these n bytes arrive as they are
 *   2  the clock moves on n * 100 ms
 *   3  the host stops (or resumes) writing this connection's output
 *   4  the peer hangs up (EOF)           5  the socket fails
 *   6  a new connection in a free slot   7  a write of at most n bytes
 *
 * After each step the host runs the engine and serves every ready
 * connection; every response starts with a status line, and the engine's
 * counts stay consistent. At the end every connection is freed and the
 * clock runs until the heartbeat has ended every polling session: then
 * no connections, polling sessions, pending bytes, receive states or
 * sessions are left, and nothing allocated through the hubs once freed. */
#include <string.h>

#include "fuzz.h"
#include "room/protocol.h"
#include "room/ws.h"

#define SLOTS 3

typedef struct slot {
    room_ws_conn *conn;
    int stopped;
    size_t written;
} slot;

typedef struct state {
    room_ws *ws;
    room_eio *sio, *plain;
    room_hub *json, *root;
    slot slots[SLOTS];
    uint64_t now;
    char sid[32];
    size_t sid_len;
} state;

static state st;

/* Remembers the last Engine.IO session id in the output (an open
 * packet's 0{"sid":"..."; Socket.IO's CONNECT answer has one too). */
static void find_sid(const uint8_t *p, size_t len)
{
    static const char key[] = "0{\"sid\":\"";
    size_t i, j;
    /* At the start of a poll's body or packet: after the head's blank
     * line, a record separator or a v3 length. */
    for (i = 1; i + sizeof key - 1 < len; i++) {
        if (memcmp(p + i, key, sizeof key - 1) != 0 || (p[i - 1] != '\n' && p[i - 1] != 0x1e && p[i - 1] != ':'))
            continue;
        i += sizeof key - 1;
        for (j = 0; i + j < len && p[i + j] != '"' && j < sizeof st.sid; j++)
            ;
        if (i + j < len && j < sizeof st.sid) {
            memcpy(st.sid, p + i, j);
            st.sid_len = j;
        }
    }
}

static void write_out(slot *s, size_t budget)
{
    struct iovec iov[8];
    size_t n, i, len;
    while (budget && (n = room_ws_conn_output(s->conn, iov, 8)) > 0) {
        if (s->written == 0 && iov[0].iov_len >= 9)
            FUZZ_CHECK(memcmp(iov[0].iov_base, "HTTP/1.1 ", 9) == 0);
        for (i = 0, len = 0; i < n; i++) {
            find_sid(iov[i].iov_base, iov[i].iov_len);
            len += iov[i].iov_len;
        }
        len = len < budget ? len : budget;
        room_ws_conn_written(s->conn, len);
        s->written += len;
        budget -= len;
    }
}

static void serve(slot *s)
{
    unsigned wants = room_ws_conn_wants(s->conn);
    if (wants & ROOM_WS_WANT_CLOSE) {
        room_ws_conn_free(s->conn);
        memset(s, 0, sizeof *s);
        return;
    }
    if ((wants & ROOM_WS_WANT_WRITE) && !s->stopped)
        write_out(s, SIZE_MAX);
}

static void run_engine(void)
{
    room_ws_conn *c;
    room_ws_stats stats;
    FUZZ_CHECK(room_ws_run(st.ws, st.now) >= -1);
    while ((c = room_ws_ready(st.ws)) != NULL) {
        slot *s = room_ws_conn_host(c);
        FUZZ_CHECK(s->conn == c);
        serve(s);
    }
    room_ws_stats_get(st.ws, &stats);
    FUZZ_CHECK(stats.polling_sessions <= room_eio_session_count(st.sio) + room_eio_session_count(st.plain));
    FUZZ_CHECK(stats.connections <= room_ws_conn_count(st.ws));
}

/* Step 0's bytes, with "$S" made the last session id. */
static void input(slot *s, const uint8_t *bytes, size_t n, int substitute)
{
    uint8_t buf[255 * (sizeof st.sid / 2 + 1)];
    size_t i, len = 0;
    if (!substitute) {
        room_ws_conn_input(s->conn, bytes, n, st.now);
        return;
    }
    for (i = 0; i < n; i++) {
        if (bytes[i] == '$' && i + 1 < n && bytes[i + 1] == 'S') {
            memcpy(buf + len, st.sid, st.sid_len);
            len += st.sid_len;
            i++;
        } else {
            buf[len++] = bytes[i];
        }
    }
    room_ws_conn_input(s->conn, buf, len, st.now);
}

static void step(int op, slot *s, const uint8_t *bytes, size_t n)
{
    if (op == 6) {
        if (!s->conn)
            FUZZ_CHECK(room_ws_conn_new(st.ws, s, st.now, &s->conn) == 0);
        return;
    }
    if (op == 2) {
        st.now += (uint64_t)n * 100;
        return;
    }
    if (!s->conn)
        return;
    switch (op) {
    case 0:
    case 1:
        input(s, bytes, n, op == 0);
        break;
    case 3:
        s->stopped = !s->stopped;
        serve(s);
        break;
    case 4:
        room_ws_conn_eof(s->conn);
        break;
    case 5:
        room_ws_conn_error(s->conn);
        break;
    case 7:
        write_out(s, n);
        break;
    }
}

static void echo(room_eio *eio, room_eio_session *session, int kind, const void *bytes, size_t len, void *ud)
{
    (void)ud;
    room_eio_session_send(eio, session, kind, bytes, len);
}

static int allow_b(const char *origin, size_t len, void *ud)
{
    (void)ud;
    return len == 8 && memcmp(origin, "http://b", 8) == 0;
}

/* A route that reads what a static file server reads (method, path,
 * query, conditional headers) and answers each way one can: a body (HEAD:
 * its head), 304 with an ETag, 204, or nothing (the engine's 500). */
static void route(room_ws_http *req, void *ud)
{
    size_t plen = 0, qlen = 0, ilen = 0;
    const char *p = room_ws_http_path(req, &plen), *inm;
    (void)ud;
    room_ws_http_query(req, &qlen);
    inm = room_ws_http_header(req, "If-None-Match", &ilen);
    room_ws_http_header(req, "Accept", NULL);
    FUZZ_CHECK(room_ws_http_method(req) != NULL && p != NULL && p[0] == '/');
    if (inm && ilen == 3 && memcmp(inm, "\"e\"", 3) == 0)
        FUZZ_CHECK(room_ws_http_respond(req, 304, NULL, "ETag: \"e\"\r\n", NULL, 0) == 0);
    else if (plen > 3 && p[3] == 'n')
        FUZZ_CHECK(room_ws_http_respond(req, 204, NULL, NULL, NULL, 0) == 0);
    else if (!(plen > 3 && p[3] == 'x'))
        FUZZ_CHECK(room_ws_http_respond(req, 200, "text/plain", "ETag: \"e\"\r\n", p, plen) == 0);
}

static void setup(fuzz_alloc *counts)
{
    static const char *const origins[] = {"http://a", NULL};
    room_ws_config wcfg;
    room_ws_mount_config mcfg;
    room_eio_config ecfg;
    room_config hcfg;

    room_ws_config_init(&wcfg);
    wcfg.max_queued_bytes = 4096;
    wcfg.close_timeout_ms = 1000;
    FUZZ_CHECK(room_ws_new(&st.ws, &wcfg) == 0);

    room_config_init(&hcfg);
    hcfg.random = fuzz_random;
    hcfg.allocator = fuzz_allocator(counts);
    hcfg.max_message_bytes = 2048;
    hcfg.max_rooms_per_conn = 4;
    hcfg.max_rooms = 8;
    hcfg.unknown_events = ROOM_UNKNOWN_IGNORE;
    room_ws_hub_config(st.ws, &hcfg);
    FUZZ_CHECK(room_hub_new(&st.json, &hcfg) == 0);
    FUZZ_CHECK(room_protocol_rooms_register(st.json) == 0);

    room_eio_config_init(&ecfg);
    room_ws_eio_config(st.ws, &ecfg);
    ecfg.allocator = fuzz_allocator(counts);
    ecfg.ping_interval_ms = 1000;
    ecfg.ping_timeout_ms = 500;
    ecfg.connect_timeout_ms = 2000;
    ecfg.allow_eio3 = true;
    FUZZ_CHECK(room_eio_new(&st.sio, &ecfg, &hcfg) == 0);
    st.root = room_eio_hub(st.sio, "/");
    FUZZ_CHECK(room_protocol_rooms_register(st.root) == 0);
    ecfg.message = echo;
    FUZZ_CHECK(room_eio_new(&st.plain, &ecfg, &hcfg) == 0);

    room_ws_mount_config_init(&mcfg);
    mcfg.origins = origins;
    mcfg.origin_allowed = allow_b;
    mcfg.credentials = true;
    FUZZ_CHECK(room_ws_mount_socketio_with(st.ws, st.sio, &mcfg) == 0);
    FUZZ_CHECK(room_ws_mount_engineio(st.ws, st.plain, NULL) == 0);
    room_ws_mount_config_init(&mcfg);
    mcfg.path = "/ws";
    mcfg.origins = origins;
    FUZZ_CHECK(room_ws_mount_json_with(st.ws, st.json, &mcfg) == 0);
    FUZZ_CHECK(room_ws_route(st.ws, "/r/", route, NULL) == 0);
    FUZZ_CHECK(room_ws_route(st.ws, "/h", route, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_alloc counts = {0, 0};
    room_ws_stats stats;
    int i;

    memset(&st, 0, sizeof st);
    fuzz_random_reset();
    setup(&counts);
    for (i = 0; i < SLOTS; i++)
        FUZZ_CHECK(room_ws_conn_new(st.ws, &st.slots[i], st.now, &st.slots[i].conn) == 0);

    while (size >= 2) {
        int ctl = data[0], op = (ctl >> 2) & 7;
        size_t n = data[1], take = op > 1 ? 0 : n < size - 2 ? n : size - 2;
        step(op, &st.slots[(ctl & 3) % SLOTS], data + 2, op > 1 ? n : take);
        data += 2 + take;
        size -= 2 + take;
        run_engine();
    }

    for (i = 0; i < SLOTS; i++)
        room_ws_conn_free(st.slots[i].conn);
    /* Polling sessions outlive connections until their heartbeat ends
     * them: at most a ping interval, a ping timeout, a close timeout. */
    for (i = 0; i < 10 && (room_eio_session_count(st.sio) || room_eio_session_count(st.plain)); i++) {
        st.now += 1000;
        FUZZ_CHECK(room_ws_run(st.ws, st.now) >= -1);
        FUZZ_CHECK(room_ws_ready(st.ws) == NULL);
    }
    FUZZ_CHECK(room_ws_conn_count(st.ws) == 0);
    room_ws_stats_get(st.ws, &stats);
    FUZZ_CHECK(stats.connections == 0 && stats.polling_sessions == 0 && stats.bytes_pending == 0 &&
               stats.parsers == 0);
    FUZZ_CHECK(room_eio_session_count(st.sio) == 0 && room_eio_session_count(st.plain) == 0);
    FUZZ_CHECK(room_conn_count(st.json) == 0 && room_count(st.json) == 0);
    FUZZ_CHECK(room_conn_count(st.root) == 0 && room_count(st.root) == 0);
    room_ws_free(st.ws);
    room_eio_free(st.sio);
    room_eio_free(st.plain);
    room_hub_free(st.json);
    FUZZ_CHECK(counts.bytes == 0 && counts.blocks == 0);
    return 0;
}
