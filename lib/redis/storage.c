/* Room storage across nodes (docs/cluster.md "Room storage"): updates
 * appended here go out once on the room's channel, which only the nodes
 * serving the room hear; each appends them to its own copy. A node whose
 * first member of a room begins a sync asks the others for their log (on
 * the request channel, once its subscription to the room's channel is
 * confirmed, so that nothing published meanwhile is missed), and every
 * node answers on the asker's own channel: with its log, in messages of
 * RR_ST_CHUNK bytes paced by this node's output to Redis, or with "none".
 * The fetch ends at the first complete answer of a node serving the room,
 * when every live node has answered, or after RR_ST_TIMEOUT_MS of silence;
 * every complete answer is appended (Yjs updates are idempotent, so a copy
 * answered twice costs bytes, never content). */
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

#include "internal.h"
#include "room/storage.h"

/* Bytes of an answer per message: well under Redis' pub/sub output limits
 * (client-output-buffer-limit pubsub 32mb 8mb 60) and our own
 * max_pending_bytes. */
#define RR_ST_CHUNK ((size_t)512 << 10)
/* An answer goes on only while less than this waits for Redis. */
#define RR_ST_PACE ((size_t)1 << 20)
/* A fetch with no answer in this time (since it asked, or since its last
 * message) ends with what it has: a joiner waits at most this long. */
#define RR_ST_TIMEOUT_MS 1000
/* The most one answer may hold: the core's max_log_bytes default and the
 * entries' lengths, with room to spare. */
#define RR_ST_MAX_ANSWER ((size_t)96 << 20)
#define RR_ST_NSP "roomd-storage"

/* ---- the wire ----------------------------------------------------------------
 * A small msgpack reader for the fixed shapes, allocation-free. */

typedef struct rd {
    const uint8_t *p;
    size_t len, pos;
} rd;

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    while (n--)
        v = (v << 8) | *p++;
    return v;
}

/* A length-prefixed item whose type byte is `c`: str or bin. */
static int rd_blob(rd *r, bool bin, const uint8_t **data, size_t *n)
{
    uint8_t c;
    size_t head = 0;
    uint64_t size;
    if (r->pos >= r->len)
        return -1;
    c = r->p[r->pos++];
    if (!bin && c >= 0xa0 && c <= 0xbf)
        size = c & 0x1f;
    else if ((!bin && c == 0xd9) || (bin && c == 0xc4))
        head = 1;
    else if ((!bin && c == 0xda) || (bin && c == 0xc5))
        head = 2;
    else if ((!bin && c == 0xdb) || (bin && c == 0xc6))
        head = 4;
    else
        return -1;
    if (head) {
        if (r->len - r->pos < head)
            return -1;
        size = be(r->p + r->pos, head);
        r->pos += head;
    }
    if (size > r->len - r->pos)
        return -1;
    *data = r->p + r->pos;
    *n = (size_t)size;
    r->pos += (size_t)size;
    return 0;
}

/* A str copied NUL-terminated into `out` (cap bytes with the NUL), with
 * no NUL inside. */
static int rd_str(rd *r, char *out, size_t cap)
{
    const uint8_t *s;
    size_t n;
    if (rd_blob(r, false, &s, &n) || n >= cap || (n && memchr(s, 0, n)))
        return -1;
    if (n)
        memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int rd_uint(rd *r, uint64_t *v)
{
    uint8_t c;
    size_t n;
    if (r->pos >= r->len)
        return -1;
    c = r->p[r->pos++];
    if (c <= 0x7f) {
        *v = c;
        return 0;
    }
    if (c < 0xcc || c > 0xcf)
        return -1;
    n = (size_t)1 << (c - 0xcc);
    if (r->len - r->pos < n)
        return -1;
    *v = be(r->p + r->pos, n);
    r->pos += n;
    return 0;
}

/* A fixarray or fixmap header: its count. */
static int rd_fix(rd *r, uint8_t base, uint64_t *n)
{
    if (r->pos >= r->len || (r->p[r->pos] & 0xf0) != base)
        return -1;
    *n = r->p[r->pos++] & 0x0f;
    return 0;
}

int rr_decode_storage(const uint8_t *bytes, size_t len, rr_smsg *m)
{
    rd r = {bytes, len, 0};
    uint64_t items, keys, type = 0;
    char key[8], nsp[sizeof RR_ST_NSP];
    size_t want;
    memset(m, 0, sizeof *m);
    /* [uid, {"type": T, "nsp": "roomd-storage"} (so, in this order: only
     * roomd writes these), room, ...]. */
    if (rd_fix(&r, 0x90, &items) || items < 4 || rd_str(&r, m->uid, sizeof m->uid) ||
        rd_fix(&r, 0x80, &keys) || keys != 2 || rd_str(&r, key, sizeof key) || strcmp(key, "type") ||
        rd_uint(&r, &type) || rd_str(&r, key, sizeof key) || strcmp(key, "nsp") ||
        rd_str(&r, nsp, sizeof nsp) || strcmp(nsp, RR_ST_NSP))
        return ROOM_EPROTO;
    switch (type) {
    case RR_ST_UPDATE:
    case RR_ST_RELAY:
        want = 4;
        break;
    case RR_ST_FETCH:
        want = 5;
        break;
    case RR_ST_LOG:
        want = 7;
        break;
    default:
        return ROOM_EPROTO;
    }
    m->type = (int)type;
    if (items != want || rd_str(&r, m->room, sizeof m->room) || !m->room[0])
        return ROOM_EPROTO;
    if (type == RR_ST_FETCH || type == RR_ST_LOG) {
        if (rd_str(&r, m->id, sizeof m->id) || !m->id[0])
            return ROOM_EPROTO;
    }
    if (type == RR_ST_LOG && (rd_uint(&r, &m->seq) || rd_uint(&r, &m->flags) || m->flags > 7))
        return ROOM_EPROTO;
    if (type == RR_ST_FETCH && (rd_uint(&r, &m->flags) || m->flags > RR_FETCH_BACK))
        return ROOM_EPROTO;
    if (type != RR_ST_FETCH && rd_blob(&r, true, &m->data, &m->len))
        return ROOM_EPROTO;
    return r.pos == len ? 0 : ROOM_EPROTO;
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

int rr_encode_storage(rr_out *out, const rr_smsg *m)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, rr_out_write);
    msgpack_pack_array(&pk, m->type == RR_ST_LOG ? 7 : m->type == RR_ST_FETCH ? 5 : 4);
    pack_cstr(&pk, m->uid);
    msgpack_pack_map(&pk, 2);
    pack_cstr(&pk, "type");
    msgpack_pack_uint64(&pk, (uint64_t)m->type);
    pack_cstr(&pk, "nsp");
    pack_cstr(&pk, RR_ST_NSP);
    pack_cstr(&pk, m->room);
    if (m->type == RR_ST_FETCH || m->type == RR_ST_LOG)
        pack_cstr(&pk, m->id);
    if (m->type == RR_ST_LOG)
        msgpack_pack_uint64(&pk, m->seq);
    if (m->type == RR_ST_LOG || m->type == RR_ST_FETCH)
        msgpack_pack_uint64(&pk, m->flags);
    if (m->type != RR_ST_FETCH) {
        msgpack_pack_bin(&pk, m->len);
        msgpack_pack_bin_body(&pk, m->data, m->len);
    }
    return out->err;
}

int rr_log_next(const uint8_t *bytes, size_t len, size_t *pos, const uint8_t **entry,
                size_t *entry_len)
{
    uint64_t n;
    if (*pos == len)
        return 0;
    if (len - *pos < 4)
        return ROOM_EPROTO;
    n = be(bytes + *pos, 4);
    if (n > len - *pos - 4)
        return ROOM_EPROTO;
    *entry = bytes + *pos + 4;
    *entry_len = (size_t)n;
    *pos += 4 + (size_t)n;
    return 1;
}

/* ---- state ----------------------------------------------------------------------- */

/* One node's answer to a fetch of ours, as it comes. */
typedef struct rr_from {
    char uid[16];
    uint64_t seq; /* the next message expected */
    uint8_t *buf;
    size_t len, cap;
    bool over;    /* complete, or broken (a message lost): ignored from now on */
    struct rr_from *next;
} rr_from;

/* A fetch of ours. */
typedef struct rr_fetch {
    char id[RR_ST_ID_MAX + 1];
    char *room;
    char *chan;   /* the room's channel: the request waits for its subscription */
    bool asked;
    bool back;    /* after an outage: the answerers fetch ours in turn */
    uint32_t answered; /* complete answers, or broken ones */
    uint64_t deadline;
    rr_from *from;
    struct rr_fetch *next;
} rr_fetch;

/* An entry of an answer of ours: a reference to its frame keeps the bytes. */
typedef struct rr_part {
    room_frame *frame;
    const uint8_t *data;
    size_t len;
} rr_part;

/* An answer of ours to another node's fetch, sent as the output drains. */
typedef struct rr_answer {
    char *chan; /* the asker's own response channel */
    char *room;
    char id[RR_ST_ID_MAX + 1];
    rr_part *parts;
    size_t nparts, capparts, next, offset; /* offset: into parts[next], header included */
    uint64_t seq;
    unsigned flags;
    int err;
    struct rr_answer *next_answer;
} rr_answer;

typedef struct rr_storage {
    rr_fetch *fetches;
    rr_answer *answers;
    uint32_t counter;
    bool back; /* the fetches asked now follow an outage */
} rr_storage;

static const room_allocator *alloc_of(const rr_adapter *ad)
{
    return &ad->bus->cfg.allocator;
}

static rr_storage *storage_of(rr_adapter *ad)
{
    if (!ad->storage && (ad->storage = rr_malloc(alloc_of(ad), sizeof *ad->storage)) != NULL)
        memset(ad->storage, 0, sizeof *ad->storage);
    return ad->storage;
}

static void publish_msg(rr_adapter *ad, const char *chan, const rr_smsg *m)
{
    rr_out out;
    rr_out_init(&out, alloc_of(ad));
    if (rr_encode_storage(&out, m) == 0)
        rr_publish(ad->bus, chan, strlen(chan), out.data, out.len);
    else
        ad->bus->stats.dropped++;
    rr_out_release(&out);
}

/* Fills the common fields; false when a name does not fit. */
static bool smsg_init(rr_smsg *m, const rr_adapter *ad, int type, const char *room, const char *id)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    if (strlen(room) > RR_ST_ROOM_MAX || (id && strlen(id) > RR_ST_ID_MAX))
        return false;
    snprintf(m->uid, sizeof m->uid, "%s", ad->bus->uid);
    strcpy(m->room, room);
    if (id)
        strcpy(m->id, id);
    return true;
}

/* ---- publishing -------------------------------------------------------------------- */

int rr_storage_publish(room_adapter *adapter, room_hub *hub, const char *room, int kind,
                       const void *bytes, size_t len)
{
    rr_adapter *ad = (rr_adapter *)adapter;
    rr_smsg m;
    char *chan;
    (void)hub;
    if (!smsg_init(&m, ad, kind == ROOM_STORAGE_RELAY ? RR_ST_RELAY : RR_ST_UPDATE, room, NULL))
        return ROOM_ENAME;
    if (!(chan = rr_concat(alloc_of(ad), ad->chan, room, "#")))
        return ROOM_ENOMEM;
    m.data = bytes;
    m.len = len;
    publish_msg(ad, chan, &m);
    rr_free(alloc_of(ad), chan);
    return 0;
}

/* ---- fetching ------------------------------------------------------------------------ */

static void fetch_free(rr_adapter *ad, rr_fetch *f)
{
    rr_from *x;
    while ((x = f->from) != NULL) {
        f->from = x->next;
        rr_free(alloc_of(ad), x->buf);
        rr_free(alloc_of(ad), x);
    }
    rr_free(alloc_of(ad), f->room);
    rr_free(alloc_of(ad), f->chan);
    rr_free(alloc_of(ad), f);
}

int rr_storage_fetch(room_adapter *adapter, room_hub *hub, const char *room)
{
    rr_adapter *ad = (rr_adapter *)adapter;
    room_redis *bus = ad->bus;
    rr_storage *st;
    rr_fetch *f;
    (void)hub;
    /* Nobody to ask (or no way to): this node's copy is all there is. A
     * node that connected less than two heartbeats ago may not have heard
     * the others yet: it asks anyway. */
    if (!bus->pub.up || !bus->sub.up || strlen(room) > RR_ST_ROOM_MAX ||
        (!bus->stats.nodes && bus->now - bus->sub.started > 2 * (uint64_t)bus->cfg.heartbeat_ms))
        return ROOM_ENOTFOUND;
    if (!(st = storage_of(ad)) || !(f = rr_malloc(alloc_of(ad), sizeof *f)))
        return ROOM_ENOMEM;
    memset(f, 0, sizeof *f);
    f->room = rr_strdup(alloc_of(ad), room);
    f->chan = rr_concat(alloc_of(ad), ad->chan, room, "#");
    if (!f->room || !f->chan) {
        fetch_free(ad, f);
        return ROOM_ENOMEM;
    }
    snprintf(f->id, sizeof f->id, "%.12s-s%u", bus->uid, (unsigned)++st->counter);
    f->deadline = bus->now + RR_ST_TIMEOUT_MS;
    f->back = st->back;
    f->next = st->fetches;
    st->fetches = f;
    /* Ask once the subscription to the room's channel is confirmed: its
     * first member subscribed it just now, and a SUBSCRIBE of a channel
     * already subscribed is confirmed too. */
    rr_subscribe(bus, f->chan, strlen(f->chan), true);
    return 0;
}

void rr_storage_subscribed(rr_adapter *ad, const char *channel, size_t len)
{
    rr_fetch *f;
    rr_smsg m;
    for (f = ad->storage ? ad->storage->fetches : NULL; f; f = f->next) {
        if (f->asked || strlen(f->chan) != len || memcmp(f->chan, channel, len) != 0)
            continue;
        f->asked = true;
        f->deadline = ad->bus->now + RR_ST_TIMEOUT_MS;
        if (smsg_init(&m, ad, RR_ST_FETCH, f->room, f->id)) {
            m.flags = f->back ? RR_FETCH_BACK : 0;
            publish_msg(ad, ad->req_chan, &m);
        }
    }
}

/* The fetch is over: the core's syncs of the room may finish. */
static void fetch_end(rr_adapter *ad, rr_fetch *f)
{
    rr_fetch **link;
    for (link = &ad->storage->fetches; *link; link = &(*link)->next) {
        if (*link == f) {
            *link = f->next;
            break;
        }
    }
    if (ad->hub)
        room_storage_remote_fetched(ad->hub, f->room);
    fetch_free(ad, f);
}

/* A complete answer: its entries go into this node's copy. */
static void apply_answer(rr_adapter *ad, rr_fetch *f, const rr_from *x)
{
    const uint8_t *e;
    size_t pos = 0, n;
    int rc, bad = 0, count = 0;
    while ((rc = rr_log_next(x->buf, x->len, &pos, &e, &n)) == 1) {
        int r = room_storage_remote_append(ad->hub, f->room, e, n);
        if (r < 0 && !bad)
            bad = r;
        count++;
    }
    if (rc < 0)
        rr_log(ad->bus, ROOM_LOG_WARN, "redis: a malformed log of %s from %s", f->room, x->uid);
    if (bad)
        rr_log(ad->bus, ROOM_LOG_WARN, "redis: the log of %s from %s not all taken: %s", f->room,
               x->uid, room_strerror(bad));
    rr_log(ad->bus, ROOM_LOG_DEBUG, "redis: %d entries of %s from node %s", count, f->room, x->uid);
}

static rr_from *from_of(rr_adapter *ad, rr_fetch *f, const char *uid)
{
    rr_from *x;
    for (x = f->from; x; x = x->next) {
        if (strcmp(x->uid, uid) == 0)
            return x;
    }
    if (!(x = rr_malloc(alloc_of(ad), sizeof *x)))
        return NULL;
    memset(x, 0, sizeof *x);
    snprintf(x->uid, sizeof x->uid, "%s", uid);
    x->next = f->from;
    f->from = x;
    return x;
}

static bool take(rr_adapter *ad, rr_from *x, const uint8_t *data, size_t len)
{
    size_t cap;
    uint8_t *grown;
    if (!len)
        return true;
    if (len > RR_ST_MAX_ANSWER - x->len)
        return false;
    if (len > x->cap - x->len) {
        for (cap = x->cap ? x->cap : 4096; cap - x->len < len; cap *= 2)
            ;
        if (!(grown = rr_malloc(alloc_of(ad), cap)))
            return false;
        if (x->len)
            memcpy(grown, x->buf, x->len);
        rr_free(alloc_of(ad), x->buf);
        x->buf = grown;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, len);
    x->len += len;
    return true;
}

static void on_log(rr_adapter *ad, const rr_smsg *m)
{
    rr_fetch *f;
    rr_from *x;
    for (f = ad->storage ? ad->storage->fetches : NULL; f && strcmp(f->id, m->id) != 0; f = f->next)
        ;
    if (!f || strcmp(f->room, m->room) != 0) {
        ad->bus->stats.ignored++;
        return;
    }
    if (!(x = from_of(ad, f, m->uid))) {
        rr_log(ad->bus, ROOM_LOG_ERROR, "redis: out of memory fetching %s", f->room);
        return;
    }
    if (x->over)
        return;
    f->deadline = ad->bus->now + RR_ST_TIMEOUT_MS;
    /* A message lost on the way (dropped by a node's output bound) breaks
     * the answer: the others' (or the timeout) end the fetch. */
    if (m->seq != x->seq++ || !take(ad, x, m->data, m->len)) {
        rr_log(ad->bus, ROOM_LOG_WARN, "redis: the log of %s from %s is incomplete; ignored", f->room,
               x->uid);
        x->over = true;
        f->answered++;
    } else if (m->flags & RR_LOG_LAST) {
        x->over = true;
        f->answered++;
        if (m->flags & RR_LOG_HAVE)
            apply_answer(ad, f, x);
        /* A node serving the room has all of it: the first one ends it. */
        if (m->flags & RR_LOG_CURRENT) {
            fetch_end(ad, f);
            return;
        }
    }
    /* Every live node has answered (counted now: one heard since the ask
     * counts too). */
    if (f->answered >= ad->bus->stats.nodes)
        fetch_end(ad, f);
}

/* ---- answering -------------------------------------------------------------------------- */

static void answer_free(rr_adapter *ad, rr_answer *a)
{
    size_t i;
    for (i = 0; i < a->nparts; i++)
        room_frame_unref(a->parts[i].frame);
    rr_free(alloc_of(ad), a->parts);
    rr_free(alloc_of(ad), a->chan);
    rr_free(alloc_of(ad), a->room);
    rr_free(alloc_of(ad), a);
}

static int collect(const room_storage_entry *e, void *ud)
{
    rr_answer *a = ud;
    if (a->nparts == a->capparts)
        return ROOM_ENOMEM; /* sized by the entry count beforehand */
    a->parts[a->nparts].frame = room_frame_ref(e->frame);
    a->parts[a->nparts].data = e->update.data;
    a->parts[a->nparts].len = e->update.len;
    a->nparts++;
    return 0;
}

/* Appends the answer's next bytes (entry headers and updates) to `out`, at
 * most `room` of them. */
static size_t fill(rr_answer *a, uint8_t *out, size_t room)
{
    size_t n = 0;
    while (n < room && a->next < a->nparts) {
        const rr_part *p = &a->parts[a->next];
        uint8_t head[4] = {(uint8_t)(p->len >> 24), (uint8_t)(p->len >> 16), (uint8_t)(p->len >> 8),
                           (uint8_t)p->len};
        size_t take;
        if (a->offset < 4) {
            take = 4 - a->offset < room - n ? 4 - a->offset : room - n;
            memcpy(out + n, head + a->offset, take);
        } else {
            size_t at = a->offset - 4;
            take = p->len - at < room - n ? p->len - at : room - n;
            if (take)
                memcpy(out + n, p->data + at, take);
        }
        n += take;
        a->offset += take;
        if (a->offset == 4 + p->len) {
            room_frame_unref(p->frame);
            a->parts[a->next].frame = NULL;
            a->next++;
            a->offset = 0;
        }
    }
    return n;
}

/* Sends the answer's next messages while the output drains; true when it
 * is all out. */
static bool answer_pump(rr_adapter *ad, rr_answer *a, uint8_t *chunk)
{
    rr_smsg m;
    while (rr_pending_bytes(ad->bus) < RR_ST_PACE) {
        if (!smsg_init(&m, ad, RR_ST_LOG, a->room, a->id))
            return true;
        m.len = fill(a, chunk, RR_ST_CHUNK);
        m.data = chunk;
        m.seq = a->seq++;
        m.flags = a->flags | (a->next == a->nparts ? RR_LOG_LAST : 0);
        publish_msg(ad, a->chan, &m);
        if (m.flags & RR_LOG_LAST)
            return true;
    }
    return false;
}

void rr_storage_pump(rr_adapter *ad)
{
    rr_answer **link, *a;
    uint8_t *chunk;
    if (!ad->storage || !ad->storage->answers)
        return;
    if (!(chunk = rr_malloc(alloc_of(ad), RR_ST_CHUNK)))
        return; /* again at the next tick */
    for (link = &ad->storage->answers; (a = *link) != NULL;) {
        if (answer_pump(ad, a, chunk)) {
            *link = a->next_answer;
            answer_free(ad, a);
        } else {
            link = &a->next_answer;
        }
    }
    rr_free(alloc_of(ad), chunk);
}

static int count_entry(const room_storage_entry *e, void *ud)
{
    (void)e;
    (*(size_t *)ud)++;
    return 0;
}

static void on_fetch(rr_adapter *ad, const rr_smsg *m)
{
    rr_storage *st = storage_of(ad);
    rr_answer *a;
    size_t n = 0;
    int current = 0, rc;
    char *own = rr_concat(alloc_of(ad), ad->resp_chan, m->uid, "#");
    if (!st || !own || !(a = rr_malloc(alloc_of(ad), sizeof *a))) {
        rr_free(alloc_of(ad), own);
        rr_log(ad->bus, ROOM_LOG_ERROR, "redis: out of memory answering a fetch of %s", m->room);
        return;
    }
    ad->bus->stats.requests++;
    memset(a, 0, sizeof *a);
    a->chan = own;
    snprintf(a->id, sizeof a->id, "%s", m->id);
    a->room = rr_strdup(alloc_of(ad), m->room);
    /* The entries as they stand, kept by reference: later appends and
     * compactions here change nothing of what goes out. */
    rc = room_storage_peek(ad->hub, m->room, count_entry, &n, &current);
    if (rc == 0 && n) {
        a->capparts = n;
        if (!(a->parts = rr_malloc(alloc_of(ad), n * sizeof *a->parts)))
            rc = ROOM_ENOMEM;
        else
            rc = room_storage_peek(ad->hub, m->room, collect, a, &current);
    }
    if (!a->room || (rc != 0 && rc != ROOM_ENOTFOUND && rc != ROOM_ENAME)) {
        rr_log(ad->bus, ROOM_LOG_WARN, "redis: cannot answer a fetch of %s: %s", m->room,
               room_strerror(a->room ? rc : ROOM_ENOMEM));
        answer_free(ad, a);
        return; /* silence: the asker's timeout */
    }
    a->flags = rc == 0 ? RR_LOG_HAVE | (current ? RR_LOG_CURRENT : 0) : 0;
    a->next_answer = st->answers;
    st->answers = a;
    rr_storage_pump(ad);
    /* The asker could not hear us, nor we it: what it appended meanwhile
     * is in its copy only. Fetch it in turn (ours is not such a fetch, so
     * this goes no further). */
    if (m->flags & RR_FETCH_BACK)
        room_storage_remote_lost(ad->hub, m->room);
}

/* ---- dispatch, timers, teardown ---------------------------------------------------------- */

bool rr_storage_message(rr_adapter *ad, const uint8_t *msg, size_t len)
{
    room_redis *bus = ad->bus;
    rr_smsg m;
    int rc;
    if (rr_decode_storage(msg, len, &m) != 0)
        return false;
    if (strcmp(m.uid, bus->uid) == 0) {
        bus->stats.ignored++;
        return true;
    }
    switch (m.type) {
    case RR_ST_UPDATE:
    case RR_ST_RELAY:
        bus->stats.received++;
        rc = m.type == RR_ST_UPDATE ? room_storage_remote_append(ad->hub, m.room, m.data, m.len)
                                    : room_storage_remote_relay(ad->hub, m.room, m.data, m.len);
        if (rc == ROOM_ENOTFOUND)
            bus->stats.unserved++;
        else if (rc < 0)
            rr_log(bus, ROOM_LOG_WARN, "redis: an update of %s from %s not taken: %s", m.room, m.uid,
                   room_strerror(rc));
        break;
    case RR_ST_FETCH:
        on_fetch(ad, &m);
        break;
    default:
        on_log(ad, &m);
        break;
    }
    return true;
}

void rr_storage_back(rr_adapter *ad)
{
    int n;
    /* What the others appended while this node could not hear them (and
     * theirs, if they could not either) is in nobody's copy but theirs. */
    if (!ad->hub || !storage_of(ad))
        return;
    ad->storage->back = true;
    n = room_storage_remote_lost(ad->hub, NULL);
    ad->storage->back = false;
    if (n > 0)
        rr_log(ad->bus, ROOM_LOG_INFO, "redis: fetching %d documents of %s again", n, ad->nsp);
}

void rr_storage_tick(rr_adapter *ad, uint64_t now)
{
    rr_fetch *f, *next;
    if (!ad->storage)
        return;
    for (f = ad->storage->fetches; f; f = next) {
        next = f->next;
        if (now >= f->deadline)
            fetch_end(ad, f);
    }
    rr_storage_pump(ad);
}

void rr_storage_free(rr_adapter *ad)
{
    rr_storage *st = ad->storage;
    rr_fetch *f;
    rr_answer *a;
    if (!st)
        return;
    while ((f = st->fetches) != NULL) {
        st->fetches = f->next;
        fetch_free(ad, f);
    }
    while ((a = st->answers) != NULL) {
        st->answers = a->next_answer;
        answer_free(ad, a);
    }
    rr_free(alloc_of(ad), st);
    ad->storage = NULL;
}
