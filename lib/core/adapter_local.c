/* The single-node adapter: there is no other node to reach. */
#include "internal.h"

static int not_here(room_adapter *adapter, room_hub *hub, const char *conn_id, const char *room,
                    room_done_fn done, void *ud)
{
    (void)adapter;
    (void)conn_id;
    (void)room;
    if (done)
        done(hub, ROOM_ENOTFOUND, ud);
    return 0;
}

static room_adapter local = {
    sizeof(room_adapter), "local", NULL,
    NULL, /* publish: no other node; the hub skips encoding for empty rooms */
    not_here, not_here, NULL,
    NULL, /* presence: no other node */
    NULL, /* remote: the hub answers ROOM_ENOTFOUND itself */
    NULL, /* publish_event */
    NULL, /* room_local */
    NULL, NULL, NULL, /* count_begin, count_end, count_members: one node counts alone */
    NULL, /* resume: no other node holds a session */
    NULL, /* storage_publish: each copy is the room's */
    NULL, /* storage_fetch */
    NULL, NULL, /* history_publish, history_fetch: the hub owns its offsets */
};

room_adapter *room_adapter_local(void)
{
    return &local;
}
