/* The plain JSON codec for native WebSocket clients (docs/protocol-json.md):
 *   client -> server  {"event": "join", "data": <any>, "id": 7}
 *                     {"ack": 3, "data": <any>}
 *   server -> client  {"event": "result", "data": <any>, "id": 3}
 *                     {"ack": 7, "data": <any>}
 */

#include "internal.h"

static int encode_event(const room_codec *codec, room_buf *out, const char *event, json_t *payload,
                        int64_t ack_id, size_t attachments)
{
    int rc;
    (void)codec;
    if (attachments)
        return ROOM_EINVAL; /* no binary frames in this codec */
    rc = rm_buf_put(out, "{\"event\":", 9);
    if (!rc)
        rc = room_buf_append_json_string(out, event);
    if (!rc && payload) {
        rc = rm_buf_put(out, ",\"data\":", 8);
        if (!rc)
            rc = room_buf_append_json(out, payload);
    }
    if (!rc && ack_id >= 0) {
        rc = rm_buf_put(out, ",\"id\":", 6);
        if (!rc)
            rc = room_buf_append_int(out, ack_id);
    }
    return rc ? rc : rm_buf_put(out, "}", 1);
}

static int encode_ack(const room_codec *codec, room_buf *out, int64_t ack_id, json_t *args,
                      size_t attachments)
{
    size_t n = json_array_size(args);
    int rc;
    (void)codec;
    if (attachments)
        return ROOM_EINVAL;
    rc = rm_buf_put(out, "{\"ack\":", 7);
    if (!rc)
        rc = room_buf_append_int(out, ack_id);
    if (!rc)
        rc = rm_buf_put(out, ",\"data\":", 8);
    if (!rc)
        rc = n ? room_buf_append_json(out, json_array_get(args, 0)) : rm_buf_put(out, "null", 4);
    /* More than one argument: all of them, in order, as well. */
    if (!rc && n > 1) {
        rc = rm_buf_put(out, ",\"args\":", 8);
        if (!rc)
            rc = room_buf_append_json(out, args);
    }
    return rc ? rc : rm_buf_put(out, "}", 1);
}

static int read_id(json_t *v, int64_t *id)
{
    json_int_t n;
    if (!json_is_integer(v))
        return ROOM_EPROTO;
    n = json_integer_value(v);
    if (n < 0 || n > ROOM_MAX_ACK_ID)
        return ROOM_EPROTO;
    *id = n;
    return 0;
}

static int decode(const room_codec *codec, const uint8_t *bytes, size_t len, room_message *msg)
{
    json_t *root, *event, *ack, *data, *id, *args;
    int rc;
    (void)codec;

    if ((rc = room_json_load(bytes, len, JSON_REJECT_DUPLICATES, &root)) != 0)
        return rc;
    event = json_object_get(root, "event");
    ack = json_object_get(root, "ack");
    data = json_object_get(root, "data");
    id = json_object_get(root, "id");
    msg->id = -1;
    msg->attachments = 0;
    if (!json_is_object(root) || (event && ack) || (!event && !ack)) {
        rc = ROOM_EPROTO;
    } else if (event) {
        msg->type = ROOM_MSG_EVENT;
        /* jansson already refuses \u0000, so the name is a plain C string. */
        rc = json_is_string(event) && json_string_length(event) > 0 ? 0 : ROOM_EPROTO;
        if (!rc && id)
            rc = read_id(id, &msg->id);
        msg->event = json_string_value(event);
    } else {
        msg->type = ROOM_MSG_ACK;
        rc = id ? ROOM_EPROTO : read_id(ack, &msg->id);
    }
    args = rc ? NULL : json_array();
    if (!rc && (!args || (data && json_array_append(args, data) != 0)))
        rc = ROOM_ENOMEM;
    if (rc) {
        json_decref(args);
        json_decref(root);
        msg->event = NULL;
        return rc;
    }
    msg->args = args;
    msg->owner = root;
    return 0;
}

static const room_codec json_codec = {"json", encode_event, encode_ack, decode, NULL};

const room_codec *room_codec_json(void)
{
    return &json_codec;
}
