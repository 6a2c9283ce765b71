/* recovery.c and roomlog.c: connection-state recovery through the fake
 * transport. Offsets, detaching, resuming within the window and after it,
 * logs that evicted what a connection needs, overlapping rooms replayed
 * once and in order, memory back to where it was, and every allocation of
 * a recovery session failing in turn. Then lib/sio/recovery.c: the same
 * over Socket.IO packets. */
#include <stdlib.h>
#include <string.h>

#include "room/eio.h"
#include "test_util.h"

typedef struct seen {
    int connects, disconnects, recovered;
    int refuse_recovered;
} seen;

static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    seen *s = ud;
    (void)ev;
    s->connects++;
    s->recovered += room_conn_recovered(conn);
    if (s->refuse_recovered && room_conn_recovered(conn)) {
        room_refuse(hub, conn, "no comeback", NULL);
        return ROOM_EDENIED;
    }
    return 0;
}

static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    seen *s = ud;
    (void)hub, (void)conn, (void)ev;
    s->disconnects++;
    return 0;
}

static room_hub *hub_with(fake_net *net, uint32_t ms, uint32_t events, size_t bytes,
                          const room_codec *codec, seen *s)
{
    room_config cfg;
    room_config_init(&cfg);
    fake_config(&cfg, net);
    cfg.recovery_ms = ms;
    cfg.recovery_log_events = events;
    cfg.recovery_log_bytes = bytes;
    cfg.codec = codec;
    if (room_hub_new(&net->hub, &cfg) != 0)
        return NULL;
    if (s && (room_on(net->hub, "connect", on_connect, s) != 0 ||
              room_on(net->hub, "disconnect", on_disconnect, s) != 0)) {
        room_hub_free(net->hub);
        return net->hub = NULL;
    }
    return net->hub;
}

/* A peer opened with resume arguments (NULL: none). */
static fake_peer *open_resume(fake_net *net, const char *pid, const char *offset, int *rc_out)
{
    fake_peer *p = calloc(1, sizeof *p);
    room_open_args args;
    int rc;
    room_open_args_init(&args);
    args.resume_pid = pid;
    args.resume_offset = offset;
    rc = room_conn_open_with(net->hub, p, &args, &p->conn, NULL);
    if (rc_out)
        *rc_out = rc;
    if (rc != 0) {
        fake_peer_free(p); /* what it got before the refusal */
        return NULL;
    }
    return p;
}

static const char *str_of(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* The "offset" of frame i, copied into out. */
static void offset_of(const fake_peer *p, size_t i, char out[32])
{
    json_t *j = fake_json(p, i);
    assert_non_null(j);
    assert_non_null(str_of(j, "offset"));
    strcpy(out, str_of(j, "offset"));
    json_decref(j);
}

/* Detaches `p` (a transport loss) and frees the peer; its pid is kept. */
static void drop(fake_net *net, fake_peer *p, char pid[ROOM_CONN_ID_LEN + 1])
{
    strcpy(pid, room_conn_pid(net->hub, p->conn));
    room_conn_close(net->hub, p->conn, "transport close");
    fake_peer_free(p);
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

static void send_int(fake_net *net, const char *room, const char *event, long v, const room_conn *except)
{
    int rc = room ? room_send_new(net->hub, room, event, json_integer(v), except)
                  : room_broadcast_new(net->hub, event, json_integer(v), except);
    assert_true(rc >= 0);
}

static void ack_done(room_hub *hub, room_conn *conn, int status, json_t *args, void *ud)
{
    (void)hub, (void)conn, (void)args;
    *(int *)ud = status;
}

static void session_and_offsets(void **state)
{
    fake_net net = {0};
    fake_peer *a;
    json_t *j;
    (void)state;
    assert_non_null(hub_with(&net, 1000, 0, 0, NULL, NULL));
    a = fake_open(&net);
    assert_int_equal(strlen(room_conn_pid(net.hub, a->conn)), ROOM_CONN_ID_LEN);
    assert_string_not_equal(room_conn_pid(net.hub, a->conn), room_conn_id(a->conn));
    assert_int_equal(room_conn_recovered(a->conn), 0);
    /* The JSON codec's first message names the connection. */
    assert_int_equal(a->nframes, 1);
    j = fake_event_data(a, "session");
    assert_string_equal(str_of(j, "id"), room_conn_id(a->conn));
    assert_string_equal(str_of(j, "pid"), room_conn_pid(net.hub, a->conn));
    assert_string_equal(str_of(j, "offset"), "0");
    assert_true(json_is_false(json_object_get(j, "recovered")));
    json_decref(j);

    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    send_int(&net, "r", "x", 1, NULL);
    assert_string_equal(a->frames[1], "{\"event\":\"x\",\"data\":1,\"offset\":\"1\"}");
    assert_int_equal(room_emit_new(net.hub, a->conn, "y", json_integer(2)), 0);
    assert_string_equal(a->frames[2], "{\"event\":\"y\",\"data\":2,\"offset\":\"2\"}");
    send_int(&net, NULL, "z", 3, NULL);
    assert_string_equal(a->frames[3], "{\"event\":\"z\",\"data\":3,\"offset\":\"3\"}");
    /* An event asking for an ack carries no offset (it is not logged). */
    int status = 1;
    assert_int_equal(room_emit_ack(net.hub, a->conn, "ask", NULL, 1000, ack_done, &status), 0);
    assert_string_equal(a->frames[4], "{\"event\":\"ask\",\"id\":0}");
    fake_close(&net, a);
    assert_int_equal(status, ROOM_ECLOSED);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static void resume_within_window(void **state)
{
    fake_net net = {0};
    seen s = {0};
    fake_peer *a, *b, *a2;
    room_conn *old;
    char pid[ROOM_CONN_ID_LEN + 1], offset[32], id[ROOM_CONN_ID_LEN + 1];
    long got[16];
    int ack_status = 1, rc;
    json_t *j;
    (void)state;
    assert_non_null(hub_with(&net, 1000, 0, 0, NULL, &s));
    room_hub_set_time(net.hub, 10000);
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    assert_int_equal(room_join(net.hub, b->conn, "r"), 0);
    send_int(&net, "r", "n", 0, NULL);
    offset_of(a, a->nframes - 1, offset);
    /* One more that the transport took and the client never saw. */
    send_int(&net, "r", "n", 1, NULL);
    assert_int_equal(room_emit_ack(net.hub, a->conn, "ask", NULL, 5000, ack_done, &ack_status), 0);
    old = a->conn;
    strcpy(id, room_conn_id(a->conn));
    drop(&net, a, pid);

    /* Detached: the disconnect handler ran, its ack failed, nobody sees
     * it, and it receives nothing. */
    assert_int_equal(s.disconnects, 1);
    assert_int_equal(ack_status, ROOM_ECLOSED);
    assert_int_equal(room_conn_count(net.hub), 1);
    assert_int_equal(room_member_count(net.hub, "r"), 1);
    assert_null(room_conn_find(net.hub, id));
    assert_int_equal(room_join(net.hub, old, "other"), ROOM_ECLOSED);
    assert_int_equal(room_leave(net.hub, old, "r"), ROOM_ECLOSED);
    assert_int_equal(room_send_new(net.hub, "r", "n", json_integer(2), NULL), 1);
    send_int(&net, NULL, "n", 3, NULL);
    assert_int_equal(room_send_new(net.hub, "r", "n", json_integer(99), b->conn), 0);
    room_hub_tick(net.hub, 10999);

    a2 = open_resume(&net, pid, offset, &rc);
    assert_int_equal(rc, 0);
    assert_ptr_equal(a2->conn, old);
    assert_string_equal(room_conn_id(a2->conn), id);
    assert_int_equal(room_conn_recovered(a2->conn), 1);
    assert_int_equal(s.connects, 3);
    assert_int_equal(s.recovered, 1);
    assert_int_equal(room_conn_count(net.hub), 2);
    assert_int_equal(room_member_count(net.hub, "r"), 2);
    assert_true(room_is_member(net.hub, a2->conn, "r"));
    assert_ptr_equal(room_conn_find(net.hub, id), a2->conn);
    /* The session message, then what it missed in order, once each: the
     * one in flight too, and the one that left it out for b's sake. */
    j = fake_event_data(a2, "session");
    assert_true(json_is_true(json_object_get(j, "recovered")));
    assert_string_equal(str_of(j, "id"), id);
    assert_string_equal(str_of(j, "offset"), offset); /* the replay comes after it */
    json_decref(j);
    assert_int_equal(ints(a2, "n", got, 16), 4);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[1], 2);
    assert_int_equal(got[2], 3);
    assert_int_equal(got[3], 99);
    send_int(&net, "r", "n", 4, NULL);
    assert_int_equal(ints(a2, "n", got, 16), 5);

    /* The pid is spent: a second resume with it is a fresh connection. */
    a = open_resume(&net, pid, offset, &rc);
    assert_int_equal(rc, 0);
    assert_ptr_not_equal(a->conn, old);
    assert_int_equal(room_conn_recovered(a->conn), 0);
    fake_close(&net, a);
    fake_close(&net, a2);
    fake_close(&net, b);
    room_hub_tick(net.hub, 20000);
    assert_int_equal(room_conn_count(net.hub), 0);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static void after_window(void **state)
{
    fake_net net = {0};
    seen s = {0};
    fake_peer *a, *b;
    char pid[ROOM_CONN_ID_LEN + 1], offset[32];
    int rc;
    (void)state;
    assert_non_null(hub_with(&net, 1000, 0, 0, NULL, &s));
    room_hub_set_time(net.hub, 5000);
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    assert_int_equal(room_join(net.hub, b->conn, "r"), 0);
    send_int(&net, "r", "n", 0, NULL);
    offset_of(a, a->nframes - 1, offset);
    drop(&net, a, pid);
    /* Until the hub learns the time again, the window has not started:
     * a stale clock never shortens it. */
    assert_int_equal(room_hub_tick(net.hub, 5400), 1000);
    /* The tick tells when it expires, then frees it. */
    assert_int_equal(room_hub_tick(net.hub, 5800), 600);
    assert_int_equal(room_hub_tick(net.hub, 6400), -1);
    assert_int_equal(room_member_count(net.hub, "r"), 1);
    a = open_resume(&net, pid, offset, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(room_conn_recovered(a->conn), 0);
    assert_int_equal(room_conn_room_count(a->conn), 0);
    fake_close(&net, a);

    /* Late without a tick between: the resume itself finds it expired. A
     * host that knows the time at the close passes it. */
    a = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    send_int(&net, "r", "n", 1, NULL);
    offset_of(a, a->nframes - 1, offset);
    drop(&net, a, pid);
    room_hub_set_time(net.hub, 6400);
    room_hub_set_time(net.hub, 7400);
    a = open_resume(&net, pid, offset, &rc);
    assert_int_equal(room_conn_recovered(a->conn), 0);
    assert_int_equal(room_member_count(net.hub, "r"), 1);
    assert_int_equal(room_conn_count(net.hub), 2);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* Bounded logs: what a connection missed has been pushed out, by count or
 * by bytes, so it cannot resume. */
static void evicted_log(void **state)
{
    for (int by_bytes = 0; by_bytes < 2; by_bytes++) {
        fake_net net = {0};
        fake_peer *a, *b;
        char pid[ROOM_CONN_ID_LEN + 1], offset[32];
        int rc;
        (void)state;
        /* {"event":"n","data":N,"offset":"M"} is about 35 bytes. */
        assert_non_null(hub_with(&net, 1000, by_bytes ? 0 : 3, by_bytes ? 120 : 0, NULL, NULL));
        a = fake_open(&net);
        b = fake_open(&net);
        assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
        assert_int_equal(room_join(net.hub, b->conn, "r"), 0);
        send_int(&net, "r", "n", 0, NULL);
        offset_of(a, a->nframes - 1, offset);
        drop(&net, a, pid);
        for (long i = 1; i <= 5; i++)
            send_int(&net, "r", "n", i, NULL);
        a = open_resume(&net, pid, offset, &rc);
        assert_int_equal(rc, 0);
        assert_int_equal(room_conn_recovered(a->conn), 0);
        /* The old one is gone with its membership. */
        assert_int_equal(room_member_count(net.hub, "r"), 1);
        assert_int_equal(room_conn_count(net.hub), 2);
        fake_close(&net, a);

        /* Within the bounds it resumes. */
        a = fake_open(&net);
        assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
        send_int(&net, "r", "n", 6, NULL);
        offset_of(a, a->nframes - 1, offset);
        drop(&net, a, pid);
        send_int(&net, "r", "n", 7, NULL);
        send_int(&net, "r", "n", 8, NULL);
        a = open_resume(&net, pid, offset, &rc);
        assert_int_equal(room_conn_recovered(a->conn), 1);
        fake_close(&net, a);
        fake_close(&net, b);
        room_hub_free(net.hub);
        assert_int_equal(net.alloc.allocs, net.alloc.frees);
    }
}

/* Events older than the window leave the logs, as Socket.IO's do, even
 * when the connection that needs them was detached later (its transport's
 * loss was found late): that connection then starts afresh. Younger ones
 * stay. */
static void aged_out(void **state)
{
    for (int late = 0; late < 2; late++) {
        fake_net net = {0};
        fake_peer *a, *b;
        char pid[ROOM_CONN_ID_LEN + 1], offset[32];
        long got[8];
        int rc;
        (void)state;
        assert_non_null(hub_with(&net, 1000, 0, 0, NULL, NULL));
        room_hub_set_time(net.hub, 0);
        a = fake_open(&net);
        b = fake_open(&net);
        assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
        assert_int_equal(room_join(net.hub, b->conn, "r"), 0);
        send_int(&net, "r", "n", 0, NULL);
        offset_of(a, a->nframes - 1, offset);
        room_hub_set_time(net.hub, 100);
        send_int(&net, "r", "n", 1, NULL); /* lost on the way */
        room_hub_set_time(net.hub, 200);
        room_hub_set_time(net.hub, 900);
        drop(&net, a, pid);
        room_hub_set_time(net.hub, 900);
        room_hub_set_time(net.hub, late ? 1250 : 1050);
        send_int(&net, "r", "n", 2, NULL);
        a = open_resume(&net, pid, offset, &rc);
        assert_int_equal(rc, 0);
        assert_int_equal(room_conn_recovered(a->conn), !late);
        if (!late) {
            assert_int_equal(ints(a, "n", got, 8), 2);
            assert_int_equal(got[0], 1);
            assert_int_equal(got[1], 2);
        }
        fake_close(&net, a);
        fake_close(&net, b);
        room_hub_free(net.hub);
        assert_int_equal(net.alloc.allocs, net.alloc.frees);
    }
}

/* A connection in two rooms gets each event once, in the order sent,
 * whichever logs it is in; another's direct emits are not its. */
static void overlapping_rooms_once_in_order(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b, *a2;
    char pid[ROOM_CONN_ID_LEN + 1], offset[32];
    long got[32];
    size_t n;
    int rc;
    (void)state;
    assert_non_null(hub_with(&net, 1000, 0, 0, NULL, NULL));
    a = fake_open(&net);
    b = fake_open(&net);
    const char *rooms[] = {"r1", "r2", "r3"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(room_join(net.hub, a->conn, rooms[i]), 0);
        assert_int_equal(room_join(net.hub, b->conn, rooms[i]), 0);
    }
    send_int(&net, "r1", "n", -1, NULL);
    offset_of(a, a->nframes - 1, offset);
    drop(&net, a, pid);
    for (long i = 0; i < 12; i++) {
        switch (i % 4) {
        case 0: send_int(&net, rooms[i % 3], "n", i, NULL); break;
        case 1: send_int(&net, NULL, "n", i, NULL); break;
        case 2: assert_int_equal(room_emit_new(net.hub, b->conn, "n", json_integer(100 + i)), 0); break;
        default: send_int(&net, rooms[(i + 1) % 3], "n", i, NULL); break;
        }
    }
    a2 = open_resume(&net, pid, offset, &rc);
    assert_int_equal(room_conn_recovered(a2->conn), 1);
    n = ints(a2, "n", got, 32);
    assert_int_equal(n, 9);
    for (size_t i = 0, want = 0; i < n; i++, want++) {
        if (want % 4 == 2)
            want++;
        assert_int_equal(got[i], (long)want);
    }
    fake_close(&net, a2);
    fake_close(&net, b);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* A connection the server kicked, one closed for good, and a recovered
 * one the connect handler refuses are not detached (or not kept). */
static void not_recoverable(void **state)
{
    fake_net net = {0};
    seen s = {0};
    fake_peer *a;
    char pid[ROOM_CONN_ID_LEN + 1], offset[32];
    int rc;
    (void)state;
    assert_non_null(hub_with(&net, 1000, 0, 0, NULL, &s));
    a = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    room_conn_kick(net.hub, a->conn, ROOM_CLOSE_POLICY_VIOLATION, "go");
    fake_close(&net, a);
    assert_int_equal(room_count(net.hub), 0);

    a = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    room_conn_close_final(net.hub, a->conn, "client namespace disconnect");
    fake_peer_free(a);
    assert_int_equal(room_count(net.hub), 0);
    assert_int_equal(s.disconnects, 2);

    a = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    send_int(&net, "r", "n", 0, NULL);
    offset_of(a, a->nframes - 1, offset);
    drop(&net, a, pid);
    s.refuse_recovered = 1;
    assert_null(open_resume(&net, pid, offset, &rc));
    assert_int_equal(rc, ROOM_EDENIED);
    assert_int_equal(room_count(net.hub), 0);
    assert_int_equal(s.disconnects, 3);

    /* Arguments that cannot resume it give fresh connections and leave
     * it waiting; an offset from the future ends it. */
    s.refuse_recovered = 0;
    a = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    send_int(&net, "r", "n", 0, NULL);
    offset_of(a, a->nframes - 1, offset);
    drop(&net, a, pid);
    const char *bad[][2] = {{"short", offset}, {"AAAAAAAAAAAAAAAAAAAA", offset}, {pid, "x"}, {pid, ""},
                            {pid, "-1"}, {pid, "123456789012345678901"}, {pid, NULL}, {NULL, offset}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = open_resume(&net, bad[i][0], bad[i][1], &rc);
        assert_int_equal(rc, 0);
        assert_int_equal(room_conn_recovered(a->conn), 0);
        room_conn_close_final(net.hub, a->conn, NULL);
        fake_peer_free(a);
    }
    assert_int_equal(room_count(net.hub), 1);
    a = open_resume(&net, pid, "99999", &rc);
    assert_int_equal(room_conn_recovered(a->conn), 0);
    assert_int_equal(room_count(net.hub), 0);
    room_conn_close_final(net.hub, a->conn, NULL);
    fake_peer_free(a);
    assert_int_equal(room_conn_count(net.hub), 0);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* With the JSON codec, a transport that passes only the query resumes
 * with ?pid=..&offset=..; a codec that does not announce the pid itself
 * (an older table) gets the offset as the last argument and no query
 * resume. */
static void query_and_default_codec(void **state)
{
    fake_net net = {0};
    fake_peer *a, *p;
    char pid[ROOM_CONN_ID_LEN + 1], offset[32];
    room_open_args args;
    room_codec old;
    json_t *query;
    (void)state;
    assert_non_null(hub_with(&net, 1000, 0, 0, NULL, NULL));
    a = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    send_int(&net, "r", "n", 0, NULL);
    offset_of(a, a->nframes - 1, offset);
    drop(&net, a, pid);
    query = json_pack("{ssss}", "pid", pid, "offset", offset);
    p = calloc(1, sizeof *p);
    room_open_args_init(&args);
    args.query = query;
    assert_int_equal(room_conn_open_with(net.hub, p, &args, &p->conn, NULL), 0);
    assert_int_equal(room_conn_recovered(p->conn), 1);
    fake_close(&net, p);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);

    memset(&old, 0, sizeof old);
    memcpy(&old, room_codec_json(), ROOM_CODEC_SIZE_MIN);
    old.size = ROOM_CODEC_SIZE_MIN;
    memset(&net, 0, sizeof net);
    assert_non_null(hub_with(&net, 1000, 0, 0, &old, NULL));
    a = fake_open(&net);
    assert_int_equal(a->nframes, 0);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    send_int(&net, "r", "n", 7, NULL);
    assert_string_equal(a->frames[0], "{\"event\":\"n\",\"data\":7,\"args\":[7,\"1\"]}");
    assert_int_equal(room_emit(net.hub, a->conn, "e", NULL), 0);
    assert_string_equal(a->frames[1], "{\"event\":\"e\",\"data\":\"2\"}");
    drop(&net, a, pid);
    json_object_set_new(query, "offset", json_string("2"));
    p = calloc(1, sizeof *p);
    assert_int_equal(room_conn_open_with(net.hub, p, &args, &p->conn, NULL), 0);
    assert_int_equal(room_conn_recovered(p->conn), 0);
    fake_close(&net, p);
    assert_int_equal(room_conn_count(net.hub), 0);
    json_decref(query);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* One detach, resume and expiry cycle leaves the hub's memory where the
 * same cycle before it left it: logs, records and frames all returned. */
static void cycle(fake_net *net, long base)
{
    fake_peer *a, *b;
    char pid[ROOM_CONN_ID_LEN + 1], offset[32];
    int rc;
    uint64_t t = 1000 + (uint64_t)base * 10;
    room_hub_tick(net->hub, t);
    a = fake_open(net);
    b = fake_open(net);
    assert_int_equal(room_join(net->hub, a->conn, "r"), 0);
    assert_int_equal(room_join(net->hub, a->conn, "s"), 0);
    assert_int_equal(room_join(net->hub, b->conn, "r"), 0);
    send_int(net, "r", "n", 0, NULL);
    offset_of(a, a->nframes - 1, offset);
    drop(net, a, pid);
    for (long i = 0; i < 20; i++)
        send_int(net, i % 2 ? "r" : "s", "n", i, NULL);
    a = open_resume(net, pid, offset, &rc);
    assert_int_equal(room_conn_recovered(a->conn), 1);
    drop(net, a, pid);
    room_hub_set_time(net->hub, t);
    room_hub_tick(net->hub, t + 5000);
    assert_int_equal(room_conn_count(net->hub), 1);
    room_conn_close_final(net->hub, b->conn, NULL);
    fake_peer_free(b);
    assert_int_equal(room_count(net->hub), 0);
}

static void memory_returns(void **state)
{
    fake_net net = {0};
    size_t before, grown;
    fake_peer *a, *b;
    char pid[ROOM_CONN_ID_LEN + 1];
    (void)state;
    assert_non_null(hub_with(&net, 1000, 0, 0, NULL, NULL));
    cycle(&net, 0);
    before = room_hub_memory(net.hub);
    cycle(&net, 1000);
    assert_int_equal(room_hub_memory(net.hub), before);

    /* The logs are accounted: they grow with what they keep. */
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    assert_int_equal(room_join(net.hub, b->conn, "r"), 0);
    grown = room_hub_memory(net.hub);
    for (long i = 0; i < 50; i++)
        send_int(&net, "r", "n", i, NULL);
    assert_true(room_hub_memory(net.hub) > grown + 50 * 35);
    drop(&net, a, pid);
    /* Freeing the hub frees detached connections and logs. */
    fake_peer_free(b);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* Every allocation of a recovery session fails in turn: each failure is
 * an error or a fresh connection, never a leak or a broken room. */
static size_t fail_session(size_t fail_at)
{
    fake_net net = {0};
    fake_peer *a = NULL, *b = NULL, *c = NULL;
    char pid[ROOM_CONN_ID_LEN + 1] = "", offset[32] = "0";
    room_config cfg;
    int rc;

    room_config_init(&cfg);
    fake_config(&cfg, &net);
    net.alloc.fail_at = fail_at;
    cfg.allocator = fake_allocator(&net.alloc);
    cfg.recovery_ms = 1000;
    cfg.recovery_log_events = 4;
    if (room_hub_new(&net.hub, &cfg) != 0)
        return net.alloc.allocs;
    a = fake_open(&net);
    b = fake_open(&net);
    if (a && b) {
        (void)room_join(net.hub, a->conn, "r");
        (void)room_join(net.hub, a->conn, "s");
        (void)room_join(net.hub, b->conn, "r");
        for (long i = 0; i < 6; i++) {
            rc = room_send_new(net.hub, i % 2 ? "r" : "s", "n", json_integer(i), NULL);
            assert_true(rc >= ROOM_ERROR_MIN);
            (void)room_emit_new(net.hub, a->conn, "d", json_integer(i));
            (void)room_broadcast_new(net.hub, "h", json_integer(i), NULL);
        }
        for (size_t i = a->nframes; i-- > 0;) {
            json_t *j = fake_json(a, i);
            const char *o = j ? str_of(j, "offset") : NULL;
            if (o) {
                strcpy(offset, o);
                json_decref(j);
                break;
            }
            json_decref(j);
        }
        drop(&net, a, pid);
        a = NULL;
        (void)room_send_new(net.hub, "r", "n", json_integer(7), NULL);
        (void)room_broadcast_new(net.hub, "h", json_integer(8), NULL);
        c = open_resume(&net, pid, offset, &rc);
        assert_true(rc == 0 || rc == ROOM_ENOMEM || rc == ROOM_EINVAL);
        /* Membership agrees on both sides. */
        assert_int_equal(room_member_count(net.hub, "r"),
                         room_conn_room_count(b->conn) + (c && room_is_member(net.hub, c->conn, "r")));
        if (c)
            drop(&net, c, pid);
        room_hub_set_time(net.hub, 0);
        room_hub_tick(net.hub, 10000);
        assert_int_equal(room_conn_count(net.hub), 1);
    }
    if (a)
        fake_close(&net, a);
    if (b) {
        room_conn_close_final(net.hub, b->conn, NULL);
        fake_peer_free(b);
    }
    assert_int_equal(room_count(net.hub), 0);
    room_hub_free(net.hub);
    if (net.alloc.allocs != net.alloc.frees)
        fail_msg("failing allocation %zu leaks %zu blocks", fail_at, net.alloc.allocs - net.alloc.frees);
    return net.alloc.allocs;
}

static void every_allocation_may_fail(void **state)
{
    size_t total = fail_session(0);
    (void)state;
    assert_true(total > 40);
    for (size_t n = 1; n <= total; n++)
        fail_session(n);
}

/* ---- Socket.IO (lib/sio/recovery.c) ------------------------------------ */

/* The session's WebSocket messages, as the room_eio sends them. */
static int sio_send(void *transport, room_frame *frame, void *ud)
{
    fake_peer *p = transport;
    (void)ud;
    /* fail_sends: the peer is gone and the host has not closed it yet. */
    if (p->fail_sends)
        return ROOM_ECLOSED;
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

static int sio_recv(room_eio *eio, room_eio_session *s, const char *text, uint64_t now)
{
    return room_eio_recv(eio, s, ROOM_FRAME_TEXT, text, strlen(text), now);
}

/* CONNECT with the auth's {pid, offset}; the reply, the replay after it,
 * and a DISCONNECT from the client that is not resumable. */
static void socketio_resume(void **state)
{
    fake_alloc alloc = {0};
    room_eio_config ecfg;
    room_config rcfg;
    room_eio *eio;
    room_hub *hub;
    room_eio_session *s1, *s2, *s3;
    fake_peer p1 = {0}, p2 = {0}, p3 = {0};
    char sid[ROOM_CONN_ID_LEN + 1], pid[ROOM_CONN_ID_LEN + 1], want[128], auth[128];
    json_t *j;
    (void)state;

    room_eio_config_init(&ecfg);
    ecfg.send = sio_send;
    ecfg.close = sio_close;
    ecfg.allocator = fake_allocator(&alloc);
    room_config_init(&rcfg);
    rcfg.recovery_ms = 1000;
    assert_int_equal(room_eio_new(&eio, &ecfg, &rcfg), 0);
    hub = room_eio_hub(eio, "/");

    assert_int_equal(room_eio_open(eio, &p1, 100, &s1), 0);
    assert_int_equal(sio_recv(eio, s1, "40", 100), 0);
    assert_int_equal(p1.nframes, 2);
    assert_int_equal(strncmp(p1.frames[1], "40{", 3), 0);
    j = json_loads(p1.frames[1] + 2, 0, NULL);
    assert_non_null(j);
    strcpy(sid, str_of(j, "sid"));
    strcpy(pid, str_of(j, "pid"));
    assert_int_equal(json_object_size(j), 2);
    json_decref(j);
    assert_string_equal(pid, room_conn_pid(hub, room_conn_find(hub, sid)));
    assert_int_equal(room_join(hub, room_conn_find(hub, sid), "r"), 0);
    send_int(&(fake_net){.hub = hub}, "r", "ev", 1, NULL);
    assert_string_equal(p1.frames[2], "42[\"ev\",1,\"1\"]");

    /* The WebSocket is gone: a send finds it closed before the host says
     * so (no kick: it stays resumable), then detached, and what follows is
     * logged. */
    p1.fail_sends = 1;
    send_int(&(fake_net){.hub = hub}, "r", "ev", 2, NULL);
    assert_int_equal(p1.kicked, 0);
    assert_int_equal(p1.nframes, 3);
    room_eio_close(eio, s1, "transport close");
    assert_int_equal(room_conn_count(hub), 0);
    assert_int_equal(room_member_count(hub, "r"), 0);

    assert_int_equal(room_eio_open(eio, &p2, 600, &s2), 0);
    snprintf(auth, sizeof auth, "40{\"token\":1,\"pid\":\"%s\",\"offset\":\"1\"}", pid);
    assert_int_equal(sio_recv(eio, s2, auth, 600), 0);
    /* The reply names the same connection, then the replay. */
    assert_int_equal(p2.nframes, 3);
    snprintf(want, sizeof want, "40{\"sid\":\"%s\",\"pid\":\"%s\"}", sid, pid);
    assert_string_equal(p2.frames[1], want);
    assert_string_equal(p2.frames[2], "42[\"ev\",2,\"2\"]");
    assert_int_equal(room_conn_recovered(room_conn_find(hub, sid)), 1);
    assert_int_equal(room_member_count(hub, "r"), 1);

    /* Leaving on purpose does not detach: the pid resumes nothing. */
    assert_int_equal(sio_recv(eio, s2, "41", 700), 0);
    assert_int_equal(room_count(hub), 0);
    assert_int_equal(room_eio_open(eio, &p3, 800, &s3), 0);
    snprintf(auth, sizeof auth, "40{\"pid\":\"%s\",\"offset\":\"2\"}", pid);
    assert_int_equal(sio_recv(eio, s3, auth, 800), 0);
    j = json_loads(p3.frames[1] + 2, 0, NULL);
    assert_string_not_equal(str_of(j, "sid"), sid);
    assert_string_not_equal(str_of(j, "pid"), pid);
    json_decref(j);
    room_eio_close(eio, s2, "transport close");
    room_eio_close(eio, s3, "transport close");
    room_eio_free(eio);
    fake_clear(&p1);
    fake_clear(&p2);
    fake_clear(&p3);
    free(p1.frames);
    free(p2.frames);
    free(p3.frames);
    assert_int_equal(alloc.allocs, alloc.frees);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_and_offsets),
        cmocka_unit_test(resume_within_window),
        cmocka_unit_test(after_window),
        cmocka_unit_test(evicted_log),
        cmocka_unit_test(aged_out),
        cmocka_unit_test(overlapping_rooms_once_in_order),
        cmocka_unit_test(not_recoverable),
        cmocka_unit_test(query_and_default_codec),
        cmocka_unit_test(memory_returns),
        cmocka_unit_test(every_allocation_may_fail),
        cmocka_unit_test(socketio_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
