/* Connections: identity, registration, lookup and teardown. */
#include <string.h>

#include "internal.h"
#include "people.h"

int room_conn_open_with(room_hub *hub, void *transport, const room_open_args *given,
                        room_conn **conn_out, json_t **refusal_out)
{
    room_open_args in;
    room_conn *conn;
    json_t *args;
    int rc;

    if (refusal_out)
        *refusal_out = NULL;
    if (!hub || !conn_out)
        return ROOM_EINVAL;
    room_open_args_init(&in);
    if (given && room_config_copy(&in, sizeof in, given, ROOM_OPEN_ARGS_MIN_SIZE) != 0)
        return ROOM_EINVAL;
    *conn_out = NULL;
    if (hub->cfg.recovery_ms) {
        const char *pid, *offset;
        bool known;
        if ((rc = rm_recovery_resume(hub, transport, &in, conn_out, &known)) != 0) {
            if (rc < 0)
                return rc;
            conn = *conn_out;
            goto connect;
        }
        /* Not a session of this node: perhaps another's. */
        if (!known && in.resume_wait && rm_recovery_args(hub, &in, &pid, &offset) &&
            (rc = rm_resume_ask(hub, transport, &in, pid, offset)) != 0)
            return rc;
    }
    conn = rm_calloc(&hub->alloc, rm_conn_size(hub));
    if (!conn)
        return ROOM_ENOMEM;
    conn->transport = transport;
    conn->rooms = &conn->first;
    do {
        if (room_id_generate(conn->id, hub->cfg.random, hub->cfg.user_data) != 0) {
            rm_free(&hub->alloc, conn, rm_conn_size(hub));
            return ROOM_EINVAL;
        }
        conn->id_hash = rm_hash(hub->seed, conn->id, ROOM_CONN_ID_LEN);
    } while (rm_table_get(&hub->conns_by_id, conn->id_hash, conn->id));
    if (hub->cfg.recovery_ms && rm_recovery_conn_init(hub, conn) != 0) {
        rm_free(&hub->alloc, conn, rm_conn_size(hub));
        return ROOM_EINVAL;
    }

    if ((rc = rm_table_reserve(&hub->conns_by_id, &hub->alloc)) != 0) {
        rm_free(&hub->alloc, conn, rm_conn_size(hub));
        return rc;
    }
    rm_table_put(&hub->conns_by_id, conn);
    hub->nconns++;
    rm_limit_init(hub, conn);

    /* Set before the connect handler, so that the host's callbacks during
     * it (its sends) can tell which connection they serve. */
    *conn_out = conn;
    if (hub->cfg.recovery_ms)
        rm_recovery_open_message(hub, conn, hub->offset);
connect:
    args = json_pack("[OOO]", in.auth ? in.auth : json_null(), in.query ? in.query : json_null(),
                     in.handshake ? in.handshake : json_null());
    rc = args ? rm_dispatch_reserved(hub, conn, "connect", args, refusal_out) : ROOM_ENOMEM;
    json_decref(args);
    /* Refused: freed without a disconnect handler, a resumed connection
     * too (its handler ran when its transport was lost). */
    if (rc < 0) {
        *conn_out = NULL;
        rm_conn_free(hub, conn);
        return rc;
    }
    return 0;
}

int room_conn_open_handshake(room_hub *hub, void *transport, json_t *auth, json_t *query,
                             room_conn **conn_out, json_t **refusal_out)
{
    room_open_args args;
    room_open_args_init(&args);
    args.auth = auth;
    args.query = query;
    return room_conn_open_with(hub, transport, &args, conn_out, refusal_out);
}

int room_conn_open_auth(room_hub *hub, void *transport, json_t *auth, room_conn **conn_out,
                        json_t **refusal_out)
{
    return room_conn_open_handshake(hub, transport, auth, NULL, conn_out, refusal_out);
}

int room_conn_open(room_hub *hub, void *transport, room_conn **conn_out)
{
    return room_conn_open_handshake(hub, transport, NULL, NULL, conn_out, NULL);
}

/* Unregisters and frees without running handlers (room_hub_free, refused
 * connects, and the end of room_conn_close). */
void rm_conn_free(room_hub *hub, room_conn *conn)
{
    if (hub->cfg.recovery_ms)
        rm_recovery_forget(hub, conn);
    if (!(conn->flags & RM_CONN_CLOSING))
        rm_table_del(&hub->conns_by_id, conn);
    room_leave_all(hub, conn);
    if (conn->flags & RM_CONN_USER)
        rm_identity_forget(hub, conn);
    rm_acks_fail_conn(hub, conn);
    hub->nconns--;
    if (conn->rooms != &conn->first)
        rm_free(&hub->alloc, conn->rooms, ((size_t)1 << conn->rooms_log2) * sizeof *conn->rooms);
    rm_free(&hub->alloc, conn, rm_conn_size(hub));
}

void room_conn_kick(room_hub *hub, room_conn *conn, int code, const char *reason)
{
    if (!hub || !conn || (conn->flags & RM_CONN_KICKED))
        return;
    conn->flags |= RM_CONN_KICKED;
    if (hub->cfg.close)
        hub->cfg.close(conn->transport, code, reason ? reason : "", hub->cfg.user_data);
}

static void conn_close(room_hub *hub, room_conn *conn, const char *reason, bool final)
{
    json_t *why;
    bool recoverable;
    if (!hub || !conn || (conn->flags & RM_CONN_CLOSING))
        return;
    /* From inside a handler the host still holds this connection (or is in
     * the middle of it), so freeing it here would leave it dangling. */
    if (conn->depth || hub->dispatch) {
        room_conn_kick(hub, conn, ROOM_CLOSE_NORMAL, reason);
        return;
    }
    /* A connection the server kicked does not come back. */
    recoverable = !final && hub->cfg.recovery_ms && !(conn->flags & RM_CONN_KICKED);
    /* Unfindable from here on, but still in its rooms while the disconnect
     * handler tells them. */
    conn->flags |= RM_CONN_CLOSING | RM_CONN_KICKED;
    rm_table_del(&hub->conns_by_id, conn);
    why = json_pack("[s]", reason ? reason : "transport close");
    if (why)
        rm_dispatch_reserved(hub, conn, "disconnect", why, NULL);
    json_decref(why);
    /* Gone from presence and its user now, also when detached: it sees and
     * is seen no more, and a resume sets its user again (connect handler). */
    if (conn->flags & RM_CONN_PRESENT)
        rm_presence_drop(hub, conn);
    if (conn->flags & RM_CONN_USER)
        rm_identity_forget(hub, conn);
    if (recoverable && rm_recovery_detach(hub, conn) == 0)
        return;
    rm_conn_free(hub, conn);
}

void room_conn_close(room_hub *hub, room_conn *conn, const char *reason)
{
    conn_close(hub, conn, reason, false);
}

void room_conn_close_final(room_hub *hub, room_conn *conn, const char *reason)
{
    conn_close(hub, conn, reason, true);
}

room_conn *room_conn_find(room_hub *hub, const char *id)
{
    size_t len;
    if (!hub || !id)
        return NULL;
    len = strlen(id);
    if (len != ROOM_CONN_ID_LEN)
        return NULL;
    return rm_table_get(&hub->conns_by_id, rm_hash(hub->seed, id, len), id);
}

const char *room_conn_id(const room_conn *conn)
{
    return conn ? conn->id : "";
}

void *room_conn_transport(const room_conn *conn)
{
    return conn ? conn->transport : NULL;
}

void room_conn_set_data(room_conn *conn, void *data)
{
    if (conn)
        conn->data = data;
}

void *room_conn_data(const room_conn *conn)
{
    return conn ? conn->data : NULL;
}

size_t room_conn_room_count(const room_conn *conn)
{
    return conn ? conn->nrooms : 0;
}

int room_conns_foreach(room_hub *hub, room_conn_visit_fn fn, void *ud)
{
    uint32_t i;
    int rc;
    if (!hub || !fn)
        return ROOM_EINVAL;
    for (i = 0; i < hub->conns_by_id.cap; i++) {
        if (hub->conns_by_id.slots[i] && (rc = fn(hub->conns_by_id.slots[i], ud)) != 0)
            return rc;
    }
    return 0;
}
