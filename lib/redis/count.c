/* Counts over the nodes (room/adapter.h, "counts on every node"): counted
 * broadcasts and member counts go out on the channels that reach exactly
 * the nodes concerned; PUBLISH says how many subscribers got them, and as
 * many answers are awaited, or the count's timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <msgpack.h>

#include "internal.h"

/* ---- the wire --------------------------------------------------------------- */

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

int rr_count_encode_request(rr_out *out, const char *uid, const char *room, const char *id)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, rr_out_write);
    msgpack_pack_array(&pk, 4);
    pack_cstr(&pk, uid);
    msgpack_pack_nil(&pk);
    msgpack_pack_map(&pk, 1);
    pack_cstr(&pk, "rooms");
    msgpack_pack_array(&pk, 1);
    pack_cstr(&pk, room);
    msgpack_pack_map(&pk, 2);
    pack_cstr(&pk, "type");
    msgpack_pack_int(&pk, RR_COUNT_MEMBERS);
    pack_cstr(&pk, "requestId");
    pack_cstr(&pk, id);
    return out->err;
}

/* {"type": `type`, "requestId": a short string}: its id into `m`. */
static bool read_tag(json_t *tag, int type, rr_count_msg *m)
{
    json_t *t = json_object_get(tag, "type");
    const char *id = json_string_value(json_object_get(tag, "requestId"));
    if (!json_is_integer(t) || json_integer_value(t) != type || !id || strlen(id) > RR_COUNT_ID_MAX)
        return false;
    m->type = type;
    strcpy(m->id, id);
    return true;
}

static bool read_uid(json_t *v, rr_count_msg *m)
{
    const char *uid = json_string_value(v);
    if (!uid || strlen(uid) >= sizeof m->uid)
        return false;
    strcpy(m->uid, uid);
    return true;
}

bool rr_count_tag(json_t *root, rr_count_msg *out)
{
    memset(out, 0, sizeof *out);
    return json_array_size(root) == 4 && read_uid(json_array_get(root, 0), out) &&
           read_tag(json_array_get(root, 3), RR_COUNT_DELIVERIES, out);
}

bool rr_count_decode_request(const uint8_t *bytes, size_t len, rr_count_msg *out)
{
    json_t *root = rr_msgpack_to_json(bytes, len);
    json_t *rooms = json_object_get(json_array_get(root, 2), "rooms");
    memset(out, 0, sizeof *out);
    if (json_array_size(root) != 4 || !json_is_null(json_array_get(root, 1)) ||
        !read_uid(json_array_get(root, 0), out) ||
        !read_tag(json_array_get(root, 3), RR_COUNT_MEMBERS, out) || json_array_size(rooms) != 1 ||
        !(out->room = json_string_value(json_array_get(rooms, 0)))) {
        json_decref(root);
        memset(out, 0, sizeof *out);
        return false;
    }
    out->root = root;
    return true;
}

bool rr_count_decode_answer(json_t *obj, rr_count_msg *out)
{
    json_t *count = json_object_get(obj, "count");
    memset(out, 0, sizeof *out);
    if (!read_tag(obj, RR_COUNT_ANSWER, out) || !json_is_integer(count) ||
        json_integer_value(count) < 0) {
        memset(out, 0, sizeof *out);
        return false;
    }
    out->count = (uint64_t)json_integer_value(count);
    return true;
}

void rr_count_msg_release(rr_count_msg *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}

/* ---- this node's counts ------------------------------------------------------ */

static rr_adapter *of(room_adapter *adapter)
{
    return (rr_adapter *)adapter;
}

static rr_count *count_new(rr_adapter *ad, room_hub *hub)
{
    room_redis *bus = ad->bus;
    rr_count *c = rr_malloc(&bus->cfg.allocator, sizeof *c);
    if (!c)
        return NULL;
    memset(c, 0, sizeof *c);
    c->seq = ++bus->count_seq;
    snprintf(c->id, sizeof c->id, "%s-%lx", bus->uid, (unsigned long)c->seq);
    c->hub = hub;
    c->next = ad->counts;
    ad->counts = c;
    return c;
}

static void unlink_count(rr_adapter *ad, rr_count *c)
{
    rr_count **link;
    for (link = &ad->counts; *link; link = &(*link)->next) {
        if (*link == c) {
            *link = c->next;
            return;
        }
    }
}

static rr_count *find(rr_adapter *ad, const char *id)
{
    rr_count *c;
    for (c = ad->counts; c; c = c->next) {
        if (strcmp(c->id, id) == 0)
            return c;
    }
    return NULL;
}

/* Done once closed, every PUBLISH replied and as many answers came. */
static void check(rr_adapter *ad, rr_count *c)
{
    room_count_fn done = c->done;
    if (!c->closed || c->replies || c->answers < c->expected)
        return;
    unlink_count(ad, c);
    /* Unlinked first: the callback may count again. */
    done(c->hub, 0, c->sum, c->partial, c->ud);
    rr_free(&ad->bus->cfg.allocator, c);
}

static void close_count(rr_adapter *ad, rr_count *c, uint64_t local, room_count_fn done, void *ud)
{
    c->sum += local;
    c->done = done;
    c->ud = ud;
    c->closed = true;
    c->deadline = ad->bus->now + ad->bus->cfg.count_timeout_ms;
    check(ad, c);
}

/* PUBLISH's reply: how many subscribers got the message. */
static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    rr_conn *conn = ac->data;
    room_redis *bus = conn->bus;
    uintptr_t seq = (uintptr_t)privdata;
    rr_adapter *ad;
    rr_count *c;
    if (bus->closing)
        return;
    for (ad = bus->adapters; ad; ad = ad->next) {
        for (c = ad->counts; c && c->seq != seq; c = c->next)
            ;
        if (!c)
            continue;
        c->replies--;
        if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0)
            c->expected += (uint64_t)reply->integer;
        else
            c->partial = true; /* the connection went: the answers will not come */
        check(ad, c);
        return;
    }
}

static void publish_counted(rr_adapter *ad, rr_count *c, const char *chan, const void *msg, size_t len)
{
    if (rr_publish_reply(ad->bus, chan, strlen(chan), msg, len, on_reply, (void *)c->seq))
        c->replies++;
    else
        c->partial = true; /* Redis is away: nobody else is asked */
}

int rr_count_begin(room_adapter *adapter, room_hub *hub)
{
    rr_adapter *ad = of(adapter);
    if (ad->open)
        return ROOM_EINVAL;
    if (!(ad->open = count_new(ad, hub)))
        return ROOM_ENOMEM;
    return 0;
}

int rr_count_end(room_adapter *adapter, room_hub *hub, uint64_t local, room_count_fn done, void *ud)
{
    rr_adapter *ad = of(adapter);
    rr_count *c = ad->open;
    (void)hub;
    if (!c)
        return ROOM_EINVAL;
    ad->open = NULL;
    if (!done) {
        unlink_count(ad, c);
        rr_free(&ad->bus->cfg.allocator, c);
        return 0;
    }
    close_count(ad, c, local, done, ud);
    return 0;
}

const char *rr_count_open_id(rr_adapter *ad)
{
    return ad->open ? ad->open->id : NULL;
}

void rr_count_publish(rr_adapter *ad, const char *chan, const void *msg, size_t len)
{
    publish_counted(ad, ad->open, chan, msg, len);
}

int rr_count_members(room_adapter *adapter, room_hub *hub, const char *room, uint64_t local,
                     room_count_fn done, void *ud)
{
    rr_adapter *ad = of(adapter);
    const room_allocator *a = &ad->bus->cfg.allocator;
    rr_count *c = count_new(ad, hub);
    char *chan = c ? rr_concat(a, ad->chan, room, "#") : NULL;
    rr_out out;
    int rc = chan ? 0 : ROOM_ENOMEM;
    rr_out_init(&out, a);
    if (!rc)
        rc = rr_count_encode_request(&out, ad->bus->uid, room, c->id);
    if (rc) {
        if (c)
            unlink_count(ad, c);
        rr_free(a, c);
    } else {
        /* The room's channel: only the nodes serving it hear, and answer. */
        publish_counted(ad, c, chan, out.data, out.len);
        close_count(ad, c, local, done, ud);
    }
    rr_out_release(&out);
    rr_free(a, chan);
    return rc;
}

void rr_count_received(rr_adapter *ad, const rr_count_msg *m, uint64_t n)
{
    room_redis *bus = ad->bus;
    rr_count *c;
    json_t *answer;
    char *chan, *text;
    if (strcmp(m->uid, bus->uid) == 0) {
        /* Our own subscriber got it: PUBLISH counted it; the deliveries
         * here are in the count already. */
        if ((c = find(ad, m->id)) != NULL) {
            c->answers++;
            check(ad, c);
        }
        return;
    }
    /* On the asker's own response channel: nobody else needs it. */
    chan = rr_concat(&bus->cfg.allocator, ad->resp_chan, m->uid, "#");
    answer = json_pack("{sisssI}", "type", RR_COUNT_ANSWER, "requestId", m->id, "count",
                       (json_int_t)n);
    text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
    if (chan && text)
        rr_publish(bus, chan, strlen(chan), text, strlen(text));
    else
        bus->stats.dropped++;
    free(text);
    json_decref(answer);
    rr_free(&bus->cfg.allocator, chan);
}

bool rr_count_response(rr_adapter *ad, json_t *obj)
{
    rr_count_msg m;
    rr_count *c;
    if (!rr_count_decode_answer(obj, &m))
        return false;
    if ((c = find(ad, m.id)) != NULL) {
        c->sum += m.count;
        c->answers++;
        check(ad, c);
    }
    return true;
}

void rr_count_tick(rr_adapter *ad, uint64_t now)
{
    rr_count *c = ad->counts;
    while (c) {
        if (!c->closed || now < c->deadline) {
            c = c->next;
            continue;
        }
        /* Some node did not answer: what came, and say so. */
        c->partial = true;
        c->replies = 0;
        c->expected = c->answers;
        check(ad, c);
        /* The callback may have changed the list: start over. */
        c = ad->counts;
    }
}

void rr_count_release(rr_adapter *ad)
{
    rr_count *c;
    ad->open = NULL;
    while ((c = ad->counts) != NULL) {
        ad->counts = c->next;
        if (c->closed)
            c->done(c->hub, ROOM_ECLOSED, c->sum, 1, c->ud);
        rr_free(&ad->bus->cfg.allocator, c);
    }
}
