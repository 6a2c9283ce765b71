/* The public helpers a layer above the core builds on (buf.c, json_load.c,
 * random.c, log.c): its own buffers, inbound JSON, ids and log lines. */
#include <stdio.h>
#include <string.h>

#include "test_util.h"

static void buffers_of_their_own(void **state)
{
    fake_alloc counts = {0};
    room_allocator alloc = fake_allocator(&counts);
    room_buf *buf = (room_buf *)1;
    char big[600];
    (void)state;

    assert_int_equal(room_buf_new(NULL, &alloc), ROOM_EINVAL);
    assert_int_equal(room_buf_new(&buf, &alloc), 0);
    assert_null(room_buf_data(buf));
    assert_int_equal(room_buf_len(buf), 0);
    assert_int_equal(room_buf_append(buf, "[", 1), 0);
    assert_int_equal(room_buf_append_json_string(buf, "a\"b\n\x01"), 0);
    assert_int_equal(room_buf_append(buf, ",", 1), 0);
    assert_int_equal(room_buf_append_int(buf, -9007199254740992), 0);
    assert_int_equal(room_buf_append(buf, "]", 1), 0);
    assert_int_equal(room_buf_len(buf), strlen("[\"a\\\"b\\n\\u0001\",-9007199254740992]"));
    assert_memory_equal(room_buf_data(buf), "[\"a\\\"b\\n\\u0001\",-9007199254740992]",
                        room_buf_len(buf));
    assert_int_equal(room_buf_append_json_string(buf, NULL), ROOM_EINVAL);
    assert_int_equal(room_buf_append_int(NULL, 1), ROOM_EINVAL);

    /* Reset keeps the memory: refilling allocates nothing. */
    room_buf_reset(buf);
    assert_int_equal(room_buf_len(buf), 0);
    counts.fail_at = counts.allocs + 1;
    assert_int_equal(room_buf_append(buf, "x", 1), 0);
    assert_int_equal(counts.failures, 0);
    /* Growing fails cleanly and keeps what the buffer had. */
    memset(big, 'a', sizeof big);
    assert_int_equal(room_buf_append(buf, big, sizeof big), ROOM_ENOMEM);
    assert_int_equal(room_buf_len(buf), 1);
    counts.fail_at = 0;
    room_buf_free(buf);
    room_buf_free(NULL);
    assert_int_equal(counts.allocs, counts.frees);

    counts.fail_at = counts.allocs + counts.failures + 1;
    buf = (room_buf *)1;
    assert_int_equal(room_buf_new(&buf, &alloc), ROOM_ENOMEM);
    assert_null(buf);
    /* No allocator: the C library's. */
    assert_int_equal(room_buf_new(&buf, NULL), 0);
    assert_int_equal(room_buf_append(buf, big, sizeof big), 0);
    room_buf_free(buf);
}

static void loads_json(void **state)
{
    json_t *v = (json_t *)1;
    (void)state;
    assert_int_equal(room_json_load("[1,{}]", 6, 0, &v), 0);
    assert_true(json_is_array(v));
    json_decref(v);
    assert_int_equal(room_json_load("[1,", 3, 0, &v), ROOM_EJSON);
    assert_null(v);
    assert_int_equal(room_json_load("\"x\"", 3, 0, &v), ROOM_EJSON);
    assert_int_equal(room_json_load("\"x\"", 3, JSON_DECODE_ANY, &v), 0);
    json_decref(v);
    assert_int_equal(room_json_load("{}", 2, 0, NULL), ROOM_EINVAL);
}

static int fixed_random(void *buf, size_t len, void *ud)
{
    memset(buf, *(int *)ud, len);
    return *(int *)ud == 0xff ? -1 : 0;
}

static void generates_ids(void **state)
{
    char a[ROOM_CONN_ID_LEN + 1], b[ROOM_CONN_ID_LEN + 1];
    int byte = 0;
    (void)state;
    assert_int_equal(room_id_generate(a, fixed_random, &byte), 0);
    assert_string_equal(a, "AAAAAAAAAAAAAAAAAAAA");
    byte = 0xfb; /* 111110 111111 101111 111011: every sixth bit pattern's end */
    assert_int_equal(room_id_generate(a, fixed_random, &byte), 0);
    assert_string_equal(a, "-_v7-_v7-_v7-_v7-_v7");
    byte = 0xff;
    assert_int_equal(room_id_generate(a, fixed_random, &byte), ROOM_EINVAL);
    /* getrandom(2): two ids differ. */
    assert_int_equal(room_id_generate(a, NULL, NULL), 0);
    assert_int_equal(room_id_generate(b, NULL, NULL), 0);
    assert_int_equal(strlen(a), ROOM_CONN_ID_LEN);
    assert_string_not_equal(a, b);
}

static char logged[300];
static int logged_level;
static void record(int level, const char *message, void *ud)
{
    snprintf(logged, sizeof logged, "%s%s", (const char *)ud, message);
    logged_level = level;
}

static void formats_log_lines(void **state)
{
    char longer[400];
    (void)state;
    room_logf(record, "hub: ", ROOM_LOG_WARN, "%d %s", 7, "x");
    assert_string_equal(logged, "hub: 7 x");
    assert_int_equal(logged_level, ROOM_LOG_WARN);
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    room_logf(record, "", ROOM_LOG_INFO, "%s", longer);
    assert_int_equal(strlen(logged), 255);
    room_logf(NULL, NULL, ROOM_LOG_ERROR, "%s", "nobody listens");
}

/* room_utf8_walk() counts what JavaScript counts (UTF-16 units), stops
 * before a character that would pass the limit, and refuses what RFC 3629
 * forbids. */
static void walks_utf8(void **state)
{
    /* "a", U+00E9, U+20AC, U+1F600: 1 + 1 + 1 + 2 units in 1 + 2 + 3 + 4 bytes. */
    static const char text[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    static const char *const bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xff"};
    size_t bytes, units, i;
    (void)state;
    assert_int_equal(room_utf8_walk(text, 10, SIZE_MAX, &bytes, &units), 0);
    assert_int_equal(bytes, 10);
    assert_int_equal(units, 5);
    /* The emoji's pair would pass 4 units: the walk stops before it. */
    assert_int_equal(room_utf8_walk(text, 10, 4, &bytes, &units), 0);
    assert_int_equal(bytes, 6);
    assert_int_equal(units, 3);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(room_utf8_walk(bad[i], strlen(bad[i]), SIZE_MAX, &bytes, &units), ROOM_EPROTO);
    assert_int_equal(room_utf8_walk(NULL, 1, 1, &bytes, &units), ROOM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buffers_of_their_own),
        cmocka_unit_test(loads_json),
        cmocka_unit_test(generates_ids),
        cmocka_unit_test(formats_log_lines),
        cmocka_unit_test(walks_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
