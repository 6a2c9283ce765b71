/* Room storage's update log (docs/history.md): appending an opaque update
 * (kept once, as the frame relayed to the synced members), streaming the
 * whole log to a joining member before it gets relays, and compaction by a
 * member's snapshot that replaces exactly the entries that member had. */
#include <string.h>

#include "stored.h"

int rm_log_entry_add(room_hub *hub, rm_sroom *r, uint64_t offset, const void *data, size_t len)
{
    const rm_storage *st = hub->storage;
    uint8_t prefix[ROOM_STORAGE_PREFIX_MAX];
    size_t plen = 0;
    room_frame *frame;
    int rc;
    if ((rc = rm_grow(&hub->alloc, (void **)&r->log, &r->lcap, r->lcount + 1, sizeof *r->log)) != 0)
        return rc;
    if (st->cfg.update_prefix) {
        plen = st->cfg.update_prefix(data, len, prefix, st->cfg.user_data);
        if (plen > ROOM_STORAGE_PREFIX_MAX)
            return ROOM_EINVAL;
    }
    if (!(frame = rm_frame_make_prefixed(hub, st->cfg.frame_kind, prefix, plen, data, len)))
        return ROOM_ENOMEM;
    r->log[r->lcount++] = (rm_lent){frame, offset, (uint32_t)plen, (uint32_t)len};
    r->lbytes += len;
    return 0;
}

static bool syncing(const rm_sroom *r, const room_conn *conn)
{
    uint32_t i;
    for (i = 0; i < r->nsyncs; i++) {
        if (r->syncs[i].conn == conn)
            return true;
    }
    return false;
}

static bool over_threshold(const rm_storage *st, const rm_sroom *r)
{
    uint64_t pct = st->cfg.compact_growth_percent, base = r->lbase;
    if (!st->cfg.compact || r->lbytes <= st->cfg.compact_bytes || r->lbytes <= r->lbase)
        return false;
    /* Split so that a big base times the percentage cannot overflow. */
    return r->lbytes - r->lbase > base / 100 * pct + base % 100 * pct / 100;
}

/* Opens the room's storage for a call from outside any callback. */
static rm_sroom *open_room(room_hub *hub, const char *room, int *err)
{
    if (hub->storage && hub->storage->busy) {
        *err = ROOM_EINVAL;
        return NULL;
    }
    return rm_sroom_open(hub, room, true, err);
}

static bool member_of(room_hub *hub, const room_conn *conn, const char *room)
{
    return room_is_member(hub, conn, room) != 0;
}

int room_storage_append(room_hub *hub, room_conn *from, const char *room, const void *update,
                        size_t len, uint64_t *offset_out)
{
    rm_storage *st;
    rm_sroom *r;
    rm_room *members;
    rm_lent *e;
    int rc, n = 0;
    uint32_t i;

    if (!hub || (!update && len))
        return ROOM_EINVAL;
    if (!(r = open_room(hub, room, &rc)))
        return rc;
    st = hub->storage;
    /* Another node's update is kept on a read-only room (storage_remote.c):
     * refusing would lose it, where a member sends its own again. */
    if ((r->flags & RM_S_FAILED) && !st->from_node)
        return ROOM_ESTORAGE;
    if (from && !member_of(hub, from, room))
        return ROOM_ENOTMEMBER;
    if (len > st->cfg.max_update_bytes)
        return ROOM_ETOOBIG;
    if (r->lbytes + len > st->cfg.max_log_bytes)
        return ROOM_ELIMIT;
    if ((rc = rm_log_entry_add(hub, r, r->llast + 1, update, len)) != 0)
        return rc;
    e = &r->log[r->lcount - 1];
    r->llast = e->offset;
    if (offset_out)
        *offset_out = e->offset;
    /* The synced members get it now; a syncing one gets it from its
     * stream, after everything older. One frame for all. */
    members = rm_room_find(hub, room, NULL, &rc);
    for (i = 0; members && i < members->count; i++) {
        room_conn *c = members->members[i].conn;
        if (c != from && !syncing(r, c) && rm_deliver(hub, c, e->frame) == 0)
            n++;
    }
    if (st->store.write)
        rm_sroom_pending(st, r);
    if (!r->compactor && over_threshold(st, r)) {
        r->flags |= RM_S_COMPACT;
        rm_sroom_pending(st, r);
    }
    /* The other nodes serving the room append it to their copies; one
     * from another node is not published again. */
    if (hub->adapter.storage_publish && !st->from_node &&
        (rc = hub->adapter.storage_publish(hub->cfg.adapter, hub, r->name, ROOM_STORAGE_UPDATE, update,
                                           len)) != 0)
        rm_log(hub, ROOM_LOG_WARN, "adapter %s could not publish an update of %s: %s", hub->adapter.name,
               r->name, room_strerror(rc));
    return n;
}

/* ---- syncs ------------------------------------------------------------------------- */

static bool is_synced(const rm_sroom *r, const room_conn *conn)
{
    uint32_t i;
    for (i = 0; i < r->nsynced; i++) {
        if (r->synced[i] == conn)
            return true;
    }
    return false;
}

void rm_synced_remove(rm_sroom *r, const room_conn *conn)
{
    uint32_t i;
    for (i = 0; i < r->nsynced; i++) {
        if (r->synced[i] == conn) {
            r->synced[i] = r->synced[--r->nsynced];
            return;
        }
    }
}

/* The sync is over: conn has every entry. Its place was kept at begin.
 * Not while the other nodes' log is still to come (`fetched` says when). */
static int finish(room_hub *hub, rm_sroom *r, rm_sync *s)
{
    if (r->flags & RM_S_FETCHING)
        return 0;
    r->synced[r->nsynced++] = s->conn;
    rm_sync_remove(hub, r, s);
    return 1;
}

int room_storage_sync_begin(room_hub *hub, room_conn *conn, const char *room)
{
    rm_sroom *r;
    int rc;
    if (!hub || !conn)
        return ROOM_EINVAL;
    if (!(r = open_room(hub, room, &rc)))
        return rc;
    if (!member_of(hub, conn, room))
        return ROOM_ENOTMEMBER;
    if (syncing(r, conn))
        return ROOM_EALREADY;
    if ((rc = rm_grow(&hub->alloc, (void **)&r->syncs, &r->capsyncs, r->nsyncs + 1, sizeof *r->syncs)) != 0 ||
        (rc = rm_grow(&hub->alloc, (void **)&r->synced, &r->capsynced, r->nsynced + r->nsyncs + 1,
                      sizeof *r->synced)) != 0)
        return rc;
    /* A member that syncs again has not got everything until it is over. */
    rm_synced_remove(r, conn);
    memset(&r->syncs[r->nsyncs], 0, sizeof *r->syncs);
    r->syncs[r->nsyncs++].conn = conn;
    rm_storage_fetch_begin(hub, r);
    return 0;
}

/* The index of the first entry after `pos`. */
static uint32_t first_after(const rm_sroom *r, uint64_t pos)
{
    uint32_t lo = 0, hi = r->lcount;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->log[mid].offset <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static rm_sync *find_sync(room_hub *hub, const char *room, room_conn *conn, rm_sroom **r_out, int *err)
{
    rm_sroom *r;
    rm_sync *s;
    size_t len;
    if ((*err = rm_check_room_name(hub, room, &len)) != 0)
        return NULL;
    r = rm_sroom_find(hub, room, err);
    s = r ? rm_sync_of(r, conn) : NULL;
    if (!s)
        *err = ROOM_ENOTFOUND;
    *r_out = r;
    return s;
}

int room_storage_sync_send(room_hub *hub, room_conn *conn, const char *room, size_t max_bytes)
{
    rm_sroom *r;
    rm_sync *s;
    size_t sent = 0;
    int rc;
    if (!hub || !conn)
        return ROOM_EINVAL;
    if (hub->storage && hub->storage->busy)
        return ROOM_EINVAL;
    if (!(s = find_sync(hub, room, conn, &r, &rc)))
        return rc;
    for (;;) {
        room_frame *frame;
        uint32_t i;
        if (s->iheld < s->nheld) {
            frame = s->held[s->iheld];
            s->held[s->iheld++] = NULL;
            rc = rm_deliver(hub, conn, frame);
            sent += frame->len;
            room_frame_unref(frame);
        } else {
            i = first_after(r, s->pos);
            if (i == r->lcount)
                return finish(hub, r, s); /* everything: live from here on */
            frame = r->log[i].frame;
            s->pos = r->log[i].offset;
            rc = rm_deliver(hub, conn, frame);
            sent += frame->len;
        }
        if (rc) {
            rm_sync_remove(hub, r, s);
            return rc;
        }
        if (max_bytes && sent >= max_bytes)
            break;
    }
    /* Whether anything remains is known now, so that a log that fit says
     * so at once. */
    if (s->iheld == s->nheld && first_after(r, s->pos) == r->lcount)
        return finish(hub, r, s);
    return 0;
}

int room_storage_sync_end(room_hub *hub, room_conn *conn, const char *room)
{
    rm_sroom *r;
    rm_sync *s;
    int rc;
    if (!hub || !conn)
        return ROOM_EINVAL;
    if (!(s = find_sync(hub, room, conn, &r, &rc)))
        return rc;
    rm_sync_remove(hub, r, s);
    return 0;
}

/* ---- reading ------------------------------------------------------------------------- */

int room_storage_foreach(room_hub *hub, const char *room, room_storage_visit_fn fn, void *ud)
{
    rm_sroom *r;
    uint32_t i;
    int rc;
    if (!hub || !fn)
        return ROOM_EINVAL;
    if (!(r = open_room(hub, room, &rc)))
        return rc;
    hub->storage->busy++;
    for (i = 0, rc = 0; i < r->lcount && !rc; i++) {
        const rm_lent *e = &r->log[i];
        room_storage_entry entry;
        entry.offset = e->offset;
        entry.update.data = room_frame_payload(e->frame, NULL) + e->skip;
        entry.update.len = e->len;
        entry.frame = e->frame;
        rc = fn(&entry, ud);
    }
    hub->storage->busy--;
    return rc;
}

int room_storage_get_info(room_hub *hub, const char *room, room_storage_info *info)
{
    rm_sroom *r;
    int rc;
    if (!hub || !info)
        return ROOM_EINVAL;
    if (!(r = open_room(hub, room, &rc)))
        return rc;
    memset(info, 0, sizeof *info);
    info->size = sizeof *info;
    info->first_offset = r->lcount ? r->log[0].offset : 0;
    info->last_offset = r->llast;
    info->entries = r->lcount;
    info->bytes = r->lbytes;
    info->syncing = r->nsyncs;
    info->status = r->flags & RM_S_FAILED ? ROOM_ESTORAGE : 0;
    info->compacting = r->compactor != NULL;
    memcpy(info->epoch, r->epoch, sizeof info->epoch);
    return 0;
}

/* ---- compaction ------------------------------------------------------------------------- */

int room_storage_compaction_begin(room_hub *hub, const char *room, room_conn *member,
                                  uint64_t *token_out)
{
    rm_sroom *r;
    int rc;
    if (!hub)
        return ROOM_EINVAL;
    /* From the compact callback too: that is what it is for. */
    if (!(r = rm_sroom_open(hub, room, true, &rc)))
        return rc;
    if (r->flags & RM_S_FAILED)
        return ROOM_ESTORAGE;
    if (r->compactor)
        return ROOM_EALREADY;
    if (!r->lcount)
        return ROOM_ENOTFOUND;
    if (member && !is_synced(r, member))
        return ROOM_ENOTMEMBER;
    for (uint32_t i = 0; !member && i < r->nsynced; i++) {
        /* One that can be asked: not waiting detached for a resume. */
        if (!(r->synced[i]->flags & RM_CONN_DETACHED))
            member = r->synced[i];
    }
    if (!member)
        return ROOM_ENOTFOUND;
    r->compactor = member;
    r->ctoken = r->llast;
    if (token_out)
        *token_out = r->ctoken;
    return 0;
}

void rm_compaction_end(room_hub *hub, rm_sroom *r, bool ask_again)
{
    r->compactor = NULL;
    r->ctoken = 0;
    if (ask_again && over_threshold(hub->storage, r)) {
        r->flags |= RM_S_COMPACT;
        rm_sroom_pending(hub->storage, r);
    }
}

static rm_sroom *compaction_of(room_hub *hub, const char *room, uint64_t token, int *err)
{
    rm_sroom *r;
    size_t len;
    if ((*err = rm_check_room_name(hub, room, &len)) != 0)
        return NULL;
    r = rm_sroom_find(hub, room, err);
    if (!r || !r->compactor || r->ctoken != token) {
        *err = ROOM_ENOTFOUND;
        return NULL;
    }
    return r;
}

/* A sync that had not reached the compacted entries keeps references to
 * the ones it was still to get (log[from..upto)), so that it gets them, and
 * not the snapshot. Room first, so that filling cannot fail. */
static int hold_reserve(room_hub *hub, rm_sroom *r, rm_sync *s, uint32_t upto)
{
    uint32_t i = first_after(r, s->pos);
    if (i >= upto)
        return 0;
    /* What it already sent of its held entries goes first. */
    if (s->iheld) {
        memmove(s->held, s->held + s->iheld, (size_t)(s->nheld - s->iheld) * sizeof *s->held);
        s->nheld -= s->iheld;
        s->iheld = 0;
    }
    return rm_grow(&hub->alloc, (void **)&s->held, &s->capheld, s->nheld + (upto - i), sizeof *s->held);
}

static void hold(rm_sroom *r, rm_sync *s, uint32_t upto, uint64_t token)
{
    uint32_t i;
    for (i = first_after(r, s->pos); i < upto; i++)
        s->held[s->nheld++] = room_frame_ref(r->log[i].frame);
    if (s->pos < token)
        s->pos = token;
}

/* After a compaction the log is a snapshot and a short tail: an array
 * grown for the long log before it would stay that big for as long as the
 * room lives (a quarter of the rooms' memory in the yjs benchmark).
 * Halved while a quarter or less is used; a failed realloc keeps it. */
static void log_shrink(room_hub *hub, rm_sroom *r)
{
    uint32_t ncap = r->lcap;
    rm_lent *p;
    while (ncap > 8 && r->lcount <= ncap / 4)
        ncap /= 2;
    if (ncap == r->lcap)
        return;
    p = rm_realloc(&hub->alloc, r->log, (size_t)r->lcap * sizeof *r->log, (size_t)ncap * sizeof *r->log);
    if (p) {
        r->log = p;
        r->lcap = ncap;
    }
}

int room_storage_compaction_commit(room_hub *hub, const char *room, uint64_t token,
                                   const void *snapshot, size_t len)
{
    rm_storage *st;
    rm_sroom *r;
    rm_lent snap;
    uint32_t upto, i;
    size_t kept = 0;
    int rc;

    if (!hub || (!snapshot && len))
        return ROOM_EINVAL;
    if (hub->storage && hub->storage->busy)
        return ROOM_EINVAL;
    if (!(r = compaction_of(hub, room, token, &rc)))
        return rc;
    st = hub->storage;
    upto = first_after(r, token);
    for (i = upto; i < r->lcount; i++)
        kept += r->log[i].len;
    if (len > st->cfg.max_log_bytes)
        return ROOM_ETOOBIG;
    /* The snapshot's frame is built as the last entry would be, then moved
     * to the front; nothing has changed if that fails. */
    if ((rc = rm_log_entry_add(hub, r, token, snapshot, len)) != 0)
        return rc;
    snap = r->log[--r->lcount];
    r->lbytes -= len;
    for (i = 0; i < r->nsyncs; i++) {
        if ((rc = hold_reserve(hub, r, &r->syncs[i], upto)) != 0) {
            room_frame_unref(snap.frame);
            return rc;
        }
    }
    for (i = 0; i < r->nsyncs; i++)
        hold(r, &r->syncs[i], upto, token);
    for (i = 0; i < upto; i++)
        room_frame_unref(r->log[i].frame);
    /* upto >= 1: the token is an entry's offset, and entries are only ever
     * removed by a compaction, which this one would have had to abort. */
    memmove(r->log + 1, r->log + upto, (size_t)(r->lcount - upto) * sizeof *r->log);
    r->lcount = r->lcount - upto + 1;
    r->log[0] = snap;
    log_shrink(hub, r);
    r->lbytes = kept + len;
    r->lbase = r->lbytes;
    r->lreplaced = token;
    rm_compaction_end(hub, r, false);
    if (st->store.write)
        rm_sroom_pending(st, r);
    return 0;
}

int room_storage_compaction_abort(room_hub *hub, const char *room, uint64_t token)
{
    rm_sroom *r;
    int rc;
    if (!hub)
        return ROOM_EINVAL;
    if (!(r = compaction_of(hub, room, token, &rc)))
        return rc;
    rm_compaction_end(hub, r, true);
    return 0;
}

room_conn *room_storage_compaction_member(room_hub *hub, const char *room, uint64_t *token_out)
{
    rm_sroom *r;
    int rc;
    if (!hub || !room || !(r = rm_sroom_find(hub, room, &rc)) || !r->compactor)
        return NULL;
    if (token_out)
        *token_out = r->ctoken;
    return r->compactor;
}
