/* Direct messages to a user (or a connection id) on every node: the
 * adapter's emit_user hook, its message on the request channel, and its
 * application here, counted when the sender counts (internal.h). */
#include <string.h>

#include <msgpack.h>

#include "internal.h"

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

int rr_user_encode(rr_out *out, const char *uid, const char *nsp, const char *to, const char *event,
                   json_t *const *argv, size_t argc, const room_bytes *att, size_t natt,
                   const char *count_id)
{
    msgpack_packer pk;
    int rc = rr_encode_broadcast(out, uid, nsp, event, argv, argc, att, natt, NULL, NULL);
    if (rc)
        return rc;
    /* [uid, packet, opts] starts with its one-byte header (fixarray 3):
     * made four, the tag follows. */
    if (out->len < 1 || out->data[0] != 0x93)
        return ROOM_EPROTO;
    out->data[0] = 0x94;
    msgpack_packer_init(&pk, out, rr_out_write);
    msgpack_pack_map(&pk, count_id ? 3 : 2);
    pack_cstr(&pk, "type");
    msgpack_pack_int(&pk, RR_REQ_EMIT_USER);
    pack_cstr(&pk, "to");
    pack_cstr(&pk, to);
    if (count_id) {
        pack_cstr(&pk, "requestId");
        pack_cstr(&pk, count_id);
    }
    return out->err;
}

void rr_user_release(const room_allocator *a, rr_user_msg *m)
{
    rr_broadcast_release(a, &m->b);
    memset(m, 0, sizeof *m);
}

int rr_user_decode(const room_allocator *a, const uint8_t *bytes, size_t len, rr_user_msg *out)
{
    json_t *tag, *type, *id;
    const char *uid;
    int rc;
    memset(out, 0, sizeof *out);
    /* A msgpack array of four (fixarray): anything else is no such message,
     * and costs no decoding. */
    if (len < 1 || bytes[0] != 0x94)
        return ROOM_EPROTO;
    if ((rc = rr_decode_broadcast(a, bytes, len, &out->b)) != 0)
        return rc;
    tag = json_array_get(out->b.root, 3);
    type = json_object_get(tag, "type");
    id = json_object_get(tag, "requestId");
    uid = out->b.uid;
    out->to = json_string_value(json_object_get(tag, "to"));
    if (!json_is_integer(type) || json_integer_value(type) != RR_REQ_EMIT_USER || !out->to ||
        !*out->to || (id && (!json_is_string(id) || json_string_length(id) > RR_COUNT_ID_MAX)) ||
        (id && strlen(uid) >= sizeof out->count.uid)) {
        rr_user_release(a, out);
        return ROOM_EPROTO;
    }
    if (id) {
        out->counted = true;
        out->count.type = RR_COUNT_DELIVERIES;
        strcpy(out->count.id, json_string_value(id));
        strcpy(out->count.uid, uid);
    }
    return 0;
}

int rr_emit_user(room_adapter *adapter, room_hub *hub, const char *to, const char *event,
                 json_t *const *argv, size_t argc, const room_bytes *att, size_t natt)
{
    rr_adapter *ad = (rr_adapter *)adapter;
    const char *count_id = rr_count_open_id(ad);
    rr_out out;
    int rc;
    (void)hub;
    rr_out_init(&out, &ad->bus->cfg.allocator);
    rc = rr_user_encode(&out, ad->bus->uid, ad->nsp, to, event, argv, argc, att, natt, count_id);
    /* The request channel: every node may hold the user. */
    if (!rc && count_id)
        rr_count_publish(ad, ad->req_chan, out.data, out.len);
    else if (!rc)
        rr_publish(ad->bus, ad->req_chan, strlen(ad->req_chan), out.data, out.len);
    else if (count_id)
        ad->open->partial = true; /* the others were not reached */
    rr_out_release(&out);
    return rc;
}

bool rr_user_request(rr_adapter *ad, const uint8_t *msg, size_t len)
{
    room_redis *bus = ad->bus;
    rr_user_msg m;
    int n = 0, rc = rr_user_decode(&bus->cfg.allocator, msg, len, &m);
    if (rc == ROOM_EPROTO)
        return false;
    if (rc) {
        rr_log(bus, ROOM_LOG_ERROR, "redis: out of memory decoding a request");
        bus->stats.ignored++;
        return true;
    }
    /* Our own (delivered here already; its receipt is the answer PUBLISH
     * counted), or another namespace's: nothing to deliver. */
    if (strcmp(m.b.uid, bus->uid) == 0 || strcmp(m.b.nsp, ad->nsp) != 0) {
        bus->stats.ignored++;
    } else {
        bus->stats.requests++;
        n = room_hub_deliver_remote_user(ad->hub, m.to, m.b.event, m.b.argv, m.b.argc, m.b.att,
                                         m.b.natt);
        if (n < 0)
            rr_log(bus, ROOM_LOG_WARN, "redis: a direct message from %s not delivered: %s", m.b.uid,
                   room_strerror(n));
    }
    if (m.counted)
        rr_count_received(ad, &m.count, n > 0 ? (uint64_t)n : 0);
    rr_user_release(&bus->cfg.allocator, &m);
    return true;
}
