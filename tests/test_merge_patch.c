/* merge_patch.c: RFC 7386's examples (appendix A). */
#include <string.h>

#include "room/presence.h"
#include "test_util.h"

static void check(const char *target, const char *patch, const char *want)
{
    json_t *t = target ? json_loads(target, JSON_DECODE_ANY, NULL) : NULL;
    json_t *p = json_loads(patch, JSON_DECODE_ANY, NULL);
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(p);
    assert_int_equal(room_merge_patch(&t, p), 0);
    if (!json_equal(t, w)) {
        char *got = json_dumps(t, JSON_ENCODE_ANY | JSON_COMPACT);
        fail_msg("%s + %s gave %s, want %s", target ? target : "(absent)", patch, got, want);
    }
    json_decref(t);
    json_decref(p);
    json_decref(w);
}

static void rfc7386_examples(void **state)
{
    (void)state;
    check("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    check("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
    check("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    check("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
    check("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    check("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
    check("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
    check("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
    check("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
    check("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
    check("{\"a\":\"foo\"}", "null", "null");
    check("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
    check("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    check("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
    check("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
    check(NULL, "{\"a\":1}", "{\"a\":1}");
}

/* The target's old value is not modified: a failure, or a caller holding
 * it, sees it unchanged. */
static void target_untouched(void **state)
{
    json_t *old = json_pack("{s:{s:i}}", "a", "b", 1);
    json_t *t = json_incref(old);
    json_t *p = json_pack("{s:{s:i}}", "a", "b", 2);
    (void)state;
    assert_int_equal(room_merge_patch(&t, p), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(old, "a"), "b")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(t, "a"), "b")), 2);
    assert_int_equal(room_merge_patch(NULL, p), ROOM_EINVAL);
    assert_int_equal(room_merge_patch(&t, NULL), ROOM_EINVAL);
    json_decref(old);
    json_decref(t);
    json_decref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc7386_examples),
        cmocka_unit_test(target_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
