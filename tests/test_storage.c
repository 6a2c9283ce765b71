/* storage.c, updatelog.c and store_memory.c through the fake transport:
 * appends relayed once to the synced members, a joiner's sync streamed in
 * pieces before any relay, caps, compaction (its trigger, its abort when
 * the member leaves, the entries that raced it kept, a sync running across
 * it), the memory store across a restart, a failing store making rooms
 * read-only, batched writes, and every allocation failing in turn.
 *
 * Updates here are runs of 5-character ids ("u0001"); a client's state is
 * the set of ids it has seen, and a snapshot is its state written out: a
 * CRDT in miniature, idempotent and order-free as Yjs updates are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "room/storage.h"
#include "test_util.h"

#define ID_LEN 5
#define PREFIX "Y:"

typedef struct ctx {
    int asked;          /* compact callback calls */
    char last_room[64];
    int writes;         /* store writes seen by the counting store */
    size_t last_count;
} ctx;

static size_t prefix_fn(const uint8_t *update, size_t len, uint8_t *prefix, void *ud)
{
    (void)update, (void)len, (void)ud;
    memcpy(prefix, PREFIX, 2);
    return 2;
}

static void compact_fn(room_hub *hub, const char *room, void *ud)
{
    ctx *c = ud;
    (void)hub;
    c->asked++;
    snprintf(c->last_room, sizeof c->last_room, "%s", room);
}

static room_hub *storage_hub(fake_net *net, ctx *c, room_store *store, size_t compact_bytes)
{
    room_storage_config sc;
    assert_non_null(fake_hub(net, 0));
    room_storage_config_init(&sc);
    sc.store = store;
    sc.update_prefix = prefix_fn;
    sc.compact = compact_fn;
    sc.compact_bytes = compact_bytes;
    sc.user_data = c;
    assert_int_equal(room_storage_enable(net->hub, &sc), 0);
    return net->hub;
}

static fake_peer *member(fake_net *net, const char *room)
{
    fake_peer *p = fake_open(net);
    assert_non_null(p);
    assert_int_equal(room_join(net->hub, p->conn, room), 0);
    return p;
}

/* A member that has synced the whole log. */
static fake_peer *synced(fake_net *net, const char *room)
{
    fake_peer *p = member(net, room);
    assert_int_equal(room_storage_sync_begin(net->hub, p->conn, room), 0);
    assert_int_equal(room_storage_sync_send(net->hub, p->conn, room, 0), 1);
    return p;
}

static void append_id(fake_net *net, fake_peer *from, const char *room, int id)
{
    char u[ID_LEN + 1];
    snprintf(u, sizeof u, "u%04u", (unsigned)(id) % 10000u);
    assert_true(room_storage_append(net->hub, from ? from->conn : NULL, room, u, ID_LEN, NULL) >= 0);
}

/* Marks in `seen` every id in the frames `p` got from index `from`. */
static void ids_of(const fake_peer *p, size_t from, unsigned char *seen, int max)
{
    for (size_t i = from; i < p->nframes; i++) {
        const char *f = p->frames[i];
        assert_memory_equal(f, PREFIX, 2);
        for (f += 2; *f; f += ID_LEN) {
            int id = atoi(f + 1);
            assert_true(id >= 0 && id < max);
            seen[id] = 1;
        }
    }
}

static int collect(const room_storage_entry *e, void *ud)
{
    unsigned char *seen = ud;
    size_t i;
    size_t plen;
    const uint8_t *payload = room_frame_payload(e->frame, &plen);
    /* The update sits in the frame after the prefix. */
    assert_ptr_equal(e->update.data, payload + 2);
    assert_int_equal(e->update.len, plen - 2);
    assert_int_equal(e->update.len % ID_LEN, 0);
    for (i = 0; i < e->update.len; i += ID_LEN) {
        char id[ID_LEN + 1];
        memcpy(id, e->update.data + i, ID_LEN);
        id[ID_LEN] = '\0';
        seen[atoi(id + 1)] = 1;
    }
    return 0;
}

static void append_relays_once(void **state)
{
    fake_net net = {0};
    ctx c = {0};
    fake_peer *a, *b, *d, *out;
    room_storage_info info;
    uint64_t off = 0;
    (void)state;
    storage_hub(&net, &c, NULL, 0);
    a = member(&net, "doc");
    b = member(&net, "doc");
    d = member(&net, "doc");
    out = member(&net, "elsewhere");
    size_t sends = net.sends;
    assert_int_equal(room_storage_append(net.hub, a->conn, "doc", "u0001", 5, &off), 2);
    assert_int_equal(off, 1);
    assert_int_equal(net.sends - sends, 2);
    assert_int_equal(a->nframes, 0);
    assert_string_equal(b->frames[0], "Y:u0001");
    assert_string_equal(d->frames[0], "Y:u0001");
    assert_int_equal(b->kinds[0], ROOM_FRAME_BINARY);
    assert_int_equal(out->nframes, 0);
    /* From the host: every member. */
    assert_int_equal(room_storage_append(net.hub, NULL, "doc", "u0002", 5, &off), 3);
    assert_int_equal(off, 2);
    /* Only members append. */
    assert_int_equal(room_storage_append(net.hub, out->conn, "doc", "u0003", 5, NULL), ROOM_ENOTMEMBER);
    assert_int_equal(room_storage_append(net.hub, NULL, "", "u0003", 5, NULL), ROOM_ENAME);
    assert_int_equal(room_storage_append(net.hub, NULL, "doc", NULL, 5, NULL), ROOM_EINVAL);
    assert_int_equal(room_storage_get_info(net.hub, "doc", &info), 0);
    assert_int_equal(info.entries, 2);
    assert_int_equal(info.bytes, 10);
    assert_int_equal(info.first_offset, 1);
    assert_int_equal(info.last_offset, 2);
    assert_int_equal(strlen(info.epoch), ROOM_CONN_ID_LEN);
    /* The state outlives the room's members. */
    fake_close(&net, a);
    fake_close(&net, b);
    fake_close(&net, d);
    assert_int_equal(room_storage_get_info(net.hub, "doc", &info), 0);
    assert_int_equal(info.entries, 2);
    fake_close(&net, out);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* A joiner gets the whole log in pieces, the appends made meanwhile in
 * order after it (not relayed ahead of it), then live relays. */
static void sync_streams_before_relays(void **state)
{
    fake_net net = {0};
    ctx c = {0};
    fake_peer *a, *j;
    int i, rc;
    (void)state;
    storage_hub(&net, &c, NULL, 0);
    a = member(&net, "doc");
    for (i = 0; i < 10; i++)
        append_id(&net, a, "doc", i);
    j = member(&net, "doc");
    assert_int_equal(room_storage_sync_begin(net.hub, j->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_begin(net.hub, j->conn, "doc"), ROOM_EALREADY);
    assert_int_equal(j->nframes, 0); /* nothing sent by the begin */
    /* Two frames of 7 bytes per call of 14. */
    assert_int_equal(room_storage_sync_send(net.hub, j->conn, "doc", 14), 0);
    assert_int_equal(j->nframes, 2);
    append_id(&net, a, "doc", 10); /* not relayed to j yet */
    assert_int_equal(j->nframes, 2);
    while ((rc = room_storage_sync_send(net.hub, j->conn, "doc", 14)) == 0)
        ;
    assert_int_equal(rc, 1);
    assert_int_equal(j->nframes, 11);
    for (i = 0; i < 11; i++) {
        char want[16];
        snprintf(want, sizeof want, "Y:u%04u", (unsigned)(i) % 10000u);
        assert_string_equal(j->frames[i], want);
    }
    assert_int_equal(room_storage_sync_send(net.hub, j->conn, "doc", 0), ROOM_ENOTFOUND);
    append_id(&net, a, "doc", 11); /* live now */
    assert_string_equal(j->frames[11], "Y:u0011");
    /* A whole log in one call; a log that fit says so at once. */
    fake_peer *k = member(&net, "doc");
    assert_int_equal(room_storage_sync_begin(net.hub, k->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_send(net.hub, k->conn, "doc", 0), 1);
    assert_int_equal(k->nframes, 12);
    /* A sync ends when its member leaves; a non-member cannot begin. */
    fake_peer *l = member(&net, "doc");
    assert_int_equal(room_storage_sync_begin(net.hub, l->conn, "doc"), 0);
    assert_int_equal(room_leave(net.hub, l->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_send(net.hub, l->conn, "doc", 0), ROOM_ENOTFOUND);
    assert_int_equal(room_storage_sync_begin(net.hub, l->conn, "doc"), ROOM_ENOTMEMBER);
    /* sync_end, and a failing send ends the sync. */
    assert_int_equal(room_join(net.hub, l->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_begin(net.hub, l->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_end(net.hub, l->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_end(net.hub, l->conn, "doc"), ROOM_ENOTFOUND);
    assert_int_equal(room_storage_sync_begin(net.hub, l->conn, "doc"), 0);
    l->fail_sends = 1;
    assert_int_equal(room_storage_sync_send(net.hub, l->conn, "doc", 0), ROOM_ETRANSPORT);
    assert_int_equal(room_storage_sync_send(net.hub, l->conn, "doc", 0), ROOM_ENOTFOUND);
    fake_close(&net, l);
    fake_close(&net, a);
    fake_close(&net, j);
    fake_close(&net, k);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* Small updates are kept as their bytes (no frame each: a frame's header
 * alone is 40 bytes), big ones as the frame relayed; either way a joiner
 * gets every one as the frame the others got, in order, and so does a
 * sync that a compaction overtakes. */
static void small_updates_kept_as_bytes(void **state)
{
    fake_net net = {0};
    ctx c = {0};
    fake_peer *a, *b, *j;
    char big[700], want[720];
    size_t before, i;
    uint64_t token;
    (void)state;
    storage_hub(&net, &c, NULL, 0);
    a = synced(&net, "doc");
    b = member(&net, "doc");
    append_id(&net, a, "doc", 0);
    before = room_hub_memory(net.hub);
    for (i = 1; i <= 200; i++)
        append_id(&net, a, "doc", (int)i);
    /* 5 bytes, the index entry and the arrays' slack; a frame each would
     * be more than 70. */
    assert_true(room_hub_memory(net.hub) - before < 200 * 48);
    for (i = 0; i + ID_LEN < sizeof big; i += ID_LEN)
        snprintf(big + i, ID_LEN + 1, "u%04u", (unsigned)(300 + i / ID_LEN));
    assert_int_equal(room_storage_append(net.hub, a->conn, "doc", big, i, NULL), 1);
    append_id(&net, a, "doc", 201);
    /* The relays are the frames a joiner gets. */
    assert_int_equal(b->nframes, 203);
    snprintf(want, sizeof want, "Y:%s", big);
    assert_string_equal(b->frames[201], want);
    j = member(&net, "doc");
    assert_int_equal(room_storage_sync_begin(net.hub, j->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_send(net.hub, j->conn, "doc", 100), 0);
    assert_int_equal(j->nframes, 15);
    /* A compaction of everything so far: j still gets what it had not. */
    assert_int_equal(room_storage_compaction_begin(net.hub, "doc", a->conn, &token), 0);
    append_id(&net, a, "doc", 202);
    assert_int_equal(room_storage_compaction_commit(net.hub, "doc", token, "u0000", 5), 0);
    append_id(&net, a, "doc", 203);
    assert_int_equal(room_storage_sync_send(net.hub, j->conn, "doc", 0), 1);
    assert_int_equal(j->nframes, 205);
    for (i = 0; i < j->nframes; i++)
        assert_string_equal(j->frames[i], b->frames[i]);
    /* After it, the log is the snapshot (small: bytes too) and the tail. */
    fake_peer *k = member(&net, "doc");
    assert_int_equal(room_storage_sync_begin(net.hub, k->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_send(net.hub, k->conn, "doc", 0), 1);
    assert_int_equal(k->nframes, 3);
    assert_string_equal(k->frames[0], "Y:u0000");
    assert_string_equal(k->frames[1], "Y:u0202");
    assert_string_equal(k->frames[2], "Y:u0203");
    /* An empty update first: its place in a buffer that holds no byte. */
    assert_int_equal(room_storage_append(net.hub, NULL, "empty", "", 0, NULL), 0);
    fake_peer *e = member(&net, "empty");
    assert_int_equal(room_storage_sync_begin(net.hub, e->conn, "empty"), 0);
    assert_int_equal(room_storage_sync_send(net.hub, e->conn, "empty", 0), 1);
    assert_int_equal(e->nframes, 1);
    assert_string_equal(e->frames[0], "Y:");
    fake_close(&net, a);
    fake_close(&net, b);
    fake_close(&net, j);
    fake_close(&net, k);
    fake_close(&net, e);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static void caps(void **state)
{
    fake_net net = {0};
    room_storage_config sc;
    room_storage_info info;
    char big[64];
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_storage_config_init(&sc);
    sc.max_update_bytes = 8;
    sc.max_log_bytes = 20;
    sc.max_rooms = 2;
    assert_int_equal(room_storage_enable(net.hub, &sc), 0);
    memset(big, 'x', sizeof big);
    assert_int_equal(room_storage_append(net.hub, NULL, "a", big, 9, NULL), ROOM_ETOOBIG);
    assert_int_equal(room_storage_append(net.hub, NULL, "a", big, 8, NULL), 0);
    assert_int_equal(room_storage_append(net.hub, NULL, "a", big, 8, NULL), 0);
    assert_int_equal(room_storage_append(net.hub, NULL, "a", big, 5, NULL), ROOM_ELIMIT);
    assert_int_equal(room_storage_append(net.hub, NULL, "a", big, 4, NULL), 0);
    assert_int_equal(room_storage_append(net.hub, NULL, "b", big, 1, NULL), 0);
    assert_int_equal(room_storage_append(net.hub, NULL, "c", big, 1, NULL), ROOM_ELIMIT);
    assert_int_equal(room_storage_get_info(net.hub, "c", &info), ROOM_ELIMIT);
    assert_int_equal(room_storage_get_info(net.hub, "a", &info), 0);
    assert_int_equal(info.bytes, 20);
    assert_int_equal(info.entries, 3);
    /* Settings are fixed once a room has state. */
    assert_int_equal(room_storage_enable(net.hub, &sc), ROOM_EALREADY);
    assert_true(strcmp(room_error_name(ROOM_ESTORAGE), "storage") == 0);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static void bad_configs(void **state)
{
    fake_net net = {0};
    room_storage_config sc;
    room_store bad;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_storage_config_init(&sc);
    assert_int_equal(room_storage_enable(NULL, &sc), ROOM_EINVAL);
    assert_int_equal(room_storage_enable(net.hub, NULL), ROOM_EINVAL);
    sc.frame_kind = 7;
    assert_int_equal(room_storage_enable(net.hub, &sc), ROOM_EINVAL);
    sc.frame_kind = 0;
    sc.history_rooms = "a,,b";
    assert_int_equal(room_storage_enable(net.hub, &sc), ROOM_EINVAL);
    sc.history_rooms = NULL;
    memset(&bad, 0, sizeof bad);
    bad.size = sizeof bad; /* no write */
    sc.store = &bad;
    assert_int_equal(room_storage_enable(net.hub, &sc), ROOM_EINVAL);
    sc.store = NULL;
    sc.size = 8;
    assert_int_equal(room_storage_enable(net.hub, &sc), ROOM_EINVAL);
    room_hub_free(net.hub);
}

/* The compact callback at a flush once the log passes the threshold; the
 * member's snapshot replaces exactly what it had, what raced it stays;
 * a sync running across it gets the old entries, never the snapshot. */
static void compaction_keeps_what_raced(void **state)
{
    fake_net net = {0};
    ctx c = {0};
    fake_peer *a, *b, *j, *k;
    room_storage_info info;
    uint64_t token = 0, t2;
    int i;
    (void)state;
    storage_hub(&net, &c, NULL, 12);
    a = synced(&net, "doc");
    b = synced(&net, "doc");
    append_id(&net, a, "doc", 1);
    append_id(&net, b, "doc", 2);
    assert_int_equal(room_storage_flush(net.hub), 0);
    assert_int_equal(c.asked, 0); /* 10 bytes: under 12 */
    append_id(&net, a, "doc", 3);
    assert_int_equal(c.asked, 0); /* asked at the flush, not in the append */
    assert_int_equal(room_storage_flush(net.hub), 0);
    assert_int_equal(c.asked, 1);
    assert_string_equal(c.last_room, "doc");
    assert_int_equal(room_storage_flush(net.hub), 0);
    assert_int_equal(c.asked, 1); /* once per crossing */

    j = member(&net, "doc");
    assert_int_equal(room_storage_sync_begin(net.hub, j->conn, "doc"), 0);
    assert_int_equal(room_storage_compaction_begin(net.hub, "doc", j->conn, &token), ROOM_ENOTMEMBER);
    fake_peer *unsynced = member(&net, "doc"); /* joined, never synced: misses u1..u3 */
    assert_int_equal(room_storage_compaction_begin(net.hub, "doc", unsynced->conn, &token), ROOM_ENOTMEMBER);
    fake_close(&net, unsynced);
    assert_int_equal(room_storage_compaction_begin(net.hub, "doc", a->conn, &token), 0);
    assert_int_equal(token, 3);
    assert_int_equal(room_storage_compaction_begin(net.hub, "doc", b->conn, &t2), ROOM_EALREADY);
    assert_ptr_equal(room_storage_compaction_member(net.hub, "doc", &t2), a->conn);
    assert_int_equal(t2, 3);
    /* j has got u0001 only when the snapshot comes. */
    assert_int_equal(room_storage_sync_send(net.hub, j->conn, "doc", 1), 0);
    assert_int_equal(j->nframes, 1);
    append_id(&net, b, "doc", 4); /* races the compaction */
    assert_int_equal(room_storage_compaction_commit(net.hub, "doc", 2, "x", 1), ROOM_ENOTFOUND);
    /* a's state: everything it saw, 4 included (it got it before answering). */
    assert_int_equal(room_storage_compaction_commit(net.hub, "doc", token, "u0001u0002u0003u0004", 20), 0);
    assert_null(room_storage_compaction_member(net.hub, "doc", NULL));
    assert_int_equal(room_storage_compaction_commit(net.hub, "doc", token, "u0001", 5), ROOM_ENOTFOUND);
    assert_int_equal(room_storage_get_info(net.hub, "doc", &info), 0);
    assert_int_equal(info.entries, 2); /* the snapshot at 3, then 4 */
    assert_int_equal(info.first_offset, 3);
    assert_int_equal(info.last_offset, 4);
    assert_int_equal(info.bytes, 25);
    /* j: u0002, u0003 (kept for it), then u0004: each once, no snapshot. */
    assert_int_equal(room_storage_sync_send(net.hub, j->conn, "doc", 0), 1);
    assert_int_equal(j->nframes, 4);
    for (i = 0; i < 4; i++) {
        char want[16];
        snprintf(want, sizeof want, "Y:u%04u", (unsigned)(i + 1) % 10000u);
        assert_string_equal(j->frames[i], want);
    }
    /* A new joiner: the snapshot, then u0004. */
    k = member(&net, "doc");
    assert_int_equal(room_storage_sync_begin(net.hub, k->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_send(net.hub, k->conn, "doc", 0), 1);
    assert_int_equal(k->nframes, 2);
    assert_string_equal(k->frames[0], "Y:u0001u0002u0003u0004");
    assert_string_equal(k->frames[1], "Y:u0004");
    /* 25 bytes after a compaction to 25: not asked again until twice that. */
    assert_int_equal(room_storage_flush(net.hub), 0);
    assert_int_equal(c.asked, 1);
    for (i = 5; i < 10; i++)
        append_id(&net, a, "doc", i);
    room_storage_flush(net.hub);
    assert_int_equal(c.asked, 1);
    append_id(&net, a, "doc", 10);
    room_storage_flush(net.hub);
    assert_int_equal(c.asked, 2);

    /* The member leaves: the compaction is over, and asked for again. */
    assert_int_equal(room_storage_compaction_begin(net.hub, "doc", NULL, &token), 0);
    fake_peer *asked = NULL;
    room_conn *who = room_storage_compaction_member(net.hub, "doc", NULL);
    asked = who == a->conn ? a : who == b->conn ? b : who == j->conn ? j : k;
    fake_close(&net, asked);
    assert_null(room_storage_compaction_member(net.hub, "doc", NULL));
    room_storage_flush(net.hub);
    assert_int_equal(c.asked, 3);
    assert_int_equal(room_storage_compaction_begin(net.hub, "doc", NULL, &token), 0);
    assert_int_equal(room_storage_compaction_abort(net.hub, "doc", token + 1), ROOM_ENOTFOUND);
    assert_int_equal(room_storage_compaction_abort(net.hub, "doc", token), 0);
    room_storage_flush(net.hub);
    assert_int_equal(c.asked, 4);
    assert_int_equal(room_storage_compaction_begin(net.hub, "empty", NULL, &token), ROOM_ENOTFOUND);
    if (asked != a)
        fake_close(&net, a);
    if (asked != b)
        fake_close(&net, b);
    if (asked != j)
        fake_close(&net, j);
    if (asked != k)
        fake_close(&net, k);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* compact_growth_percent: after a compaction to 20 bytes, at 25 % the
 * next compaction is asked for once the log has grown by more than 5
 * bytes (the default would wait for 20 more). */
static void compaction_at_growth_percent(void **state)
{
    fake_net net = {0};
    ctx c = {0};
    room_storage_config sc;
    fake_peer *a;
    uint64_t token = 0;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_storage_config_init(&sc);
    sc.compact = compact_fn;
    sc.compact_bytes = 12;
    sc.compact_growth_percent = 25;
    sc.user_data = &c;
    assert_int_equal(room_storage_enable(net.hub, &sc), 0);
    a = synced(&net, "doc");
    for (int i = 1; i <= 4; i++)
        append_id(&net, a, "doc", i);
    assert_int_equal(room_storage_flush(net.hub), 0);
    assert_int_equal(c.asked, 1); /* 20 bytes from nothing */
    assert_int_equal(room_storage_compaction_begin(net.hub, "doc", a->conn, &token), 0);
    assert_int_equal(room_storage_compaction_commit(net.hub, "doc", token, "u0001u0002u0003u0004", 20), 0);
    append_id(&net, a, "doc", 5);
    assert_int_equal(room_storage_flush(net.hub), 0);
    assert_int_equal(c.asked, 1); /* grown by 5: exactly 25 %, not more */
    append_id(&net, a, "doc", 6);
    assert_int_equal(room_storage_flush(net.hub), 0);
    assert_int_equal(c.asked, 2); /* by 10: 50 % */
    fake_close(&net, a);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* Random interleavings of appends, compactions (begun, answered late with
 * whatever the member has by then, or abandoned when it leaves), joiners
 * syncing in small pieces, and leaves: no update is ever lost, from the
 * log or from any member that stays. */
#define RACE_IDS 600
#define RACE_PEERS 6

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

typedef struct racer {
    fake_peer *p;
    int syncing;
    unsigned char own[RACE_IDS]; /* what it appended itself */
} racer;

static void state_of(const racer *r, unsigned char *seen)
{
    memcpy(seen, r->own, RACE_IDS);
    ids_of(r->p, 0, seen, RACE_IDS);
}

static void compaction_race(void **state)
{
    int total_commits = 0;
    (void)state;
    for (uint32_t seed = 1; seed <= 40; seed++) {
        fake_net net = {0};
        ctx c = {0};
        racer rs[RACE_PEERS];
        uint32_t s = seed;
        int next_id = 0, compactor = -1, commits = 0;
        uint64_t token = 0;
        unsigned char all[RACE_IDS] = {0}, seen[RACE_IDS];

        storage_hub(&net, &c, NULL, 40);
        memset(rs, 0, sizeof rs);
        for (int i = 0; i < RACE_PEERS; i++)
            rs[i].p = NULL;
        while (next_id < RACE_IDS) {
            int who = (int)(lcg(&s) % RACE_PEERS), act = (int)(lcg(&s) % 100);
            racer *r = &rs[who];
            if (!r->p) {
                /* A joiner: member, then its sync, right away. */
                r->p = member(&net, "doc");
                memset(r->own, 0, sizeof r->own);
                assert_int_equal(room_storage_sync_begin(net.hub, r->p->conn, "doc"), 0);
                r->syncing = 1;
            } else if (r->syncing && act < 30) {
                int rc = room_storage_sync_send(net.hub, r->p->conn, "doc", 1 + lcg(&s) % 30);
                assert_true(rc == 0 || rc == 1);
                r->syncing = rc == 0;
            } else if (act < 75) {
                /* Mostly one id (kept as bytes), sometimes a run of 110
                 * (550 bytes: kept as its frame). */
                int n = act < 70 ? 1 : 110;
                char u[110 * ID_LEN + 1];
                size_t len = 0;
                if (n > RACE_IDS - next_id)
                    n = RACE_IDS - next_id;
                for (int k = 0; k < n; k++)
                    len += (size_t)snprintf(u + len, ID_LEN + 1, "u%04u", (unsigned)(next_id + k) % 10000u);
                assert_true(room_storage_append(net.hub, r->p->conn, "doc", u, len, NULL) >= 0);
                for (int k = 0; k < n; k++) {
                    r->own[next_id] = 1;
                    all[next_id++] = 1;
                }
            } else if (act < 85) {
                room_storage_flush(net.hub); /* asks, maybe */
                if (c.asked && compactor < 0) {
                    room_conn *m;
                    if (room_storage_compaction_begin(net.hub, "doc", NULL, &token) == 0) {
                        m = room_storage_compaction_member(net.hub, "doc", NULL);
                        for (int i = 0; i < RACE_PEERS; i++)
                            if (rs[i].p && rs[i].p->conn == m)
                                compactor = i;
                        assert_true(compactor >= 0 && !rs[compactor].syncing);
                    }
                    c.asked = 0;
                }
            } else if (act < 95 && compactor >= 0) {
                /* The member answers with all it has now: maybe more than
                 * the token covers. */
                char *snap = malloc(RACE_IDS * ID_LEN + 1);
                size_t len = 0;
                state_of(&rs[compactor], seen);
                for (int i = 0; i < RACE_IDS; i++) {
                    if (seen[i])
                        len += (size_t)snprintf(snap + len, ID_LEN + 1, "u%04u", (unsigned)(i) % 10000u);
                }
                assert_int_equal(room_storage_compaction_commit(net.hub, "doc", token, snap, len), 0);
                free(snap);
                compactor = -1;
                commits++;
            } else if (act >= 97) {
                /* Leaves (the compaction it was asked for goes with it). */
                if (who == compactor)
                    compactor = -1;
                fake_close(&net, r->p);
                r->p = NULL;
            }
        }
        /* The log has every update. */
        memset(seen, 0, sizeof seen);
        assert_int_equal(room_storage_foreach(net.hub, "doc", collect, seen), 0);
        assert_memory_equal(seen, all, RACE_IDS);
        /* So does every member that stayed, once synced. */
        for (int i = 0; i < RACE_PEERS; i++) {
            if (!rs[i].p)
                continue;
            if (rs[i].syncing)
                assert_int_equal(room_storage_sync_send(net.hub, rs[i].p->conn, "doc", 0), 1);
            state_of(&rs[i], seen);
            for (int id = 0; id < next_id; id++) {
                /* Members that joined late got the older ids by their sync. */
                assert_true(seen[id]);
            }
            fake_close(&net, rs[i].p);
        }
        total_commits += commits;
        room_hub_free(net.hub);
        assert_int_equal(net.alloc.allocs, net.alloc.frees);
    }
    /* The interleavings did race compactions (about two per seed). */
    assert_true(total_commits > 40);
}

/* ---- the store ------------------------------------------------------------------- */

/* The memory store behind a counter of write calls. */
typedef struct counting {
    room_store table;
    room_store *inner;
    int writes;
    size_t rooms;
} counting;

static int count_load(room_store *store, const char *scope, const char *room, room_store_sink *sink)
{
    counting *c = store->state;
    return c->inner->load(c->inner, scope, room, sink);
}

static int count_write(room_store *store, const char *scope, const room_store_batch *b, size_t n)
{
    counting *c = store->state;
    c->writes++;
    c->rooms = n;
    return c->inner->write(c->inner, scope, b, n);
}

static void counting_init(counting *c, room_store *inner)
{
    memset(c, 0, sizeof *c);
    c->table.size = sizeof c->table;
    c->table.name = "counting";
    c->table.state = c;
    c->table.load = count_load;
    c->table.write = count_write;
    c->inner = inner;
}

static void restart_keeps_the_log(void **state)
{
    fake_net net = {0};
    ctx c = {0};
    room_store *mem;
    counting cs;
    fake_peer *a, *k;
    room_storage_info info;
    char epoch[ROOM_EPOCH_MAX + 1];
    uint64_t token;
    size_t before;
    (void)state;
    assert_int_equal(room_store_memory_new(&mem, NULL), 0);
    counting_init(&cs, mem);
    storage_hub(&net, &c, &cs.table, 0);
    a = synced(&net, "doc");
    append_id(&net, a, "doc", 1);
    append_id(&net, a, "doc", 2);
    append_id(&net, NULL, "other", 3);
    assert_int_equal(cs.writes, 0); /* never during an append */
    assert_int_equal(room_storage_flush(net.hub), 0);
    assert_int_equal(cs.writes, 1); /* one write for both rooms */
    assert_int_equal(cs.rooms, 2);
    assert_int_equal(room_storage_flush(net.hub), 0);
    assert_int_equal(cs.writes, 1); /* nothing changed */
    assert_int_equal(room_storage_compaction_begin(net.hub, "doc", a->conn, &token), 0);
    append_id(&net, a, "doc", 4);
    assert_int_equal(room_storage_compaction_commit(net.hub, "doc", token, "u0001u0002", 10), 0);
    append_id(&net, a, "doc", 5);
    assert_int_equal(room_hub_tick(net.hub, 10) >= 0, 1); /* the tick flushes */
    assert_int_equal(cs.writes, 2);
    assert_int_equal(room_storage_get_info(net.hub, "doc", &info), 0);
    memcpy(epoch, info.epoch, sizeof epoch);
    assert_true(room_store_memory_bytes(mem) > 0);
    fake_close(&net, a);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);

    /* Restart on the same store: the same log, the same epoch. */
    fake_net net2 = {0};
    net2.random_state = 12345;
    storage_hub(&net2, &c, &cs.table, 0);
    k = member(&net2, "doc");
    assert_int_equal(room_storage_sync_begin(net2.hub, k->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_send(net2.hub, k->conn, "doc", 0), 1);
    assert_int_equal(k->nframes, 3);
    assert_string_equal(k->frames[0], "Y:u0001u0002");
    assert_string_equal(k->frames[1], "Y:u0004");
    assert_string_equal(k->frames[2], "Y:u0005");
    assert_int_equal(room_storage_get_info(net2.hub, "doc", &info), 0);
    assert_string_equal(info.epoch, epoch);
    assert_int_equal(info.last_offset, 4);
    append_id(&net2, k, "doc", 6);
    assert_int_equal(room_storage_get_info(net2.hub, "doc", &info), 0);
    assert_int_equal(info.last_offset, 5);
    /* Unloaded when idle and written, loaded again at next use. */
    fake_close(&net2, k);
    before = room_hub_memory(net2.hub);
    room_hub_tick(net2.hub, 5000);
    assert_true(room_hub_memory(net2.hub) < before);
    assert_int_equal(room_storage_get_info(net2.hub, "doc", &info), 0);
    assert_int_equal(info.last_offset, 5);
    assert_int_equal(info.entries, 4);
    room_hub_free(net2.hub);
    assert_int_equal(net2.alloc.allocs, net2.alloc.frees);
    room_store_free(mem);
}

static void failing_store_makes_rooms_read_only(void **state)
{
    fake_net net = {0};
    ctx c = {0};
    room_store *mem;
    room_storage_info info;
    fake_peer *a;
    (void)state;
    assert_int_equal(room_store_memory_new(&mem, NULL), 0);
    storage_hub(&net, &c, mem, 0);
    a = member(&net, "doc");
    append_id(&net, a, "doc", 1);
    assert_int_equal(room_store_memory_fail_writes(mem, 2), 0);
    assert_int_equal(room_storage_flush(net.hub), ROOM_ESTORAGE);
    assert_int_equal(net.log_level, ROOM_LOG_ERROR);
    assert_int_equal(room_storage_append(net.hub, a->conn, "doc", "u0002", 5, NULL), ROOM_ESTORAGE);
    assert_int_equal(room_storage_get_info(net.hub, "doc", &info), 0);
    assert_int_equal(info.status, ROOM_ESTORAGE);
    assert_int_equal(info.entries, 1); /* kept, not dropped */
    assert_int_equal(room_storage_flush(net.hub), ROOM_ESTORAGE);
    assert_int_equal(room_storage_flush(net.hub), 0); /* retried, written */
    assert_int_equal(room_storage_append(net.hub, a->conn, "doc", "u0002", 5, NULL), 0);
    assert_int_equal(room_storage_flush(net.hub), 0);
    fake_close(&net, a);
    room_hub_free(net.hub);
    assert_int_equal(room_store_memory_fail_writes(NULL, 1), ROOM_EINVAL);

    /* The store has both, once each. */
    fake_net net2 = {0};
    net2.random_state = 99;
    storage_hub(&net2, &c, mem, 0);
    assert_int_equal(room_storage_get_info(net2.hub, "doc", &info), 0);
    assert_int_equal(info.entries, 2);
    assert_int_equal(info.status, 0);
    room_hub_free(net2.hub);
    room_store_free(mem);
}

/* A store whose load fails, or feeds the sink what it must refuse. */
static int bad_mode;
static int bad_load(room_store *store, const char *scope, const char *room, room_store_sink *sink)
{
    (void)store, (void)scope, (void)room;
    switch (bad_mode) {
    case 0:
        return ROOM_ETRANSPORT;
    case 1:
        return room_store_sink_meta(sink, "bad epoch!", 0, 0, 0);
    case 2: {
        int rc = room_store_sink_meta(sink, "e1", 0, 0, 2);
        if (!rc)
            rc = room_store_sink_update(sink, 2, "u0001", 5);
        if (!rc)
            rc = room_store_sink_update(sink, 1, "u0002", 5); /* out of order */
        return rc;
    }
    case 3:
        return room_store_sink_update(sink, 1, "u0001", 5); /* no meta */
    case 4:
        return 0; /* claims a room without meta */
    default: {
        int rc = room_store_sink_meta(sink, "e1", 0, 0, 3);
        if (!rc)
            rc = room_store_sink_update(sink, 3, "u0003", 5);
        return rc;
    }
    }
}
static int bad_write(room_store *store, const char *scope, const room_store_batch *b, size_t n)
{
    (void)store, (void)scope, (void)b, (void)n;
    return 0;
}

static void bad_loads(void **state)
{
    room_store bad = {sizeof bad, "bad", NULL, bad_load, bad_write, NULL};
    room_storage_info info;
    (void)state;
    for (bad_mode = 0; bad_mode <= 5; bad_mode++) {
        fake_net net = {0};
        ctx c = {0};
        storage_hub(&net, &c, &bad, 0);
        int rc = room_storage_get_info(net.hub, "doc", &info);
        if (bad_mode < 5) {
            assert_int_equal(rc, ROOM_ESTORAGE);
            assert_int_equal(room_storage_append(net.hub, NULL, "doc", "u", 1, NULL), ROOM_ESTORAGE);
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(info.epoch, "e1");
            assert_int_equal(info.last_offset, 3);
        }
        room_hub_free(net.hub);
        assert_int_equal(net.alloc.allocs, net.alloc.frees);
    }
    room_store_free(&bad); /* no destroy: nothing */
    room_store_free(NULL);
}

/* ---- allocation failures ------------------------------------------------------------ */

static int session(fake_net *net, size_t fail_at, room_store *mem)
{
    ctx c = {0};
    room_storage_config sc;
    fake_peer *p[3] = {NULL, NULL, NULL};
    uint64_t token;
    int rc = 0, i;
    assert_non_null(fake_hub(net, 0));
    net->alloc.fail_at = fail_at ? net->alloc.allocs + fail_at : 0;
    room_storage_config_init(&sc);
    sc.store = mem;
    sc.update_prefix = prefix_fn;
    sc.compact = compact_fn;
    sc.compact_bytes = 8;
    sc.user_data = &c;
    if (room_storage_enable(net->hub, &sc))
        rc = 1;
    for (i = 0; i < 3; i++) {
        p[i] = fake_open(net);
        if (p[i] && room_join(net->hub, p[i]->conn, "doc"))
            rc = 1;
        if (p[i] && i == 0 && (room_storage_sync_begin(net->hub, p[i]->conn, "doc") ||
                               room_storage_sync_send(net->hub, p[i]->conn, "doc", 0) != 1))
            rc = 1;
    }
    for (i = 0; i < 5; i++) {
        /* The fourth one big: kept as its frame, the others as bytes. */
        char u[600];
        size_t len = 0;
        do
            len += (size_t)snprintf(u + len, sizeof u - len, "u%04u", (unsigned)(i) % 10000u);
        while (i == 3 && len < 520);
        if (p[i % 3] && room_storage_append(net->hub, p[i % 3]->conn, "doc", u, len, NULL) < 0)
            rc = 1;
    }
    if (p[2] && room_storage_sync_begin(net->hub, p[2]->conn, "doc"))
        rc = 1;
    if (p[2] && room_storage_sync_send(net->hub, p[2]->conn, "doc", 7) < 0)
        rc = 1;
    if (room_storage_flush(net->hub))
        rc = 1;
    if (p[0] && room_storage_compaction_begin(net->hub, "doc", p[0]->conn, &token) == 0 &&
        room_storage_compaction_commit(net->hub, "doc", token, "u0000u0001", 10))
        rc = 1;
    if (room_storage_flush(net->hub))
        rc = 1;
    for (i = 0; i < 3; i++) {
        if (p[i])
            fake_close(net, p[i]);
    }
    return rc;
}

static void fail_nth_allocation(void **state)
{
    size_t n;
    (void)state;
    for (int with_store = 0; with_store < 2; with_store++) {
        for (n = 1;; n++) {
            fake_net net = {0};
            room_store *mem = NULL;
            if (with_store)
                assert_int_equal(room_store_memory_new(&mem, NULL), 0);
            int failed = session(&net, n, mem);
            size_t failures = net.alloc.failures;
            room_hub_free(net.hub);
            room_store_free(mem);
            assert_int_equal(net.alloc.allocs, net.alloc.frees);
            if (!failures) {
                assert_int_equal(failed, 0);
                break;
            }
        }
        assert_true(n > 15);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_relays_once),
        cmocka_unit_test(sync_streams_before_relays),
        cmocka_unit_test(small_updates_kept_as_bytes),
        cmocka_unit_test(caps),
        cmocka_unit_test(bad_configs),
        cmocka_unit_test(compaction_keeps_what_raced),
        cmocka_unit_test(compaction_at_growth_percent),
        cmocka_unit_test(compaction_race),
        cmocka_unit_test(restart_keeps_the_log),
        cmocka_unit_test(failing_store_makes_rooms_read_only),
        cmocka_unit_test(bad_loads),
        cmocka_unit_test(fail_nth_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
