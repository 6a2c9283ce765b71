/* Room storage across nodes (docs/cluster.md "Room storage"): each node
 * serving a room keeps its own copy of the log. Updates from other nodes
 * are appended here like local ones (not published again), a first member's
 * sync waits for the other nodes' log (the adapter's fetch), and the
 * protocol layer's unlogged messages are relayed through the adapter. */
#include <string.h>

#include "stored.h"

/* The room's membership here, or NULL (with *err for a bad name). */
static rm_room *served(room_hub *hub, const char *room, int *err)
{
    rm_room *r;
    if (!room) {
        *err = ROOM_ENAME;
        return NULL;
    }
    r = rm_room_find(hub, room, NULL, err);
    if (!r && !*err)
        *err = ROOM_ENOTFOUND;
    return r;
}

void rm_storage_fetch_begin(room_hub *hub, rm_sroom *r)
{
    if (r->flags & (RM_S_FETCHING | RM_S_CURRENT))
        return;
    if (hub->adapter.storage_fetch && hub->adapter.storage_fetch(hub->cfg.adapter, hub, r->name) == 0)
        r->flags |= RM_S_FETCHING;
    else
        r->flags |= RM_S_CURRENT; /* nobody to ask: this copy is the room's */
}

int room_storage_relay(room_hub *hub, const char *room, const void *bytes, size_t len)
{
    size_t n;
    int rc;
    if (!hub || (!bytes && len))
        return ROOM_EINVAL;
    if ((rc = rm_check_room_name(hub, room, &n)) != 0)
        return rc;
    if (!hub->adapter.storage_publish)
        return ROOM_ENOTFOUND;
    return hub->adapter.storage_publish(hub->cfg.adapter, hub, room, ROOM_STORAGE_RELAY, bytes, len);
}

int room_storage_remote_append(room_hub *hub, const char *room, const void *update, size_t len)
{
    int rc;
    if (!hub || (!update && len))
        return ROOM_EINVAL;
    if (hub->storage && hub->storage->busy)
        return ROOM_EINVAL;
    if (!served(hub, room, &rc))
        return rc;
    if (!rm_storage_get(hub))
        return ROOM_ENOMEM;
    /* As the host's append, kept on a read-only room and not published. */
    hub->storage->from_node = true;
    rc = room_storage_append(hub, NULL, room, update, len, NULL);
    hub->storage->from_node = false;
    return rc;
}

int room_storage_remote_relay(room_hub *hub, const char *room, const void *bytes, size_t len)
{
    rm_storage *st;
    int rc;
    if (!hub || (!bytes && len))
        return ROOM_EINVAL;
    if (!served(hub, room, &rc))
        return rc;
    if ((st = hub->storage) && st->cfg.relayed)
        st->cfg.relayed(hub, room, bytes, len, st->cfg.user_data);
    return 0;
}

int room_storage_remote_fetched(room_hub *hub, const char *room)
{
    rm_storage *st;
    rm_sroom *r;
    size_t n;
    int rc;
    if (!hub)
        return ROOM_EINVAL;
    if ((rc = rm_check_room_name(hub, room, &n)) != 0)
        return rc;
    if (!(r = rm_sroom_find(hub, room, &rc)) || !(r->flags & RM_S_FETCHING))
        return ROOM_ENOTFOUND;
    r->flags &= ~(uint32_t)RM_S_FETCHING;
    if (r->flags & RM_S_AGAIN) {
        /* Some node's traffic was lost while this fetch ran, perhaps its
         * answer too: ask again (the syncs keep waiting). */
        r->flags &= ~(uint32_t)RM_S_AGAIN;
        rm_storage_fetch_begin(hub, r);
    } else if (rm_room_find(hub, room, NULL, &rc)) {
        /* Current only while the node follows the room (it has members). */
        r->flags |= RM_S_CURRENT;
    }
    st = hub->storage;
    if (st->cfg.fetched)
        st->cfg.fetched(hub, r->name, st->cfg.user_data);
    return 0;
}

int room_storage_peek(room_hub *hub, const char *room, room_storage_visit_fn fn, void *ud,
                      int *current)
{
    rm_sroom *r;
    int rc;
    if (current)
        *current = 0;
    if (!hub || !fn)
        return ROOM_EINVAL;
    if (hub->storage && hub->storage->busy)
        return ROOM_EINVAL;
    if (!(r = rm_sroom_open_existing(hub, room, &rc)))
        return rc;
    if (current)
        *current = (r->flags & RM_S_CURRENT) && !(r->flags & RM_S_FETCHING) &&
                   rm_room_find(hub, room, NULL, &rc) != NULL;
    return room_storage_foreach(hub, room, fn, ud);
}

int room_storage_remote_lost(room_hub *hub, const char *room)
{
    rm_storage *st;
    size_t len;
    int n = 0, rc;
    if (!hub)
        return ROOM_EINVAL;
    if (room && (rc = rm_check_room_name(hub, room, &len)) != 0)
        return rc;
    if (!(st = hub->storage))
        return 0;
    if (st->busy)
        return ROOM_EINVAL;
    for (uint32_t i = 0; i < st->rooms.cap; i++) {
        rm_sroom *r = st->rooms.slots[i];
        if (!r || !(r->flags & (RM_S_CURRENT | RM_S_FETCHING)) || (room && strcmp(r->name, room) != 0))
            continue;
        if (r->flags & RM_S_FETCHING) {
            r->flags |= RM_S_AGAIN;
            n++;
            continue;
        }
        r->flags &= ~(uint32_t)RM_S_CURRENT;
        rm_storage_fetch_begin(hub, r);
        n += (r->flags & RM_S_FETCHING) != 0;
    }
    return n;
}
