/* History rooms in a cluster (docs/cluster.md, "History"): Redis owns
 * their offsets. A message runs one Lua script on the publishing node's
 * connection: the room's next offset (HINCRBY), the message into the
 * room's log (RPUSH, LTRIM to the room's count, PEXPIRE to its age) and
 * out on the room's history channel (PUBLISH), in one step, so that the
 * channel carries the offsets in order. Every node serving the room, the
 * publisher included, delivers from the channel (room_history_deliver_
 * remote()); a node whose copy is not whole for a request reads the log
 * (another script). While Redis is away the hub delivers here under an
 * epoch of its own; when Redis is back this node gives the rooms it sent
 * to meanwhile a new epoch in Redis too, so that no client takes the
 * cluster's log for whole across that gap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "internal.h"

/* KEYS: meta (hash: e epoch, s last offset), log (list). ARGV: channel,
 * epoch for a room without one, count kept, age kept in ms (0: none),
 * stamp pointer, record. A room that gets an epoch here starts empty. */
static const char PUBLISH_LUA[] =
    "local e = redis.call('hget', KEYS[1], 'e')\n"
    "if not e then\n"
    "  e = ARGV[2]\n"
    "  redis.call('hset', KEYS[1], 'e', e)\n"
    "  redis.call('del', KEYS[2])\n"
    "end\n"
    "local s = redis.call('hincrby', KEYS[1], 's', 1)\n"
    "local t = redis.call('time')\n"
    "local m = cmsgpack.pack({s, e, t[1] * 1000 + math.floor(t[2] / 1000), ARGV[5], ARGV[6]})\n"
    "redis.call('rpush', KEYS[2], m)\n"
    "redis.call('ltrim', KEYS[2], -tonumber(ARGV[3]), -1)\n"
    "if tonumber(ARGV[4]) > 0 then redis.call('pexpire', KEYS[2], ARGV[4]) end\n"
    "redis.call('publish', ARGV[1], m)\n"
    "return s\n";

/* KEYS: meta, log. ARGV: epoch for a room without one, since offset (-1:
 * everything kept), since epoch. Returns {epoch, last, floor, now_ms,
 * [entries after since]}: no entries when the epoch differs or the
 * offset is out of the log's range (the node says why). */
static const char FETCH_LUA[] =
    "local e = redis.call('hget', KEYS[1], 'e')\n"
    "if not e then\n"
    "  e = ARGV[1]\n"
    "  redis.call('hset', KEYS[1], 'e', e)\n"
    "  redis.call('del', KEYS[2])\n"
    "end\n"
    "local s = tonumber(redis.call('hget', KEYS[1], 's') or '0')\n"
    "local n = redis.call('llen', KEYS[2])\n"
    "local t = redis.call('time')\n"
    "local r = {e, s, s - n, t[1] * 1000 + math.floor(t[2] / 1000)}\n"
    "local from = tonumber(ARGV[2])\n"
    "if from < 0 then from = s - n\n"
    "elseif ARGV[3] ~= e or from > s or from < s - n then return r end\n"
    "if s > from then r[5] = redis.call('lrange', KEYS[2], n - (s - from), -1) end\n"
    "return r\n";

/* KEYS: meta, log. ARGV: channel, new epoch. The room's history starts
 * again (offset 0) under the new epoch; the nodes hear it on the channel. */
static const char RESET_LUA[] =
    "redis.call('del', KEYS[2])\n"
    "redis.call('hset', KEYS[1], 'e', ARGV[2], 's', 0)\n"
    "local t = redis.call('time')\n"
    "redis.call('publish', ARGV[1], cmsgpack.pack({0, ARGV[2], t[1] * 1000 + math.floor(t[2] / 1000), '', ''}))\n"
    "return 0\n";

enum { PUBLISH, FETCH, RESET, SCRIPTS };
static const char *const SCRIPT[SCRIPTS] = {PUBLISH_LUA, FETCH_LUA, RESET_LUA};

/* A script call in flight (hiredis holds it as privdata until its reply),
 * then, when it failed, waiting for the next tick: a failure may be seen
 * inside a hiredis call made from a hub operation, where the hub cannot be
 * called again. */
typedef struct hop {
    struct hop *next, *prev;
    struct rr_hist *h; /* NULL once the adapter is gone */
    const room_allocator *alloc; /* the bus's, which outlives its adapters */
    int kind;
    uint64_t request;       /* FETCH */
    room_history_pos since; /* FETCH */
    bool given;
    uint64_t wait;          /* subscriptions sent before it */
    uint8_t *record;        /* PUBLISH: to deliver here if it fails */
    size_t record_len;
    char *pointer;
    uint32_t count, age_ms; /* PUBLISH: the room's limits */
    char room[];
} hop;

typedef struct rr_hist {
    rr_adapter *ad;
    char *prefix; /* "<key>-roomd-history#<nsp>#" */
    size_t prefix_len;
    hop *inflight;         /* doubly linked: in hiredis */
    /* Publishes and fetches waiting for subscriptions, in order. */
    hop *waiting, **waiting_tail;
    hop *failed;           /* for the next tick */
    /* Rooms sent to while Redis was away: a new epoch when it is back. */
    char **diverged;
    size_t ndiverged, capdiverged;
} rr_hist;

static const room_allocator *alloc_of(const rr_hist *h)
{
    return &h->ad->bus->cfg.allocator;
}

/* ---- names ------------------------------------------------------------------------- */

static char *name_of(const rr_hist *h, const char *room, const char *suffix)
{
    return rr_concat(alloc_of(h), h->prefix, room, suffix);
}

bool rr_history_channel(const rr_adapter *ad, const char *channel, size_t len)
{
    const rr_hist *h = ad->hist;
    return h && len > h->prefix_len + 1 && memcmp(channel, h->prefix, h->prefix_len) == 0 &&
           channel[len - 1] == '#';
}

void rr_history_subscribe(rr_adapter *ad, const char *room, bool on)
{
    char *chan;
    if (!ad->hist || !ad->hub || !room_history_enabled(ad->hub, room))
        return;
    if (!(chan = name_of(ad->hist, room, "#"))) {
        rr_log(ad->bus, ROOM_LOG_ERROR, "redis: out of memory subscribing to the history of %s",
               room);
        return;
    }
    rr_subscribe(ad->bus, chan, strlen(chan), on);
    rr_free(alloc_of(ad->hist), chan);
}

/* ---- operations ----------------------------------------------------------------------- */

static hop *hop_new(rr_hist *h, int kind, const char *room)
{
    size_t n = strlen(room) + 1;
    hop *op = rr_malloc(alloc_of(h), sizeof *op + n);
    if (op) {
        memset(op, 0, sizeof *op);
        op->h = h;
        op->alloc = alloc_of(h);
        op->kind = kind;
        memcpy(op->room, room, n);
    }
    return op;
}

static void hop_free(hop *op)
{
    const room_allocator *a = op->alloc;
    rr_free(a, op->record);
    rr_free(a, op->pointer);
    rr_free(a, op);
}

static void inflight_add(rr_hist *h, hop *op)
{
    op->prev = NULL;
    op->next = h->inflight;
    if (h->inflight)
        h->inflight->prev = op;
    h->inflight = op;
}

static void inflight_del(rr_hist *h, hop *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        h->inflight = op->next;
    if (op->next)
        op->next->prev = op->prev;
}

static void fail_later(rr_hist *h, hop *op)
{
    op->next = h->failed;
    h->failed = op;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);

/* EVALSHA, or EVAL until the script's SHA is known. `args` after the
 * first three (command, script, key count). */
static int run_script(rr_hist *h, int script, hop *op, const char **argv, size_t *lens, int argc)
{
    room_redis *bus = h->ad->bus;
    if (!bus->pub.up || !bus->pub.ac)
        return ROOM_ESTORAGE;
    if (h->ad->bus->history_sha[script][0]) {
        argv[0] = "EVALSHA";
        argv[1] = h->ad->bus->history_sha[script];
    } else {
        argv[0] = "EVAL";
        argv[1] = SCRIPT[script];
    }
    lens[0] = strlen(argv[0]);
    lens[1] = strlen(argv[1]);
    argv[2] = "2";
    lens[2] = 1;
    if (redisAsyncCommandArgv(bus->pub.ac, on_reply, op, argc, argv, lens) != REDIS_OK)
        return ROOM_ESTORAGE;
    if (op)
        inflight_add(h, op);
    return 0;
}

static void on_loaded(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    char *sha = privdata;
    (void)ac;
    /* privdata is the bus's SHA slot: the bus outlives its connections. */
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len == 40)
        memcpy(sha, reply->str, 41);
}

/* Rooms sent to while Redis was away. */
static void diverge(rr_hist *h, const char *room)
{
    const room_allocator *a = alloc_of(h);
    size_t i;
    char *copy;
    for (i = 0; i < h->ndiverged; i++) {
        if (strcmp(h->diverged[i], room) == 0)
            return;
    }
    if (h->ndiverged == h->capdiverged) {
        size_t cap = h->capdiverged ? h->capdiverged * 2 : 8;
        char **grown = rr_malloc(a, cap * sizeof *grown);
        if (!grown)
            goto nomem;
        if (h->ndiverged)
            memcpy(grown, h->diverged, h->ndiverged * sizeof *grown);
        rr_free(a, h->diverged);
        h->diverged = grown;
        h->capdiverged = cap;
    }
    if (!(copy = rr_strdup(a, room)))
        goto nomem;
    h->diverged[h->ndiverged++] = copy;
    return;
nomem:
    rr_log(h->ad->bus, ROOM_LOG_ERROR,
           "redis: out of memory: the history of %s keeps its epoch after this outage", room);
}

static int keys(rr_hist *h, const char *room, char **meta, char **log)
{
    *meta = name_of(h, room, "#:meta");
    *log = name_of(h, room, "#:log");
    if (*meta && *log)
        return 0;
    rr_free(alloc_of(h), *meta);
    rr_free(alloc_of(h), *log);
    return ROOM_ENOMEM;
}

/* A new epoch for a room, in the syntax the core draws its own in. */
static void new_epoch(char out[ROOM_EPOCH_MAX + 1])
{
    char id[ROOM_CONN_ID_LEN + 1];
    if (room_id_generate(id, NULL, NULL) != 0)
        memcpy(id, "00000000000000000000", sizeof id);
    memcpy(out, id, sizeof id);
}

/* Runs the publish script for `op`; a failure is handled at the next tick
 * (the message is delivered here then). */
static void send_publish(rr_hist *h, hop *op)
{
    const room_allocator *a = alloc_of(h);
    char *chan = name_of(h, op->room, "#"), *meta = NULL, *log = NULL;
    char epoch[ROOM_EPOCH_MAX + 1], count[24], ttl[24];
    const char *args[11];
    size_t lens[11];
    if (!chan || keys(h, op->room, &meta, &log) != 0) {
        rr_free(a, chan);
        fail_later(h, op);
        return;
    }
    new_epoch(epoch);
    snprintf(count, sizeof count, "%u", (unsigned)op->count);
    snprintf(ttl, sizeof ttl, "%u", (unsigned)op->age_ms);
    args[3] = meta, lens[3] = strlen(meta);
    args[4] = log, lens[4] = strlen(log);
    args[5] = chan, lens[5] = strlen(chan);
    args[6] = epoch, lens[6] = strlen(epoch);
    args[7] = count, lens[7] = strlen(count);
    args[8] = ttl, lens[8] = strlen(ttl);
    args[9] = op->pointer ? op->pointer : "", lens[9] = strlen(args[9]);
    args[10] = (const char *)op->record, lens[10] = op->record_len;
    if (run_script(h, PUBLISH, op, args, lens, 11) != 0)
        fail_later(h, op);
    else
        h->ad->bus->stats.published++;
    rr_free(a, chan);
    rr_free(a, meta);
    rr_free(a, log);
}

static void send_fetch(rr_hist *h, hop *op);

/* After the subscriptions sent so far are confirmed (the room's own when
 * its first member just joined): the node then hears the room's messages
 * from the log's answer on, its own included. In order. */
static void send_or_wait(rr_hist *h, hop *op)
{
    room_redis *bus = h->ad->bus;
    op->wait = bus->sub_sent;
    if (!h->waiting && bus->sub_acked >= op->wait) {
        if (op->kind == PUBLISH)
            send_publish(h, op);
        else
            send_fetch(h, op);
        return;
    }
    op->next = NULL;
    *h->waiting_tail = op;
    h->waiting_tail = &op->next;
}

/* Inside a counted send (room_count_deliveries(): the rooms protocol's
 * `delivered`): the message reaches the nodes serving the room through the
 * log, so they are asked for their members, as room_member_count_cluster()
 * asks, into the open count. */
static void count_members_too(rr_adapter *ad, const char *room)
{
    const room_allocator *a = &ad->bus->cfg.allocator;
    const char *id = rr_count_open_id(ad);
    char *chan;
    rr_out out;
    if (!id)
        return;
    rr_out_init(&out, a);
    if ((chan = rr_concat(a, ad->chan, room, "#")) != NULL &&
        rr_count_encode_request(&out, ad->bus->uid, room, id) == 0)
        rr_count_publish(ad, chan, out.data, out.len);
    rr_free(a, chan);
    rr_out_release(&out);
}

static int ad_history_publish(room_adapter *adapter, room_hub *hub, const char *room,
                              const char *event, json_t *const *argv, size_t argc,
                              const room_bytes *att, size_t natt, const char *except_id,
                              json_t *stamp, const room_history_limits *limits)
{
    rr_adapter *ad = (rr_adapter *)adapter;
    rr_hist *h = ad->hist;
    room_redis *bus = ad->bus;
    const room_allocator *a = &bus->cfg.allocator;
    bool nomem = false;
    rr_out out;
    hop *op = NULL;
    int rc = ROOM_ENOMEM;
    (void)hub;

    rr_out_init(&out, a);
    if (!bus->pub.up || !bus->sub.up || !bus->pub.ac ||
        sdslen(bus->pub.ac->c.obuf) > bus->cfg.max_pending_bytes) {
        bus->stats.dropped++;
        rc = ROOM_ESTORAGE;
    } else if ((op = hop_new(h, PUBLISH, room)) != NULL &&
               !(stamp && !(op->pointer = rr_pointer_of(a, argv, argc, stamp, &nomem)) && nomem) &&
               rr_encode_broadcast(&out, bus->uid, ad->nsp, event, argv, argc, att, natt, room,
                                   except_id) == 0) {
        /* Kept until the reply: delivered here if it never comes. */
        op->record = out.data;
        op->record_len = out.len;
        out.data = NULL;
        /* Only an age limit: the log keeps at most this many all the same. */
        op->count = limits->max_messages ? limits->max_messages : 10000u;
        op->age_ms = limits->max_age_ms;
        send_or_wait(h, op);
        op = NULL;
        rc = 0;
        count_members_too(ad, room);
    }
    /* The hub delivers it here under an epoch of its own. */
    if (rc)
        diverge(h, room);
    if (op)
        hop_free(op);
    rr_out_release(&out);
    return rc;
}

static void send_fetch(rr_hist *h, hop *op)
{
    const room_allocator *a = alloc_of(h);
    char *meta, *log, epoch[ROOM_EPOCH_MAX + 1], since[24];
    const char *args[8];
    size_t lens[8];
    if (keys(h, op->room, &meta, &log) != 0) {
        fail_later(h, op);
        return;
    }
    new_epoch(epoch);
    if (op->given)
        snprintf(since, sizeof since, "%llu", (unsigned long long)op->since.offset);
    else
        strcpy(since, "-1");
    args[3] = meta, lens[3] = strlen(meta);
    args[4] = log, lens[4] = strlen(log);
    args[5] = epoch, lens[5] = strlen(epoch);
    args[6] = since, lens[6] = strlen(since);
    args[7] = op->since.epoch, lens[7] = strlen(op->since.epoch);
    if (run_script(h, FETCH, op, args, lens, 8) != 0)
        fail_later(h, op);
    rr_free(a, meta);
    rr_free(a, log);
}

static int ad_history_fetch(room_adapter *adapter, room_hub *hub, const char *room,
                            const room_history_pos *since, uint64_t request)
{
    rr_adapter *ad = (rr_adapter *)adapter;
    rr_hist *h = ad->hist;
    room_redis *bus = ad->bus;
    hop *op;
    (void)hub;
    if (!bus->pub.up || !bus->sub.up || !bus->pub.ac)
        return ROOM_ESTORAGE;
    if (!(op = hop_new(h, FETCH, room)))
        return ROOM_ENOMEM;
    op->request = request;
    if (since) {
        op->given = true;
        op->since = *since;
    }
    send_or_wait(h, op);
    return 0;
}

void rr_history_acked(rr_adapter *ad)
{
    rr_hist *h = ad->hist;
    hop *op;
    while (h && (op = h->waiting) != NULL && ad->bus->sub_acked >= op->wait) {
        if (!(h->waiting = op->next))
            h->waiting_tail = &h->waiting;
        if (op->kind == PUBLISH)
            send_publish(h, op);
        else
            send_fetch(h, op);
    }
}

/* ---- what comes back -------------------------------------------------------------------- */

/* One decoded entry: the envelope, its record and the item for the hub. */
typedef struct entry {
    rr_history_msg msg;
    rr_broadcast b;
    bool decoded;
} entry;

/* The envelope's record as an item of `room`. ROOM_EPROTO unless it is a
 * message of this namespace and room. */
static int decode_entry(rr_adapter *ad, const char *room, const uint8_t *bytes, size_t len,
                        entry *e, room_history_item *item)
{
    int rc;
    memset(item, 0, sizeof *item);
    if ((rc = rr_decode_history(bytes, len, &e->msg)) != 0 || !e->msg.record_len)
        return rc ? rc : ROOM_EPROTO;
    if ((rc = rr_decode_broadcast(&ad->bus->cfg.allocator, e->msg.record, e->msg.record_len,
                                  &e->b)) != 0)
        return rc;
    e->decoded = true;
    if (strcmp(e->b.nsp, ad->nsp) != 0 || e->b.nrooms != 1 || strcmp(e->b.rooms[0], room) != 0)
        return ROOM_EPROTO;
    item->offset = e->msg.offset;
    item->event = e->b.event;
    item->argv = e->b.argv;
    item->argc = e->b.argc;
    item->attachments = e->b.att;
    item->attachment_count = e->b.natt;
    item->stamp = rr_pointer_resolve(e->b.argv, e->b.argc, e->msg.pointer, e->msg.pointer_len);
    return 0;
}

static void entry_release(rr_adapter *ad, entry *e)
{
    if (e->decoded)
        rr_broadcast_release(&ad->bus->cfg.allocator, &e->b);
    e->decoded = false;
}

/* The room a history channel names (in `buf`), or NULL. */
static const char *room_of(const rr_hist *h, const char *channel, size_t len, char *buf, size_t cap)
{
    size_t n = len - h->prefix_len - 1;
    if (n >= cap || memchr(channel + h->prefix_len, '\0', n))
        return NULL;
    memcpy(buf, channel + h->prefix_len, n);
    buf[n] = '\0';
    return buf;
}

void rr_history_message(rr_adapter *ad, const char *channel, size_t len, const uint8_t *msg,
                        size_t msg_len)
{
    room_redis *bus = ad->bus;
    char buf[1024];
    const char *room = room_of(ad->hist, channel, len, buf, sizeof buf);
    room_history_item item;
    room_history_pos pos;
    entry e;
    int rc;
    memset(&e, 0, sizeof e);
    if (!room || rr_decode_history(msg, msg_len, &e.msg) != 0) {
        bus->stats.ignored++;
        return;
    }
    memset(&pos, 0, sizeof pos);
    pos.offset = e.msg.offset;
    memcpy(pos.epoch, e.msg.epoch, sizeof pos.epoch);
    if (!e.msg.record_len) {
        rc = room_history_deliver_remote(ad->hub, room, &pos, NULL, NULL);
    } else if ((rc = decode_entry(ad, room, msg, msg_len, &e, &item)) == 0) {
        bus->stats.received++;
        rc = room_history_deliver_remote(ad->hub, room, &pos, e.b.nexcept ? e.b.except[0] : NULL,
                                         &item);
    } else {
        bus->stats.ignored++;
    }
    if (rc < 0 && rc != ROOM_EPROTO)
        rr_log(bus, ROOM_LOG_WARN, "redis: a history message of %s not delivered: %s", room,
               room_strerror(rc));
    entry_release(ad, &e);
}

static uint64_t reply_uint(const redisReply *r, bool *ok)
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 0) {
        *ok = false;
        return 0;
    }
    return (uint64_t)r->integer;
}

/* The fetch script's answer to the hub. */
static void fetched(rr_hist *h, hop *op, const redisReply *reply)
{
    rr_adapter *ad = h->ad;
    const room_allocator *a = alloc_of(h);
    const redisReply *list;
    room_history_item *items = NULL;
    room_history_pos now;
    entry *entries = NULL;
    uint64_t floor = 0, at = 0;
    size_t i, n = 0;
    bool ok = reply->type == REDIS_REPLY_ARRAY && reply->elements >= 4 &&
              reply->element[0]->type == REDIS_REPLY_STRING &&
              reply->element[0]->len <= ROOM_EPOCH_MAX;
    int status = 0;

    memset(&now, 0, sizeof now);
    if (ok) {
        memcpy(now.epoch, reply->element[0]->str, reply->element[0]->len);
        now.offset = reply_uint(reply->element[1], &ok);
        floor = reply_uint(reply->element[2], &ok);
        at = reply_uint(reply->element[3], &ok);
    }
    list = ok && reply->elements > 4 ? reply->element[4] : NULL;
    if (list && list->type != REDIS_REPLY_ARRAY)
        ok = false;
    n = list ? list->elements : 0;
    if (ok && n && (!(items = rr_malloc(a, n * sizeof *items)) ||
                    !(entries = rr_malloc(a, n * sizeof *entries)))) {
        status = ROOM_ENOMEM;
        n = 0;
    }
    if (entries)
        memset(entries, 0, n * sizeof *entries);
    for (i = 0; ok && !status && i < n; i++) {
        const redisReply *r = list->element[i];
        if (r->type != REDIS_REPLY_STRING ||
            decode_entry(ad, op->room, (const uint8_t *)r->str, r->len, &entries[i], &items[i]) != 0)
            ok = false;
        else
            items[i].age_ms = at > entries[i].msg.time_ms ? at - entries[i].msg.time_ms : 0;
    }
    if (!ok && !status) {
        rr_log(ad->bus, ROOM_LOG_WARN, "redis: the history log of %s is not readable", op->room);
        status = ROOM_ESTORAGE;
    }
    room_history_fetched(ad->hub, op->request, status, status ? NULL : &now, status ? 0 : floor,
                         status ? NULL : items, status ? 0 : n);
    for (i = 0; entries && i < n; i++)
        entry_release(ad, &entries[i]);
    rr_free(a, entries);
    rr_free(a, items);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    hop *op = privdata;
    rr_hist *h = op->h;
    (void)ac;
    if (!h) { /* the adapter is gone */
        hop_free(op);
        return;
    }
    inflight_del(h, op);
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        rr_log(h->ad->bus, ROOM_LOG_ERROR, "redis: a history script failed: %s", reply->str);
        /* A script cache emptied under us: EVAL again next time. */
        if (strncmp(reply->str, "NOSCRIPT", 8) == 0)
            h->ad->bus->history_sha[op->kind][0] = '\0';
    }
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        fail_later(h, op);
        return;
    }
    if (op->kind == FETCH && h->ad->hub)
        fetched(h, op, reply);
    hop_free(op);
}

/* ---- the bus's events ------------------------------------------------------------------------ */

void rr_history_back(rr_adapter *ad)
{
    rr_hist *h = ad->hist;
    room_redis *bus = ad->bus;
    size_t i;
    int s;
    if (!h || !bus->pub.ac)
        return;
    /* First on the new connection: what follows may name them by SHA. */
    for (s = 0; s < SCRIPTS; s++)
        redisAsyncCommand(bus->pub.ac, on_loaded, bus->history_sha[s], "SCRIPT LOAD %s", SCRIPT[s]);
    for (i = 0; i < h->ndiverged; i++) {
        char *chan = name_of(h, h->diverged[i], "#"), *meta = NULL, *log = NULL;
        char epoch[ROOM_EPOCH_MAX + 1];
        const char *args[7];
        size_t lens[7];
        hop *op = hop_new(h, RESET, h->diverged[i]);
        if (op && chan && keys(h, h->diverged[i], &meta, &log) == 0) {
            new_epoch(epoch);
            args[3] = meta, lens[3] = strlen(meta);
            args[4] = log, lens[4] = strlen(log);
            args[5] = chan, lens[5] = strlen(chan);
            args[6] = epoch, lens[6] = strlen(epoch);
            if (run_script(h, RESET, op, args, lens, 7) == 0) {
                rr_log(bus, ROOM_LOG_INFO,
                       "redis: the history of %s starts again under epoch %s (messages were "
                       "delivered on one node only while Redis was away)",
                       h->diverged[i], epoch);
                op = NULL;
            }
        } else {
            rr_log(bus, ROOM_LOG_ERROR,
                   "redis: out of memory: the history of %s keeps its epoch after this outage",
                   h->diverged[i]);
        }
        if (op)
            hop_free(op);
        rr_free(alloc_of(h), chan);
        rr_free(alloc_of(h), meta);
        rr_free(alloc_of(h), log);
        rr_free(alloc_of(h), h->diverged[i]);
    }
    h->ndiverged = 0;
}

void rr_history_down(rr_adapter *ad)
{
    rr_hist *h = ad->hist;
    hop *op;
    if (!h)
        return;
    /* Nothing live reaches this node now: no copy is whole. */
    if (ad->hub)
        room_history_interrupted(ad->hub, NULL);
    /* Waiting for a subscription that will not be confirmed: fetches
     * fail, messages are delivered here. */
    while ((op = h->waiting) != NULL) {
        h->waiting = op->next;
        fail_later(h, op);
    }
    h->waiting_tail = &h->waiting;
}

void rr_history_tick(rr_adapter *ad)
{
    rr_hist *h = ad->hist;
    hop *op;
    entry e;
    room_history_item item;
    while (h && (op = h->failed) != NULL) {
        h->failed = op->next;
        if (!ad->hub) {
            hop_free(op);
            continue;
        }
        if (op->kind == FETCH) {
            room_history_fetched(ad->hub, op->request, ROOM_ESTORAGE, NULL, 0, NULL, 0);
        } else if (op->kind == RESET) {
            diverge(h, op->room); /* again when Redis is back */
        } else {
            /* Taken but not published: here only, and a new epoch when
             * Redis is back. */
            memset(&e, 0, sizeof e);
            diverge(h, op->room);
            if (rr_decode_broadcast(alloc_of(h), op->record, op->record_len, &e.b) == 0) {
                e.decoded = true;
                memset(&item, 0, sizeof item);
                item.event = e.b.event;
                item.argv = e.b.argv;
                item.argc = e.b.argc;
                item.attachments = e.b.att;
                item.attachment_count = e.b.natt;
                item.stamp = op->pointer ? rr_pointer_resolve(e.b.argv, e.b.argc, op->pointer,
                                                              strlen(op->pointer))
                                         : NULL;
                room_history_unpublished(ad->hub, op->room, e.b.nexcept ? e.b.except[0] : NULL,
                                         &item);
            }
            entry_release(ad, &e);
        }
        hop_free(op);
    }
}

/* ---- creation ----------------------------------------------------------------------------- */

int rr_history_init(rr_adapter *ad)
{
    const room_allocator *a = &ad->bus->cfg.allocator;
    rr_hist *h = rr_malloc(a, sizeof *h);
    if (!h)
        return ROOM_ENOMEM;
    memset(h, 0, sizeof *h);
    h->ad = ad;
    if (!(h->prefix = rr_concat(a, ad->bus->key, "-roomd-history#", ad->nsp ? ad->nsp : ""))) {
        rr_free(a, h);
        return ROOM_ENOMEM;
    }
    {
        char *p = rr_concat(a, h->prefix, "#", "");
        rr_free(a, h->prefix);
        if (!(h->prefix = p)) {
            rr_free(a, h);
            return ROOM_ENOMEM;
        }
    }
    h->prefix_len = strlen(h->prefix);
    h->waiting_tail = &h->waiting;
    ad->hist = h;
    ad->base.history_publish = ad_history_publish;
    ad->base.history_fetch = ad_history_fetch;
    return 0;
}

void rr_history_destroy(rr_adapter *ad)
{
    rr_hist *h = ad->hist;
    const room_allocator *a;
    hop *op;
    size_t i;
    if (!h)
        return;
    a = alloc_of(h);
    /* hiredis still holds these: they free themselves on their reply. */
    for (op = h->inflight; op; op = op->next) {
        op->h = NULL;
        rr_free(a, op->record);
        rr_free(a, op->pointer);
        op->record = NULL;
        op->pointer = NULL;
    }
    while ((op = h->waiting) != NULL) {
        h->waiting = op->next;
        hop_free(op);
    }
    while ((op = h->failed) != NULL) {
        h->failed = op->next;
        hop_free(op);
    }
    for (i = 0; i < h->ndiverged; i++)
        rr_free(a, h->diverged[i]);
    rr_free(a, h->diverged);
    rr_free(a, h->prefix);
    rr_free(a, h);
    ad->hist = NULL;
}
