/* Operations by connection id and room-wide ones, here or through the
 * cluster adapter, and the traffic an adapter brings from other nodes. */
#include "internal.h"

/* Checks what an operation needs; ROOM_EINVAL / ROOM_ENAME. */
static int check_op(room_hub *hub, const room_remote_op *op)
{
    size_t len, i;
    int rc;
    switch (op->kind) {
    case ROOM_REMOTE_JOIN:
    case ROOM_REMOTE_LEAVE:
        if (!op->conn_id)
            return ROOM_EINVAL;
        return rm_check_room_name(hub, op->room, &len);
    case ROOM_REMOTE_LEAVE_ALL:
    case ROOM_REMOTE_DISCONNECT:
        return op->conn_id ? 0 : ROOM_EINVAL;
    case ROOM_REMOTE_EMIT:
        if (!op->conn_id || !op->event)
            return ROOM_EINVAL;
        return rm_check_args(op->argv, op->argc, NULL, 0);
    case ROOM_REMOTE_MEMBERS_JOIN:
    case ROOM_REMOTE_MEMBERS_LEAVE:
        if (!op->rooms && op->nrooms)
            return ROOM_EINVAL;
        if ((rc = rm_check_room_name(hub, op->room, &len)) != 0)
            return rc;
        for (i = 0; i < op->nrooms; i++) {
            if ((rc = rm_check_room_name(hub, op->rooms[i], &len)) != 0)
                return rc;
        }
        return 0;
    default:
        return ROOM_EINVAL;
    }
}

static int apply_to(room_hub *hub, room_conn *conn, const room_remote_op *op)
{
    int rc;
    switch (op->kind) {
    case ROOM_REMOTE_JOIN:
        return room_join(hub, conn, op->room);
    case ROOM_REMOTE_LEAVE:
        return room_leave(hub, conn, op->room);
    case ROOM_REMOTE_LEAVE_ALL:
        rc = room_leave_all(hub, conn);
        return rc < 0 ? rc : 0;
    case ROOM_REMOTE_DISCONNECT:
        /* The host holds the connection: it closes it through its close
         * callback, which runs the disconnect handler. */
        room_conn_kick(hub, conn, ROOM_CLOSE_NORMAL, op->reason ? op->reason : "server disconnect");
        return 0;
    default: /* ROOM_REMOTE_EMIT */
        return room_emit_args(hub, conn, op->event, op->argv, op->argc, NULL, 0);
    }
}

/* Every member of op->room joins or leaves op->rooms here; the members
 * are copied first, since a leave of op->room itself reorders them. */
static int apply_members(room_hub *hub, const room_remote_op *op, int *first_error)
{
    rm_room *room;
    room_conn **conns;
    uint32_t i, n;
    size_t j;
    int rc, done = 0;
    bool join = op->kind == ROOM_REMOTE_MEMBERS_JOIN;

    *first_error = 0;
    room = rm_room_find(hub, op->room, NULL, &rc);
    if (rc)
        return rc;
    if (!room || !op->nrooms)
        return 0;
    n = room->count;
    conns = rm_malloc(&hub->alloc, n * sizeof *conns);
    if (!conns)
        return ROOM_ENOMEM;
    for (i = 0; i < n; i++)
        conns[i] = room->members[i].conn;
    for (i = 0; i < n; i++) {
        if (conns[i]->flags & RM_CONN_DETACHED)
            continue;
        for (j = 0; j < op->nrooms; j++) {
            rc = join ? room_join(hub, conns[i], op->rooms[j]) : room_leave(hub, conns[i], op->rooms[j]);
            if (rc == 0)
                done++;
            else if (!*first_error && rc != (join ? ROOM_EALREADY : ROOM_ENOTMEMBER))
                *first_error = rc;
        }
    }
    rm_free(&hub->alloc, conns, n * sizeof *conns);
    return done;
}

int room_remote_apply(room_hub *hub, const room_remote_op *op)
{
    room_conn *conn;
    int rc, first_error;
    if (!hub || !op)
        return ROOM_EINVAL;
    if ((rc = check_op(hub, op)) != 0)
        return rc;
    if (op->kind == ROOM_REMOTE_MEMBERS_JOIN || op->kind == ROOM_REMOTE_MEMBERS_LEAVE)
        return apply_members(hub, op, &first_error);
    conn = room_conn_find(hub, op->conn_id);
    return conn ? apply_to(hub, conn, op) : ROOM_ENOTFOUND;
}

/* Here, else through the adapter; `done` runs once either way. */
static int rm_remote_run(room_hub *hub, const room_remote_op *op, room_done_fn done, void *ud)
{
    room_conn *conn;
    int rc, first_error = 0;

    if (!hub || !op)
        return ROOM_EINVAL;
    if ((rc = check_op(hub, op)) != 0)
        return rc;
    if (op->kind == ROOM_REMOTE_MEMBERS_JOIN || op->kind == ROOM_REMOTE_MEMBERS_LEAVE) {
        rc = apply_members(hub, op, &first_error);
        if (rc >= 0 && hub->adapter.remote &&
            (rc = hub->adapter.remote(hub->cfg.adapter, hub, op, NULL, NULL)) != 0)
            rm_log(hub, ROOM_LOG_WARN, "adapter %s could not forward a room operation: %s",
                   hub->adapter.name, room_strerror(rc));
        if (done)
            done(hub, rc < 0 ? rc : first_error, ud);
        return 0;
    }
    conn = room_conn_find(hub, op->conn_id);
    if (conn) {
        rc = apply_to(hub, conn, op);
    } else if (hub->adapter.remote) {
        return hub->adapter.remote(hub->cfg.adapter, hub, op, done, ud);
    } else if (op->kind == ROOM_REMOTE_JOIN && hub->adapter.remote_join) {
        return hub->adapter.remote_join(hub->cfg.adapter, hub, op->conn_id, op->room, done, ud);
    } else if (op->kind == ROOM_REMOTE_LEAVE && hub->adapter.remote_leave) {
        return hub->adapter.remote_leave(hub->cfg.adapter, hub, op->conn_id, op->room, done, ud);
    } else {
        rc = ROOM_ENOTFOUND; /* no other node to ask */
    }
    if (done)
        done(hub, rc, ud);
    return 0;
}

int room_join_id(room_hub *hub, const char *conn_id, const char *room, room_done_fn done, void *ud)
{
    room_remote_op op = {.kind = ROOM_REMOTE_JOIN, .conn_id = conn_id, .room = room};
    return rm_remote_run(hub, &op, done, ud);
}

int room_leave_id(room_hub *hub, const char *conn_id, const char *room, room_done_fn done, void *ud)
{
    room_remote_op op = {.kind = ROOM_REMOTE_LEAVE, .conn_id = conn_id, .room = room};
    return rm_remote_run(hub, &op, done, ud);
}

int room_leave_all_id(room_hub *hub, const char *conn_id, room_done_fn done, void *ud)
{
    room_remote_op op = {.kind = ROOM_REMOTE_LEAVE_ALL, .conn_id = conn_id};
    return rm_remote_run(hub, &op, done, ud);
}

int room_disconnect_id(room_hub *hub, const char *conn_id, const char *reason, room_done_fn done,
                       void *ud)
{
    room_remote_op op = {.kind = ROOM_REMOTE_DISCONNECT, .conn_id = conn_id, .reason = reason};
    return rm_remote_run(hub, &op, done, ud);
}

int room_emit_id(room_hub *hub, const char *conn_id, const char *event, json_t *const *argv,
                 size_t argc, room_done_fn done, void *ud)
{
    room_remote_op op = {.kind = ROOM_REMOTE_EMIT, .conn_id = conn_id, .event = event,
                         .argv = argv, .argc = argc};
    return rm_remote_run(hub, &op, done, ud);
}

int room_members_join(room_hub *hub, const char *room, const char *const *rooms, size_t nrooms,
                      room_done_fn done, void *ud)
{
    room_remote_op op = {.kind = ROOM_REMOTE_MEMBERS_JOIN, .room = room, .rooms = rooms,
                         .nrooms = nrooms};
    return rm_remote_run(hub, &op, done, ud);
}

int room_members_leave(room_hub *hub, const char *room, const char *const *rooms, size_t nrooms,
                       room_done_fn done, void *ud)
{
    room_remote_op op = {.kind = ROOM_REMOTE_MEMBERS_LEAVE, .room = room, .rooms = rooms,
                         .nrooms = nrooms};
    return rm_remote_run(hub, &op, done, ud);
}

/* Whether `conn` is in one of `names` (rooms looked up in `found`, NULL
 * where the room is not here) or is named there by id. */
static bool listed(const room_conn *conn, const char *const *names, rm_room *const *found, size_t n)
{
    size_t i;
    uint16_t k;
    for (i = 0; i < n; i++) {
        if (found[i]) {
            for (k = 0; k < conn->nrooms; k++) {
                if (conn->rooms[k].room == found[i])
                    return true;
            }
        } else if (strcmp(names[i], conn->id) == 0) {
            return true;
        }
    }
    return false;
}

int room_hub_deliver_remote_event(room_hub *hub, const char *const *rooms, size_t nrooms,
                                  const char *const *except, size_t nexcept, const char *event,
                                  json_t *const *argv, size_t argc, const room_bytes *att,
                                  size_t natt)
{
    rm_room **found;
    room_frame *frame = NULL;
    uint64_t offset = 0;
    size_t i, nfound = nrooms + nexcept;
    uint32_t m;
    int rc, n = 0;

    if (!hub || !event || (!rooms && nrooms) || (!except && nexcept) ||
        rm_check_args(argv, argc, att, natt))
        return ROOM_EINVAL;
    for (i = 0; i < nfound; i++) {
        if (!(i < nrooms ? rooms[i] : except[i - nrooms]))
            return ROOM_EINVAL;
    }
    found = nfound ? rm_calloc(&hub->alloc, nfound * sizeof *found) : NULL;
    if (nfound && !found)
        return ROOM_ENOMEM;
    /* Names that are no valid room here (a Socket.IO id, a room without
     * members on this node) stay NULL. */
    for (i = 0; i < nfound; i++)
        found[i] = rm_room_find(hub, i < nrooms ? rooms[i] : except[i - nrooms], NULL, &rc);
    for (i = 0; i < nrooms && !found[i]; i++)
        ;
    if (nrooms && i == nrooms)
        goto out; /* none of the rooms has members here: nothing to encode */
    /* With recovery, this hub's next offset, as for its own sends: a
     * member that resumes here gets it again. */
    rc = hub->cfg.recovery_ms
             ? rm_frame_encode_logged(hub, event, argv, argc, att, natt, &offset, &frame)
             : rm_frame_encode(hub, event, argv, argc, -1, att, natt, &frame);
    if (rc) {
        n = rc;
        goto out;
    }
    if (offset)
        rm_recovery_log_remote(hub, found, nrooms, except, nexcept, frame, offset);
    if (!nrooms) {
        const rm_table *t = &hub->conns_by_id;
        for (m = 0; m < t->cap; m++) {
            room_conn *conn = t->slots[m];
            if (conn && !listed(conn, except, found + nrooms, nexcept) &&
                rm_deliver(hub, conn, frame) == 0)
                n++;
        }
        goto out;
    }
    for (i = 0; i < nrooms; i++) {
        rm_room *room = found[i];
        for (m = 0; room && m < room->count; m++) {
            room_conn *conn = room->members[m].conn;
            /* Once per connection: not when an earlier room had it. */
            if (!listed(conn, rooms, found, i) && !listed(conn, except, found + nrooms, nexcept) &&
                rm_deliver(hub, conn, frame) == 0)
                n++;
        }
    }
out:
    room_frame_unref(frame);
    rm_free(&hub->alloc, found, nfound * sizeof *found);
    return n;
}

int room_hub_rooms_foreach(room_hub *hub, room_name_visit_fn fn, void *ud)
{
    uint32_t i;
    int rc;
    if (!hub || !fn)
        return ROOM_EINVAL;
    /* The callback cannot join or leave, so the table holds still. */
    for (i = 0; i < hub->rooms.cap; i++) {
        rm_room *room = hub->rooms.slots[i];
        if (room && (rc = fn(room->name, ud)) != 0)
            return rc;
    }
    return 0;
}
