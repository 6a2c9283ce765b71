/* Sessions by sid, for the requests of a polling client (?sid=) and the
 * WebSocket that upgrades it. Open addressing with linear probing and
 * backward-shift deletion: one pointer per slot and no tombstones, so an
 * indexed session costs 8 bytes over a table at most 3/4 full. Only
 * sessions opened on polling are indexed: a WebSocket session is never
 * named by a later request, and its idle memory stays as it was. */
#include <string.h>

#include "sio_internal.h"

/* sids are random, but a test's random callback may not be: FNV-1a over
 * every character keeps even similar sids apart. */
static size_t hash(const char *sid, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)sid[i]) * 0x100000001b3u;
    return (size_t)(h ^ h >> 32);
}

static size_t slot_of(const room_eio *eio, const room_eio_session *s)
{
    size_t mask = eio->index_cap - 1, i = hash(s->sid, ROOM_CONN_ID_LEN) & mask;
    while (eio->index[i] != s)
        i = (i + 1) & mask;
    return i;
}

static void place(room_eio_session **table, size_t cap, room_eio_session *s)
{
    size_t mask = cap - 1, i = hash(s->sid, ROOM_CONN_ID_LEN) & mask;
    while (table[i])
        i = (i + 1) & mask;
    table[i] = s;
}

int sio_index_add(room_eio *eio, room_eio_session *s)
{
    if ((eio->index_count + 1) * 4 > eio->index_cap * 3) {
        size_t cap = eio->index_cap ? eio->index_cap * 2 : 16;
        room_eio_session **table = sio_calloc(&eio->alloc, cap * sizeof *table);
        if (!table)
            return ROOM_ENOMEM;
        for (size_t i = 0; i < eio->index_cap; i++) {
            if (eio->index[i])
                place(table, cap, eio->index[i]);
        }
        sio_free(&eio->alloc, eio->index);
        eio->index = table;
        eio->index_cap = cap;
    }
    place(eio->index, eio->index_cap, s);
    eio->index_count++;
    s->indexed = true;
    return 0;
}

void sio_index_remove(room_eio *eio, room_eio_session *s)
{
    size_t mask, hole, i;
    if (!s->indexed)
        return;
    s->indexed = false;
    mask = eio->index_cap - 1;
    hole = slot_of(eio, s);
    eio->index[hole] = NULL;
    /* Moves back every later entry of the run that may no longer be
     * reachable past the hole. */
    for (i = (hole + 1) & mask; eio->index[i]; i = (i + 1) & mask) {
        size_t home = hash(eio->index[i]->sid, ROOM_CONN_ID_LEN) & mask;
        /* Stays when its home lies cyclically in (hole, i]. */
        if (hole < i ? (home > hole && home <= i) : (home > hole || home <= i))
            continue;
        eio->index[hole] = eio->index[i];
        eio->index[i] = NULL;
        hole = i;
    }
    eio->index_count--;
}

room_eio_session *sio_index_find(const room_eio *eio, const char *sid, size_t len)
{
    size_t mask, i;
    if (len != ROOM_CONN_ID_LEN || !eio->index_count)
        return NULL;
    mask = eio->index_cap - 1;
    for (i = hash(sid, len) & mask; eio->index[i]; i = (i + 1) & mask) {
        if (memcmp(eio->index[i]->sid, sid, len) == 0)
            return eio->index[i];
    }
    return NULL;
}

room_eio_session *room_eio_session_find(const room_eio *eio, const char *sid, size_t len)
{
    if (!eio || (!sid && len))
        return NULL;
    return sio_index_find(eio, sid, len);
}
