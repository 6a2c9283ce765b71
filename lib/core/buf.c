/* Growing output buffer used by codecs to encode into. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

void rm_buf_init(room_buf *buf, rm_alloc *alloc)
{
    buf->alloc = alloc;
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

void rm_buf_release(room_buf *buf)
{
    rm_free(buf->alloc, buf->data, buf->cap);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

/* A buffer of its own carries the allocator its memory comes from. */
typedef struct owned_buf {
    room_buf buf;
    rm_alloc alloc;
} owned_buf;

int room_buf_new(room_buf **buf_out, const room_allocator *alloc)
{
    owned_buf *ob;
    rm_alloc a;
    if (!buf_out)
        return ROOM_EINVAL;
    rm_alloc_init(&a, alloc);
    ob = rm_malloc(&a, sizeof *ob);
    *buf_out = NULL;
    if (!ob)
        return ROOM_ENOMEM;
    ob->alloc = a;
    rm_buf_init(&ob->buf, &ob->alloc);
    *buf_out = &ob->buf;
    return 0;
}

void room_buf_free(room_buf *buf)
{
    owned_buf *ob = (owned_buf *)buf; /* buf is its first member */
    rm_alloc a;
    if (!buf)
        return;
    rm_buf_release(buf);
    a = ob->alloc;
    rm_free(&a, ob, sizeof *ob);
}

void room_buf_reset(room_buf *buf)
{
    if (buf)
        buf->len = 0;
}

const uint8_t *room_buf_data(const room_buf *buf)
{
    return buf ? buf->data : NULL;
}

int room_buf_append(room_buf *buf, const void *bytes, size_t len)
{
    if (!buf || (!bytes && len))
        return ROOM_EINVAL;
    if (len > buf->cap - buf->len) {
        size_t ncap = buf->cap ? buf->cap : 256;
        uint8_t *p;
        if (len > SIZE_MAX / 2 - buf->len)
            return ROOM_ENOMEM;
        while (ncap - buf->len < len)
            ncap *= 2;
        p = rm_realloc(buf->alloc, buf->data, buf->cap, ncap);
        if (!p)
            return ROOM_ENOMEM;
        buf->data = p;
        buf->cap = ncap;
    }
    if (len)
        memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    return 0;
}

static int dump_cb(const char *chunk, size_t size, void *data)
{
    return room_buf_append(data, chunk, size) == 0 ? 0 : -1;
}

int room_buf_append_json(room_buf *buf, const json_t *json)
{
    size_t before;
    if (!buf || !json)
        return ROOM_EINVAL;
    /* Strings are the most common broadcast payload; jansson escapes them a
     * code point at a time, this copies unescaped runs whole. Same output:
     * neither escapes '/' or non-ASCII. */
    if (json_is_string(json))
        return rm_buf_append_json_stringn(buf, json_string_value(json), json_string_length(json));
    before = buf->len;
    if (json_dump_callback(json, dump_cb, buf, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
        buf->len = before;
        return ROOM_ENOMEM;
    }
    return 0;
}

size_t room_buf_len(const room_buf *buf)
{
    return buf ? buf->len : 0;
}

/* jansson's spelling of the escapes JSON has a short form for; 0 for the
 * other control characters, which become \u00XX. */
static char short_escape(unsigned char c)
{
    switch (c) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    default:
        return 0;
    }
}

/* Whether any of the 8 bytes of `w` needs escaping: a control character,
 * '"' or '\\'. The usual word-at-a-time tests; each is exact for "is there
 * any such byte", and bytes of 0x80 and up never match. */
static bool word_needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    uint64_t any = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
                   ((w - ones * 0x20) & ~w);
    return (any & high) != 0;
}

/* Escapes `len` bytes of UTF-8 (which may hold NUL) as a JSON string. */
int rm_buf_append_json_stringn(room_buf *buf, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t before = buf->len;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    int rc = rm_buf_put(buf, "\"", 1);
    while (rc == 0 && p < end) {
        const unsigned char *run = p;
        for (;;) {
            uint64_t w;
            if (end - p < 8)
                break;
            memcpy(&w, p, 8);
            if (word_needs_escape(w))
                break;
            p += 8;
        }
        while (p < end && *p >= 0x20 && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            rc = rm_buf_put(buf, run, (size_t)(p - run));
        if (rc == 0 && p < end) {
            char letter = short_escape(*p);
            char esc[6] = {'\\', letter ? letter : 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            rc = rm_buf_put(buf, esc, letter ? 2 : 6);
            p++;
        }
    }
    if (rc == 0)
        rc = rm_buf_put(buf, "\"", 1);
    if (rc)
        buf->len = before;
    return rc;
}

int room_buf_append_json_string(room_buf *buf, const char *s)
{
    if (!buf || !s)
        return ROOM_EINVAL;
    return rm_buf_append_json_stringn(buf, s, strlen(s));
}

int room_buf_append_int(room_buf *buf, int64_t v)
{
    char tmp[24];
    int n;
    if (!buf)
        return ROOM_EINVAL;
    n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    return rm_buf_put(buf, tmp, (size_t)n);
}
