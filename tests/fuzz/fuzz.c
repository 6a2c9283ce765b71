/* The helpers of fuzz.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
    abort();
}

/* Each block carries its size in front, since room_allocator's free does
 * not pass it; the header keeps the payload maximally aligned. */
#define HEADER 16

static void *fa_malloc(size_t size, void *ud)
{
    fuzz_alloc *a = ud;
    unsigned char *p = malloc(HEADER + size);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    a->bytes += size;
    a->blocks++;
    return p + HEADER;
}

static void fa_free(void *ptr, void *ud)
{
    fuzz_alloc *a = ud;
    unsigned char *p = ptr;
    size_t size;
    if (!p)
        return;
    memcpy(&size, p - HEADER, sizeof size);
    FUZZ_CHECK(a->blocks > 0 && a->bytes >= size);
    a->bytes -= size;
    a->blocks--;
    free(p - HEADER);
}

static void *fa_realloc(void *ptr, size_t size, void *ud)
{
    fuzz_alloc *a = ud;
    unsigned char *p = ptr, *q;
    size_t old;
    if (!p)
        return fa_malloc(size, ud);
    memcpy(&old, p - HEADER, sizeof old);
    if (!(q = realloc(p - HEADER, HEADER + size)))
        return NULL;
    memcpy(q, &size, sizeof size);
    a->bytes = a->bytes - old + size;
    return q + HEADER;
}

room_allocator fuzz_allocator(fuzz_alloc *counts)
{
    room_allocator a = {fa_malloc, fa_realloc, fa_free, counts};
    return a;
}

static uint64_t random_state;

void fuzz_random_reset(void)
{
    random_state = 0;
}

/* splitmix64: distinct, well-spread bytes from a counter. */
int fuzz_random(void *buf, size_t len, void *user_data)
{
    unsigned char *out = buf;
    (void)user_data;
    while (len) {
        uint64_t z = (random_state += 0x9e3779b97f4a7c15u);
        size_t n = len < sizeof z ? len : sizeof z;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        z ^= z >> 31;
        memcpy(out, &z, n);
        out += n;
        len -= n;
    }
    return 0;
}

int fuzz_next_cmd(const uint8_t **data, size_t *size, unsigned slots, fuzz_cmd *cmd)
{
    while (*size) {
        const uint8_t *line = *data, *nl = memchr(line, '\n', *size);
        size_t len = nl ? (size_t)(nl - line) : *size;
        *data += nl ? len + 1 : len;
        *size -= nl ? len + 1 : len;
        if (len < 2)
            continue;
        cmd->op = (char)line[0];
        cmd->slot = line[1] % slots;
        cmd->arg = line + 2;
        cmd->len = len - 2;
        return 1;
    }
    return 0;
}

uint32_t fuzz_arg_number(const fuzz_cmd *cmd)
{
    uint32_t n = 0;
    for (size_t i = 0; i < cmd->len && i < 9 && cmd->arg[i] >= '0' && cmd->arg[i] <= '9'; i++)
        n = n * 10 + (uint32_t)(cmd->arg[i] - '0');
    return n;
}
