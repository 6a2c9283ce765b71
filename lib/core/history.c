/* Room history (docs/history.md): which rooms keep it (patterns, or per
 * call), the ring of kept messages (references to the frames the members
 * got) bounded in count, bytes and age, sending with the next offset
 * stamped into the message, and the replay since {offset, epoch} that is
 * either whole or an explicit refusal. */
#include <string.h>

#include "stored.h"

/* `*` any run (also empty), `?` one byte; a pattern ends at ',' or NUL. */
static bool glob(const char *p, const char *s, const char *end)
{
    const char *star = NULL, *back = NULL;
    while (s < end) {
        if (*p == '*') {
            star = ++p;
            back = s;
        } else if (*p && *p != ',' && (*p == '?' || *p == *s)) {
            p++;
            s++;
        } else if (star) {
            p = star;
            s = ++back;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return !*p || *p == ',';
}

bool rm_history_matches(const rm_storage *st, const char *name, size_t len)
{
    const char *p = st->patterns;
    while (p) {
        if (glob(p, name, name + len))
            return true;
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return false;
}

/* Limits resolved: a count or an age (count 100 when neither), bytes. */
static void set_limits(const rm_storage *st, rm_sroom *r, uint32_t msgs, uint32_t ms, size_t bytes)
{
    if (!msgs && !ms) {
        msgs = st->cfg.history_messages;
        ms = st->cfg.history_ms;
    }
    r->hmax_messages = msgs;
    r->hmax_ms = ms;
    r->hmax_bytes = bytes ? bytes : st->cfg.history_bytes;
    r->flags |= RM_S_HISTORY;
}

void rm_history_defaults(const rm_storage *st, rm_sroom *r)
{
    set_limits(st, r, 0, 0, 0);
}

rm_hent *rm_history_at(const rm_sroom *r, uint32_t i)
{
    return &r->hist[(r->hhead + i) & (r->hcap - 1)];
}

static void evict(rm_sroom *r)
{
    rm_hent *e = rm_history_at(r, 0);
    r->hfloor = e->offset;
    r->hbytes -= rm_chain_bytes(e->frame);
    room_frame_unref(e->frame);
    r->hhead = (r->hhead + 1) & (r->hcap - 1);
    r->hcount--;
}

static bool aged(const room_hub *hub, const rm_sroom *r, const rm_hent *e)
{
    return r->hmax_ms && hub->now_ms >= e->at && hub->now_ms - e->at >= r->hmax_ms;
}

void rm_history_trim(room_hub *hub, rm_sroom *r, size_t incoming)
{
    uint64_t floor = r->hfloor;
    while (r->hcount && ((r->hmax_messages && r->hcount + (incoming > 0) > r->hmax_messages) ||
                         r->hbytes + incoming > r->hmax_bytes || aged(hub, r, rm_history_at(r, 0))))
        evict(r);
    if (r->hfloor != floor && hub->storage->store.write) {
        /* In a cluster the log is the adapter's: nothing for the store. */
        if (rm_history_clustered(hub))
            r->hfloor_saved = r->hfloor;
        else
            rm_sroom_pending(hub->storage, r);
    }
}

int rm_history_push(room_hub *hub, rm_sroom *r, room_frame *frame, uint64_t offset)
{
    size_t len = rm_chain_bytes(frame);
    rm_hent *e;
    rm_history_trim(hub, r, len ? len : 1);
    /* A message larger than the whole cap is one that left at once. */
    if (len > r->hmax_bytes) {
        r->hfloor = offset;
        return 0;
    }
    if (r->hcount == r->hcap) {
        uint32_t cap = r->hcap ? r->hcap * 2 : 8, i;
        rm_hent *ents;
        if (r->hcap > UINT32_MAX / 4 || !(ents = rm_malloc(&hub->alloc, (size_t)cap * sizeof *ents)))
            return ROOM_ENOMEM;
        for (i = 0; i < r->hcount; i++)
            ents[i] = *rm_history_at(r, i);
        rm_free(&hub->alloc, r->hist, (size_t)r->hcap * sizeof *ents);
        r->hist = ents;
        r->hcap = cap;
        r->hhead = 0;
    }
    e = &r->hist[(r->hhead + r->hcount) & (r->hcap - 1)];
    e->frame = room_frame_ref(frame);
    e->offset = offset;
    e->at = hub->now_ms;
    r->hcount++;
    r->hbytes += len;
    return 0;
}

void rm_history_drop(room_hub *hub, rm_sroom *r)
{
    (void)hub;
    while (r->hcount)
        evict(r);
    r->hbytes = 0;
}

void rm_history_release(room_hub *hub, rm_sroom *r)
{
    while (r->hcount)
        evict(r);
    rm_free(&hub->alloc, r->hist, (size_t)r->hcap * sizeof *r->hist);
    r->hist = NULL;
    r->hcap = r->hhead = 0;
    r->hbytes = 0;
}

/* ---- the API ---------------------------------------------------------------- */

int room_history_set(room_hub *hub, const char *room, const room_history_limits *limits)
{
    room_history_limits l;
    rm_sroom *r;
    int rc;
    if (!hub)
        return ROOM_EINVAL;
    room_history_limits_init(&l);
    if (limits && room_config_copy(&l, sizeof l, limits, ROOM_HISTORY_LIMITS_SIZE_MIN) != 0)
        return ROOM_EINVAL;
    if (hub->storage && hub->storage->busy)
        return ROOM_EINVAL;
    if (!(r = rm_sroom_open(hub, room, true, &rc)))
        return rc;
    set_limits(hub->storage, r, l.max_messages, l.max_age_ms, l.max_bytes);
    rm_history_trim(hub, r, 0);
    return 0;
}

rm_sroom *rm_history_room(room_hub *hub, const char *room, int *err)
{
    rm_sroom *r = NULL;
    size_t len;
    if ((*err = rm_check_room_name(hub, room, &len)) != 0)
        return NULL;
    if (hub->storage && hub->storage->busy) {
        *err = ROOM_EINVAL;
        return NULL;
    }
    r = rm_sroom_find(hub, room, err);
    if (!r && hub->storage && rm_history_matches(hub->storage, room, len))
        r = rm_sroom_open(hub, room, true, err);
    return r && (r->flags & RM_S_HISTORY) ? r : NULL;
}

int room_history_enabled(room_hub *hub, const char *room)
{
    size_t len;
    int rc;
    rm_sroom *r;
    if (!hub || !hub->storage || rm_check_room_name(hub, room, &len) != 0)
        return 0;
    r = rm_sroom_find(hub, room, &rc);
    if (r)
        return (r->flags & RM_S_HISTORY) != 0;
    return rm_history_matches(hub->storage, room, len);
}

static void position(const rm_sroom *r, room_history_pos *pos)
{
    if (!pos)
        return;
    pos->offset = r->hlast;
    memcpy(pos->epoch, r->epoch, sizeof pos->epoch);
}

int rm_history_emit(room_hub *hub, rm_sroom *r, const char *room, uint64_t offset,
                    const char *event, json_t *const *argv, size_t argc, const room_bytes *att,
                    size_t natt, const room_conn *except, json_t *stamp, bool publish, bool keep)
{
    rm_room *members;
    room_frame *frame;
    uint64_t logged = 0;
    int rc, n;
    if (stamp && (json_object_set_new(stamp, "offset", json_integer((json_int_t)offset)) != 0 ||
                  json_object_set_new(stamp, "epoch", json_string(r->epoch)) != 0))
        return ROOM_ENOMEM;
    /* With recovery on, the frame also carries the hub's offset and goes
     * into the room's recovery log: the same shared frame in both. */
    if (hub->cfg.recovery_ms)
        rc = rm_frame_encode_logged(hub, event, argv, argc, att, natt, &logged, &frame);
    else
        rc = rm_frame_encode(hub, event, argv, argc, -1, att, natt, &frame);
    if (rc)
        return rc;
    if (!keep) {
        /* The copy has it already: only the members. */
    } else if ((rc = rm_history_push(hub, r, frame, offset)) != 0) {
        room_frame_unref(frame);
        return rc;
    } else {
        r->hlast = offset;
    }
    if (keep && hub->storage->store.write) {
        if (publish)
            rm_sroom_pending(hub->storage, r);
        else
            r->hsaved = r->hlast; /* the cluster's log keeps it */
    }
    members = rm_room_find(hub, room, NULL, &rc);
    if (publish)
        n = rm_fan_out(hub, room, members, frame, except);
    else
        n = members ? rm_history_fan_out(hub, r, members, frame, offset, except) : 0;
    if (logged && members)
        rm_log_add(hub, rm_room_log(hub, members), frame, logged, except, NULL);
    room_frame_unref(frame);
    return n;
}

int room_history_send_args(room_hub *hub, const char *room, const char *event,
                           json_t *const *argv, size_t argc, const room_bytes *attachments,
                           size_t attachment_count, const room_conn *except, json_t *stamp,
                           room_history_pos *pos_out)
{
    rm_sroom *r;
    int rc, n;

    if (pos_out)
        memset(pos_out, 0, sizeof *pos_out);
    if (!hub || !event || rm_check_args(argv, argc, attachments, attachment_count) ||
        (stamp && !json_is_object(stamp)))
        return ROOM_EINVAL;
    if (!(r = rm_history_room(hub, room, &rc)))
        return rc ? rc : room_send_args(hub, room, event, argv, argc, attachments, attachment_count, except);
    if (rm_history_clustered(hub))
        return rm_history_cluster_send(hub, r, room, event, argv, argc, attachments,
                                       attachment_count, except, stamp);
    if (r->flags & RM_S_FAILED)
        return ROOM_ESTORAGE;
    n = rm_history_emit(hub, r, room, r->hlast + 1, event, argv, argc, attachments,
                        attachment_count, except, stamp, true, true);
    if (n >= 0)
        position(r, pos_out);
    return n;
}

int room_history_position(room_hub *hub, const char *room, room_history_pos *pos_out)
{
    rm_sroom *r;
    int rc;
    if (!hub || !pos_out)
        return ROOM_EINVAL;
    if (!(r = rm_history_room(hub, room, &rc)))
        return rc ? rc : ROOM_ENOTFOUND;
    position(r, pos_out);
    return 0;
}

int rm_history_replay_copy(room_hub *hub, room_conn *conn, rm_sroom *r,
                           const room_history_pos *since, room_history_pos *now_out)
{
    uint64_t from;
    uint32_t i;
    int rc, n = 0;
    rm_history_trim(hub, r, 0);
    position(r, now_out);
    if (!since || (since->offset == 0 && !since->epoch[0])) {
        from = 0; /* "whatever is kept": the client knows no position yet */
    } else {
        if (strncmp(since->epoch, r->epoch, sizeof r->epoch) != 0 || since->offset > r->hlast)
            return ROOM_EEPOCH;
        if (since->offset < r->hfloor)
            return ROOM_ETOOOLD;
        from = since->offset;
    }
    for (i = 0; i < r->hcount; i++) {
        rm_hent *e = rm_history_at(r, i);
        if (e->offset <= from)
            continue;
        if ((rc = rm_deliver(hub, conn, e->frame)) != 0)
            return rc;
        n++;
    }
    return n;
}

int room_history_replay(room_hub *hub, room_conn *conn, const char *room,
                        const room_history_pos *since, room_history_pos *now_out)
{
    rm_sroom *r;
    int rc;

    if (now_out)
        memset(now_out, 0, sizeof *now_out);
    if (!hub || !conn)
        return ROOM_EINVAL;
    if (!(r = rm_history_room(hub, room, &rc)))
        return rc ? rc : ROOM_ENOTFOUND;
    /* In a cluster, only what this node's copy holds whole. */
    if (rm_history_clustered(hub) && !rm_history_copy_answers(r, since))
        return ROOM_ESTORAGE;
    return rm_history_replay_copy(hub, conn, r, since, now_out);
}

int room_history_foreach(room_hub *hub, const char *room, uint64_t after, room_history_visit_fn fn,
                         void *ud)
{
    rm_sroom *r;
    uint32_t i;
    int rc;
    if (!hub || !fn)
        return ROOM_EINVAL;
    if (!(r = rm_history_room(hub, room, &rc)))
        return rc ? rc : ROOM_ENOTFOUND;
    rm_history_trim(hub, r, 0);
    for (i = 0; i < r->hcount; i++) {
        rm_hent *e = rm_history_at(r, i);
        if (e->offset > after && (rc = fn(e->offset, e->frame, ud)) != 0)
            return rc;
    }
    return 0;
}
