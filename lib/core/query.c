/* URL query strings ("room=5&name=Ana%20B"), as a WebSocket upgrade request
 * carries them, decoded into a JSON object for "connect" handlers. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent- and '+'-decodes s[0..len) into out (room for len bytes);
 * returns the decoded length, or -1 for a broken escape. */
static long decode(const char *s, size_t len, char *out)
{
    size_t i, o = 0;
    for (i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] != '%') {
            out[o++] = s[i];
        } else {
            int hi, lo;
            if (i + 2 >= len)
                return -1;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        }
    }
    return (long)o;
}

/* One "key=value" (or bare "key") into obj. */
static int add_param(json_t *obj, const char *p, const char *stop, char *scratch)
{
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    const char *vstart = eq ? eq + 1 : stop;
    char *key = scratch, *val;
    long klen = decode(p, (size_t)((eq ? eq : stop) - p), key), vlen;
    json_t *value;

    if (klen <= 0 || memchr(key, '\0', (size_t)klen))
        return ROOM_EPROTO;
    val = key + klen;
    vlen = decode(vstart, (size_t)(stop - vstart), val);
    if (vlen < 0 || !rm_utf8_valid((const unsigned char *)key, (size_t)klen) ||
        !rm_utf8_valid((const unsigned char *)val, (size_t)vlen))
        return ROOM_EPROTO;
    value = json_stringn(val, (size_t)vlen);
    if (!value)
        return ROOM_ENOMEM;
    return json_object_setn_new(obj, key, (size_t)klen, value) == 0 ? 0 : ROOM_ENOMEM;
}

int room_query_parse(const char *query, size_t len, json_t **out)
{
    const char *p = query, *end;
    json_t *obj;
    char *scratch;
    int rc = 0;

    if (!out || (!query && len))
        return ROOM_EINVAL;
    *out = NULL;
    /* An upgrade without '?' has no query: (NULL, 0). NULL + 0 is undefined
     * in C, so the end is computed only for a real string. */
    end = query ? query + len : NULL;
    obj = json_object();
    /* Decoding never grows a parameter: one buffer of the whole length. */
    scratch = malloc(len + 1);
    if (!obj || !scratch) {
        json_decref(obj);
        free(scratch);
        return ROOM_ENOMEM;
    }
    while (rc == 0 && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
        if (stop > p)
            rc = add_param(obj, p, stop, scratch);
        p = stop + 1;
    }
    free(scratch);
    if (rc) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return 0;
}
