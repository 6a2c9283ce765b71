/* BINARY_EVENT and BINARY_ACK: the text packet announces N attachments,
 * which arrive as the session's next N binary WebSocket messages. The
 * packet goes to its namespace's hub once all of them are here. */
#include <string.h>

#include "sio_internal.h"

static void binary_free(room_eio *eio, eio_binary *b)
{
    sio_free(&eio->alloc, b->buf);
    sio_free(&eio->alloc, b);
}

/* Leaves the rare part to the session: sio_shut() drops from inside
 * connect handlers too, whose slot may be in it. */
void sio_binary_drop(room_eio *eio, room_eio_session *s)
{
    eio_binary *b = s->rare ? s->rare->binary : NULL;
    if (!b)
        return;
    s->rare->binary = NULL;
    binary_free(eio, b);
}

int sio_binary_start(room_eio *eio, room_eio_session *s, size_t index, room_conn *conn,
                     const sio_header *h, const uint8_t *p, size_t len)
{
    eio_binary *b;
    uint8_t *buf;
    int rc = sio_rare_grow(eio, s, 0);
    if (rc)
        return rc;
    b = sio_malloc(&eio->alloc, sizeof *b);
    buf = b ? sio_malloc(&eio->alloc, len) : NULL;
    if (!buf) {
        sio_free(&eio->alloc, b);
        sio_rare_trim(eio, s);
        return ROOM_ENOMEM;
    }
    memcpy(buf, p, len);
    b->buf = buf;
    b->conn = conn;
    b->header = *h;
    b->len = b->end[0] = len;
    b->nsp = (uint16_t)index;
    b->have = 0;
    s->rare->binary = b;
    return 0;
}

int sio_binary_recv(room_eio *eio, room_eio_session *s, const uint8_t *p, size_t len)
{
    eio_binary *b = s->rare->binary;
    room_bytes att[SIO_MAX_ATTACHMENTS];
    uint8_t *buf;
    size_t i;
    int rc;

    /* maxPayload bounds the packet and its attachments together. */
    if (len > eio->max_payload - b->len) {
        sio_shut(eio, s, ROOM_CLOSE_MESSAGE_TOO_BIG, "attachments exceed maxPayload");
        return ROOM_EPROTO;
    }
    buf = sio_realloc(&eio->alloc, b->buf, b->len, b->len + len);
    if (!buf)
        return ROOM_ENOMEM;
    if (len)
        memcpy(buf + b->len, p, len);
    b->buf = buf;
    b->len += len;
    b->end[++b->have] = b->len;
    if (b->have < b->header.attachments)
        return 0;
    for (i = 0; i < b->have; i++)
        att[i] = (room_bytes){b->buf + b->end[i], b->end[i + 1] - b->end[i]};
    /* Detached first: handlers may close the session. */
    s->rare->binary = NULL;
    rc = sio_deliver(eio, s, b->nsp, b->conn, &b->header, b->buf, b->end[0], att, b->have);
    binary_free(eio, b);
    sio_rare_trim(eio, s);
    return rc;
}
