/* libroom-redis without a server: the wire (msgpack broadcasts as
 * @socket.io/redis-adapter and the emitter write them, JSON requests), its
 * checks against hostile input, and the bus's loop glue and arguments. The
 * cluster itself is tests/interop/cluster.test.js, against redis-server. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_the_emitter),  cmocka_unit_test(encodes_what_it_decodes),
        cmocka_unit_test(refuses_hostile_input), cmocka_unit_test(requests_round_trip),
        cmocka_unit_test(failing_allocations),  cmocka_unit_test(bus_arguments_and_glue),
        cmocka_unit_test(history_envelopes_and_pointers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
