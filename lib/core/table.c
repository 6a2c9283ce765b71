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

void rm_table_init(rm_table *t, rm_key_fn key)
{
    t->slots = NULL;
    t->cap = t->count = 0;
    t->key = key;
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
    for (i = hash & mask; t->slots[i].item; i = (i + 1) & mask) {
        if (t->slots[i].hash == hash && strcmp(t->key(t->slots[i].item), key) == 0)
            return t->slots[i].item;
    }
    return NULL;
}

static void insert_slot(rm_slot *slots, uint32_t mask, uint32_t hash, void *item)
{
    uint32_t i = hash & mask;
    while (slots[i].item)
        i = (i + 1) & mask;
    slots[i].hash = hash;
    slots[i].item = item;
}

int rm_table_reserve(rm_table *t, rm_alloc *a)
{
    uint32_t ncap, i;
    rm_slot *ns;
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
        if (t->slots[i].item)
            insert_slot(ns, ncap - 1, t->slots[i].hash, t->slots[i].item);
    }
    rm_free(a, t->slots, (size_t)t->cap * sizeof *t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

void rm_table_put(rm_table *t, uint32_t hash, void *item)
{
    insert_slot(t->slots, t->cap - 1, hash, item);
    t->count++;
}

void rm_table_del(rm_table *t, uint32_t hash, const void *item)
{
    uint32_t mask = t->cap - 1, i, j;
    for (i = hash & mask; t->slots[i].item != item; i = (i + 1) & mask) {
        if (!t->slots[i].item)
            return;
    }
    /* Backward-shift deletion: pull later items of the probe run back so
     * that no tombstones are needed. */
    for (j = (i + 1) & mask; t->slots[j].item; j = (j + 1) & mask) {
        uint32_t home = t->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].item = NULL;
    t->count--;
}
