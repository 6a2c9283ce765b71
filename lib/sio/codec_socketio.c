/* The Socket.IO v5 codec for one namespace (docs/protocol-socketio.md).
 * Outbound packets are whole Engine.IO message packets ("4" + Socket.IO
 * packet), ready to send; inbound packets arrive without that "4", which
 * the room_eio strips while routing. */
#include <stdlib.h>
#include <string.h>

#include "sio_internal.h"

typedef struct sio_codec {
    room_codec codec;
    /* sio_codec_known_header(): the message the room_eio is delivering
     * and its header, parsed already. */
    const uint8_t *known_bytes;
    sio_header known;
    size_t nsp_len;
    char nsp[];
} sio_codec;

/* ,arg,arg... after whatever opened the array. Placeholders for binary
 * attachments may sit anywhere in any argument: they are the caller's
 * JSON, written as is. */
static int append_args(room_buf *out, json_t *const *argv, size_t argc, bool comma)
{
    size_t i;
    int rc = 0;
    for (i = 0; !rc && i < argc; i++) {
        if (comma || i)
            rc = room_buf_append(out, ",", 1);
        if (!rc)
            rc = room_buf_append_json(out, argv[i]);
    }
    return rc;
}

static int encode_event(const room_codec *codec, room_buf *out, const char *event,
                        json_t *const *argv, size_t argc, int64_t ack_id, size_t attachments)
{
    const sio_codec *c = codec->state;
    int rc = sio_header_write(out, SIO_EVENT, attachments, c->nsp, c->nsp_len, ack_id);
    if (!rc)
        rc = room_buf_append(out, "[", 1);
    if (!rc)
        rc = room_buf_append_json_string(out, event);
    if (!rc)
        rc = append_args(out, argv, argc, true);
    return rc ? rc : room_buf_append(out, "]", 1);
}

/* Connection-state recovery: the offset is the last argument, a string
 * (Socket.IO's SessionAwareAdapter), which the client reads as its
 * _lastOffset. Written here so that no JSON value is built per send. */
static int encode_logged(const room_codec *codec, room_buf *out, const char *event,
                         json_t *const *argv, size_t argc, const char *offset, size_t attachments)
{
    const sio_codec *c = codec->state;
    int rc = sio_header_write(out, SIO_EVENT, attachments, c->nsp, c->nsp_len, -1);
    if (!rc)
        rc = room_buf_append(out, "[", 1);
    if (!rc)
        rc = room_buf_append_json_string(out, event);
    if (!rc)
        rc = append_args(out, argv, argc, true);
    /* Digits need no escaping. */
    if (!rc)
        rc = room_buf_append(out, ",\"", 2);
    if (!rc)
        rc = room_buf_append(out, offset, strlen(offset));
    return rc ? rc : room_buf_append(out, "\"]", 2);
}

static int encode_ack(const room_codec *codec, room_buf *out, int64_t ack_id, json_t *const *argv,
                      size_t argc, size_t attachments)
{
    const sio_codec *c = codec->state;
    int rc;
    if (ack_id < 0)
        return ROOM_EINVAL;
    rc = sio_header_write(out, SIO_ACK, attachments, c->nsp, c->nsp_len, ack_id);
    if (!rc)
        rc = room_buf_append(out, "[", 1);
    if (!rc)
        rc = append_args(out, argv, argc, false);
    return rc ? rc : room_buf_append(out, "]", 1);
}

/* Placeholders must name one of the packet's attachments (a text packet
 * has none), so that handlers can index ev->attachments with `num`
 * unchecked. */
static int check_placeholders(json_t *v, size_t attachments)
{
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach(v, i, child) {
            if (check_placeholders(child, attachments))
                return ROOM_EPROTO;
        }
    } else if (json_is_object(v)) {
        if (json_is_true(json_object_get(v, "_placeholder"))) {
            json_t *num = json_object_get(v, "num");
            return json_is_integer(num) && json_integer_value(num) >= 0 &&
                           (json_int_t)attachments > json_integer_value(num)
                       ? 0
                       : ROOM_EPROTO;
        }
        json_object_foreach(v, key, child) {
            if (check_placeholders(child, attachments))
                return ROOM_EPROTO;
        }
    }
    return 0;
}

static int decode(const room_codec *codec, const uint8_t *bytes, size_t len, room_message *msg)
{
    const sio_codec *c = codec->state;
    sio_header h;
    json_t *root, *name;
    bool event;
    int rc;

    /* The room_eio routed these bytes by their namespace already. */
    if (bytes && bytes == c->known_bytes) {
        h = c->known;
    } else {
        rc = sio_header_parse(bytes, len, &h);
        if (rc)
            return rc;
        if (h.nsp_len != c->nsp_len || memcmp(h.nsp, c->nsp, h.nsp_len) != 0)
            return ROOM_EPROTO;
    }
    event = h.type == SIO_EVENT || h.type == SIO_BINARY_EVENT;
    if ((!event && h.type != SIO_ACK && h.type != SIO_BINARY_ACK) || (!event && h.id < 0) ||
        h.body == len)
        return ROOM_EPROTO;
    /* Any JSON value parses, so that a well-formed non-array is a shape
     * error rather than a syntax error; trailing bytes are rejected. */
    rc = room_json_load(bytes + h.body, len - h.body, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &root);
    if (rc)
        return rc;
    rc = json_is_array(root) ? check_placeholders(root, h.attachments) : ROOM_EPROTO;
    name = json_array_get(root, 0);
    if (!rc && event && (!json_is_string(name) || json_string_length(name) == 0))
        rc = ROOM_EPROTO;
    if (rc) {
        json_decref(root);
        return rc;
    }
    msg->id = h.id;
    msg->attachments = h.attachments;
    if (event) {
        /* The name leaves the array, which then holds just the arguments;
         * the string itself is the owner that keeps msg->event alive. */
        json_incref(name);
        json_array_remove(root, 0);
        msg->type = ROOM_MSG_EVENT;
        msg->event = json_string_value(name);
        msg->owner = name;
    } else {
        msg->type = ROOM_MSG_ACK;
        msg->event = NULL;
        msg->owner = NULL;
    }
    msg->args = root;
    return 0;
}

/* Recovery across nodes: a logged frame ("4" + the packet, the offset its
 * last argument) back into its event and arguments. */
static int decode_logged(const room_codec *codec, const uint8_t *bytes, size_t len,
                         room_message *msg)
{
    size_t n;
    int rc;
    if (len < 1 || bytes[0] != '4')
        return ROOM_EPROTO;
    if ((rc = decode(codec, bytes + 1, len - 1, msg)) != 0)
        return rc;
    n = json_array_size(msg->args);
    if (msg->type != ROOM_MSG_EVENT || n == 0 || !json_is_string(json_array_get(msg->args, n - 1)) ||
        json_array_remove(msg->args, n - 1) != 0) {
        json_decref(msg->args);
        json_decref(msg->owner);
        return ROOM_EPROTO;
    }
    return 0;
}

/* Created before any hub exists, so it uses the C library's malloc rather
 * than a hub allocator. */
int room_codec_socketio_new(room_codec **codec_out, const char *nsp)
{
    sio_codec *c;
    size_t len;

    if (!codec_out)
        return ROOM_EINVAL;
    *codec_out = NULL;
    /* A comma would end the namespace early on the wire. */
    if (!nsp || nsp[0] != '/' || strchr(nsp, ','))
        return ROOM_EINVAL;
    len = strlen(nsp);
    c = malloc(sizeof *c + len + 1);
    if (!c)
        return ROOM_ENOMEM;
    c->codec = (room_codec){
        .size = sizeof(room_codec),
        .name = "socketio",
        .encode_event = encode_event,
        .encode_ack = encode_ack,
        .decode = decode,
        .state = c,
        .encode_logged = encode_logged,
        .decode_logged = decode_logged,
    };
    c->known_bytes = NULL;
    c->nsp_len = len;
    memcpy(c->nsp, nsp, len + 1);
    *codec_out = &c->codec;
    return 0;
}

void sio_codec_known_header(room_codec *codec, const uint8_t *bytes, const sio_header *h)
{
    sio_codec *c = codec->state;
    c->known_bytes = bytes;
    if (h)
        c->known = *h;
}

void room_codec_socketio_free(room_codec *codec)
{
    /* The codec is the first member of its sio_codec. */
    free(codec);
}
