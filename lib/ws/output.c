/* Outbound: frames sealed once with their WebSocket header, queued per
 * connection by reference, and handed to the host as iovecs: everything a
 * loop iteration queued leaves in one writev. */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

/* A server frame header: FIN, opcode, unmasked length (RFC 6455 5.2). */
static size_t header(uint8_t *h, unsigned opcode, uint64_t len)
{
    int i;
    h[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        h[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        return 4;
    }
    h[1] = 127;
    for (i = 0; i < 8; i++)
        h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

size_t rm_ws_seal(const room_frame *frame, uint8_t *h, void *user_data)
{
    size_t len;
    (void)user_data;
    room_frame_payload(frame, &len);
    return header(h, room_frame_kind(frame) == ROOM_FRAME_BINARY ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
                  len);
}

/* The item's wire bytes as iovecs, skipping the first `skip` bytes. Fills
 * at most `max` (iov may be NULL to count); returns how many it takes. */
static size_t item_iov(const rm_ws_item *it, size_t skip, struct iovec *iov, size_t max)
{
    const room_frame *f = it->frame;
    const uint8_t *p;
    size_t n = 0, len;

    for (; it->chunk || f; f = room_frame_next(f)) {
        if (it->chunk) {
            p = it->chunk->bytes;
            len = it->chunk->len;
        } else {
            p = room_frame_wire(f, &len);
        }
        if (skip >= len) {
            skip -= len;
        } else {
            if (n == max)
                return n;
            if (iov)
                iov[n] = (struct iovec){(void *)(p + skip), len - skip};
            n++;
            skip = 0;
        }
        if (it->chunk)
            break;
    }
    return n;
}

static size_t item_bytes(const rm_ws_item *it)
{
    const room_frame *f;
    size_t n = 0, len;
    if (it->chunk)
        return it->chunk->len;
    for (f = it->frame; f; f = room_frame_next(f)) {
        room_frame_wire(f, &len);
        n += len;
    }
    return n;
}

static void account(room_ws_conn *c, size_t bytes)
{
    c->out->pending += bytes;
    c->ws->stats.bytes_pending += bytes;
    c->ws->stats.bytes_queued += bytes;
}

/* Drops the item, of which `done` bytes were already written (and are no
 * longer counted as pending). */
static void item_release(room_ws_conn *c, rm_ws_item *it, size_t done)
{
    size_t n = item_bytes(it) - done;
    c->out->pending -= n;
    c->ws->stats.bytes_pending -= n;
    if (it->chunk)
        free(it->chunk);
    else
        room_frame_unref(it->frame);
}

static int push(room_ws_conn *c, room_frame *frame, rm_ws_chunk *chunk, size_t bytes)
{
    rm_ws_queue *q = c->out;
    if (!q || q->len == q->cap) {
        uint32_t cap = q ? q->cap * 2 : 4;
        if (!(q = realloc(q, sizeof *q + cap * sizeof q->items[0])))
            return ROOM_ENOMEM;
        if (!c->out)
            *q = (rm_ws_queue){0};
        q->cap = cap;
        c->out = q;
    }
    q->items[q->len].frame = frame;
    q->items[q->len].chunk = chunk;
    q->len++;
    account(c, bytes);
    rm_ws_work(c);
    return 0;
}

int rm_ws_send(room_ws_conn *c, room_frame *frame)
{
    room_ws *ws = c->ws;
    const room_frame *f;
    size_t bytes = 0, len;
    bool total_full;

    if (c->state != RM_WS_OPEN)
        return ROOM_ECLOSED;
    for (f = frame; f; f = room_frame_next(f)) {
        if (!room_frame_header_len(f)) {
            room_ws_logf(ws, ROOM_LOG_ERROR, "unsealed frame: configure the hub with room_ws_hub_config()");
            return ROOM_EINVAL;
        }
        room_frame_wire(f, &len);
        bytes += len;
    }
    /* A send may come with a new deadline (an ack); see room_ws_run(). */
    if (!ws->ticking)
        ws->tick_due = true;
    /* Past the engine's total the connection that would pass it is the one
     * treated as slow: whichever it is, closing it frees memory at once. */
    total_full = ws->stats.bytes_pending + bytes > ws->cfg.max_total_queued_bytes;
    if (total_full || rm_ws_pending(c) + bytes > rm_ws_prefix_max_queued(c)) {
        ws->stats.total_full += total_full;
        if (ws->cfg.slow_policy == ROOM_WS_SLOW_DROP) {
            ws->stats.frames_dropped++;
            return 0;
        }
        rm_ws_slow_close(c);
        return ROOM_ECLOSED;
    }
    if (push(c, room_frame_ref(frame), NULL, bytes) != 0) {
        room_frame_unref(frame);
        return ROOM_ENOMEM;
    }
    return 0;
}

int rm_ws_queue_bytes(room_ws_conn *c, const void *bytes, size_t len)
{
    rm_ws_item *last = c->out ? &c->out->items[c->out->len - 1] : NULL;
    rm_ws_chunk *ch;

    /* wslay hands a control frame over in pieces: keep them in one chunk. */
    if (last && last->chunk) {
        ch = realloc(last->chunk, sizeof *ch + last->chunk->len + len);
        if (!ch)
            return ROOM_ENOMEM;
        memcpy(ch->bytes + ch->len, bytes, len);
        ch->len += len;
        last->chunk = ch;
        account(c, len);
        return 0;
    }
    ch = malloc(sizeof *ch + len);
    if (!ch)
        return ROOM_ENOMEM;
    ch->len = len;
    memcpy(ch->bytes, bytes, len);
    if (push(c, NULL, ch, len) != 0) {
        free(ch);
        return ROOM_ENOMEM;
    }
    return 0;
}

int rm_ws_queue_close(room_ws_conn *c, int code, const char *reason)
{
    uint8_t frame[4 + 125];
    size_t n = reason ? strlen(reason) : 0, h;

    /* Only codes that peers accept on the wire (RFC 6455 7.4.1). */
    if (code < 1000 || code > 4999 || (code > 1003 && code < 1007) || (code > 1011 && code < 3000))
        code = ROOM_CLOSE_NORMAL;
    /* A control payload is at most 125 bytes; cut at a UTF-8 boundary. */
    if (n > 123) {
        n = 123;
        while (n && ((uint8_t)reason[n] & 0xc0) == 0x80)
            n--;
    }
    h = header(frame, WSLAY_CONNECTION_CLOSE, 2 + n);
    frame[h] = (uint8_t)(code >> 8);
    frame[h + 1] = (uint8_t)code;
    if (n)
        memcpy(frame + h + 2, reason, n);
    return rm_ws_queue_bytes(c, frame, h + 2 + n);
}

void rm_ws_slow_close(room_ws_conn *c)
{
    c->ws->stats.slow_closes++;
    if (c->flags & RM_WS_CORE) {
        const rm_ws_mount *m = rm_ws_conn_mount(c);
        room_ws_logf(c->ws, ROOM_LOG_WARN, "slow consumer %s closed: %zu bytes unwritten",
                     m->eio ? room_eio_session_id(c->core.session) : room_conn_id(c->core.conn), rm_ws_pending(c));
    }
    /* What has not reached the socket is moot now; the close frame goes
     * right after what has. */
    rm_ws_queue_release(c, true);
    rm_ws_close(c, ROOM_CLOSE_POLICY_VIOLATION, "slow consumer");
}

/* Idle connections keep no queue: that is most of them. */
static void queue_free(room_ws_conn *c)
{
    free(c->out);
    c->out = NULL;
}

void rm_ws_queue_release(room_ws_conn *c, bool keep_partial)
{
    rm_ws_queue *q = c->out;
    uint32_t i, keep;
    if (!q)
        return;
    keep = keep_partial && q->head_off ? 1 : 0;
    /* The head may be partly written: those bytes are no longer pending. */
    for (i = keep; i < q->len; i++)
        item_release(c, &q->items[i], i ? 0 : q->head_off);
    q->len = keep;
    if (!keep)
        queue_free(c);
}

size_t room_ws_conn_output(const room_ws_conn *c, struct iovec *iov, size_t max)
{
    const rm_ws_queue *q = c ? c->out : NULL;
    size_t n = 0;
    uint32_t i;
    if (!q || c->state == RM_WS_DONE)
        return 0;
    for (i = 0; i < q->len && n < max; i++)
        n += item_iov(&q->items[i], i ? 0 : q->head_off, iov ? iov + n : NULL, max - n);
    return n;
}

void room_ws_conn_written(room_ws_conn *c, size_t bytes)
{
    rm_ws_queue *q = c ? c->out : NULL;
    uint32_t i = 0;
    size_t left;

    if (!q || !bytes)
        return;
    while (i < q->len && bytes) {
        left = item_bytes(&q->items[i]) - q->head_off;
        if (bytes < left) {
            q->head_off += (uint32_t)bytes;
            q->pending -= bytes;
            c->ws->stats.bytes_pending -= bytes;
            break;
        }
        bytes -= left;
        item_release(c, &q->items[i++], q->head_off);
        q->head_off = 0;
    }
    q->len -= i;
    if (!q->len) {
        queue_free(c);
        rm_ws_prefix_drained(c);
    } else
        memmove(q->items, q->items + i, q->len * sizeof q->items[0]);
}

int rm_ws_queue_front(room_ws_conn *c, const void *bytes, size_t len)
{
    rm_ws_chunk *ch;
    rm_ws_queue *q;
    rm_ws_item it;

    if (c->out && c->out->head_off)
        return ROOM_EINVAL;
    if (!(ch = malloc(sizeof *ch + len)))
        return ROOM_ENOMEM;
    ch->len = len;
    memcpy(ch->bytes, bytes, len);
    if (push(c, NULL, ch, len) != 0) {
        free(ch);
        return ROOM_ENOMEM;
    }
    q = c->out;
    it = q->items[q->len - 1];
    memmove(q->items + 1, q->items, (q->len - 1) * sizeof q->items[0]);
    q->items[0] = it;
    return 0;
}
