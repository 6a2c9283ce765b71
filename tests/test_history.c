/* history.c (and the rooms protocol's history, lib/protocol/rooms_history.c)
 * through the fake transport: rooms chosen by pattern and per call,
 * offsets and epochs stamped into messages, the replay since {offset,
 * epoch} that is whole or refused (too old, wrong epoch) with the current
 * position, the count, byte and age limits, frames kept once, the epoch
 * across a restart with and without a store, a failing store, recovery on
 * at the same time, and every allocation failing in turn. In a cluster
 * (history_cluster.c), through a fake adapter whose log plays Redis for two
 * hubs: offsets from the log, copies that answer when whole, fetches that
 * race live messages, resets, outages, askers that leave. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "room/history.h"
#include "room/protocol.h"
#include "test_util.h"

static room_hub *history_hub(fake_net *net, const char *patterns, uint32_t n, uint32_t ms,
                             size_t bytes, room_store *store)
{
    room_storage_config sc;
    assert_non_null(fake_hub(net, 1));
    room_storage_config_init(&sc);
    sc.history_rooms = patterns;
    sc.history_messages = n;
    sc.history_ms = ms;
    sc.history_bytes = bytes;
    sc.store = store;
    assert_int_equal(room_storage_enable(net->hub, &sc), 0);
    return net->hub;
}

static fake_peer *joined(fake_net *net, const char *room)
{
    char req[256];
    fake_peer *p = fake_open(net);
    assert_non_null(p);
    snprintf(req, sizeof req, "{\"event\":\"join\",\"data\":\"%s\"}", room);
    assert_int_equal(fake_recv(net, p, req), 0);
    assert_true(room_is_member(net->hub, p->conn, room));
    fake_clear(p);
    return p;
}

static void say(fake_net *net, fake_peer *p, const char *room, int i)
{
    char req[256];
    snprintf(req, sizeof req, "{\"event\":\"send\",\"data\":{\"room\":\"%s\",\"data\":%d}}", room, i);
    assert_int_equal(fake_recv(net, p, req), 0);
}

/* data.data of the i-th frame, a `message` event: its offset, epoch and
 * payload number. */
static void message_at(const fake_peer *p, size_t i, json_int_t *offset, char *epoch, json_int_t *n)
{
    json_t *j = fake_json(p, i), *d;
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "event")), "message");
    d = json_object_get(json_object_get(j, "data"), "data");
    *offset = json_is_integer(json_object_get(d, "offset")) ? json_integer_value(json_object_get(d, "offset")) : -1;
    if (epoch)
        snprintf(epoch, ROOM_EPOCH_MAX + 1, "%s", json_string_value(json_object_get(d, "epoch")) ? json_string_value(json_object_get(d, "epoch")) : "");
    *n = json_integer_value(json_object_get(d, "data"));
    json_decref(j);
}

/* Sends a history request with an ack id and returns the ack's data
 * (new reference): {"msg", "data"}. */
static json_t *history_req(fake_net *net, fake_peer *p, const char *room, const char *since_json)
{
    char req[512];
    json_t *j, *data;
    if (since_json)
        snprintf(req, sizeof req, "{\"event\":\"history\",\"data\":{\"room\":\"%s\",\"since\":%s},\"id\":7}", room, since_json);
    else
        snprintf(req, sizeof req, "{\"event\":\"history\",\"data\":{\"room\":\"%s\"},\"id\":7}", room);
    fake_recv(net, p, req);
    assert_true(p->nframes > 0);
    j = fake_json(p, p->nframes - 1);
    assert_int_equal(json_integer_value(json_object_get(j, "ack")), 7);
    data = json_incref(json_object_get(j, "data"));
    json_decref(j);
    return data;
}

static const char *code_of(json_t *res)
{
    return json_string_value(json_object_get(json_object_get(res, "data"), "code"));
}

static void offsets_and_replay(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b, *o;
    char epoch[ROOM_EPOCH_MAX + 1], e2[ROOM_EPOCH_MAX + 1], since[128];
    json_int_t off, n;
    json_t *res;
    (void)state;
    history_hub(&net, "chat:*", 3, 0, 0, NULL);
    a = joined(&net, "chat:a");
    b = joined(&net, "chat:a");
    o = joined(&net, "other");
    for (int i = 1; i <= 5; i++)
        say(&net, a, "chat:a", i * 10);
    /* b got each message with its offset and the room's epoch. */
    assert_int_equal(b->nframes, 5);
    for (size_t i = 0; i < 5; i++) {
        message_at(b, i, &off, i ? e2 : epoch, &n);
        assert_int_equal(off, (json_int_t)i + 1);
        assert_int_equal(n, ((json_int_t)i + 1) * 10);
        if (i)
            assert_string_equal(e2, epoch);
    }
    assert_int_equal(strlen(epoch), ROOM_CONN_ID_LEN);
    /* A room without history: no offset. */
    say(&net, o, "other", 1);
    message_at(o, 0, &off, NULL, &n);
    assert_int_equal(off, -1);

    /* b reloads and asks since offset 3: 4 and 5, then the answer. */
    fake_clear(b);
    snprintf(since, sizeof since, "{\"offset\":3,\"epoch\":\"%s\"}", epoch);
    res = history_req(&net, b, "chat:a", since);
    assert_int_equal(b->nframes, 3);
    message_at(b, 0, &off, NULL, &n);
    assert_int_equal(off, 4);
    message_at(b, 1, &off, NULL, &n);
    assert_int_equal(off, 5);
    assert_string_equal(json_string_value(json_object_get(res, "msg")), "History");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "data"), "offset")), 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "data"), "count")), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(res, "data"), "epoch")), epoch);
    json_decref(res);

    /* Since 5: nothing, and the position. */
    fake_clear(b);
    snprintf(since, sizeof since, "{\"offset\":5,\"epoch\":\"%s\"}", epoch);
    res = history_req(&net, b, "chat:a", since);
    assert_int_equal(b->nframes, 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "data"), "count")), 0);
    json_decref(res);

    /* Since 1 with N = 3 (2 has gone): too old, nothing sent, position given. */
    fake_clear(b);
    snprintf(since, sizeof since, "{\"offset\":1,\"epoch\":\"%s\"}", epoch);
    res = history_req(&net, b, "chat:a", since);
    assert_int_equal(b->nframes, 1);
    assert_string_equal(code_of(res), "too_old");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "data"), "offset")), 5);
    assert_string_equal(json_string_value(json_object_get(json_object_get(res, "data"), "epoch")), epoch);
    json_decref(res);
    /* Since 2: 3, 4, 5 are all there. */
    fake_clear(b);
    snprintf(since, sizeof since, "{\"offset\":2,\"epoch\":\"%s\"}", epoch);
    res = history_req(&net, b, "chat:a", since);
    assert_int_equal(b->nframes, 4);
    json_decref(res);

    /* Another epoch, or an offset this epoch never gave: wrong_epoch. */
    fake_clear(b);
    res = history_req(&net, b, "chat:a", "{\"offset\":4,\"epoch\":\"elsewhere\"}");
    assert_int_equal(b->nframes, 1);
    assert_string_equal(code_of(res), "wrong_epoch");
    json_decref(res);
    snprintf(since, sizeof since, "{\"offset\":6,\"epoch\":\"%s\"}", epoch);
    res = history_req(&net, b, "chat:a", since);
    assert_string_equal(code_of(res), "wrong_epoch");
    json_decref(res);

    /* No since: whatever is kept (3 of them). */
    fake_clear(b);
    res = history_req(&net, b, "chat:a", NULL);
    assert_int_equal(b->nframes, 4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "data"), "count")), 3);
    json_decref(res);
    res = history_req(&net, b, "chat:a", "null");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "data"), "count")), 3);
    json_decref(res);

    /* Refusals: bad since, not a member, no history. */
    res = history_req(&net, b, "chat:a", "{\"offset\":-1,\"epoch\":\"x\"}");
    assert_string_equal(code_of(res), "bad_message");
    json_decref(res);
    res = history_req(&net, b, "chat:a", "{\"offset\":1}");
    assert_string_equal(code_of(res), "bad_message");
    json_decref(res);
    res = history_req(&net, o, "chat:a", NULL);
    assert_string_equal(code_of(res), "not_member");
    json_decref(res);
    res = history_req(&net, o, "other", NULL);
    assert_string_equal(code_of(res), "not_found");
    json_decref(res);
    fake_recv(&net, b, "{\"event\":\"history\",\"data\":{}}");
    assert_error_code(b, "bad_message");
    /* Without an ack id: the error event carries the position too. */
    snprintf(since, sizeof since, "{\"event\":\"history\",\"data\":{\"room\":\"chat:a\",\"since\":{\"offset\":0,\"epoch\":\"%s\"}}}", epoch);
    fake_recv(&net, b, since);
    assert_error_code(b, "too_old");

    fake_close(&net, a);
    fake_close(&net, b);
    fake_close(&net, o);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static void patterns_and_per_call(void **state)
{
    fake_net net = {0};
    room_history_limits l;
    room_history_pos pos;
    (void)state;
    history_hub(&net, "chat:*,lobby,a?c", 0, 0, 0, NULL);
    assert_true(room_history_enabled(net.hub, "chat:"));
    assert_true(room_history_enabled(net.hub, "chat:x:y"));
    assert_true(room_history_enabled(net.hub, "lobby"));
    assert_true(room_history_enabled(net.hub, "abc"));
    assert_false(room_history_enabled(net.hub, "abbc"));
    assert_false(room_history_enabled(net.hub, "lobby2"));
    assert_false(room_history_enabled(net.hub, "chat"));
    assert_false(room_history_enabled(net.hub, ""));
    assert_false(room_history_enabled(NULL, "lobby"));
    /* Per call. */
    assert_int_equal(room_history_position(net.hub, "mine", &pos), ROOM_ENOTFOUND);
    room_history_limits_init(&l);
    l.max_messages = 2;
    assert_int_equal(room_history_set(net.hub, "mine", &l), 0);
    assert_true(room_history_enabled(net.hub, "mine"));
    for (int i = 0; i < 4; i++)
        assert_int_equal(room_history_send_args(net.hub, "mine", "x", NULL, 0, NULL, 0, NULL, NULL, &pos), 0);
    assert_int_equal(pos.offset, 4);
    assert_int_equal(room_history_position(net.hub, "mine", &pos), 0);
    assert_int_equal(pos.offset, 4);
    /* A stamp must be an object; a room without history is a plain send. */
    json_t *s = json_string("x");
    assert_int_equal(room_history_send_args(net.hub, "mine", "x", NULL, 0, NULL, 0, NULL, s, NULL), ROOM_EINVAL);
    json_decref(s);
    s = json_object();
    assert_int_equal(room_history_send_args(net.hub, "plain", "x", &s, 1, NULL, 0, NULL, s, &pos), 0);
    assert_int_equal(pos.offset, 0);
    assert_int_equal(json_object_size(s), 0);
    json_decref(s);
    assert_int_equal(room_history_set(net.hub, "", NULL), ROOM_ENAME);
    l.size = 4;
    assert_int_equal(room_history_set(net.hub, "mine", &l), ROOM_EINVAL);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);

    /* A hub that never enabled storage: history per call all the same. */
    fake_net n2 = {0};
    assert_non_null(fake_hub(&n2, 0));
    assert_false(room_history_enabled(n2.hub, "r"));
    assert_int_equal(room_history_send_args(n2.hub, "r", "x", NULL, 0, NULL, 0, NULL, NULL, &pos), 0);
    assert_int_equal(room_history_set(n2.hub, "r", NULL), 0);
    assert_int_equal(room_history_send_args(n2.hub, "r", "x", NULL, 0, NULL, 0, NULL, NULL, &pos), 0);
    assert_int_equal(pos.offset, 1);
    room_hub_free(n2.hub);
    assert_int_equal(n2.alloc.allocs, n2.alloc.frees);
}

static int count_visit(uint64_t offset, room_frame *frame, void *ud)
{
    uint64_t *last = ud;
    assert_true(offset > *last);
    assert_non_null(frame);
    *last = offset;
    return 0;
}

/* Age: none older than T ms of hub time; bytes: the cap, and a message
 * bigger than it counts as gone at once. */
static void age_and_bytes(void **state)
{
    fake_net net = {0};
    room_history_pos pos, since;
    fake_peer *p;
    uint64_t last = 0;
    (void)state;
    history_hub(&net, "r", 0, 1000, 200, NULL);
    p = fake_open(&net);
    room_hub_set_time(net.hub, 100);
    json_t *small = json_string("0123456789");
    for (int i = 0; i < 3; i++)
        room_history_send_args(net.hub, "r", "m", &small, 1, NULL, 0, NULL, NULL, &pos);
    room_hub_set_time(net.hub, 600);
    room_history_send_args(net.hub, "r", "m", &small, 1, NULL, 0, NULL, NULL, &pos);
    memcpy(&since, &pos, sizeof since);
    since.offset = 0;
    assert_int_equal(room_history_replay(net.hub, p->conn, "r", &since, NULL), 4);
    room_hub_set_time(net.hub, 1100); /* the first three are 1000 ms old */
    assert_int_equal(room_history_replay(net.hub, p->conn, "r", &since, NULL), ROOM_ETOOOLD);
    since.offset = 3;
    assert_int_equal(room_history_replay(net.hub, p->conn, "r", &since, NULL), 1);
    assert_int_equal(room_history_foreach(net.hub, "r", 0, count_visit, &last), 0);
    assert_int_equal(last, 4);
    /* Bytes: each frame is about 30 bytes; 200 keep 6 of them. */
    for (int i = 0; i < 10; i++)
        room_history_send_args(net.hub, "r", "m", &small, 1, NULL, 0, NULL, NULL, &pos);
    since.offset = 5;
    assert_int_equal(room_history_replay(net.hub, p->conn, "r", &since, NULL), ROOM_ETOOOLD);
    since.offset = 14 - 6;
    assert_int_equal(room_history_replay(net.hub, p->conn, "r", &since, NULL), 6);
    json_t *big = json_string_nocheck("0123456789012345678901234567890123456789012345678901234567890123456789"
                                      "0123456789012345678901234567890123456789012345678901234567890123456789"
                                      "0123456789012345678901234567890123456789012345678901234567890123456789");
    assert_int_equal(room_history_send_args(net.hub, "r", "m", &big, 1, NULL, 0, NULL, NULL, &pos), 0);
    since.offset = 14;
    assert_int_equal(room_history_replay(net.hub, p->conn, "r", &since, NULL), ROOM_ETOOOLD);
    since.offset = 15;
    assert_int_equal(room_history_replay(net.hub, p->conn, "r", &since, NULL), 0);
    json_decref(big);
    json_decref(small);
    /* The tick ages kept messages too (memory back). */
    size_t before = room_hub_memory(net.hub);
    room_hub_tick(net.hub, 5000);
    assert_true(room_hub_memory(net.hub) < before);
    fake_close(&net, p);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* A message to a room of 50 is kept once: the history costs one frame's
 * reference, not 50 copies; replays are the very bytes members got. */
static void frames_kept_once(void **state)
{
    fake_net net = {0};
    fake_peer *p[50], *late;
    size_t before, after;
    json_int_t off, n;
    (void)state;
    history_hub(&net, "big", 10, 0, 0, NULL);
    for (int i = 0; i < 50; i++)
        p[i] = joined(&net, "big");
    say(&net, p[0], "big", 1); /* the first opens the history */
    before = room_hub_memory(net.hub);
    say(&net, p[0], "big", 2);
    after = room_hub_memory(net.hub);
    /* One frame of ~150 bytes and the reply's transient: far below 50 copies. */
    assert_true(after - before < 400);
    late = joined(&net, "big");
    assert_int_equal(room_history_replay(net.hub, late->conn, "big", NULL, NULL), 2);
    long second = fake_find(p[1], "message", (size_t)fake_find(p[1], "message", 0) + 1);
    assert_true(second > 0);
    assert_string_equal(late->frames[1], p[1]->frames[second]);
    message_at(late, 1, &off, NULL, &n);
    assert_int_equal(off, 2);
    for (int i = 0; i < 50; i++)
        fake_close(&net, p[i]);
    fake_close(&net, late);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* With a store the epoch and messages survive a restart; without one a
 * restart is a new epoch, and an old position is wrong_epoch. */
static void epochs_across_restarts(void **state)
{
    room_store *mem;
    room_history_pos pos, now, since;
    char epoch[ROOM_EPOCH_MAX + 1];
    (void)state;
    assert_int_equal(room_store_memory_new(&mem, NULL), 0);
    {
        fake_net net = {0};
        fake_peer *a;
        history_hub(&net, "chat:*", 0, 0, 0, mem);
        a = joined(&net, "chat:x");
        for (int i = 0; i < 3; i++)
            say(&net, a, "chat:x", i);
        assert_int_equal(room_history_position(net.hub, "chat:x", &pos), 0);
        memcpy(epoch, pos.epoch, sizeof epoch);
        fake_close(&net, a);
        room_hub_free(net.hub); /* writes what is pending */
    }
    {
        fake_net net = {0};
        fake_peer *b;
        net.random_state = 777;
        history_hub(&net, "chat:*", 0, 0, 0, mem);
        b = joined(&net, "chat:x");
        memcpy(&since, &pos, sizeof since);
        since.offset = 1;
        assert_int_equal(room_history_replay(net.hub, b->conn, "chat:x", &since, &now), 2);
        assert_string_equal(now.epoch, epoch);
        assert_int_equal(now.offset, 3);
        json_int_t off, n;
        message_at(b, 1, &off, NULL, &n);
        assert_int_equal(off, 3);
        assert_int_equal(n, 2);
        say(&net, b, "chat:x", 3);
        assert_int_equal(room_history_position(net.hub, "chat:x", &now), 0);
        assert_int_equal(now.offset, 4);
        fake_close(&net, b);
        room_hub_free(net.hub);
    }
    {
        /* No store: a restart loses the history, and says so. */
        fake_net net = {0};
        fake_peer *c;
        net.random_state = 4242;
        history_hub(&net, "chat:*", 0, 0, 0, NULL);
        c = joined(&net, "chat:x");
        assert_int_equal(room_history_replay(net.hub, c->conn, "chat:x", &since, &now), ROOM_EEPOCH);
        assert_string_not_equal(now.epoch, epoch);
        assert_int_equal(now.offset, 0);
        fake_close(&net, c);
        room_hub_free(net.hub);
        assert_int_equal(net.alloc.allocs, net.alloc.frees);
    }
    room_store_free(mem);
}

/* Without a store, a history room whose messages have all aged out and
 * that nobody is in is unloaded: its epoch is gone with it. */
static void unloaded_history_changes_epoch(void **state)
{
    fake_net net = {0};
    room_history_pos before, after;
    size_t kept;
    (void)state;
    history_hub(&net, "r", 0, 1000, 0, NULL);
    room_hub_set_time(net.hub, 10);
    assert_int_equal(room_history_send_args(net.hub, "r", "m", NULL, 0, NULL, 0, NULL, NULL, &before), 0);
    kept = room_hub_memory(net.hub);
    room_hub_tick(net.hub, 2000);
    assert_true(room_hub_memory(net.hub) < kept);
    assert_int_equal(room_history_position(net.hub, "r", &after), 0);
    assert_int_equal(after.offset, 0);
    assert_string_not_equal(after.epoch, before.epoch);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static void failing_store_refuses_sends(void **state)
{
    fake_net net = {0};
    room_store *mem;
    fake_peer *a, *b;
    (void)state;
    assert_int_equal(room_store_memory_new(&mem, NULL), 0);
    history_hub(&net, "r", 0, 0, 0, mem);
    a = joined(&net, "r");
    b = joined(&net, "r");
    say(&net, a, "r", 1);
    assert_int_equal(room_store_memory_fail_writes(mem, 1), 0);
    assert_int_equal(room_storage_flush(net.hub), ROOM_ESTORAGE);
    fake_clear(b);
    fake_clear(a);
    say(&net, a, "r", 2);
    assert_error_code(a, "storage");
    assert_int_equal(b->nframes, 0); /* nothing half-sent */
    assert_int_equal(room_storage_flush(net.hub), 0);
    say(&net, a, "r", 3);
    assert_int_equal(b->nframes, 1);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
    room_store_free(mem);
}

/* Recovery on too: one frame in both logs, carrying both offsets. */
static void with_recovery(void **state)
{
    fake_net net = {0};
    room_config cfg;
    room_history_pos pos;
    fake_peer *a;
    (void)state;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.recovery_ms = 10000;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    assert_int_equal(room_protocol_rooms_register(net.hub), 0);
    assert_int_equal(room_history_set(net.hub, "r", NULL), 0);
    a = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    fake_clear(a);
    say(&net, a, "r", 5);
    json_t *j = fake_json(a, 0);
    assert_string_equal(json_string_value(json_object_get(j, "event")), "message");
    assert_non_null(json_object_get(j, "offset")); /* the hub's, for recovery */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(j, "data"), "data"), "offset")), 1);
    json_decref(j);
    assert_int_equal(room_history_position(net.hub, "r", &pos), 0);
    assert_int_equal(pos.offset, 1);
    fake_close(&net, a);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static int session(fake_net *net, size_t fail_at, room_store *mem)
{
    room_storage_config sc;
    room_history_pos pos;
    fake_peer *p[2] = {NULL, NULL};
    int rc = 0;
    assert_non_null(fake_hub(net, 1));
    net->alloc.fail_at = fail_at ? net->alloc.allocs + fail_at : 0;
    room_storage_config_init(&sc);
    sc.history_rooms = "r*";
    sc.history_messages = 3;
    sc.store = mem;
    if (room_storage_enable(net->hub, &sc))
        rc = 1;
    for (int i = 0; i < 2; i++) {
        p[i] = fake_open(net);
        if (p[i] && fake_recv(net, p[i], "{\"event\":\"join\",\"data\":\"r1\"}"))
            rc = 1;
    }
    for (int i = 0; i < 5; i++) {
        json_t *m = json_pack("{s:i}", "n", i);
        if (!m || room_history_send_args(net->hub, "r1", "m", &m, 1, NULL, 0, NULL, m, &pos) < 0)
            rc = 1;
        json_decref(m);
    }
    if (p[1] && room_history_replay(net->hub, p[1]->conn, "r1", NULL, NULL) < 0)
        rc = 1;
    if (p[0] && fake_recv(net, p[0], "{\"event\":\"history\",\"data\":{\"room\":\"r1\"}}"))
        rc = 1;
    if (room_storage_flush(net->hub))
        rc = 1;
    for (int i = 0; i < 2; i++) {
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

/* ---- in a cluster: a fake adapter whose "log" plays Redis for two hubs ---- */

/* The cluster's log of one room: what the adapter's history_publish took,
 * in offset order, delivered to the nodes and read by fetches when the
 * test pumps. */
typedef struct fake_log {
    char epoch[ROOM_EPOCH_MAX + 1];
    uint64_t last, floor;
    json_t *entries;  /* [offset, event, args, stamp index, stamp key or null, except or null] */
    size_t delivered; /* entries handed to the nodes so far */
    json_t *fetches;  /* [node index, request, since offset or -1, since epoch] */
    size_t keep;      /* the room's count limit, as the publisher said */
    bool down;
    struct fake_node *nodes[2];
} fake_log;

typedef struct fake_node {
    room_adapter base;
    fake_log *log;
    fake_net net;
    int index;
    int publishes, fetches;
} fake_node;

static int fake_history_publish(room_adapter *adapter, room_hub *hub, const char *room,
                                const char *event, json_t *const *argv, size_t argc,
                                const room_bytes *att, size_t natt, const char *except_id,
                                json_t *stamp, const room_history_limits *limits)
{
    fake_node *node = (fake_node *)adapter;
    fake_log *log = node->log;
    json_t *args = json_array(), *entry;
    json_t *stamp_index = json_null(), *stamp_key = json_null();
    (void)hub;
    (void)room;
    (void)att;
    (void)natt;
    if (log->down) {
        json_decref(args);
        return ROOM_ESTORAGE;
    }
    for (size_t i = 0; i < argc; i++) {
        const char *key;
        json_t *v;
        json_array_append_new(args, json_deep_copy(argv[i]));
        if (argv[i] == stamp)
            stamp_index = json_integer((json_int_t)i);
        json_object_foreach(argv[i], key, v) {
            if (v == stamp) {
                stamp_index = json_integer((json_int_t)i);
                stamp_key = json_string(key);
            }
        }
    }
    log->last++;
    entry = json_pack("[IsoooO]", (json_int_t)log->last, event, args, stamp_index, stamp_key,
                      except_id ? json_string(except_id) : json_null());
    json_array_append_new(log->entries, entry);
    log->keep = limits->max_messages;
    node->publishes++;
    return 0;
}

static int fake_history_fetch(room_adapter *adapter, room_hub *hub, const char *room,
                              const room_history_pos *since, uint64_t request)
{
    fake_node *node = (fake_node *)adapter;
    (void)hub;
    (void)room;
    if (node->log->down)
        return ROOM_ESTORAGE;
    node->fetches++;
    json_array_append_new(node->log->fetches,
                          json_pack("[iIIs]", node->index, (json_int_t)request,
                                    since ? (json_int_t)since->offset : (json_int_t)-1,
                                    since ? since->epoch : ""));
    return 0;
}

/* The entry as an item (its stamp found again in its arguments). */
static void as_item(json_t *entry, room_history_item *item, json_t **argv)
{
    json_t *args = json_array_get(entry, 2), *si = json_array_get(entry, 3);
    memset(item, 0, sizeof *item);
    item->offset = (uint64_t)json_integer_value(json_array_get(entry, 0));
    item->event = json_string_value(json_array_get(entry, 1));
    for (size_t i = 0; i < json_array_size(args); i++)
        argv[i] = json_array_get(args, i);
    item->argv = argv;
    item->argc = json_array_size(args);
    if (json_is_integer(si)) {
        item->stamp = argv[json_integer_value(si)];
        if (json_is_string(json_array_get(entry, 4)))
            item->stamp = json_object_get(item->stamp, json_string_value(json_array_get(entry, 4)));
    }
}

/* Hands the log's new messages to the nodes with members in `room` (the
 * subscribed ones), in order; the number of deliveries that failed. */
static int deliver_all(fake_log *log, const char *room)
{
    room_history_pos pos;
    int failed = 0;
    for (; log->delivered < json_array_size(log->entries); log->delivered++) {
        json_t *entry = json_array_get(log->entries, log->delivered), *argv[8];
        room_history_item item;
        as_item(entry, &item, argv);
        memset(&pos, 0, sizeof pos);
        pos.offset = item.offset;
        strcpy(pos.epoch, log->epoch);
        for (int i = 0; i < 2; i++) {
            room_hub *hub = log->nodes[i] ? log->nodes[i]->net.hub : NULL;
            if (hub && room_member_count(hub, room) > 0 &&
                room_history_deliver_remote(hub, room, &pos, json_string_value(json_array_get(entry, 5)),
                                            &item) < 0)
                failed++;
        }
    }
    return failed;
}

static void deliver(fake_log *log, const char *room)
{
    assert_int_equal(deliver_all(log, room), 0);
}

/* Answers the waiting fetches with the log as it stands up to `upto`. */
static void answer(fake_log *log, uint64_t upto)
{
    room_history_pos now;
    size_t i, j;
    json_t *f;
    memset(&now, 0, sizeof now);
    now.offset = upto;
    strcpy(now.epoch, log->epoch);
    json_array_foreach(log->fetches, i, f) {
        fake_node *node = log->nodes[json_integer_value(json_array_get(f, 0))];
        json_int_t since = json_integer_value(json_array_get(f, 2));
        room_history_item items[64];
        json_t *argvs[64][8];
        size_t n = 0;
        uint64_t floor = log->keep && upto > log->keep ? upto - log->keep : 0;
        if (floor < log->floor)
            floor = log->floor;
        if (since < 0 || (strcmp(json_string_value(json_array_get(f, 3)), log->epoch) == 0 &&
                          (uint64_t)since >= floor && (uint64_t)since <= upto)) {
            for (j = 0; j < json_array_size(log->entries); j++) {
                json_t *entry = json_array_get(log->entries, j);
                json_int_t off = json_integer_value(json_array_get(entry, 0));
                if (off > (since < 0 ? (json_int_t)floor : since) && (uint64_t)off <= upto)
                    as_item(entry, &items[n], argvs[n]), n++;
            }
        }
        assert_int_equal(room_history_fetched(node->net.hub, (uint64_t)json_integer_value(json_array_get(f, 1)),
                                              0, &now, floor, items, n), 0);
    }
    json_array_clear(log->fetches);
}

static void cluster_node(fake_log *log, fake_node *node, int index)
{
    room_config cfg;
    room_storage_config sc;
    memset(node, 0, sizeof *node);
    node->base.size = sizeof node->base;
    node->base.name = "fake-cluster";
    node->base.history_publish = fake_history_publish;
    node->base.history_fetch = fake_history_fetch;
    node->log = log;
    node->index = index;
    log->nodes[index] = node;
    room_config_init(&cfg);
    fake_config(&cfg, &node->net);
    cfg.adapter = &node->base;
    assert_int_equal(room_hub_new(&node->net.hub, &cfg), 0);
    assert_int_equal(room_protocol_rooms_register(node->net.hub), 0);
    room_storage_config_init(&sc);
    sc.history_rooms = "chat:*";
    sc.history_messages = 5;
    assert_int_equal(room_storage_enable(node->net.hub, &sc), 0);
}

static void log_init(fake_log *log)
{
    memset(log, 0, sizeof *log);
    strcpy(log->epoch, "clusterEpoch1");
    log->entries = json_array();
    log->fetches = json_array();
}

static void log_release(fake_log *log)
{
    json_decref(log->entries);
    json_decref(log->fetches);
}

/* The ack of the last frame (new reference) or NULL when the last frame
 * is no ack with id 7. */
static json_t *last_ack(const fake_peer *p)
{
    json_t *j, *data = NULL;
    if (!p->nframes || !(j = fake_json(p, p->nframes - 1)))
        return NULL;
    if (json_integer_value(json_object_get(j, "ack")) == 7)
        data = json_incref(json_object_get(j, "data"));
    json_decref(j);
    return data;
}

static void ask(fake_net *net, fake_peer *p, const char *room, const char *since_json)
{
    char req[512];
    if (since_json)
        snprintf(req, sizeof req, "{\"event\":\"history\",\"data\":{\"room\":\"%s\",\"since\":%s},\"id\":7}",
                 room, since_json);
    else
        snprintf(req, sizeof req, "{\"event\":\"history\",\"data\":{\"room\":\"%s\"},\"id\":7}", room);
    assert_int_equal(fake_recv(net, p, req), 0);
}

static json_int_t data_int(json_t *res, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(res, "data"), key));
}

static void offsets_of(const fake_peer *p, json_int_t *out, size_t n)
{
    json_int_t v;
    assert_true(p->nframes >= n);
    for (size_t i = 0; i < n; i++)
        message_at(p, i, &out[i], NULL, &v);
}

static void cluster_offsets_and_copies(void **state)
{
    fake_log log;
    fake_node A, B;
    fake_peer *a, *b, *b2;
    json_int_t off, n, offs[8];
    char epoch[ROOM_EPOCH_MAX + 1], since[128];
    json_t *res;
    (void)state;
    log_init(&log);
    cluster_node(&log, &A, 0);
    cluster_node(&log, &B, 1);
    a = joined(&A.net, "chat:x");
    b = joined(&B.net, "chat:x");
    /* Sent through the log: nobody has it before the log hands it back,
     * the sender's node included. */
    for (int i = 1; i <= 3; i++)
        say(&A.net, a, "chat:x", i);
    assert_int_equal(A.publishes, 3);
    assert_int_equal(b->nframes, 0);
    deliver(&log, "chat:x");
    assert_int_equal(b->nframes, 3);
    for (size_t i = 0; i < 3; i++) {
        message_at(b, i, &off, epoch, &n);
        assert_int_equal(off, (json_int_t)i + 1);
        assert_int_equal(n, (json_int_t)i + 1);
        assert_string_equal(epoch, "clusterEpoch1");
    }
    /* The sender's own node too, from the log. */
    assert_int_equal(fake_count(a, "message"), 3);

    /* B's copy is whole from offset 1: it answers at once. */
    b2 = joined(&B.net, "chat:x");
    ask(&B.net, b2, "chat:x", "{\"offset\":1,\"epoch\":\"clusterEpoch1\"}");
    assert_int_equal(B.fetches, 0);
    res = last_ack(b2);
    assert_non_null(res);
    assert_int_equal(data_int(res, "count"), 2);
    assert_int_equal(data_int(res, "offset"), 3);
    json_decref(res);
    offsets_of(b2, offs, 2);
    assert_int_equal(offs[0], 2);
    assert_int_equal(offs[1], 3);
    /* Everything kept, another epoch, a position past the copy: the log. */
    const char *asks[] = {NULL, "{\"offset\":1,\"epoch\":\"other\"}",
                          "{\"offset\":9,\"epoch\":\"clusterEpoch1\"}"};
    const char *codes[] = {NULL, "wrong_epoch", "wrong_epoch"};
    for (int k = 0; k < 3; k++) {
        fake_clear(b2);
        ask(&B.net, b2, "chat:x", asks[k]);
        assert_int_equal(B.fetches, k + 1);
        assert_int_equal(b2->nframes, 0);
        answer(&log, log.last);
        res = last_ack(b2);
        assert_non_null(res);
        if (codes[k]) {
            assert_string_equal(code_of(res), codes[k]);
            assert_int_equal(b2->nframes, 1);
        } else {
            assert_int_equal(data_int(res, "count"), 3);
            offsets_of(b2, offs, 3);
            assert_int_equal(offs[0], 1);
            assert_int_equal(offs[2], 3);
        }
        assert_int_equal(data_int(res, "offset"), 3);
        json_decref(res);
    }

    /* More than the log keeps (5): since 1 is too old, from the log. */
    for (int i = 4; i <= 8; i++)
        say(&A.net, a, "chat:x", i);
    deliver(&log, "chat:x");
    room_history_interrupted(B.net.hub, "chat:x");
    fake_clear(b2);
    snprintf(since, sizeof since, "{\"offset\":%d,\"epoch\":\"clusterEpoch1\"}", 1);
    ask(&B.net, b2, "chat:x", since);
    answer(&log, log.last);
    res = last_ack(b2);
    assert_string_equal(code_of(res), "too_old");
    assert_int_equal(data_int(res, "offset"), 8);
    assert_int_equal(b2->nframes, 1);
    json_decref(res);
    /* The fetch made the copy whole again: since 6 is answered here. */
    fake_clear(b2);
    ask(&B.net, b2, "chat:x", "{\"offset\":6,\"epoch\":\"clusterEpoch1\"}");
    answer(&log, log.last);
    fake_clear(b2);
    ask(&B.net, b2, "chat:x", "{\"offset\":6,\"epoch\":\"clusterEpoch1\"}");
    assert_int_equal(b2->nframes, 3);
    assert_int_equal(B.fetches, 5);

    /* A reset from the log (a new epoch): the copy starts again there. */
    room_history_pos reset = {0, "clusterEpoch2"};
    assert_int_equal(room_history_deliver_remote(B.net.hub, "chat:x", &reset, NULL, NULL), 0);
    strcpy(log.epoch, "clusterEpoch2");
    log.floor = log.last = 0;
    json_array_clear(log.entries);
    log.delivered = 0;
    fake_clear(b2);
    ask(&B.net, b2, "chat:x", "{\"offset\":0,\"epoch\":\"clusterEpoch2\"}");
    res = last_ack(b2);
    assert_int_equal(data_int(res, "count"), 0);
    json_decref(res);
    assert_int_equal(B.fetches, 5);
    /* An old position: the log has the last word (the copy may lag). */
    fake_clear(b2);
    ask(&B.net, b2, "chat:x", "{\"offset\":6,\"epoch\":\"clusterEpoch1\"}");
    assert_int_equal(B.fetches, 6);
    answer(&log, 0);
    res = last_ack(b2);
    assert_string_equal(code_of(res), "wrong_epoch");
    assert_string_equal(json_string_value(json_object_get(json_object_get(res, "data"), "epoch")), "clusterEpoch2");
    assert_int_equal(b2->nframes, 1);
    json_decref(res);

    fake_close(&A.net, a);
    fake_close(&B.net, b);
    fake_close(&B.net, b2);
    room_hub_free(A.net.hub);
    room_hub_free(B.net.hub);
    assert_int_equal(A.net.alloc.allocs, A.net.alloc.frees);
    assert_int_equal(B.net.alloc.allocs, B.net.alloc.frees);
    log_release(&log);
}

/* The log's answer comes before live messages it already holds (two
 * connections): the copy takes them once, the members that were there all
 * the same get them, the asker only from its replay (each once); a live
 * message past the replay reaches it as usual. */
static void cluster_answer_before_live(void **state)
{
    fake_log log;
    fake_node A, B;
    fake_peer *a, *b0, *b;
    json_int_t offs[8];
    json_t *res;
    (void)state;
    log_init(&log);
    cluster_node(&log, &A, 0);
    cluster_node(&log, &B, 1);
    a = joined(&A.net, "chat:w");
    b0 = joined(&B.net, "chat:w");
    say(&A.net, a, "chat:w", 1);
    deliver(&log, "chat:w");
    room_history_interrupted(B.net.hub, "chat:w");
    b = joined(&B.net, "chat:w");
    fake_clear(b0);
    ask(&B.net, b, "chat:w", "{\"offset\":1,\"epoch\":\"clusterEpoch1\"}");
    say(&A.net, a, "chat:w", 2);
    say(&A.net, a, "chat:w", 3);
    answer(&log, 3);
    res = last_ack(b);
    assert_int_equal(data_int(res, "count"), 2);
    json_decref(res);
    deliver(&log, "chat:w");
    assert_int_equal(b0->nframes, 2);
    offsets_of(b0, offs, 2);
    assert_int_equal(offs[0], 2);
    assert_int_equal(offs[1], 3);
    assert_int_equal(fake_count(b, "message"), 2);
    say(&A.net, a, "chat:w", 4);
    deliver(&log, "chat:w");
    assert_int_equal(fake_count(b, "message"), 3);
    assert_int_equal(b0->nframes, 3);
    /* The copy is whole and holds each once. */
    fake_clear(b);
    ask(&B.net, b, "chat:w", "{\"offset\":1,\"epoch\":\"clusterEpoch1\"}");
    assert_int_equal(B.fetches, 1);
    assert_int_equal(fake_count(b, "message"), 3);
    fake_close(&A.net, a);
    fake_close(&B.net, b0);
    fake_close(&B.net, b);
    room_hub_free(A.net.hub);
    room_hub_free(B.net.hub);
    assert_int_equal(B.net.alloc.allocs, B.net.alloc.frees);
    log_release(&log);
}

/* A joiner on a node that never served the room asks while messages keep
 * coming: replayed and live, each once, in order, whichever the log's
 * answer covers. */
static void cluster_fetch_races_live(void **state)
{
    (void)state;
    for (int covered = 0; covered < 2; covered++) {
        fake_log log;
        fake_node A, B;
        fake_peer *a, *b;
        json_int_t offs[8];
        json_t *res;
        log_init(&log);
        cluster_node(&log, &A, 0);
        cluster_node(&log, &B, 1);
        a = joined(&A.net, "chat:y");
        for (int i = 1; i <= 4; i++)
            say(&A.net, a, "chat:y", i);
        deliver(&log, "chat:y"); /* B has no member: it hears none */
        b = joined(&B.net, "chat:y");
        ask(&B.net, b, "chat:y", "{\"offset\":1,\"epoch\":\"clusterEpoch1\"}");
        assert_int_equal(B.fetches, 1);
        say(&A.net, a, "chat:y", 5);
        say(&A.net, a, "chat:y", 6);
        deliver(&log, "chat:y");
        /* Held for b until its replay is out. */
        assert_int_equal(b->nframes, 0);
        answer(&log, covered ? 6 : 4);
        res = last_ack(b);
        assert_non_null(res);
        assert_int_equal(data_int(res, "count"), covered ? 5 : 3);
        json_decref(res);
        assert_int_equal(b->nframes, 6);
        offsets_of(b, offs, 5);
        for (int i = 0; i < 5; i++)
            assert_int_equal(offs[i], i + 2);
        /* Then live as usual. */
        say(&A.net, a, "chat:y", 7);
        deliver(&log, "chat:y");
        assert_int_equal(b->nframes, 7);
        fake_close(&A.net, a);
        fake_close(&B.net, b);
        room_hub_free(A.net.hub);
        room_hub_free(B.net.hub);
        assert_int_equal(B.net.alloc.allocs, B.net.alloc.frees);
        log_release(&log);
    }
}

static void cluster_outage_and_leaving(void **state)
{
    fake_log log;
    fake_node A, B;
    fake_peer *a, *a2, *b;
    json_int_t off, n;
    char epoch[ROOM_EPOCH_MAX + 1];
    json_t *res, *m, *argv[8];
    room_history_item item;
    (void)state;
    log_init(&log);
    cluster_node(&log, &A, 0);
    cluster_node(&log, &B, 1);
    a = joined(&A.net, "chat:z");
    a2 = joined(&A.net, "chat:z");
    b = joined(&B.net, "chat:z");
    say(&A.net, a, "chat:z", 1);
    deliver(&log, "chat:z");
    /* The bus is away: delivered on A only, under an epoch of A's own. */
    log.down = true;
    say(&A.net, a, "chat:z", 2);
    assert_int_equal(a2->nframes, 2);
    message_at(a2, 1, &off, epoch, &n);
    assert_int_equal(off, 2);
    assert_string_not_equal(epoch, "clusterEpoch1");
    assert_int_equal(b->nframes, 1);
    /* A answers its own run; B cannot ask the log: storage, nothing sent. */
    fake_clear(a2);
    ask(&A.net, a2, "chat:z", NULL);
    res = last_ack(a2);
    assert_int_equal(data_int(res, "count"), 1);
    json_decref(res);
    room_history_interrupted(B.net.hub, NULL);
    fake_clear(b);
    ask(&B.net, b, "chat:z", "{\"offset\":1,\"epoch\":\"clusterEpoch1\"}");
    res = last_ack(b);
    assert_string_equal(code_of(res), "storage");
    json_decref(res);
    assert_int_equal(b->nframes, 1);
    /* A message the adapter took but could not publish: the same. */
    m = json_pack("{s:s,s:{s:i}}", "room", "chat:z", "data", "n", 3);
    memset(&item, 0, sizeof item);
    argv[0] = m;
    item.event = "message";
    item.argv = argv;
    item.argc = 1;
    item.stamp = json_object_get(m, "data");
    assert_int_equal(room_history_unpublished(A.net.hub, "chat:z", NULL, &item), 2);
    assert_int_equal(json_integer_value(json_object_get(item.stamp, "offset")), 3);
    json_decref(m);
    /* The log is back with a message: A's run ends, the log's goes on. */
    log.down = false;
    say(&B.net, b, "chat:z", 4);
    deliver(&log, "chat:z");
    message_at(a2, a2->nframes - 1, &off, epoch, &n);
    assert_int_equal(off, 2);
    assert_string_equal(epoch, "clusterEpoch1");
    fake_clear(a2);
    ask(&A.net, a2, "chat:z", "{\"offset\":1,\"epoch\":\"clusterEpoch1\"}");
    res = last_ack(a2);
    assert_int_equal(data_int(res, "count"), 1);
    json_decref(res);

    /* Leaving, or closing, while the log is asked: no answer, nothing
     * leaks; a late answer is ignored. */
    room_history_interrupted(A.net.hub, "chat:z");
    fake_clear(a2);
    ask(&A.net, a2, "chat:z", "{\"offset\":1,\"epoch\":\"clusterEpoch1\"}");
    ask(&A.net, a, "chat:z", NULL);
    assert_int_equal(fake_recv(&A.net, a2, "{\"event\":\"leave\",\"data\":\"chat:z\"}"), 0);
    fake_close(&A.net, a);
    answer(&log, log.last);
    assert_int_equal(fake_count(a2, "message"), 0);
    res = last_ack(a2);
    assert_null(res);
    /* The core API: arguments, membership. */
    assert_int_equal(room_history_request(NULL, NULL, NULL, "chat:z", NULL, NULL, NULL), ROOM_EINVAL);
    fake_close(&A.net, a2);
    fake_close(&B.net, b);
    room_hub_free(A.net.hub);
    room_hub_free(B.net.hub);
    assert_int_equal(A.net.alloc.allocs, A.net.alloc.frees);
    assert_int_equal(B.net.alloc.allocs, B.net.alloc.frees);
    log_release(&log);
}

/* A cluster session with the Nth allocation of node B failing. */
static int cluster_session(size_t fail_at, size_t *failures, bool *balanced)
{
    fake_log log;
    fake_node A, B;
    fake_peer *a, *b;
    int rc = 0;
    log_init(&log);
    cluster_node(&log, &A, 0);
    cluster_node(&log, &B, 1);
    a = joined(&A.net, "chat:f");
    for (int i = 1; i <= 3; i++)
        say(&A.net, a, "chat:f", i);
    B.net.alloc.fail_at = fail_at ? B.net.alloc.allocs + fail_at : 0;
    b = fake_open(&B.net);
    if (!b || fake_recv(&B.net, b, "{\"event\":\"join\",\"data\":\"chat:f\"}"))
        rc = 1;
    if (b && fake_recv(&B.net, b, "{\"event\":\"history\",\"data\":{\"room\":\"chat:f\",\"since\":{\"offset\":1,\"epoch\":\"clusterEpoch1\"}},\"id\":7}"))
        rc = 1;
    say(&A.net, a, "chat:f", 4);
    if (deliver_all(&log, "chat:f"))
        rc = 1;
    answer(&log, 3);
    say(&A.net, a, "chat:f", 5);
    if (deliver_all(&log, "chat:f"))
        rc = 1;
    if (!b || fake_count(b, "message") != 4)
        rc = 1;
    fake_close(&A.net, a);
    if (b)
        fake_close(&B.net, b);
    *failures = B.net.alloc.failures;
    room_hub_free(A.net.hub);
    room_hub_free(B.net.hub);
    *balanced = B.net.alloc.allocs == B.net.alloc.frees && A.net.alloc.allocs == A.net.alloc.frees;
    log_release(&log);
    return rc;
}

static void cluster_fail_nth_allocation(void **state)
{
    size_t n, failures;
    bool balanced;
    (void)state;
    for (n = 1;; n++) {
        int failed = cluster_session(n, &failures, &balanced);
        assert_true(balanced);
        if (!failures) {
            assert_int_equal(failed, 0);
            break;
        }
    }
    assert_true(n > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(offsets_and_replay),
        cmocka_unit_test(patterns_and_per_call),
        cmocka_unit_test(age_and_bytes),
        cmocka_unit_test(frames_kept_once),
        cmocka_unit_test(epochs_across_restarts),
        cmocka_unit_test(unloaded_history_changes_epoch),
        cmocka_unit_test(failing_store_refuses_sends),
        cmocka_unit_test(with_recovery),
        cmocka_unit_test(fail_nth_allocation),
        cmocka_unit_test(cluster_offsets_and_copies),
        cmocka_unit_test(cluster_fetch_races_live),
        cmocka_unit_test(cluster_answer_before_live),
        cmocka_unit_test(cluster_outage_and_leaving),
        cmocka_unit_test(cluster_fail_nth_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
