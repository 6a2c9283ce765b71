/* Room storage's update log (docs/history.md): appending an opaque update
 * (a big one kept once, as the frame relayed to the synced members; a
 * small one as its bytes in the room's buffer), streaming the whole log to
 * a joining member before it gets relays, and compaction by a member's
 * snapshot that replaces exactly the entries that member had. */
#include <string.h>

#include "stored.h"

/* The update prefix of `data`: its length, or ROOM_EINVAL. */
static int prefix_of(const rm_storage *st, const void *data, size_t len, uint8_t *prefix, size_t *plen)
{
    *plen = st->cfg.update_prefix ? st->cfg.update_prefix(data, len, prefix, st->cfg.user_data) : 0;
    return *plen > ROOM_STORAGE_PREFIX_MAX ? ROOM_EINVAL : 0;
}

/* Room for `need` items in an array of the log (entries, the buffer),
 * which exists afterwards even for 0 (an empty update's place in the
 * buffer): it grows by half, not double, since it lives as long as the
 * room and a compaction fits it to its cycle again (fit()). */
static int reserve(room_hub *hub, void **items, uint32_t *cap, uint32_t need, uint32_t min, size_t elem)
{
    uint32_t ncap;
    void *p;
    if (need <= *cap && *cap)
        return 0;
    ncap = *cap / 2 < UINT32_MAX - *cap ? *cap + *cap / 2 : UINT32_MAX;
    if (ncap < need)
        ncap = need;
    if (ncap < min)
        ncap = min;
    if ((size_t)ncap > SIZE_MAX / elem ||
        !(p = rm_realloc(&hub->alloc, *items, (size_t)*cap * elem, (size_t)ncap * elem)))
        return ROOM_ENOMEM;
    *items = p;
    *cap = ncap;
    return 0;
}

int rm_log_entry_add(room_hub *hub, rm_sroom *r, uint64_t offset, const void *data, size_t len,
                     room_frame **relay_out)
{
    const rm_storage *st = hub->storage;
    uint8_t prefix[ROOM_STORAGE_PREFIX_MAX] = {0};
    size_t plen;
    room_frame *frame = NULL;
    /* The buffer's offsets are 32-bit; a log that big keeps frames. */
    bool inline_ = len <= RM_LOG_INLINE && r->lblen + len <= UINT32_MAX / 2;
    int rc;
    if ((rc = reserve(hub, (void **)&r->log, &r->lcap, r->lcount + 1, 8, sizeof *r->log)) != 0 ||
        (inline_ && (rc = reserve(hub, (void **)&r->lbuf, &r->lbcap, r->lblen + (uint32_t)len, 64, 1)) != 0) ||
        (rc = prefix_of(st, data, len, prefix, &plen)) != 0)
        return rc;
    if ((!inline_ || relay_out) &&
        !(frame = rm_frame_make_prefixed(hub, st->cfg.frame_kind, prefix, plen, data, len)))
        return ROOM_ENOMEM;
    if (inline_) {
        if (len)
            memcpy(r->lbuf + r->lblen, data, len);
        r->log[r->lcount++] = (rm_lent){NULL, offset, r->lblen, (uint32_t)len};
        r->lblen += (uint32_t)len;
        if (r->lblen > r->lbpeak)
            r->lbpeak = r->lblen;
        if (relay_out)
            *relay_out = frame;
    } else {
        r->log[r->lcount++] = (rm_lent){frame, offset, (uint32_t)plen, (uint32_t)len};
        if (relay_out)
            *relay_out = room_frame_ref(frame);
    }
    r->lbytes += len;
    if (r->lcount > r->lpeak)
        r->lpeak = r->lcount;
    return 0;
}

const uint8_t *rm_log_data(const rm_sroom *r, const rm_lent *e)
{
    return e->frame ? room_frame_payload(e->frame, NULL) + e->at : r->lbuf + e->at;
}

void rm_log_clear(rm_sroom *r)
{
    while (r->lcount)
        room_frame_unref(r->log[--r->lcount].frame);
    r->lblen = 0;
}

/* A new reference to the frame of an entry: its own, or one made again
 * from the buffer. NULL when out of memory. */
static room_frame *entry_frame(room_hub *hub, const rm_sroom *r, const rm_lent *e)
{
    const rm_storage *st = hub->storage;
    uint8_t prefix[ROOM_STORAGE_PREFIX_MAX] = {0};
    size_t plen;
    if (e->frame)
        return room_frame_ref(e->frame);
    if (prefix_of(st, r->lbuf + e->at, e->len, prefix, &plen) != 0)
        return NULL;
    return rm_frame_make_prefixed(hub, st->cfg.frame_kind, prefix, plen, r->lbuf + e->at, e->len);
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
    room_frame *frame;
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
    if ((rc = rm_log_entry_add(hub, r, r->llast + 1, update, len, &frame)) != 0)
        return rc;
    r->llast++;
    if (offset_out)
        *offset_out = r->llast;
    /* The synced members get it now; a syncing one gets it from its
     * stream, after everything older. One frame for all. */
    members = rm_room_find(hub, room, NULL, &rc);
    for (i = 0; members && i < members->count; i++) {
        room_conn *c = members->members[i].conn;
        if (c != from && !syncing(r, c) && rm_deliver(hub, c, frame) == 0)
            n++;
    }
    room_frame_unref(frame);
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
            if (!(frame = entry_frame(hub, r, &r->log[i]))) {
                rc = ROOM_ENOMEM;
            } else {
                s->pos = r->log[i].offset;
                rc = rm_deliver(hub, conn, frame);
                sent += frame->len;
                room_frame_unref(frame);
            }
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
        size_t flen;
        if (!(entry.frame = entry_frame(hub, r, e))) {
            rc = ROOM_ENOMEM;
            break;
        }
        entry.offset = e->offset;
        /* The update ends the payload, after its prefix. */
        entry.update.data = room_frame_payload(entry.frame, &flen) + (flen - e->len);
        entry.update.len = e->len;
        rc = fn(&entry, ud);
        room_frame_unref(entry.frame);
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

/* How many of the entries before log[upto] a sync has still to get. */
static uint32_t to_hold(const rm_sroom *r, const rm_sync *s, uint32_t upto)
{
    uint32_t i = first_after(r, s->pos);
    return i < upto ? upto - i : 0;
}

/* A sync that had not reached the compacted entries keeps frames of the
 * ones it was still to get (log[from..upto)), so that it gets them, and not
 * the snapshot. They are made here, after held[nheld] (counted by hold()),
 * so that the compaction changes nothing when memory runs out. */
static int hold_reserve(room_hub *hub, rm_sroom *r, rm_sync *s, uint32_t upto)
{
    uint32_t n = to_hold(r, s, upto), from = upto - n, k;
    int rc;
    if (!n)
        return 0;
    /* What it already sent of its held entries goes first. */
    if (s->iheld) {
        memmove(s->held, s->held + s->iheld, (size_t)(s->nheld - s->iheld) * sizeof *s->held);
        s->nheld -= s->iheld;
        s->iheld = 0;
    }
    if ((rc = rm_grow(&hub->alloc, (void **)&s->held, &s->capheld, s->nheld + n, sizeof *s->held)) != 0)
        return rc;
    for (k = 0; k < n; k++) {
        if (!(s->held[s->nheld + k] = entry_frame(hub, r, &r->log[from + k]))) {
            while (k)
                room_frame_unref(s->held[s->nheld + --k]);
            return ROOM_ENOMEM;
        }
    }
    return 0;
}

/* Gives up what hold_reserve() made. */
static void hold_release(rm_sroom *r, rm_sync *s, uint32_t upto)
{
    uint32_t n = to_hold(r, s, upto);
    while (n)
        room_frame_unref(s->held[s->nheld + --n]);
}

static void hold(rm_sroom *r, rm_sync *s, uint32_t upto, uint64_t token)
{
    s->nheld += to_hold(r, s, upto);
    if (s->pos < token)
        s->pos = token;
}

/* After a compaction, an array of the log sized for the longest it was
 * since the previous one (`need`), with a quarter more: a room that
 * compacts at a steady pace keeps its arrays (shrinking them to the tail
 * and growing them again every cycle churns the heap into holes no later
 * allocation fits), and one grown for a long log before a compaction does
 * not stay that big for as long as the room lives. Only when it is half as
 * big again as that; a failed realloc keeps it. */
static void fit(room_hub *hub, void **items, uint32_t *cap, uint32_t need, uint32_t min, size_t elem)
{
    uint64_t want = (uint64_t)need + need / 4;
    uint32_t ncap = want < UINT32_MAX ? (uint32_t)want : UINT32_MAX;
    void *p;
    if (ncap < min)
        ncap = min;
    if (*cap <= ncap + ncap / 4)
        return;
    if ((p = rm_realloc(&hub->alloc, *items, (size_t)*cap * elem, (size_t)ncap * elem)) != NULL) {
        *items = p;
        *cap = ncap;
    }
}

/* The buffer after a compaction: the snapshot's bytes when it is kept
 * there (they were appended last, at snap->at), then those of the kept
 * entries log[upto..], which start at `from`. */
static void rebuild_buffer(rm_sroom *r, rm_lent *snap, uint32_t upto)
{
    uint8_t bytes[RM_LOG_INLINE];
    uint32_t from = snap->frame ? r->lblen : snap->at, end = from, put = 0, i;
    for (i = upto; i < r->lcount; i++) {
        if (!r->log[i].frame) {
            from = r->log[i].at;
            break;
        }
    }
    if (!snap->frame) {
        memcpy(bytes, r->lbuf + snap->at, snap->len);
        put = snap->len;
    }
    if (end > from)
        memmove(r->lbuf + put, r->lbuf + from, end - from);
    if (!snap->frame) {
        memcpy(r->lbuf, bytes, put);
        snap->at = 0;
    }
    for (i = upto; i < r->lcount; i++) {
        if (!r->log[i].frame)
            r->log[i].at = r->log[i].at - from + put;
    }
    r->lblen = put + (end - from);
}

int room_storage_compaction_commit(room_hub *hub, const char *room, uint64_t token,
                                   const void *snapshot, size_t len)
{
    rm_storage *st;
    rm_sroom *r;
    rm_lent snap;
    uint32_t upto, i, j;
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
    /* The snapshot's entry is made as the last entry would be, then moved
     * to the front; nothing has changed if that fails. */
    if ((rc = rm_log_entry_add(hub, r, token, snapshot, len, NULL)) != 0)
        return rc;
    snap = r->log[--r->lcount];
    r->lbytes -= len;
    for (i = 0; i < r->nsyncs; i++) {
        if ((rc = hold_reserve(hub, r, &r->syncs[i], upto)) != 0) {
            for (j = 0; j < i; j++)
                hold_release(r, &r->syncs[j], upto);
            if (snap.frame)
                room_frame_unref(snap.frame);
            else
                r->lblen = snap.at;
            return rc;
        }
    }
    for (i = 0; i < r->nsyncs; i++)
        hold(r, &r->syncs[i], upto, token);
    for (i = 0; i < upto; i++)
        room_frame_unref(r->log[i].frame);
    rebuild_buffer(r, &snap, upto);
    /* upto >= 1: the token is an entry's offset, and entries are only ever
     * removed by a compaction, which this one would have had to abort. */
    memmove(r->log + 1, r->log + upto, (size_t)(r->lcount - upto) * sizeof *r->log);
    r->lcount = r->lcount - upto + 1;
    r->log[0] = snap;
    fit(hub, (void **)&r->log, &r->lcap, r->lpeak > r->lcount ? r->lpeak : r->lcount, 8, sizeof *r->log);
    fit(hub, (void **)&r->lbuf, &r->lbcap, r->lbpeak > r->lblen ? r->lbpeak : r->lblen, 64, 1);
    r->lpeak = r->lcount;
    r->lbpeak = r->lblen;
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
