/* The memory store: room state kept in process memory apart from any hub,
 * so that a hub made again on it finds its rooms (a restart with
 * persistence, for tests and embedders). The reference implementation of
 * the room_store interface. Rooms sit in a list (a test's handful); a
 * write is idempotent per offset, so a write retried after a partial
 * failure does not duplicate anything. */
#include <string.h>

#include "room/storage.h"

typedef struct mem_rec {
    uint64_t offset;
    int kind;
    size_t size;        /* of this allocation */
    size_t part_count;
    room_bytes parts[]; /* then the bytes */
} mem_rec;

typedef struct mem_room {
    struct mem_room *next;
    char epoch[ROOM_EPOCH_MAX + 1];
    uint64_t history_last, history_floor, log_last;
    mem_rec **msgs, **upds;
    size_t nmsgs, capmsgs, nupds, capupds;
    size_t key_size;
    char key[]; /* scope, NUL, room, NUL */
} mem_room;

typedef struct mem_store {
    room_store table; /* first: the host's pointer is the store's */
    room_allocator alloc;
    size_t bytes;
    unsigned fail;
    mem_room *rooms;
} mem_store;

static void *mem_alloc(mem_store *m, size_t size)
{
    void *p = m->alloc.malloc(size, m->alloc.ud);
    if (p)
        m->bytes += size;
    return p;
}

static void mem_free(mem_store *m, void *p, size_t size)
{
    if (p) {
        m->alloc.free(p, m->alloc.ud);
        m->bytes -= size;
    }
}

static mem_rec *rec_new(mem_store *m, uint64_t offset, int kind, const room_bytes *parts, size_t n)
{
    size_t size = sizeof(mem_rec) + n * sizeof(room_bytes), i;
    uint8_t *at;
    mem_rec *r;
    for (i = 0; i < n; i++)
        size += parts[i].len;
    if (!(r = mem_alloc(m, size)))
        return NULL;
    r->offset = offset;
    r->kind = kind;
    r->size = size;
    r->part_count = n;
    at = (uint8_t *)&r->parts[n];
    for (i = 0; i < n; i++) {
        if (parts[i].len)
            memcpy(at, parts[i].data, parts[i].len);
        r->parts[i].data = at;
        r->parts[i].len = parts[i].len;
        at += parts[i].len;
    }
    return r;
}

/* Appends to a list of records, growing it; 0 or ROOM_ENOMEM. */
static int push(mem_store *m, mem_rec ***list, size_t *n, size_t *cap, mem_rec *r)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        mem_rec **l = mem_alloc(m, ncap * sizeof *l);
        if (!l)
            return ROOM_ENOMEM;
        if (*n)
            memcpy(l, *list, *n * sizeof *l);
        mem_free(m, *list, *cap * sizeof *l);
        *list = l;
        *cap = ncap;
    }
    (*list)[(*n)++] = r;
    return 0;
}

/* Drops the records with offsets up to `upto` (they are first). */
static void drop_upto(mem_store *m, mem_rec **list, size_t *n, uint64_t upto)
{
    size_t k = 0, i;
    while (k < *n && list[k]->offset <= upto)
        k++;
    if (!k)
        return;
    for (i = 0; i < k; i++)
        mem_free(m, list[i], list[i]->size);
    memmove(list, list + k, (*n - k) * sizeof *list);
    *n -= k;
}

static mem_room *find(mem_store *m, const char *scope, const char *room)
{
    size_t ls = strlen(scope);
    mem_room *r;
    for (r = m->rooms; r; r = r->next) {
        if (strcmp(r->key, scope) == 0 && strcmp(r->key + ls + 1, room) == 0)
            return r;
    }
    return NULL;
}

static int mem_load(room_store *store, const char *scope, const char *room, room_store_sink *sink)
{
    mem_store *m = store->state;
    mem_room *r = find(m, scope, room);
    size_t i;
    int rc;
    if (!r)
        return ROOM_ENOTFOUND;
    if ((rc = room_store_sink_meta(sink, r->epoch, r->history_last, r->history_floor, r->log_last)) != 0)
        return rc;
    for (i = 0; i < r->nupds; i++) {
        rc = room_store_sink_update(sink, r->upds[i]->offset, r->upds[i]->parts[0].data,
                                    r->upds[i]->parts[0].len);
        if (rc)
            return rc;
    }
    for (i = 0; i < r->nmsgs; i++) {
        const mem_rec *x = r->msgs[i];
        if ((rc = room_store_sink_message(sink, x->offset, x->kind, x->parts, x->part_count)) != 0)
            return rc;
    }
    return 0;
}

static int apply(mem_store *m, const char *scope, const room_store_batch *b)
{
    mem_room *r = find(m, scope, b->room);
    size_t i;
    if (!r) {
        size_t ls = strlen(scope), lr = strlen(b->room);
        if (!(r = mem_alloc(m, sizeof *r + ls + lr + 2)))
            return ROOM_ENOMEM;
        memset(r, 0, sizeof *r);
        r->key_size = ls + lr + 2;
        memcpy(r->key, scope, ls + 1);
        memcpy(r->key + ls + 1, b->room, lr + 1);
        r->next = m->rooms;
        m->rooms = r;
    }
    strncpy(r->epoch, b->epoch, ROOM_EPOCH_MAX);
    r->history_last = b->history_last;
    r->history_floor = b->history_floor;
    r->log_last = b->log_last;
    drop_upto(m, r->msgs, &r->nmsgs, b->history_floor);
    for (i = 0; i < b->message_count; i++) {
        const room_store_message *x = &b->messages[i];
        mem_rec *rec;
        if (r->nmsgs && x->offset <= r->msgs[r->nmsgs - 1]->offset)
            continue; /* a retried write */
        if (!(rec = rec_new(m, x->offset, x->kind, x->parts, x->part_count)))
            return ROOM_ENOMEM;
        if (push(m, &r->msgs, &r->nmsgs, &r->capmsgs, rec) != 0) {
            mem_free(m, rec, rec->size);
            return ROOM_ENOMEM;
        }
    }
    if (b->replace_upto) {
        mem_rec *snap = rec_new(m, b->replace_upto, ROOM_FRAME_BINARY, &b->snapshot, 1);
        if (!snap)
            return ROOM_ENOMEM;
        drop_upto(m, r->upds, &r->nupds, b->replace_upto);
        /* The snapshot goes first: push at the end, then rotate it there. */
        if (push(m, &r->upds, &r->nupds, &r->capupds, snap) != 0) {
            mem_free(m, snap, snap->size);
            return ROOM_ENOMEM;
        }
        memmove(r->upds + 1, r->upds, (r->nupds - 1) * sizeof *r->upds);
        r->upds[0] = snap;
    }
    for (i = 0; i < b->update_count; i++) {
        const room_store_update *u = &b->updates[i];
        room_bytes part = {u->data, u->len};
        mem_rec *rec;
        if (r->nupds && u->offset <= r->upds[r->nupds - 1]->offset)
            continue;
        if (!(rec = rec_new(m, u->offset, ROOM_FRAME_BINARY, &part, 1)))
            return ROOM_ENOMEM;
        if (push(m, &r->upds, &r->nupds, &r->capupds, rec) != 0) {
            mem_free(m, rec, rec->size);
            return ROOM_ENOMEM;
        }
    }
    return 0;
}

static int mem_write(room_store *store, const char *scope, const room_store_batch *batches, size_t count)
{
    mem_store *m = store->state;
    size_t i;
    int rc;
    if (m->fail) {
        m->fail--;
        return ROOM_ESTORAGE;
    }
    for (i = 0; i < count; i++) {
        if ((rc = apply(m, scope, &batches[i])) != 0)
            return rc;
    }
    return 0;
}

static void mem_destroy(room_store *store)
{
    mem_store *m = store->state;
    while (m->rooms) {
        mem_room *r = m->rooms;
        m->rooms = r->next;
        drop_upto(m, r->msgs, &r->nmsgs, UINT64_MAX);
        drop_upto(m, r->upds, &r->nupds, UINT64_MAX);
        mem_free(m, r->msgs, r->capmsgs * sizeof *r->msgs);
        mem_free(m, r->upds, r->capupds * sizeof *r->upds);
        mem_free(m, r, sizeof *r + r->key_size);
    }
    m->alloc.free(m, m->alloc.ud);
}

int room_store_memory_new(room_store **store_out, const room_allocator *alloc)
{
    room_allocator a = alloc && alloc->malloc && alloc->free ? *alloc : *room_allocator_libc();
    mem_store *m;
    if (!store_out)
        return ROOM_EINVAL;
    *store_out = NULL;
    if (!(m = a.malloc(sizeof *m, a.ud)))
        return ROOM_ENOMEM;
    memset(m, 0, sizeof *m);
    m->alloc = a;
    m->table.size = sizeof m->table;
    m->table.name = "memory";
    m->table.state = m;
    m->table.load = mem_load;
    m->table.write = mem_write;
    m->table.destroy = mem_destroy;
    *store_out = &m->table;
    return 0;
}

static mem_store *memory_of(const room_store *store)
{
    return store && store->write == mem_write ? store->state : NULL;
}

size_t room_store_memory_bytes(const room_store *store)
{
    const mem_store *m = memory_of(store);
    return m ? m->bytes : 0;
}

int room_store_memory_fail_writes(room_store *store, unsigned count)
{
    mem_store *m = memory_of(store);
    if (!m)
        return ROOM_EINVAL;
    m->fail = count;
    return 0;
}
