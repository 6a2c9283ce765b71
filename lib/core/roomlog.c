/* The logs of connection-state recovery: per room (and one in the hub) a
 * ring of the last logged events' frames in offset order, bounded in
 * events, bytes and age, with the highest offset that left it (its floor),
 * and the replay that merges a connection's logs in offset order. */
#include "internal.h"

rm_log *rm_room_log(const room_hub *hub, const rm_room *room)
{
    (void)hub;
    return (rm_log *)(void *)((char *)(uintptr_t)room + rm_room_name_end(room->name_len));
}

static size_t chain_bytes(const room_frame *f)
{
    size_t n = 0;
    for (; f; f = f->next)
        n += f->len;
    return n;
}

static rm_logent *at(const rm_log *log, uint32_t i)
{
    return &log->ents[(log->head + i) & (log->cap - 1)];
}

/* The oldest event leaves: whoever should have got it and did not cannot
 * resume past it. A direct emit raises its connection's floor only. */
static void evict(room_hub *hub, rm_log *log)
{
    rm_logent *e = at(log, 0);
    if (!e->to)
        log->floor = e->offset;
    else if (e->to != RM_LOG_GONE)
        rm_conn_ext_of(hub, e->to)->direct_floor = e->offset;
    log->bytes -= chain_bytes(e->frame);
    room_frame_unref(e->frame);
    log->head = (log->head + 1) & (log->cap - 1);
    log->count--;
}

/* Doubles the ring (a power of two), oldest first at 0. */
static int grow(room_hub *hub, rm_log *log)
{
    uint32_t cap = log->cap ? log->cap * 2 : 8, i;
    rm_logent *ents = rm_malloc(&hub->alloc, (size_t)cap * sizeof *ents);
    if (!ents)
        return ROOM_ENOMEM;
    for (i = 0; i < log->count; i++)
        ents[i] = *at(log, i);
    rm_free(&hub->alloc, log->ents, (size_t)log->cap * sizeof *ents);
    log->ents = ents;
    log->cap = cap;
    log->head = 0;
    return 0;
}

void rm_log_add(room_hub *hub, rm_log *log, room_frame *frame, uint64_t offset,
                const room_conn *except, room_conn *to)
{
    size_t len = chain_bytes(frame);
    rm_logent *e;

    while (log->count && (log->count >= hub->cfg.recovery_log_events ||
                          log->bytes + len > hub->cfg.recovery_log_bytes ||
                          at(log, 0)->offset <= hub->aged))
        evict(hub, log);
    /* An event the log cannot keep counts as one that left it. */
    if (len > hub->cfg.recovery_log_bytes || (log->count == log->cap && grow(hub, log) != 0)) {
        if (!to)
            log->floor = offset;
        else
            rm_conn_ext_of(hub, to)->direct_floor = offset;
        return;
    }
    e = at(log, log->count);
    e->frame = room_frame_ref(frame);
    e->except = (uintptr_t)except;
    e->to = to;
    e->offset = offset;
    log->count++;
    log->bytes += len;
}

void rm_log_release(room_hub *hub, rm_log *log)
{
    while (log->count) {
        room_frame_unref(at(log, 0)->frame);
        log->head = (log->head + 1) & (log->cap - 1);
        log->count--;
    }
    rm_free(&hub->alloc, log->ents, (size_t)log->cap * sizeof *log->ents);
    log->ents = NULL;
    log->cap = 0;
    log->bytes = 0;
}

void rm_log_forget(room_hub *hub, const room_conn *conn)
{
    uint32_t i;
    for (i = 0; i < hub->log.count; i++) {
        rm_logent *e = at(&hub->log, i);
        if (e->to == conn)
            e->to = RM_LOG_GONE;
    }
}

bool rm_log_complete(room_hub *hub, const room_conn *conn, uint64_t offset)
{
    uint32_t i;
    if (offset > hub->offset || hub->log.floor > offset ||
        rm_conn_ext_of(hub, conn)->direct_floor > offset)
        return false;
    for (i = 0; i < conn->nrooms; i++) {
        if (rm_room_log(hub, conn->rooms[i].room)->floor > offset)
            return false;
    }
    return true;
}

/* The index of the first event after `offset`. */
static uint32_t first_after(const rm_log *log, uint64_t offset)
{
    uint32_t lo = 0, hi = log->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (at(log, mid)->offset <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A k-way merge of the hub's log and the rooms' logs, each in offset order:
 * every event once (one sent to several logs shares its offset), oldest
 * first, without the ones that left this connection out or were another's
 * direct emit. `pos` has room for nrooms + 1 positions. */
void rm_log_walk(room_hub *hub, room_conn *conn, uint64_t offset, uint32_t *pos,
                 void (*visit)(room_hub *hub, room_conn *conn, room_frame *frame, void *ud),
                 void *ud)
{
    uint32_t n = conn->nrooms + 1u, i;
    uint64_t last = offset;
    const rm_log *logs_of_hub = &hub->log;

    for (i = 0; i < n; i++)
        pos[i] = first_after(i ? rm_room_log(hub, conn->rooms[i - 1].room) : logs_of_hub, offset);
    for (;;) {
        const rm_logent *best = NULL;
        uint32_t from = 0;
        for (i = 0; i < n; i++) {
            const rm_log *log = i ? rm_room_log(hub, conn->rooms[i - 1].room) : logs_of_hub;
            const rm_logent *e;
            if (pos[i] >= log->count)
                continue;
            e = at(log, pos[i]);
            if (!best || e->offset < best->offset) {
                best = e;
                from = i;
            }
        }
        if (!best)
            return;
        pos[from]++;
        if (best->offset == last)
            continue;
        last = best->offset;
        if (best->except == (uintptr_t)conn || (best->to && best->to != conn))
            continue;
        visit(hub, conn, best->frame, ud);
    }
}

static void deliver(room_hub *hub, room_conn *conn, room_frame *frame, void *ud)
{
    (void)ud;
    rm_deliver(hub, conn, frame);
}

void rm_log_replay(room_hub *hub, room_conn *conn, uint64_t offset, uint32_t *pos)
{
    rm_log_walk(hub, conn, offset, pos, deliver, NULL);
}
