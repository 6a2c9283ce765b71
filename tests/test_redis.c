/* libroom-redis without a server: the wire (msgpack broadcasts as
 * @socket.io/redis-adapter and the emitter write them, JSON requests), its
 * checks against hostile input, and the bus's loop glue and arguments.
 * Counts against a redis-server of the test's own (skipped without one),
 * with a silent or answering other "node" played by the test. The cluster
 * itself is tests/interop/cluster.test.js. */
#include "test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>

#include "../lib/redis/internal.h"
#include "fake.h"
#include "room/redis.h"

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* Made by notepack.io (the Socket.IO adapter's and emitter's msgpack):
 * ["emitter", {type: 2, data: ["ev", 1, "x", {a: [true, null], f: 1.5},
 * Buffer [1, 2]], nsp: "/"}, {rooms: ["r1"], flags: {}, except: []}] */
static const char EMITTER_ROOM[] =
    "93a7656d697474657283a47479706502a46461746195a2657601a17882a16192c3c0a166cb3ff8000000000000c402"
    "0102a36e7370a12f83a5726f6f6d7391a27231a5666c61677380a665786365707490";
/* ["emitter", {type: 2, data: ["hi"], nsp: "/"}, {rooms: [], flags:
 * undefined, except: ["e1"]}]: notepack leaves the undefined key out. */
static const char EMITTER_ALL[] =
    "93a7656d697474657283a47479706502a46461746191a26869a36e7370a12f82a5726f6f6d7390a665786365707491"
    "a26531";

static void decodes_the_emitter(void **state)
{
    const room_allocator *a = room_allocator_libc();
    uint8_t bytes[256];
    size_t len = unhex(EMITTER_ROOM, bytes);
    rr_broadcast b;
    char *text;
    (void)state;
    assert_int_equal(rr_decode_broadcast(a, bytes, len, &b), 0);
    assert_string_equal(b.uid, "emitter");
    assert_string_equal(b.nsp, "/");
    assert_string_equal(b.event, "ev");
    assert_int_equal(b.argc, 4);
    assert_int_equal(json_integer_value(b.argv[0]), 1);
    text = json_dumps(b.argv[2], JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"a\":[true,null],\"f\":1.5}");
    free(text);
    /* The Buffer: a placeholder and its attachment. */
    text = json_dumps(b.argv[3], JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"_placeholder\":true,\"num\":0}");
    free(text);
    assert_int_equal(b.natt, 1);
    assert_int_equal(b.att[0].len, 2);
    assert_int_equal(b.att[0].data[1], 2);
    assert_int_equal(b.nrooms, 1);
    assert_string_equal(b.rooms[0], "r1");
    assert_int_equal(b.nexcept, 0);
    assert_false(b.local);
    rr_broadcast_release(a, &b);

    len = unhex(EMITTER_ALL, bytes);
    assert_int_equal(rr_decode_broadcast(a, bytes, len, &b), 0);
    assert_int_equal(b.argc, 0);
    assert_int_equal(b.nrooms, 0);
    assert_int_equal(b.nexcept, 1);
    assert_string_equal(b.except[0], "e1");
    rr_broadcast_release(a, &b);
}

static void encodes_what_it_decodes(void **state)
{
    const room_allocator *a = room_allocator_libc();
    json_t *argv[2];
    const uint8_t blob[] = {9, 8, 7};
    room_bytes att = {blob, sizeof blob};
    rr_out out;
    rr_broadcast b;
    char *text;
    (void)state;
    argv[0] = json_pack("{sis[sb]sfss}", "n", -5, "l", "é", 0, "r", 0.25, "", ""); /* "" both ways */
    argv[1] = json_pack("{sbsi}", "_placeholder", 1, "num", 0);
    rr_out_init(&out, a);
    assert_int_equal(rr_encode_broadcast(&out, "abc", "/admin", "msg", argv, 2, &att, 1, "room 1",
                                         "XYZ"), 0);
    assert_int_equal(rr_decode_broadcast(a, out.data, out.len, &b), 0);
    assert_string_equal(b.uid, "abc");
    assert_string_equal(b.nsp, "/admin");
    assert_string_equal(b.event, "msg");
    assert_int_equal(b.argc, 2);
    assert_true(json_equal(b.argv[0], argv[0]));
    assert_true(json_equal(b.argv[1], argv[1]));
    assert_int_equal(b.natt, 1);
    assert_memory_equal(b.att[0].data, blob, sizeof blob);
    assert_int_equal(b.nrooms, 1);
    assert_string_equal(b.rooms[0], "room 1");
    assert_string_equal(b.except[0], "XYZ");
    rr_broadcast_release(a, &b);
    /* The same bytes as notepack: a fixarray of three, "abc", the packet
     * map with type 2 first. */
    assert_memory_equal(out.data, "\x93\xa3" "abc\x83\xa4type\x02", 12);
    /* Out-of-range placeholder numbers stay objects. */
    json_object_set_new(argv[1], "num", json_integer(3));
    out.len = 0;
    assert_int_equal(rr_encode_broadcast(&out, "u", "/", "e", argv + 1, 1, &att, 1, NULL, NULL), 0);
    assert_int_equal(rr_decode_broadcast(a, out.data, out.len, &b), 0);
    assert_int_equal(b.natt, 0);
    text = json_dumps(b.argv[0], JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"_placeholder\":true,\"num\":3}");
    free(text);
    assert_int_equal(b.nrooms, 0);
    rr_broadcast_release(a, &b);
    rr_out_release(&out);
    json_decref(argv[0]);
    json_decref(argv[1]);
}

static int decode_hex(const char *hex)
{
    uint8_t bytes[512];
    size_t len = unhex(hex, bytes);
    rr_broadcast b;
    int rc = rr_decode_broadcast(room_allocator_libc(), bytes, len, &b);
    if (rc == 0)
        rr_broadcast_release(room_allocator_libc(), &b);
    return rc;
}

static void refuses_hostile_input(void **state)
{
    uint8_t deep[40];
    size_t i;
    (void)state;
    /* An array32 claiming 4 G items in five bytes: refused before
     * msgpack-c would allocate for them. */
    assert_false(rr_msgpack_check((const uint8_t *)"\xdd\xff\xff\xff\xff", 5));
    assert_false(rr_msgpack_check((const uint8_t *)"\xdf\x00\x01\x00\x00\x01", 6));
    /* Truncated, trailing bytes, the reserved byte. */
    assert_false(rr_msgpack_check((const uint8_t *)"\x92\x01", 2));
    assert_false(rr_msgpack_check((const uint8_t *)"\x01\x02", 2));
    assert_false(rr_msgpack_check((const uint8_t *)"\xc1", 1));
    assert_false(rr_msgpack_check((const uint8_t *)"\xdb\x00\x00\x00\x09" "abc", 8));
    assert_false(rr_msgpack_check(NULL, 0));
    assert_true(rr_msgpack_check((const uint8_t *)"\x92\x01\xa1x", 4));
    assert_true(rr_msgpack_check((const uint8_t *)"\xd4\x00\x00", 3)); /* undefined */
    /* Nesting: RR_MAX_DEPTH arrays deep is taken, one more is not. */
    memset(deep, 0x91, sizeof deep);
    deep[RR_MAX_DEPTH] = 0xc0;
    assert_true(rr_msgpack_check(deep, RR_MAX_DEPTH + 1));
    deep[RR_MAX_DEPTH] = 0x91;
    deep[RR_MAX_DEPTH + 1] = 0xc0;
    assert_false(rr_msgpack_check(deep, RR_MAX_DEPTH + 2));
    for (i = 0; i <= RR_MAX_DEPTH; i++)
        assert_false(rr_msgpack_check(deep, i));
    /* An empty container counts too (msgpack-c refuses it one deeper). */
    deep[RR_MAX_DEPTH] = 0x80;
    assert_false(rr_msgpack_check(deep, RR_MAX_DEPTH + 1));
    deep[RR_MAX_DEPTH - 1] = 0x90;
    assert_true(rr_msgpack_check(deep, RR_MAX_DEPTH));

    /* Shapes: not an array; a packet that is no event (type 3, an ack);
     * no event name; invalid UTF-8; a map key that is no string. */
    assert_int_equal(decode_hex("c0"), ROOM_EPROTO);
    assert_int_equal(decode_hex("92a17582a47479706503a46461746191a26869"), ROOM_EPROTO);
    assert_int_equal(decode_hex("92a17581a47479706502"), ROOM_EPROTO);
    assert_int_equal(decode_hex("92a17582a47479706502a46461746191a2ff69"), ROOM_EPROTO);
    assert_int_equal(decode_hex("92a17583a47479706502a46461746191a2686901c0"), ROOM_EPROTO);
    /* The smallest event: uid and packet, no options, nsp defaulting. */
    assert_int_equal(decode_hex("92a17582a47479706502a46461746191a26869"), 0);
    /* Numeric rooms name nothing libroom has. */
    assert_int_equal(decode_hex("93a17582a47479706502a46461746191a2686981a5726f6f6d739101"),
                     ROOM_EPROTO);
    /* Binary outside the arguments is no attachment. */
    {
        uint8_t bytes[64];
        size_t len = unhex("92a17584a47479706502a46461746192a162c40101a36e7370a12fa178c40102", bytes);
        rr_broadcast b;
        assert_int_equal(rr_decode_broadcast(room_allocator_libc(), bytes, len, &b), 0);
        assert_int_equal(b.natt, 1);
        assert_int_equal(b.att[0].data[0], 1);
        rr_broadcast_release(room_allocator_libc(), &b);
    }
    /* A repeated key (here "type") is refused: the value it would drop
     * may hold binaries taken as attachments already. */
    assert_int_equal(decode_hex("92a17583a47479706502a46461746191a26869a47479706502"), ROOM_EPROTO);
    /* NaN and infinity become null (as JSON.stringify makes them). */
    assert_int_equal(decode_hex("92a17582a47479706502a46461746192a26869cb7ff8000000000000"), 0);
}

static void requests_round_trip(void **state)
{
    const char *rooms_in[] = {"b", "c"}, *rooms[RR_MAX_ROOMS];
    json_t *argv[RR_MAX_ARGS], *arg = json_string("hey"), *req, *back;
    room_remote_op op, got;
    char *text;
    int kind;
    (void)state;
    for (kind = ROOM_REMOTE_JOIN; kind <= ROOM_REMOTE_MEMBERS_LEAVE; kind++) {
        memset(&op, 0, sizeof op);
        op.kind = kind;
        if (kind < ROOM_REMOTE_MEMBERS_JOIN)
            op.conn_id = "SID";
        op.room = "a";
        op.rooms = rooms_in;
        op.nrooms = 2;
        op.reason = kind == ROOM_REMOTE_DISCONNECT ? "bye" : NULL;
        op.event = "ev";
        op.argv = &arg;
        op.argc = 1;
        req = rr_request_new("me", kind < ROOM_REMOTE_MEMBERS_JOIN ? "q1" : NULL, &op);
        assert_non_null(req);
        text = json_dumps(req, JSON_COMPACT);
        back = rr_decode_object((const uint8_t *)text, strlen(text));
        free(text);
        assert_non_null(back);
        assert_int_equal(rr_request_op(back, &got, rooms, argv), 0);
        assert_int_equal(got.kind, kind);
        if (kind < ROOM_REMOTE_MEMBERS_JOIN)
            assert_string_equal(got.conn_id, "SID");
        else
            assert_null(got.conn_id);
        if (kind == ROOM_REMOTE_JOIN || kind == ROOM_REMOTE_LEAVE || kind >= ROOM_REMOTE_MEMBERS_JOIN)
            assert_string_equal(got.room, "a");
        if (kind >= ROOM_REMOTE_MEMBERS_JOIN) {
            assert_int_equal(got.nrooms, 2);
            assert_string_equal(got.rooms[1], "c");
        }
        if (kind == ROOM_REMOTE_DISCONNECT)
            assert_string_equal(got.reason, "bye");
        if (kind == ROOM_REMOTE_EMIT) {
            assert_string_equal(got.event, "ev");
            assert_int_equal(got.argc, 1);
            assert_string_equal(json_string_value(got.argv[0]), "hey");
        }
        json_decref(back);
        json_decref(req);
    }
    /* Socket.IO's own requests: JSON from JSON.stringify, and msgpack from
     * notepack ({uid, requestId, type: 3, sid, room}). */
    text = "{\"uid\":\"x\",\"requestId\":\"r\",\"type\":2,\"sid\":\"S\",\"room\":\"fun\"}";
    back = rr_decode_object((const uint8_t *)text, strlen(text));
    assert_int_equal(rr_request_op(back, &got, rooms, argv), 0);
    assert_int_equal(got.kind, ROOM_REMOTE_JOIN);
    assert_string_equal(got.room, "fun");
    json_decref(back);
    {
        uint8_t bytes[128];
        size_t len = unhex("85a3756964a3616263a9726571756573744964a27131a47479706503a3736964a153"
                           "a4726f6f6da172", bytes);
        back = rr_decode_object(bytes, len);
        assert_int_equal(rr_request_op(back, &got, rooms, argv), 0);
        assert_int_equal(got.kind, ROOM_REMOTE_LEAVE);
        assert_string_equal(got.conn_id, "S");
        json_decref(back);
    }
    /* What libroom does not serve: fetchSockets (5), a request without a
     * sid, a room-wide one over two rooms, not an object. */
    text = "{\"type\":5,\"opts\":{\"rooms\":[]}}";
    back = rr_decode_object((const uint8_t *)text, strlen(text));
    assert_int_equal(rr_request_op(back, &got, rooms, argv), ROOM_EPROTO);
    json_decref(back);
    text = "{\"type\":3,\"room\":\"r\"}";
    back = rr_decode_object((const uint8_t *)text, strlen(text));
    assert_int_equal(rr_request_op(back, &got, rooms, argv), ROOM_EPROTO);
    json_decref(back);
    text = "{\"type\":2,\"opts\":{\"rooms\":[\"a\",\"b\"]},\"rooms\":[\"c\"]}";
    back = rr_decode_object((const uint8_t *)text, strlen(text));
    assert_int_equal(rr_request_op(back, &got, rooms, argv), ROOM_EPROTO);
    json_decref(back);
    assert_null(rr_decode_object((const uint8_t *)"[1]", 3));
    assert_null(rr_decode_object((const uint8_t *)"\x91\x01", 2));
    json_decref(arg);
}

/* Every allocation of the encoder and the decoder may fail. */
static void failing_allocations(void **state)
{
    fake_alloc counts = {0};
    room_allocator a = fake_allocator(&counts);
    uint8_t bytes[256];
    size_t len = unhex(EMITTER_ROOM, bytes), n;
    json_t *arg = json_pack("{s[iii]}", "k", 1, 2, 3);
    rr_broadcast b;
    rr_out out;
    int rc;
    (void)state;
    for (n = 1; n < 20; n++) {
        counts = (fake_alloc){.fail_at = n};
        rc = rr_decode_broadcast(&a, bytes, len, &b);
        assert_true(rc == 0 || rc == ROOM_ENOMEM);
        if (rc == 0)
            rr_broadcast_release(&a, &b);
        counts.fail_at = 0;
        assert_int_equal(counts.allocs, counts.frees);
        counts = (fake_alloc){.fail_at = n};
        rr_out_init(&out, &a);
        rc = rr_encode_broadcast(&out, "u", "/", "e", &arg, 1, NULL, 0, "r", NULL);
        assert_true(rc == 0 || rc == ROOM_ENOMEM);
        rr_out_release(&out);
        assert_int_equal(counts.allocs, counts.frees);
    }
    json_decref(arg);
}

/* The bus against a closed port: arguments, the descriptor handed to the
 * host's loop, and the goodbye. */
typedef struct watched {
    int fd, events, calls;
} watched;

static void record_watch(int fd, int events, void *data)
{
    watched *w = data;
    w->fd = fd;
    w->events = events;
    w->calls++;
}

static void bus_arguments_and_glue(void **state)
{
    room_redis_config cfg;
    room_redis *bus;
    room_adapter *ad, *again;
    room_redis_stats st;
    watched w = {-1, 0, 0};
    (void)state;
    room_redis_config_init(&cfg);
    assert_int_equal(room_redis_new(&bus, &cfg), ROOM_EINVAL); /* no watch */
    cfg.watch = record_watch;
    cfg.watch_data = &w;
    cfg.url = "http://x";
    assert_int_equal(room_redis_new(&bus, &cfg), ROOM_EINVAL);
    cfg.url = "redis://127.0.0.1:99999";
    assert_int_equal(room_redis_new(&bus, &cfg), ROOM_EINVAL);
    cfg.url = "redis://:secret@127.0.0.1:1";
    cfg.node_id = "bad\"name";
    assert_int_equal(room_redis_new(&bus, &cfg), ROOM_EINVAL);
    cfg.node_id = "n1";
    assert_int_equal(room_redis_new(&bus, &cfg), 0);
    assert_int_equal(strlen(room_redis_uid(bus)), 12);
    /* Connecting: both sockets are watched for writing. */
    assert_true(w.calls >= 1);
    assert_true(w.fd >= 0);
    room_redis_get_stats(bus, &st);
    assert_int_equal(st.connected, 0);
    assert_int_equal(room_redis_adapter_new(bus, "/", &ad), 0);
    assert_int_equal(room_redis_adapter_new(bus, "/", &again), ROOM_EALREADY);
    assert_int_equal(room_redis_adapter_new(bus, "a#b", &again), ROOM_EINVAL);
    assert_int_equal(room_redis_adapter_bind(ad, NULL), ROOM_EINVAL);
    room_redis_adapter_free(ad);
    /* The refused connection is an outage: logged, retried. */
    assert_true(room_redis_tick(bus, 1) > 0);
    room_redis_free(bus);
    /* The descriptors were given back. */
    assert_int_equal(w.events, 0);
    room_redis_free(NULL);
    room_redis_adapter_free(NULL);
}

/* History envelopes as Redis' cmsgpack writes them (redis-cli eval
 * "return cmsgpack.pack({12, 'epochA', 1796042470123, '/0/data', 'xyz'})"
 * and the reset {0, 'e2', ..., '', ''}), the JSON pointer of a stamp, and
 * what neither takes. */
static void history_envelopes_and_pointers(void **state)
{
    uint8_t bytes[256];
    size_t len = unhex("950ca665706f636841cf000001a22c7932eba72f302f64617461a378797a", bytes);
    rr_history_msg m;
    json_t *argv[2], *stamp;
    char *ptr;
    bool nomem;
    (void)state;
    assert_int_equal(rr_decode_history(bytes, len, &m), 0);
    assert_int_equal(m.offset, 12);
    assert_string_equal(m.epoch, "epochA");
    assert_int_equal(m.time_ms, 1796042470123ull);
    assert_int_equal(m.pointer_len, 7);
    assert_memory_equal(m.pointer, "/0/data", 7);
    assert_int_equal(m.record_len, 3);
    assert_memory_equal(m.record, "xyz", 3);
    /* Truncated anywhere, or one byte too many: refused. */
    for (size_t n = 0; n < len; n++)
        assert_int_equal(rr_decode_history(bytes, n, &m), ROOM_EPROTO);
    bytes[len] = 0;
    assert_int_equal(rr_decode_history(bytes, len + 1, &m), ROOM_EPROTO);
    /* A message at offset 0, an epoch with a character epochs never have. */
    bytes[1] = 0;
    assert_int_equal(rr_decode_history(bytes, len, &m), ROOM_EPROTO);
    bytes[1] = 12;
    bytes[3] = '#';
    assert_int_equal(rr_decode_history(bytes, len, &m), ROOM_EPROTO);
    len = unhex("9500a26532cf000001a22c7932eba0a0", bytes);
    assert_int_equal(rr_decode_history(bytes, len, &m), 0);
    assert_int_equal(m.offset, 0);
    assert_string_equal(m.epoch, "e2");
    assert_int_equal(m.record_len, 0);

    /* Pointers: found by identity, escaped (~0 ~, ~1 /), resolved back. */
    argv[0] = json_pack("{s:s,s:{s:[i,{s:{}}]}}", "room", "r", "a/b~c", "list", 1, "k", "in");
    argv[1] = json_pack("{s:{}}", "data");
    stamp = json_object_get(json_array_get(json_object_get(json_object_get(argv[0], "a/b~c"), "list"), 1), "k");
    ptr = rr_pointer_of(room_allocator_libc(), argv, 2, stamp, &nomem);
    assert_string_equal(ptr, "/0/a~1b~0c/list/1/k");
    assert_ptr_equal(rr_pointer_resolve(argv, 2, ptr, strlen(ptr)), stamp);
    free(ptr);
    ptr = rr_pointer_of(room_allocator_libc(), argv, 2, json_object_get(argv[1], "data"), &nomem);
    assert_string_equal(ptr, "/1/data");
    free(ptr);
    stamp = json_object(); /* in no argument */
    assert_null(rr_pointer_of(room_allocator_libc(), argv, 2, stamp, &nomem));
    assert_false(nomem);
    json_decref(stamp);
    /* Not objects, out of range, malformed: no stamp. */
    assert_null(rr_pointer_resolve(argv, 2, "/0/room", 7));
    assert_null(rr_pointer_resolve(argv, 2, "/2", 2));
    assert_null(rr_pointer_resolve(argv, 2, "/01/data", 8));
    assert_null(rr_pointer_resolve(argv, 2, "0/data", 6));
    assert_null(rr_pointer_resolve(argv, 2, "/0/a~2b~0c", 10));
    assert_null(rr_pointer_resolve(argv, 2, "", 0));
    assert_ptr_equal(rr_pointer_resolve(argv, 2, "/0", 2), argv[0]);
    json_decref(argv[0]);
    json_decref(argv[1]);
}

/* Counts (count.c): a counted broadcast is still a broadcast to anyone
 * who reads three elements; a member count request is none; answers. */
static void counts_on_the_wire(void **state)
{
    const room_allocator *a = room_allocator_libc();
    json_t *arg = json_integer(5), *obj;
    rr_count_msg m;
    rr_broadcast b;
    rr_out out;
    uint8_t bytes[128];
    size_t len;
    const char *text;
    (void)state;
    rr_out_init(&out, a);
    assert_int_equal(rr_encode_broadcast_counted(&out, "u1", "/", "ev", &arg, 1, NULL, 0, "r", NULL,
                                                 "u1-7"), 0);
    assert_int_equal(rr_decode_broadcast(a, out.data, out.len, &b), 0);
    assert_string_equal(b.event, "ev");
    assert_int_equal(b.nrooms, 1);
    assert_true(rr_count_tag(b.root, &m));
    assert_int_equal(m.type, RR_COUNT_DELIVERIES);
    assert_string_equal(m.id, "u1-7");
    assert_string_equal(m.uid, "u1");
    rr_broadcast_release(a, &b);
    out.len = 0;
    assert_int_equal(rr_encode_broadcast(&out, "u1", "/", "ev", &arg, 1, NULL, 0, "r", NULL), 0);
    assert_int_equal(rr_decode_broadcast(a, out.data, out.len, &b), 0);
    assert_false(rr_count_tag(b.root, &m)); /* not counted */
    rr_broadcast_release(a, &b);
    assert_false(rr_count_decode_request(out.data, out.len, &m));

    /* A member count: [uid, nil, {rooms: [room]}, tag], no broadcast. */
    out.len = 0;
    assert_int_equal(rr_count_encode_request(&out, "u2", "the room", "u2-1"), 0);
    assert_int_equal(rr_decode_broadcast(a, out.data, out.len, &b), ROOM_EPROTO);
    assert_true(rr_count_decode_request(out.data, out.len, &m));
    assert_int_equal(m.type, RR_COUNT_MEMBERS);
    assert_string_equal(m.uid, "u2");
    assert_string_equal(m.id, "u2-1");
    assert_string_equal(m.room, "the room");
    rr_count_msg_release(&m);
    rr_out_release(&out);
    json_decref(arg);
    /* Its shape only: a packet, two rooms, a broadcast's tag type, an id
     * too long. */
    len = unhex("94a175c081a5726f6f6d7391a17282a474797065cc8da9726571756573744964a178", bytes);
    assert_true(rr_count_decode_request(bytes, len, &m));
    rr_count_msg_release(&m);
    len = unhex("94a175c081a5726f6f6d7392a172a17382a474797065cc8da9726571756573744964a178", bytes);
    assert_false(rr_count_decode_request(bytes, len, &m));
    len = unhex("94a1758081a5726f6f6d7391a17282a474797065cc8da9726571756573744964a178", bytes);
    assert_false(rr_count_decode_request(bytes, len, &m));
    len = unhex("94a175c081a5726f6f6d7391a17282a474797065cc8ca9726571756573744964a178", bytes);
    assert_false(rr_count_decode_request(bytes, len, &m));
    len = unhex("94a175c081a5726f6f6d7391a17282a474797065cc8da9726571756573744964"
                "d920" "3031323334353637383930313233343536373839303132333435363738393031", bytes);
    assert_false(rr_count_decode_request(bytes, len, &m));

    /* Answers: {"type": 142, "requestId", "count" >= 0}. */
    text = "{\"type\":142,\"requestId\":\"u1-7\",\"count\":3}";
    obj = rr_decode_object((const uint8_t *)text, strlen(text));
    assert_true(rr_count_decode_answer(obj, &m));
    assert_int_equal(m.count, 3);
    assert_string_equal(m.id, "u1-7");
    json_decref(obj);
    const char *bad[] = {
        "{\"type\":142,\"requestId\":\"u1-7\",\"count\":-1}",
        "{\"type\":142,\"requestId\":\"u1-7\",\"count\":\"3\"}",
        "{\"type\":142,\"count\":3}",
        "{\"type\":141,\"requestId\":\"u1-7\",\"count\":3}",
        "{\"requestId\":\"u1-7\"}",
        "{\"type\":142,\"requestId\":\"0123456789012345678901234567890123\",\"count\":3}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        obj = rr_decode_object((const uint8_t *)bad[i], strlen(bad[i]));
        assert_false(rr_count_decode_answer(obj, &m));
        json_decref(obj);
    }
}

static void count_encoders_with_failing_allocations(void **state)
{
    fake_alloc counts = {0};
    room_allocator a = fake_allocator(&counts);
    json_t *arg = json_pack("{s[iii]}", "k", 1, 2, 3);
    rr_out out;
    int rc;
    (void)state;
    for (size_t n = 1; n < 6; n++) {
        counts = (fake_alloc){.fail_at = n};
        rr_out_init(&out, &a);
        rc = rr_count_encode_request(&out, "u", "r", "u-1");
        assert_true(rc == 0 || rc == ROOM_ENOMEM);
        rr_out_release(&out);
        rr_out_init(&out, &a);
        rc = rr_encode_broadcast_counted(&out, "u", "/", "e", &arg, 1, NULL, 0, "r", NULL, "u-1");
        assert_true(rc == 0 || rc == ROOM_ENOMEM);
        rr_out_release(&out);
        assert_int_equal(counts.allocs, counts.frees);
    }
    json_decref(arg);
}

static void ignore_watch(int fd, int events, void *data)
{
    (void)fd, (void)events, (void)data;
}

typedef struct waited {
    int calls, status, partial;
    uint64_t count;
} waited;

static void by_id_done(room_hub *hub, int status, void *ud)
{
    waited *w = ud;
    (void)hub;
    w->calls++;
    w->status = status;
}

static void count_done(room_hub *hub, int status, uint64_t count, int partial, void *ud)
{
    waited *w = ud;
    (void)hub;
    w->calls++;
    w->status = status;
    w->count = count;
    w->partial = partial;
}

static int send_r(room_hub *hub, void *ud)
{
    (void)ud;
    return room_send_new(hub, "r", "ev", json_integer(1), NULL);
}

/* With Redis away: by-id operations wait for their timeout, or end with
 * ROOM_ECLOSED when the hub goes first (a Sails /leaveRoom pending at
 * shutdown frees its record then); counts answer at once, partial. */
static void waiting_callers_hear_the_end(void **state)
{
    fake_alloc counts = {0};
    fake_net net = {0};
    room_redis_config rcfg;
    room_config cfg;
    room_redis *bus;
    room_adapter *ad;
    fake_peer *p;
    waited timed = {0}, closed = {0}, emit = {0}, c = {0};
    json_t *arg = json_integer(1);
    (void)state;
    room_redis_config_init(&rcfg);
    rcfg.watch = ignore_watch;
    rcfg.url = "redis://127.0.0.1:1";
    rcfg.request_timeout_ms = 1000;
    rcfg.allocator = fake_allocator(&counts);
    assert_int_equal(room_redis_new(&bus, &rcfg), 0);
    assert_int_equal(room_redis_adapter_new(bus, "/", &ad), 0);
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.adapter = ad;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    assert_int_equal(room_redis_adapter_bind(ad, net.hub), 0);
    assert_int_equal(room_hub_counts_cluster(net.hub), 1);

    room_redis_tick(bus, 100);
    assert_int_equal(room_leave_id(net.hub, "AAAAAAAAAAAAAAAAAAAA", "r", by_id_done, &timed), 0);
    assert_int_equal(timed.calls, 0);
    room_redis_tick(bus, 600);
    assert_int_equal(room_leave_id(net.hub, "BBBBBBBBBBBBBBBBBBBB", "r", by_id_done, &closed), 0);
    assert_int_equal(room_emit_id(net.hub, "CCCCCCCCCCCCCCCCCCCC", "ev", &arg, 1, by_id_done, &emit), 0);
    /* The first times out (no node answered); the others still wait. */
    room_redis_tick(bus, 1200);
    assert_int_equal(timed.calls, 1);
    assert_int_equal(timed.status, ROOM_ENOTFOUND);
    assert_int_equal(closed.calls, 0);

    /* No other node can be asked: this node's count, partial, at once. */
    p = fake_open(&net);
    assert_int_equal(room_join(net.hub, p->conn, "r"), 0);
    assert_int_equal(room_member_count_cluster(net.hub, "r", count_done, &c), 0);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.partial, 1);
    assert_int_equal(room_count_deliveries(net.hub, send_r, NULL, count_done, &c), 1);
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.partial, 1);

    room_hub_free(net.hub);
    fake_peer_free(p);
    assert_int_equal(closed.calls, 1);
    assert_int_equal(closed.status, ROOM_ECLOSED);
    assert_int_equal(emit.calls, 1);
    assert_int_equal(emit.status, ROOM_ECLOSED);
    assert_int_equal(timed.calls, 1);
    room_redis_free(bus);
    assert_int_equal(counts.allocs, counts.frees);
    json_decref(arg);
}

/* ---- counts against a redis-server ---------------------------------------- */

static const char *redis_server_path(void)
{
    static const char *paths[] = {"/usr/bin/redis-server", "/usr/local/bin/redis-server"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    }
    return NULL;
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The descriptors the bus asked to be watched. */
typedef struct loop {
    struct pollfd fds[4];
    int n;
} loop;

static void loop_watch(int fd, int events, void *data)
{
    loop *l = data;
    int i;
    for (i = 0; i < l->n && l->fds[i].fd != fd; i++)
        ;
    if (!events) {
        if (i < l->n)
            l->fds[i] = l->fds[--l->n];
        return;
    }
    if (i == l->n) {
        assert_true(l->n < 4);
        l->n++;
    }
    l->fds[i].fd = fd;
    l->fds[i].events = (short)(((events & ROOM_REDIS_READABLE) ? POLLIN : 0) |
                               ((events & ROOM_REDIS_WRITABLE) ? POLLOUT : 0));
}

/* Runs the bus for up to `ms`, or until *calls reaches `want`. */
static void pump(room_redis *bus, loop *l, int ms, const int *calls, int want)
{
    uint64_t end = mono_ms() + (uint64_t)ms;
    while (mono_ms() < end && !(calls && *calls >= want)) {
        struct pollfd fds[4];
        int n = l->n, i;
        memcpy(fds, l->fds, sizeof fds);
        if (poll(fds, (nfds_t)n, 10) > 0) {
            for (i = 0; i < n; i++) {
                int ev = ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) ? ROOM_REDIS_READABLE : 0) |
                         ((fds[i].revents & POLLOUT) ? ROOM_REDIS_WRITABLE : 0);
                if (ev)
                    room_redis_io(bus, fds[i].fd, ev);
            }
        }
        room_redis_tick(bus, mono_ms());
    }
}

static pid_t start_redis(const char *path, int port, redisContext **pub)
{
    char portstr[16];
    pid_t pid;
    snprintf(portstr, sizeof portstr, "%d", port);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(path, path, "--port", portstr, "--bind", "127.0.0.1", "--save", "", "--appendonly",
              "no", (char *)NULL);
        _exit(127);
    }
    /* Up within 5 s, tried every 50 ms. */
    for (int i = 0; i < 100; i++) {
        *pub = redisConnect("127.0.0.1", port);
        if (*pub && !(*pub)->err)
            return pid;
        redisFree(*pub);
        *pub = NULL;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("redis-server did not start");
    return -1;
}

/* The next message the spy's subscription got (blocking, 5 s at most). */
static redisReply *spy_next(redisContext *spy)
{
    void *r = NULL;
    assert_int_equal(redisGetReply(spy, &r), REDIS_OK);
    assert_non_null(r);
    return r;
}

/* The other "node" answers `count` for request `id` of node `uid`. */
static void answer_for(redisContext *pub, const char *uid, const char *id, int count)
{
    char chan[96], msg[160];
    redisReply *r;
    snprintf(chan, sizeof chan, "socket.io-response#/#%s#", uid);
    snprintf(msg, sizeof msg, "{\"type\":142,\"requestId\":\"%s\",\"count\":%d}", id, count);
    r = redisCommand(pub, "PUBLISH %s %s", chan, msg);
    assert_non_null(r);
    freeReplyObject(r);
}

/* Redis' PUBLISH reply says how many subscribers got a count: this node's
 * own (an answer of 0) and the test's "node", which answers or stays
 * silent (then the count ends at count_timeout_ms, partial). A count still
 * waiting when the hub goes ends with ROOM_ECLOSED. */
static void counts_against_redis_server(void **state)
{
    const char *path = redis_server_path();
    fake_alloc counts = {0};
    fake_net net = {0};
    room_redis_config rcfg;
    room_redis_stats st;
    room_config cfg;
    room_redis *bus;
    room_adapter *ad;
    redisContext *pub, *spy;
    redisReply *r;
    rr_count_msg m;
    rr_broadcast b;
    struct timeval tv = {5, 0};
    loop l = {.n = 0};
    fake_peer *p;
    waited w = {0};
    uint64_t started;
    int port, connected = 0;
    pid_t pid;
    (void)state;
    if (!path)
        skip();
    assert_true((port = free_port()) > 0);
    pid = start_redis(path, port, &pub);

    room_redis_config_init(&rcfg);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    rcfg.url = url;
    rcfg.watch = loop_watch;
    rcfg.watch_data = &l;
    rcfg.count_timeout_ms = 300;
    rcfg.allocator = fake_allocator(&counts);
    assert_int_equal(room_redis_new(&bus, &rcfg), 0);
    assert_int_equal(room_redis_adapter_new(bus, "/", &ad), 0);
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.adapter = ad;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    assert_int_equal(room_redis_adapter_bind(ad, net.hub), 0);
    for (started = mono_ms(); !connected && mono_ms() - started < 5000;) {
        pump(bus, &l, 20, NULL, 0);
        room_redis_get_stats(bus, &st);
        connected = st.connected;
    }
    assert_true(connected);
    p = fake_open(&net);
    assert_int_equal(room_join(net.hub, p->conn, "r"), 0);
    /* The other node: a subscriber of the room's channel. */
    spy = redisConnect("127.0.0.1", port);
    assert_true(spy && !spy->err);
    redisSetTimeout(spy, tv);
    r = redisCommand(spy, "SUBSCRIBE socket.io#/#r#");
    assert_non_null(r);
    freeReplyObject(r);
    pump(bus, &l, 200, NULL, 0); /* our own SUBSCRIBE went through too */

    /* Silent: PUBLISH said 2, only our own copy came; the timeout ends it. */
    started = mono_ms();
    assert_int_equal(room_member_count_cluster(net.hub, "r", count_done, &w), 0);
    assert_int_equal(w.calls, 0);
    pump(bus, &l, 5000, &w.calls, 1);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.status, 0);
    assert_int_equal(w.count, 1);
    assert_int_equal(w.partial, 1);
    assert_true(mono_ms() - started >= 250);
    r = spy_next(spy); /* what it heard: a member count request */
    assert_true(rr_count_decode_request((const uint8_t *)r->element[2]->str, r->element[2]->len, &m));
    assert_string_equal(m.room, "r");
    assert_string_equal(m.uid, room_redis_uid(bus));
    rr_count_msg_release(&m);
    freeReplyObject(r);

    /* Answering: 4 members there, 1 here. */
    assert_int_equal(room_member_count_cluster(net.hub, "r", count_done, &w), 0);
    r = spy_next(spy);
    assert_true(rr_count_decode_request((const uint8_t *)r->element[2]->str, r->element[2]->len, &m));
    answer_for(pub, m.uid, m.id, 4);
    rr_count_msg_release(&m);
    freeReplyObject(r);
    pump(bus, &l, 5000, &w.calls, 2);
    assert_int_equal(w.calls, 2);
    assert_int_equal(w.count, 5);
    assert_int_equal(w.partial, 0);

    /* A counted broadcast: the other node delivered it to 3. */
    assert_int_equal(room_count_deliveries(net.hub, send_r, NULL, count_done, &w), 1);
    r = spy_next(spy);
    assert_int_equal(rr_decode_broadcast(room_allocator_libc(), (const uint8_t *)r->element[2]->str,
                                         r->element[2]->len, &b), 0);
    assert_string_equal(b.event, "ev");
    assert_true(rr_count_tag(b.root, &m));
    answer_for(pub, m.uid, m.id, 3);
    rr_broadcast_release(room_allocator_libc(), &b);
    freeReplyObject(r);
    pump(bus, &l, 5000, &w.calls, 3);
    assert_int_equal(w.calls, 3);
    assert_int_equal(w.count, 4);
    assert_int_equal(w.partial, 0);

    /* The hub goes with a count waiting. */
    assert_int_equal(room_member_count_cluster(net.hub, "r", count_done, &w), 0);
    room_hub_free(net.hub);
    fake_peer_free(p);
    assert_int_equal(w.calls, 4);
    assert_int_equal(w.status, ROOM_ECLOSED);
    room_redis_free(bus);
    assert_int_equal(counts.allocs, counts.frees);
    redisFree(spy);
    redisFree(pub);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* Recovery across nodes (lib/redis/resume.c): the answer that hands a
 * session over, with a binary argument; refusals; every truncation and
 * wrong shape refused; every allocation failing. */
static void resume_answers(void **state)
{
    fake_alloc counts = {0};
    room_allocator a = fake_allocator(&counts);
    const uint8_t blob[2] = {7, 0};
    room_bytes att = {blob, sizeof blob};
    json_t *one = json_integer(1), *ph = json_pack("{sbsi}", "_placeholder", 1, "num", 0);
    json_t *argv1[1] = {one}, *argv2[2] = {one, ph};
    const char *rooms[2] = {"r", "s"};
    room_resume_event evs[2] = {{"n", argv1, 1, NULL, 0}, {"b", argv2, 2, &att, 1}};
    room_resume_session s = {"ABCDEFGHIJKLMNOPQRST", rooms, 2, evs, 2};
    rr_resume_answer r;
    rr_out out, no;
    uint8_t bad[512];
    size_t n;
    int rc;
    (void)state;

    rr_out_init(&out, &a);
    assert_int_equal(rr_encode_resume_answer(&out, "u1", "/", "req1", &s), 0);
    assert_int_equal(rr_decode_resume_answer(&a, out.data, out.len, &r), 0);
    assert_string_equal(r.request_id, "req1");
    assert_true(r.accepted);
    assert_string_equal(r.id, s.conn_id);
    assert_int_equal(r.nrooms, 2);
    assert_string_equal(r.rooms[1], "s");
    assert_int_equal(r.nevents, 2);
    assert_string_equal(r.ev[0].event, "n");
    assert_int_equal(r.ev[0].argc, 1);
    assert_true(json_equal(r.ev[0].argv[0], one));
    assert_string_equal(r.ev[1].event, "b");
    assert_int_equal(r.ev[1].argc, 2);
    assert_true(json_equal(r.ev[1].argv[1], ph));
    assert_int_equal(r.ev[1].attachment_count, 1);
    assert_int_equal(r.ev[1].attachments[0].len, 2);
    assert_int_equal(memcmp(r.ev[1].attachments[0].data, blob, 2), 0);
    rr_resume_answer_release(&a, &r);

    rr_out_init(&no, &a);
    assert_int_equal(rr_encode_resume_answer(&no, "u1", "/", "req2", NULL), 0);
    assert_int_equal(rr_decode_resume_answer(&a, no.data, no.len, &r), 0);
    assert_false(r.accepted);
    assert_string_equal(r.request_id, "req2");
    assert_null(r.id);
    rr_resume_answer_release(&a, &r);

    /* Every truncation, and a trailing byte, is refused. */
    for (n = 0; n < out.len; n++)
        assert_int_equal(rr_decode_resume_answer(&a, out.data, n, &r), ROOM_EPROTO);
    assert_true(out.len < sizeof bad);
    memcpy(bad, out.data, out.len);
    bad[out.len] = 0xc0;
    assert_int_equal(rr_decode_resume_answer(&a, bad, out.len + 1, &r), ROOM_EPROTO);
    /* Wrong shapes: another type, no "accepted", an event that is no bin,
     * a NUL in the id, a request (JSON). */
    {
        static const char *const shapes[] = {
            "83a9726571756573744964a172a47479706570a86163636570746564c2", /* type 112 */
            "82a9726571756573744964a172a4747970656f",                     /* no accepted */
            "86a9726571756573744964a172a4747970656fa86163636570746564c3a26964a141a5726f6f6d7390a66576656e74739101",
            "86a9726571756573744964a172a4747970656fa86163636570746564c3a26964a24100a5726f6f6d7390a66576656e747390",
            "86a9726571756573744964a172a4747970656fa86163636570746564c3a26964a141a5726f6f6d739101a66576656e747390",
            "86a9726571756573744964a172a4747970656fa86163636570746564c3a26964a141a5726f6f6d7390a66576656e747391c40101",
        };
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            n = unhex(shapes[i], bad);
            assert_int_equal(rr_decode_resume_answer(&a, bad, n, &r), ROOM_EPROTO);
        }
        n = unhex("86a9726571756573744964a172a4747970656fa86163636570746564c3a26964a141a5726f6f6d7390a66576656e747390", bad);
        assert_int_equal(rr_decode_resume_answer(&a, bad, n, &r), 0);
        assert_string_equal(r.id, "A");
        rr_resume_answer_release(&a, &r);
    }
    assert_int_equal(rr_decode_resume_answer(&a, (const uint8_t *)"{}", 2, &r), ROOM_EPROTO);
    assert_int_equal(counts.allocs, counts.frees + 2); /* out and no */

    for (n = 1; n < 40; n++) {
        fake_alloc c = {.fail_at = n};
        room_allocator fa = fake_allocator(&c);
        rr_out o;
        rc = rr_decode_resume_answer(&fa, out.data, out.len, &r);
        assert_true(rc == 0 || rc == ROOM_ENOMEM);
        if (rc == 0)
            rr_resume_answer_release(&fa, &r);
        rr_out_init(&o, &fa);
        rc = rr_encode_resume_answer(&o, "u1", "/", "req1", &s);
        assert_true(rc == 0 || rc == ROOM_ENOMEM);
        rr_out_release(&o);
        assert_int_equal(c.allocs, c.frees);
    }
    rr_out_release(&out);
    rr_out_release(&no);
    assert_int_equal(counts.allocs, counts.frees);
    json_decref(one);
    json_decref(ph);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_the_emitter),  cmocka_unit_test(encodes_what_it_decodes),
        cmocka_unit_test(refuses_hostile_input), cmocka_unit_test(requests_round_trip),
        cmocka_unit_test(failing_allocations),  cmocka_unit_test(bus_arguments_and_glue),
        cmocka_unit_test(counts_on_the_wire),   cmocka_unit_test(count_encoders_with_failing_allocations),
        cmocka_unit_test(waiting_callers_hear_the_end),
        cmocka_unit_test(counts_against_redis_server),
        cmocka_unit_test(resume_answers),
        cmocka_unit_test(history_envelopes_and_pointers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
