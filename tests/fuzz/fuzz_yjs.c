/* y-websocket (libroom-yjs): the codec and the protocol on a hub. The input
 * is a run of commands for up to four connections, each
 *
 *   <op> <slot> [<len lo> <len hi> <len bytes>]
 *
 * op (mod 6): 0 open in room "a" (slot even) or "b", 1 message (the bytes,
 * a binary WebSocket message of the connection), 2 close, 3 the
 * connection's output drained, 4 the clock moves 6 s (keepalive, storage
 * flush and compaction requests), 5 the bytes through the bare decoder
 * only. Connections the hub asks to close are closed after each command.
 *
 * Checked: every decoded message lies inside its input and the decoder
 * only moves forward; what a message's fields encode to decodes to the same
 * fields; every frame the server sends is binary and decodes whole as
 * y-websocket messages (awareness updates entry by entry); the hub's
 * connection count; at the end, no connections, and nothing allocated
 * through the hub or the layer once both are freed. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "room/yjs.h"

#define SLOTS 4

typedef struct slot {
    room_conn *conn;
    int kicked;
} slot;

static slot slots[SLOTS];
static room_hub *hub;

/* Every message of `b`, checked; returns how many, or -1 at a refusal. */
static int decode_all(const uint8_t *b, size_t len, int outbound)
{
    room_yjs_msg m;
    size_t pos = 0, last = 0;
    int rc, n = 0;
    while ((rc = room_yjs_decode(b, len, &pos, &m)) == 1) {
        FUZZ_CHECK(m.start == last && m.end == pos && pos > last && pos <= len);
        FUZZ_CHECK(m.len <= len && (m.len == 0 || (m.data >= b && m.data + m.len <= b + len)));
        last = pos;
        n++;
        if (m.type == ROOM_YJS_MSG_SYNC) {
            /* The fields again, minimally encoded: the same fields. */
            uint8_t head[2 + ROOM_YJS_VARUINT_MAX], *again = malloc(sizeof head + m.len + 1);
            size_t h = 0, p = 0;
            room_yjs_msg m2;
            head[h++] = 0;
            head[h++] = (uint8_t)m.sync;
            h += room_yjs_write_uint(head + h, m.len);
            memcpy(again, head, h);
            if (m.len)
                memcpy(again + h, m.data, m.len);
            FUZZ_CHECK(room_yjs_decode(again, h + m.len, &p, &m2) == 1 && p == h + m.len);
            FUZZ_CHECK(m2.sync == m.sync && m2.len == m.len && memcmp(m2.data, m.data, m.len) == 0);
            free(again);
        } else if (m.type == ROOM_YJS_MSG_AWARENESS) {
            room_yjs_awareness_entry e;
            uint64_t count, i;
            size_t ap = 0;
            if (room_yjs_awareness_count(m.data, m.len, &ap, &count) != 0) {
                FUZZ_CHECK(!outbound);
                continue;
            }
            for (i = 0; i < count; i++) {
                if (room_yjs_awareness_next(m.data, m.len, &ap, &e) != 0)
                    break;
                FUZZ_CHECK(e.client <= ROOM_YJS_MAX_UINT && e.clock <= ROOM_YJS_MAX_UINT);
            }
            FUZZ_CHECK(!outbound || (i == count && ap == m.len));
        }
    }
    FUZZ_CHECK(rc == 0 || rc == ROOM_EPROTO);
    FUZZ_CHECK(!outbound || rc == 0);
    return rc == 0 ? n : -1;
}

static int on_send(void *transport, room_frame *frame, void *ud)
{
    size_t len;
    const uint8_t *b = room_frame_payload(frame, &len);
    (void)transport, (void)ud;
    FUZZ_CHECK(room_frame_kind(frame) == ROOM_FRAME_BINARY);
    FUZZ_CHECK(decode_all(b, len, 1) >= 1);
    return 0;
}

static void on_close(void *transport, int code, const char *reason, void *ud)
{
    (void)code, (void)reason, (void)ud;
    ((slot *)transport)->kicked = 1;
}

static void close_slot(slot *s)
{
    room_conn_close(hub, s->conn, "fuzz");
    *s = (slot){0};
}

static size_t open_count(void)
{
    size_t n = 0;
    for (int i = 0; i < SLOTS; i++)
        n += slots[i].conn != NULL;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_alloc counts = {0, 0}, layer = {0, 0};
    room_allocator la = fuzz_allocator(&layer);
    room_config cfg;
    room_storage_config st;
    room_yjs_config ycfg;
    room_yjs *yjs;
    uint64_t now = 1;

    fuzz_random_reset();
    room_config_init(&cfg);
    cfg.send = on_send;
    cfg.close = on_close;
    cfg.random = fuzz_random;
    cfg.allocator = fuzz_allocator(&counts);
    FUZZ_CHECK(room_hub_new(&hub, &cfg) == 0);
    room_storage_config_init(&st);
    st.compact_bytes = 256;
    st.max_log_bytes = 1 << 16;
    room_yjs_config_init(&ycfg);
    ycfg.allocator = &la;
    ycfg.storage = &st;
    ycfg.sync_chunk_bytes = 64;
    ycfg.max_awareness_bytes = 256;
    FUZZ_CHECK(room_yjs_new(&yjs, hub, &ycfg) == 0);

    while (size >= 2) {
        unsigned op = data[0] % 6;
        slot *s = &slots[data[1] % SLOTS];
        const uint8_t *arg = NULL;
        size_t len = 0;
        data += 2;
        size -= 2;
        if (op == 1 || op == 5) {
            if (size < 2)
                break;
            len = (size_t)data[0] | (size_t)data[1] << 8;
            data += 2;
            size -= 2;
            if (len > size)
                len = size;
            arg = data;
            data += len;
            size -= len;
        }
        switch (op) {
        case 0:
            if (!s->conn) {
                room_open_args args;
                json_t *hs = json_pack("{s:s}", "name", (s - slots) % 2 ? "b" : "a");
                room_open_args_init(&args);
                args.handshake = hs;
                FUZZ_CHECK(room_conn_open_with(hub, s, &args, &s->conn, NULL) == 0);
                json_decref(hs);
            }
            break;
        case 1:
            if (s->conn) {
                int rc = room_yjs_recv(yjs, s->conn, arg, len);
                /* A refusal asked for the close, and the decoder agrees
                 * about undecodable bytes. */
                FUZZ_CHECK(rc == 0 || s->kicked);
                if (decode_all(arg, len, 0) < 0)
                    FUZZ_CHECK(s->kicked);
            }
            break;
        case 2:
            if (s->conn)
                close_slot(s);
            break;
        case 3:
            if (s->conn)
                room_yjs_drained(yjs, s->conn);
            break;
        case 4:
            now += 6000;
            room_yjs_tick(yjs, now);
            break;
        default:
            decode_all(arg, len, 0);
            break;
        }
        for (int i = 0; i < SLOTS; i++) {
            if (slots[i].conn && slots[i].kicked)
                close_slot(&slots[i]);
        }
        FUZZ_CHECK(room_conn_count(hub) == open_count());
    }
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].conn)
            close_slot(&slots[i]);
    }
    FUZZ_CHECK(room_conn_count(hub) == 0);
    room_yjs_free(yjs);
    FUZZ_CHECK(layer.blocks == 0 && layer.bytes == 0);
    room_hub_free(hub);
    FUZZ_CHECK(counts.blocks == 0 && counts.bytes == 0);
    return 0;
}
