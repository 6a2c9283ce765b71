/* Server-initiated acknowledgements and their timeouts. The list is scanned
 * linearly: pending acks are few (one per outstanding request). */
#include "internal.h"
#include "people.h"
#include "stored.h"

int room_emit_ack_args(room_hub *hub, room_conn *conn, const char *event, json_t *const *argv,
                       size_t argc, const room_bytes *attachments, size_t attachment_count,
                       uint32_t timeout_ms, room_ack_fn done, void *ud)
{
    rm_pending_ack *p;
    int rc;
    if (!hub || !conn || !event || !done || rm_check_args(argv, argc, attachments, attachment_count))
        return ROOM_EINVAL;
    if (conn->flags & (RM_CONN_CLOSING | RM_CONN_KICKED))
        return ROOM_ECLOSED;
    p = rm_malloc(&hub->alloc, sizeof *p);
    if (!p)
        return ROOM_ENOMEM;
    /* One counter for the hub keeps the connection small; ids only need to
     * be unique among a connection's pending acks. */
    *p = (rm_pending_ack){conn, hub->next_ack++, hub->now_ms + timeout_ms, done, ud, NULL};
    if (hub->next_ack > INT32_MAX)
        hub->next_ack = 0;
    rc = rm_emit_frame(hub, conn, event, argv, argc, p->id, attachments, attachment_count);
    if (rc) {
        rm_free(&hub->alloc, p, sizeof *p);
        return rc;
    }
    p->next = hub->acks;
    hub->acks = p;
    return 0;
}

int room_emit_ack(room_hub *hub, room_conn *conn, const char *event, json_t *payload,
                  uint32_t timeout_ms, room_ack_fn done, void *ud)
{
    return room_emit_ack_args(hub, conn, event, payload ? &payload : NULL, payload != NULL, NULL, 0,
                              timeout_ms, done, ud);
}

/* Unlinks and returns the first pending ack matching the predicate. */
static rm_pending_ack *take(room_hub *hub, const room_conn *conn, int64_t id, uint64_t due)
{
    rm_pending_ack **pp;
    for (pp = &hub->acks; *pp; pp = &(*pp)->next) {
        rm_pending_ack *p = *pp;
        if ((conn && p->conn == conn && (id < 0 || p->id == id)) || (!conn && p->deadline <= due)) {
            *pp = p->next;
            return p;
        }
    }
    return NULL;
}

static void finish(room_hub *hub, rm_pending_ack *p, int status, json_t *args)
{
    rm_pending_ack done = *p;
    rm_free(&hub->alloc, p, sizeof *p);
    done.fn(hub, done.conn, status, args, done.ud);
}

void rm_ack_resolve(room_hub *hub, room_conn *conn, int64_t id, json_t *args)
{
    rm_pending_ack *p = take(hub, conn, id, 0);
    /* An ack that arrives after its timeout is not an error of the client. */
    if (p)
        finish(hub, p, 0, args);
}

void rm_acks_fail_conn(room_hub *hub, room_conn *conn)
{
    rm_pending_ack *p;
    while ((p = take(hub, conn, -1, 0)) != NULL)
        finish(hub, p, ROOM_ECLOSED, NULL);
}

void rm_acks_free(room_hub *hub)
{
    while (hub->acks) {
        rm_pending_ack *p = hub->acks;
        hub->acks = p->next;
        rm_free(&hub->alloc, p, sizeof *p);
    }
}

int64_t room_hub_tick(room_hub *hub, uint64_t now_ms)
{
    rm_pending_ack *p;
    uint64_t next = UINT64_MAX;
    if (!hub)
        return -1;
    hub->now_ms = now_ms;
    while ((p = take(hub, NULL, -1, now_ms)) != NULL)
        finish(hub, p, ROOM_ETIMEOUT, NULL);
    for (p = hub->acks; p; p = p->next) {
        if (p->deadline < next)
            next = p->deadline;
    }
    if (hub->people) {
        int64_t typing = rm_presence_tick(hub, now_ms);
        if (typing >= 0 && (uint64_t)typing < next - now_ms)
            next = now_ms + (uint64_t)typing;
    }
    if (hub->storage) {
        int64_t flush = rm_storage_tick(hub);
        if (flush >= 0 && (uint64_t)flush < next - now_ms)
            next = now_ms + (uint64_t)flush;
    }
    if (hub->cfg.recovery_ms) {
        int64_t expiry = rm_recovery_expire(hub, now_ms);
        if (expiry >= 0 && (uint64_t)expiry < next - now_ms)
            next = now_ms + (uint64_t)expiry;
    }
    return next == UINT64_MAX ? -1 : (int64_t)(next - now_ms);
}
