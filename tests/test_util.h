/* cmocka needs these before <cmocka.h>. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fake.h"
#include "room/adapter.h"
#include "room/codec.h"

/* Asserts that the last frame `p` got is an `error` event with data.code. */
static inline void assert_error_code(const fake_peer *p, const char *code)
{
    json_t *j;
    assert_true(p->nframes > 0);
    j = fake_json(p, p->nframes - 1);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "event")), "error");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(j, "data"), "data"), "code")),
        code);
    assert_non_null(json_string_value(json_object_get(json_object_get(j, "data"), "msg")));
    json_decref(j);
}
#endif
