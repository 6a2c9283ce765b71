/* The Socket.IO v5 codec for one namespace (docs/protocol-socketio.md).
 * Outbound packets are whole Engine.IO message packets ("4" + Socket.IO
 * packet), ready to send; inbound packets arrive without that "4", which
 * the Engine.IO layer (eio.c) strips while routing. */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "room/eio.h"
#include "socketio.h"

typedef struct sio_codec {
    room_codec codec;
    size_t nsp_len;
    char nsp[];
} sio_codec;

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

int rm_sio_parse(const uint8_t *p, size_t len, rm_sio_header *h)
{
    size_t i = 1;

    if (len == 0 || p[0] < '0' || p[0] > '6')
        return ROOM_EPROTO;
    h->type = p[0] - '0';
    h->attachments = 0;
    h->nsp = "/";
    h->nsp_len = 1;
    h->id = -1;
    if (h->type == RM_SIO_BINARY_EVENT || h->type == RM_SIO_BINARY_ACK) {
        size_t n = 0;
        for (; i < len && is_digit(p[i]); i++) {
            n = n * 10 + (size_t)(p[i] - '0');
            if (n > RM_SIO_MAX_ATTACHMENTS)
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
    if (h->type == RM_SIO_EVENT || h->type == RM_SIO_ACK || h->type == RM_SIO_BINARY_EVENT ||
        h->type == RM_SIO_BINARY_ACK) {
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

/* "4" + type [+ attachments "-"] [+ namespace ","] [+ ack id] */
static int append_header(const sio_codec *c, room_buf *out, int type, size_t attachments,
                         int64_t id)
{
    char head[32];
    int n, rc;
    /* Binary variants sit three above their text types (2 -> 5, 3 -> 6). */
    if (attachments)
        n = snprintf(head, sizeof head, "4%d%zu-", type + 3, attachments);
    else
        n = snprintf(head, sizeof head, "4%d", type);
    rc = rm_buf_put(out, head, (size_t)n);
    if (!rc && c->nsp_len > 1) {
        rc = rm_buf_put(out, c->nsp, c->nsp_len);
        if (!rc)
            rc = rm_buf_put(out, ",", 1);
    }
    if (!rc && id >= 0)
        rc = room_buf_append_int(out, id);
    return rc;
}

static int encode_event(const room_codec *codec, room_buf *out, const char *event, json_t *payload,
                        int64_t ack_id, size_t attachments)
{
    const sio_codec *c = codec->state;
    int rc = append_header(c, out, RM_SIO_EVENT, attachments, ack_id);
    if (!rc)
        rc = rm_buf_put(out, "[", 1);
    if (!rc)
        rc = room_buf_append_json_string(out, event);
    if (!rc && payload) {
        rc = rm_buf_put(out, ",", 1);
        if (!rc)
            rc = room_buf_append_json(out, payload);
    }
    return rc ? rc : rm_buf_put(out, "]", 1);
}

static int encode_ack(const room_codec *codec, room_buf *out, int64_t ack_id, json_t *args,
                      size_t attachments)
{
    const sio_codec *c = codec->state;
    int rc;
    if (ack_id < 0 || (args && !json_is_array(args)))
        return ROOM_EINVAL;
    rc = append_header(c, out, RM_SIO_ACK, attachments, ack_id);
    if (rc)
        return rc;
    return args ? room_buf_append_json(out, args) : rm_buf_put(out, "[]", 2);
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
    rm_sio_header h;
    json_t *root, *name;
    bool event;
    int rc;

    rc = rm_sio_parse(bytes, len, &h);
    if (rc)
        return rc;
    event = h.type == RM_SIO_EVENT || h.type == RM_SIO_BINARY_EVENT;
    if ((!event && h.type != RM_SIO_ACK && h.type != RM_SIO_BINARY_ACK) ||
        h.nsp_len != c->nsp_len || memcmp(h.nsp, c->nsp, h.nsp_len) != 0 ||
        (!event && h.id < 0) || h.body == len)
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
    c->codec = (room_codec){"socketio", encode_event, encode_ack, decode, c};
    c->nsp_len = len;
    memcpy(c->nsp, nsp, len + 1);
    *codec_out = &c->codec;
    return 0;
}

void room_codec_socketio_free(room_codec *codec)
{
    /* The codec is the first member of its sio_codec. */
    free(codec);
}
