/* Inbound: frames parsed by wslay, fed from the host's input.
 *
 * A wslay context embeds a 4 KiB input buffer, too much to keep per idle
 * connection, so a connection borrows one from a per-engine pool only
 * while a message is unfinished. That requires never handing wslay bytes
 * beyond the frame it is parsing (they would stay in its buffer), so the
 * frame header is collected here first (at most 14 bytes, kept in the
 * connection): it tells the frame's length, and exactly that many bytes
 * are fed. Once a frame that ends a message is in, the context is clean
 * and goes back to the pool. wslay does all the checking: masking, opcodes,
 * fragmentation, control frames, UTF-8, the mount's message limit. */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud);
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud);
static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *ud);

static const struct wslay_event_callbacks callbacks = {
    recv_cb, send_cb, NULL, NULL, NULL, NULL, msg_cb,
};

/* Hands wslay the rest of the current frame: the collected header, then
 * payload from the read buffer, never more. */
static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    room_ws *ws = ud;
    room_ws_conn *c = ws->cur;
    size_t n = 0, m;

    (void)flags;
    if (c->state == RM_WS_OPEN) { /* not once a message handler closed it */
        n = c->rx->hdr_len - c->rx->hdr_off;
        if (n > len)
            n = len;
        memcpy(buf, c->rx->hdr + c->rx->hdr_off, n);
        c->rx->hdr_off += (uint8_t)n;
        m = len - n;
        if (m > c->rx->left)
            m = (size_t)c->rx->left;
        if (m > ws->in_len)
            m = ws->in_len;
        memcpy(buf + n, ws->in, m);
        ws->in += m;
        ws->in_len -= m;
        c->rx->left -= m;
        n += m;
    }
    if (!n) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return (ssize_t)n;
}

/* wslay's own frames (pongs, close replies) join the output queue, in order
 * with everything else. */
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud)
{
    room_ws_conn *c = ((room_ws *)ud)->cur;

    (void)flags;
    /* A peer that pings without reading is a slow consumer too. */
    if (rm_ws_pending(c) + len > c->ws->cfg.max_queued_bytes)
        rm_ws_slow_close(c);
    else if (rm_ws_queue_bytes(c, data, len) == 0)
        return (ssize_t)len;
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *ud)
{
    room_ws *ws = ud;
    room_ws_conn *c = ws->cur;
    const rm_ws_mount *m = rm_ws_conn_mount(c);
    int kind;

    (void)ctx;
    /* wslay answers pings and closes itself; pongs need nothing. */
    if (c->state != RM_WS_OPEN || (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME))
        return;
    kind = arg->opcode == WSLAY_TEXT_FRAME ? ROOM_FRAME_TEXT : ROOM_FRAME_BINARY;
    ws->tick_due = true; /* the message may have moved a deadline */
    if (c->flags & RM_WS_PROBE)
        rm_ws_poll_probe_recv(c, kind, arg->msg, arg->msg_length);
    else if (m->eio)
        room_eio_recv(m->eio, c->core.session, kind, arg->msg, arg->msg_length, ws->now);
    else if (m->prefix)
        rm_ws_prefix_recv(c, kind, arg->msg, arg->msg_length);
    else if (!c->core.conn)
        /* Its session is on its way from another node: the client must
         * wait for its "session" message. */
        rm_ws_close(c, ROOM_CLOSE_POLICY_VIOLATION, "message before the session (resume pending)");
    else if (kind == ROOM_FRAME_TEXT) {
        /* The hub's rate limits refill by the time of this message. */
        room_hub_set_time(m->hub, ws->now);
        room_conn_recv(m->hub, c->core.conn, arg->msg, arg->msg_length);
    }
    else
        rm_ws_close(c, RM_WS_CLOSE_UNSUPPORTED_DATA, "binary messages are not supported");
}

/* Header bytes still missing from rx->hdr. */
static size_t header_missing(const room_ws_conn *c)
{
    size_t want = 2;
    if (c->rx->hdr_len >= 2) {
        uint8_t len7 = c->rx->hdr[1] & 0x7f;
        want += (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (c->rx->hdr[1] & 0x80 ? 4 : 0);
    }
    return want - c->rx->hdr_len;
}

static uint64_t header_payload(const uint8_t *h)
{
    uint64_t len = h[1] & 0x7f;
    int i, ext = len == 126 ? 2 : len == 127 ? 8 : 0;
    if (ext) {
        len = 0;
        for (i = 0; i < ext; i++)
            len = len << 8 | h[2 + i];
    }
    return len;
}

static int rx_get(room_ws_conn *c)
{
    room_ws *ws = c->ws;
    rm_ws_rx *rx;
    if (ws->npool) {
        rx = ws->pool[--ws->npool];
    } else {
        if (!(rx = malloc(sizeof *rx)))
            return ROOM_ENOMEM;
        if (wslay_event_context_server_init(&rx->parser, &callbacks, ws) != 0) {
            free(rx);
            return ROOM_ENOMEM;
        }
    }
    /* Pooled parsers serve every mount, each with its own limit. */
    wslay_event_config_set_max_recv_msg_length(rx->parser, rm_ws_conn_mount(c)->max_message);
    rx->left = 0;
    rx->hdr_len = rx->hdr_off = 0;
    c->rx = rx;
    ws->stats.parsers++;
    return 0;
}

static void rx_free(rm_ws_rx *rx)
{
    wslay_event_context_free(rx->parser);
    free(rx);
}

/* Between messages a context holds no state: reuse it. */
static void rx_put(room_ws_conn *c)
{
    room_ws *ws = c->ws;
    if (ws->npool < RM_WS_POOL)
        ws->pool[ws->npool++] = c->rx;
    else
        rx_free(c->rx);
    c->rx = NULL;
    ws->stats.parsers--;
}

void rm_ws_parser_drop(room_ws_conn *c)
{
    if (!c->rx)
        return;
    rx_free(c->rx);
    c->rx = NULL;
    c->ws->stats.parsers--;
}

void rm_ws_pool_free(room_ws *ws)
{
    while (ws->npool)
        rx_free(ws->pool[--ws->npool]);
}

/* What the header alone shows to be wrong (RFC 6455 5.2, 5.4, 5.5, 7.4.1),
 * so the close comes now rather than after the payload; NULL if nothing. */
static const char *header_refusal(const room_ws_conn *c, uint8_t opcode, uint64_t len, int *code)
{
    uint8_t len7 = c->rx->hdr[1] & 0x7f;
    *code = ROOM_CLOSE_PROTOCOL_ERROR;
    /* "The minimal number of bytes MUST be used to encode the length"; wslay
     * notices, but fails without saying so to the peer. */
    if ((len7 == 126 && len < 126) || (len7 == 127 && len <= 0xffff))
        return "payload length not in its minimal form";
    if (len7 == 127 && len >> 63)
        return "payload length with its most significant bit set";
    if (opcode >= WSLAY_CONNECTION_CLOSE) {
        if (!(c->rx->hdr[0] & 0x80))
            return "fragmented control frame";
        if (len > 125)
            return "control frame over 125 bytes";
        if (opcode == WSLAY_CONNECTION_CLOSE && len == 1)
            return "close frame with a one-byte body";
        return NULL;
    }
    *code = ROOM_CLOSE_MESSAGE_TOO_BIG;
    return len > rm_ws_conn_mount(c)->max_message ? "message too big" : NULL;
}

/* The header is complete: start feeding the frame. Returns 0, or -1 when
 * the connection was closed (refused header). */
static int frame_begin(room_ws_conn *c)
{
    uint8_t opcode = c->rx->hdr[0] & 0x0f;
    uint64_t len = header_payload(c->rx->hdr);
    const char *why;
    int code;
    if ((why = header_refusal(c, opcode, len, &code)) != NULL) {
        rm_ws_close(c, code, why);
        return -1;
    }
    c->rx->left = (uint32_t)len; /* at most the mount's max_message, a uint32_t */
    c->rx->hdr_off = 0;
    c->flags |= RM_WS_IN_FRAME;
    /* Control frames may come between the fragments of a message. */
    if (opcode < WSLAY_CONNECTION_CLOSE) {
        if (c->rx->hdr[0] & 0x80)
            c->flags &= ~RM_WS_MSG_OPEN;
        else
            c->flags |= RM_WS_MSG_OPEN;
    }
    return 0;
}

void rm_ws_input(room_ws_conn *c, const uint8_t *p, size_t n)
{
    room_ws *ws = c->ws;
    int r;

    while (n && c->state == RM_WS_OPEN) {
        if (!(c->flags & RM_WS_IN_FRAME)) {
            size_t take;
            if (!c->rx && rx_get(c) != 0) {
                rm_ws_abort(c, "out of memory");
                return;
            }
            take = header_missing(c);
            if (take > n)
                take = n;
            memcpy(c->rx->hdr + c->rx->hdr_len, p, take);
            c->rx->hdr_len += (uint8_t)take;
            p += take;
            n -= take;
            if (header_missing(c))
                continue;
            if (frame_begin(c) != 0)
                return;
        }
        ws->cur = c;
        ws->in = p;
        ws->in_len = n;
        r = wslay_event_recv(c->rx->parser);
        p = ws->in;
        n = ws->in_len;
        if (c->state != RM_WS_OPEN) /* a handler closed it */
            return;
        if (r == WSLAY_ERR_NOMEM) {
            rm_ws_abort(c, "out of memory");
            return;
        }
        /* wslay refused the input, or the peer closed: its close frame is
         * queued in the context. */
        if (!wslay_event_get_read_enabled(c->rx->parser)) {
            const char *why = wslay_event_get_close_received(c->rx->parser) ? "transport close"
                                                                        : "transport error";
            if (wslay_event_send(c->rx->parser) != 0 && c->state == RM_WS_OPEN)
                rm_ws_abort(c, "out of memory");
            rm_ws_closing(c, why);
            return;
        }
        if (wslay_event_want_write(c->rx->parser) && wslay_event_send(c->rx->parser) != 0) {
            if (c->state == RM_WS_OPEN)
                rm_ws_abort(c, "out of memory");
            return;
        }
        if (c->rx->hdr_off < c->rx->hdr_len || c->rx->left)
            return; /* the frame goes on in the next read */
        c->flags &= ~RM_WS_IN_FRAME;
        c->rx->hdr_len = 0;
        if (!(c->flags & RM_WS_MSG_OPEN))
            rx_put(c);
    }
}
