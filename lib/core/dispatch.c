/* Event dispatch: inbound message -> codec -> handler, and the answers a
 * handler gives. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static rm_handler *find_handler(room_hub *hub, const char *name)
{
    uint32_t i;
    for (i = 0; i < hub->nhandlers; i++) {
        if (strcmp(hub->handlers[i].name, name) == 0)
            return &hub->handlers[i];
    }
    return NULL;
}

int room_on(room_hub *hub, const char *event, room_handler_fn fn, void *ud)
{
    rm_handler *h;
    size_t size;
    int rc;
    if (!hub || !event || !*event)
        return ROOM_EINVAL;
    h = find_handler(hub, event);
    if (h && fn) {
        h->fn = fn;
        h->ud = ud;
        return 0;
    }
    if (h) {
        rm_free(&hub->alloc, h->name, h->name_size);
        *h = hub->handlers[--hub->nhandlers];
        return 0;
    }
    if (!fn)
        return 0;
    rc = rm_grow(&hub->alloc, (void **)&hub->handlers, &hub->caphandlers, hub->nhandlers + 1,
                 sizeof *hub->handlers);
    if (rc)
        return rc;
    size = strlen(event) + 1;
    h = &hub->handlers[hub->nhandlers];
    h->name = rm_malloc(&hub->alloc, size);
    if (!h->name)
        return ROOM_ENOMEM;
    memcpy(h->name, event, size);
    h->name_size = size;
    h->fn = fn;
    h->ud = ud;
    hub->nhandlers++;
    return 0;
}

int room_on_many(room_hub *hub, const room_handler_entry *entries, size_t count, void *ud)
{
    size_t i;
    int rc;
    if (!entries && count)
        return ROOM_EINVAL;
    for (i = 0; i < count; i++) {
        if ((rc = room_on(hub, entries[i].event, entries[i].fn, ud)) != 0)
            return rc;
    }
    return 0;
}

int room_on_any(room_hub *hub, room_handler_fn fn, void *ud)
{
    if (!hub)
        return ROOM_EINVAL;
    hub->any_fn = fn;
    hub->any_ud = ud;
    return 0;
}

void rm_handlers_free(room_hub *hub)
{
    uint32_t i;
    for (i = 0; i < hub->nhandlers; i++)
        rm_free(&hub->alloc, hub->handlers[i].name, hub->handlers[i].name_size);
    rm_free(&hub->alloc, hub->handlers, (size_t)hub->caphandlers * sizeof *hub->handlers);
    hub->handlers = NULL;
    hub->nhandlers = hub->caphandlers = 0;
}

static rm_dispatch *find_dispatch(room_hub *hub, const room_event *ev)
{
    rm_dispatch *d;
    for (d = hub->dispatch; d; d = d->prev) {
        if (d->ev == ev)
            return d;
    }
    return NULL;
}

static int run_handler(room_hub *hub, room_conn *conn, const room_event *ev, room_handler_fn fn,
                       void *ud, rm_dispatch *d)
{
    int rc;
    d->ev = ev;
    d->conn = conn;
    d->replied = false;
    d->refusal = NULL;
    d->prev = hub->dispatch;
    hub->dispatch = d;
    conn->depth++;
    rc = fn(hub, conn, ev, ud);
    conn->depth--;
    hub->dispatch = d->prev;
    return rc;
}

/* A handler's result is the client's answer, not the caller's: it is
 * answered (unless the handler did) and logged, and the message counts as
 * handled. */
int rm_dispatch_event(room_hub *hub, room_conn *conn, room_event *ev)
{
    rm_handler *h = find_handler(hub, ev->name);
    rm_dispatch d;
    int rc;

    if (h)
        rc = run_handler(hub, conn, ev, h->fn, h->ud, &d);
    else if (hub->any_fn)
        rc = run_handler(hub, conn, ev, hub->any_fn, hub->any_ud, &d);
    else if (hub->cfg.unknown_events == ROOM_UNKNOWN_IGNORE)
        return 0;
    else
        return room_fail(hub, conn, ev, ROOM_EUNKNOWN, NULL);
    if (rc < 0) {
        rm_log(hub, ROOM_LOG_DEBUG, "%s from %s failed: %s", ev->name, conn->id, room_error_name(rc));
        if (!d.replied)
            room_fail(hub, conn, ev, rc, NULL);
    }
    return 0;
}

int rm_dispatch_reserved(room_hub *hub, room_conn *conn, const char *name, json_t *args,
                         json_t **refusal_out)
{
    rm_handler *h = find_handler(hub, name);
    room_event ev = {name, args, -1, NULL, 0};
    rm_dispatch d;
    int rc;

    if (!h)
        return 0;
    rc = run_handler(hub, conn, &ev, h->fn, h->ud, &d);
    if (rc >= 0 && !d.refusal)
        return 0;
    if (strcmp(name, "connect") == 0)
        hub->stats.connects_refused++;
    if (refusal_out) {
        *refusal_out = d.refusal;
        if (!*refusal_out)
            *refusal_out = room_response_new(room_strerror(rc), json_pack("{ss}", "code",
                                                                          room_error_name(rc)));
    } else {
        json_decref(d.refusal);
    }
    return ROOM_EDENIED;
}

static int is_reserved(const char *name)
{
    return strcmp(name, "connect") == 0 || strcmp(name, "disconnect") == 0;
}

int room_conn_recv_binary(room_hub *hub, room_conn *conn, const void *bytes, size_t len,
                          const room_bytes *attachments, size_t attachment_count)
{
    room_message msg = {0, NULL, NULL, NULL, -1, 0};
    room_event ev;
    size_t total = len, i;
    int rc;

    if (!hub || !conn || (!bytes && len) || (!attachments && attachment_count))
        return ROOM_EINVAL;
    if (conn->flags & (RM_CONN_CLOSING | RM_CONN_KICKED))
        return ROOM_ECLOSED;
    hub->stats.messages_in++;
    if (len > hub->cfg.max_message_bytes)
        return room_fail(hub, conn, NULL, ROOM_ETOOBIG, NULL);
    for (i = 0; i < attachment_count; i++)
        total += attachments[i].len;
    if ((rc = rm_limit_take(hub, conn, total)) != 0)
        return rc;
    rc = hub->codec.decode(hub->cfg.codec, bytes, len, &msg);
    /* An ack without an id is a message the codec did not fully decode. */
    if (!rc && msg.type == ROOM_MSG_ACK && msg.id < 0) {
        json_decref(msg.args);
        json_decref(msg.owner);
        rc = ROOM_EPROTO;
    }
    if (rc)
        return room_fail(hub, conn, NULL, rc, NULL);
    /* The host assembled the attachments; a count the message does not
     * announce is its mistake, not the client's. */
    if (msg.attachments != attachment_count) {
        rc = ROOM_EINVAL;
    } else if (msg.type == ROOM_MSG_ACK) {
        rm_ack_resolve(hub, conn, msg.id, msg.args);
    } else if (is_reserved(msg.event)) {
        rc = room_fail(hub, conn, NULL, ROOM_ERESERVED, NULL);
    } else {
        ev = (room_event){msg.event, msg.args, msg.id, attachments, attachment_count};
        rc = rm_dispatch_event(hub, conn, &ev);
    }
    json_decref(msg.args);
    json_decref(msg.owner);
    return rc;
}

int room_conn_recv(room_hub *hub, room_conn *conn, const void *bytes, size_t len)
{
    return room_conn_recv_binary(hub, conn, bytes, len, NULL, 0);
}

/* The one answer an event gets: the ack when the client asked for one,
 * otherwise `event`. */
static int answer(room_hub *hub, room_conn *conn, const room_event *ev, const char *event,
                  json_t *const *argv, size_t argc, const room_bytes *att, size_t natt)
{
    rm_dispatch *d = ev ? find_dispatch(hub, ev) : NULL;
    int rc;

    if (d && d->replied)
        return ROOM_EALREADY;
    if (ev && ev->ack_id >= 0)
        rc = rm_emit_frame(hub, conn, NULL, argv, argc, ev->ack_id, att, natt);
    else
        rc = rm_emit_frame(hub, conn, event, argv, argc, -1, att, natt);
    if (d && rc == 0)
        d->replied = true;
    return rc;
}

int room_reply_args(room_hub *hub, room_conn *conn, const room_event *ev, const char *reply_event,
                    json_t *const *argv, size_t argc, const room_bytes *attachments,
                    size_t attachment_count)
{
    if (!hub || !conn || !ev || rm_check_args(argv, argc, attachments, attachment_count))
        return ROOM_EINVAL;
    return answer(hub, conn, ev, reply_event ? reply_event : "result", argv, argc, attachments,
                  attachment_count);
}

int room_reply_binary_new(room_hub *hub, room_conn *conn, const room_event *ev,
                          const char *reply_event, json_t *payload, const room_bytes *attachments,
                          size_t attachment_count)
{
    int rc = payload ? room_reply_args(hub, conn, ev, reply_event, &payload, 1, attachments,
                                       attachment_count)
                     : ROOM_ENOMEM;
    json_decref(payload);
    return rc;
}

int room_reply_new(room_hub *hub, room_conn *conn, const room_event *ev, const char *reply_event,
                   json_t *payload)
{
    return room_reply_binary_new(hub, conn, ev, reply_event, payload, NULL, 0);
}

int room_fail(room_hub *hub, room_conn *conn, const room_event *ev, int code, const char *message)
{
    json_t *data, *payload;
    if (!hub || !conn)
        return code;
    data = json_pack("{ss}", "code", room_error_name(code));
    if (data && ev)
        json_object_set_new(data, "event", json_string(ev->name));
    payload = room_response_new(message ? message : room_strerror(code), data);
    if (payload)
        answer(hub, conn, ev, "error", &payload, 1, NULL, 0);
    json_decref(payload);
    return code;
}

int room_refuse(room_hub *hub, room_conn *conn, const char *message, json_t *data)
{
    rm_dispatch *d;
    if (!hub || !conn || !message) {
        json_decref(data);
        return ROOM_EINVAL;
    }
    for (d = hub->dispatch; d; d = d->prev) {
        if (d->conn == conn && strcmp(d->ev->name, "connect") == 0)
            break;
    }
    if (!d) {
        json_decref(data);
        return ROOM_EINVAL;
    }
    json_decref(d->refusal);
    d->refusal = room_response_new(message, data);
    return d->refusal ? 0 : ROOM_ENOMEM;
}
