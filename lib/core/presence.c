/* Presence per room, keyed by user id: one member per user however many
 * connections it has there, a full state for each joiner, and the diffs of
 * a loop tick batched into one frame per room. */
#include <stdlib.h>

#include "people.h"

#define DEFAULT_MAX_STATE_BYTES 4096
#define DEFAULT_TYPING_MS 5000

rm_proom *rm_proom_find(const rm_people *p, const char *room, uint32_t hash)
{
    return p ? rm_table_get(&p->rooms, hash, room) : NULL;
}

rm_pmember *rm_pmember_find(const room_hub *hub, const rm_proom *r, const char *key)
{
    return rm_table_get(&r->members, rm_hash(hub->seed, key, strlen(key)), key);
}

static int conn_index(const rm_pmember *m, const room_conn *conn)
{
    for (uint32_t i = 0; i < m->nconns; i++) {
        if (m->conns[i].conn == conn)
            return (int)i;
    }
    return -1;
}

/* The member `conn` is present as in `room`, or NULL. */
static rm_pmember *member_of(room_hub *hub, const room_conn *conn, const char *room)
{
    rm_people *p = hub->people;
    rm_proom *r;
    rm_pmember *m;
    size_t len;
    if (!p || !(conn->flags & RM_CONN_PRESENT) || rm_check_room_name(hub, room, &len))
        return NULL;
    r = rm_proom_find(p, room, rm_hash(hub->seed, room, len));
    m = r ? rm_pmember_find(hub, r, rm_user_key(hub, conn)) : NULL;
    return m && conn_index(m, conn) >= 0 ? m : NULL;
}

void rm_presence_notify(room_hub *hub, rm_pmember *m, room_presence_change change, room_conn *conn)
{
    rm_people *p = hub->people;
    p->busy++;
    if (p->cfg.change)
        p->cfg.change(hub, m->room->name, m->id, change, conn, m->entry, p->cfg.user_data);
    if (hub->adapter.presence)
        hub->adapter.presence(hub->cfg.adapter, hub, m->room->name, m->id, (int)change,
                              conn ? conn->id : NULL, m->entry);
    p->busy--;
}

int rm_presence_send(room_hub *hub, const char *room, const char *event, json_t *payload,
                     const char *skip_key)
{
    room_frame *frame;
    rm_room *rr;
    int rc, n = 0;
    rr = rm_room_find(hub, room, NULL, &rc);
    if (!rr)
        return rc;
    if ((rc = rm_frame_encode(hub, event, &payload, 1, -1, NULL, 0, &frame)) != 0)
        return rc;
    for (uint32_t i = 0; i < rr->count; i++) {
        room_conn *c = rr->members[i].conn;
        if (skip_key && strcmp(rm_user_key(hub, c), skip_key) == 0)
            continue;
        if (rm_deliver(hub, c, frame) == 0)
            n++;
    }
    room_frame_unref(frame);
    return n;
}

/* {"id", "name"?, "role"?, "meta"?, "info"?, "state"}, with the identity of
 * `conn`. */
static json_t *entry_new(room_hub *hub, const rm_pmember *m, const room_conn *conn,
                         json_t *state, json_t *info)
{
    rm_cuser *c = rm_cuser_of(hub, conn);
    json_t *e = json_object();
    if (!e || json_object_set_new(e, "id", json_string(m->id)) ||
        (c && c->name && json_object_set_new(e, "name", json_string(c->name))) ||
        (c && c->role && json_object_set_new(e, "role", json_string(c->role))) ||
        (c && c->meta && json_object_set(e, "meta", c->meta)) ||
        (info && json_object_set(e, "info", info)) || json_object_set(e, "state", state)) {
        json_decref(e);
        return NULL;
    }
    return e;
}

/* The pending diff changed: connections holding a state from before this
 * need it. */
static void bump(rm_proom *r)
{
    if (++r->seq == 0)
        r->seq = 1;
    r->changed = true;
}

static void mark_dirty(rm_people *p, rm_proom *r)
{
    if (!r->dirty) {
        r->dirty = true;
        r->next_dirty = p->dirty;
        p->dirty = r;
    }
}

/* Queues the member's current entry in the room's pending joins (its
 * encoding is written at the flush). */
void rm_presence_queue_join(room_hub *hub, rm_pmember *m)
{
    rm_people *p = hub->people;
    rm_proom *r = m->room;
    bump(r);
    if (p->cfg.flushed)
        mark_dirty(p, r);
    if (!p->events[1])
        return;
    if (!m->queued) {
        m->queued = true;
        m->qprev = NULL;
        m->qnext = r->joins;
        if (r->joins)
            r->joins->qprev = m;
        r->joins = m;
    }
    mark_dirty(p, r);
}

static void unqueue(rm_pmember *m)
{
    if (!m->queued)
        return;
    if (m->qprev)
        m->qprev->qnext = m->qnext;
    else
        m->room->joins = m->qnext;
    if (m->qnext)
        m->qnext->qprev = m->qprev;
    m->qprev = m->qnext = NULL;
    m->queued = false;
}

/* Out of memory the leave is lost for this member; nothing else is
 * affected, and the next state repairs it. */
void rm_presence_queue_leave(room_hub *hub, rm_pmember *m)
{
    rm_people *p = hub->people;
    rm_proom *r = m->room;
    r->body_stale = true;
    bump(r);
    if (p->cfg.flushed)
        mark_dirty(p, r);
    unqueue(m);
    if (!p->events[1])
        return;
    /* Members never told of it need no leave. */
    if (!m->announced)
        return;
    rm_pwire_leave(m);
    mark_dirty(p, r);
}

void rm_presence_member_free(room_hub *hub, rm_pmember *m)
{
    rm_people *p = hub->people;
    if (m->typist) {
        if (m->tprev)
            m->tprev->tnext = m->tnext;
        else
            p->typing = m->tnext;
        if (m->tnext)
            m->tnext->tprev = m->tprev;
    }
    json_decref(m->state);
    json_decref(m->info);
    json_decref(m->entry);
    rm_free(&hub->alloc, m->remote, m->capremote * sizeof *m->remote);
    if (m->enc)
        rm_free(&hub->alloc, m->enc, m->enc_len);
    rm_free(&hub->alloc, m->conns, m->cap * sizeof *m->conns);
    rm_free(&hub->alloc, m, sizeof *m + strlen(m->id) + 1);
}

void rm_presence_room_free(room_hub *hub, rm_proom *r)
{
    for (uint32_t i = 0; i < r->members.cap; i++) {
        if (r->members.slots[i])
            rm_presence_member_free(hub, r->members.slots[i]);
    }
    rm_table_release(&r->members, &hub->alloc);
    rm_free(&hub->alloc, r->fresh, r->fresh_cap * sizeof *r->fresh);
    rm_pwire_room_free(hub, r);
    rm_free(&hub->alloc, r, sizeof *r + strlen(r->name) + 1);
}

/* An empty room goes once no diff for it is pending. */
void rm_presence_room_maybe_free(room_hub *hub, rm_proom *r)
{
    if (r->members.count == 0 && !r->dirty) {
        rm_table_del(&hub->people->rooms, r);
        rm_presence_room_free(hub, r);
    }
}

void rm_presence_left(room_hub *hub, room_conn *conn, const char *room, uint32_t room_hash)
{
    rm_people *p = hub->people;
    rm_proom *r = rm_proom_find(p, room, room_hash);
    rm_pmember *m = r ? rm_pmember_find(hub, r, rm_user_key(hub, conn)) : NULL;
    int i = m ? conn_index(m, conn) : -1;
    if (i < 0)
        return;
    for (uint32_t f = 0; m->conns[i].fresh && f < r->nfresh; f++) {
        if (r->fresh[f].conn == conn) {
            r->fresh[f] = r->fresh[--r->nfresh];
            break;
        }
    }
    m->conns[i] = m->conns[--m->nconns];
    r->nconns--;
    if (m->typist == conn)
        rm_typing_end(hub, m, conn);
    /* Still here with another connection, on this node or another. */
    if (m->nconns || m->nremote) {
        rm_presence_notify(hub, m, ROOM_PRESENCE_CONN_LEAVE, conn);
        return;
    }
    rm_presence_queue_leave(hub, m);
    rm_presence_notify(hub, m, ROOM_PRESENCE_LEAVE, conn);
    rm_table_del(&r->members, m);
    rm_presence_member_free(hub, m);
    rm_presence_room_maybe_free(hub, r);
}

void rm_presence_drop(room_hub *hub, room_conn *conn)
{
    for (uint32_t i = 0; i < conn->nrooms; i++)
        rm_presence_left(hub, conn, conn->rooms[i].room->name, conn->rooms[i].room->hash);
}

static char *dup_event(room_hub *hub, const char *s, int *rc)
{
    size_t len;
    char *d;
    if (!s)
        return NULL;
    len = strlen(s);
    if (!len || !rm_utf8_valid((const unsigned char *)s, len)) {
        *rc = ROOM_EINVAL;
        return NULL;
    }
    if (!(d = rm_malloc(&hub->alloc, len + 1))) {
        *rc = ROOM_ENOMEM;
        return NULL;
    }
    memcpy(d, s, len + 1);
    return d;
}

static void free_events(room_hub *hub, char **events)
{
    for (int i = 0; i < 4; i++) {
        if (events[i])
            rm_free(&hub->alloc, events[i], strlen(events[i]) + 1);
    }
}

int room_presence_enable(room_hub *hub, const room_presence_config *config)
{
    room_presence_config cfg;
    rm_people *p;
    char *events[4] = {NULL, NULL, NULL, NULL};
    int rc = 0;
    if (!hub || room_config_copy(&cfg, sizeof cfg, config, ROOM_PRESENCE_CONFIG_SIZE_MIN) ||
        (hub->people && hub->people->busy))
        return ROOM_EINVAL;
    const char *names[4] = {cfg.state_event, cfg.diff_event, cfg.typing_event, cfg.stop_typing_event};
    rm_splice splice[2] = {{NULL, 0, 0, false}, {NULL, 0, 0, false}};
    for (int i = 0; i < 4 && !rc; i++)
        events[i] = dup_event(hub, names[i], &rc);
    for (int i = 0; i < 2 && !rc; i++)
        rc = rm_splice_learn(hub, &splice[i], events[i]);
    if (!rc && !(p = rm_people_get(hub)))
        rc = ROOM_ENOMEM;
    if (rc) {
        rm_splice_free(hub, &splice[0]);
        rm_splice_free(hub, &splice[1]);
        free_events(hub, events);
        return rc;
    }
    if (!cfg.typing_ms)
        cfg.typing_ms = DEFAULT_TYPING_MS;
    if (!cfg.max_state_bytes)
        cfg.max_state_bytes = DEFAULT_MAX_STATE_BYTES;
    free_events(hub, p->events);
    memcpy(p->events, events, sizeof events);
    rm_splice_free(hub, &p->splice[0]);
    rm_splice_free(hub, &p->splice[1]);
    memcpy(p->splice, splice, sizeof splice);
    cfg.state_event = p->events[0];
    cfg.diff_event = p->events[1];
    cfg.typing_event = p->events[2];
    cfg.stop_typing_event = p->events[3];
    p->cfg = cfg;
    p->enabled = true;
    return 0;
}

/* Answers the event being handled with `code`, when there is one. */
static int answer(room_hub *hub, room_conn *conn, const room_event *ev, int code, const char *msg)
{
    if (ev)
        room_fail(hub, conn, ev, code, msg);
    return code;
}

rm_proom *rm_proom_new(room_hub *hub, const char *room, size_t len, uint32_t hash)
{
    rm_proom *r = rm_calloc(&hub->alloc, sizeof *r + len + 1);
    if (!r)
        return NULL;
    rm_table_init(&r->members, offsetof(rm_pmember, id), offsetof(rm_pmember, hash));
    rm_buf_init(&r->leaves, &hub->alloc);
    rm_buf_init(&r->body, &hub->alloc);
    r->body_stale = true; /* built by the first state */
    r->seq = 1;
    memcpy(r->name, room, len + 1);
    r->hash = hash;
    return r;
}

int room_presence_join(room_hub *hub, room_conn *conn, const char *room, json_t *metadata,
                       const room_event *ev)
{
    rm_people *p = hub ? hub->people : NULL;
    room_join_verdict verdict = {NULL, NULL};
    json_t *new_entry = NULL;
    const char *key;
    rm_proom *r;
    rm_pmember *m;
    size_t len, klen;
    uint32_t hash;
    bool new_room = false, new_member = false;
    int rc;

    if (!p || !p->enabled || p->busy || !conn || !room)
        return ROOM_EINVAL;
    if ((rc = rm_check_room_name(hub, room, &len)) != 0)
        return rc;
    if (room_is_member(hub, conn, room))
        return ROOM_EALREADY;
    if (p->cfg.authorize) {
        p->busy++;
        rc = p->cfg.authorize(hub, conn, room, metadata, &verdict, p->cfg.user_data);
        p->busy--;
        if (rc < 0) {
            json_decref(verdict.info);
            return answer(hub, conn, ev, rc, verdict.reason);
        }
    }
    /* Everything that can fail comes before room_join(), so that a failure
     * changes nothing. */
    hash = rm_hash(hub->seed, room, len);
    key = rm_user_key(hub, conn);
    klen = strlen(key);
    rc = ROOM_ENOMEM;
    if (!(r = rm_proom_find(p, room, hash))) {
        if (rm_table_reserve(&p->rooms, &hub->alloc) || !(r = rm_proom_new(hub, room, len, hash)))
            goto fail_info;
        new_room = true;
    }
    if (!(m = rm_pmember_find(hub, r, key))) {
        if (rm_table_reserve(&r->members, &hub->alloc) ||
            !(m = rm_calloc(&hub->alloc, sizeof *m + klen + 1)))
            goto fail_room;
        memcpy(m->id, key, klen + 1);
        m->hash = rm_hash(hub->seed, key, klen);
        m->room = r;
        new_member = true;
        if (!(m->state = json_object()) ||
            !(m->entry = entry_new(hub, m, conn, m->state, verdict.info)))
            goto fail_member;
        m->info = verdict.info;
        verdict.info = NULL;
    } else if (verdict.info &&
               !(new_entry = entry_new(hub, m, m->nconns ? m->conns[0].conn : conn, m->state,
                                       verdict.info))) {
        goto fail_member;
    }
    if (rm_grow(&hub->alloc, (void **)&m->conns, &m->cap, m->nconns + 1, sizeof *m->conns) ||
        (p->events[0] &&
         rm_grow(&hub->alloc, (void **)&r->fresh, &r->fresh_cap, r->nfresh + 1, sizeof *r->fresh)))
        goto fail_member;
    if ((rc = room_join(hub, conn, room)) != 0)
        goto fail_member;

    if (new_room)
        rm_table_put(&p->rooms, r);
    if (new_member)
        rm_table_put(&r->members, m);
    if (new_entry) {
        /* A later connection's info replaces the member's. */
        json_decref(m->entry);
        json_decref(m->info);
        m->entry = new_entry;
        m->info = verdict.info;
        rm_pmember_changed(hub, m);
    }
    if (new_member)
        rm_pwire_add(hub, m);
    /* The joiner's full state goes out at the flush, one frame shared by
     * everyone who joined in the tick, in place of the diff. */
    m->conns[m->nconns++] = (rm_pconn){conn, 0, p->events[0] != NULL};
    r->nconns++;
    conn->flags |= RM_CONN_PRESENT;
    if (p->events[0]) {
        r->fresh[r->nfresh++] = (rm_fresh){m, conn};
        mark_dirty(p, r);
    }
    if (new_member || new_entry)
        rm_presence_queue_join(hub, m);
    rm_presence_notify(hub, m, new_member ? ROOM_PRESENCE_JOIN : ROOM_PRESENCE_CONN_JOIN, conn);
    return 0;

fail_member:
    json_decref(new_entry);
    if (new_member)
        rm_presence_member_free(hub, m);
fail_room:
    if (new_room)
        rm_presence_room_free(hub, r);
fail_info:
    json_decref(verdict.info);
    return rc;
}

int room_presence_update(room_hub *hub, room_conn *conn, const char *room, json_t *patch,
                         const room_event *ev)
{
    rm_people *p = hub ? hub->people : NULL;
    rm_pmember *m;
    json_t *next, *entry;
    const char *msg = NULL;
    size_t bytes;
    int rc;

    if (!p || !p->enabled || p->busy || !conn || !room || !patch)
        return ROOM_EINVAL;
    if (!(m = member_of(hub, conn, room)))
        return answer(hub, conn, ev, ROOM_ENOTMEMBER, NULL);
    if (!json_is_object(patch))
        return answer(hub, conn, ev, ROOM_EPROTO, "presence must be an object");
    next = json_incref(m->state);
    if ((rc = room_merge_patch(&next, patch)) != 0) {
        json_decref(next);
        return answer(hub, conn, ev, rc, NULL);
    }
    bytes = json_dumpb(next, NULL, 0, JSON_COMPACT);
    if (bytes > p->cfg.max_state_bytes) {
        json_decref(next);
        return answer(hub, conn, ev, ROOM_ETOOBIG, "presence state is larger than allowed");
    }
    if (p->cfg.validate) {
        p->busy++;
        rc = p->cfg.validate(hub, conn, room, next, &msg, p->cfg.user_data);
        p->busy--;
        if (rc < 0) {
            json_decref(next);
            return answer(hub, conn, ev, rc, msg);
        }
    }
    if (json_equal(next, m->state)) {
        json_decref(next);
        return 0;
    }
    if (!(entry = entry_new(hub, m, m->conns[0].conn, next, m->info))) {
        json_decref(next);
        return answer(hub, conn, ev, ROOM_ENOMEM, NULL);
    }
    json_decref(m->state);
    json_decref(m->entry);
    m->state = next;
    m->entry = entry;
    rm_pmember_changed(hub, m);
    rm_presence_queue_join(hub, m);
    rm_presence_notify(hub, m, ROOM_PRESENCE_UPDATE, conn);
    return 0;
}

/* The pending joins were shown: in a state (`sent` false: they stay
 * pending for the diff), or in the diff, which is then cleared. Either way
 * a leave of theirs must now be told. */
static void announce(rm_proom *r, bool sent)
{
    rm_pmember *m, *next;
    for (m = r->joins; m; m = next) {
        next = m->qnext;
        m->announced = true;
        if (sent) {
            m->queued = false;
            m->qprev = m->qnext = NULL;
        }
    }
    if (!sent)
        return;
    r->joins = NULL;
    /* A burst's leaves can be large: their buffer is not kept. */
    if (r->leaves.cap > 4096)
        rm_buf_release(&r->leaves);
    r->leaves.len = 0;
}

/* One room's tick: the full state to the connections that joined since the
 * last flush, and when `due` the diff to the others that lack some of it;
 * each frame encoded once. */
static int flush_room(room_hub *hub, rm_proom *r, bool due, bool *diffed)
{
    rm_people *p = hub->people;
    room_frame *diff = NULL, *snap = NULL;
    int n = 0;
    if (due && p->events[1] && (r->joins || r->leaves.len) && r->nconns > r->nfresh &&
        !(diff = rm_pwire_diff(hub, r)))
        return ROOM_ENOMEM;
    if (r->nfresh && p->events[0] && !(snap = rm_pwire_state(hub, r))) {
        room_frame_unref(diff);
        return ROOM_ENOMEM;
    }
    for (uint32_t i = 0; diff && i < r->members.cap; i++) {
        rm_pmember *m = r->members.slots[i];
        for (uint32_t k = 0; m && k < m->nconns; k++) {
            rm_pconn *pc = &m->conns[k];
            if (!pc->fresh && pc->seen != r->seq && rm_deliver(hub, pc->conn, diff) == 0)
                n++;
        }
    }
    for (uint32_t i = 0; i < r->nfresh; i++) {
        rm_pconn *pc = &r->fresh[i].member->conns[conn_index(r->fresh[i].member, r->fresh[i].conn)];
        pc->fresh = false;
        pc->seen = r->seq;
        if (snap && rm_deliver(hub, pc->conn, snap) == 0)
            n++;
    }
    r->nfresh = 0;
    *diffed = diff != NULL;
    room_frame_unref(diff);
    room_frame_unref(snap);
    if (due || snap)
        announce(r, due);
    return n;
}

/* How long a diff of `r` holds the next back: diff_ms, or its connections'
 * share of diff_budget when that is longer. */
static uint64_t spacing(const rm_people *p, const rm_proom *r)
{
    uint64_t ms = p->cfg.diff_ms;
    if (p->cfg.diff_budget && (uint64_t)r->nconns * 1000 / p->cfg.diff_budget > ms)
        ms = (uint64_t)r->nconns * 1000 / p->cfg.diff_budget;
    return ms;
}

/* Diffs a room may send ahead of its spacing, when their changes settled:
 * r->diff_at runs ahead of the clock by a spacing for each. */
#define EARLY_DIFFS 2

/* When a held diff of `r` may go early: once its changes have settled
 * (none for diff_ms), and not more than EARLY_DIFFS spacings ahead. */
static uint64_t settle_at(const rm_people *p, const rm_proom *r, uint64_t gap)
{
    uint64_t at = r->changed_at + p->cfg.diff_ms, ahead = EARLY_DIFFS * gap;
    if (!p->cfg.diff_ms)
        return UINT64_MAX;
    return r->diff_at > ahead && r->diff_at - ahead > at ? r->diff_at - ahead : at;
}

/* Sends the dirty rooms' states, and their diffs when `all` or due; rooms
 * whose diff is held back stay dirty, the soonest in p->diff_due. */
static int flush(room_hub *hub, bool all)
{
    rm_people *p = hub->people;
    rm_proom *r, *held = NULL;
    int n = 0, rc = 0;
    p->diff_due = UINT64_MAX;
    while ((r = p->dirty) != NULL) {
        bool diffed;
        uint64_t gap = spacing(p, r), settled;
        /* Changes count from the tick that takes them: the hub's clock is
         * that of the tick before, which a long loop iteration (a diff to
         * thousands) leaves far behind, and input waiting through it is
         * no sign of a burst that ended. */
        if (r->changed) {
            r->changed = false;
            r->changed_at = hub->now_ms;
        }
        settled = settle_at(p, r, gap);
        /* A clock that went back, or a room that shrank, does not hold a
         * diff longer than the room's spacing now. */
        bool regular = all || hub->now_ms >= r->diff_at || r->diff_at - hub->now_ms > (EARLY_DIFFS + 1) * gap;
        /* A burst that ended is shown once it settled, not a spacing
         * later. Such a diff is taken from the spacings to come (a token
         * bucket of EARLY_DIFFS), so that over time a room still costs one
         * diff per spacing. */
        bool early = !regular && hub->now_ms >= settled;
        bool due = regular || early;
        if ((rc = flush_room(hub, r, due, &diffed)) < 0)
            break;
        n += rc;
        p->dirty = r->next_dirty;
        if (!due) {
            uint64_t at = settled < r->diff_at ? settled : r->diff_at;
            r->next_dirty = held;
            held = r;
            if (at < p->diff_due)
                p->diff_due = at;
            continue;
        }
        r->dirty = false;
        /* The interval runs from a diff sent (or from the changes a host
         * with its own wire format was told of), not from a state. */
        if (diffed || (!p->events[1] && p->cfg.flushed)) {
            r->diff_at = (early ? r->diff_at : hub->now_ms) + gap;
        }
        /* Unlinked first: a connection its sends close marks rooms dirty
         * again, for this loop to take. */
        if (p->cfg.flushed) {
            p->busy++;
            p->cfg.flushed(hub, r->name, p->cfg.user_data);
            p->busy--;
        }
        rm_presence_room_maybe_free(hub, r);
    }
    while ((r = held) != NULL) {
        held = r->next_dirty;
        r->next_dirty = p->dirty;
        p->dirty = r;
    }
    return rc < 0 ? rc : n;
}

int room_presence_flush(room_hub *hub)
{
    rm_people *p = hub ? hub->people : NULL;
    if (!p)
        return 0;
    if (p->busy)
        return ROOM_EINVAL;
    return flush(hub, true);
}

int64_t rm_presence_tick(room_hub *hub, uint64_t now_ms)
{
    rm_people *p = hub->people;
    rm_pmember *m, *next;
    uint64_t soonest = UINT64_MAX;
    if (!p->busy)
        flush(hub, false);
    if (p->diff_due != UINT64_MAX)
        soonest = p->diff_due > now_ms ? p->diff_due : now_ms;
    for (m = p->typing; m; m = next) {
        next = m->tnext;
        if (m->typing_until <= now_ms)
            rm_typing_end(hub, m, NULL);
        else if (m->typing_until < soonest)
            soonest = m->typing_until;
    }
    return soonest == UINT64_MAX ? -1 : (int64_t)(soonest - now_ms);
}

size_t room_presence_user_count(room_hub *hub, const char *room)
{
    size_t len;
    rm_proom *r;
    if (!hub || !hub->people || rm_check_room_name(hub, room, &len))
        return 0;
    r = rm_proom_find(hub->people, room, rm_hash(hub->seed, room, len));
    return r ? r->members.count : 0;
}

size_t room_presence_conn_count(room_hub *hub, const char *room)
{
    size_t len;
    rm_proom *r;
    if (!hub || !hub->people || rm_check_room_name(hub, room, &len))
        return 0;
    r = rm_proom_find(hub->people, room, rm_hash(hub->seed, room, len));
    return r ? r->nconns + r->rconns : 0;
}

static rm_proom *proom_named(room_hub *hub, const char *room)
{
    size_t len;
    if (!hub->people || rm_check_room_name(hub, room, &len))
        return NULL;
    return rm_proom_find(hub->people, room, rm_hash(hub->seed, room, len));
}

int room_presence_foreach(room_hub *hub, const char *room, room_presence_visit_fn fn, void *ud)
{
    rm_proom *r;
    int rc;
    if (!hub || !room || !fn)
        return ROOM_EINVAL;
    if (!(r = proom_named(hub, room)))
        return 0;
    for (uint32_t i = 0; i < r->members.cap; i++) {
        rm_pmember *m = r->members.slots[i];
        room_presence_member pm = {sizeof pm, NULL, NULL, NULL, 0};
        if (!m)
            continue;
        pm.user_id = m->id;
        pm.entry = m->entry;
        pm.state = m->state;
        pm.connections = m->nconns + m->rconns;
        if ((rc = fn(&pm, ud)) != 0)
            return rc;
    }
    return 0;
}

json_t *room_presence_state(room_hub *hub, const char *room)
{
    rm_proom *r;
    json_t *state;
    if (!hub || !room || !(state = json_object()))
        return NULL;
    if (!(r = proom_named(hub, room)))
        return state;
    for (uint32_t i = 0; i < r->members.cap; i++) {
        rm_pmember *m = r->members.slots[i];
        if (m && json_object_set(state, m->id, m->entry)) {
            json_decref(state);
            return NULL;
        }
    }
    return state;
}

int room_presence_user_conns_foreach(room_hub *hub, const char *room, const char *user_id,
                                     room_conn_visit_fn fn, void *ud)
{
    rm_proom *r;
    rm_pmember *m;
    int rc;
    if (!hub || !room || !user_id || !fn)
        return ROOM_EINVAL;
    r = proom_named(hub, room);
    m = r ? rm_pmember_find(hub, r, user_id) : NULL;
    for (uint32_t i = 0; m && i < m->nconns; i++) {
        if ((rc = fn(m->conns[i].conn, ud)) != 0)
            return rc;
    }
    return 0;
}

/* Teardown (room_hub_free): nothing is sent and no callback runs; the
 * connections, freed next, forget they had a user or presence. */
void rm_people_free(room_hub *hub)
{
    rm_people *p = hub->people;
    if (!p)
        return;
    for (uint32_t i = 0; i < p->rooms.cap; i++) {
        rm_proom *r = p->rooms.slots[i];
        if (!r)
            continue;
        for (uint32_t j = 0; j < r->members.cap; j++) {
            rm_pmember *m = r->members.slots[j];
            for (uint32_t k = 0; m && k < m->nconns; k++)
                m->conns[k].conn->flags &= (uint8_t)~RM_CONN_PRESENT;
            if (m)
                m->typist = NULL; /* members go with their rooms: no list upkeep */
        }
        rm_presence_room_free(hub, r);
    }
    /* Deleting shifts later items of a probe run back into slot i, which
     * is then looked at again. */
    for (uint32_t i = 0; i < p->by_conn.cap;) {
        rm_cuser *c = p->by_conn.slots[i];
        if (c)
            rm_identity_forget(hub, c->conn);
        else
            i++;
    }
    rm_table_release(&p->rooms, &hub->alloc);
    rm_table_release(&p->by_conn, &hub->alloc);
    rm_table_release(&p->users, &hub->alloc);
    free_events(hub, p->events);
    rm_splice_free(hub, &p->splice[0]);
    rm_splice_free(hub, &p->splice[1]);
    rm_free(&hub->alloc, p, sizeof *p);
    hub->people = NULL;
}
