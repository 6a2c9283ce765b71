/* History rooms' wire (docs/cluster.md, "History"): the envelope the Lua
 * scripts write ([offset, epoch, time_ms, pointer, record], read without
 * allocating), and the JSON pointer (RFC 6901) of a message's stamp in its
 * arguments, both ways. Untrusted input: fuzz_redis reads every input as
 * an envelope too. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static bool read_uint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
    uint8_t c;
    size_t n, i;
    if (*pos >= len)
        return false;
    c = p[(*pos)++];
    if (c <= 0x7f) {
        *out = c;
        return true;
    }
    if (c < 0xcc || c > 0xcf)
        return false;
    n = (size_t)1 << (c - 0xcc);
    if (len - *pos < n)
        return false;
    for (*out = 0, i = 0; i < n; i++)
        *out = (*out << 8) | p[(*pos)++];
    return true;
}

/* A str (or bin: the same bytes) into the input. */
static bool read_str(const uint8_t *p, size_t len, size_t *pos, const uint8_t **s, size_t *n)
{
    uint8_t c;
    size_t head = 0, i;
    if (*pos >= len)
        return false;
    c = p[(*pos)++];
    if (c >= 0xa0 && c <= 0xbf) {
        *n = c & 0x1f;
    } else {
        switch (c) {
        case 0xd9: case 0xc4: head = 1; break;
        case 0xda: case 0xc5: head = 2; break;
        case 0xdb: case 0xc6: head = 4; break;
        default: return false;
        }
        if (len - *pos < head)
            return false;
        for (*n = 0, i = 0; i < head; i++)
            *n = (*n << 8) | p[(*pos)++];
    }
    if (len - *pos < *n)
        return false;
    *s = p + *pos;
    *pos += *n;
    return true;
}

int rr_decode_history(const uint8_t *bytes, size_t len, rr_history_msg *out)
{
    const uint8_t *epoch;
    size_t pos = 0, elen, i;
    memset(out, 0, sizeof *out);
    if (!bytes || len < 1 || bytes[pos++] != 0x95 || !read_uint(bytes, len, &pos, &out->offset) ||
        !read_str(bytes, len, &pos, &epoch, &elen) || elen < 1 || elen > ROOM_EPOCH_MAX ||
        !read_uint(bytes, len, &pos, &out->time_ms) ||
        !read_str(bytes, len, &pos, (const uint8_t **)&out->pointer, &out->pointer_len) ||
        !read_str(bytes, len, &pos, &out->record, &out->record_len) || pos != len)
        return ROOM_EPROTO;
    for (i = 0; i < elen; i++) {
        uint8_t c = epoch[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return ROOM_EPROTO;
    }
    memcpy(out->epoch, epoch, elen);
    out->epoch[elen] = '\0';
    /* A reset names no stamp; a message has an offset. */
    if ((!out->record_len && out->pointer_len) || (out->record_len && !out->offset))
        return ROOM_EPROTO;
    return 0;
}

/* The next token of a pointer, unescaped (~0 '~', ~1 '/') into `buf`. */
static bool token(const char **p, const char *end, char *buf, size_t cap, size_t *n)
{
    *n = 0;
    if (*p >= end || **p != '/')
        return false;
    for ((*p)++; *p < end && **p != '/'; (*p)++) {
        char c = **p;
        if (c == '\0')
            return false;
        if (c == '~') {
            if (++*p >= end || (**p != '0' && **p != '1'))
                return false;
            c = **p == '0' ? '~' : '/';
        }
        if (*n + 1 >= cap)
            return false;
        buf[(*n)++] = c;
    }
    buf[*n] = '\0';
    return true;
}

static bool index_of(const char *s, size_t n, size_t *out)
{
    size_t i;
    if (!n || n > 9 || (n > 1 && s[0] == '0'))
        return false;
    for (*out = 0, i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *out = *out * 10 + (size_t)(s[i] - '0');
    }
    return true;
}

json_t *rr_pointer_resolve(json_t *const *argv, size_t argc, const char *pointer, size_t len)
{
    const char *p = pointer, *end = pointer + len;
    char buf[256];
    size_t n, i, depth = 0;
    json_t *v;
    if (!len || !token(&p, end, buf, sizeof buf, &n) || !index_of(buf, n, &i) || i >= argc)
        return NULL;
    v = argv[i];
    while (p < end) {
        if (++depth > RR_MAX_DEPTH || !token(&p, end, buf, sizeof buf, &n))
            return NULL;
        if (json_is_array(v) && index_of(buf, n, &i))
            v = json_array_get(v, i);
        else if (json_is_object(v) && strlen(buf) == n)
            v = json_object_get(v, buf);
        else
            return NULL;
        if (!v)
            return NULL;
    }
    return json_is_object(v) ? v : NULL;
}

/* The path to `target` under `v` appended to `path` (its length *n). */
static bool path_to(json_t *v, json_t *target, char *path, size_t cap, size_t *n, int depth)
{
    const char *key;
    json_t *item;
    size_t i, at = *n;
    if (v == target)
        return true;
    if (depth >= RR_MAX_DEPTH)
        return false;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            int w = snprintf(path + at, cap - at, "/%zu", i);
            if (w < 0 || (size_t)w >= cap - at)
                return false;
            *n = at + (size_t)w;
            if (path_to(item, target, path, cap, n, depth + 1))
                return true;
        }
    } else if (json_is_object(v)) {
        json_object_foreach(v, key, item) {
            size_t j = at;
            const char *k;
            if (j + 1 >= cap)
                return false;
            path[j++] = '/';
            for (k = key; *k && j + 2 < cap; k++) {
                if (*k == '~' || *k == '/') {
                    path[j++] = '~';
                    path[j++] = *k == '~' ? '0' : '1';
                } else {
                    path[j++] = *k;
                }
            }
            if (*k)
                continue; /* too long for a pointer here */
            *n = j;
            if (path_to(item, target, path, cap, n, depth + 1))
                return true;
        }
    }
    *n = at;
    return false;
}

char *rr_pointer_of(const room_allocator *a, json_t *const *argv, size_t argc, json_t *target,
                    bool *nomem)
{
    char path[1024], *out;
    size_t i, n;
    *nomem = false;
    for (i = 0; i < argc; i++) {
        int w = snprintf(path, sizeof path, "/%zu", i);
        n = (size_t)w;
        if (!path_to(argv[i], target, path, sizeof path, &n, 1))
            continue;
        if (!(out = rr_malloc(a, n + 1))) {
            *nomem = true;
            return NULL;
        }
        memcpy(out, path, n);
        out[n] = '\0';
        return out;
    }
    return NULL;
}
