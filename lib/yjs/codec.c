/* The y-websocket wire format: lib0's varUint / varUint8Array and the
 * message envelope of y-websocket and y-protocols (sync, awareness), read
 * strictly: every length is checked against what remains, integers stay
 * within JavaScript's safe range, and a failed read moves nothing. */
#include "room/yjs.h"

int room_yjs_read_uint(const uint8_t *bytes, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    size_t p = *pos;
    unsigned shift = 0;

    if (!bytes || p > len)
        return ROOM_EPROTO;
    /* 8 groups of 7 bits hold 56 bits: enough for 2^53 - 1, and no shift
     * can overflow before the range check. */
    while (p < len && shift < 7 * ROOM_YJS_VARUINT_MAX) {
        uint8_t b = bytes[p++];
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (v > ROOM_YJS_MAX_UINT)
                return ROOM_EPROTO;
            *out = v;
            *pos = p;
            return 0;
        }
    }
    return ROOM_EPROTO;
}

int room_yjs_read_bytes(const uint8_t *bytes, size_t len, size_t *pos, const uint8_t **data,
                        size_t *data_len)
{
    size_t p = *pos;
    uint64_t n;
    if (room_yjs_read_uint(bytes, len, &p, &n) != 0 || n > len - p)
        return ROOM_EPROTO;
    *data = bytes + p;
    *data_len = (size_t)n;
    *pos = p + (size_t)n;
    return 0;
}

size_t room_yjs_write_uint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v > 0x7f) {
        out[n++] = (uint8_t)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

int room_yjs_decode(const uint8_t *bytes, size_t len, size_t *pos, room_yjs_msg *msg)
{
    size_t p;
    if (!bytes || !pos || !msg || *pos > len)
        return ROOM_EPROTO;
    p = *pos;
    if (p == len)
        return 0;
    *msg = (room_yjs_msg){.start = p};
    if (room_yjs_read_uint(bytes, len, &p, &msg->type) != 0)
        return ROOM_EPROTO;
    switch (msg->type) {
    case ROOM_YJS_MSG_SYNC:
        if (room_yjs_read_uint(bytes, len, &p, &msg->sync) != 0 || msg->sync > ROOM_YJS_SYNC_UPDATE ||
            room_yjs_read_bytes(bytes, len, &p, &msg->data, &msg->len) != 0)
            return ROOM_EPROTO;
        break;
    case ROOM_YJS_MSG_AWARENESS:
        if (room_yjs_read_bytes(bytes, len, &p, &msg->data, &msg->len) != 0)
            return ROOM_EPROTO;
        break;
    case ROOM_YJS_MSG_QUERY_AWARENESS:
        msg->data = bytes + p;
        break;
    default:
        /* Auth, or a type from a newer protocol: its length is its own
         * business, so it takes the rest, as y-websocket's reader, which
         * stops at a type it does not know. */
        msg->data = bytes + p;
        msg->len = len - p;
        p = len;
        break;
    }
    msg->end = p;
    *pos = p;
    return 1;
}

int room_yjs_awareness_count(const uint8_t *update, size_t len, size_t *pos, uint64_t *count)
{
    size_t p = *pos;
    uint64_t n;
    if (room_yjs_read_uint(update, len, &p, &n) != 0 || n > (len - p) / 3)
        return ROOM_EPROTO;
    *count = n;
    *pos = p;
    return 0;
}

int room_yjs_awareness_next(const uint8_t *update, size_t len, size_t *pos,
                            room_yjs_awareness_entry *entry)
{
    size_t p = *pos;
    const uint8_t *state;
    if (!entry || room_yjs_read_uint(update, len, &p, &entry->client) != 0 ||
        room_yjs_read_uint(update, len, &p, &entry->clock) != 0 ||
        room_yjs_read_bytes(update, len, &p, &state, &entry->state_len) != 0)
        return ROOM_EPROTO;
    entry->state = (const char *)state;
    *pos = p;
    return 0;
}
