/* The node's link to Redis: two hiredis connections on the host's loop,
 * reconnection, heartbeats and the channel dispatch to the adapters. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/sds.h>
#include <sys/random.h>

#include "internal.h"

/* How long a connection attempt may take. */
#define CONNECT_TIMEOUT_MS 5000

/* ---- allocation ------------------------------------------------------------- */

void rr_allocator_resolve(room_allocator *a)
{
    if (!a->malloc || !a->free)
        *a = *room_allocator_libc();
}

void *rr_malloc(const room_allocator *a, size_t size)
{
    return a->malloc(size ? size : 1, a->ud);
}

void rr_free(const room_allocator *a, void *ptr)
{
    if (ptr)
        a->free(ptr, a->ud);
}

char *rr_strdup(const room_allocator *a, const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = rr_malloc(a, len);
    if (copy)
        memcpy(copy, s, len);
    return copy;
}

char *rr_concat(const room_allocator *a, const char *x, const char *y, const char *z)
{
    size_t lx = strlen(x), ly = strlen(y), lz = strlen(z);
    char *s = rr_malloc(a, lx + ly + lz + 1);
    if (s) {
        memcpy(s, x, lx);
        memcpy(s + lx, y, ly);
        memcpy(s + lx + ly, z, lz + 1);
    }
    return s;
}

void rr_log(room_redis *bus, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    room_vlogf(bus->cfg.log, bus->cfg.user_data, level, fmt, ap);
    va_end(ap);
}

/* ---- the loop glue: hiredis' event hooks become `watch` calls ---------------- */

static void watch_set(rr_conn *c, int events)
{
    if (events == c->events)
        return;
    c->events = events;
    c->bus->cfg.watch(c->fd, events, c->bus->cfg.watch_data);
}

static void ev_add_read(void *p)
{
    rr_conn *c = p;
    watch_set(c, c->events | ROOM_REDIS_READABLE);
}

static void ev_del_read(void *p)
{
    rr_conn *c = p;
    watch_set(c, c->events & ~ROOM_REDIS_READABLE);
}

static void ev_add_write(void *p)
{
    rr_conn *c = p;
    watch_set(c, c->events | ROOM_REDIS_WRITABLE);
}

static void ev_del_write(void *p)
{
    rr_conn *c = p;
    watch_set(c, c->events & ~ROOM_REDIS_WRITABLE);
}

/* hiredis is freeing the context. */
static void ev_cleanup(void *p)
{
    rr_conn *c = p;
    watch_set(c, 0);
    c->ac = NULL;
    c->up = false;
}

void room_redis_io(room_redis *bus, int fd, int events)
{
    rr_conn *conns[2], *c;
    int i;
    if (!bus)
        return;
    conns[0] = &bus->pub;
    conns[1] = &bus->sub;
    for (i = 0; i < 2; i++) {
        c = conns[i];
        if (!c->ac || c->fd != fd)
            continue;
        if (events & ROOM_REDIS_READABLE)
            redisAsyncHandleRead(c->ac);
        /* The read may have found the connection closed and freed it. */
        if (c->ac && (events & ROOM_REDIS_WRITABLE))
            redisAsyncHandleWrite(c->ac);
        /* Output drained: storage answers go on (storage.c). */
        if (c == &bus->pub && (events & ROOM_REDIS_WRITABLE)) {
            rr_adapter *ad;
            for (ad = bus->adapters; ad; ad = ad->next)
                rr_storage_pump(ad);
        }
        return;
    }
}

/* ---- connections -------------------------------------------------------------------- */

static void outage(room_redis *bus, const char *what)
{
    if (bus->closing)
        return;
    for (rr_adapter *ad = bus->adapters; ad; ad = ad->next)
        rr_history_down(ad);
    if (!bus->outage) {
        bus->outage = true;
        bus->stats.outages++;
        bus->dropped_in_outage = bus->stats.dropped;
        rr_log(bus, ROOM_LOG_ERROR,
               "redis %s:%d: %s; delivering locally only, retrying every %u ms", bus->host,
               bus->port, what, (unsigned)bus->cfg.reconnect_ms);
    }
    if (!bus->next_connect)
        bus->next_connect = bus->now + bus->cfg.reconnect_ms;
}

static void on_message(redisAsyncContext *ac, void *r, void *privdata);

static void back_up(room_redis *bus)
{
    rr_adapter *ad;
    if (!bus->pub.up || !bus->sub.up)
        return;
    if (bus->outage) {
        bus->outage = false;
        rr_log(bus, ROOM_LOG_INFO, "redis %s:%d: connected again (%llu messages dropped meanwhile)",
               bus->host, bus->port,
               (unsigned long long)(bus->stats.dropped - bus->dropped_in_outage));
    }
    /* Tell the others we are here at once. */
    bus->next_heartbeat = 0;
    for (ad = bus->adapters; ad; ad = ad->next)
        rr_adapter_back(ad);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    rr_conn *c = ac->data;
    room_redis *bus = c->bus;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        outage(bus, ac->errstr[0] ? ac->errstr : "cannot connect");
        return;
    }
    c->up = true;
    if (c->sub) {
        rr_adapter *ad;
        bus->sub_sent = bus->sub_acked = 0;
        rr_subscribe(bus, bus->hb_chan, strlen(bus->hb_chan), true);
        for (ad = bus->adapters; ad; ad = ad->next)
            rr_adapter_subscribe_all(ad);
    }
    back_up(bus);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    rr_conn *c = ac->data;
    (void)status;
    c->up = false;
    outage(c->bus, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    rr_conn *c = ac->data;
    (void)privdata;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        rr_log(c->bus, ROOM_LOG_ERROR, "redis: AUTH refused: %s", reply->str);
}

static void connect_one(room_redis *bus, rr_conn *c)
{
    redisAsyncContext *ac;
    if (c->ac)
        return;
    ac = redisAsyncConnect(bus->host, bus->port);
    if (!ac) {
        outage(bus, "out of memory");
        return;
    }
    if (ac->err) {
        outage(bus, ac->errstr);
        redisAsyncFree(ac);
        return;
    }
    c->ac = ac;
    c->fd = ac->c.fd;
    c->events = 0;
    c->started = bus->now;
    ac->data = c;
    ac->ev.data = c;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (bus->password)
        redisAsyncCommand(ac, on_auth, NULL, "AUTH %s", bus->password);
}

static void connect_all(room_redis *bus)
{
    bus->next_connect = 0;
    connect_one(bus, &bus->pub);
    connect_one(bus, &bus->sub);
}

/* ---- publishing and subscribing ------------------------------------------------------- */

void rr_publish(room_redis *bus, const char *channel, size_t channel_len, const void *msg, size_t len)
{
    rr_publish_reply(bus, channel, channel_len, msg, len, NULL, NULL);
}

bool rr_publish_reply(room_redis *bus, const char *channel, size_t channel_len, const void *msg,
                      size_t len, rr_reply_fn *fn, void *privdata)
{
    redisAsyncContext *ac = bus->pub.ac;
    if (!bus->pub.up || !ac || sdslen(ac->c.obuf) + len > bus->cfg.max_pending_bytes) {
        bus->stats.dropped++;
        return false;
    }
    if (redisAsyncCommand(ac, fn, privdata, "PUBLISH %b %b", channel, channel_len, msg, len) !=
        REDIS_OK) {
        bus->stats.dropped++;
        return false;
    }
    bus->stats.published++;
    /* Out now rather than when the loop next polls: the host may answer
     * its clients first in this iteration, and a client told of a change
     * must not reach another node before the change does. What the socket
     * does not take waits for writability as usual. */
    redisAsyncHandleWrite(ac);
    return true;
}

size_t rr_pending_bytes(const room_redis *bus)
{
    return bus->pub.ac ? sdslen(bus->pub.ac->c.obuf) : 0;
}

void rr_subscribe(room_redis *bus, const char *channel, size_t len, bool on)
{
    if (!bus->sub.up || !bus->sub.ac)
        return;
    if (redisAsyncCommand(bus->sub.ac, on_message, NULL, on ? "SUBSCRIBE %b" : "UNSUBSCRIBE %b",
                          channel, len) == REDIS_OK)
        bus->sub_sent++;
    /* Subscribed before what this node publishes next is answered. */
    redisAsyncHandleWrite(bus->sub.ac);
}

static rr_node *node_find(room_redis *bus, const char *uid, rr_node ***link)
{
    rr_node **p;
    for (p = &bus->nodes; *p; p = &(*p)->next) {
        if (strcmp((*p)->uid, uid) == 0) {
            if (link)
                *link = p;
            return *p;
        }
    }
    return NULL;
}

static void node_gone(room_redis *bus, rr_node **link, const char *why)
{
    rr_node *n = *link;
    rr_adapter *ad;
    char uid[sizeof n->uid];
    *link = n->next;
    bus->stats.nodes--;
    rr_log(bus, ROOM_LOG_INFO, "redis: node %s (%s) %s", n->name, n->uid, why);
    memcpy(uid, n->uid, sizeof uid);
    rr_free(&bus->cfg.allocator, n);
    for (ad = bus->adapters; ad; ad = ad->next)
        rr_adapter_node_gone(ad, uid);
}

/* Heartbeats: {"uid", "type": 102, "node"} every heartbeat_ms; "bye" (103)
 * when a node closes. */
static void heartbeat_message(room_redis *bus, const uint8_t *msg, size_t len)
{
    json_t *obj = rr_decode_object(msg, len);
    const char *uid = json_string_value(json_object_get(obj, "uid"));
    const char *name = json_string_value(json_object_get(obj, "node"));
    json_int_t type = json_integer_value(json_object_get(obj, "type"));
    rr_node *n, **link;
    rr_adapter *ad;
    if (!uid || strlen(uid) >= sizeof n->uid || strcmp(uid, bus->uid) == 0) {
        json_decref(obj);
        return;
    }
    n = node_find(bus, uid, &link);
    if (type == RR_REQ_BYE) {
        if (n)
            node_gone(bus, link, "left");
    } else if (type == RR_REQ_HEARTBEAT) {
        if (!n && (n = rr_malloc(&bus->cfg.allocator, sizeof *n)) != NULL) {
            memset(n, 0, sizeof *n);
            snprintf(n->uid, sizeof n->uid, "%s", uid);
            snprintf(n->name, sizeof n->name, "%s", name ? name : uid);
            n->next = bus->nodes;
            bus->nodes = n;
            bus->stats.nodes++;
            rr_log(bus, ROOM_LOG_INFO, "redis: node %s (%s) joined", n->name, n->uid);
            /* It knows nothing of our presence yet. */
            for (ad = bus->adapters; ad; ad = ad->next)
                rr_adapter_announce(ad);
        }
        if (n)
            n->last_seen = bus->now;
    }
    json_decref(obj);
}

/* Every subscribed channel's messages and (un)subscribe confirmations. */
static void on_message(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r, *kind, *chan, *msg;
    rr_conn *c = ac->data;
    room_redis *bus = c->bus;
    rr_adapter *ad;
    (void)privdata;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    kind = reply->element[0];
    chan = reply->element[1];
    msg = reply->element[2];
    if (kind->type != REDIS_REPLY_STRING || chan->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "subscribe") == 0 || strcmp(kind->str, "unsubscribe") == 0) {
        if (msg->type == REDIS_REPLY_INTEGER)
            bus->stats.channels = (uint32_t)msg->integer;
        /* Storage fetches ask once their room's channel is heard. */
        for (ad = bus->adapters; ad && kind->str[0] == 's'; ad = ad->next)
            rr_storage_subscribed(ad, chan->str, chan->len);
        bus->sub_acked++;
        for (ad = bus->adapters; ad; ad = ad->next)
            rr_history_acked(ad);
        return;
    }
    if (strcmp(kind->str, "message") != 0 || msg->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(chan->str, bus->hb_chan) == 0) {
        heartbeat_message(bus, (const uint8_t *)msg->str, msg->len);
        return;
    }
    for (ad = bus->adapters; ad; ad = ad->next) {
        size_t n = strlen(ad->chan), q = strlen(ad->req_chan), s = strlen(ad->resp_chan);
        size_t pr = strlen(ad->pres_chan);
        if ((chan->len >= n && memcmp(chan->str, ad->chan, n) == 0) ||
            (chan->len == q && memcmp(chan->str, ad->req_chan, q) == 0) ||
            (chan->len == pr && memcmp(chan->str, ad->pres_chan, pr) == 0) ||
            (chan->len >= s && memcmp(chan->str, ad->resp_chan, s) == 0) ||
            rr_history_channel(ad, chan->str, chan->len)) {
            rr_adapter_message(ad, chan->str, chan->len, (const uint8_t *)msg->str, msg->len);
            return;
        }
    }
    bus->stats.ignored++;
}

static void heartbeat(room_redis *bus, int type)
{
    char msg[160];
    int n = snprintf(msg, sizeof msg, "{\"uid\":\"%s\",\"type\":%d,\"node\":\"%s\"}", bus->uid, type,
                     bus->node_id);
    if (n > 0 && (size_t)n < sizeof msg)
        rr_publish(bus, bus->hb_chan, strlen(bus->hb_chan), msg, (size_t)n);
}

int64_t room_redis_tick(room_redis *bus, uint64_t now_ms)
{
    rr_node **link;
    rr_adapter *ad;
    if (!bus)
        return -1;
    bus->now = now_ms;
    /* Attempts made before the host's clock was known start now. */
    if (!bus->ticked) {
        bus->ticked = true;
        bus->pub.started = bus->sub.started = now_ms;
        if (bus->next_connect)
            bus->next_connect = now_ms + bus->cfg.reconnect_ms;
    }
    /* hiredis has no connect timeout: a Redis that never answers the SYN
     * would hold the attempt forever. */
    for (int i = 0; i < 2; i++) {
        rr_conn *c = i ? &bus->sub : &bus->pub;
        if (c->ac && !c->up && now_ms - c->started > CONNECT_TIMEOUT_MS) {
            redisAsyncFree(c->ac);
            c->ac = NULL; /* ev_cleanup did so too */
            outage(bus, "connect timed out");
        }
    }
    if (bus->next_connect && now_ms >= bus->next_connect)
        connect_all(bus);
    if (bus->pub.up && now_ms >= bus->next_heartbeat) {
        heartbeat(bus, RR_REQ_HEARTBEAT);
        bus->next_heartbeat = now_ms + bus->cfg.heartbeat_ms;
    }
    /* Nodes are judged only while we hear Redis ourselves: in an outage
     * every node would look dead. */
    if (bus->sub.up) {
        for (link = &bus->nodes; *link;) {
            if (now_ms - (*link)->last_seen > bus->cfg.node_timeout_ms)
                node_gone(bus, link, "stopped sending heartbeats");
            else
                link = &(*link)->next;
        }
    } else {
        for (link = &bus->nodes; *link; link = &(*link)->next)
            (*link)->last_seen = now_ms;
    }
    for (ad = bus->adapters; ad; ad = ad->next)
        rr_adapter_tick(ad, now_ms);
    return bus->cfg.heartbeat_ms < 250 ? bus->cfg.heartbeat_ms : 250;
}

/* ---- creation ------------------------------------------------------------------------------ */

/* redis://[[user]:password@]host[:port][/db] */
static int parse_url(room_redis *bus, const char *url)
{
    const room_allocator *a = &bus->cfg.allocator;
    const char *p = url, *at, *end, *colon;
    char *port_end;
    long port = 6379;
    size_t hostlen;
    if (strncmp(p, "redis://", 8) != 0)
        return ROOM_EINVAL;
    p += 8;
    end = p + strcspn(p, "/");
    at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *pc = memchr(p, ':', (size_t)(at - p));
        const char *pw = pc ? pc + 1 : p;
        if (at > pw) {
            if (!(bus->password = rr_malloc(a, (size_t)(at - pw) + 1)))
                return ROOM_ENOMEM;
            memcpy(bus->password, pw, (size_t)(at - pw));
            bus->password[at - pw] = '\0';
        }
        p = at + 1;
    }
    colon = memchr(p, ':', (size_t)(end - p));
    hostlen = (size_t)((colon ? colon : end) - p);
    if (colon) {
        port = strtol(colon + 1, &port_end, 10);
        if (port_end != end || port <= 0 || port > 65535)
            return ROOM_EINVAL;
    }
    if (!hostlen)
        return ROOM_EINVAL;
    if (!(bus->host = rr_malloc(a, hostlen + 1)))
        return ROOM_ENOMEM;
    memcpy(bus->host, p, hostlen);
    bus->host[hostlen] = '\0';
    bus->port = (int)port;
    return 0;
}

static void bus_release(room_redis *bus)
{
    const room_allocator *a = &bus->cfg.allocator;
    rr_node *n;
    while ((n = bus->nodes) != NULL) {
        bus->nodes = n->next;
        rr_free(a, n);
    }
    rr_free(a, bus->host);
    rr_free(a, bus->password);
    rr_free(a, bus->key);
    rr_free(a, bus->node_id);
    rr_free(a, bus->hb_chan);
    a->free(bus, a->ud);
}

int room_redis_new(room_redis **out, const room_redis_config *config)
{
    room_redis_config cfg;
    room_redis *bus;
    uint8_t raw[6];
    int rc, i;

    if (!out)
        return ROOM_EINVAL;
    *out = NULL;
    if (!config || room_config_copy(&cfg, sizeof cfg, config, ROOM_REDIS_CONFIG_MIN_SIZE) ||
        !cfg.watch)
        return ROOM_EINVAL;
    rr_allocator_resolve(&cfg.allocator);
    if (!(bus = cfg.allocator.malloc(sizeof *bus, cfg.allocator.ud)))
        return ROOM_ENOMEM;
    memset(bus, 0, sizeof *bus);
    bus->cfg = cfg;
    bus->cfg.url = bus->cfg.key = bus->cfg.node_id = NULL;
    if (!bus->cfg.request_timeout_ms)
        bus->cfg.request_timeout_ms = 5000;
    if (!bus->cfg.heartbeat_ms)
        bus->cfg.heartbeat_ms = 1000;
    if (!bus->cfg.node_timeout_ms)
        bus->cfg.node_timeout_ms = 5000;
    if (!bus->cfg.reconnect_ms)
        bus->cfg.reconnect_ms = 500;
    if (!bus->cfg.count_timeout_ms)
        bus->cfg.count_timeout_ms = 1000;
    if (!bus->cfg.max_pending_bytes)
        bus->cfg.max_pending_bytes = (size_t)8 << 20;
    bus->pub.bus = bus->sub.bus = bus;
    bus->sub.sub = true;
    bus->pub.fd = bus->sub.fd = -1;
    /* The wire uid: random, like the Socket.IO adapter's uid2(6). */
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        bus_release(bus);
        return ROOM_EINVAL;
    }
    for (i = 0; i < 6; i++)
        snprintf(bus->uid + 2 * i, 3, "%02x", raw[i]);
    rc = parse_url(bus, config->url ? config->url : "redis://127.0.0.1:6379");
    if (!rc && (!(bus->key = rr_strdup(&bus->cfg.allocator, config->key ? config->key : "socket.io")) ||
                !(bus->node_id = rr_strdup(&bus->cfg.allocator,
                                           config->node_id ? config->node_id : bus->uid)) ||
                !(bus->hb_chan = rr_concat(&bus->cfg.allocator, bus->key, "-roomd#", ""))))
        rc = ROOM_ENOMEM;
    if (!rc && (strchr(bus->node_id, '"') || strchr(bus->node_id, '\\') || strlen(bus->node_id) > 60))
        rc = ROOM_EINVAL;
    if (rc) {
        bus_release(bus);
        return rc;
    }
    connect_all(bus);
    *out = bus;
    return 0;
}

void room_redis_free(room_redis *bus)
{
    if (!bus)
        return;
    /* Best effort: the others drop our presence now rather than after the
     * node timeout. */
    if (bus->pub.up) {
        heartbeat(bus, RR_REQ_BYE);
        redisAsyncHandleWrite(bus->pub.ac);
    }
    bus->closing = true;
    if (bus->pub.ac)
        redisAsyncFree(bus->pub.ac);
    if (bus->sub.ac)
        redisAsyncFree(bus->sub.ac);
    bus_release(bus);
}

void room_redis_get_stats(const room_redis *bus, room_redis_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!bus)
        return;
    *out = bus->stats;
    out->connected = bus->pub.up && bus->sub.up;
}

const char *room_redis_uid(const room_redis *bus)
{
    return bus ? bus->uid : NULL;
}
