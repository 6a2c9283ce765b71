/* Strict UTF-8 validation (RFC 3629): no overlongs, surrogates or values
 * past U+10FFFF. */
#include "internal.h"

int room_utf8_walk(const void *bytes, size_t len, size_t max_units, size_t *bytes_out,
                   size_t *units_out)
{
    const unsigned char *s = bytes;
    size_t i = 0, units = 0;
    if ((!s && len) || !bytes_out || !units_out)
        return ROOM_EINVAL;
    while (i < len && units < max_units) {
        unsigned char c = s[i];
        size_t n, k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            units++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return ROOM_EPROTO;
        }
        if (len - i <= n)
            return ROOM_EPROTO;
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return ROOM_EPROTO;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF. */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return ROOM_EPROTO;
        /* Beyond the BMP a character is a surrogate pair. */
        if (units + (n == 3 ? 2 : 1) > max_units)
            break;
        units += n == 3 ? 2 : 1;
        i += n + 1;
    }
    *bytes_out = i;
    *units_out = units;
    return 0;
}

bool rm_utf8_valid(const unsigned char *s, size_t len)
{
    size_t bytes, units;
    return room_utf8_walk(s, len, SIZE_MAX, &bytes, &units) == 0 && bytes == len;
}
