/* The path of a request for a static file, made a path relative to the
 * root (static.h): percent-decoded once, segment by segment, refusing
 * whatever could name something outside the root or hidden in it. What
 * the file system then does with symlinks is static.c's business. */
#include "static.h"

#include <stdbool.h>

static int hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int roomd_static_path(const char *p, size_t len, char *out, size_t cap)
{
    size_t i = 0, n = 0, seg = 0;
    while (i < len) {
        char c = p[i++];
        bool encoded = false;
        if (c == '%') {
            int hi, lo;
            if (i + 2 > len || (hi = hex(p[i])) < 0 || (lo = hex(p[i + 1])) < 0)
                return 400;
            c = (char)(hi * 16 + lo);
            i += 2;
            encoded = true;
        }
        /* An encoded separator would let a segment check miss a "..". */
        if (c == '\0' || (encoded && (c == '/' || c == '\\')))
            return 404;
        if (c == '/') {
            /* "//" is one separator; the leading '/' is none. */
            if (n > seg)
                out[n++] = '/';
            seg = n;
            continue;
        }
        /* ".", "..", and hidden files: never served. */
        if (n == seg && c == '.')
            return 404;
        if (n + 2 >= cap)
            return 414;
        out[n++] = c;
    }
    if (n && out[n - 1] == '/')
        n--;
    out[n] = '\0';
    return 0;
}
