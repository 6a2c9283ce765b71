/* The per-hub allocator, with exact byte accounting. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *libc_malloc(size_t size, void *ud)
{
    (void)ud;
    return malloc(size);
}

static void *libc_realloc(void *ptr, size_t size, void *ud)
{
    (void)ud;
    return realloc(ptr, size);
}

static void libc_free(void *ptr, void *ud)
{
    (void)ud;
    free(ptr);
}

const room_allocator *room_allocator_libc(void)
{
    static const room_allocator libc = {libc_malloc, libc_realloc, libc_free, NULL};
    return &libc;
}

void rm_alloc_init(rm_alloc *a, const room_allocator *fn)
{
    a->fn = fn && fn->malloc && fn->free ? *fn : *room_allocator_libc();
    a->bytes = 0;
}

void *rm_malloc(rm_alloc *a, size_t size)
{
    void *p = a->fn.malloc(size, a->fn.ud);
    if (p)
        a->bytes += size;
    return p;
}

void *rm_calloc(rm_alloc *a, size_t size)
{
    void *p = rm_malloc(a, size);
    if (p)
        memset(p, 0, size);
    return p;
}

void *rm_realloc(rm_alloc *a, void *ptr, size_t old_size, size_t new_size)
{
    void *p;
    if (!ptr)
        return rm_malloc(a, new_size);
    if (a->fn.realloc) {
        p = a->fn.realloc(ptr, new_size, a->fn.ud);
        if (!p)
            return NULL;
    } else {
        p = a->fn.malloc(new_size, a->fn.ud);
        if (!p)
            return NULL;
        memcpy(p, ptr, old_size < new_size ? old_size : new_size);
        a->fn.free(ptr, a->fn.ud);
    }
    a->bytes = a->bytes - old_size + new_size;
    return p;
}

void rm_free(rm_alloc *a, void *ptr, size_t size)
{
    if (!ptr)
        return;
    a->fn.free(ptr, a->fn.ud);
    a->bytes -= size;
}

int rm_grow(rm_alloc *a, void **items, uint32_t *cap, uint32_t need, size_t elem_size)
{
    uint32_t ncap;
    void *p;
    if (need <= *cap)
        return 0;
    ncap = *cap ? *cap : 1;
    while (ncap < need) {
        if (ncap > UINT32_MAX / 2)
            return ROOM_ENOMEM;
        ncap *= 2;
    }
    if ((size_t)ncap > SIZE_MAX / elem_size)
        return ROOM_ENOMEM;
    p = rm_realloc(a, *items, (size_t)*cap * elem_size, (size_t)ncap * elem_size);
    if (!p)
        return ROOM_ENOMEM;
    *items = p;
    *cap = ncap;
    return 0;
}
