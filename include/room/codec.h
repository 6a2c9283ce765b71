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
#include "room/room.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A growing output buffer. Codecs encode into the hub's; a layer above the
 * core (Socket.IO's own packets) makes its own with room_buf_new(). */
typedef struct room_buf room_buf;
/* A new empty buffer whose memory comes from `alloc` (NULL or all-NULL
 * functions: the C library's). Errors: ROOM_EINVAL, ROOM_ENOMEM. */
ROOM_API int room_buf_new(room_buf **buf_out, const room_allocator *alloc);
/* NULL-safe. Only for buffers from room_buf_new(). */
ROOM_API void room_buf_free(room_buf *buf);
/* Empties the buffer, keeping its memory for the next use. */
ROOM_API void room_buf_reset(room_buf *buf);
/* The bytes appended so far (room_buf_len() of them); valid until the next
 * append or reset. NULL while nothing was ever appended. */
ROOM_API const uint8_t *room_buf_data(const room_buf *buf);
ROOM_API size_t room_buf_len(const room_buf *buf);
/* Appenders: 0, or ROOM_ENOMEM (the buffer keeps what it had). */
ROOM_API int room_buf_append(room_buf *buf, const void *bytes, size_t len);
/* The compact JSON text of `json` (borrowed). */
ROOM_API int room_buf_append_json(room_buf *buf, const json_t *json);
/* `s` (NUL-terminated UTF-8) as a JSON string, escaped as jansson does. */
ROOM_API int room_buf_append_json_string(room_buf *buf, const char *s);
/* `v` in decimal. */
ROOM_API int room_buf_append_int(room_buf *buf, int64_t v);

/* Ack ids must survive a round trip through JavaScript numbers: codecs
 * refuse larger ones (ROOM_EPROTO). */
#define ROOM_MAX_ACK_ID ((int64_t)1 << 53)

/* json_loadb() for decoders, telling jansson's failures apart: returns 0
 * and a new reference in *out, ROOM_EJSON (not JSON, or not what `flags`
 * allow), ROOM_ENOMEM or ROOM_EINVAL (NULL out). */
ROOM_API int room_json_load(const void *bytes, size_t len, size_t flags, json_t **out);

/* Walks strict UTF-8 (RFC 3629: no overlongs, surrogates or values past
 * U+10FFFF) until `len` bytes or `max_units` UTF-16 code units (what
 * JavaScript counts as a string's length) are consumed, stopping before a
 * character that would pass max_units. Sets *bytes_out and *units_out to
 * what was consumed. Returns 0, ROOM_EPROTO (invalid UTF-8 within what was
 * walked) or ROOM_EINVAL. */
ROOM_API int room_utf8_walk(const void *bytes, size_t len, size_t max_units, size_t *bytes_out,
                            size_t *units_out);

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

    /* ---- after ROOM_CODEC_SIZE_MIN: read only from codecs that have them;
     * NULL (or absent) takes the default described. */

    /* Connection-state recovery (room_config.recovery_ms). Appends an
     * event with no ack id that the hub logs, carrying `offset` (decimal
     * digits) so that the client can tell where it is. NULL: the hub calls
     * encode_event with `offset` as one more, last, string argument, which
     * is what Socket.IO does. */
    int (*encode_logged)(const room_codec *codec, room_buf *out, const char *event,
                         json_t *const *argv, size_t argc, const char *offset, size_t attachments);
    /* Appends the message a client gets first when the hub has recovery
     * on, telling it its id, its private id (room_conn_pid()), the offset
     * it starts from (the hub's current one, or for a recovered connection
     * the one it resumed from, before the replay) and whether it was
     * recovered. NULL: nothing is sent
     * (the layer above tells the client, as Socket.IO's CONNECT reply
     * does). */
    int (*encode_open)(const room_codec *codec, room_buf *out, const char *id, const char *pid,
                       const char *offset, int recovered);
    /* Recovery across nodes: parses the payload of a frame this codec made
     * with encode_logged back into its event and arguments, without the
     * offset (the holder of a detached connection hands its missed events
     * to another node). NULL: `decode` reads the payload, and for a codec
     * without encode_logged the last argument (the offset) is dropped. */
    int (*decode_logged)(const room_codec *codec, const uint8_t *bytes, size_t len,
                         room_message *msg);
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
