/* Socket.IO v5 packet framing, shared by the codec (codec_socketio.c) and
 * the Engine.IO layer (eio.c) so that both read a packet the same way. Not
 * installed. */
#ifndef ROOM_SOCKETIO_H
#define ROOM_SOCKETIO_H

#include <stddef.h>
#include <stdint.h>

enum {
    RM_SIO_CONNECT = 0,
    RM_SIO_DISCONNECT = 1,
    RM_SIO_EVENT = 2,
    RM_SIO_ACK = 3,
    RM_SIO_CONNECT_ERROR = 4,
    RM_SIO_BINARY_EVENT = 5,
    RM_SIO_BINARY_ACK = 6,
};

/* Binary attachments one inbound packet may announce. */
#define RM_SIO_MAX_ATTACHMENTS 10

/* What precedes a packet's JSON payload:
 * <type>[<attachments>-][<namespace>,][<ack id>] */
typedef struct rm_sio_header {
    int type;
    size_t attachments; /* 1..RM_SIO_MAX_ATTACHMENTS for binary types, else 0 */
    const char *nsp;    /* not NUL-terminated; "/" when the packet has none */
    size_t nsp_len;
    int64_t id;         /* ack id, or -1 */
    size_t body;        /* offset of the payload; the length when there is none */
} rm_sio_header;

/* Parses the header of one Socket.IO packet (without the Engine.IO "4").
 * Ack ids are read for event and ack types only. Returns 0 or ROOM_EPROTO. */
int rm_sio_parse(const uint8_t *p, size_t len, rm_sio_header *h);

#endif
