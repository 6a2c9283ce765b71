/* roomd --protocol bench: the benchmark's protocol, the same as
 * tests/bench/node/server.js implements for Socket.IO:
 *   join(room)           -> the connection joins room
 *   send(room, payload)  -> msg(payload) to every member, sender included
 * Like the reference server, send needs no membership. Nothing is answered
 * on success unless the client asked for an acknowledgement. */
#include "proto.h"

/* The ack, when asked for, carries the room's member count (join) or the
 * number of deliveries (send). */
static int done(room_hub *hub, room_conn *conn, const room_event *ev, size_t n)
{
    if (ev->ack_id < 0)
        return 0;
    return room_reply_new(hub, conn, ev, NULL, json_integer((json_int_t)n));
}

static int on_join(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *room = json_string_value(json_array_get(ev->args, 0));
    int rc;
    (void)ud;
    if ((rc = room_join(hub, conn, room)) != 0)
        return rc;
    return done(hub, conn, ev, room_member_count(hub, room));
}

static int on_send(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *room = json_string_value(json_array_get(ev->args, 0));
    json_t *payload = json_array_get(ev->args, 1);
    int n;
    (void)ud;
    /* room_send() takes a NULL room to mean the whole hub. */
    if (!room)
        return ROOM_ENAME;
    n = ev->attachment_count ? room_send_binary(hub, room, "msg", payload, ev->attachments,
                                                ev->attachment_count, NULL)
                             : room_send(hub, room, "msg", payload, NULL);
    return n < 0 ? n : done(hub, conn, ev, (size_t)n);
}

int proto_bench_register(room_hub *hub)
{
    static const room_handler_entry handlers[] = {{"join", on_join}, {"send", on_send}};
    return room_on_many(hub, handlers, sizeof handlers / sizeof handlers[0], NULL);
}
