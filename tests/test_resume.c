/* lib/core/resume.c: connection-state recovery across nodes, with two
 * hubs standing for two nodes and a fake adapter carrying the request and
 * the answer between them; events from other nodes logged
 * (lib/core/recovery.c); every allocation failing in turn; then the
 * Socket.IO layer (lib/sio) holding its CONNECT reply for the cluster,
 * with binary arguments handed over. */
#include <stdlib.h>
#include <string.h>

#include "room/eio.h"
#include "test_util.h"

/* ---- the fake cluster --------------------------------------------------------- */

/* One node's adapter: it records what the hub asks and answers `mode`. */
typedef struct node {
    room_adapter base;
    int mode; /* what resume returns: 0 (asking), or a refusal */
    int asked;
    uint64_t ticket;
    char pid[64], offset[32];
} node;

static int node_resume(room_adapter *adapter, room_hub *hub, uint64_t ticket, const char *pid,
                       const char *offset)
{
    node *n = (node *)adapter;
    (void)hub;
    n->asked++;
    n->ticket = ticket;
    snprintf(n->pid, sizeof n->pid, "%s", pid);
    snprintf(n->offset, sizeof n->offset, "%s", offset);
    return n->mode;
}

static void node_init(node *n)
{
    memset(n, 0, sizeof *n);
    n->base.size = sizeof n->base;
    n->base.name = "fake-cluster";
    n->base.resume = node_resume;
}

/* The holder's answer, handed straight to the asking hub. */
typedef struct handover {
    room_hub *to;
    uint64_t ticket;
    int complete_rc;
    size_t events, rooms;
    int fail; /* the holder's publish fails */
} handover;

static int give(room_hub *hub, const room_resume_session *s, void *ud)
{
    handover *h = ud;
    (void)hub;
    if (h->fail)
        return h->fail;
    h->events = s->nevents;
    h->rooms = s->nrooms;
    h->complete_rc = room_hub_resume_complete(h->to, h->ticket, 0, s);
    return 0;
}

typedef struct waiter {
    int calls, rc;
    int hold; /* leave the open for later */
    fake_peer *peer;
} waiter;

static void on_wait(room_hub *hub, void *transport, void *ud)
{
    waiter *w = ud;
    fake_peer *p = transport;
    w->calls++;
    assert_ptr_equal(p, w->peer);
    if (!w->hold)
        w->rc = room_conn_open_pending(hub, p, &p->conn, NULL);
}

typedef struct seen {
    int connects, recovered;
} seen;

static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    seen *s = ud;
    (void)hub, (void)ev;
    s->connects++;
    s->recovered += room_conn_recovered(conn);
    return 0;
}

static room_hub *hub_with(fake_net *net, node *n, uint64_t random_from, seen *s)
{
    room_config cfg;
    room_config_init(&cfg);
    fake_config(&cfg, net);
    net->random_state = random_from;
    cfg.recovery_ms = 1000;
    cfg.recovery_log_events = 16;
    cfg.adapter = n ? &n->base : NULL;
    if (room_hub_new(&net->hub, &cfg) != 0)
        return NULL;
    if (s && room_on(net->hub, "connect", on_connect, s) != 0) {
        room_hub_free(net->hub);
        return net->hub = NULL;
    }
    return net->hub;
}

/* Opens `p` on `net` with {pid, offset} and a wait callback. */
static int open_waiting(fake_net *net, fake_peer *p, const char *pid, const char *offset, waiter *w)
{
    room_open_args args;
    room_open_args_init(&args);
    args.resume_pid = pid;
    args.resume_offset = offset;
    args.resume_wait = on_wait;
    args.resume_wait_ud = w;
    w->peer = p;
    return room_conn_open_with(net->hub, p, &args, &p->conn, NULL);
}

static const char *str_of(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* The "data" of every event frame of `p` named `event`, as integers. */
static size_t ints(const fake_peer *p, const char *event, long *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nframes && n < max; i++) {
        json_t *j = fake_json(p, i);
        if (j && str_of(j, "event") && strcmp(str_of(j, "event"), event) == 0)
            out[n++] = (long)json_integer_value(json_object_get(j, "data"));
        json_decref(j);
    }
    return n;
}

/* The offset of the last frame of `p` that has one. */
static void last_offset(const fake_peer *p, char out[32])
{
    for (size_t i = p->nframes; i-- > 0;) {
        json_t *j = fake_json(p, i);
        const char *o = str_of(j, "offset");
        if (o && str_of(j, "event") && strcmp(str_of(j, "event"), "session") != 0) {
            strcpy(out, o);
            json_decref(j);
            return;
        }
        json_decref(j);
    }
    fail_msg("no offset");
}

static void drop(fake_net *net, fake_peer *p, char pid[ROOM_CONN_ID_LEN + 1])
{
    strcpy(pid, room_conn_pid(net->hub, p->conn));
    room_conn_close(net->hub, p->conn, "transport close");
    fake_peer_free(p);
}

static void send_int(room_hub *hub, const char *room, const char *event, long v)
{
    int rc = room ? room_send_new(hub, room, event, json_integer(v), NULL)
                  : room_broadcast_new(hub, event, json_integer(v), NULL);
    assert_true(rc >= 0);
}

static int remote_int(room_hub *hub, const char *room, const char *except, const char *event, long v)
{
    json_t *arg = json_integer(v);
    const char *rooms[1] = {room}, *ex[1] = {except};
    int rc = room_hub_deliver_remote_event(hub, rooms, room != NULL, ex, except != NULL, event, &arg,
                                           1, NULL, 0);
    json_decref(arg);
    return rc;
}

/* ---- events from other nodes are logged ---------------------------------------- */

static void remote_events_logged(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b, *c;
    char pid[ROOM_CONN_ID_LEN + 1], bpid[ROOM_CONN_ID_LEN + 1], offset[32], boffset[32];
    long got[8];
    room_open_args args;
    (void)state;

    assert_non_null(hub_with(&net, NULL, 0, NULL));
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    assert_int_equal(room_join(net.hub, b->conn, "r"), 0);
    send_int(net.hub, "r", "n", 1);
    last_offset(a, offset);
    drop(&net, a, pid);
    /* While a is away: to its room, to everyone, to a room it is not in,
     * and one that leaves b out by id. */
    assert_int_equal(remote_int(net.hub, "r", NULL, "n", 2), 1);
    assert_int_equal(remote_int(net.hub, NULL, NULL, "n", 3), 1);
    assert_int_equal(remote_int(net.hub, "x", NULL, "n", 99), 0);
    last_offset(b, boffset);
    assert_int_equal(remote_int(net.hub, "r", room_conn_id(b->conn), "n", 4), 0);

    room_open_args_init(&args);
    args.resume_pid = pid;
    args.resume_offset = offset;
    a = calloc(1, sizeof *a);
    assert_int_equal(room_conn_open_with(net.hub, a, &args, &a->conn, NULL), 0);
    assert_int_equal(room_conn_recovered(a->conn), 1);
    assert_int_equal(ints(a, "n", got, 8), 3);
    assert_int_equal(got[0], 2);
    assert_int_equal(got[1], 3);
    assert_int_equal(got[2], 4);

    /* b resumes past the one that left it out: not replayed. */
    drop(&net, b, bpid);
    room_open_args_init(&args);
    args.resume_pid = bpid;
    args.resume_offset = boffset;
    b = calloc(1, sizeof *b);
    assert_int_equal(room_conn_open_with(net.hub, b, &args, &b->conn, NULL), 0);
    assert_int_equal(room_conn_recovered(b->conn), 1);
    assert_int_equal(ints(b, "n", got, 8), 0);

    /* An except list naming a room here cannot be told per member later:
     * a resume past it is refused rather than wrong. */
    last_offset(a, offset);
    drop(&net, a, pid);
    assert_int_equal(remote_int(net.hub, "r", "r", "n", 5), 0);
    room_open_args_init(&args);
    args.resume_pid = pid;
    args.resume_offset = offset;
    c = calloc(1, sizeof *c);
    assert_int_equal(room_conn_open_with(net.hub, c, &args, &c->conn, NULL), 0);
    assert_int_equal(room_conn_recovered(c->conn), 0);
    assert_string_not_equal(room_conn_pid(net.hub, c->conn), pid);

    fake_close(&net, b);
    fake_close(&net, c);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* ---- across nodes ----------------------------------------------------------------- */

/* A client of node A in rooms r and s misses events, then reconnects to
 * node B: same id and pid, its rooms, every missed event once and in
 * order with B's offsets; A keeps nothing of it. A second break during
 * the replay resumes on B from the middle. */
static void across_nodes(void **state)
{
    fake_net na = {0}, nb = {0};
    node ka, kb;
    seen sa = {0}, sb = {0};
    fake_peer *a, *other, *p, *q;
    char pid[ROOM_CONN_ID_LEN + 1], id[ROOM_CONN_ID_LEN + 1], offset[32], mid[32];
    waiter w = {0};
    handover h;
    long got[16];
    json_t *j;
    room_open_args args;
    (void)state;

    node_init(&ka);
    node_init(&kb);
    assert_non_null(hub_with(&na, &ka, 0, &sa));
    assert_non_null(hub_with(&nb, &kb, 1000, &sb));
    a = fake_open(&na);
    other = fake_open(&nb);
    assert_int_equal(room_join(na.hub, a->conn, "r"), 0);
    assert_int_equal(room_join(na.hub, a->conn, "s"), 0);
    assert_int_equal(room_join(nb.hub, other->conn, "r"), 0);
    send_int(na.hub, "r", "n", 0);
    last_offset(a, offset);
    assert_int_equal(room_emit_new(na.hub, a->conn, "n", json_integer(1)), 0);
    strcpy(id, room_conn_id(a->conn));
    drop(&na, a, pid);
    send_int(na.hub, "s", "n", 2);
    assert_int_equal(remote_int(na.hub, "r", NULL, "n", 3), 0);
    send_int(na.hub, NULL, "n", 4);
    send_int(na.hub, "t", "n", 99); /* a room it is not in */

    /* Unknown on B: it asks the cluster and the open waits. */
    p = calloc(1, sizeof *p);
    assert_int_equal(open_waiting(&nb, p, pid, offset, &w), ROOM_OPEN_PENDING);
    assert_null(p->conn);
    assert_int_equal(kb.asked, 1);
    assert_string_equal(kb.pid, pid);
    assert_string_equal(kb.offset, offset);
    assert_int_equal(p->nframes, 0);
    assert_int_equal(w.calls, 0);
    /* The same transport cannot open twice meanwhile. */
    assert_int_equal(open_waiting(&nb, p, pid, offset, &w), ROOM_EALREADY);
    assert_int_equal(room_conn_open_pending(nb.hub, p, &p->conn, NULL), ROOM_OPEN_PENDING);

    /* A hands it over. */
    h = (handover){.to = nb.hub, .ticket = kb.ticket};
    assert_int_equal(room_hub_resume_take(na.hub, pid, offset, give, &h), 0);
    assert_int_equal(h.complete_rc, 0);
    assert_int_equal(h.events, 4);
    assert_int_equal(h.rooms, 2);
    assert_int_equal(room_count(na.hub), 0);
    assert_int_equal(room_hub_resume_take(na.hub, pid, offset, give, &h), ROOM_ENOTFOUND);

    /* B: the waiting open is done, as a local resume. */
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.rc, 0);
    assert_non_null(p->conn);
    assert_string_equal(room_conn_id(p->conn), id);
    assert_string_equal(room_conn_pid(nb.hub, p->conn), pid);
    assert_int_equal(room_conn_recovered(p->conn), 1);
    assert_int_equal(sb.connects, 2); /* other, then p */
    assert_int_equal(sb.recovered, 1);
    assert_ptr_equal(room_conn_find(nb.hub, id), p->conn);
    assert_true(room_is_member(nb.hub, p->conn, "r"));
    assert_true(room_is_member(nb.hub, p->conn, "s"));
    assert_int_equal(room_member_count(nb.hub, "r"), 2);
    j = fake_json(p, 0);
    assert_string_equal(str_of(j, "event"), "session");
    assert_true(json_is_true(json_object_get(json_object_get(j, "data"), "recovered")));
    assert_string_equal(str_of(json_object_get(j, "data"), "id"), id);
    json_decref(j);
    assert_int_equal(ints(p, "n", got, 16), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(got[i], i + 1);
    /* B's events after it reach it live, and it is B's own now. */
    send_int(nb.hub, "r", "n", 5);
    assert_int_equal(ints(p, "n", got, 16), 5);
    assert_int_equal(got[4], 5);

    /* A second break after two replayed events: B gives the rest. */
    j = fake_json(p, 2);
    strcpy(mid, str_of(j, "offset"));
    json_decref(j);
    drop(&nb, p, pid);
    room_open_args_init(&args);
    args.resume_pid = pid;
    args.resume_offset = mid;
    q = calloc(1, sizeof *q);
    assert_int_equal(room_conn_open_with(nb.hub, q, &args, &q->conn, NULL), 0);
    assert_int_equal(room_conn_recovered(q->conn), 1);
    assert_int_equal(ints(q, "n", got, 16), 3);
    assert_int_equal(got[0], 3);
    assert_int_equal(got[1], 4);
    assert_int_equal(got[2], 5);

    fake_close(&nb, q);
    fake_close(&nb, other);
    room_hub_free(na.hub);
    room_hub_free(nb.hub);
    assert_int_equal(na.alloc.allocs, na.alloc.frees);
    assert_int_equal(nb.alloc.allocs, nb.alloc.frees);
}

/* No node answers, one refuses, none is alive: each a fresh connection. */
static void refused_and_timeout(void **state)
{
    fake_net na = {0}, nb = {0};
    node ka, kb;
    fake_peer *a, *p;
    char pid[ROOM_CONN_ID_LEN + 1], offset[32];
    waiter w = {0};
    handover h;
    (void)state;

    node_init(&ka);
    node_init(&kb);
    assert_non_null(hub_with(&na, &ka, 0, NULL));
    assert_non_null(hub_with(&nb, &kb, 1000, NULL));

    /* Timed out (nobody holds that pid). */
    p = calloc(1, sizeof *p);
    assert_int_equal(open_waiting(&nb, p, "AAAAAAAAAAAAAAAAAAAA", "3", &w), ROOM_OPEN_PENDING);
    assert_int_equal(room_hub_resume_complete(nb.hub, kb.ticket + 1, ROOM_ETIMEOUT, NULL), ROOM_ENOTFOUND);
    assert_int_equal(room_hub_resume_complete(nb.hub, kb.ticket, 0, NULL), ROOM_EINVAL);
    assert_int_equal(room_hub_resume_complete(nb.hub, kb.ticket, ROOM_ETIMEOUT, NULL), 0);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.rc, 0);
    assert_int_equal(room_conn_recovered(p->conn), 0);
    assert_int_equal(room_conn_count(nb.hub), 1);
    assert_int_equal(room_hub_resume_complete(nb.hub, kb.ticket, ROOM_ETIMEOUT, NULL), ROOM_ENOTFOUND);
    fake_close(&nb, p);

    /* The holder's window has passed: refused, and A frees it. */
    a = fake_open(&na);
    assert_int_equal(room_join(na.hub, a->conn, "r"), 0);
    send_int(na.hub, "r", "n", 1);
    last_offset(a, offset);
    drop(&na, a, pid);
    room_hub_set_time(na.hub, 0);
    room_hub_set_time(na.hub, 5000);
    h = (handover){.to = nb.hub};
    assert_int_equal(room_hub_resume_take(na.hub, pid, offset, give, &h), ROOM_EDENIED);
    assert_int_equal(room_count(na.hub), 0);
    assert_int_equal(room_hub_resume_take(na.hub, pid, offset, give, &h), ROOM_ENOTFOUND);
    assert_int_equal(room_hub_resume_take(na.hub, NULL, offset, give, &h), ROOM_EINVAL);

    /* A malformed offset is refused, and the session stays. */
    a = fake_open(&na);
    assert_int_equal(room_join(na.hub, a->conn, "r"), 0);
    drop(&na, a, pid);
    assert_int_equal(room_hub_resume_take(na.hub, pid, "x1", give, &h), ROOM_EDENIED);
    /* The holder's publish fails: it stays detached too. */
    h.fail = ROOM_ENOMEM;
    assert_int_equal(room_hub_resume_take(na.hub, pid, "0", give, &h), ROOM_ENOMEM);
    assert_int_equal(room_count(na.hub), 1);

    /* No other node alive: a fresh connection at once, nothing kept. */
    kb.mode = ROOM_ENOTFOUND;
    p = calloc(1, sizeof *p);
    assert_int_equal(open_waiting(&nb, p, pid, "0", &w), 0);
    assert_non_null(p->conn);
    assert_int_equal(room_conn_recovered(p->conn), 0);
    fake_close(&nb, p);

    /* Without resume_wait nobody is asked (single-node behaviour). */
    kb.asked = 0;
    kb.mode = 0;
    {
        room_open_args args;
        room_open_args_init(&args);
        args.resume_pid = pid;
        args.resume_offset = "0";
        p = calloc(1, sizeof *p);
        assert_int_equal(room_conn_open_with(nb.hub, p, &args, &p->conn, NULL), 0);
        assert_int_equal(kb.asked, 0);
        fake_close(&nb, p);
    }

    room_hub_free(na.hub);
    room_hub_free(nb.hub);
    assert_int_equal(na.alloc.allocs, na.alloc.frees);
    assert_int_equal(nb.alloc.allocs, nb.alloc.frees);
}

/* The client goes while the cluster answers: no callback; the session
 * handed over waits on B as a detached connection until it expires. */
static void cancelled(void **state)
{
    fake_net na = {0}, nb = {0};
    node ka, kb;
    fake_peer *a, *p;
    char pid[ROOM_CONN_ID_LEN + 1], offset[32];
    waiter w = {0};
    handover h;
    (void)state;

    node_init(&ka);
    node_init(&kb);
    assert_non_null(hub_with(&na, &ka, 0, NULL));
    assert_non_null(hub_with(&nb, &kb, 1000, NULL));
    a = fake_open(&na);
    assert_int_equal(room_join(na.hub, a->conn, "r"), 0);
    send_int(na.hub, "r", "n", 1);
    last_offset(a, offset);
    drop(&na, a, pid);
    send_int(na.hub, "r", "n", 2);

    p = calloc(1, sizeof *p);
    assert_int_equal(open_waiting(&nb, p, pid, offset, &w), ROOM_OPEN_PENDING);
    assert_int_equal(room_conn_open_cancel(nb.hub, p), 0);
    assert_int_equal(room_conn_open_cancel(nb.hub, p), ROOM_ENOTFOUND);
    assert_int_equal(room_conn_open_pending(nb.hub, p, &p->conn, NULL), ROOM_ENOTFOUND);
    h = (handover){.to = nb.hub, .ticket = kb.ticket};
    assert_int_equal(room_hub_resume_take(na.hub, pid, offset, give, &h), 0);
    assert_int_equal(h.complete_rc, 0);
    assert_int_equal(w.calls, 0);
    /* B holds it detached: it keeps r's place, invisible. */
    assert_int_equal(room_count(nb.hub), 1);
    assert_int_equal(room_member_count(nb.hub, "r"), 0);
    assert_int_equal(room_conn_count(nb.hub), 0);
    room_hub_set_time(nb.hub, 0);
    room_hub_tick(nb.hub, 5000);
    assert_int_equal(room_count(nb.hub), 0);

    /* Cancelled after the answer came, before the host opened: dropped. */
    w.hold = 1;
    assert_int_equal(open_waiting(&nb, p, "BBBBBBBBBBBBBBBBBBBB", "1", &w), ROOM_OPEN_PENDING);
    assert_int_equal(room_hub_resume_complete(nb.hub, kb.ticket, ROOM_ETIMEOUT, NULL), 0);
    assert_int_equal(w.calls, 1);
    assert_int_equal(room_conn_open_cancel(nb.hub, p), 0);
    assert_int_equal(room_conn_open_pending(nb.hub, p, &p->conn, NULL), ROOM_ENOTFOUND);
    /* And one still waiting when the hub goes. */
    assert_int_equal(open_waiting(&nb, p, "BBBBBBBBBBBBBBBBBBBB", "1", &w), ROOM_OPEN_PENDING);
    fake_peer_free(p);
    room_hub_free(na.hub);
    /* Freed with the open pending: nothing leaks, nothing runs. */
    room_hub_free(nb.hub);
    assert_int_equal(na.alloc.allocs, na.alloc.frees);
    assert_int_equal(nb.alloc.allocs, nb.alloc.frees);
}

/* The client connects again while its first connect waits, then leaves
 * the first: the session is handed over to the first ask (it waits here
 * detached), the second ask hears nothing; its open resumes it here. */
static void second_connect_while_the_first_waits(void **state)
{
    fake_net na = {0}, nb = {0};
    node ka, kb;
    fake_peer *a, *p1, *p2;
    char pid[ROOM_CONN_ID_LEN + 1], offset[32], id[ROOM_CONN_ID_LEN + 1];
    waiter w1 = {0}, w2 = {0};
    handover h;
    uint64_t first;
    long got[4];
    (void)state;

    node_init(&ka);
    node_init(&kb);
    assert_non_null(hub_with(&na, &ka, 0, NULL));
    assert_non_null(hub_with(&nb, &kb, 1000, NULL));
    a = fake_open(&na);
    strcpy(id, room_conn_id(a->conn));
    assert_int_equal(room_join(na.hub, a->conn, "r"), 0);
    send_int(na.hub, "r", "n", 1);
    last_offset(a, offset);
    drop(&na, a, pid);
    send_int(na.hub, "r", "n", 2);

    p1 = calloc(1, sizeof *p1);
    p2 = calloc(1, sizeof *p2);
    assert_int_equal(open_waiting(&nb, p1, pid, offset, &w1), ROOM_OPEN_PENDING);
    first = kb.ticket;
    assert_int_equal(open_waiting(&nb, p2, pid, offset, &w2), ROOM_OPEN_PENDING);
    assert_int_equal(room_conn_open_cancel(nb.hub, p1), 0);
    h = (handover){.to = nb.hub, .ticket = first};
    assert_int_equal(room_hub_resume_take(na.hub, pid, offset, give, &h), 0);
    assert_int_equal(h.complete_rc, 0);
    assert_int_equal(w1.calls, 0);
    assert_int_equal(w2.calls, 0);
    /* Nobody else answers the second ask. */
    assert_int_equal(room_hub_resume_complete(nb.hub, kb.ticket, ROOM_ETIMEOUT, NULL), 0);
    assert_int_equal(w2.calls, 1);
    assert_int_equal(w2.rc, 0);
    assert_non_null(p2->conn);
    assert_string_equal(room_conn_id(p2->conn), id);
    assert_int_equal(room_conn_recovered(p2->conn), 1);
    assert_int_equal(ints(p2, "n", got, 4), 1);
    assert_int_equal(got[0], 2);
    fake_close(&nb, p2);
    fake_peer_free(p1);
    room_hub_free(na.hub);
    room_hub_free(nb.hub);
    assert_int_equal(na.alloc.allocs, na.alloc.frees);
    assert_int_equal(nb.alloc.allocs, nb.alloc.frees);
}

/* ---- every allocation may fail ------------------------------------------------------ */

/* The whole hand-over with allocation `fail_a` of A's part or `fail_b`
 * of B's failing: an error or a fresh connection, never a leak. */
static size_t fail_handover(size_t fail_a, size_t fail_b, size_t *b_total)
{
    fake_net na = {0}, nb = {0};
    node ka, kb;
    fake_peer *a, *other, *p;
    char pid[ROOM_CONN_ID_LEN + 1], offset[32] = "0";
    waiter w = {0};
    handover h;
    size_t a_base, b_base;
    int rc;

    node_init(&ka);
    node_init(&kb);
    assert_non_null(hub_with(&na, &ka, 0, NULL));
    assert_non_null(hub_with(&nb, &kb, 1000, NULL));
    a = fake_open(&na);
    other = fake_open(&nb);
    assert_int_equal(room_join(na.hub, a->conn, "r"), 0);
    assert_int_equal(room_join(na.hub, a->conn, "s"), 0);
    assert_int_equal(room_join(nb.hub, other->conn, "r"), 0);
    send_int(na.hub, "r", "n", 0);
    last_offset(a, offset);
    drop(&na, a, pid);
    for (long i = 1; i < 5; i++)
        send_int(na.hub, i % 2 ? "r" : "s", "n", i);
    assert_int_equal(remote_int(na.hub, "r", NULL, "n", 5), 0);

    /* Counted from here: the hand-over's own allocations. */
    a_base = na.alloc.allocs;
    b_base = nb.alloc.allocs;
    na.alloc.fail_at = fail_a ? a_base + fail_a : 0;
    nb.alloc.fail_at = fail_b ? b_base + fail_b : 0;
    p = calloc(1, sizeof *p);
    rc = open_waiting(&nb, p, pid, offset, &w);
    assert_true(rc == ROOM_OPEN_PENDING || rc == ROOM_ENOMEM);
    if (rc == ROOM_OPEN_PENDING) {
        h = (handover){.to = nb.hub, .ticket = kb.ticket};
        rc = room_hub_resume_take(na.hub, pid, offset, give, &h);
        assert_true(rc == 0 || rc == ROOM_ENOMEM);
        if (rc == 0) {
            assert_true(h.complete_rc == 0 || h.complete_rc == ROOM_ENOMEM);
            assert_int_equal(w.calls, 1);
            assert_true(w.rc == 0 || w.rc == ROOM_ENOMEM || w.rc == ROOM_EINVAL);
        } else {
            assert_int_equal(room_hub_resume_complete(nb.hub, kb.ticket, ROOM_ETIMEOUT, NULL), 0);
            assert_int_equal(w.calls, 1);
        }
        if (w.rc == 0) {
            long got[8];
            /* Recovered with everything, or fresh with nothing. */
            size_t n = ints(p, "n", got, 8);
            assert_true(room_conn_recovered(p->conn) ? n == 5 : n == 0);
            fake_close(&nb, p);
            p = NULL;
        } else {
            room_conn_open_cancel(nb.hub, p);
        }
    }
    fake_peer_free(p);
    if (b_total)
        *b_total = nb.alloc.allocs - b_base;
    na.alloc.fail_at = nb.alloc.fail_at = 0;
    fake_close(&nb, other);
    room_hub_free(na.hub);
    room_hub_free(nb.hub);
    if (na.alloc.allocs != na.alloc.frees || nb.alloc.allocs != nb.alloc.frees)
        fail_msg("failing allocation %zu/%zu leaks", fail_a, fail_b);
    return na.alloc.allocs - a_base;
}

static void every_allocation_may_fail(void **state)
{
    size_t b_total = 0, a_total = fail_handover(0, 0, &b_total);
    (void)state;
    assert_true(a_total > 5 && b_total > 5);
    for (size_t n = 1; n <= a_total; n++)
        fail_handover(n, 0, NULL);
    for (size_t n = 1; n <= b_total; n++)
        fail_handover(0, n, NULL);
}

/* ---- Socket.IO: the CONNECT reply waits, binary arguments travel ----------------- */

static int sio_send(void *transport, room_frame *frame, void *ud)
{
    fake_peer *p = transport;
    (void)ud;
    for (const room_frame *f = frame; f; f = room_frame_next(f)) {
        size_t len;
        const uint8_t *bytes = room_frame_payload(f, &len);
        if (p->nframes == p->capframes) {
            p->capframes = p->capframes ? p->capframes * 2 : 8;
            p->frames = realloc(p->frames, p->capframes * sizeof *p->frames);
        }
        p->frames[p->nframes] = malloc(len + 1);
        memcpy(p->frames[p->nframes], bytes, len);
        p->frames[p->nframes++][len] = '\0';
    }
    return 0;
}

static void sio_close(void *transport, int code, const char *reason, void *ud)
{
    fake_peer *p = transport;
    (void)code, (void)reason, (void)ud;
    p->kicked++;
}

static room_eio *eio_with(fake_alloc *alloc, node *n)
{
    room_eio_config ecfg;
    room_config rcfg;
    room_eio *eio;
    room_eio_config_init(&ecfg);
    ecfg.send = sio_send;
    ecfg.close = sio_close;
    ecfg.allocator = fake_allocator(alloc);
    room_config_init(&rcfg);
    rcfg.recovery_ms = 1000;
    rcfg.adapter = &n->base;
    assert_int_equal(room_eio_new(&eio, &ecfg, &rcfg), 0);
    return eio;
}

static int sio_recv(room_eio *eio, room_eio_session *s, const char *text, uint64_t now)
{
    return room_eio_recv(eio, s, ROOM_FRAME_TEXT, text, strlen(text), now);
}

static void socketio_across_nodes(void **state)
{
    fake_alloc alloc_a = {0}, alloc_b = {0};
    node ka, kb;
    room_eio *ea, *eb;
    room_hub *ha, *hb;
    room_eio_session *s1, *s2, *s3;
    fake_peer p1 = {0}, p2 = {0}, p3 = {0};
    char sid[ROOM_CONN_ID_LEN + 1], pid[ROOM_CONN_ID_LEN + 1], want[160], auth[128];
    const uint8_t blob[3] = {1, 2, 3};
    room_bytes att = {blob, sizeof blob};
    json_t *j, *ph;
    handover h;
    (void)state;

    node_init(&ka);
    node_init(&kb);
    ea = eio_with(&alloc_a, &ka);
    eb = eio_with(&alloc_b, &kb);
    ha = room_eio_hub(ea, "/");
    hb = room_eio_hub(eb, "/");

    assert_int_equal(room_eio_open(ea, &p1, 100, &s1), 0);
    assert_int_equal(sio_recv(ea, s1, "40", 100), 0);
    j = json_loads(p1.frames[1] + 2, 0, NULL);
    strcpy(sid, str_of(j, "sid"));
    strcpy(pid, str_of(j, "pid"));
    json_decref(j);
    assert_int_equal(room_join(ha, room_conn_find(ha, sid), "r"), 0);
    send_int(ha, "r", "ev", 1);
    assert_string_equal(p1.frames[2], "42[\"ev\",1,\"1\"]");
    room_eio_close(ea, s1, "transport close");
    send_int(ha, "r", "ev", 2);
    ph = json_pack("{sbsi}", "_placeholder", 1, "num", 0);
    assert_int_equal(room_send_binary(ha, "r", "bin", ph, &att, 1, NULL), 0);
    json_decref(ph);

    /* On B the CONNECT waits: no reply yet, and the namespace refuses
     * packets meanwhile. */
    assert_int_equal(room_eio_open(eb, &p2, 200, &s2), 0);
    snprintf(auth, sizeof auth, "40{\"pid\":\"%s\",\"offset\":\"1\"}", pid);
    assert_int_equal(sio_recv(eb, s2, auth, 200), 0);
    assert_int_equal(p2.nframes, 1);
    assert_int_equal(kb.asked, 1);
    assert_int_equal(sio_recv(eb, s2, auth, 200), ROOM_EPROTO);
    assert_int_equal(p2.kicked, 1);
    room_eio_close(eb, s2, "transport close");

    /* Again on a new session, and A hands it over. */
    assert_int_equal(room_eio_open(eb, &p3, 300, &s3), 0);
    assert_int_equal(sio_recv(eb, s3, auth, 300), 0);
    assert_int_equal(kb.asked, 2);
    h = (handover){.to = hb, .ticket = kb.ticket};
    assert_int_equal(room_hub_resume_take(ha, pid, "1", give, &h), 0);
    assert_int_equal(h.events, 2);
    /* The reply names the same connection, then the replay with B's
     * offsets, the binary argument in its own frame. */
    assert_int_equal(p3.nframes, 5);
    snprintf(want, sizeof want, "40{\"sid\":\"%s\",\"pid\":\"%s\"}", sid, pid);
    assert_string_equal(p3.frames[1], want);
    assert_string_equal(p3.frames[2], "42[\"ev\",2,\"1\"]");
    assert_string_equal(p3.frames[3], "451-[\"bin\",{\"_placeholder\":true,\"num\":0},\"2\"]");
    assert_int_equal(memcmp(p3.frames[4], blob, sizeof blob), 0);
    assert_int_equal(room_conn_recovered(room_conn_find(hb, sid)), 1);
    assert_int_equal(room_member_count(hb, "r"), 1);
    assert_int_equal(room_count(ha), 0);

    room_eio_close(eb, s3, "transport close");
    room_eio_free(ea);
    room_eio_free(eb);
    fake_clear(&p1);
    fake_clear(&p2);
    fake_clear(&p3);
    free(p1.frames);
    free(p2.frames);
    free(p3.frames);
    assert_int_equal(alloc_a.allocs, alloc_a.frees);
    assert_int_equal(alloc_b.allocs, alloc_b.frees);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(remote_events_logged),
        cmocka_unit_test(across_nodes),
        cmocka_unit_test(refused_and_timeout),
        cmocka_unit_test(cancelled),
        cmocka_unit_test(second_connect_while_the_first_waits),
        cmocka_unit_test(every_allocation_may_fail),
        cmocka_unit_test(socketio_across_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
