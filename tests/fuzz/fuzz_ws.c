/* The WebSocket engine (room_ws) with its two kinds of mount: Socket.IO at
 * /socket.io/ (namespaces "/" and "/admin") and a JSON hub at /ws, all
 * speaking the rooms protocol. Two connections; the input is a list of
 * steps "<ctl><n><n bytes>", where ctl & 1 names the connection and
 * (ctl >> 1) & 7 the step:
 *
 *   0, 1  these n bytes arrive (so the fuzzer splits the stream anywhere)
 *   2     the clock moves on n * 100 ms
 *   3     the host stops (or resumes) writing this connection's output
 *   4     the peer hangs up (EOF)           5  the socket fails
 *   6     a new connection in a free slot   7  a write of at most n bytes
 *
 * After each step the host runs the engine, serves every ready connection
 * (writes what it wants written unless stopped, frees it on CLOSE) and
 * checks that the first bytes a connection writes are an HTTP response.
 * At the end every connection is freed, and the clock runs out the
 * heartbeat of any polling session: no connections, open sockets,
 * pending bytes or receive states in the engine, no sessions, no
 * connections or rooms in any hub, and after everything is freed nothing
 * left allocated through the hubs. */
#include <string.h>

#include "fuzz.h"
#include "room/protocol.h"
#include "room/ws.h"

#define SLOTS 2

typedef struct slot {
    room_ws_conn *conn;
    int stopped;
    size_t written; /* bytes the host wrote for this connection */
} slot;

typedef struct state {
    room_ws *ws;
    room_eio *eio;
    room_hub *json, *root, *admin;
    slot slots[SLOTS];
    uint64_t now;
} state;

/* Writes up to `budget` bytes of c's output, as a socket that takes them. */
static void write_out(slot *s, size_t budget)
{
    struct iovec iov[8];
    size_t n, i, len = 0;
    while (budget && (n = room_ws_conn_output(s->conn, iov, 8)) > 0) {
        if (s->written == 0 && iov[0].iov_len >= 9)
            FUZZ_CHECK(memcmp(iov[0].iov_base, "HTTP/1.1 ", 9) == 0);
        for (i = 0, len = 0; i < n; i++)
            len += iov[i].iov_len;
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

static void run_engine(state *st)
{
    room_ws_conn *c;
    FUZZ_CHECK(room_ws_run(st->ws, st->now) >= -1);
    while ((c = room_ws_ready(st->ws)) != NULL) {
        slot *s = room_ws_conn_host(c);
        FUZZ_CHECK(s->conn == c);
        serve(s);
    }
}

static void step(state *st, int op, slot *s, const uint8_t *bytes, size_t n)
{
    if (op == 6) {
        if (!s->conn)
            FUZZ_CHECK(room_ws_conn_new(st->ws, s, st->now, &s->conn) == 0);
        return;
    }
    if (op == 2) {
        st->now += (uint64_t)n * 100;
        return;
    }
    if (!s->conn)
        return;
    switch (op) {
    case 0:
    case 1:
        room_ws_conn_input(s->conn, bytes, n, st->now);
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

static void setup(state *st, fuzz_alloc *counts)
{
    room_ws_config wcfg;
    room_eio_config ecfg;
    room_config hcfg;

    room_ws_config_init(&wcfg);
    wcfg.max_queued_bytes = 4096;
    FUZZ_CHECK(room_ws_new(&st->ws, &wcfg) == 0);

    room_config_init(&hcfg);
    hcfg.random = fuzz_random;
    hcfg.allocator = fuzz_allocator(counts);
    hcfg.max_message_bytes = 4096;
    hcfg.max_rooms_per_conn = 4;
    hcfg.max_rooms = 8;
    room_ws_hub_config(st->ws, &hcfg);
    FUZZ_CHECK(room_hub_new(&st->json, &hcfg) == 0);
    FUZZ_CHECK(room_protocol_rooms_register(st->json) == 0);
    FUZZ_CHECK(room_ws_mount_json(st->ws, "/ws", st->json) == 0);

    room_eio_config_init(&ecfg);
    room_ws_eio_config(st->ws, &ecfg);
    ecfg.allocator = fuzz_allocator(counts);
    ecfg.ping_interval_ms = 1000;
    ecfg.ping_timeout_ms = 500;
    ecfg.connect_timeout_ms = 2000;
    hcfg.unknown_events = ROOM_UNKNOWN_IGNORE;
    FUZZ_CHECK(room_eio_new(&st->eio, &ecfg, &hcfg) == 0);
    FUZZ_CHECK(room_eio_namespace(st->eio, "/admin", &hcfg, &st->admin) == 0);
    st->root = room_eio_hub(st->eio, "/");
    FUZZ_CHECK(room_protocol_rooms_register(st->root) == 0);
    FUZZ_CHECK(room_protocol_rooms_register(st->admin) == 0);
    FUZZ_CHECK(room_ws_mount_socketio(st->ws, st->eio) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static state st;
    fuzz_alloc counts = {0, 0};
    room_ws_stats stats;

    memset(&st, 0, sizeof st);
    fuzz_random_reset();
    setup(&st, &counts);
    for (int i = 0; i < SLOTS; i++)
        FUZZ_CHECK(room_ws_conn_new(st.ws, &st.slots[i], st.now, &st.slots[i].conn) == 0);

    while (size >= 2) {
        int ctl = data[0];
        size_t n = data[1] < size - 2 ? data[1] : size - 2;
        step(&st, (ctl >> 1) & 7, &st.slots[ctl & 1], data + 2, n);
        data += 2 + n;
        size -= 2 + n;
        run_engine(&st);
    }

    for (int i = 0; i < SLOTS; i++)
        room_ws_conn_free(st.slots[i].conn);
    /* The Socket.IO mount serves long-polling too (tests/fuzz/fuzz_http.c
     * is its target): a polling session outlives its connections until
     * the heartbeat ends it, a ping interval and a ping timeout later. */
    for (int i = 0; i < 10 && room_eio_session_count(st.eio); i++) {
        st.now += 1000;
        FUZZ_CHECK(room_ws_run(st.ws, st.now) >= -1);
        FUZZ_CHECK(room_ws_ready(st.ws) == NULL);
    }
    FUZZ_CHECK(room_ws_conn_count(st.ws) == 0);
    room_ws_stats_get(st.ws, &stats);
    FUZZ_CHECK(stats.connections == 0 && stats.bytes_pending == 0 && stats.parsers == 0);
    FUZZ_CHECK(room_eio_session_count(st.eio) == 0);
    FUZZ_CHECK(room_conn_count(st.json) == 0 && room_count(st.json) == 0);
    FUZZ_CHECK(room_conn_count(st.root) == 0 && room_count(st.root) == 0);
    FUZZ_CHECK(room_conn_count(st.admin) == 0 && room_count(st.admin) == 0);
    room_ws_free(st.ws);
    room_eio_free(st.eio);
    room_hub_free(st.json);
    FUZZ_CHECK(counts.bytes == 0 && counts.blocks == 0);
    return 0;
}
