/* history.c (and the rooms protocol's history, lib/protocol/rooms_history.c)
 * through the fake transport: rooms chosen by pattern and per call,
 * offsets and epochs stamped into messages, the replay since {offset,
 * epoch} that is whole or refused (too old, wrong epoch) with the current
 * position, the count, byte and age limits, frames kept once, the epoch
 * across a restart with and without a store, a failing store, recovery on
 * at the same time, and every allocation failing in turn. */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
