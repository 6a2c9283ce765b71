/* The Socket.IO v5 packet header, read and written in one place for the
 * codec and the room_eio's own packets (docs/protocol-socketio.md):
 *   <type>[<attachments>-][<namespace>,][<ack id>]<JSON payload> */
#include <stdio.h>

#include "sio_internal.h"

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

int sio_header_parse(const uint8_t *p, size_t len, sio_header *h)
{
    size_t i = 1;

    if (len == 0 || p[0] < '0' || p[0] > '6')
        return ROOM_EPROTO;
    h->type = p[0] - '0';
    h->attachments = 0;
    h->nsp = "/";
    h->nsp_len = 1;
    h->id = -1;
    if (h->type == SIO_BINARY_EVENT || h->type == SIO_BINARY_ACK) {
        size_t n = 0;
        for (; i < len && is_digit(p[i]); i++) {
            n = n * 10 + (size_t)(p[i] - '0');
            if (n > SIO_MAX_ATTACHMENTS)
                return ROOM_EPROTO;
        }
        if (n == 0 || i >= len || p[i] != '-')
            return ROOM_EPROTO;
        h->attachments = n;
        i++;
    }
    /* Socket.IO ends the namespace at a comma, or at the end of a packet
     * without payload ("40/admin"). */
    if (i < len && p[i] == '/') {
        size_t start = i;
        while (i < len && p[i] != ',')
            i++;
        h->nsp = (const char *)p + start;
        h->nsp_len = i - start;
        if (i < len)
            i++;
    }
    if (h->type == SIO_EVENT || h->type == SIO_ACK || h->type == SIO_BINARY_EVENT ||
        h->type == SIO_BINARY_ACK) {
        if (i < len && is_digit(p[i])) {
            int64_t id = 0;
            for (; i < len && is_digit(p[i]); i++) {
                id = id * 10 + (p[i] - '0');
                if (id > ROOM_MAX_ACK_ID)
                    return ROOM_EPROTO;
            }
            h->id = id;
        }
    }
    h->body = i;
    return 0;
}

int sio_header_write(room_buf *out, int type, size_t attachments, const char *nsp, size_t nsp_len,
                     int64_t id)
{
    char head[32];
    int n, rc;
    /* Binary variants sit three above their text types (2 -> 5, 3 -> 6). */
    if (attachments)
        n = snprintf(head, sizeof head, "4%d%zu-", type + 3, attachments);
    else
        n = snprintf(head, sizeof head, "4%d", type);
    rc = room_buf_append(out, head, (size_t)n);
    if (!rc && nsp_len > 1) {
        rc = room_buf_append(out, nsp, nsp_len);
        if (!rc)
            rc = room_buf_append(out, ",", 1);
    }
    if (!rc && id >= 0)
        rc = room_buf_append_int(out, id);
    return rc;
}
