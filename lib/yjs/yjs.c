/* y-websocket on a hub: each connection is one client in one room (its
 * document). Documents are the core's room storage, awareness is its
 * presence; this file translates the wire protocol to those and back
 * (docs/protocol-yjs.md). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "room/codec.h"
#include "room/yjs.h"

#define YJS_DEFAULT_CHUNK ((size_t)256 << 10)
#define YJS_DEFAULT_KEEPALIVE_MS 15000u
#define YJS_DEFAULT_AWARENESS ((size_t)16 << 10)
#define YJS_REASON_MAX 128
/* A compaction's tail worth asking again for (see again()). */
#define YJS_TAIL_MIN ((size_t)64 << 10)
/* The log's compaction threshold unless the host sets one: below it a
 * document's log is never compacted, so a small document keeps every
 * update it ever had until its log passes it (typing: about 30 bytes and a
 * 24-byte entry each). 1 KiB keeps small documents near their size; what
 * it costs is a snapshot asked every 10 % of growth (below) from then on,
 * a few hundred bytes each for such documents (docs/bench/yjs-results.md
 * has the measurements: 4 KiB cost 10 kB more per document of the
 * benchmark at 2 updates/s). */
#define YJS_DEFAULT_COMPACT ((size_t)1 << 10)
/* The growth past a compaction's size that asks for the next one, in
 * percent (the storage's default, 100, lets a log of small updates reach
 * three times its document's size several times over between snapshots;
 * docs/bench/yjs-results.md "Compaction growth" has the measurements). */
#define YJS_DEFAULT_GROWTH 10u

enum {
    YC_SYNCING = 1u << 0,  /* its log stream runs; the step 2 comes at its end */
    YC_ANSWERED = 1u << 1, /* it answered the step 1 of its connect */
    YC_ASKED = 1u << 2     /* asked for its state by a compaction: its next step 2 is the snapshot */
};

/* An awareness client this connection introduced (and still speaks for),
 * with its state's JSON text as it came (query-awareness answers with the
 * exact bytes; presence's copy has merge-patch semantics). */
typedef struct yjs_client {
    uint64_t client, clock;
    char *state;
    size_t state_len;
} yjs_client;

typedef struct yjs_conn {
    uint8_t flags;
    uint32_t nclients, capclients;
    uint64_t token; /* YC_ASKED: the compaction's */
    yjs_client *clients;
    size_t room_len;
    char room[];
} yjs_conn;

struct room_yjs {
    room_hub *hub;
    room_allocator alloc;
    room_yjs_connect_fn connect;
    room_join_auth_fn authorize;
    void *user_data;
    size_t chunk;
    uint32_t keepalive_ms;
    size_t max_awareness;
    uint64_t keepalive_at; /* 0: not started */
    /* Frames every connection gets alike, made once. */
    room_frame *step1, *step2, *keepalive;
    room_buf *buf; /* query-awareness answers and removals */
    char reason[YJS_REASON_MAX]; /* the last refusal's, from authorize */
    /* A cluster: the awareness clients of other nodes, one record per
     * room served here (a yjs_conn that no connection has). */
    struct yjs_conn **remote;
    uint32_t nremote, capremote;
};

/* The server's sync step 1 with an empty state vector: the answer is the
 * client's whole document (its offline edits included). */
static const uint8_t STEP1[] = {ROOM_YJS_MSG_SYNC, ROOM_YJS_SYNC_STEP1, 1, 0};
/* A sync step 2 with an empty update (no structs, an empty delete set):
 * what makes the client call itself synced, after its log. */
static const uint8_t STEP2[] = {ROOM_YJS_MSG_SYNC, ROOM_YJS_SYNC_STEP2, 2, 0, 0};
/* An awareness update of no clients: changes nothing, but counts as a
 * message received. */
static const uint8_t KEEPALIVE[] = {ROOM_YJS_MSG_AWARENESS, 1, 0};
/* Query-awareness, to the other nodes of a cluster. */
static const uint8_t QUERY[] = {ROOM_YJS_MSG_QUERY_AWARENESS};

static void *yjs_alloc(const room_yjs *y, size_t n)
{
    return y->alloc.malloc(n, y->alloc.ud);
}

static void yjs_free(const room_yjs *y, void *p)
{
    if (p)
        y->alloc.free(p, y->alloc.ud);
}

static int send_bytes(room_yjs *y, room_conn *conn, const void *bytes, size_t len)
{
    room_frame *f = room_frame_new(y->hub, ROOM_FRAME_BINARY, bytes, len);
    int rc;
    if (!f)
        return ROOM_ENOMEM;
    rc = room_send_frame(y->hub, conn, f);
    room_frame_unref(f);
    return rc;
}

/* ---- fan-out ---------------------------------------------------------------- */

typedef struct fan {
    room_hub *hub;
    room_frame *frame;
    const room_conn *except;
} fan;

static int fan_one(room_conn *conn, void *ud)
{
    fan *f = ud;
    if (conn != f->except)
        room_send_frame(f->hub, conn, f->frame);
    return 0;
}

/* One frame of `bytes` for every member of `room` here but `except`. */
static int fan_local(room_yjs *y, const char *room, const void *bytes, size_t len, const room_conn *except)
{
    fan f = {y->hub, room_frame_new(y->hub, ROOM_FRAME_BINARY, bytes, len), except};
    if (!f.frame)
        return ROOM_ENOMEM;
    room_members_foreach(y->hub, room, fan_one, &f);
    room_frame_unref(f.frame);
    return 0;
}

/* An awareness message for the room's members: here, and on the other
 * nodes serving it (a cluster; ROOM_ENOTFOUND: there is none). */
static int fan_out(room_yjs *y, const char *room, const void *bytes, size_t len, const room_conn *except)
{
    int rc = fan_local(y, room, bytes, len, except);
    if (rc == 0 && (rc = room_storage_relay(y->hub, room, bytes, len)) == ROOM_ENOTFOUND)
        rc = 0;
    return rc;
}

/* ---- the log stream ------------------------------------------------------------ */

/* The next part of a joiner's log, and the step 2 after the last. */
static void pump(room_yjs *y, room_conn *conn, yjs_conn *yc)
{
    int rc;
    if (!(yc->flags & YC_SYNCING))
        return;
    rc = room_storage_sync_send(y->hub, conn, yc->room, y->chunk);
    if (rc == 0)
        return;
    yc->flags &= (uint8_t)~YC_SYNCING;
    if (rc == 1)
        room_send_frame(y->hub, conn, y->step2);
    else
        room_conn_kick(y->hub, conn, ROOM_CLOSE_INTERNAL_ERROR, room_strerror(rc));
}

static int sync_start(room_yjs *y, room_conn *conn, yjs_conn *yc)
{
    int rc = room_storage_sync_begin(y->hub, conn, yc->room);
    if (rc != 0)
        return rc;
    yc->flags |= YC_SYNCING;
    pump(y, conn, yc);
    return 0;
}

void room_yjs_drained(room_yjs *yjs, room_conn *conn)
{
    yjs_conn *yc = conn ? room_conn_data(conn) : NULL;
    if (yjs && yc)
        pump(yjs, conn, yc);
}

/* ---- storage callbacks ------------------------------------------------------------ */

/* Every logged update goes out as y-websocket's sync update message. */
static size_t update_prefix(const uint8_t *update, size_t len, uint8_t *prefix, void *ud)
{
    (void)update;
    (void)ud;
    prefix[0] = ROOM_YJS_MSG_SYNC;
    prefix[1] = ROOM_YJS_SYNC_UPDATE;
    return 2 + room_yjs_write_uint(prefix + 2, len);
}

typedef struct pick {
    room_conn *conn;
} pick;

/* A member that has everything and has said what it had. */
static int pick_one(room_conn *conn, void *ud)
{
    yjs_conn *yc = room_conn_data(conn);
    if (!yc || (yc->flags & (YC_SYNCING | YC_ASKED)) || !(yc->flags & YC_ANSWERED))
        return 0;
    ((pick *)ud)->conn = conn;
    return 1;
}

/* The log is long: ask one synced member for its whole document. */
static void on_compact(room_hub *hub, const char *room, void *ud)
{
    room_yjs *y = ud;
    pick p = {NULL};
    yjs_conn *yc;
    uint64_t token;

    room_members_foreach(hub, room, pick_one, &p);
    if (!p.conn || room_storage_compaction_begin(hub, room, p.conn, &token) != 0)
        return;
    yc = room_conn_data(p.conn);
    if (room_send_frame(hub, p.conn, y->step1) != 0) {
        room_storage_compaction_abort(hub, room, token);
        return;
    }
    yc->token = token;
    yc->flags |= YC_ASKED;
}

/* A snapshot replaces only the entries the member was sure to have when it
 * was asked; what came in while it answered stays behind it. When that
 * tail is a good part of the document (a burst of the member's own
 * updates, which all reached the server before its answer), the member is
 * asked once more at once: the new token covers the burst, and the log
 * ends up one snapshot, which is what a joiner loads fast (applying
 * thousands of small updates costs a client far more than one big one). */
static void again(room_yjs *y, room_conn *conn, yjs_conn *yc, size_t snapshot)
{
    room_storage_info info;
    uint64_t token;

    info.size = sizeof info;
    if (room_storage_get_info(y->hub, yc->room, &info) != 0 || info.bytes < snapshot ||
        info.bytes - snapshot < YJS_TAIL_MIN || info.bytes - snapshot < snapshot / 4 ||
        room_storage_compaction_begin(y->hub, yc->room, conn, &token) != 0)
        return;
    if (room_send_frame(y->hub, conn, y->step1) != 0) {
        room_storage_compaction_abort(y->hub, yc->room, token);
        return;
    }
    yc->token = token;
    yc->flags |= YC_ASKED;
}

/* ---- awareness ---------------------------------------------------------------------- */

static yjs_client *own_client(yjs_conn *yc, uint64_t client)
{
    uint32_t i;
    for (i = 0; i < yc->nclients; i++) {
        if (yc->clients[i].client == client)
            return &yc->clients[i];
    }
    return NULL;
}

static void drop_client(const room_yjs *y, yjs_conn *yc, yjs_client *c)
{
    yjs_free(y, c->state);
    *c = yc->clients[--yc->nclients];
}

typedef struct find {
    const room_conn *except;
    uint64_t client;
    room_conn *conn;
    yjs_client *entry;
} find;

static int find_one(room_conn *conn, void *ud)
{
    find *f = ud;
    yjs_conn *yc = room_conn_data(conn);
    if (conn == f->except || !yc || !(f->entry = own_client(yc, f->client)))
        return 0;
    f->conn = conn;
    return 1;
}

/* {"<client>": value} (null: removed) merged into the presence state of
 * the connection's user in the room. */
static int mirror(room_yjs *y, room_conn *conn, const char *room, uint64_t client, json_t *value)
{
    char key[24];
    json_t *patch = json_object();
    int rc;
    snprintf(key, sizeof key, "%llu", (unsigned long long)client);
    if (!patch || json_object_set_new(patch, key, value ? json_incref(value) : json_null()) != 0) {
        json_decref(patch);
        return ROOM_ENOMEM;
    }
    rc = room_presence_update(y->hub, conn, room, patch, NULL);
    json_decref(patch);
    return rc;
}

/* Room for one more client; NULL when out of memory. */
static yjs_client *add_client(const room_yjs *y, yjs_conn *yc, uint64_t client)
{
    yjs_client *c;
    if (yc->nclients == yc->capclients) {
        uint32_t cap = yc->capclients ? yc->capclients * 2 : 2;
        yjs_client *n = yjs_alloc(y, cap * sizeof *n);
        if (!n)
            return NULL;
        if (yc->nclients)
            memcpy(n, yc->clients, yc->nclients * sizeof *n);
        yjs_free(y, yc->clients);
        yc->clients = n;
        yc->capclients = cap;
    }
    c = &yc->clients[yc->nclients++];
    *c = (yjs_client){.client = client};
    return c;
}

/* One client's entry, applied by y-protocols' rule (a newer clock, or a
 * removal at the same clock): the connection that sends a client's state
 * owns it from then on, and its state is mirrored into presence. */
static int awareness_entry(room_yjs *y, room_conn *conn, yjs_conn *yc, const room_yjs_awareness_entry *e)
{
    yjs_client *own = own_client(yc, e->client);
    bool removal = e->state_len == 4 && memcmp(e->state, "null", 4) == 0;
    json_t *state = NULL;
    char *text = NULL;
    int rc;

    if (e->state_len > y->max_awareness)
        return ROOM_ETOOBIG;
    if ((rc = room_json_load(e->state, e->state_len, JSON_DECODE_ANY, &state)) != 0)
        return rc == ROOM_EJSON ? ROOM_EPROTO : rc;
    if (own) {
        if (e->clock < own->clock || (e->clock == own->clock && !removal))
            goto done;
    } else {
        find f = {conn, e->client, NULL, NULL};
        room_members_foreach(y->hub, yc->room, find_one, &f);
        if (f.conn) {
            if (e->clock < f.entry->clock || (e->clock == f.entry->clock && !removal))
                goto done;
            /* The client came back on this connection (a reconnect that
             * overtook the old socket's close): only this one removes it
             * from now on. */
            drop_client(y, room_conn_data(f.conn), f.entry);
            if ((rc = mirror(y, f.conn, yc->room, e->client, NULL)) != 0)
                goto done;
        }
    }
    if (removal) {
        if (own)
            drop_client(y, yc, own);
        rc = mirror(y, conn, yc->room, e->client, NULL);
        goto done;
    }
    if (!(text = yjs_alloc(y, e->state_len ? e->state_len : 1)) || (!own && !(own = add_client(y, yc, e->client)))) {
        yjs_free(y, text);
        rc = ROOM_ENOMEM;
        goto done;
    }
    memcpy(text, e->state, e->state_len);
    /* Replace, not merge: remove the old state, then set the new one. */
    if ((rc = mirror(y, conn, yc->room, e->client, NULL)) != 0 ||
        (rc = mirror(y, conn, yc->room, e->client, state)) != 0) {
        if (!own->state) /* just added */
            drop_client(y, yc, own);
        yjs_free(y, text);
        goto done;
    }
    yjs_free(y, own->state);
    own->state = text;
    own->state_len = e->state_len;
    own->clock = e->clock;
done:
    json_decref(state);
    return rc;
}

static int awareness(room_yjs *y, room_conn *conn, yjs_conn *yc, const room_yjs_msg *m,
                     const uint8_t *bytes)
{
    room_yjs_awareness_entry e;
    uint64_t count, i;
    size_t pos = 0;
    int rc;

    if (room_yjs_awareness_count(m->data, m->len, &pos, &count) != 0)
        return ROOM_EPROTO;
    for (i = 0; i < count; i++) {
        if (room_yjs_awareness_next(m->data, m->len, &pos, &e) != 0)
            return ROOM_EPROTO;
        if ((rc = awareness_entry(y, conn, yc, &e)) != 0)
            return rc;
    }
    if (pos != m->len)
        return ROOM_EPROTO;
    /* To every member, the sender too: a client alone hears its own
     * renewals (every 15 s), as from y-websocket's server. */
    return fan_out(y, yc->room, bytes + m->start, m->end - m->start, NULL);
}

/* Awareness entries into y->buf: every client of `yc`, as last sent, or
 * (removal) with clock + 1 and state null. */
static int put_entries(room_buf *b, const yjs_conn *yc, bool removal)
{
    uint8_t v[3 * ROOM_YJS_VARUINT_MAX];
    uint32_t i;
    size_t n;
    int rc = 0;
    for (i = 0; i < yc->nclients && rc == 0; i++) {
        const yjs_client *c = &yc->clients[i];
        n = room_yjs_write_uint(v, c->client);
        n += room_yjs_write_uint(v + n, c->clock + (removal ? 1 : 0));
        n += room_yjs_write_uint(v + n, removal ? 4 : c->state_len);
        if ((rc = room_buf_append(b, v, n)) == 0)
            rc = removal ? room_buf_append(b, "null", 4) : room_buf_append(b, c->state, c->state_len);
    }
    return rc;
}

/* Where send_awareness() sends: to `conn`, to the room's members here
 * and on the other nodes, here only, or to the other nodes only. */
enum { TO_CONN, TO_ROOM, TO_LOCAL, TO_NODES };

static int send_awareness_to(room_yjs *y, uint64_t count, int to, room_conn *conn, const char *room,
                             const room_conn *except);

/* The message around the entries in y->buf: type, then the update as a
 * varUint8Array (its count first). Sends it to `conn`, or to the room but
 * `except`. */
static int send_awareness(room_yjs *y, uint64_t count, room_conn *conn, const char *room,
                          const room_conn *except)
{
    return send_awareness_to(y, count, conn ? TO_CONN : TO_ROOM, conn, room, except);
}

static int send_awareness_to(room_yjs *y, uint64_t count, int to, room_conn *conn, const char *room,
                             const room_conn *except)
{
    uint8_t head[1 + 2 * ROOM_YJS_VARUINT_MAX], cnt[ROOM_YJS_VARUINT_MAX];
    size_t body = room_buf_len(y->buf), nc = room_yjs_write_uint(cnt, count), n;
    room_frame *f;
    uint8_t *all;
    int rc;

    head[0] = ROOM_YJS_MSG_AWARENESS;
    n = 1 + room_yjs_write_uint(head + 1, nc + body);
    if (!(all = yjs_alloc(y, n + nc + body)))
        return ROOM_ENOMEM;
    memcpy(all, head, n);
    memcpy(all + n, cnt, nc);
    if (body)
        memcpy(all + n + nc, room_buf_data(y->buf), body);
    if (to == TO_CONN) {
        f = room_frame_new(y->hub, ROOM_FRAME_BINARY, all, n + nc + body);
        rc = f ? room_send_frame(y->hub, conn, f) : ROOM_ENOMEM;
        room_frame_unref(f);
    } else if (to == TO_NODES) {
        rc = room_storage_relay(y->hub, room, all, n + nc + body);
    } else {
        rc = (to == TO_ROOM ? fan_out : fan_local)(y, room, all, n + nc + body, except);
    }
    yjs_free(y, all);
    return rc;
}

typedef struct query {
    room_buf *b;
    uint64_t count;
    int rc;
} query;

static int query_one(room_conn *conn, void *ud)
{
    query *q = ud;
    yjs_conn *yc = room_conn_data(conn);
    if (!yc || !yc->nclients)
        return 0;
    q->count += yc->nclients;
    return (q->rc = put_entries(q->b, yc, false)) != 0;
}

static int put_remote(room_yjs *y, const char *room, room_buf *b, uint64_t *count);

/* Query-awareness: every client's state in the room, other nodes' too. A
 * joiner (`joining`) gets them only when there are some. */
static int answer_query(room_yjs *y, room_conn *conn, yjs_conn *yc, bool joining)
{
    query q = {y->buf, 0, 0};
    room_buf_reset(y->buf);
    room_members_foreach(y->hub, yc->room, query_one, &q);
    if (!q.rc)
        q.rc = put_remote(y, yc->room, y->buf, &q.count);
    if (q.rc || (joining && !q.count))
        return q.rc;
    return send_awareness(y, q.count, conn, NULL, NULL);
}

static void remote_forget(room_yjs *y, const char *room);

/* ---- connections ---------------------------------------------------------------------- */

static void conn_free(room_yjs *y, room_conn *conn, yjs_conn *yc)
{
    while (yc->nclients)
        drop_client(y, yc, &yc->clients[yc->nclients - 1]);
    yjs_free(y, yc->clients);
    yjs_free(y, yc);
    room_conn_set_data(conn, NULL);
}

/* The host's join authorization, keeping its reason for the refusal. */
static int authorize(room_hub *hub, room_conn *conn, const char *room, json_t *metadata,
                     room_join_verdict *verdict, void *ud)
{
    room_yjs *y = ud;
    int rc = y->authorize(hub, conn, room, metadata, verdict, y->user_data);
    if (rc != 0)
        snprintf(y->reason, sizeof y->reason, "%s", verdict->reason ? verdict->reason : room_strerror(rc));
    return rc;
}

/* y-protocols' auth message "permission denied", which the client logs,
 * then the refusal (the WebSocket closes with 1008 after it). */
static int deny(room_yjs *y, room_conn *conn, const char *reason)
{
    uint8_t head[2 + ROOM_YJS_VARUINT_MAX];
    size_t len = strlen(reason), n;
    room_buf_reset(y->buf);
    head[0] = ROOM_YJS_MSG_AUTH;
    head[1] = 0; /* permission denied */
    n = 2 + room_yjs_write_uint(head + 2, len);
    if (room_buf_append(y->buf, head, n) == 0 && room_buf_append(y->buf, reason, len) == 0)
        send_bytes(y, conn, room_buf_data(y->buf), room_buf_len(y->buf));
    room_refuse(y->hub, conn, reason, NULL);
    return ROOM_EDENIED;
}

static const char *room_of(const room_event *ev)
{
    const char *name = json_string_value(json_object_get(json_array_get(ev->args, 2), "name"));
    return name ? name : json_string_value(json_object_get(json_array_get(ev->args, 1), "room"));
}

static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    room_yjs *y = ud;
    const char *room = room_of(ev), *reason = NULL;
    json_t *query = json_array_get(ev->args, 1);
    yjs_conn *yc;
    size_t len;
    int rc;

    if (!room)
        return deny(y, conn, "a room name is required");
    len = strlen(room);
    if (!(yc = yjs_alloc(y, sizeof *yc + len + 1)))
        return ROOM_ENOMEM;
    *yc = (yjs_conn){.room_len = len};
    memcpy(yc->room, room, len + 1);
    room_conn_set_data(conn, yc);
    if (y->connect && (rc = y->connect(hub, conn, room, json_is_object(query) ? query : NULL,
                                       json_array_get(ev->args, 2), &reason, y->user_data)) != 0) {
        conn_free(y, conn, yc);
        return deny(y, conn, reason ? reason : room_strerror(rc));
    }
    y->reason[0] = '\0';
    if ((rc = room_presence_join(hub, conn, room, json_is_object(query) ? query : NULL, NULL)) != 0) {
        conn_free(y, conn, yc);
        return deny(y, conn, rc == ROOM_EFORBIDDEN && y->reason[0] ? y->reason : room_strerror(rc));
    }
    /* Step 1 first: the client answers it before it applies the log, so
     * the answer holds only what it had (its offline edits). */
    if ((rc = room_send_frame(hub, conn, y->step1)) != 0 || (rc = sync_start(y, conn, yc)) != 0) {
        room_leave(hub, conn, room);
        conn_free(y, conn, yc);
        return deny(y, conn, room_strerror(rc));
    }
    /* The awareness states known here, as y-websocket's server sends them;
     * the first member here asks the other nodes for theirs. */
    answer_query(y, conn, yc, true);
    if (room_member_count(hub, room) == 1)
        room_storage_relay(hub, room, QUERY, sizeof QUERY);
    return 0;
}

/* Its clients leave every other member's view at once (y-websocket's
 * removal: clock + 1, state null), and its presence state with it. */
static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    room_yjs *y = ud;
    yjs_conn *yc = room_conn_data(conn);
    uint32_t i;

    (void)ev;
    if (!yc)
        return 0;
    if (yc->nclients) {
        room_buf_reset(y->buf);
        if (put_entries(y->buf, yc, true) == 0)
            send_awareness(y, yc->nclients, NULL, yc->room, conn);
        for (i = 0; i < yc->nclients; i++)
            mirror(y, conn, yc->room, yc->clients[i].client, NULL);
    }
    /* The node stops hearing the room: what it knew of the others goes. */
    if (room_member_count(hub, yc->room) <= 1)
        remote_forget(y, yc->room);
    conn_free(y, conn, yc);
    return 0;
}

/* ---- messages ----------------------------------------------------------------------------- */

static bool empty_update(const room_yjs_msg *m)
{
    return m->len == 2 && m->data[0] == 0 && m->data[1] == 0;
}

static int sync_message(room_yjs *y, room_conn *conn, yjs_conn *yc, const room_yjs_msg *m)
{
    int rc;
    switch (m->sync) {
    case ROOM_YJS_SYNC_STEP1:
        /* The step 2 at the end of a running stream answers it; a later
         * one (resyncInterval) gets the log again. */
        return yc->flags & YC_SYNCING ? 0 : sync_start(y, conn, yc);
    case ROOM_YJS_SYNC_STEP2:
        if (yc->flags & YC_ASKED) {
            yc->flags &= (uint8_t)~YC_ASKED;
            rc = room_storage_compaction_commit(y->hub, yc->room, yc->token, m->data, m->len);
            if (rc == 0) {
                again(y, conn, yc, m->len);
                return 0;
            }
            if (rc != ROOM_ENOTFOUND)
                room_storage_compaction_abort(y->hub, yc->room, yc->token);
            /* Not a snapshot after all: an update like any other. */
        } else {
            yc->flags |= YC_ANSWERED;
        }
        if (empty_update(m))
            return 0;
        break;
    default:
        break;
    }
    rc = room_storage_append(y->hub, conn, yc->room, m->data, m->len, NULL);
    return rc < 0 ? rc : 0;
}

static int close_code(int rc)
{
    switch (rc) {
    case ROOM_EPROTO:
        return ROOM_CLOSE_PROTOCOL_ERROR;
    case ROOM_ETOOBIG:
        return ROOM_CLOSE_MESSAGE_TOO_BIG;
    case ROOM_ELIMIT:
    case ROOM_ERATELIMIT:
        return ROOM_CLOSE_POLICY_VIOLATION;
    default:
        return ROOM_CLOSE_INTERNAL_ERROR;
    }
}

int room_yjs_recv(room_yjs *yjs, room_conn *conn, const void *bytes, size_t len)
{
    const uint8_t *b = bytes;
    yjs_conn *yc;
    room_yjs_msg m;
    size_t pos = 0;
    int rc = 0;

    if (!yjs || !conn || (!bytes && len) || !(yc = room_conn_data(conn)))
        return ROOM_EINVAL;
    rc = room_conn_rate_take(yjs->hub, conn, len);
    while (rc == 0 && (rc = room_yjs_decode(b, len, &pos, &m)) == 1) {
        switch (m.type) {
        case ROOM_YJS_MSG_SYNC:
            rc = sync_message(yjs, conn, yc, &m);
            break;
        case ROOM_YJS_MSG_AWARENESS:
            rc = awareness(yjs, conn, yc, &m, b);
            break;
        case ROOM_YJS_MSG_QUERY_AWARENESS:
            rc = answer_query(yjs, conn, yc, false);
            break;
        default: /* the client's auth, or a type unknown here */
            rc = 0;
            break;
        }
    }
    /* A send that failed has already asked for the close. */
    if (rc < 0 && rc != ROOM_ECLOSED && rc != ROOM_ETRANSPORT) {
        room_conn_kick(yjs->hub, conn, close_code(rc), room_strerror(rc));
        return rc;
    }
    return 0;
}

/* ---- other nodes (a cluster; docs/cluster.md "Room storage") -------------------------
 * Awareness messages go to the other nodes serving the room as they are
 * (room_storage_relay()), so that their clocks and bytes reach the
 * clients there unchanged. Each node keeps the clients it heard of that
 * way, per room, to tell its joiners and to remove them when presence says
 * their user left (their node died: the removal it would have sent never
 * comes). */

static yjs_conn *remote_of(room_yjs *y, const char *room, bool create)
{
    size_t len = strlen(room);
    yjs_conn *r;
    uint32_t i;
    for (i = 0; i < y->nremote; i++) {
        if (y->remote[i]->room_len == len && memcmp(y->remote[i]->room, room, len) == 0)
            return y->remote[i];
    }
    if (!create)
        return NULL;
    if (y->nremote == y->capremote) {
        uint32_t cap = y->capremote ? y->capremote * 2 : 4;
        yjs_conn **n = yjs_alloc(y, cap * sizeof *n);
        if (!n)
            return NULL;
        if (y->nremote)
            memcpy(n, y->remote, y->nremote * sizeof *n);
        yjs_free(y, y->remote);
        y->remote = n;
        y->capremote = cap;
    }
    if (!(r = yjs_alloc(y, sizeof *r + len + 1)))
        return NULL;
    *r = (yjs_conn){.room_len = len};
    memcpy(r->room, room, len + 1);
    y->remote[y->nremote++] = r;
    return r;
}

static void remote_free(room_yjs *y, yjs_conn *r)
{
    while (r->nclients)
        drop_client(y, r, &r->clients[r->nclients - 1]);
    yjs_free(y, r->clients);
    yjs_free(y, r);
}

static void remote_forget(room_yjs *y, const char *room)
{
    yjs_conn *r = remote_of(y, room, false);
    uint32_t i;
    for (i = 0; r && i < y->nremote; i++) {
        if (y->remote[i] == r) {
            y->remote[i] = y->remote[--y->nremote];
            remote_free(y, r);
            return;
        }
    }
}

static int put_remote(room_yjs *y, const char *room, room_buf *b, uint64_t *count)
{
    yjs_conn *r = remote_of(y, room, false);
    if (!r || !r->nclients)
        return 0;
    *count += r->nclients;
    return put_entries(b, r, false);
}

/* Checks a relayed awareness update whole (a node's bytes are no more
 * trusted than a client's), then keeps what it changes by y-protocols'
 * rule. */
static int remote_awareness(room_yjs *y, yjs_conn *r, const room_yjs_msg *m)
{
    room_yjs_awareness_entry e;
    uint64_t count, i;
    size_t pos = 0;
    json_t *state;
    int rc;

    if (room_yjs_awareness_count(m->data, m->len, &pos, &count) != 0)
        return ROOM_EPROTO;
    for (i = 0; i < count; i++) {
        if (room_yjs_awareness_next(m->data, m->len, &pos, &e) != 0 || e.state_len > y->max_awareness)
            return ROOM_EPROTO;
        if ((rc = room_json_load(e.state, e.state_len, JSON_DECODE_ANY, &state)) != 0)
            return rc == ROOM_EJSON ? ROOM_EPROTO : rc;
        json_decref(state);
    }
    if (pos != m->len)
        return ROOM_EPROTO;
    pos = 0;
    room_yjs_awareness_count(m->data, m->len, &pos, &count);
    for (i = 0; i < count; i++) {
        yjs_client *own;
        bool removal;
        char *text;
        room_yjs_awareness_next(m->data, m->len, &pos, &e);
        own = own_client(r, e.client);
        removal = e.state_len == 4 && memcmp(e.state, "null", 4) == 0;
        if (own && (e.clock < own->clock || (e.clock == own->clock && !removal)))
            continue;
        if (removal) {
            if (own)
                drop_client(y, r, own);
            continue;
        }
        if (!(text = yjs_alloc(y, e.state_len ? e.state_len : 1)))
            return ROOM_ENOMEM;
        if (!own && !(own = add_client(y, r, e.client))) {
            yjs_free(y, text);
            return ROOM_ENOMEM;
        }
        memcpy(text, e.state, e.state_len);
        yjs_free(y, own->state);
        own->state = text;
        own->state_len = e.state_len;
        own->clock = e.clock;
    }
    return 0;
}

/* Another node's query: its joiner wants the states of this node's
 * clients (only these: each node answers for its own). */
static void answer_remote_query(room_yjs *y, const char *room)
{
    query q = {y->buf, 0, 0};
    room_buf_reset(y->buf);
    room_members_foreach(y->hub, room, query_one, &q);
    if (!q.rc && q.count)
        send_awareness_to(y, q.count, TO_NODES, NULL, room, NULL);
}

/* What another node relayed: awareness for the members here (as it
 * came), or a query. Unknown or malformed messages are dropped. */
static void on_relayed(room_hub *hub, const char *room, const void *bytes, size_t len, void *ud)
{
    room_yjs *y = ud;
    room_yjs_msg m;
    size_t pos = 0;
    yjs_conn *r;
    (void)hub;
    while (room_yjs_decode(bytes, len, &pos, &m) == 1) {
        if (m.type == ROOM_YJS_MSG_QUERY_AWARENESS) {
            answer_remote_query(y, room);
        } else if (m.type == ROOM_YJS_MSG_AWARENESS) {
            if (!(r = remote_of(y, room, true)) || remote_awareness(y, r, &m) != 0)
                return;
            fan_local(y, room, (const uint8_t *)bytes + m.start, m.end - m.start, NULL);
        }
    }
}

/* A user of another node left the room (its node died, or it left
 * without the removal reaching here): its clients leave the view of the
 * members here. Their keys are its presence state's. */
static void on_presence(room_hub *hub, const char *room, const char *user_id,
                        room_presence_change change, room_conn *conn, json_t *entry, void *ud)
{
    room_yjs *y = ud;
    yjs_conn *r;
    const char *key;
    json_t *value;
    uint64_t count = 0;
    (void)hub;
    (void)user_id;
    (void)value;
    if (conn || change != ROOM_PRESENCE_LEAVE || !(r = remote_of(y, room, false)))
        return;
    room_buf_reset(y->buf);
    json_object_foreach(json_object_get(entry, "state"), key, value) {
        char *end;
        unsigned long long id = strtoull(key, &end, 10);
        yjs_client *c = *key && !*end ? own_client(r, id) : NULL;
        uint8_t v[3 * ROOM_YJS_VARUINT_MAX];
        size_t n;
        if (!c)
            continue;
        n = room_yjs_write_uint(v, c->client);
        n += room_yjs_write_uint(v + n, c->clock + 1);
        n += room_yjs_write_uint(v + n, 4);
        if (room_buf_append(y->buf, v, n) != 0 || room_buf_append(y->buf, "null", 4) != 0)
            return;
        drop_client(y, r, c);
        count++;
    }
    if (count)
        send_awareness_to(y, count, TO_LOCAL, NULL, room, NULL);
}

typedef struct pumping {
    room_yjs *y;
} pumping;

static int pump_one(room_conn *conn, void *ud)
{
    yjs_conn *yc = room_conn_data(conn);
    if (yc)
        pump(((pumping *)ud)->y, conn, yc);
    return 0;
}

/* The other nodes' log is in: the joiners waiting for it get the rest and
 * their step 2. */
static void on_fetched(room_hub *hub, const char *room, void *ud)
{
    pumping p = {ud};
    room_members_foreach(hub, room, pump_one, &p);
}

/* ---- the layer ---------------------------------------------------------------------------- */

static int keepalive_one(room_conn *conn, void *ud)
{
    room_yjs *y = ud;
    room_send_frame(y->hub, conn, y->keepalive);
    return 0;
}

int64_t room_yjs_tick(room_yjs *yjs, uint64_t now_ms)
{
    int64_t next;
    uint64_t left;

    if (!yjs)
        return -1;
    next = room_hub_tick(yjs->hub, now_ms);
    if (!yjs->keepalive_at) {
        yjs->keepalive_at = now_ms + yjs->keepalive_ms;
    } else if (now_ms >= yjs->keepalive_at) {
        room_conns_foreach(yjs->hub, keepalive_one, yjs);
        yjs->keepalive_at = now_ms + yjs->keepalive_ms;
    }
    left = yjs->keepalive_at - now_ms;
    return next >= 0 && (uint64_t)next < left ? next : (int64_t)left;
}

room_hub *room_yjs_hub(const room_yjs *yjs)
{
    return yjs ? yjs->hub : NULL;
}

void room_yjs_free(room_yjs *yjs)
{
    if (!yjs)
        return;
    room_on(yjs->hub, "connect", NULL, NULL);
    room_on(yjs->hub, "disconnect", NULL, NULL);
    room_frame_unref(yjs->step1);
    room_frame_unref(yjs->step2);
    room_frame_unref(yjs->keepalive);
    room_buf_free(yjs->buf);
    while (yjs->nremote)
        remote_free(yjs, yjs->remote[--yjs->nremote]);
    yjs_free(yjs, yjs->remote);
    yjs_free(yjs, yjs);
}

int room_yjs_new(room_yjs **yjs_out, room_hub *hub, const room_yjs_config *config)
{
    room_yjs_config cfg;
    room_storage_config st;
    room_presence_config pc;
    room_allocator alloc;
    room_yjs *y;
    int rc;

    if (!yjs_out || !hub)
        return ROOM_EINVAL;
    *yjs_out = NULL;
    room_yjs_config_init(&cfg);
    if (config && room_config_copy(&cfg, sizeof cfg, config, ROOM_YJS_CONFIG_SIZE_MIN) != 0)
        return ROOM_EINVAL;
    alloc = cfg.allocator && cfg.allocator->malloc && cfg.allocator->free ? *cfg.allocator
                                                                          : *room_allocator_libc();
    if (!(y = alloc.malloc(sizeof *y, alloc.ud)))
        return ROOM_ENOMEM;
    *y = (room_yjs){.hub = hub, .alloc = alloc, .connect = cfg.connect, .authorize = cfg.authorize,
                    .user_data = cfg.user_data,
                    .chunk = cfg.sync_chunk_bytes ? cfg.sync_chunk_bytes : YJS_DEFAULT_CHUNK,
                    .keepalive_ms = cfg.keepalive_ms ? cfg.keepalive_ms : YJS_DEFAULT_KEEPALIVE_MS,
                    .max_awareness = cfg.max_awareness_bytes ? cfg.max_awareness_bytes : YJS_DEFAULT_AWARENESS};
    room_storage_config_init(&st);
    if (cfg.storage && room_config_copy(&st, sizeof st, cfg.storage, ROOM_STORAGE_CONFIG_SIZE_MIN) != 0) {
        yjs_free(y, y);
        return ROOM_EINVAL;
    }
    if (!st.compact_bytes)
        st.compact_bytes = YJS_DEFAULT_COMPACT;
    if (!st.compact_growth_percent)
        st.compact_growth_percent = YJS_DEFAULT_GROWTH;
    st.frame_kind = ROOM_FRAME_BINARY;
    st.update_prefix = update_prefix;
    st.compact = on_compact;
    st.fetched = on_fetched;
    st.relayed = on_relayed;
    st.user_data = y;
    room_presence_config_init(&pc);
    pc.authorize = cfg.authorize ? authorize : NULL;
    pc.change = on_presence;
    pc.user_data = y;
    /* A connection's presence state holds its clients' awareness states
     * (a browser tab has one; a few is generous). */
    pc.max_state_bytes = 4 * y->max_awareness;
    rc = ROOM_ENOMEM;
    if (!(y->step1 = room_frame_new(hub, ROOM_FRAME_BINARY, STEP1, sizeof STEP1)) ||
        !(y->step2 = room_frame_new(hub, ROOM_FRAME_BINARY, STEP2, sizeof STEP2)) ||
        !(y->keepalive = room_frame_new(hub, ROOM_FRAME_BINARY, KEEPALIVE, sizeof KEEPALIVE)) ||
        room_buf_new(&y->buf, &y->alloc) != 0 || (rc = room_storage_enable(hub, &st)) != 0 ||
        (rc = room_presence_enable(hub, &pc)) != 0 || (rc = room_on(hub, "connect", on_connect, y)) != 0 ||
        (rc = room_on(hub, "disconnect", on_disconnect, y)) != 0) {
        room_yjs_free(y);
        return rc;
    }
    *yjs_out = y;
    return 0;
}
