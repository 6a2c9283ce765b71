/* frame.c: reference counts, sealing, chains. */
#include <string.h>

#include "test_util.h"

static int null_send(void *t, room_frame *f, void *ud)
{
    (void)t, (void)f, (void)ud;
    return 0;
}

/* A stand-in transport header: '<' + length byte + '>'. */
static size_t seal3(const room_frame *f, uint8_t *header, void *ud)
{
    size_t len;
    (void)ud;
    room_frame_payload(f, &len);
    header[0] = '<';
    header[1] = (uint8_t)('0' + len);
    header[2] = '>';
    return 3;
}

static void refcount_and_seal(void **state)
{
    room_config cfg;
    fake_alloc fa = {0};
    room_hub *hub;
    room_frame *f;
    size_t len;
    const uint8_t *wire;
    (void)state;
    room_config_init(&cfg);
    cfg.send = null_send;
    cfg.seal = seal3;
    cfg.seal_headroom = 8;
    cfg.allocator = fake_allocator(&fa);
    assert_int_equal(room_hub_new(&hub, &cfg), 0);
    f = room_frame_new(hub, ROOM_FRAME_TEXT, "hello", 5);
    assert_non_null(f);
    assert_int_equal(room_frame_kind(f), ROOM_FRAME_TEXT);
    assert_int_equal(room_frame_header_len(f), 3);
    wire = room_frame_wire(f, &len);
    assert_int_equal(len, 8);
    assert_memory_equal(wire, "<5>hello", 8);
    assert_memory_equal(room_frame_payload(f, &len), "hello", 5);
    assert_int_equal(len, 5);
    assert_null(room_frame_next(f));
    assert_ptr_equal(room_frame_ref(f), f);
    room_frame_unref(f);
    size_t frees = fa.frees;
    room_frame_unref(f);
    assert_int_equal(fa.frees, frees + 1); /* the last reference frees it */
    room_frame_unref(NULL);
    assert_null(room_frame_new(hub, 7, "x", 1));
    assert_null(room_frame_new(hub, ROOM_FRAME_TEXT, NULL, 3));
    room_hub_free(hub);
    assert_int_equal(fa.allocs, fa.frees);
}

static void unsealed_frames_have_no_header(void **state)
{
    room_config cfg;
    room_hub *hub;
    room_frame *f;
    size_t len;
    (void)state;
    room_config_init(&cfg);
    cfg.send = null_send;
    assert_int_equal(room_hub_new(&hub, &cfg), 0);
    f = room_frame_new(hub, ROOM_FRAME_BINARY, "\0\1\2", 3);
    assert_int_equal(room_frame_header_len(f), 0);
    assert_memory_equal(room_frame_wire(f, &len), "\0\1\2", 3);
    assert_int_equal(room_frame_kind(f), ROOM_FRAME_BINARY);
    room_frame_unref(f);
    room_hub_free(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refcount_and_seal),
        cmocka_unit_test(unsealed_frames_have_no_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
