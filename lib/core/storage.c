/* Kept room state (docs/history.md): the settings, the table of stored
 * rooms (history and update log, apart from membership), loading a room
 * from the store at first use, and the flush that hands the store what
 * changed, asks for compactions, ages history and unloads idle rooms. */
#include <string.h>

#include "stored.h"

#define SWEEP_MS 1000 /* how often a flush ages history and unloads rooms */

size_t rm_chain_bytes(const room_frame *f)
{
    size_t n = 0;
    for (; f; f = f->next)
        n += f->len;
    return n;
}

bool rm_epoch_valid(const char *e)
{
    size_t i;
    for (i = 0; e[i]; i++) {
        if (i == ROOM_EPOCH_MAX || !rm_id_char(e[i]))
            return false;
    }
    return i > 0;
}

/* The one place where 0 turns into the documented defaults. */
static void resolve(room_storage_config *c, const room_hub *hub)
{
    if (!c->history_messages && !c->history_ms)
        c->history_messages = 100;
    if (!c->history_bytes)
        c->history_bytes = 1048576;
    if (!c->max_update_bytes)
        c->max_update_bytes = hub->cfg.max_message_bytes;
    if (!c->max_log_bytes)
        c->max_log_bytes = 67108864;
    if (!c->max_rooms)
        c->max_rooms = 10000;
    if (!c->compact_bytes)
        c->compact_bytes = 1048576;
    if (!c->compact_growth_percent)
        c->compact_growth_percent = 100;
    if (!c->frame_kind)
        c->frame_kind = ROOM_FRAME_BINARY;
}

rm_storage *rm_storage_get(room_hub *hub)
{
    rm_storage *st = hub->storage;
    if (st)
        return st;
    if (!(st = rm_calloc(&hub->alloc, sizeof *st)))
        return NULL;
    room_storage_config_init(&st->cfg);
    resolve(&st->cfg, hub);
    rm_table_init(&st->rooms, offsetof(rm_sroom, name), offsetof(rm_sroom, hash));
    st->swept_at = hub->now_ms;
    hub->storage = st;
    return st;
}

static char *copy_text(room_hub *hub, const char *s, size_t *size_out)
{
    size_t size = strlen(s) + 1;
    char *c = rm_malloc(&hub->alloc, size);
    if (c)
        memcpy(c, s, size);
    *size_out = c ? size : 0;
    return c;
}

/* Every comma-separated pattern non-empty. */
static bool patterns_valid(const char *p)
{
    size_t run = 0;
    for (;; p++) {
        if (*p == ',' || !*p) {
            if (!run)
                return false;
            if (!*p)
                return true;
            run = 0;
        } else {
            run++;
        }
    }
}

int room_storage_enable(room_hub *hub, const room_storage_config *config)
{
    room_storage_config cfg;
    room_store store;
    rm_storage *st;
    char *scope = NULL, *patterns = NULL;
    size_t scope_size = 0, patterns_size = 0;

    if (!hub || room_config_copy(&cfg, sizeof cfg, config, ROOM_STORAGE_CONFIG_SIZE_MIN) != 0)
        return ROOM_EINVAL;
    memset(&store, 0, sizeof store);
    if (cfg.store && (room_config_copy(&store, sizeof store, cfg.store, ROOM_STORE_SIZE_MIN) != 0 ||
                      !store.write))
        return ROOM_EINVAL;
    if ((cfg.frame_kind && cfg.frame_kind != ROOM_FRAME_TEXT && cfg.frame_kind != ROOM_FRAME_BINARY) ||
        (cfg.history_rooms && !patterns_valid(cfg.history_rooms)) ||
        (cfg.store_scope && !rm_utf8_valid((const unsigned char *)cfg.store_scope, strlen(cfg.store_scope))))
        return ROOM_EINVAL;
    if (hub->storage && (hub->storage->rooms.count || hub->storage->busy))
        return ROOM_EALREADY;
    if (!(st = rm_storage_get(hub)))
        return ROOM_ENOMEM;
    if ((cfg.store_scope && !(scope = copy_text(hub, cfg.store_scope, &scope_size))) ||
        (cfg.history_rooms && !(patterns = copy_text(hub, cfg.history_rooms, &patterns_size)))) {
        rm_free(&hub->alloc, scope, scope_size);
        return ROOM_ENOMEM;
    }
    resolve(&cfg, hub);
    rm_free(&hub->alloc, st->scope, st->scope_size);
    rm_free(&hub->alloc, st->patterns, st->patterns_size);
    st->scope = scope;
    st->scope_size = scope_size;
    st->patterns = patterns;
    st->patterns_size = patterns_size;
    cfg.store_scope = scope;
    cfg.history_rooms = patterns;
    st->cfg = cfg;
    st->store = store;
    st->configured = true;
    return 0;
}

void rm_sroom_pending(rm_storage *st, rm_sroom *r)
{
    if (r->flags & RM_S_LISTED)
        return;
    r->flags |= RM_S_LISTED;
    r->next_pending = st->pending;
    st->pending = r;
}

static void sync_release(room_hub *hub, rm_sync *s)
{
    while (s->iheld < s->nheld)
        room_frame_unref(s->held[s->iheld++]);
    rm_free(&hub->alloc, s->held, (size_t)s->capheld * sizeof *s->held);
}

static void sroom_free(room_hub *hub, rm_sroom *r)
{
    uint32_t i;
    rm_history_release(hub, r);
    rm_log_clear(r);
    rm_free(&hub->alloc, r->log, (size_t)r->lcap * sizeof *r->log);
    rm_free(&hub->alloc, r->lbuf, r->lbcap);
    for (i = 0; i < r->nsyncs; i++)
        sync_release(hub, &r->syncs[i]);
    rm_free(&hub->alloc, r->syncs, (size_t)r->capsyncs * sizeof *r->syncs);
    rm_free(&hub->alloc, r->synced, (size_t)r->capsynced * sizeof *r->synced);
    rm_free(&hub->alloc, r, sizeof *r + r->name_len + 1);
}

/* ---- loading ------------------------------------------------------------------ */

struct room_store_sink {
    room_hub *hub;
    rm_storage *st;
    rm_sroom *room;
    bool meta;
};

int room_store_sink_meta(room_store_sink *sink, const char *epoch, uint64_t history_last,
                         uint64_t history_floor, uint64_t log_last)
{
    rm_sroom *r;
    if (!sink || !epoch || sink->meta || !rm_epoch_valid(epoch) || history_floor > history_last)
        return ROOM_EINVAL;
    r = sink->room;
    strcpy(r->epoch, epoch);
    r->hlast = r->hsaved = history_last;
    r->hfloor = r->hfloor_saved = history_floor;
    r->llast = r->lsaved = log_last;
    sink->meta = true;
    return 0;
}

int room_store_sink_update(room_store_sink *sink, uint64_t offset, const void *data, size_t len)
{
    rm_sroom *r;
    int rc;
    if (!sink || !sink->meta || (!data && len))
        return ROOM_EINVAL;
    r = sink->room;
    if (offset == 0 || offset > r->llast || (r->lcount && offset <= r->log[r->lcount - 1].offset))
        return ROOM_EINVAL;
    if (len > sink->st->cfg.max_log_bytes || r->lbytes + len > sink->st->cfg.max_log_bytes)
        return ROOM_ETOOBIG;
    if ((rc = rm_log_entry_add(sink->hub, r, offset, data, len, NULL)) != 0)
        return rc;
    /* What was loaded counts as the base of the next compaction threshold. */
    r->lbase = r->lbytes;
    return 0;
}

int room_store_sink_message(room_store_sink *sink, uint64_t offset, int kind,
                            const room_bytes *parts, size_t part_count)
{
    room_hub *hub;
    rm_sroom *r;
    room_frame *head;
    size_t i;
    int rc;
    if (!sink || !sink->meta || !parts || !part_count ||
        (kind != ROOM_FRAME_TEXT && kind != ROOM_FRAME_BINARY))
        return ROOM_EINVAL;
    hub = sink->hub;
    r = sink->room;
    if (offset <= r->hfloor || offset > r->hlast ||
        (r->hcount && offset <= rm_history_at(r, r->hcount - 1)->offset))
        return ROOM_EINVAL;
    for (i = 0; i < part_count; i++) {
        if (!parts[i].data && parts[i].len)
            return ROOM_EINVAL;
    }
    if (!(head = rm_frame_make_chain(hub, kind, parts[0].data, parts[0].len, parts + 1,
                                     part_count - 1)))
        return ROOM_ENOMEM;
    /* Loaded messages start their age now: the hub's clock is not the
     * previous process's. */
    rc = rm_history_push(hub, r, head, offset);
    room_frame_unref(head);
    return rc;
}

static int load(room_hub *hub, rm_storage *st, rm_sroom *r)
{
    room_store_sink sink = {hub, st, r, false};
    int rc;
    if (!st->store.load)
        return ROOM_ENOTFOUND;
    st->busy++;
    rc = st->store.load(st->cfg.store, st->scope ? st->scope : "", r->name, &sink);
    st->busy--;
    if (rc == 0 && !sink.meta)
        rc = ROOM_EINVAL;
    if (rc == ROOM_ENOTFOUND) {
        /* Whatever the sink took before the store said so is not a room. */
        rm_history_release(hub, r);
        rm_log_clear(r);
        r->lbytes = r->lbase = 0;
        r->hlast = r->hfloor = r->hsaved = r->hfloor_saved = r->llast = r->lsaved = 0;
    }
    return rc;
}

rm_sroom *rm_sroom_find(room_hub *hub, const char *name, int *err)
{
    size_t len;
    *err = 0;
    if (!hub->storage)
        return NULL;
    len = strnlen(name, hub->cfg.max_room_name_bytes + 1);
    if (len > hub->cfg.max_room_name_bytes)
        return NULL;
    return rm_table_get(&hub->storage->rooms, rm_hash(hub->seed, name, len), name);
}

/* How open_sroom() treats a room it does not have. */
enum { OPEN_FIND, OPEN_CREATE, OPEN_STORED };

static rm_sroom *open_sroom(room_hub *hub, const char *name, int mode, int *err)
{
    rm_storage *st;
    rm_sroom *r;
    size_t len;
    int rc;

    if ((*err = rm_check_room_name(hub, name, &len)) != 0)
        return NULL;
    if ((r = rm_sroom_find(hub, name, err)) != NULL || mode == OPEN_FIND)
        return r;
    if (!(st = rm_storage_get(hub))) {
        *err = ROOM_ENOMEM;
        return NULL;
    }
    if (st->rooms.count >= st->cfg.max_rooms) {
        *err = ROOM_ELIMIT;
        return NULL;
    }
    if (rm_table_reserve(&st->rooms, &hub->alloc) != 0 ||
        !(r = rm_calloc(&hub->alloc, sizeof *r + len + 1))) {
        *err = ROOM_ENOMEM;
        return NULL;
    }
    memcpy(r->name, name, len + 1);
    r->name_len = (uint32_t)len;
    r->hash = rm_hash(hub->seed, name, len);
    if (rm_history_matches(st, name, len))
        rm_history_defaults(st, r);
    else
        r->hmax_bytes = st->cfg.history_bytes; /* for messages a store hands back */
    rc = load(hub, st, r);
    if (rc == ROOM_ENOTFOUND && mode == OPEN_STORED) {
        sroom_free(hub, r);
        *err = ROOM_ENOTFOUND;
        return NULL;
    }
    if (rc == ROOM_ENOTFOUND) {
        /* A new run of offsets. */
        if (room_id_generate(r->epoch, hub->cfg.random, hub->cfg.user_data) != 0) {
            sroom_free(hub, r);
            *err = ROOM_ESTORAGE;
            return NULL;
        }
        r->flags |= RM_S_NEW;
        if (st->store.write)
            rm_sroom_pending(st, r);
    } else if (rc != 0) {
        rm_log(hub, ROOM_LOG_ERROR, "store %s could not load room %s: %s",
               st->store.name ? st->store.name : "?", name, room_strerror(rc));
        sroom_free(hub, r);
        *err = rc == ROOM_ENOMEM ? ROOM_ENOMEM : ROOM_ESTORAGE;
        return NULL;
    }
    rm_history_trim(hub, r, 0);
    rm_table_put(&st->rooms, r);
    st->configured = true;
    return r;
}

rm_sroom *rm_sroom_open(room_hub *hub, const char *name, bool create, int *err)
{
    return open_sroom(hub, name, create ? OPEN_CREATE : OPEN_FIND, err);
}

rm_sroom *rm_sroom_open_existing(room_hub *hub, const char *name, int *err)
{
    return open_sroom(hub, name, OPEN_STORED, err);
}

/* ---- leaving, unloading, freeing ---------------------------------------------- */

static rm_sync *sync_of(rm_sroom *r, const room_conn *conn)
{
    uint32_t i;
    for (i = 0; i < r->nsyncs; i++) {
        if (r->syncs[i].conn == conn)
            return &r->syncs[i];
    }
    return NULL;
}

void rm_sync_remove(room_hub *hub, rm_sroom *r, rm_sync *s)
{
    sync_release(hub, s);
    *s = r->syncs[--r->nsyncs];
}

rm_sync *rm_sync_of(rm_sroom *r, const room_conn *conn)
{
    return sync_of(r, conn);
}

void rm_storage_left(room_hub *hub, room_conn *conn, const rm_room *room)
{
    rm_sroom *r = rm_table_get(&hub->storage->rooms, room->hash, room->name);
    rm_sync *s;
    if (!r)
        return;
    if ((s = sync_of(r, conn)) != NULL)
        rm_sync_remove(hub, r, s);
    rm_synced_remove(r, conn);
    if (r->compactor == conn)
        rm_compaction_end(hub, r, true);
    /* The node stops following the room's traffic (the adapter
     * unsubscribes): its copy may fall behind from now on. */
    if (!room->count)
        r->flags &= ~(uint32_t)RM_S_CURRENT;
    rm_history_left(hub, r, conn, room->count == 0);
}

static bool dirty(const rm_storage *st, const rm_sroom *r)
{
    return st->store.write && ((r->flags & RM_S_NEW) || r->hlast > r->hsaved ||
                               r->hfloor > r->hfloor_saved || r->llast > r->lsaved || r->lreplaced);
}

/* No member, no sync, no compaction, nothing unwritten: the store has it
 * (or, without a store, there is nothing worth keeping). */
static bool idle(room_hub *hub, const rm_storage *st, const rm_sroom *r)
{
    if ((r->flags & (RM_S_LISTED | RM_S_FETCHING)) || r->nsyncs || r->nsynced || r->compactor ||
        rm_table_get(&hub->rooms, r->hash, r->name))
        return false;
    if (st->store.write)
        return !dirty(st, r) && !(r->flags & RM_S_FAILED);
    return r->lcount == 0 && r->llast == 0 && r->hcount == 0;
}

static void sweep(room_hub *hub, rm_storage *st)
{
    uint32_t i;
    for (i = 0; i < st->rooms.cap;) {
        rm_sroom *r = st->rooms.slots[i];
        if (!r) {
            i++;
            continue;
        }
        rm_history_trim(hub, r, 0);
        if (dirty(st, r))
            rm_sroom_pending(st, r);
        if (idle(hub, st, r)) {
            /* Backward-shift deletion may move a later room into slot i,
             * which is then looked at again. */
            rm_table_del(&st->rooms, r);
            sroom_free(hub, r);
        } else {
            i++;
        }
    }
    st->swept_at = hub->now_ms;
}

/* ---- writing ------------------------------------------------------------------- */

/* Counts what the batches need, so that they take four allocations. */
struct sizes {
    size_t rooms, messages, parts, updates;
};

static void count(const rm_sroom *r, struct sizes *z)
{
    uint32_t i;
    z->rooms++;
    for (i = 0; i < r->hcount; i++) {
        const rm_hent *e = rm_history_at(r, i);
        const room_frame *f;
        if (e->offset <= r->hsaved)
            continue;
        z->messages++;
        for (f = e->frame; f; f = f->next)
            z->parts++;
    }
    for (i = 0; i < r->lcount; i++) {
        if (r->log[i].offset > r->lsaved && r->log[i].offset > r->lreplaced)
            z->updates++;
    }
}

static room_bytes bytes_of(const room_frame *f)
{
    room_bytes b;
    b.data = room_frame_payload(f, &b.len);
    return b;
}

static void fill(const rm_sroom *r, room_store_batch *b, room_store_message **msg, room_bytes **part,
                 room_store_update **upd)
{
    uint32_t i;
    memset(b, 0, sizeof *b);
    b->size = sizeof *b;
    b->room = r->name;
    b->epoch = r->epoch;
    b->history_last = r->hlast;
    b->history_floor = r->hfloor;
    b->messages = *msg;
    for (i = 0; i < r->hcount; i++) {
        const rm_hent *e = rm_history_at(r, i);
        const room_frame *f;
        room_store_message *m;
        if (e->offset <= r->hsaved)
            continue;
        m = (*msg)++;
        m->offset = e->offset;
        m->kind = e->frame->kind;
        m->parts = *part;
        m->part_count = 0;
        for (f = e->frame; f; f = f->next) {
            *(*part)++ = bytes_of(f);
            m->part_count++;
        }
        b->message_count++;
    }
    b->log_last = r->llast;
    if (r->lreplaced) {
        const rm_lent *s = &r->log[0]; /* the snapshot sits first, at the token */
        b->replace_upto = r->lreplaced;
        b->snapshot.data = rm_log_data(r, s);
        b->snapshot.len = s->len;
    }
    b->updates = *upd;
    for (i = 0; i < r->lcount; i++) {
        const rm_lent *e = &r->log[i];
        if (e->offset <= r->lsaved || e->offset <= r->lreplaced)
            continue;
        (*upd)->offset = e->offset;
        (*upd)->data = rm_log_data(r, e);
        (*upd)->len = e->len;
        (*upd)++;
        b->update_count++;
    }
}

/* One write of every pending room's changes. */
static int write_pending(room_hub *hub, rm_storage *st)
{
    struct sizes z = {0, 0, 0, 0};
    room_store_batch *batches;
    room_store_message *msgs, *m;
    room_bytes *parts, *p;
    room_store_update *upds, *u;
    rm_sroom *r;
    size_t n = 0, fresh = 0;
    int rc;

    for (r = st->pending; r; r = r->next_pending) {
        if (dirty(st, r))
            count(r, &z);
    }
    if (!z.rooms)
        return 0;
    batches = rm_malloc(&hub->alloc, z.rooms * sizeof *batches);
    msgs = rm_malloc(&hub->alloc, (z.messages + 1) * sizeof *msgs);
    parts = rm_malloc(&hub->alloc, (z.parts + 1) * sizeof *parts);
    upds = rm_malloc(&hub->alloc, (z.updates + 1) * sizeof *upds);
    rc = batches && msgs && parts && upds ? 0 : ROOM_ENOMEM;
    if (!rc) {
        m = msgs, p = parts, u = upds;
        for (r = st->pending; r; r = r->next_pending) {
            if (dirty(st, r))
                fill(r, &batches[n++], &m, &p, &u);
        }
        st->busy++;
        rc = st->store.write(st->cfg.store, st->scope ? st->scope : "", batches, n);
        st->busy--;
        for (r = st->pending; r; r = r->next_pending) {
            if (!dirty(st, r))
                continue;
            if (rc == 0) {
                r->hsaved = r->hlast;
                r->hfloor_saved = r->hfloor;
                r->lsaved = r->llast;
                r->lreplaced = 0;
                r->flags &= ~(uint32_t)(RM_S_NEW | RM_S_FAILED);
            } else {
                fresh += !(r->flags & RM_S_FAILED);
                r->flags |= RM_S_FAILED;
            }
        }
        if (rc) {
            /* Once per room turning read-only, not at every retry. */
            if (fresh)
                rm_log(hub, ROOM_LOG_ERROR, "store %s failed to write %zu rooms (%s): they are read-only until a write succeeds",
                       st->store.name ? st->store.name : "?", n, room_strerror(rc));
            rc = ROOM_ESTORAGE;
        }
    }
    rm_free(&hub->alloc, batches, z.rooms * sizeof *batches);
    rm_free(&hub->alloc, msgs, (z.messages + 1) * sizeof *msgs);
    rm_free(&hub->alloc, parts, (z.parts + 1) * sizeof *parts);
    rm_free(&hub->alloc, upds, (z.updates + 1) * sizeof *upds);
    return rc;
}

/* Keeps on the list only the rooms that still have work: unwritten
 * changes or a compaction ask. */
static void relist(rm_storage *st)
{
    rm_sroom *r = st->pending, *next;
    st->pending = NULL;
    for (; r; r = next) {
        next = r->next_pending;
        r->flags &= ~(uint32_t)RM_S_LISTED;
        if (dirty(st, r) || (r->flags & RM_S_COMPACT))
            rm_sroom_pending(st, r);
    }
}

int room_storage_flush(room_hub *hub)
{
    rm_storage *st;
    rm_sroom *r;
    int rc = 0;
    if (!hub)
        return ROOM_EINVAL;
    if (!(st = hub->storage))
        return 0;
    if (st->busy)
        return ROOM_EINVAL;
    /* Compaction asks first: their callbacks may send, never change the
     * list. */
    for (r = st->pending; r; r = r->next_pending) {
        if (!(r->flags & RM_S_COMPACT))
            continue;
        r->flags &= ~(uint32_t)RM_S_COMPACT;
        if (st->cfg.compact && !r->compactor) {
            st->busy++;
            st->cfg.compact(hub, r->name, st->cfg.user_data);
            st->busy--;
        }
    }
    if (st->store.write)
        rc = write_pending(hub, st);
    relist(st);
    if (hub->now_ms - st->swept_at >= SWEEP_MS || hub->now_ms < st->swept_at)
        sweep(hub, st);
    return rc;
}

int64_t rm_storage_tick(room_hub *hub)
{
    room_storage_flush(hub);
    /* A failed write is tried again, and history ages, without input. */
    return hub->storage->pending || hub->storage->rooms.count ? SWEEP_MS : -1;
}

void rm_storage_free(room_hub *hub)
{
    rm_storage *st = hub->storage;
    uint32_t i;
    if (!st)
        return;
    rm_history_requests_free(hub);
    /* The last changes, without compaction asks (no callbacks from here). */
    if (st->store.write && write_pending(hub, st) != 0)
        rm_log(hub, ROOM_LOG_ERROR, "store: the last changes were not written");
    for (i = 0; i < st->rooms.cap; i++) {
        if (st->rooms.slots[i])
            sroom_free(hub, st->rooms.slots[i]);
    }
    rm_table_release(&st->rooms, &hub->alloc);
    rm_free(&hub->alloc, st->scope, st->scope_size);
    rm_free(&hub->alloc, st->patterns, st->patterns_size);
    rm_free(&hub->alloc, st, sizeof *st);
    hub->storage = NULL;
}

void room_store_free(room_store *store)
{
    if (store && store->destroy)
        store->destroy(store);
}
