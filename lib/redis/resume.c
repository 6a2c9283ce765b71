/* Connection-state recovery across nodes over the bus (docs/cluster.md,
 * "Recovery across nodes"). A node that does not know a client's private
 * id asks on the request channel:
 *   JSON {"uid", "requestId", "type": 110, "pid", "offset"}
 * The node holding that detached connection (room_hub_resume_take())
 * answers on the asker's own response channel, in msgpack so that binary
 * arguments travel as they are:
 *   {"requestId", "type": 111, "accepted": true, "id", "rooms": [...],
 *    "events": [bin, ...]}   each bin one event as a broadcast message
 *                            (rr_encode_broadcast(): [uid, packet, opts])
 *   {"requestId", "type": 111, "accepted": false}   here but not resumable
 * Nodes that do not hold it stay silent; the asker gives up after
 * RR_RESUME_TIMEOUT_MS (or request_timeout_ms when shorter). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "internal.h"

struct rr_resume {
    char id[16];
    uint64_t ticket;
    uint64_t deadline;
    struct rr_resume *next;
};

static const room_allocator *alloc_of(rr_adapter *ad)
{
    return &ad->bus->cfg.allocator;
}

/* ---- the answer's wire ------------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

int rr_encode_resume_answer(rr_out *out, const char *uid, const char *nsp, const char *request_id,
                            const room_resume_session *s)
{
    msgpack_packer pk;
    rr_out ev;
    size_t i;
    msgpack_packer_init(&pk, out, rr_out_write);
    msgpack_pack_map(&pk, s ? 6 : 3);
    pack_str(&pk, "requestId");
    pack_str(&pk, request_id);
    pack_str(&pk, "type");
    msgpack_pack_int(&pk, RR_REQ_RESUME_ANSWER);
    pack_str(&pk, "accepted");
    if (!s) {
        msgpack_pack_false(&pk);
        return out->err;
    }
    msgpack_pack_true(&pk);
    pack_str(&pk, "id");
    pack_str(&pk, s->conn_id);
    pack_str(&pk, "rooms");
    msgpack_pack_array(&pk, s->nrooms);
    for (i = 0; i < s->nrooms; i++)
        pack_str(&pk, s->rooms[i]);
    pack_str(&pk, "events");
    msgpack_pack_array(&pk, s->nevents);
    for (i = 0; i < s->nevents && !out->err; i++) {
        const room_resume_event *e = &s->events[i];
        int rc;
        rr_out_init(&ev, out->alloc);
        rc = rr_encode_broadcast(&ev, uid, nsp, e->event, e->argv, e->argc, e->attachments,
                                 e->attachment_count, NULL, NULL);
        if (rc) {
            rr_out_release(&ev);
            return rc;
        }
        msgpack_pack_bin(&pk, ev.len);
        msgpack_pack_bin_body(&pk, ev.data, ev.len);
        rr_out_release(&ev);
    }
    return out->err;
}

void rr_resume_answer_release(const room_allocator *a, rr_resume_answer *r)
{
    size_t i;
    for (i = 0; i < r->nevents; i++)
        rr_broadcast_release(a, &r->events[i]);
    rr_free(a, r->events);
    rr_free(a, r->ev);
    rr_free(a, r->rooms);
    rr_free(a, r->strings);
    memset(r, 0, sizeof *r);
}

static bool key_is(const msgpack_object *k, const char *name)
{
    size_t len = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
           memcmp(k->via.str.ptr, name, len) == 0;
}

/* A NUL-free string copied into `buf` at *used (sized to hold every
 * string of the message). */
static const char *copy_str(const msgpack_object *o, char *buf, size_t *used)
{
    char *s = buf + *used;
    if (o->type != MSGPACK_OBJECT_STR || (o->via.str.size && memchr(o->via.str.ptr, 0, o->via.str.size)))
        return NULL;
    if (o->via.str.size)
        memcpy(s, o->via.str.ptr, o->via.str.size);
    s[o->via.str.size] = '\0';
    *used += o->via.str.size + 1;
    return s;
}

static int decode_fields(const room_allocator *a, const msgpack_object *m, rr_resume_answer *r)
{
    const msgpack_object *rooms = NULL, *events = NULL, *id = NULL, *req = NULL;
    size_t i, used = 0, total = 0;
    bool typed = false, has_accepted = false;

    if (m->type != MSGPACK_OBJECT_MAP)
        return ROOM_EPROTO;
    for (i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
        if (key_is(k, "type"))
            typed = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == RR_REQ_RESUME_ANSWER;
        else if (key_is(k, "requestId"))
            req = v;
        else if (key_is(k, "accepted") && v->type == MSGPACK_OBJECT_BOOLEAN)
            has_accepted = true, r->accepted = v->via.boolean;
        else if (key_is(k, "id"))
            id = v;
        else if (key_is(k, "rooms"))
            rooms = v;
        else if (key_is(k, "events"))
            events = v;
    }
    if (!typed || !has_accepted || !req || req->type != MSGPACK_OBJECT_STR)
        return ROOM_EPROTO;
    if (r->accepted && (!id || id->type != MSGPACK_OBJECT_STR || !rooms ||
                        rooms->type != MSGPACK_OBJECT_ARRAY || rooms->via.array.size > RR_MAX_ROOMS ||
                        !events || events->type != MSGPACK_OBJECT_ARRAY ||
                        events->via.array.size > RR_MAX_RESUME_EVENTS))
        return ROOM_EPROTO;
    /* Every string of the answer, NUL-terminated, in one allocation. */
    total = req->via.str.size + 1;
    if (r->accepted) {
        total += id->via.str.size + 1;
        for (i = 0; i < rooms->via.array.size; i++) {
            if (rooms->via.array.ptr[i].type != MSGPACK_OBJECT_STR)
                return ROOM_EPROTO;
            total += rooms->via.array.ptr[i].via.str.size + 1;
        }
    }
    if (!(r->strings = rr_malloc(a, total)))
        return ROOM_ENOMEM;
    r->strings_len = total;
    if (!(r->request_id = copy_str(req, r->strings, &used)))
        return ROOM_EPROTO;
    if (!r->accepted)
        return 0;
    if (!(r->id = copy_str(id, r->strings, &used)))
        return ROOM_EPROTO;
    r->nrooms = rooms->via.array.size;
    if (r->nrooms && !(r->rooms = rr_malloc(a, r->nrooms * sizeof *r->rooms)))
        return ROOM_ENOMEM;
    for (i = 0; i < r->nrooms; i++) {
        if (!(r->rooms[i] = copy_str(&rooms->via.array.ptr[i], r->strings, &used)))
            return ROOM_EPROTO;
    }
    if (events->via.array.size &&
        (!(r->events = rr_malloc(a, events->via.array.size * sizeof *r->events)) ||
         !(r->ev = rr_malloc(a, events->via.array.size * sizeof *r->ev))))
        return ROOM_ENOMEM;
    for (i = 0; i < events->via.array.size; i++) {
        const msgpack_object *e = &events->via.array.ptr[i];
        rr_broadcast *b = &r->events[i];
        int rc;
        if (e->type != MSGPACK_OBJECT_BIN)
            return ROOM_EPROTO;
        if ((rc = rr_decode_broadcast(a, (const uint8_t *)e->via.bin.ptr, e->via.bin.size, b)) != 0)
            return rc;
        r->nevents++;
        r->ev[i] = (room_resume_event){b->event, b->argv, b->argc, b->att, b->natt};
    }
    return 0;
}

int rr_decode_resume_answer(const room_allocator *a, const uint8_t *bytes, size_t len,
                            rr_resume_answer *out)
{
    msgpack_unpacked u;
    size_t off = 0;
    int rc = ROOM_EPROTO;
    memset(out, 0, sizeof *out);
    if (!rr_msgpack_check(bytes, len))
        return ROOM_EPROTO;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)bytes, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        off == len)
        rc = decode_fields(a, &u.data, out);
    msgpack_unpacked_destroy(&u);
    if (rc)
        rr_resume_answer_release(a, out);
    return rc;
}

/* ---- the asking node --------------------------------------------------------------- */

int rr_resume_ask(room_adapter *adapter, room_hub *hub, uint64_t ticket, const char *pid,
                  const char *offset)
{
    rr_adapter *ad = (rr_adapter *)adapter;
    room_redis *bus = ad->bus;
    uint32_t timeout = bus->cfg.request_timeout_ms < RR_RESUME_TIMEOUT_MS
                           ? bus->cfg.request_timeout_ms
                           : RR_RESUME_TIMEOUT_MS;
    static uint32_t counter;
    struct rr_resume *r;
    json_t *req;
    (void)hub;
    /* Nobody else to ask: a fresh connection at once. */
    if (!bus->nodes || !bus->pub.up)
        return ROOM_ENOTFOUND;
    if (!(r = rr_malloc(alloc_of(ad), sizeof *r)))
        return ROOM_ENOMEM;
    snprintf(r->id, sizeof r->id, "%.6sr%07x", bus->uid, (unsigned)(++counter & 0xfffffff));
    r->ticket = ticket;
    r->deadline = bus->now + timeout;
    req = json_pack("{sssssissss}", "uid", bus->uid, "requestId", r->id, "type", RR_REQ_RESUME,
                    "pid", pid, "offset", offset);
    if (!req) {
        rr_free(alloc_of(ad), r);
        return ROOM_ENOMEM;
    }
    rr_publish_json(ad, ad->req_chan, req);
    json_decref(req);
    r->next = ad->resuming;
    ad->resuming = r;
    return 0;
}

/* Takes the request `id` off the list: its ticket, or 0 when unknown. */
static uint64_t take_request(rr_adapter *ad, const char *id)
{
    struct rr_resume **link, *r;
    uint64_t ticket;
    for (link = &ad->resuming; (r = *link) != NULL; link = &r->next) {
        if (strcmp(r->id, id) == 0) {
            *link = r->next;
            ticket = r->ticket;
            rr_free(alloc_of(ad), r);
            return ticket;
        }
    }
    return 0;
}

bool rr_resume_on_answer(rr_adapter *ad, const uint8_t *msg, size_t len)
{
    room_redis *bus = ad->bus;
    room_resume_session s;
    rr_resume_answer r;
    uint64_t ticket;
    int rc;
    if (!ad->resuming || rr_decode_resume_answer(alloc_of(ad), msg, len, &r) != 0)
        return false;
    if ((ticket = take_request(ad, r.request_id)) != 0) {
        s = (room_resume_session){r.id, r.rooms, r.nrooms, r.ev, r.nevents};
        rc = room_hub_resume_complete(ad->hub, ticket, r.accepted ? 0 : ROOM_EDENIED,
                                      r.accepted ? &s : NULL);
        if (rc && rc != ROOM_ENOTFOUND)
            rr_log(bus, ROOM_LOG_WARN, "redis: session %s from another node not taken over: %s",
                   r.id ? r.id : "?", room_strerror(rc));
    }
    rr_resume_answer_release(alloc_of(ad), &r);
    return true;
}

void rr_resume_tick(rr_adapter *ad, uint64_t now)
{
    struct rr_resume **link = &ad->resuming, *r;
    while ((r = *link) != NULL) {
        uint64_t ticket = r->ticket;
        if (now < r->deadline) {
            link = &r->next;
            continue;
        }
        *link = r->next;
        rr_free(alloc_of(ad), r);
        if (ad->hub)
            room_hub_resume_complete(ad->hub, ticket, ROOM_ETIMEOUT, NULL);
        /* The host may have asked again from its callback: start over. */
        link = &ad->resuming;
    }
}

void rr_resume_drop(rr_adapter *ad)
{
    struct rr_resume *r;
    while ((r = ad->resuming) != NULL) {
        ad->resuming = r->next;
        rr_free(alloc_of(ad), r);
    }
}

/* ---- the holding node --------------------------------------------------------------- */

typedef struct answer {
    rr_adapter *ad;
    const char *request_id;
    const char *chan;
} answer;

static void publish_answer(rr_adapter *ad, const char *chan, const char *request_id,
                           const room_resume_session *s, int *rc)
{
    rr_out out;
    rr_out_init(&out, alloc_of(ad));
    *rc = rr_encode_resume_answer(&out, ad->bus->uid, ad->nsp, request_id, s);
    if (!*rc)
        rr_publish(ad->bus, chan, strlen(chan), out.data, out.len);
    rr_out_release(&out);
}

static int hand_over(room_hub *hub, const room_resume_session *s, void *ud)
{
    answer *a = ud;
    int rc;
    (void)hub;
    publish_answer(a->ad, a->chan, a->request_id, s, &rc);
    if (!rc)
        rr_log(a->ad->bus, ROOM_LOG_INFO, "redis: session %s handed over with %zu events",
               s->conn_id, s->nevents);
    return rc;
}

bool rr_resume_on_request(rr_adapter *ad, json_t *req)
{
    room_redis *bus = ad->bus;
    const char *uid = json_string_value(json_object_get(req, "uid"));
    const char *id = json_string_value(json_object_get(req, "requestId"));
    const char *pid = json_string_value(json_object_get(req, "pid"));
    const char *offset = json_string_value(json_object_get(req, "offset"));
    answer a = {ad, id, NULL};
    char *chan;
    int rc;
    if (json_integer_value(json_object_get(req, "type")) != RR_REQ_RESUME)
        return false;
    if (!uid || !id || !pid || !offset || strcmp(uid, bus->uid) == 0 || strlen(uid) >= 32 ||
        strchr(uid, '#') || strlen(id) >= 64) {
        bus->stats.ignored++;
        return true;
    }
    bus->stats.requests++;
    /* The asker's own channel: the events are for it alone. */
    if (!(chan = rr_concat(alloc_of(ad), ad->resp_chan, uid, "#")))
        return true;
    a.chan = chan;
    rc = room_hub_resume_take(ad->hub, pid, offset, hand_over, &a);
    /* Here but not resumable: say so, so that the client does not wait. */
    if (rc == ROOM_EDENIED || rc == ROOM_EPROTO)
        publish_answer(ad, chan, id, NULL, &rc);
    rr_free(alloc_of(ad), chan);
    return true;
}
