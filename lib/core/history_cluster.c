/* Room history in a cluster (docs/history.md, "In a cluster"): the cluster
 * adapter owns the offsets of history rooms. A message goes to the adapter
 * and comes back to every node, this one included, in offset order; each
 * node keeps a copy of what it saw and answers a request from it only when
 * the copy is whole for that position, else asks the adapter's log and
 * holds the asker's live messages until the replay is out. While the bus
 * is away, messages are delivered here under an epoch of this node's. */
#include <string.h>

#include "stored.h"

bool rm_history_clustered(const room_hub *hub)
{
    return hub->adapter.history_publish && hub->adapter.history_fetch;
}

static bool wants_all(const room_history_pos *since)
{
    return !since || (since->offset == 0 && !since->epoch[0]);
}

bool rm_history_copy_answers(const rm_sroom *r, const room_history_pos *since)
{
    /* This node's own run while the bus was away: whole here only. */
    if (r->flags & RM_S_OUTAGE)
        return true;
    if (!(r->flags & RM_S_LIVE) || wants_all(since))
        return false;
    /* Another epoch, or an offset past the copy: the log may know better
     * (a message in flight to this node, a reset it has not heard yet). */
    return strncmp(since->epoch, r->epoch, sizeof r->epoch) == 0 && since->offset >= r->hfloor &&
           since->offset <= r->hlast;
}

/* The copy starts again after `last` in `epoch`. */
static void restart(room_hub *hub, rm_sroom *r, const char *epoch, uint64_t last)
{
    rm_history_drop(hub, r);
    if (epoch != r->epoch)
        memcpy(r->epoch, epoch, sizeof r->epoch);
    r->hlast = r->hfloor = last;
    r->hsaved = r->hfloor_saved = last; /* the cluster's log keeps it, not the store */
    r->flags &= ~(uint32_t)RM_S_OUTAGE;
}

static int members_but(room_hub *hub, const char *room, const room_conn *except)
{
    int rc;
    rm_room *members = rm_room_find(hub, room, NULL, &rc);
    uint32_t i, n = 0;
    if (!members)
        return 0;
    for (i = 0; i < members->count; i++)
        n += members->members[i].conn != except;
    return (int)n;
}

/* Delivered here under an epoch of this node's (the bus is away). */
static int outage_emit(room_hub *hub, rm_sroom *r, const char *room, const char *event,
                       json_t *const *argv, size_t argc, const room_bytes *att, size_t natt,
                       const room_conn *except, json_t *stamp)
{
    if (!(r->flags & RM_S_OUTAGE)) {
        char epoch[ROOM_EPOCH_MAX + 1] = "";
        if (room_id_generate(epoch, hub->cfg.random, hub->cfg.user_data) != 0)
            return ROOM_ESTORAGE;
        restart(hub, r, epoch, r->hlast);
        r->flags = (r->flags & ~(uint32_t)RM_S_LIVE) | RM_S_OUTAGE;
        rm_log(hub, ROOM_LOG_WARN,
               "history of %s: the cluster's log is away; messages sent here go under epoch %s",
               room, r->epoch);
    }
    return rm_history_emit(hub, r, room, r->hlast + 1, event, argv, argc, att, natt, except, stamp,
                           false, true);
}

int rm_history_cluster_send(room_hub *hub, rm_sroom *r, const char *room, const char *event,
                            json_t *const *argv, size_t argc, const room_bytes *att, size_t natt,
                            const room_conn *except, json_t *stamp)
{
    room_history_limits lim;
    room_history_limits_init(&lim);
    lim.max_messages = r->hmax_messages;
    lim.max_age_ms = r->hmax_ms;
    lim.max_bytes = r->hmax_bytes;
    if (hub->adapter.history_publish(hub->cfg.adapter, hub, room, event, argv, argc, att, natt,
                                     except ? except->id : NULL, stamp, &lim) != 0)
        return outage_emit(hub, r, room, event, argv, argc, att, natt, except, stamp);
    /* Delivered when the log hands it back: these members will get it. */
    return members_but(hub, room, except);
}

/* ---- waiting requests ------------------------------------------------------------ */

/* The asker's request still waiting for the log (replayed false), or the
 * mark of one answered (true). */
static rm_hreq *waiting(rm_storage *st, const rm_sroom *r, const room_conn *conn, bool replayed)
{
    rm_hreq *q;
    for (q = st->requests; q; q = q->next) {
        if (q->room == r && q->conn == conn && q->replayed == replayed)
            return q;
    }
    return NULL;
}

static int hold(room_hub *hub, rm_hreq *q, room_frame *frame, uint64_t offset, const char *epoch)
{
    if (q->nheld == q->capheld &&
        rm_grow(&hub->alloc, (void **)&q->held, &q->capheld, q->nheld + 1, sizeof *q->held) != 0)
        return ROOM_ENOMEM;
    q->held[q->nheld].frame = room_frame_ref(frame);
    q->held[q->nheld].offset = offset;
    memcpy(q->held[q->nheld].epoch, epoch, sizeof q->held[q->nheld].epoch);
    q->nheld++;
    return 0;
}

int rm_history_fan_out(room_hub *hub, rm_sroom *r, rm_room *members, room_frame *frame,
                       uint64_t offset, const room_conn *except)
{
    uint32_t i;
    int n = 0;
    if (!r->hwaiting)
        return rm_fanout_room(hub, members, frame, except);
    for (i = 0; i < members->count; i++) {
        room_conn *conn = members->members[i].conn;
        rm_hreq *q;
        if (conn == except)
            continue;
        if ((q = waiting(hub->storage, r, conn, false)) != NULL) {
            /* After its replay; a held message it cannot keep fails the
             * request rather than arriving out of order. */
            if (!q->failed && hold(hub, q, frame, offset, r->epoch) != 0)
                q->failed = ROOM_ENOMEM;
            n++;
        } else if ((q = waiting(hub->storage, r, conn, true)) != NULL && offset &&
                   offset <= q->since.offset && strcmp(q->since.epoch, r->epoch) == 0) {
            continue; /* its replay had it */
        } else if (rm_deliver(hub, conn, frame) == 0) {
            n++;
        }
    }
    return n;
}

static void drop_held(rm_hreq *q)
{
    uint32_t i;
    for (i = 0; i < q->nheld; i++)
        room_frame_unref(q->held[i].frame);
    q->nheld = 0;
}

static void request_free(room_hub *hub, rm_hreq *q)
{
    drop_held(q);
    rm_free(&hub->alloc, q->held, (size_t)q->capheld * sizeof *q->held);
    rm_free(&hub->alloc, q->ev_name, q->ev_name_size);
    json_decref(q->ev_args);
    rm_free(&hub->alloc, q, sizeof *q);
}

static void unlink_request(rm_storage *st, rm_hreq *q)
{
    rm_hreq **link;
    for (link = &st->requests; *link; link = &(*link)->next) {
        if (*link == q) {
            *link = q->next;
            q->room->hwaiting--;
            return;
        }
    }
}

/* `done` with the request's event, then the request is freed. */
static void finish(room_hub *hub, rm_hreq *q, room_conn *conn, int result,
                   const room_history_pos *now)
{
    room_event ev = {q->ev_name, q->ev_args, q->ack_id, NULL, 0};
    q->done(hub, conn, q->ev_name ? &ev : NULL, q->room->name, result, now, q->ud);
    request_free(hub, q);
}

/* Requests that cannot be answered any more end with conn NULL. */
static void drop_requests(room_hub *hub, const rm_sroom *r, const room_conn *conn)
{
    rm_storage *st = hub->storage;
    rm_hreq *q;
    for (q = st->requests; q;) {
        rm_hreq *next = q->next;
        if ((!r || q->room == r) && (!conn || q->conn == conn)) {
            unlink_request(st, q);
            if (q->replayed)
                request_free(hub, q);
            else
                finish(hub, q, NULL, ROOM_ECLOSED, NULL);
        }
        q = next;
    }
}

void rm_history_left(room_hub *hub, rm_sroom *r, room_conn *conn, bool last)
{
    if (r->hwaiting)
        drop_requests(hub, r, conn);
    /* The adapter stops the room's live messages with its last member. */
    if (last)
        r->flags &= ~(uint32_t)RM_S_LIVE;
}

void rm_history_requests_free(room_hub *hub)
{
    drop_requests(hub, NULL, NULL);
}

int room_history_request(room_hub *hub, room_conn *conn, const room_event *ev, const char *room,
                         const room_history_pos *since, room_history_done_fn done, void *ud)
{
    room_history_pos now;
    rm_storage *st;
    rm_sroom *r;
    rm_hreq *q;
    size_t len;
    int rc;

    if (!hub || !conn || !done)
        return ROOM_EINVAL;
    if ((rc = rm_check_room_name(hub, room, &len)) != 0)
        return rc;
    memset(&now, 0, sizeof now);
    if (!(r = rm_history_room(hub, room, &rc))) {
        if (rc == ROOM_EINVAL)
            return rc;
        done(hub, conn, ev, room, rc ? rc : ROOM_ENOTFOUND, NULL, ud);
        return 0;
    }
    if (!rm_history_clustered(hub) || rm_history_copy_answers(r, since)) {
        rc = rm_history_replay_copy(hub, conn, r, since, &now);
        done(hub, conn, ev, room, rc,
             rc >= 0 || rc == ROOM_ETOOOLD || rc == ROOM_EEPOCH ? &now : NULL, ud);
        return 0;
    }
    if (!room_is_member(hub, conn, room))
        return ROOM_ENOTMEMBER;
    st = hub->storage;
    if (!(q = rm_calloc(&hub->alloc, sizeof *q)))
        return ROOM_ENOMEM;
    if (ev) {
        q->ev_name_size = strlen(ev->name) + 1;
        if (!(q->ev_name = rm_malloc(&hub->alloc, q->ev_name_size))) {
            rm_free(&hub->alloc, q, sizeof *q);
            return ROOM_ENOMEM;
        }
        memcpy(q->ev_name, ev->name, q->ev_name_size);
        q->ev_args = json_incref(ev->args);
        q->ack_id = ev->ack_id;
    }
    q->id = ++st->next_request;
    q->conn = conn;
    q->room = r;
    q->given = !wants_all(since);
    if (q->given)
        q->since = *since;
    q->done = done;
    q->ud = ud;
    q->next = st->requests;
    st->requests = q;
    r->hwaiting++;
    if (hub->adapter.history_fetch(hub->cfg.adapter, hub, room, q->given ? &q->since : NULL,
                                   q->id) != 0) {
        unlink_request(st, q);
        finish(hub, q, conn, ROOM_ESTORAGE, NULL);
    }
    return 0;
}

/* ---- the adapter's calls ------------------------------------------------------------ */

static bool pos_valid(const room_history_pos *pos)
{
    return pos && memchr(pos->epoch, '\0', sizeof pos->epoch) && rm_epoch_valid(pos->epoch);
}

static bool item_valid(const room_history_item *item)
{
    return item && item->event && !rm_check_args(item->argv, item->argc, item->attachments,
                                                item->attachment_count) &&
           (!item->stamp || json_is_object(item->stamp));
}

/* A room without history here (other settings on another node): a plain
 * event, stamped all the same. */
static int plain(room_hub *hub, const char *room, const room_history_pos *pos,
                 const room_conn *except, const room_history_item *item)
{
    room_frame *frame;
    rm_room *members;
    int rc, n;
    if (!(members = rm_room_find(hub, room, NULL, &rc)))
        return rc;
    if (pos && item->stamp &&
        (json_object_set_new(item->stamp, "offset", json_integer((json_int_t)pos->offset)) != 0 ||
         json_object_set_new(item->stamp, "epoch", json_string(pos->epoch)) != 0))
        return ROOM_ENOMEM;
    if ((rc = rm_frame_encode(hub, item->event, item->argv, item->argc, -1, item->attachments,
                              item->attachment_count, &frame)) != 0)
        return rc;
    n = rm_fanout_room(hub, members, frame, except);
    room_frame_unref(frame);
    return n;
}

/* The live messages have caught up with what answered requests replayed
 * (or moved to another epoch): their marks go. */
static void retire_marks(room_hub *hub, rm_sroom *r, const room_history_pos *pos)
{
    rm_storage *st = hub->storage;
    rm_hreq *q;
    if (!r->hwaiting)
        return;
    for (q = st->requests; q;) {
        rm_hreq *next = q->next;
        if (q->replayed && q->room == r &&
            (pos->offset >= q->since.offset || strcmp(pos->epoch, q->since.epoch) != 0)) {
            unlink_request(st, q);
            request_free(hub, q);
        }
        q = next;
    }
}

int room_history_deliver_remote(room_hub *hub, const char *room, const room_history_pos *pos,
                                const char *except_id, const room_history_item *item)
{
    const room_conn *except;
    rm_sroom *r;
    int rc, n;
    if (!hub || !pos_valid(pos) || (item && (!item_valid(item) || pos->offset == 0)))
        return ROOM_EINVAL;
    except = except_id ? room_conn_find(hub, except_id) : NULL;
    if (!(r = rm_history_room(hub, room, &rc)))
        return rc ? rc : item ? plain(hub, room, pos, except, item) : 0;
    if (!item) {
        restart(hub, r, pos->epoch, pos->offset);
        r->flags |= RM_S_LIVE;
        return 0;
    }
    /* A fetch may have put it in the copy before it came live (the log's
     * answer and the live messages come on two connections): the members
     * get it all the same, but for the askers whose replay had it; the
     * copy keeps it once. */
    if (!(r->flags & RM_S_OUTAGE) && strcmp(pos->epoch, r->epoch) == 0 && pos->offset <= r->hlast) {
        n = rm_history_emit(hub, r, room, pos->offset, item->event, item->argv, item->argc,
                            item->attachments, item->attachment_count, except, item->stamp, false,
                            false);
        retire_marks(hub, r, pos);
        return n;
    }
    /* A message that does not follow the copy: the copy starts again. */
    if ((r->flags & RM_S_OUTAGE) || strcmp(pos->epoch, r->epoch) != 0 ||
        pos->offset != r->hlast + 1)
        restart(hub, r, pos->epoch, pos->offset - 1);
    n = rm_history_emit(hub, r, room, pos->offset, item->event, item->argv, item->argc,
                        item->attachments, item->attachment_count, except, item->stamp, false,
                        true);
    if (n >= 0)
        r->flags |= RM_S_LIVE;
    retire_marks(hub, r, pos);
    return n;
}

int room_history_unpublished(room_hub *hub, const char *room, const char *except_id,
                             const room_history_item *item)
{
    const room_conn *except;
    rm_sroom *r;
    int rc;
    if (!hub || !item_valid(item))
        return ROOM_EINVAL;
    except = except_id ? room_conn_find(hub, except_id) : NULL;
    if (!(r = rm_history_room(hub, room, &rc)))
        return rc ? rc : plain(hub, room, NULL, except, item);
    return outage_emit(hub, r, room, item->event, item->argv, item->argc, item->attachments,
                       item->attachment_count, except, item->stamp);
}

void room_history_interrupted(room_hub *hub, const char *room)
{
    rm_storage *st = hub ? hub->storage : NULL;
    rm_sroom *r;
    uint32_t i;
    int rc;
    if (!st)
        return;
    if (room) {
        if ((r = rm_sroom_find(hub, room, &rc)) != NULL)
            r->flags &= ~(uint32_t)RM_S_LIVE;
        return;
    }
    for (i = 0; i < st->rooms.cap; i++) {
        if ((r = st->rooms.slots[i]) != NULL)
            r->flags &= ~(uint32_t)RM_S_LIVE;
    }
}

/* ---- the log's answer ------------------------------------------------------------------ */

/* The fetched items from `from` on, as frames (stamped), are the room's
 * messages up to now.offset: into a copy that is not whole, or after a
 * whole copy they continue. Best effort: a failure leaves the copy as it
 * was, not whole. */
static void adopt(room_hub *hub, rm_sroom *r, const room_history_pos *now,
                  const room_history_item *items, room_frame **frames, size_t from, size_t count)
{
    size_t i;
    uint64_t first = from < count ? items[from].offset : now->offset + 1;
    if (r->flags & RM_S_OUTAGE)
        return;
    if (!(r->flags & RM_S_LIVE)) {
        restart(hub, r, now->epoch, first - 1);
    } else if (strcmp(r->epoch, now->epoch) != 0 || r->hlast >= now->offset ||
               r->hlast + 1 < first) {
        return;
    }
    for (i = from; i < count; i++) {
        rm_hent *e;
        if (items[i].offset <= r->hlast)
            continue;
        if (rm_history_push(hub, r, frames[i], items[i].offset) != 0) {
            r->flags &= ~(uint32_t)RM_S_LIVE;
            return;
        }
        e = rm_history_at(r, r->hcount - 1);
        e->at = hub->now_ms - (items[i].age_ms < hub->now_ms ? items[i].age_ms : hub->now_ms);
        r->hlast = r->hsaved = items[i].offset;
    }
    r->hlast = r->hsaved = now->offset;
    r->hfloor_saved = r->hfloor;
    r->flags |= RM_S_LIVE;
}

/* Replays the fetched items after the request's position; the count
 * replayed or why not. */
static int answer_fetch(room_hub *hub, rm_hreq *q, const room_history_pos *now, uint64_t floor,
                        const room_history_item *items, size_t count)
{
    rm_sroom *r = q->room;
    room_frame **frames;
    size_t i, from = 0, bytes = 0;
    uint64_t low;
    int rc = 0, n = 0;

    if (q->failed)
        return q->failed;
    if (q->given && (strcmp(q->since.epoch, now->epoch) != 0 || q->since.offset > now->offset))
        return ROOM_EEPOCH;
    /* Consecutive, above the floor, up to the position: anything else is
     * not a whole answer. */
    for (i = 0; i < count; i++) {
        if (!item_valid(&items[i]) || items[i].offset <= floor ||
            (i && items[i].offset != items[i - 1].offset + 1))
            return ROOM_ESTORAGE;
    }
    if (count && items[count - 1].offset != now->offset)
        return ROOM_ESTORAGE;
    if (!(frames = rm_calloc(&hub->alloc, (count ? count : 1) * sizeof *frames)))
        return ROOM_ENOMEM;
    for (i = 0; i < count && !rc; i++) {
        json_t *stamp = items[i].stamp;
        if (stamp &&
            (json_object_set_new(stamp, "offset", json_integer((json_int_t)items[i].offset)) != 0 ||
             json_object_set_new(stamp, "epoch", json_string(now->epoch)) != 0))
            rc = ROOM_ENOMEM;
        else
            rc = rm_frame_encode(hub, items[i].event, items[i].argv, items[i].argc, -1,
                                 items[i].attachments, items[i].attachment_count, &frames[i]);
    }
    if (!rc) {
        /* This node's limits, newest first: what they push out has left. */
        for (i = count; i > 0; i--) {
            size_t len = rm_chain_bytes(frames[i - 1]);
            if ((r->hmax_messages && count - i + 1 > r->hmax_messages) ||
                bytes + len > r->hmax_bytes || (r->hmax_ms && items[i - 1].age_ms >= r->hmax_ms))
                break;
            bytes += len;
        }
        from = i;
        low = from ? items[from - 1].offset : count ? items[0].offset - 1 : now->offset;
        if (low < floor)
            low = floor;
        if (q->given && q->since.offset < low)
            rc = ROOM_ETOOOLD;
    }
    for (i = from; !rc && i < count; i++) {
        if (q->given && items[i].offset <= q->since.offset)
            continue;
        if ((rc = rm_deliver(hub, q->conn, frames[i])) == 0)
            n++;
    }
    if (!rc)
        adopt(hub, r, now, items, frames, from, count);
    for (i = 0; i < count; i++)
        room_frame_unref(frames[i]);
    rm_free(&hub->alloc, frames, (count ? count : 1) * sizeof *frames);
    return rc ? rc : n;
}

/* The live messages that came while the request waited and follow its
 * replay (`now` NULL: all of them): they reach the asker whatever the
 * answer, as they would have without the request. */
static void release_held(room_hub *hub, rm_hreq *q, const room_history_pos *now)
{
    uint32_t i;
    for (i = 0; i < q->nheld; i++) {
        if (!now || strcmp(q->held[i].epoch, now->epoch) != 0 || q->held[i].offset > now->offset) {
            if (rm_deliver(hub, q->conn, q->held[i].frame) != 0)
                return;
        }
    }
}

/* The request becomes the mark of what the asker has (its held messages
 * were released), then `done` with the replay's count. Linked first: a
 * close inside `done` frees the mark with the asker's other requests. */
static void answered(room_hub *hub, rm_hreq *q, const room_history_pos *now, int replayed)
{
    rm_storage *st = hub->storage;
    room_history_done_fn done = q->done;
    room_conn *conn = q->conn;
    void *ud = q->ud;
    const char *room = q->room->name;
    char *name = q->ev_name;
    size_t name_size = q->ev_name_size;
    json_t *args = q->ev_args;
    room_event ev = {name, args, q->ack_id, NULL, 0};
    drop_held(q);
    q->ev_name = NULL;
    q->ev_name_size = 0;
    q->ev_args = NULL;
    q->replayed = true;
    q->since = *now;
    q->next = st->requests;
    st->requests = q;
    q->room->hwaiting++;
    done(hub, conn, name ? &ev : NULL, room, replayed, now, ud);
    rm_free(&hub->alloc, name, name_size);
    json_decref(args);
}

int room_history_fetched(room_hub *hub, uint64_t request, int status, const room_history_pos *now,
                         uint64_t floor, const room_history_item *items, size_t count)
{
    rm_storage *st = hub ? hub->storage : NULL;
    rm_hreq *q;
    int result;
    if (!hub || (count && !items))
        return ROOM_EINVAL;
    for (q = st ? st->requests : NULL; q && q->id != request; q = q->next)
        ;
    if (!q)
        return 0;
    unlink_request(st, q);
    if (status < 0 || !pos_valid(now) || floor > now->offset) {
        release_held(hub, q, NULL);
        finish(hub, q, q->conn, ROOM_ESTORAGE, NULL);
        return 0;
    }
    result = answer_fetch(hub, q, now, floor, items, count);
    release_held(hub, q, result >= 0 ? now : NULL);
    if (result < 0) {
        finish(hub, q, q->conn, result,
               result == ROOM_ETOOOLD || result == ROOM_EEPOCH ? now : NULL);
        return 0;
    }
    answered(hub, q, now, result);
    return 0;
}
