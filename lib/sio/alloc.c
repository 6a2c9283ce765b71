/* The host's allocator for the room_eio's own memory (sessions, namespaces,
 * attachments). Hubs account their memory themselves; this layer does not
 * count, so it needs no sizes except for an allocator without realloc. */
#include <stdlib.h>
#include <string.h>

#include "sio_internal.h"

room_allocator sio_allocator(const room_allocator *given)
{
    return given->malloc && given->free ? *given : *room_allocator_libc();
}

void *sio_malloc(const room_allocator *a, size_t size)
{
    return a->malloc(size, a->ud);
}

void *sio_calloc(const room_allocator *a, size_t size)
{
    void *p = a->malloc(size, a->ud);
    if (p)
        memset(p, 0, size);
    return p;
}

void *sio_realloc(const room_allocator *a, void *ptr, size_t old_size, size_t new_size)
{
    void *p;
    if (!ptr)
        return a->malloc(new_size, a->ud);
    if (a->realloc)
        return a->realloc(ptr, new_size, a->ud);
    p = a->malloc(new_size, a->ud);
    if (!p)
        return NULL;
    memcpy(p, ptr, old_size < new_size ? old_size : new_size);
    a->free(ptr, a->ud);
    return p;
}

void sio_free(const room_allocator *a, void *ptr)
{
    if (ptr)
        a->free(ptr, a->ud);
}
