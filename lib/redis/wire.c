/* The Socket.IO Redis adapter's wire: msgpack broadcasts, JSON requests. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "internal.h"

/* ---- output ---------------------------------------------------------------- */

void rr_out_init(rr_out *out, const room_allocator *alloc)
{
    memset(out, 0, sizeof *out);
    out->alloc = alloc;
}

void rr_out_release(rr_out *out)
{
    rr_free(out->alloc, out->data);
    out->data = NULL;
    out->len = out->cap = 0;
}

static int out_write(void *data, const char *buf, size_t len)
{
    rr_out *out = data;
    if (out->err)
        return -1;
    if (len > out->cap - out->len) {
        size_t cap = out->cap ? out->cap : 256;
        uint8_t *grown;
        while (cap - out->len < len)
            cap *= 2;
        if (!(grown = rr_malloc(out->alloc, cap))) {
            out->err = ROOM_ENOMEM;
            return -1;
        }
        if (out->len)
            memcpy(grown, out->data, out->len);
        rr_free(out->alloc, out->data);
        out->data = grown;
        out->cap = cap;
    }
    memcpy(out->data + out->len, buf, len);
    out->len += len;
    return 0;
}

int rr_out_write(void *data, const char *buf, size_t len)
{
    return out_write(data, buf, len);
}

static void pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    pack_str(pk, s, strlen(s));
}

/* {"_placeholder": true, "num": i} with i < natt: the attachment. */
static const room_bytes *placeholder(json_t *v, const room_bytes *att, size_t natt)
{
    json_t *num;
    json_int_t i;
    if (json_object_size(v) != 2 || !json_is_true(json_object_get(v, "_placeholder")) ||
        !json_is_integer(num = json_object_get(v, "num")))
        return NULL;
    i = json_integer_value(num);
    return i >= 0 && (size_t)i < natt ? &att[i] : NULL;
}

static void pack_json(msgpack_packer *pk, json_t *v, const room_bytes *att, size_t natt)
{
    const room_bytes *b;
    const char *key;
    json_t *item;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if ((b = placeholder(v, att, natt)) != NULL) {
            msgpack_pack_bin(pk, b->len);
            msgpack_pack_bin_body(pk, b->data, b->len);
            break;
        }
        msgpack_pack_map(pk, json_object_size(v));
        json_object_foreach(v, key, item) {
            pack_cstr(pk, key);
            pack_json(pk, item, att, natt);
        }
        break;
    case JSON_ARRAY:
        msgpack_pack_array(pk, json_array_size(v));
        json_array_foreach(v, i, item) {
            pack_json(pk, item, att, natt);
        }
        break;
    case JSON_STRING:
        pack_str(pk, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(v));
        break;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        break;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        break;
    default:
        msgpack_pack_nil(pk);
        break;
    }
}

static int encode_broadcast(rr_out *out, const char *uid, const char *nsp, const char *event,
                            json_t *const *argv, size_t argc, const room_bytes *att, size_t natt,
                            const char *room, const char *except_id, const char *count_id)
{
    msgpack_packer pk;
    size_t i;
    msgpack_packer_init(&pk, out, out_write);
    msgpack_pack_array(&pk, count_id ? 4 : 3);
    pack_cstr(&pk, uid);
    /* The packet: EVENT also with binary arguments, as Socket.IO's
     * broadcast() publishes it (its encoder picks BINARY_EVENT later). */
    msgpack_pack_map(&pk, 3);
    pack_cstr(&pk, "type");
    msgpack_pack_int(&pk, 2);
    pack_cstr(&pk, "data");
    msgpack_pack_array(&pk, argc + 1);
    pack_cstr(&pk, event);
    for (i = 0; i < argc; i++)
        pack_json(&pk, argv[i], att, natt);
    pack_cstr(&pk, "nsp");
    pack_cstr(&pk, nsp);
    msgpack_pack_map(&pk, 3);
    pack_cstr(&pk, "rooms");
    msgpack_pack_array(&pk, room ? 1 : 0);
    if (room)
        pack_cstr(&pk, room);
    pack_cstr(&pk, "except");
    msgpack_pack_array(&pk, except_id ? 1 : 0);
    if (except_id)
        pack_cstr(&pk, except_id);
    pack_cstr(&pk, "flags");
    msgpack_pack_map(&pk, 0);
    if (count_id) {
        msgpack_pack_map(&pk, 2);
        pack_cstr(&pk, "type");
        msgpack_pack_int(&pk, RR_COUNT_DELIVERIES);
        pack_cstr(&pk, "requestId");
        pack_cstr(&pk, count_id);
    }
    return out->err;
}

int rr_encode_broadcast(rr_out *out, const char *uid, const char *nsp, const char *event,
                        json_t *const *argv, size_t argc, const room_bytes *att, size_t natt,
                        const char *room, const char *except_id)
{
    return encode_broadcast(out, uid, nsp, event, argv, argc, att, natt, room, except_id, NULL);
}

int rr_encode_broadcast_counted(rr_out *out, const char *uid, const char *nsp, const char *event,
                                json_t *const *argv, size_t argc, const room_bytes *att,
                                size_t natt, const char *room, const char *except_id,
                                const char *count_id)
{
    return encode_broadcast(out, uid, nsp, event, argv, argc, att, natt, room, except_id, count_id);
}

/* ---- input checks -------------------------------------------------------------- */

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    while (n--)
        v = (v << 8) | *p++;
    return v;
}

bool rr_msgpack_check(const uint8_t *p, size_t len)
{
    uint64_t pending[RR_MAX_DEPTH + 1];
    size_t depth = 0, pos = 0;
    pending[0] = 1;
    while (depth > 0 || pending[0] > 0) {
        uint8_t c;
        uint64_t items = 0, skip = 0;
        size_t head = 0;
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        if (pos >= len)
            return false;
        pending[depth]--;
        c = p[pos++];
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
            continue;
        /* A container takes a level of msgpack-c's stack even when empty. */
        if ((c <= 0x9f || (c >= 0xdc && c <= 0xdf)) && depth == RR_MAX_DEPTH)
            return false;
        if (c <= 0x8f) {
            items = 2u * (c & 0x0f);
        } else if (c <= 0x9f) {
            items = c & 0x0f;
        } else if (c <= 0xbf) {
            skip = c & 0x1f;
        } else {
            switch (c) {
            case 0xc4: case 0xd9: head = 1; break;              /* bin8, str8 */
            case 0xc5: case 0xda: head = 2; break;
            case 0xc6: case 0xdb: head = 4; break;
            case 0xc7: head = 1; skip = 1; break;               /* ext: + type */
            case 0xc8: head = 2; skip = 1; break;
            case 0xc9: head = 4; skip = 1; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: case 0xde: head = 2; break;
            case 0xdd: case 0xdf: head = 4; break;
            default: return false;                               /* 0xc1 */
            }
            if (head) {
                uint64_t n;
                if (len - pos < head)
                    return false;
                n = be(p + pos, head);
                pos += head;
                if (c >= 0xdc)
                    items = c >= 0xde ? 2 * n : n;
                else
                    skip += n;
            }
        }
        if (skip) {
            if (len - pos < skip)
                return false;
            pos += (size_t)skip;
        }
        if (items) {
            /* Every item takes at least one byte. */
            if (items > len - pos)
                return false;
            pending[++depth] = items;
        }
    }
    return pos == len;
}

/* ---- msgpack to JSON --------------------------------------------------------------- */

typedef struct conv {
    const room_allocator *alloc;
    room_bytes *att; /* bins become placeholders and attachments, when set */
    size_t natt, capatt;
    /* Only within this object (a broadcast's arguments); bins elsewhere
     * are null. */
    const msgpack_object *scope;
    bool in_scope;
    bool failed;
} conv;

static json_t *to_json(conv *c, const msgpack_object *o);

static json_t *bin_placeholder(conv *c, const msgpack_object *o)
{
    json_t *ph;
    if (!c->in_scope)
        return json_null(); /* not in arguments: no attachments */
    if (c->natt == c->capatt) {
        size_t cap = c->capatt * 2;
        room_bytes *att = rr_malloc(c->alloc, cap * sizeof *att);
        if (!att) {
            c->failed = true;
            return NULL;
        }
        memcpy(att, c->att, c->natt * sizeof *att);
        rr_free(c->alloc, c->att);
        c->att = att;
        c->capatt = cap;
    }
    c->att[c->natt] = (room_bytes){(const uint8_t *)o->via.bin.ptr, o->via.bin.size};
    ph = json_pack("{sbsI}", "_placeholder", 1, "num", (json_int_t)c->natt);
    if (ph)
        c->natt++;
    return ph;
}

static json_t *convert(conv *c, const msgpack_object *o);

static json_t *to_json(conv *c, const msgpack_object *o)
{
    json_t *v;
    bool enter = o == c->scope;
    if (enter)
        c->in_scope = true;
    v = convert(c, o);
    if (enter)
        c->in_scope = false;
    return v;
}

static json_t *convert(conv *c, const msgpack_object *o)
{
    json_t *v = NULL, *item;
    uint32_t i;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_EXT: /* notepack's undefined, dates: nothing JSON has */
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return o->via.u64 <= INT64_MAX ? json_integer((json_int_t)o->via.u64)
                                       : json_real((double)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        /* JSON has no NaN or infinity; JSON.stringify makes them null. */
        return isfinite(o->via.f64) ? json_real(o->via.f64) : json_null();
    case MSGPACK_OBJECT_STR:
        /* msgpack-c leaves ptr NULL for "". NULL unless UTF-8. */
        return json_stringn(o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return bin_placeholder(c, o);
    case MSGPACK_OBJECT_ARRAY:
        if (!(v = json_array()))
            return NULL;
        for (i = 0; i < o->via.array.size; i++) {
            if (!(item = to_json(c, &o->via.array.ptr[i])) || json_array_append_new(v, item)) {
                json_decref(v);
                return NULL;
            }
        }
        return v;
    case MSGPACK_OBJECT_MAP:
        if (!(v = json_object()))
            return NULL;
        for (i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            char *key;
            /* Object keys are strings in JSON; jansson wants them NUL-free. */
            if (kv->key.type != MSGPACK_OBJECT_STR ||
                (kv->key.via.str.size && memchr(kv->key.via.str.ptr, 0, kv->key.via.str.size))) {
                json_decref(v);
                return NULL;
            }
            if (!(key = rr_malloc(c->alloc, kv->key.via.str.size + 1))) {
                c->failed = true;
                json_decref(v);
                return NULL;
            }
            if (kv->key.via.str.size)
                memcpy(key, kv->key.via.str.ptr, kv->key.via.str.size);
            key[kv->key.via.str.size] = '\0';
            /* A repeated key would drop a value whose binaries were taken
             * as attachments already; no encoder writes one. */
            if (json_object_get(v, key)) {
                rr_free(c->alloc, key);
                json_decref(v);
                return NULL;
            }
            item = to_json(c, &kv->val);
            if (!item || json_object_set_new(v, key, item)) {
                rr_free(c->alloc, key);
                json_decref(v);
                return NULL;
            }
            rr_free(c->alloc, key);
        }
        return v;
    default:
        return NULL;
    }
}

/* In [uid, packet, opts], packet's "data": where attachments live. */
static const msgpack_object *arguments_of(const msgpack_object *msg)
{
    const msgpack_object *packet;
    uint32_t i;
    if (msg->type != MSGPACK_OBJECT_ARRAY || msg->via.array.size < 2 ||
        (packet = &msg->via.array.ptr[1])->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (i = 0; i < packet->via.map.size; i++) {
        const msgpack_object_kv *kv = &packet->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 4 &&
            memcmp(kv->key.via.str.ptr, "data", 4) == 0)
            return &kv->val;
    }
    return NULL;
}

/* Unpacks one checked object and converts it; a broadcast's arguments
 * keep their bins as attachments. */
static json_t *unpack(conv *c, const uint8_t *bytes, size_t len, bool broadcast)
{
    msgpack_unpacked u;
    size_t off = 0;
    json_t *v = NULL;
    if (!rr_msgpack_check(bytes, len))
        return NULL;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)bytes, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        off == len) {
        c->scope = broadcast ? arguments_of(&u.data) : NULL;
        v = to_json(c, &u.data);
    }
    msgpack_unpacked_destroy(&u);
    return v;
}

json_t *rr_msgpack_to_json(const uint8_t *bytes, size_t len)
{
    conv c = {.alloc = room_allocator_libc()};
    return unpack(&c, bytes, len, false);
}

/* ---- broadcasts in ------------------------------------------------------------------ */

/* The strings of a JSON array (others skipped: Socket.IO rooms are
 * strings, a numeric one cannot name a libroom room) into `out`. */
static const char **strings(const room_allocator *a, json_t *arr, size_t *n, int *rc)
{
    const char **out;
    json_t *item;
    size_t i;
    *n = 0;
    if (!arr)
        return NULL;
    if (!json_is_array(arr) || json_array_size(arr) > RR_MAX_ROOMS) {
        *rc = ROOM_EPROTO;
        return NULL;
    }
    if (json_array_size(arr) == 0)
        return NULL;
    if (!(out = rr_malloc(a, json_array_size(arr) * sizeof *out))) {
        *rc = ROOM_ENOMEM;
        return NULL;
    }
    json_array_foreach(arr, i, item) {
        if (json_is_string(item))
            out[(*n)++] = json_string_value(item);
    }
    return out;
}

void rr_broadcast_release(const room_allocator *a, rr_broadcast *b)
{
    json_decref(b->root);
    rr_free(a, b->argv);
    rr_free(a, b->rooms);
    rr_free(a, b->except);
    rr_free(a, b->att);
    memset(b, 0, sizeof *b);
}

int rr_decode_broadcast(const room_allocator *a, const uint8_t *bytes, size_t len,
                        rr_broadcast *out)
{
    conv c = {.alloc = a, .capatt = 4};
    json_t *msg, *packet, *opts, *data, *type, *nsp, *flags;
    int rc = 0;
    size_t i;

    memset(out, 0, sizeof *out);
    c.att = rr_malloc(a, c.capatt * sizeof *c.att);
    if (!c.att)
        return ROOM_ENOMEM;
    msg = unpack(&c, bytes, len, true);
    out->att = c.att;
    out->natt = c.natt;
    out->root = msg;
    if (c.failed)
        goto nomem;
    if (!msg || !json_is_array(msg) || json_array_size(msg) < 2 ||
        !json_is_string(json_array_get(msg, 0)) || !json_is_object(packet = json_array_get(msg, 1)))
        goto proto;
    out->uid = json_string_value(json_array_get(msg, 0));
    type = json_object_get(packet, "type");
    data = json_object_get(packet, "data");
    nsp = json_object_get(packet, "nsp");
    if (!json_is_integer(type) ||
        (json_integer_value(type) != 2 && json_integer_value(type) != 5) ||
        !json_is_array(data) || json_array_size(data) < 1 ||
        !json_is_string(json_array_get(data, 0)) || (nsp && !json_is_string(nsp) && !json_is_null(nsp)))
        goto proto;
    /* The emitter may leave nsp out: the main namespace. */
    out->nsp = json_is_string(nsp) ? json_string_value(nsp) : "/";
    out->event = json_string_value(json_array_get(data, 0));
    out->argc = json_array_size(data) - 1;
    if (out->argc) {
        if (!(out->argv = rr_malloc(a, out->argc * sizeof *out->argv)))
            goto nomem;
        for (i = 0; i < out->argc; i++)
            out->argv[i] = json_array_get(data, i + 1);
    }
    opts = json_array_get(msg, 2);
    if (opts && !json_is_object(opts) && !json_is_null(opts))
        goto proto;
    out->rooms = strings(a, json_object_get(opts, "rooms"), &out->nrooms, &rc);
    if (!rc)
        out->except = strings(a, json_object_get(opts, "except"), &out->nexcept, &rc);
    if (rc) {
        rr_broadcast_release(a, out);
        return rc;
    }
    /* A room list of other types only (numbers) names no room here. */
    if (json_array_size(json_object_get(opts, "rooms")) && !out->nrooms)
        goto proto;
    flags = json_object_get(opts, "flags");
    out->local = json_is_true(json_object_get(flags, "local"));
    return 0;
nomem:
    rr_broadcast_release(a, out);
    return ROOM_ENOMEM;
proto:
    rr_broadcast_release(a, out);
    return ROOM_EPROTO;
}

/* ---- requests ------------------------------------------------------------------------- */

json_t *rr_decode_object(const uint8_t *bytes, size_t len)
{
    json_t *v;
    if (len && bytes[0] == '{')
        v = json_loadb((const char *)bytes, len, 0, NULL);
    else
        v = rr_msgpack_to_json(bytes, len);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

int rr_request_op(json_t *req, room_remote_op *op, const char **rooms, json_t **argv)
{
    json_t *type = json_object_get(req, "type"), *opts = json_object_get(req, "opts"), *item, *arr;
    size_t i;

    memset(op, 0, sizeof *op);
    if (!json_is_integer(type))
        return ROOM_EPROTO;
    op->conn_id = str(req, "sid");
    switch (json_integer_value(type)) {
    case RR_REQ_JOIN:
    case RR_REQ_LEAVE:
        if (opts) {
            /* Room-wide: the members of opts.rooms[0] join/leave rooms. */
            json_t *from = json_object_get(opts, "rooms");
            arr = json_object_get(req, "rooms");
            if (json_array_size(from) != 1 || !json_is_string(json_array_get(from, 0)) ||
                !json_is_array(arr) || json_array_size(arr) > RR_MAX_ROOMS)
                return ROOM_EPROTO;
            op->kind = json_integer_value(type) == RR_REQ_JOIN ? ROOM_REMOTE_MEMBERS_JOIN
                                                                : ROOM_REMOTE_MEMBERS_LEAVE;
            op->conn_id = NULL;
            op->room = json_string_value(json_array_get(from, 0));
            json_array_foreach(arr, i, item) {
                if (!json_is_string(item))
                    return ROOM_EPROTO;
                rooms[i] = json_string_value(item);
            }
            op->rooms = rooms;
            op->nrooms = json_array_size(arr);
            return 0;
        }
        op->kind = json_integer_value(type) == RR_REQ_JOIN ? ROOM_REMOTE_JOIN : ROOM_REMOTE_LEAVE;
        op->room = str(req, "room");
        return op->conn_id && op->room ? 0 : ROOM_EPROTO;
    case RR_REQ_DISCONNECT:
        op->kind = ROOM_REMOTE_DISCONNECT;
        op->reason = str(req, "reason");
        return op->conn_id && !opts ? 0 : ROOM_EPROTO;
    case RR_REQ_LEAVE_ALL:
        op->kind = ROOM_REMOTE_LEAVE_ALL;
        return op->conn_id ? 0 : ROOM_EPROTO;
    case RR_REQ_EMIT:
        op->kind = ROOM_REMOTE_EMIT;
        op->event = str(req, "event");
        arr = json_object_get(req, "data");
        if (!op->conn_id || !op->event || !json_is_array(arr) || json_array_size(arr) > RR_MAX_ARGS)
            return ROOM_EPROTO;
        json_array_foreach(arr, i, item) {
            argv[i] = item;
        }
        op->argv = argv;
        op->argc = json_array_size(arr);
        return 0;
    default:
        return ROOM_EPROTO;
    }
}

json_t *rr_request_new(const char *uid, const char *request_id, const room_remote_op *op)
{
    json_t *req = json_pack("{ss}", "uid", uid), *arr = NULL;
    size_t i;
    int type, bad = 0;
    if (!req)
        return NULL;
    switch (op->kind) {
    case ROOM_REMOTE_JOIN: type = RR_REQ_JOIN; break;
    case ROOM_REMOTE_LEAVE: type = RR_REQ_LEAVE; break;
    case ROOM_REMOTE_DISCONNECT: type = RR_REQ_DISCONNECT; break;
    case ROOM_REMOTE_LEAVE_ALL: type = RR_REQ_LEAVE_ALL; break;
    case ROOM_REMOTE_EMIT: type = RR_REQ_EMIT; break;
    case ROOM_REMOTE_MEMBERS_JOIN: type = RR_REQ_JOIN; break;
    default: type = RR_REQ_LEAVE; break;
    }
    bad |= json_object_set_new(req, "type", json_integer(type));
    if (request_id)
        bad |= json_object_set_new(req, "requestId", json_string(request_id));
    if (op->conn_id)
        bad |= json_object_set_new(req, "sid", json_string(op->conn_id));
    switch (op->kind) {
    case ROOM_REMOTE_JOIN:
    case ROOM_REMOTE_LEAVE:
        bad |= json_object_set_new(req, "room", json_string(op->room));
        break;
    case ROOM_REMOTE_DISCONNECT:
        /* close: the transport too, as a server-side disconnect does. */
        bad |= json_object_set_new(req, "close", json_true());
        if (op->reason)
            bad |= json_object_set_new(req, "reason", json_string(op->reason));
        break;
    case ROOM_REMOTE_EMIT:
        bad |= json_object_set_new(req, "event", json_string(op->event));
        bad |= json_object_set_new(req, "data", arr = json_array());
        for (i = 0; arr && i < op->argc; i++)
            bad |= json_array_append(arr, op->argv[i]);
        break;
    case ROOM_REMOTE_MEMBERS_JOIN:
    case ROOM_REMOTE_MEMBERS_LEAVE:
        bad |= json_object_set_new(req, "opts",
                                   json_pack("{s[s]s[]}", "rooms", op->room, "except"));
        bad |= json_object_set_new(req, "rooms", arr = json_array());
        for (i = 0; arr && i < op->nrooms; i++)
            bad |= json_array_append_new(arr, json_string(op->rooms[i]));
        break;
    default:
        break;
    }
    if (bad) {
        json_decref(req);
        return NULL;
    }
    return req;
}
