/*
 * libroom: the codec seam. A codec turns (event, payload, ack id) into wire
 * bytes and inbound wire bytes into the same. Codecs are pure: no I/O, no
 * clock, no global state. A hub uses one codec for all its connections, so
 * that every broadcast is encoded exactly once.
 */
#ifndef ROOM_CODEC_H
#define ROOM_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "room/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A growing output buffer owned by the hub. */
typedef struct room_buf room_buf;
/* Appends bytes; ROOM_ENOMEM on failure (the buffer keeps what it had). */
ROOM_API int room_buf_append(room_buf *buf, const void *bytes, size_t len);
/* Appends the compact JSON text of `json` (borrowed). */
ROOM_API int room_buf_append_json(room_buf *buf, const json_t *json);
ROOM_API size_t room_buf_len(const room_buf *buf);

enum { ROOM_MSG_EVENT = 1, ROOM_MSG_ACK = 2 };

/* One decoded inbound message. The codec fills it; the hub releases it. */
typedef struct room_message {
    int type;           /* ROOM_MSG_EVENT or ROOM_MSG_ACK */
    const char *event;  /* EVENT: its name, borrowed from `owner` */
    json_t *args;       /* new reference: JSON array of arguments */
    json_t *owner;      /* new reference or NULL: keeps `event` alive */
    int64_t id;         /* ack id, or -1 */
    size_t attachments; /* binary attachments announced (Socket.IO) */
} room_message;

typedef struct room_codec room_codec;
/*
 * A codec is a table the host may have built against an older header, so it
 * starts with its own size: the hub refuses a codec whose size is below
 * ROOM_CODEC_SIZE_MIN and never reads a member past `size`. Members added
 * later go at the end.
 *
 * Arguments travel as `argv`/`argc` (borrowed, none NULL) so that a send with
 * one payload passes `&payload, 1` and allocates nothing. `attachments`
 * binary frames follow the encoded message (0 for text-only messages); their
 * placeholders may sit in any argument.
 */
struct room_codec {
    size_t size; /* sizeof(struct room_codec) the codec was built with */
    const char *name;
    /* Appends one event with `argc` arguments. ack_id >= 0 asks the client
     * for an acknowledgement. */
    int (*encode_event)(const room_codec *codec, room_buf *out, const char *event,
                        json_t *const *argv, size_t argc, int64_t ack_id, size_t attachments);
    /* Appends the acknowledgement of `ack_id` carrying `argc` arguments. */
    int (*encode_ack)(const room_codec *codec, room_buf *out, int64_t ack_id, json_t *const *argv,
                      size_t argc, size_t attachments);
    /* Parses one complete inbound message. Returns 0, ROOM_EJSON (not
     * valid JSON), ROOM_EPROTO (valid but of the wrong shape) or
     * ROOM_ENOMEM; on error `msg` holds no references. */
    int (*decode)(const room_codec *codec, const uint8_t *bytes, size_t len, room_message *msg);
    void *state;
};

/* The smallest codec table a hub accepts: the layout above, the first one
 * that carried `size`. */
#define ROOM_CODEC_SIZE_MIN (offsetof(struct room_codec, state) + sizeof(void *))

/* The plain JSON codec (docs/protocol-json.md). Static; never freed. */
ROOM_API const room_codec *room_codec_json(void);

#ifdef __cplusplus
}
#endif

#endif
