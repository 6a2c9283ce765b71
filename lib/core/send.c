/* Outbound: encode once, fan the same frame out to every recipient. */
#include "internal.h"

int rm_deliver(room_hub *hub, room_conn *conn, room_frame *frame)
{
    int rc;
    if (conn->flags & RM_CONN_KICKED)
        return ROOM_ECLOSED;
    rc = hub->cfg.send(conn->transport, frame, hub->cfg.user_data);
    if (rc == ROOM_ECLOSED)
        return rc; /* already on its way out: nothing to report or close */
    if (rc < 0) {
        rm_log(hub, ROOM_LOG_WARN, "send to %s failed; closing it", conn->id);
        room_conn_kick(hub, conn, ROOM_CLOSE_INTERNAL_ERROR, "send failed");
        return ROOM_ETRANSPORT;
    }
    hub->stats.deliveries++;
    return 0;
}

int rm_fanout_room(room_hub *hub, rm_room *room, room_frame *frame, const room_conn *except)
{
    const rm_member *m = room->members, *end = m + room->count;
    int n = 0;
    for (; m < end; m++) {
        if (m->conn != except && rm_deliver(hub, m->conn, frame) == 0)
            n++;
    }
    return n;
}

int rm_fanout_all(room_hub *hub, room_frame *frame, const room_conn *except)
{
    const rm_table *t = &hub->conns_by_id;
    uint32_t i;
    int n = 0;
    /* Send callbacks cannot open or close connections, so the id table
     * holds still while it is walked; a closing connection is not in it,
     * and would not be sent to anyway. */
    for (i = 0; i < t->cap; i++) {
        room_conn *conn = t->slots[i];
        if (conn && conn != except && rm_deliver(hub, conn, frame) == 0)
            n++;
    }
    return n;
}

/* The frame to the room's members (or the hub's connections when `name`
 * is NULL), then to the adapter; the number of deliveries. */
static inline int fan_out(room_hub *hub, const char *name, rm_room *room, room_frame *frame,
                          const room_conn *except)
{
    int rc, n;
    if (name)
        n = room ? rm_fanout_room(hub, room, frame, except) : 0;
    else
        n = rm_fanout_all(hub, frame, except);
    if (hub->adapter.publish) {
        rc = hub->adapter.publish(hub->cfg.adapter, hub, name, frame, except ? except->id : NULL);
        if (rc)
            rm_log(hub, ROOM_LOG_WARN, "adapter %s could not publish: %s", hub->adapter.name,
                   room_strerror(rc));
    }
    return n;
}

int rm_fan_out(room_hub *hub, const char *name, rm_room *room, room_frame *frame,
               const room_conn *except)
{
    return fan_out(hub, name, room, frame, except);
}

/* Shared by room_send* and room_broadcast*: `name` NULL means the hub. */
static int send_to(room_hub *hub, const char *name, const char *event, json_t *const *argv,
                   size_t argc, const room_bytes *att, size_t natt, const room_conn *except)
{
    rm_room *room = NULL;
    room_frame *frame;
    int rc, n;

    if (!hub || !event || rm_check_args(argv, argc, att, natt))
        return ROOM_EINVAL;
    if (name) {
        room = rm_room_find(hub, name, NULL, &rc);
        if (rc)
            return rc;
        /* Nobody here and nobody to publish to: skip the encoding. */
        if (!room && !hub->adapter.publish)
            return 0;
    }
    if (hub->cfg.recovery_ms)
        return rm_send_logged(hub, name, room, event, argv, argc, att, natt, except);
    rc = rm_frame_encode(hub, event, argv, argc, -1, att, natt, &frame);
    if (rc)
        return rc;
    n = fan_out(hub, name, room, frame, except);
    room_frame_unref(frame);
    return n;
}

int room_send_args(room_hub *hub, const char *room, const char *event, json_t *const *argv,
                   size_t argc, const room_bytes *attachments, size_t attachment_count,
                   const room_conn *except)
{
    if (!room)
        return ROOM_ENAME;
    return send_to(hub, room, event, argv, argc, attachments, attachment_count, except);
}

int room_send(room_hub *hub, const char *room, const char *event, json_t *payload,
              const room_conn *except)
{
    return room_send_args(hub, room, event, payload ? &payload : NULL, payload != NULL, NULL, 0, except);
}

int room_send_new(room_hub *hub, const char *room, const char *event, json_t *payload,
                  const room_conn *except)
{
    int rc = payload ? room_send(hub, room, event, payload, except) : ROOM_ENOMEM;
    json_decref(payload);
    return rc;
}

int room_send_binary(room_hub *hub, const char *room, const char *event, json_t *payload,
                     const room_bytes *attachments, size_t attachment_count, const room_conn *except)
{
    return room_send_args(hub, room, event, payload ? &payload : NULL, payload != NULL, attachments, attachment_count, except);
}

int room_broadcast_args(room_hub *hub, const char *event, json_t *const *argv, size_t argc,
                        const room_bytes *attachments, size_t attachment_count,
                        const room_conn *except)
{
    return send_to(hub, NULL, event, argv, argc, attachments, attachment_count, except);
}

int room_broadcast(room_hub *hub, const char *event, json_t *payload, const room_conn *except)
{
    return send_to(hub, NULL, event, payload ? &payload : NULL, payload != NULL, NULL, 0, except);
}

int room_broadcast_binary(room_hub *hub, const char *event, json_t *payload,
                          const room_bytes *attachments, size_t attachment_count,
                          const room_conn *except)
{
    return send_to(hub, NULL, event, payload ? &payload : NULL, payload != NULL, attachments, attachment_count, except);
}

int room_broadcast_new(room_hub *hub, const char *event, json_t *payload, const room_conn *except)
{
    int rc = payload ? room_broadcast(hub, event, payload, except) : ROOM_ENOMEM;
    json_decref(payload);
    return rc;
}

int rm_emit_frame(room_hub *hub, room_conn *conn, const char *event, json_t *const *argv,
                  size_t argc, int64_t ack_id, const room_bytes *att, size_t natt)
{
    room_frame *frame;
    uint64_t offset = 0;
    int rc;
    if (conn->flags & RM_CONN_KICKED)
        return ROOM_ECLOSED;
    /* Events without an ack are logged, as Socket.IO does; acks and events
     * asking for one are not (their callback cannot be replayed). */
    if (hub->cfg.recovery_ms && event && ack_id < 0)
        rc = rm_frame_encode_logged(hub, event, argv, argc, att, natt, &offset, &frame);
    else
        rc = rm_frame_encode(hub, event, argv, argc, ack_id, att, natt, &frame);
    if (rc)
        return rc;
    rc = rm_deliver(hub, conn, frame);
    if (offset)
        rm_log_add(hub, &hub->log, frame, offset, NULL, conn);
    room_frame_unref(frame);
    return rc;
}

int room_emit_args(room_hub *hub, room_conn *conn, const char *event, json_t *const *argv,
                   size_t argc, const room_bytes *attachments, size_t attachment_count)
{
    if (!hub || !conn || !event || rm_check_args(argv, argc, attachments, attachment_count))
        return ROOM_EINVAL;
    return rm_emit_frame(hub, conn, event, argv, argc, -1, attachments, attachment_count);
}

int room_emit(room_hub *hub, room_conn *conn, const char *event, json_t *payload)
{
    return room_emit_args(hub, conn, event, payload ? &payload : NULL, payload != NULL, NULL, 0);
}

int room_emit_new(room_hub *hub, room_conn *conn, const char *event, json_t *payload)
{
    int rc = payload ? room_emit(hub, conn, event, payload) : ROOM_ENOMEM;
    json_decref(payload);
    return rc;
}

int room_emit_binary(room_hub *hub, room_conn *conn, const char *event, json_t *payload,
                     const room_bytes *attachments, size_t attachment_count)
{
    return room_emit_args(hub, conn, event, payload ? &payload : NULL, payload != NULL, attachments, attachment_count);
}

int room_send_frame(room_hub *hub, room_conn *conn, room_frame *frame)
{
    if (!hub || !conn || !frame)
        return ROOM_EINVAL;
    return rm_deliver(hub, conn, frame);
}

int room_hub_deliver_remote(room_hub *hub, const char *room, int kind, const void *bytes, size_t len,
                            const char *except_id)
{
    room_frame *frame;
    rm_room *r = NULL;
    const room_conn *except;
    int rc, n;

    if (!hub || (!bytes && len) || (kind != ROOM_FRAME_TEXT && kind != ROOM_FRAME_BINARY))
        return ROOM_EINVAL;
    if (room) {
        r = rm_room_find(hub, room, NULL, &rc);
        if (rc)
            return rc;
        if (!r)
            return 0;
    }
    frame = rm_frame_make(hub, kind, bytes, len);
    if (!frame)
        return ROOM_ENOMEM;
    except = except_id ? room_conn_find(hub, except_id) : NULL;
    n = r ? rm_fanout_room(hub, r, frame, except) : rm_fanout_all(hub, frame, except);
    room_frame_unref(frame);
    return n;
}
