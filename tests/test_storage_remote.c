/* storage_remote.c (room storage across nodes) through the fake transport
 * and the fake cluster adapter (tests/fake_cluster.c): updates appended on
 * one hub reach the other hubs serving the room once, and are not
 * published again; a first member's sync waits for the other nodes' log
 * and gets it before it is over; a node whose members all left fetches
 * again; relays; peek never creates a room; a read-only room takes remote
 * updates; every allocation failing in turn.
 *
 * Updates are 5-character ids ("u0001"), as in test_storage.c: a copy may
 * hold one twice, as a Yjs log may. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_cluster.h"
#include "room/storage.h"
#include "test_util.h"

#define PREFIX "Y:"

typedef struct ctx {
    int fetched;         /* fetched callbacks */
    int relayed;         /* relayed callbacks */
    char last[64];       /* the last relayed bytes */
} ctx;

static size_t prefix_fn(const uint8_t *update, size_t len, uint8_t *prefix, void *ud)
{
    (void)update, (void)len, (void)ud;
    memcpy(prefix, PREFIX, 2);
    return 2;
}

static void fetched_fn(room_hub *hub, const char *room, void *ud)
{
    (void)hub, (void)room;
    ((ctx *)ud)->fetched++;
}

static void relayed_fn(room_hub *hub, const char *room, const void *bytes, size_t len, void *ud)
{
    ctx *c = ud;
    (void)hub, (void)room;
    c->relayed++;
    snprintf(c->last, sizeof c->last, "%.*s", (int)len, (const char *)bytes);
}

/* Node i of the cluster: a hub on `net` with storage (optionally a store). */
static int node_new(fake_cluster *cl, int i, fake_net *net, ctx *c, room_store *store)
{
    room_config cfg;
    room_storage_config sc;
    int rc;
    room_config_init(&cfg);
    fake_config(&cfg, net);
    net->random_state = (uint64_t)i << 40;
    cfg.adapter = fake_cluster_adapter(cl, i);
    if ((rc = room_hub_new(&net->hub, &cfg)) != 0)
        return rc;
    fake_cluster_bind(cl, i, net->hub);
    room_storage_config_init(&sc);
    sc.store = store;
    sc.update_prefix = prefix_fn;
    sc.fetched = fetched_fn;
    sc.relayed = relayed_fn;
    sc.user_data = c;
    return room_storage_enable(net->hub, &sc);
}

static fake_peer *member(fake_net *net, const char *room)
{
    fake_peer *p = fake_open(net);
    assert_non_null(p);
    assert_int_equal(room_join(net->hub, p->conn, room), 0);
    return p;
}

static void append(fake_net *net, fake_peer *from, const char *room, int id)
{
    char u[16];
    snprintf(u, sizeof u, "u%04d", id % 10000);
    assert_true(room_storage_append(net->hub, from ? from->conn : NULL, room, u, 5, NULL) >= 0);
}

/* Whether the frames `p` got hold every id in [0, n) (and nothing else). */
static int has_all(const fake_peer *p, int n)
{
    unsigned char seen[64] = {0};
    int i;
    for (size_t k = 0; k < p->nframes; k++) {
        const char *f = p->frames[k];
        assert_memory_equal(f, PREFIX, 2);
        for (f += 2; *f; f += 5) {
            int id = atoi(f + 1);
            assert_true(id >= 0 && id < n);
            seen[id] = 1;
        }
    }
    for (i = 0; i < n && seen[i]; i++)
        ;
    return i == n;
}

static int count_entries(const room_storage_entry *e, void *ud)
{
    (void)e;
    (*(int *)ud)++;
    return 0;
}

static void updates_cross_nodes(void **state)
{
    fake_cluster cl = {0};
    fake_net na = {0}, nb = {0};
    ctx ca = {0}, cb = {0};
    fake_peer *a, *b, *b2;
    int entries = 0, current = -1;
    (void)state;
    assert_int_equal(node_new(&cl, 0, &na, &ca, NULL), 0);
    assert_int_equal(node_new(&cl, 1, &nb, &cb, NULL), 0);

    /* A's first member asks the others; nothing is over before the answer. */
    a = member(&na, "doc");
    assert_int_equal(room_storage_sync_begin(na.hub, a->conn, "doc"), 0);
    assert_int_equal(cl.fetch_calls, 1);
    assert_int_equal(room_storage_sync_send(na.hub, a->conn, "doc", 0), 0);
    assert_int_equal(fake_cluster_answer(&cl), 1);
    assert_int_equal(ca.fetched, 1);
    assert_int_equal(room_storage_sync_send(na.hub, a->conn, "doc", 0), 1);
    /* B was asked and has no such room: answering created none. */
    assert_int_equal(room_storage_peek(nb.hub, "doc", count_entries, &entries, &current), ROOM_ENOTFOUND);
    assert_int_equal(current, 0);

    for (int i = 0; i < 3; i++)
        append(&na, a, "doc", i);
    assert_int_equal(cl.publishes, 3);
    /* B serves nobody in "doc": it takes nothing. */
    assert_int_equal(fake_cluster_deliver(&cl), 3);
    assert_int_equal(cl.last_append, ROOM_ENOTFOUND);

    /* B's first member: the fetch brings A's log before its sync is over. */
    b = member(&nb, "doc");
    assert_int_equal(room_storage_sync_begin(nb.hub, b->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_send(nb.hub, b->conn, "doc", 0), 0);
    assert_int_equal(b->nframes, 0);
    /* An update made meanwhile arrives before the answer: kept, in order. */
    append(&na, a, "doc", 3);
    fake_cluster_deliver(&cl);
    assert_true(cl.last_append >= 0);
    assert_int_equal(fake_cluster_answer(&cl), 1);
    assert_int_equal(cb.fetched, 1);
    assert_int_equal(room_storage_sync_send(nb.hub, b->conn, "doc", 0), 1);
    assert_true(has_all(b, 4));
    /* A's copy follows the cluster: it says so to an asker. */
    assert_int_equal(room_storage_peek(na.hub, "doc", count_entries, &entries, &current), 0);
    assert_int_equal(entries, 4);
    assert_int_equal(current, 1);

    /* A second member of B: the copy is current, no fetch. */
    b2 = member(&nb, "doc");
    assert_int_equal(room_storage_sync_begin(nb.hub, b2->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_send(nb.hub, b2->conn, "doc", 0), 1);
    assert_int_equal(cl.fetch_calls, 2);

    /* An update on B reaches A's member once, B's other member once, and
     * is published once: A does not publish it again. */
    fake_clear(a);
    fake_clear(b2);
    append(&nb, b, "doc", 4);
    assert_int_equal(cl.publishes, 5);
    assert_int_equal(fake_cluster_deliver(&cl), 1);
    assert_int_equal(cl.last_append, 1);
    assert_int_equal(cl.publishes, 5);
    assert_int_equal(a->nframes, 1);
    assert_string_equal(a->frames[0], PREFIX "u0004");
    assert_int_equal(b2->nframes, 1);
    assert_int_equal(fake_cluster_deliver(&cl), 0);

    fake_close(&na, a);
    fake_close(&nb, b);
    fake_close(&nb, b2);
    room_hub_free(na.hub);
    room_hub_free(nb.hub);
    fake_cluster_free(&cl);
    assert_int_equal(na.alloc.allocs, na.alloc.frees);
    assert_int_equal(nb.alloc.allocs, nb.alloc.frees);
}

static void stale_copy_fetched_again(void **state)
{
    fake_cluster cl = {0};
    fake_net na = {0}, nb = {0};
    ctx ca = {0}, cb = {0};
    fake_peer *a, *b;
    int entries = 0, current = 1;
    (void)state;
    assert_int_equal(node_new(&cl, 0, &na, &ca, NULL), 0);
    assert_int_equal(node_new(&cl, 1, &nb, &cb, NULL), 0);
    a = member(&na, "doc");
    b = member(&nb, "doc");
    assert_int_equal(room_storage_sync_begin(na.hub, a->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_begin(nb.hub, b->conn, "doc"), 0);
    fake_cluster_answer(&cl);
    assert_int_equal(room_storage_sync_send(na.hub, a->conn, "doc", 0), 1);
    assert_int_equal(room_storage_sync_send(nb.hub, b->conn, "doc", 0), 1);
    append(&na, a, "doc", 0);
    fake_cluster_deliver(&cl);
    /* B's last member leaves: B stops hearing the room, its copy stays. */
    fake_close(&nb, b);
    assert_int_equal(room_storage_peek(nb.hub, "doc", count_entries, &entries, &current), 0);
    assert_int_equal(entries, 1);
    assert_int_equal(current, 0);
    append(&na, a, "doc", 1);
    fake_cluster_deliver(&cl);
    /* Its next first member gets what it missed, from a fetch. */
    b = member(&nb, "doc");
    assert_int_equal(room_storage_sync_begin(nb.hub, b->conn, "doc"), 0);
    assert_int_equal(cl.fetch_calls, 3);
    assert_int_equal(room_storage_sync_send(nb.hub, b->conn, "doc", 0), 0);
    fake_cluster_answer(&cl);
    assert_int_equal(room_storage_sync_send(nb.hub, b->conn, "doc", 0), 1);
    assert_true(has_all(b, 2));

    /* Alone in the cluster: a first member's sync is over at once. */
    fake_close(&nb, b);
    cl.alone = 1;
    b = member(&nb, "doc");
    assert_int_equal(room_storage_sync_begin(nb.hub, b->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_send(nb.hub, b->conn, "doc", 0), 1);
    /* A fetch that ended after its room lost every member (and state). */
    assert_int_equal(room_storage_remote_fetched(nb.hub, "doc"), ROOM_ENOTFOUND);
    assert_int_equal(room_storage_remote_fetched(nb.hub, ""), ROOM_ENAME);
    assert_int_equal(room_storage_remote_fetched(NULL, "doc"), ROOM_EINVAL);

    fake_close(&na, a);
    fake_close(&nb, b);
    room_hub_free(na.hub);
    room_hub_free(nb.hub);
    fake_cluster_free(&cl);
}

static void relays(void **state)
{
    fake_cluster cl = {0};
    fake_net na = {0}, nb = {0}, solo = {0};
    ctx ca = {0}, cb = {0};
    fake_peer *a, *b;
    (void)state;
    assert_int_equal(node_new(&cl, 0, &na, &ca, NULL), 0);
    assert_int_equal(node_new(&cl, 1, &nb, &cb, NULL), 0);
    a = member(&na, "doc");
    /* Nobody on B yet: dropped there. */
    assert_int_equal(room_storage_relay(na.hub, "doc", "hi", 2), 0);
    fake_cluster_deliver(&cl);
    assert_int_equal(cb.relayed, 0);
    b = member(&nb, "doc");
    assert_int_equal(room_storage_relay(na.hub, "doc", "hello", 5), 0);
    assert_int_equal(fake_cluster_deliver(&cl), 1);
    assert_int_equal(cb.relayed, 1);
    assert_string_equal(cb.last, "hello");
    assert_int_equal(ca.relayed, 0);
    /* Relays are not logged, and nothing went to the members here. */
    assert_int_equal(a->nframes, 0);
    assert_int_equal(b->nframes, 0);
    assert_int_equal(room_storage_relay(na.hub, "", "x", 1), ROOM_ENAME);
    assert_int_equal(room_storage_relay(na.hub, "doc", NULL, 1), ROOM_EINVAL);
    assert_int_equal(room_storage_remote_relay(nb.hub, "nobody", "x", 1), ROOM_ENOTFOUND);
    /* A publishing error is the adapter's, returned as is. */
    cl.fail_publish = 1;
    assert_int_equal(room_storage_relay(na.hub, "doc", "x", 1), ROOM_ENOMEM);
    /* ... and logged, not returned, for an append. */
    assert_int_equal(room_storage_append(na.hub, a->conn, "doc", "u0000", 5, NULL), 0);
    assert_true(na.logs > 0);
    cl.fail_publish = 0;
    /* A single node: no other node to relay to. */
    assert_non_null(fake_hub(&solo, 0));
    assert_int_equal(room_storage_relay(solo.hub, "doc", "x", 1), ROOM_ENOTFOUND);
    room_hub_free(solo.hub);

    fake_close(&na, a);
    fake_close(&nb, b);
    room_hub_free(na.hub);
    room_hub_free(nb.hub);
    fake_cluster_free(&cl);
}

static void stored_copies_answer(void **state)
{
    fake_cluster cl = {0};
    fake_net na = {0}, nb = {0};
    ctx ca = {0}, cb = {0};
    room_store *mem;
    fake_peer *a, *b;
    int entries = 0, current = 1;
    (void)state;
    assert_int_equal(room_store_memory_new(&mem, NULL), 0);
    assert_int_equal(node_new(&cl, 0, &na, &ca, mem), 0);
    cl.alone = 1;
    a = member(&na, "doc");
    assert_int_equal(room_storage_sync_begin(na.hub, a->conn, "doc"), 0);
    append(&na, a, "doc", 0);
    append(&na, a, "doc", 1);
    fake_close(&na, a);
    /* Written and unloaded: A keeps the room in its store only. */
    room_hub_set_time(na.hub, 5000);
    assert_int_equal(room_storage_flush(na.hub), 0);
    room_hub_set_time(na.hub, 10000);
    assert_int_equal(room_storage_flush(na.hub), 0);
    cl.alone = 0;
    /* A peek loads it from the store, and it is no member's: not current. */
    assert_int_equal(room_storage_peek(na.hub, "doc", count_entries, &entries, &current), 0);
    assert_int_equal(entries, 2);
    assert_int_equal(current, 0);
    /* A room the store does not have is not created by asking. */
    assert_int_equal(room_storage_peek(na.hub, "other", count_entries, &entries, NULL), ROOM_ENOTFOUND);
    assert_int_equal(room_storage_peek(na.hub, "other", NULL, NULL, NULL), ROOM_EINVAL);
    assert_int_equal(room_storage_flush(na.hub), 0);

    /* B, which never served it, gets it through a fetch. */
    assert_int_equal(node_new(&cl, 1, &nb, &cb, NULL), 0);
    b = member(&nb, "doc");
    assert_int_equal(room_storage_sync_begin(nb.hub, b->conn, "doc"), 0);
    fake_cluster_answer(&cl);
    assert_int_equal(room_storage_sync_send(nb.hub, b->conn, "doc", 0), 1);
    assert_true(has_all(b, 2));

    fake_close(&nb, b);
    room_hub_free(na.hub);
    room_hub_free(nb.hub);
    room_store_free(mem);
    fake_cluster_free(&cl);
}

static void read_only_rooms_take_remote_updates(void **state)
{
    fake_cluster cl = {0};
    fake_net na = {0}, nb = {0};
    ctx ca = {0}, cb = {0};
    room_store *mem;
    fake_peer *a, *b;
    room_storage_info info;
    (void)state;
    assert_int_equal(room_store_memory_new(&mem, NULL), 0);
    assert_int_equal(node_new(&cl, 0, &na, &ca, NULL), 0);
    assert_int_equal(node_new(&cl, 1, &nb, &cb, mem), 0);
    cl.alone = 1;
    a = member(&na, "doc");
    b = member(&nb, "doc");
    assert_int_equal(room_storage_sync_begin(nb.hub, b->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_send(nb.hub, b->conn, "doc", 0), 1);
    assert_int_equal(room_store_memory_fail_writes(mem, 100), 0);
    append(&nb, b, "doc", 0);
    assert_int_equal(room_storage_flush(nb.hub), ROOM_ESTORAGE);
    /* B's member is refused (it will send it again); A's update is kept. */
    assert_int_equal(room_storage_append(nb.hub, b->conn, "doc", "u0001", 5, NULL), ROOM_ESTORAGE);
    append(&na, a, "doc", 2);
    fake_cluster_deliver(&cl);
    assert_int_equal(cl.last_append, 1);
    info.size = sizeof info;
    assert_int_equal(room_storage_get_info(nb.hub, "doc", &info), 0);
    assert_int_equal(info.entries, 2);
    assert_int_equal(info.status, ROOM_ESTORAGE);
    /* Bad arguments. */
    assert_int_equal(room_storage_remote_append(nb.hub, "doc", NULL, 1), ROOM_EINVAL);
    assert_int_equal(room_storage_remote_append(NULL, "doc", "x", 1), ROOM_EINVAL);
    assert_int_equal(room_storage_remote_append(nb.hub, NULL, "x", 1), ROOM_ENAME);
    room_store_memory_fail_writes(mem, 0);

    fake_close(&na, a);
    fake_close(&nb, b);
    room_hub_free(na.hub);
    room_hub_free(nb.hub);
    room_store_free(mem);
    fake_cluster_free(&cl);
}

static void lost_traffic_fetched_again(void **state)
{
    fake_cluster cl = {0};
    fake_net na = {0}, nb = {0};
    ctx ca = {0}, cb = {0};
    fake_peer *a, *b;
    int entries = 0;
    (void)state;
    assert_int_equal(node_new(&cl, 0, &na, &ca, NULL), 0);
    assert_int_equal(node_new(&cl, 1, &nb, &cb, NULL), 0);
    a = member(&na, "doc");
    b = member(&nb, "doc");
    assert_int_equal(room_storage_sync_begin(na.hub, a->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_begin(nb.hub, b->conn, "doc"), 0);
    fake_cluster_answer(&cl);
    assert_int_equal(room_storage_sync_send(na.hub, a->conn, "doc", 0), 1);
    assert_int_equal(room_storage_sync_send(nb.hub, b->conn, "doc", 0), 1);
    /* An update that never reached B (the bus was away). */
    append(&na, a, "doc", 0);
    fake_cluster_free(&cl);
    assert_int_equal(room_storage_peek(nb.hub, "doc", count_entries, &entries, NULL), 0);
    assert_int_equal(entries, 0);
    /* B's bus is back: the room B serves fetches again. */
    assert_int_equal(room_storage_remote_lost(nb.hub, NULL), 1);
    assert_int_equal(cl.nfetches, 1);
    /* Lost again while that fetch runs: one more fetch after it. */
    assert_int_equal(room_storage_remote_lost(nb.hub, NULL), 1);
    assert_int_equal(cl.nfetches, 1);
    fake_clear(b);
    assert_int_equal(fake_cluster_answer(&cl), 2);
    assert_int_equal(cl.fetch_calls, 4);
    assert_int_equal(b->nframes, 2); /* one copy per fetch: harmless twice */
    assert_string_equal(b->frames[0], PREFIX "u0000");
    assert_int_equal(cb.fetched, 3);
    assert_int_equal(room_storage_remote_lost(NULL, NULL), ROOM_EINVAL);
    assert_int_equal(room_storage_remote_lost(nb.hub, ""), ROOM_ENAME);
    /* One room by name: A's, for a node that says it was away. */
    assert_int_equal(room_storage_remote_lost(na.hub, "other"), 0);
    assert_int_equal(room_storage_remote_lost(na.hub, "doc"), 1);
    assert_int_equal(fake_cluster_answer(&cl), 1);
    assert_int_equal(ca.fetched, 2);

    fake_close(&na, a);
    fake_close(&nb, b);
    room_hub_free(na.hub);
    room_hub_free(nb.hub);
    fake_cluster_free(&cl);
}

/* ---- allocation failures ------------------------------------------------------------ */

/* Two nodes; node A's allocations fail from the `fail_at`-th on. */
static int session(fake_cluster *cl, fake_net *na, fake_net *nb, size_t fail_at)
{
    ctx ca = {0}, cb = {0};
    fake_peer *a = NULL, *b = NULL;
    int rc = 0, i;
    na->alloc.fail_at = fail_at;
    if (node_new(cl, 0, na, &ca, NULL) || node_new(cl, 1, nb, &cb, NULL))
        return 1;
    b = fake_open(nb);
    if (!b || room_join(nb->hub, b->conn, "doc") || room_storage_sync_begin(nb->hub, b->conn, "doc"))
        rc = 1;
    fake_cluster_answer(cl);
    for (i = 0; b && i < 3; i++)
        if (room_storage_append(nb->hub, b->conn, "doc", "u0000", 5, NULL) < 0)
            rc = 1;
    if ((a = fake_open(na)) != NULL) {
        if (room_join(na->hub, a->conn, "doc") || room_storage_sync_begin(na->hub, a->conn, "doc"))
            rc = 1;
        fake_cluster_deliver(cl);
        fake_cluster_answer(cl);
        if (room_storage_sync_send(na->hub, a->conn, "doc", 0) != 1)
            rc = 1;
        if (room_storage_append(na->hub, a->conn, "doc", "u0001", 5, NULL) < 0)
            rc = 1;
        if (room_storage_relay(na->hub, "doc", "r", 1))
            rc = 1;
    } else {
        rc = 1;
    }
    fake_cluster_deliver(cl);
    if (a)
        fake_close(na, a);
    if (b)
        fake_close(nb, b);
    return rc;
}

static void fail_nth_allocation(void **state)
{
    size_t n;
    (void)state;
    for (n = 1;; n++) {
        fake_cluster cl = {0};
        fake_net na = {0}, nb = {0};
        int failed = session(&cl, &na, &nb, n);
        size_t failures = na.alloc.failures;
        room_hub_free(na.hub);
        room_hub_free(nb.hub);
        fake_cluster_free(&cl);
        assert_int_equal(na.alloc.allocs, na.alloc.frees);
        assert_int_equal(nb.alloc.allocs, nb.alloc.frees);
        if (!failures) {
            assert_int_equal(failed, 0);
            break;
        }
    }
    assert_true(n > 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(updates_cross_nodes),
        cmocka_unit_test(stale_copy_fetched_again),
        cmocka_unit_test(relays),
        cmocka_unit_test(stored_copies_answer),
        cmocka_unit_test(read_only_rooms_take_remote_updates),
        cmocka_unit_test(lost_traffic_fetched_again),
        cmocka_unit_test(fail_nth_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
