/* libroom-yjs across nodes (lib/yjs/yjs.c, its cluster part) through a
 * binary fake transport and the fake cluster adapter (tests/fake_cluster.c):
 * a first joiner's step 2 waits for the other nodes' log, updates cross,
 * awareness messages cross as they came and reach joiners on other nodes,
 * a dropped client's removal crosses, a dead node's clients are removed,
 * and every allocation failing in turn. */
#include <stdlib.h>
#include <string.h>

#include "fake_cluster.h"
#include "room/yjs.h"
#include "test_util.h"

typedef struct msg {
    uint8_t *bytes;
    size_t len;
} msg;

typedef struct peer {
    room_conn *conn;
    msg *got;
    size_t n, cap;
} peer;

static int send_cb(void *transport, room_frame *frame, void *ud)
{
    peer *p = transport;
    size_t len;
    const uint8_t *b = room_frame_payload(frame, &len);
    (void)ud;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->got = realloc(p->got, p->cap * sizeof *p->got);
    }
    p->got[p->n].bytes = malloc(len ? len : 1);
    memcpy(p->got[p->n].bytes, b, len);
    p->got[p->n++].len = len;
    return 0;
}

static void close_cb(void *transport, int code, const char *reason, void *ud)
{
    (void)transport, (void)code, (void)reason, (void)ud;
}

static void clear(peer *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->got[i].bytes);
    p->n = 0;
}

static void peer_free(peer *p)
{
    clear(p);
    free(p->got);
    free(p);
}

/* One node: a hub with libroom-yjs and the fake cluster's adapter. */
typedef struct node {
    fake_net net;
    room_allocator alloc;
    room_yjs *yjs;
    room_hub *hub;
} node;

static int node_new(fake_cluster *cl, int i, node *w)
{
    room_config cfg;
    room_yjs_config ycfg;
    int rc;
    room_config_init(&cfg);
    fake_config(&cfg, &w->net);
    /* Connection ids apart from the other nodes' (users by id). */
    w->net.random_state = (uint64_t)i << 40;
    cfg.send = send_cb;
    cfg.close = close_cb;
    cfg.adapter = fake_cluster_adapter(cl, i);
    if ((rc = room_hub_new(&w->hub, &cfg)) != 0)
        return rc;
    w->net.hub = w->hub;
    fake_cluster_bind(cl, i, w->hub);
    w->alloc = fake_allocator(&w->net.alloc);
    room_yjs_config_init(&ycfg);
    ycfg.allocator = &w->alloc;
    return room_yjs_new(&w->yjs, w->hub, &ycfg);
}

static void node_free(node *w)
{
    room_yjs_free(w->yjs);
    room_hub_free(w->hub);
}

static peer *join(node *w, const char *room)
{
    peer *p = calloc(1, sizeof *p);
    room_open_args args;
    json_t *hs = json_pack("{s:s}", "name", room), *refusal = NULL;
    int rc;
    room_open_args_init(&args);
    args.handshake = hs;
    rc = room_conn_open_with(w->hub, p, &args, &p->conn, &refusal);
    json_decref(hs);
    json_decref(refusal);
    if (rc != 0) {
        peer_free(p);
        return NULL;
    }
    return p;
}

static void leave(node *w, peer *p)
{
    room_conn_close(w->hub, p->conn, "test");
    peer_free(p);
}

static const uint8_t STEP1[] = {0, 0, 1, 0};
static const uint8_t STEP2[] = {0, 1, 2, 0, 0};

static void assert_msg(const peer *p, size_t i, const uint8_t *b, size_t n)
{
    assert_true(i < p->n);
    assert_int_equal(p->got[i].len, n);
    assert_memory_equal(p->got[i].bytes, b, n);
}

/* Whether `p` got exactly these bytes in some message. */
static int got(const peer *p, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->got[i].len == n && memcmp(p->got[i].bytes, b, n) == 0)
            return 1;
    }
    return 0;
}

static size_t update(uint8_t *out, uint8_t fill, size_t len)
{
    out[0] = 0;
    out[1] = 2;
    size_t n = 2 + room_yjs_write_uint(out + 2, len);
    memset(out + n, fill, len);
    return n + len;
}

static size_t aware(uint8_t *out, uint64_t client, uint64_t clock, const char *state)
{
    uint8_t body[128];
    size_t n = room_yjs_write_uint(body, 1), sl = strlen(state), m;
    n += room_yjs_write_uint(body + n, client);
    n += room_yjs_write_uint(body + n, clock);
    n += room_yjs_write_uint(body + n, sl);
    memcpy(body + n, state, sl);
    n += sl;
    out[0] = 1;
    m = 1 + room_yjs_write_uint(out + 1, n);
    memcpy(out + m, body, n);
    return m + n;
}

/* Delivers and answers until the cluster is quiet. */
static void settle(fake_cluster *cl)
{
    while (fake_cluster_deliver(cl) + fake_cluster_answer(cl))
        ;
}

static void documents_cross_nodes(void **state)
{
    fake_cluster cl = {0};
    node A = {0}, B = {0}, C = {0};
    uint8_t u[32];
    size_t n;
    (void)state;
    assert_int_equal(node_new(&cl, 0, &A), 0);
    assert_int_equal(node_new(&cl, 1, &B), 0);
    assert_int_equal(node_new(&cl, 2, &C), 0);
    peer *a = join(&A, "doc");
    /* Step 1, then nothing: the step 2 waits for the other nodes' log. */
    assert_int_equal(a->n, 1);
    assert_msg(a, 0, STEP1, sizeof STEP1);
    assert_int_equal(fake_cluster_answer(&cl), 1);
    assert_int_equal(a->n, 2);
    assert_msg(a, 1, STEP2, sizeof STEP2);

    n = update(u, 0x11, 5);
    assert_int_equal(room_yjs_recv(A.yjs, a->conn, u, n), 0);
    settle(&cl);
    /* B never served the document: its first joiner gets it before its
     * step 2. */
    peer *b = join(&B, "doc");
    settle(&cl);
    assert_int_equal(b->n, 3);
    assert_msg(b, 0, STEP1, sizeof STEP1);
    assert_msg(b, 1, u, n);
    assert_msg(b, 2, STEP2, sizeof STEP2);

    /* Updates go both ways, once. */
    clear(a);
    clear(b);
    n = update(u, 0x22, 7);
    assert_int_equal(room_yjs_recv(B.yjs, b->conn, u, n), 0);
    settle(&cl);
    assert_int_equal(a->n, 1);
    assert_msg(a, 0, u, n);
    assert_int_equal(b->n, 0);

    /* C's joiner gets both, from either copy. */
    peer *c = join(&C, "doc");
    settle(&cl);
    assert_true(got(c, u, n));
    assert_msg(c, c->n - 1, STEP2, sizeof STEP2);

    leave(&A, a);
    leave(&B, b);
    leave(&C, c);
    node_free(&A);
    node_free(&B);
    node_free(&C);
    fake_cluster_free(&cl);
}

static void awareness_crosses_nodes(void **state)
{
    fake_cluster cl = {0};
    node A = {0}, B = {0};
    uint8_t m[256], m2[256], want[256];
    size_t n, n2, k;
    (void)state;
    assert_int_equal(node_new(&cl, 0, &A), 0);
    assert_int_equal(node_new(&cl, 1, &B), 0);
    peer *a = join(&A, "doc");
    settle(&cl);
    n = aware(m, 7, 1, "{\"user\":\"Ada\",\"cursor\":null}");
    assert_int_equal(room_yjs_recv(A.yjs, a->conn, m, n), 0);
    settle(&cl);

    /* B's first joiner asks A for its clients and hears them as sent. */
    peer *b = join(&B, "doc");
    settle(&cl);
    assert_true(got(b, m, n));
    /* B's own clients reach A as sent. */
    clear(a);
    n2 = aware(m2, 9, 4, "{\"user\":\"Bo\"}");
    assert_int_equal(room_yjs_recv(B.yjs, b->conn, m2, n2), 0);
    settle(&cl);
    assert_int_equal(a->n, 1);
    assert_msg(a, 0, m2, n2);
    /* A later joiner on B is told both without asking; and a query on A
     * answers B's client too. */
    peer *b2 = join(&B, "doc");
    settle(&cl);
    k = aware(want, 7, 1, "{\"user\":\"Ada\",\"cursor\":null}");
    assert_int_equal(b2->n, 3);
    assert_msg(b2, 1, STEP2, sizeof STEP2);
    assert_true(b2->got[2].len > k && b2->got[2].bytes[0] == 1);
    clear(a);
    assert_int_equal(room_yjs_recv(A.yjs, a->conn, "\x03", 1), 0);
    assert_int_equal(a->n, 1);
    assert_true(a->got[0].len > n2);

    /* A's client drops: its removal reaches B's members. */
    clear(b);
    leave(&A, a);
    settle(&cl);
    k = aware(want, 7, 2, "null");
    assert_true(got(b, want, k));
    leave(&B, b);
    leave(&B, b2);
    node_free(&A);
    node_free(&B);
    fake_cluster_free(&cl);
}

static void dead_nodes_clients_removed(void **state)
{
    fake_cluster cl = {0};
    node A = {0}, B = {0};
    uint8_t m[256], want[256];
    size_t n, k;
    (void)state;
    assert_int_equal(node_new(&cl, 0, &A), 0);
    assert_int_equal(node_new(&cl, 1, &B), 0);
    peer *a = join(&A, "doc"), *b = join(&B, "doc");
    settle(&cl);
    n = aware(m, 5, 3, "{\"x\":1}");
    assert_int_equal(room_yjs_recv(A.yjs, a->conn, m, n), 0);
    settle(&cl);
    assert_true(got(b, m, n));
    /* A dies without a word: presence says its user left. */
    clear(b);
    fake_cluster_forget(&cl, 0);
    k = aware(want, 5, 4, "null");
    assert_int_equal(b->n, 1);
    assert_msg(b, 0, want, k);
    /* Malformed relays are dropped. */
    assert_int_equal(room_storage_remote_relay(B.hub, "doc", "\x01\x05\x01\x07\x01\x01", 6), 0);
    assert_int_equal(room_storage_remote_relay(B.hub, "doc", "\x01\x03\x01\x07\x01", 5), 0);
    assert_int_equal(b->n, 1);
    leave(&A, a);
    leave(&B, b);
    node_free(&A);
    node_free(&B);
    fake_cluster_free(&cl);
}

/* ---- allocation failures ------------------------------------------------------------ */

static int session(fake_cluster *cl, node *A, node *B, size_t fail_at)
{
    uint8_t m[256];
    size_t n;
    int rc = 0;
    peer *a, *b;
    if (node_new(cl, 0, A) || node_new(cl, 1, B))
        return 1;
    A->net.alloc.fail_at = A->net.alloc.allocs + fail_at;
    b = join(B, "doc");
    settle(cl);
    if (b) {
        n = aware(m, 2, 1, "{\"b\":1}");
        rc |= room_yjs_recv(B->yjs, b->conn, m, n) != 0;
    }
    a = join(A, "doc");
    rc |= !a;
    settle(cl);
    if (a) {
        n = update(m, 1, 50);
        rc |= room_yjs_recv(A->yjs, a->conn, m, n) != 0;
        n = aware(m, 1, 1, "{\"a\":[1,2]}");
        rc |= room_yjs_recv(A->yjs, a->conn, m, n) != 0;
        rc |= room_yjs_recv(A->yjs, a->conn, "\x03", 1) != 0;
    }
    settle(cl);
    fake_cluster_forget(cl, 1);
    if (a)
        leave(A, a);
    settle(cl);
    if (b)
        leave(B, b);
    return rc;
}

static void fail_nth_allocation(void **state)
{
    (void)state;
    for (size_t n = 1;; n++) {
        fake_cluster cl = {0};
        node A = {0}, B = {0};
        int failed = session(&cl, &A, &B, n);
        size_t failures = A.net.alloc.failures;
        node_free(&A);
        node_free(&B);
        fake_cluster_free(&cl);
        assert_int_equal(A.net.alloc.allocs, A.net.alloc.frees);
        assert_int_equal(B.net.alloc.allocs, B.net.alloc.frees);
        if (!failures) {
            assert_int_equal(failed, 0);
            assert_true(n > 20);
            break;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(documents_cross_nodes),
        cmocka_unit_test(awareness_crosses_nodes),
        cmocka_unit_test(dead_nodes_clients_removed),
        cmocka_unit_test(fail_nth_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
