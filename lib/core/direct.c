/* Direct messages to a connection id or a user id on every node
 * (room_emit_user()): here, then through the adapter's emit_user. */
#include "internal.h"
#include "people.h"

typedef struct direct {
    room_hub *hub;
    room_frame *frame; /* encoded once; NULL with recovery (one per connection) */
    const char *event;
    json_t *const *argv;
    size_t argc;
    const room_bytes *att;
    size_t natt;
    int n;
} direct;

static int deliver_one(room_conn *conn, void *ud)
{
    direct *d = ud;
    /* With recovery every event a connection gets carries its own offset. */
    int rc = d->frame ? rm_deliver(d->hub, conn, d->frame)
                      : rm_emit_frame(d->hub, conn, d->event, d->argv, d->argc, -1, d->att, d->natt);
    if (rc == ROOM_ENOMEM)
        return rc;
    d->n += rc == 0;
    return 0;
}

/* The connection `to` if here, else the connections of user `to`. */
static int deliver_here(room_hub *hub, const char *to, const char *event, json_t *const *argv,
                        size_t argc, const room_bytes *att, size_t natt, bool *is_conn)
{
    direct d = {hub, NULL, event, argv, argc, att, natt, 0};
    room_conn *conn = room_conn_find(hub, to);
    int rc;
    *is_conn = conn != NULL;
    if (conn) {
        rc = deliver_one(conn, &d);
        return rc ? rc : d.n;
    }
    if (!room_user_conn_count(hub, to))
        return 0;
    if (!hub->cfg.recovery_ms && (rc = rm_frame_encode(hub, event, argv, argc, -1, att, natt, &d.frame)) != 0)
        return rc;
    rc = room_user_conns_foreach(hub, to, deliver_one, &d);
    room_frame_unref(d.frame);
    return rc ? rc : d.n;
}

int room_emit_user(room_hub *hub, const char *to, const char *event, json_t *const *argv,
                   size_t argc, const room_bytes *att, size_t natt)
{
    bool is_conn;
    int n, rc;
    if (!hub || !to || !event || rm_check_args(argv, argc, att, natt))
        return ROOM_EINVAL;
    n = deliver_here(hub, to, event, argv, argc, att, natt, &is_conn);
    /* A connection here is the one meant. From presence callbacks, every
     * node runs the same callback and tells its own connections. */
    if (n < 0 || is_conn || !hub->adapter.emit_user || (hub->people && hub->people->busy))
        return n;
    if ((rc = hub->adapter.emit_user(hub->cfg.adapter, hub, to, event, argv, argc, att, natt)) != 0)
        rm_log(hub, ROOM_LOG_WARN, "adapter %s could not forward a direct message: %s",
               hub->adapter.name, room_strerror(rc));
    return n;
}

int room_hub_deliver_remote_user(room_hub *hub, const char *to, const char *event,
                                 json_t *const *argv, size_t argc, const room_bytes *att,
                                 size_t natt)
{
    bool is_conn;
    if (!hub || !to || !event || rm_check_args(argv, argc, att, natt))
        return ROOM_EINVAL;
    return deliver_here(hub, to, event, argv, argc, att, natt, &is_conn);
}
