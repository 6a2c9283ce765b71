/* String-keyed open-addressing table for rooms and connection ids. */
#include <string.h>

#include "internal.h"

/* Seeded per hub so that clients cannot aim room names at one bucket
 * without knowing the seed. */
uint32_t rm_hash(uint64_t seed, const char *s, size_t len)
{
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ull);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, s + i, len - i);
        h = (h ^ w) * 0x94d049bb133111ebull;
        h ^= h >> 29;
    }
    h = (h ^ (h >> 32)) * 0xd6e8feb86659fd93ull;
    return (uint32_t)(h ^ (h >> 32));
}

static uint32_t hash_of(const rm_table *t, const void *item)
{
    uint32_t h;
    memcpy(&h, (const char *)item + t->hash_off, sizeof h);
    return h;
}

void rm_table_init(rm_table *t, size_t key_off, size_t hash_off)
{
    t->slots = NULL;
    t->cap = t->count = 0;
    t->key_off = (uint16_t)key_off;
    t->hash_off = (uint16_t)hash_off;
}

void rm_table_release(rm_table *t, rm_alloc *a)
{
    rm_free(a, t->slots, (size_t)t->cap * sizeof *t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}

void *rm_table_get(const rm_table *t, uint32_t hash, const char *key)
{
    uint32_t mask, i;
    if (!t->cap)
        return NULL;
    mask = t->cap - 1;
    for (i = hash & mask; t->slots[i]; i = (i + 1) & mask) {
        const char *item = t->slots[i];
        if (hash_of(t, item) == hash && strcmp(item + t->key_off, key) == 0)
            return t->slots[i];
    }
    return NULL;
}

static void insert_slot(void **slots, uint32_t mask, uint32_t hash, void *item)
{
    uint32_t i = hash & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = item;
}

int rm_table_reserve(rm_table *t, rm_alloc *a)
{
    uint32_t ncap, i;
    void **ns;
    /* Keep the load at or below 3/4 so that probes stay short. */
    if ((uint64_t)(t->count + 1) * 4 <= (uint64_t)t->cap * 3)
        return 0;
    if (t->cap > UINT32_MAX / 2)
        return ROOM_ENOMEM;
    ncap = t->cap ? t->cap * 2 : 16;
    ns = rm_calloc(a, (size_t)ncap * sizeof *ns);
    if (!ns)
        return ROOM_ENOMEM;
    for (i = 0; i < t->cap; i++) {
        if (t->slots[i])
            insert_slot(ns, ncap - 1, hash_of(t, t->slots[i]), t->slots[i]);
    }
    rm_free(a, t->slots, (size_t)t->cap * sizeof *t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

void rm_table_put(rm_table *t, void *item)
{
    insert_slot(t->slots, t->cap - 1, hash_of(t, item), item);
    t->count++;
}

void rm_table_del(rm_table *t, const void *item)
{
    uint32_t mask = t->cap - 1, i, j;
    if (!t->cap)
        return;
    for (i = hash_of(t, item) & mask; t->slots[i] != item; i = (i + 1) & mask) {
        if (!t->slots[i])
            return;
    }
    /* Backward-shift deletion: pull later items of the probe run back so
     * that no tombstones are needed. */
    for (j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        uint32_t home = hash_of(t, t->slots[j]) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = NULL;
    t->count--;
}
