/* Counts over every node (room/adapter.h, "counts on every node"): a
 * room's members, and the deliveries of broadcasts, through the adapter's
 * count hooks when it has them, else this hub's alone, at once. */
#include "internal.h"

static bool counts(const room_hub *hub)
{
    return hub->adapter.count_begin && hub->adapter.count_end && hub->adapter.count_members;
}

int room_hub_counts_cluster(const room_hub *hub)
{
    return hub && counts(hub);
}

int room_member_count_cluster(room_hub *hub, const char *room, room_count_fn done, void *ud)
{
    size_t len;
    uint64_t local;
    int rc;
    if (!hub || !done)
        return ROOM_EINVAL;
    if ((rc = rm_check_room_name(hub, room, &len)) != 0)
        return rc;
    local = room_member_count(hub, room);
    if (!counts(hub)) {
        done(hub, 0, local, 0, ud);
        return 0;
    }
    return hub->adapter.count_members(hub->cfg.adapter, hub, room, local, done, ud);
}

int room_count_deliveries(room_hub *hub, room_send_step_fn send, void *send_ud, room_count_fn done,
                          void *ud)
{
    bool counted;
    int n;
    if (!hub || !send || !done)
        return ROOM_EINVAL;
    counted = counts(hub) && hub->adapter.count_begin(hub->cfg.adapter, hub) == 0;
    n = send(hub, send_ud);
    if (counted && n < 0)
        hub->adapter.count_end(hub->cfg.adapter, hub, 0, NULL, NULL);
    if (n < 0)
        return n;
    /* Without the adapter's count the other nodes' deliveries are unknown. */
    if (!counted || hub->adapter.count_end(hub->cfg.adapter, hub, (uint64_t)n, done, ud) != 0)
        done(hub, 0, (uint64_t)n, counts(hub), ud);
    return n;
}
