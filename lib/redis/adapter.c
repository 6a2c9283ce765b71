/* One hub's adapter: broadcasts out and in, per-room subscriptions, and
 * operations by connection id with their answers and timeouts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "room/presence.h"

static rr_adapter *of(room_adapter *adapter)
{
    return (rr_adapter *)adapter;
}

/* "<chan><room>#": the channel of one room. */
static char *room_channel(rr_adapter *ad, const char *room)
{
    return rr_concat(&ad->bus->cfg.allocator, ad->chan, room, "#");
}

static void subscribe_room(rr_adapter *ad, const char *room, bool on)
{
    char *chan = room_channel(ad, room);
    if (!chan) {
        rr_log(ad->bus, ROOM_LOG_ERROR, "redis: out of memory subscribing to room %s", room);
        return;
    }
    rr_subscribe(ad->bus, chan, strlen(chan), on);
    rr_free(&ad->bus->cfg.allocator, chan);
    rr_history_subscribe(ad, room, on);
}

static int subscribe_visit(const char *room, void *ud)
{
    subscribe_room(ud, room, true);
    return 0;
}

void rr_adapter_subscribe_all(rr_adapter *ad)
{
    room_redis *bus = ad->bus;
    rr_subscribe(bus, ad->chan, strlen(ad->chan), true);
    rr_subscribe(bus, ad->req_chan, strlen(ad->req_chan), true);
    rr_subscribe(bus, ad->resp_chan, strlen(ad->resp_chan), true);
    rr_subscribe(bus, ad->own_chan, strlen(ad->own_chan), true);
    rr_subscribe(bus, ad->pres_chan, strlen(ad->pres_chan), true);
    if (ad->hub)
        room_hub_rooms_foreach(ad->hub, subscribe_visit, ad);
}

/* ---- presence: {"uid", "type": 104, "records": [[room, user, change,
 * conns here, entry], ...]} on the namespace's presence channel ---------- */

/* Records waiting to go out as one message. */
typedef struct batch {
    rr_adapter *ad;
    json_t *records;
    const char *room;
    /* A full snapshot: "sync" 1 on its first message, 2 on its last (3:
     * both), so that receivers drop what it no longer has. */
    bool snapshot, begun;
} batch;


static void batch_flush(batch *b, bool last)
{
    json_t *msg;
    int sync = b->snapshot ? (b->begun ? 0 : 1) | (last ? 2 : 0) : 0;
    if (!b->records || (!json_array_size(b->records) && !sync))
        return;
    msg = json_pack("{sssisO}", "uid", b->ad->bus->uid, "type", RR_REQ_PRESENCE, "records", b->records);
    if (msg && sync && json_object_set_new(msg, "sync", json_integer(sync))) {
        json_decref(msg);
        msg = NULL;
    }
    b->begun = true;
    if (msg)
        rr_publish_json(b->ad, b->ad->pres_chan, msg);
    else
        b->ad->bus->stats.dropped++;
    json_decref(msg);
    json_array_clear(b->records);
}

static void batch_add(batch *b, const char *room, const char *user, int change, size_t conns,
                      json_t *entry)
{
    json_t *rec = json_pack("[ssiIO]", room, user, change, (json_int_t)conns, entry);
    if (!rec || json_array_append_new(b->records, rec)) {
        b->ad->bus->stats.dropped++;
        return;
    }
    /* Messages of a few hundred records: big enough to be few. */
    if (json_array_size(b->records) >= 256)
        batch_flush(b, false);
}

static int count_conn(room_conn *conn, void *ud)
{
    (void)conn;
    (*(size_t *)ud)++;
    return 0;
}

static size_t local_conns(room_hub *hub, const char *room, const char *user)
{
    size_t n = 0;
    room_presence_user_conns_foreach(hub, room, user, count_conn, &n);
    return n;
}

static void ad_presence(room_adapter *adapter, room_hub *hub, const char *room, const char *user_id,
                        int change, const char *conn_id, json_t *entry)
{
    batch b = {of(adapter), json_array(), room, false, false};
    (void)conn_id;
    if (!b.records) {
        b.ad->bus->stats.dropped++;
        return;
    }
    batch_add(&b, room, user_id, change, local_conns(hub, room, user_id), entry);
    batch_flush(&b, true);
    json_decref(b.records);
}

static int snapshot_member(const room_presence_member *m, void *ud)
{
    batch *b = ud;
    size_t n = local_conns(b->ad->hub, b->room, m->user_id);
    if (n)
        batch_add(b, b->room, m->user_id, ROOM_PRESENCE_JOIN, n, m->entry);
    return 0;
}

static int snapshot_room(const char *room, void *ud)
{
    batch *b = ud;
    b->room = room;
    room_presence_foreach(b->ad->hub, room, snapshot_member, b);
    return 0;
}

/* Every user with connections here, as joins: a full snapshot, which
 * sets this node's counts and removes what it no longer has. */
static void publish_snapshot(rr_adapter *ad)
{
    batch b = {ad, NULL, NULL, true, false};
    if (!ad->hub || !(b.records = json_array()))
        return;
    room_hub_rooms_foreach(ad->hub, snapshot_room, &b);
    batch_flush(&b, true);
    json_decref(b.records);
}

void rr_adapter_announce(rr_adapter *ad)
{
    publish_snapshot(ad);
}

/* Redis is back: the others may have changed unheard (ask for their
 * snapshots), and may have dropped ours. */
void rr_adapter_back(rr_adapter *ad)
{
    json_t *ask = json_pack("{sssi}", "uid", ad->bus->uid, "type", RR_REQ_SYNC);
    if (ask)
        rr_publish_json(ad, ad->pres_chan, ask);
    json_decref(ask);
    publish_snapshot(ad);
    rr_storage_back(ad);
    rr_history_back(ad);
}

void rr_adapter_node_gone(rr_adapter *ad, const char *uid)
{
    int n;
    if (ad->hub && (n = room_presence_remote_forget(ad->hub, uid)) > 0) {
        rr_log(ad->bus, ROOM_LOG_INFO, "redis: %d users of node %s left %s", n, uid, ad->nsp);
        room_presence_flush(ad->hub);
    }
}

static void on_presence(rr_adapter *ad, const uint8_t *msg, size_t len)
{
    json_t *obj = rr_decode_object(msg, len), *rec;
    const char *uid = json_string_value(json_object_get(obj, "uid"));
    size_t i;
    json_int_t sync = json_integer_value(json_object_get(obj, "sync"));
    if (!uid || strcmp(uid, ad->bus->uid) == 0 || strlen(uid) >= 32) {
        json_decref(obj);
        return;
    }
    if (json_integer_value(json_object_get(obj, "type")) == RR_REQ_SYNC) {
        json_decref(obj);
        publish_snapshot(ad);
        return;
    }
    if (sync & 1)
        room_presence_remote_sync(ad->hub, uid, ROOM_PRESENCE_SYNC_BEGIN);
    json_array_foreach(json_object_get(obj, "records"), i, rec) {
        const char *room = json_string_value(json_array_get(rec, 0));
        const char *user = json_string_value(json_array_get(rec, 1));
        json_t *change = json_array_get(rec, 2), *conns = json_array_get(rec, 3);
        if (room && user && json_is_integer(change) && json_is_integer(conns) &&
            json_integer_value(conns) >= 0)
            room_presence_remote(ad->hub, uid, room, user, (int)json_integer_value(change),
                                 (size_t)json_integer_value(conns), json_array_get(rec, 4));
    }
    if (sync & 2)
        room_presence_remote_sync(ad->hub, uid, ROOM_PRESENCE_SYNC_END);
    json_decref(obj);
    /* Nothing from the host's clients may come to flush them soon. */
    room_presence_flush(ad->hub);
}

/* ---- the hub's calls ------------------------------------------------------------- */

static int ad_publish_event(room_adapter *adapter, room_hub *hub, const char *room,
                            const char *event, json_t *const *argv, size_t argc,
                            const room_bytes *att, size_t natt, const char *except_id)
{
    rr_adapter *ad = of(adapter);
    const char *count_id = rr_count_open_id(ad);
    rr_out out;
    char *chan = NULL;
    int rc;
    (void)hub;
    rr_out_init(&out, &ad->bus->cfg.allocator);
    rc = count_id ? rr_encode_broadcast_counted(&out, ad->bus->uid, ad->nsp, event, argv, argc, att,
                                                natt, room, except_id, count_id)
                  : rr_encode_broadcast(&out, ad->bus->uid, ad->nsp, event, argv, argc, att, natt,
                                        room, except_id);
    /* One room: its own channel, which only the nodes serving it hear. */
    if (!rc && room && !(chan = room_channel(ad, room)))
        rc = ROOM_ENOMEM;
    if (!rc && count_id)
        rr_count_publish(ad, chan ? chan : ad->chan, out.data, out.len);
    else if (!rc)
        rr_publish(ad->bus, chan ? chan : ad->chan, strlen(chan ? chan : ad->chan), out.data,
                   out.len);
    else if (count_id)
        ad->open->partial = true; /* the others were not reached */
    rr_free(&ad->bus->cfg.allocator, chan);
    rr_out_release(&out);
    return rc;
}

void rr_publish_json(rr_adapter *ad, const char *chan, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    if (!text) {
        ad->bus->stats.dropped++;
        return;
    }
    rr_publish(ad->bus, chan, strlen(chan), text, strlen(text));
    free(text);
}

static int ad_remote(room_adapter *adapter, room_hub *hub, const room_remote_op *op,
                     room_done_fn done, void *ud)
{
    rr_adapter *ad = of(adapter);
    room_redis *bus = ad->bus;
    rr_pending *p = NULL;
    json_t *req;
    static uint32_t counter;
    (void)hub;
    if (op->conn_id) {
        if (!(p = rr_malloc(&bus->cfg.allocator, sizeof *p)))
            return ROOM_ENOMEM;
        memset(p, 0, sizeof *p);
        snprintf(p->id, sizeof p->id, "%.6s%08x", bus->uid, (unsigned)++counter);
        p->deadline = bus->now + bus->cfg.request_timeout_ms;
        p->done = done;
        p->ud = ud;
    }
    req = rr_request_new(bus->uid, p ? p->id : NULL, op);
    if (!req) {
        rr_free(&bus->cfg.allocator, p);
        return ROOM_ENOMEM;
    }
    /* Silence until the deadline means nobody holds the id; so does a
     * Redis that is away (the request is dropped). */
    rr_publish_json(ad, ad->req_chan, req);
    json_decref(req);
    if (p) {
        p->next = ad->pending;
        ad->pending = p;
    }
    return 0;
}

static void ad_room_local(room_adapter *adapter, room_hub *hub, const char *room, int present)
{
    (void)hub;
    subscribe_room(of(adapter), room, present != 0);
}

static void ad_destroy(room_adapter *adapter)
{
    rr_adapter *ad = of(adapter), **link;
    room_redis *bus = ad->bus;
    rr_pending *p;
    for (link = &bus->adapters; *link; link = &(*link)->next) {
        if (*link == ad) {
            *link = ad->next;
            break;
        }
    }
    if (ad->own_chan) { /* every channel name was made */
        rr_subscribe(bus, ad->chan, strlen(ad->chan), false);
        rr_subscribe(bus, ad->req_chan, strlen(ad->req_chan), false);
        rr_subscribe(bus, ad->resp_chan, strlen(ad->resp_chan), false);
        rr_subscribe(bus, ad->own_chan, strlen(ad->own_chan), false);
        rr_subscribe(bus, ad->pres_chan, strlen(ad->pres_chan), false);
    }
    /* The hub is going (its connections are gone): resumes asked for here
     * can no longer complete; every caller still waiting hears so, and can
     * release what it holds. */
    rr_resume_drop(ad);
    rr_storage_free(ad);
    rr_history_destroy(ad);
    while ((p = ad->pending) != NULL) {
        ad->pending = p->next;
        if (p->done)
            p->done(ad->hub, ROOM_ECLOSED, p->ud);
        rr_free(&bus->cfg.allocator, p);
    }
    rr_count_release(ad);
    rr_free(&bus->cfg.allocator, ad->nsp);
    rr_free(&bus->cfg.allocator, ad->chan);
    rr_free(&bus->cfg.allocator, ad->req_chan);
    rr_free(&bus->cfg.allocator, ad->resp_chan);
    rr_free(&bus->cfg.allocator, ad->own_chan);
    rr_free(&bus->cfg.allocator, ad->pres_chan);
    rr_free(&bus->cfg.allocator, ad);
}

void rr_adapter_tick(rr_adapter *ad, uint64_t now)
{
    rr_pending **link = &ad->pending, *p;
    rr_history_tick(ad);
    rr_count_tick(ad, now);
    rr_resume_tick(ad, now);
    while ((p = *link) != NULL) {
        if (now < p->deadline) {
            link = &p->next;
            continue;
        }
        *link = p->next;
        if (p->done && ad->hub)
            p->done(ad->hub, ROOM_ENOTFOUND, p->ud);
        rr_free(&ad->bus->cfg.allocator, p);
        /* The callback may have added requests: start over. */
        link = &ad->pending;
    }
    rr_storage_tick(ad, now);
}

/* ---- traffic from the other nodes --------------------------------------------------- */

/* A member count of a room (count.c): true when `msg` was one. */
static bool on_count_request(rr_adapter *ad, const uint8_t *msg, size_t len)
{
    rr_count_msg m;
    if (!rr_count_decode_request(msg, len, &m))
        return false;
    rr_count_received(ad, &m, room_member_count(ad->hub, m.room));
    rr_count_msg_release(&m);
    return true;
}

static void on_broadcast(rr_adapter *ad, const uint8_t *msg, size_t len)
{
    room_redis *bus = ad->bus;
    rr_broadcast b;
    rr_count_msg count;
    size_t i;
    bool served = false, counted;
    int rc = rr_decode_broadcast(&bus->cfg.allocator, msg, len, &b);
    if (rc == ROOM_EPROTO && on_count_request(ad, msg, len))
        return;
    if (rc) {
        if (rc == ROOM_ENOMEM)
            rr_log(bus, ROOM_LOG_ERROR, "redis: out of memory decoding a broadcast");
        bus->stats.ignored++;
        return;
    }
    /* A counted one is answered, with 0 when nothing was delivered. */
    counted = rr_count_tag(b.root, &count);
    /* Our own (delivered here already), another namespace, or local-only. */
    if (strcmp(b.uid, bus->uid) == 0 || strcmp(b.nsp, ad->nsp) != 0 || b.local) {
        bus->stats.ignored++;
        if (counted)
            rr_count_received(ad, &count, 0);
        rr_broadcast_release(&bus->cfg.allocator, &b);
        return;
    }
    bus->stats.received++;
    for (i = 0; i < b.nrooms && !served; i++)
        served = room_member_count(ad->hub, b.rooms[i]) > 0;
    rc = 0;
    if (b.nrooms && !served)
        bus->stats.unserved++;
    /* Also to rooms with detached members only (recovery): they log it. */
    if ((rc = room_hub_deliver_remote_event(ad->hub, b.rooms, b.nrooms, b.except, b.nexcept,
                                                 b.event, b.argv, b.argc, b.att, b.natt)) < 0)
        rr_log(bus, ROOM_LOG_WARN, "redis: a broadcast from %s not delivered: %s", b.uid,
               room_strerror(rc));
    if (counted)
        rr_count_received(ad, &count, rc > 0 ? (uint64_t)rc : 0);
    rr_broadcast_release(&bus->cfg.allocator, &b);
}

static void respond(rr_adapter *ad, const char *request_id, int status)
{
    json_t *resp = json_pack("{ss}", "requestId", request_id);
    if (resp && status)
        json_object_set_new(resp, "status", json_integer(status));
    if (resp)
        rr_publish_json(ad, ad->resp_chan, resp);
    json_decref(resp);
}

/* ---- Socket.IO nodes' queries (a mixed cluster): every node answers,
 * or theirs waits for its request timeout ------------------------------- */

typedef struct query {
    room_hub *hub;
    json_t *rooms, *except; /* Socket.IO's opts: arrays of names, or NULL */
    json_t *out;            /* the answer's list */
    bool fetch;             /* REMOTE_FETCH: socket objects, not ids */
} query;

static int add_room_name(const char *room, void *ud)
{
    return json_array_append_new(ud, json_string(room)) ? ROOM_ENOMEM : 0;
}

static int in_any(room_hub *hub, room_conn *conn, json_t *names)
{
    json_t *name;
    size_t i;
    json_array_foreach(names, i, name) {
        const char *n = json_string_value(name);
        if (n && (room_is_member(hub, conn, n) || strcmp(n, room_conn_id(conn)) == 0))
            return 1;
    }
    return 0;
}

static int add_socket(room_conn *conn, void *ud)
{
    query *q = ud;
    json_t *item, *rooms;
    if ((json_array_size(q->rooms) && !in_any(q->hub, conn, q->rooms)) || in_any(q->hub, conn, q->except))
        return 0;
    if (!q->fetch)
        return json_array_append_new(q->out, json_string(room_conn_id(conn))) ? ROOM_ENOMEM : 0;
    rooms = json_pack("[s]", room_conn_id(conn));
    if (rooms)
        room_conn_rooms_foreach(q->hub, conn, add_room_name, rooms);
    item = json_pack("{sss{}s{}so}", "id", room_conn_id(conn), "handshake", "data", "rooms", rooms);
    return item && !json_array_append_new(q->out, item) ? 0 : ROOM_ENOMEM;
}

/* SOCKETS (0), ALL_ROOMS (1), REMOTE_FETCH (5): answered with what this
 * node has; true when `req` was one. */
static bool answer_query(rr_adapter *ad, json_t *req, const char *request_id)
{
    json_int_t type = json_integer_value(json_object_get(req, "type"));
    json_t *opts = json_object_get(req, "opts"), *resp;
    query q = {ad->hub, NULL, NULL, json_array(), type == 5};
    if (!json_is_integer(json_object_get(req, "type")) || (type != 0 && type != 1 && type != 5) ||
        !request_id || !q.out) {
        json_decref(q.out);
        return false;
    }
    if (type == 1) {
        room_hub_rooms_foreach(ad->hub, add_room_name, q.out);
    } else {
        q.rooms = type == 0 ? json_object_get(req, "rooms") : json_object_get(opts, "rooms");
        q.except = json_object_get(opts, "except");
        room_conns_foreach(ad->hub, add_socket, &q);
    }
    resp = json_pack("{sssO}", "requestId", request_id, type == 1 ? "rooms" : "sockets", q.out);
    if (resp)
        rr_publish_json(ad, ad->resp_chan, resp);
    json_decref(resp);
    json_decref(q.out);
    ad->bus->stats.requests++;
    return true;
}

static void on_request(rr_adapter *ad, const uint8_t *msg, size_t len)
{
    room_redis *bus = ad->bus;
    json_t *req = rr_decode_object(msg, len), *argv[RR_MAX_ARGS];
    const char *rooms[RR_MAX_ROOMS];
    const char *uid = json_string_value(json_object_get(req, "uid"));
    const char *request_id = json_string_value(json_object_get(req, "requestId"));
    room_remote_op op;
    int rc;
    if (req && rr_resume_on_request(ad, req)) {
        json_decref(req);
        return;
    }
    if (req && (!uid || strcmp(uid, bus->uid) != 0) && answer_query(ad, req, request_id)) {
        json_decref(req);
        return;
    }
    if (!req || (uid && strcmp(uid, bus->uid) == 0) || rr_request_op(req, &op, rooms, argv)) {
        bus->stats.ignored++;
        json_decref(req);
        return;
    }
    bus->stats.requests++;
    rc = room_remote_apply(ad->hub, &op);
    /* A leave here changes presence: its diffs go out now. */
    room_presence_flush(ad->hub);
    /* Whoever holds the id answers; the others stay silent. */
    if (op.conn_id && rc != ROOM_ENOTFOUND && request_id)
        respond(ad, request_id, rc < 0 ? rc : 0);
    json_decref(req);
}

static void on_response(rr_adapter *ad, const uint8_t *msg, size_t len)
{
    json_t *resp = rr_decode_object(msg, len);
    const char *id = json_string_value(json_object_get(resp, "requestId"));
    json_t *status = json_object_get(resp, "status");
    rr_pending **link, *p;
    if (rr_count_response(ad, resp)) {
        json_decref(resp);
        return;
    }
    for (link = &ad->pending; id && (p = *link) != NULL; link = &p->next) {
        if (strcmp(p->id, id) != 0)
            continue;
        *link = p->next;
        if (p->done)
            p->done(ad->hub, json_is_integer(status) ? (int)json_integer_value(status) : 0, p->ud);
        rr_free(&ad->bus->cfg.allocator, p);
        break;
    }
    json_decref(resp);
}

/* The request channel: a direct message to a user (user.c: msgpack, no
 * object), else a request. */
static void on_request_channel(rr_adapter *ad, const uint8_t *msg, size_t len)
{
    if (!rr_user_request(ad, msg, len))
        on_request(ad, msg, len);
}

void rr_adapter_message(rr_adapter *ad, const char *channel, size_t channel_len,
                        const uint8_t *msg, size_t len)
{
    size_t q = strlen(ad->req_chan), s = strlen(ad->resp_chan);
    if (!ad->hub) {
        ad->bus->stats.ignored++;
        return;
    }
    if (rr_storage_message(ad, msg, len))
        return;
    if (rr_history_channel(ad, channel, channel_len))
        rr_history_message(ad, channel, channel_len, msg, len);
    else if (channel_len == q && memcmp(channel, ad->req_chan, q) == 0)
        on_request_channel(ad, msg, len);
    else if (channel_len == strlen(ad->pres_chan) && memcmp(channel, ad->pres_chan, channel_len) == 0)
        on_presence(ad, msg, len);
    else if (channel_len == strlen(ad->own_chan) && memcmp(channel, ad->own_chan, channel_len) == 0 &&
             rr_resume_on_answer(ad, msg, len))
        return;
    else if (channel_len >= s && memcmp(channel, ad->resp_chan, s) == 0)
        on_response(ad, msg, len);
    else
        on_broadcast(ad, msg, len);
}

/* ---- creation ------------------------------------------------------------------------- */

int room_redis_adapter_new(room_redis *bus, const char *nsp, room_adapter **out)
{
    const room_allocator *a;
    rr_adapter *ad;
    char *own;
    if (!out)
        return ROOM_EINVAL;
    *out = NULL;
    if (!bus || !nsp || !*nsp || strchr(nsp, '#'))
        return ROOM_EINVAL;
    for (ad = bus->adapters; ad; ad = ad->next) {
        if (strcmp(ad->nsp, nsp) == 0)
            return ROOM_EALREADY;
    }
    a = &bus->cfg.allocator;
    if (!(ad = rr_malloc(a, sizeof *ad)))
        return ROOM_ENOMEM;
    memset(ad, 0, sizeof *ad);
    ad->bus = bus;
    ad->base.size = sizeof ad->base;
    ad->base.name = "redis";
    ad->base.state = ad;
    ad->base.destroy = ad_destroy;
    ad->base.remote = ad_remote;
    ad->base.publish_event = ad_publish_event;
    ad->base.room_local = ad_room_local;
    ad->base.presence = ad_presence;
    ad->base.count_begin = rr_count_begin;
    ad->base.count_end = rr_count_end;
    ad->base.count_members = rr_count_members;
    ad->base.resume = rr_resume_ask;
    ad->base.storage_publish = rr_storage_publish;
    ad->base.storage_fetch = rr_storage_fetch;
    ad->base.emit_user = rr_emit_user;
    own = rr_concat(a, bus->uid, "#", "");
    ad->nsp = rr_strdup(a, nsp);
    ad->chan = rr_concat(a, bus->key, "#", nsp);
    if (ad->chan) {
        char *c = rr_concat(a, ad->chan, "#", "");
        rr_free(a, ad->chan);
        ad->chan = c;
    }
    ad->req_chan = rr_concat(a, bus->key, "-request#", nsp);
    ad->resp_chan = rr_concat(a, bus->key, "-response#", nsp);
    if (ad->req_chan) {
        char *c = rr_concat(a, ad->req_chan, "#", "");
        rr_free(a, ad->req_chan);
        ad->req_chan = c;
    }
    if (ad->resp_chan) {
        char *c = rr_concat(a, ad->resp_chan, "#", "");
        rr_free(a, ad->resp_chan);
        ad->resp_chan = c;
    }
    ad->pres_chan = rr_concat(a, bus->key, "-roomd-presence#", nsp);
    if (ad->pres_chan) {
        char *c = rr_concat(a, ad->pres_chan, "#", "");
        rr_free(a, ad->pres_chan);
        ad->pres_chan = c;
    }
    /* Last: ad_destroy takes it to mean every channel name was made. */
    ad->own_chan = ad->resp_chan && own && ad->pres_chan ? rr_concat(a, ad->resp_chan, own, "") : NULL;
    rr_free(a, own);
    if (!ad->nsp || !ad->chan || !ad->req_chan || !ad->resp_chan || !ad->own_chan ||
        rr_history_init(ad) != 0) {
        ad_destroy(&ad->base);
        return ROOM_ENOMEM;
    }
    ad->next = bus->adapters;
    bus->adapters = ad;
    *out = &ad->base;
    return 0;
}

void room_redis_adapter_free(room_adapter *adapter)
{
    if (adapter)
        ad_destroy(adapter);
}

int room_redis_adapter_bind(room_adapter *adapter, room_hub *hub)
{
    rr_adapter *ad = adapter ? of(adapter) : NULL;
    if (!ad || !hub || ad->base.destroy != ad_destroy)
        return ROOM_EINVAL;
    ad->hub = hub;
    rr_adapter_subscribe_all(ad);
    return 0;
}
