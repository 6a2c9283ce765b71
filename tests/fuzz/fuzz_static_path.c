/* roomd's static file paths (examples/roomd/static_path.c): the input is a
 * request path as a client sends it. Checked: only the documented results;
 * a path it accepts is relative, NUL-free, within the buffer, with no
 * empty segment and none starting with '.' ("..", ".", hidden files); and
 * one without '%' comes out as its segments joined by single '/'. */
#include <stdbool.h>
#include <string.h>

#include "../../examples/roomd/static.h"
#include "fuzz.h"

#define CAP 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[CAP + 1], want[CAP * 4 + 8];
    const char *p = (const char *)data;
    size_t n, i, w = 0;
    int rc;

    memset(out, 'x', sizeof out);
    rc = roomd_static_path(p, size, out, CAP);
    FUZZ_CHECK(rc == 0 || rc == 400 || rc == 404 || rc == 414);
    if (rc != 0)
        return 0;
    n = strnlen(out, CAP);
    FUZZ_CHECK(n < CAP - 1);
    FUZZ_CHECK(n == 0 || (out[0] != '/' && out[n - 1] != '/'));
    for (i = 0; i < n; i++) {
        bool start = i == 0 || out[i - 1] == '/';
        FUZZ_CHECK(!(start && (out[i] == '/' || out[i] == '.')));
    }
    if (memchr(p, '%', size) || size > CAP)
        return 0;
    /* Without encoding: the segments as they were, "//" as one. */
    for (i = 0; i < size; i++) {
        if (p[i] == '/') {
            if (w && want[w - 1] != '/')
                want[w++] = '/';
        } else {
            want[w++] = p[i];
        }
    }
    if (w && want[w - 1] == '/')
        w--;
    FUZZ_CHECK(n == w && memcmp(out, want, n) == 0);
    return 0;
}
