/* The plain JSON codec for native WebSocket clients (docs/protocol-json.md):
 *   client -> server  {"event": "join", "data": <any>, "id": 7}
 *                     {"event": "move", "args": [<any>, <any>, ...]}
 *                     {"ack": 3, "data": <any>}
 *   server -> client  {"event": "result", "data": <any>, "id": 3}
 *                     {"ack": 7, "data": <any>}
 * A message with more than one argument carries its first as "data", as
 * every message does, and all of them in order as "args", so that clients
 * reading only "data" keep working.
 */

#include "internal.h"

/* ,"data":first[,"args":[all]] for argc >= 1. */
static int append_args(room_buf *out, json_t *const *argv, size_t argc)
{
    size_t i;
    int rc = rm_buf_put(out, ",\"data\":", 8);
    if (!rc)
        rc = room_buf_append_json(out, argv[0]);
    if (rc || argc == 1)
        return rc;
    rc = rm_buf_put(out, ",\"args\":[", 9);
    for (i = 0; !rc && i < argc; i++) {
        if (i)
            rc = rm_buf_put(out, ",", 1);
        if (!rc)
            rc = room_buf_append_json(out, argv[i]);
    }
    return rc ? rc : rm_buf_put(out, "]", 1);
}

/* {"event":..[,"data":..[,"args":[..]]] without its closing brace. */
static int open_event(room_buf *out, const char *event, json_t *const *argv, size_t argc,
                      size_t attachments)
{
    int rc;
    if (attachments)
        return ROOM_EINVAL; /* no binary frames in this codec */
    rc = rm_buf_put(out, "{\"event\":", 9);
    if (!rc)
        rc = room_buf_append_json_string(out, event);
    if (!rc && argc)
        rc = append_args(out, argv, argc);
    return rc;
}

static int encode_event(const room_codec *codec, room_buf *out, const char *event,
                        json_t *const *argv, size_t argc, int64_t ack_id, size_t attachments)
{
    int rc = open_event(out, event, argv, argc, attachments);
    (void)codec;
    if (!rc && ack_id >= 0) {
        rc = rm_buf_put(out, ",\"id\":", 6);
        if (!rc)
            rc = room_buf_append_int(out, ack_id);
    }
    return rc ? rc : rm_buf_put(out, "}", 1);
}

/* Recovery: {"event":..,"data":..,"offset":"<n>"}. The offset is a string,
 * as Socket.IO's are, so that clients treat it as an opaque token. */
static int encode_logged(const room_codec *codec, room_buf *out, const char *event,
                         json_t *const *argv, size_t argc, const char *offset, size_t attachments)
{
    int rc = open_event(out, event, argv, argc, attachments);
    (void)codec;
    /* Digits need no escaping. */
    if (!rc)
        rc = rm_buf_put(out, ",\"offset\":\"", 11);
    if (!rc)
        rc = rm_buf_put(out, offset, strlen(offset));
    return rc ? rc : rm_buf_put(out, "\"}", 2);
}

/* Recovery: the first message,
 * {"event":"session","data":{"id":..,"pid":..,"offset":..,"recovered":..}}. */
static int encode_open(const room_codec *codec, room_buf *out, const char *id, const char *pid,
                       const char *offset, int recovered)
{
    int rc = rm_buf_put(out, "{\"event\":\"session\",\"data\":{\"id\":", 32);
    (void)codec;
    if (!rc)
        rc = room_buf_append_json_string(out, id);
    if (!rc)
        rc = rm_buf_put(out, ",\"pid\":", 7);
    if (!rc)
        rc = room_buf_append_json_string(out, pid);
    if (!rc)
        rc = rm_buf_put(out, ",\"offset\":", 10);
    if (!rc)
        rc = room_buf_append_json_string(out, offset);
    if (!rc)
        rc = recovered ? rm_buf_put(out, ",\"recovered\":true}}", 19)
                       : rm_buf_put(out, ",\"recovered\":false}}", 20);
    return rc;
}

static int encode_ack(const room_codec *codec, room_buf *out, int64_t ack_id, json_t *const *argv,
                      size_t argc, size_t attachments)
{
    int rc;
    (void)codec;
    if (attachments)
        return ROOM_EINVAL;
    rc = rm_buf_put(out, "{\"ack\":", 7);
    if (!rc)
        rc = room_buf_append_int(out, ack_id);
    /* An ack always has "data", null when it has no argument. */
    if (!rc)
        rc = argc ? append_args(out, argv, argc) : rm_buf_put(out, ",\"data\":null", 12);
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

/* The arguments: "args" when present (then "data", if given too, must be
 * its first element, as the server writes them), else "data" alone. */
static int read_args(json_t *root, json_t **out)
{
    json_t *data = json_object_get(root, "data");
    json_t *args = json_object_get(root, "args");
    if (args) {
        if (!json_is_array(args) || (data && !json_equal(data, json_array_get(args, 0))))
            return ROOM_EPROTO;
        *out = json_incref(args);
        return 0;
    }
    *out = json_array();
    if (!*out || (data && json_array_append(*out, data) != 0)) {
        json_decref(*out);
        *out = NULL;
        return ROOM_ENOMEM;
    }
    return 0;
}

static int decode(const room_codec *codec, const uint8_t *bytes, size_t len, room_message *msg)
{
    json_t *root, *event, *ack, *id, *args = NULL;
    int rc;
    (void)codec;

    if ((rc = room_json_load(bytes, len, JSON_REJECT_DUPLICATES, &root)) != 0)
        return rc;
    event = json_object_get(root, "event");
    ack = json_object_get(root, "ack");
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
    if (!rc)
        rc = read_args(root, &args);
    if (rc) {
        json_decref(root);
        msg->event = NULL;
        return rc;
    }
    msg->args = args;
    msg->owner = root;
    return 0;
}

static const room_codec json_codec = {
    sizeof(room_codec), "json", encode_event, encode_ack, decode, NULL, encode_logged, encode_open,
    NULL, /* decode_logged: decode ignores "offset" */
};

const room_codec *room_codec_json(void)
{
    return &json_codec;
}
