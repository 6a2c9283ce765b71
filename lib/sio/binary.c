/* BINARY_EVENT and BINARY_ACK: the text packet announces N attachments,
 * which arrive as the session's next N binary WebSocket messages. The
 * packet goes to its namespace's hub once all of them are here. */
#include <string.h>

#include "sio_internal.h"

void sio_binary_drop(room_eio *eio, room_eio_session *s)
{
    eio_binary *b = s->binary;
    if (!b)
        return;
    s->binary = NULL;
    sio_free(&eio->alloc, b->buf);
    sio_free(&eio->alloc, b);
}

int sio_binary_start(room_eio *eio, room_eio_session *s, size_t index, room_conn *conn,
                     const sio_header *h, const uint8_t *p, size_t len)
{
    eio_binary *b = sio_malloc(&eio->alloc, sizeof *b);
    if (!b)
        return ROOM_ENOMEM;
    b->buf = sio_malloc(&eio->alloc, len);
    if (!b->buf) {
        sio_free(&eio->alloc, b);
        return ROOM_ENOMEM;
    }
    memcpy(b->buf, p, len);
    b->conn = conn;
    b->header = *h;
    b->len = b->end[0] = len;
    b->nsp = (uint16_t)index;
    b->have = 0;
    s->binary = b;
    return 0;
}

int sio_binary_recv(room_eio *eio, room_eio_session *s, const uint8_t *p, size_t len)
{
    eio_binary *b = s->binary;
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
    s->binary = NULL;
    rc = sio_deliver(eio, s, b->nsp, b->conn, &b->header, b->buf, b->end[0], att, b->have);
    sio_free(&eio->alloc, b->buf);
    sio_free(&eio->alloc, b);
    return rc;
}
