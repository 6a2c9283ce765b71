/* The room table and membership: who is in which room. */
#include <string.h>

#include "internal.h"
#include "people.h"
#include "stored.h"

int rm_check_room_name(const room_hub *hub, const char *name, size_t *len_out)
{
    size_t len;
    if (!name)
        return ROOM_ENAME;
    len = strnlen(name, hub->cfg.max_room_name_bytes + 1);
    if (len == 0 || len > hub->cfg.max_room_name_bytes ||
        !rm_utf8_valid((const unsigned char *)name, len))
        return ROOM_ENAME;
    *len_out = len;
    return 0;
}

rm_room *rm_room_find(room_hub *hub, const char *name, size_t *len_out, int *err)
{
    size_t len;
    rm_room *room;
    if (!name) {
        *err = ROOM_ENAME;
        return NULL;
    }
    len = strnlen(name, hub->cfg.max_room_name_bytes + 1);
    room = len <= hub->cfg.max_room_name_bytes
               ? rm_table_get(&hub->rooms, rm_hash(hub->seed, name, len), name)
               : NULL;
    /* Only validated names enter the table, so a hit needs no UTF-8 check
     * (this is the per-send path); a miss tells why. */
    *err = room ? 0 : rm_check_room_name(hub, name, &len);
    if (len_out)
        *len_out = len;
    return room;
}

static void room_free(room_hub *hub, rm_room *room)
{
    if (hub->cfg.recovery_ms)
        rm_log_release(hub, rm_room_log(hub, room));
    rm_free(&hub->alloc, room->members, (size_t)room->cap * sizeof *room->members);
    rm_free(&hub->alloc, room, rm_room_size(hub, room->name_len));
}

static int find_membership(const room_conn *conn, const rm_room *room)
{
    uint32_t i;
    for (i = 0; i < conn->nrooms; i++) {
        if (conn->rooms[i].room == room)
            return (int)i;
    }
    return -1;
}

/* Makes room for one more membership; the array leaves the connection's
 * own slot when it first needs two. */
static int reserve_membership(room_hub *hub, room_conn *conn)
{
    rm_membership *rooms = NULL;
    size_t size = ((size_t)1 << conn->rooms_log2) * sizeof *rooms;
    if (conn->nrooms < (1u << conn->rooms_log2))
        return 0;
    if (conn->rooms == &conn->first) {
        if ((rooms = rm_malloc(&hub->alloc, 2 * size)) != NULL)
            memcpy(rooms, conn->rooms, size);
    } else {
        rooms = rm_realloc(&hub->alloc, conn->rooms, size, 2 * size);
    }
    if (!rooms)
        return ROOM_ENOMEM;
    conn->rooms = rooms;
    conn->rooms_log2++;
    return 0;
}

int room_join(room_hub *hub, room_conn *conn, const char *name)
{
    rm_room *room;
    size_t len;
    int rc;
    bool created = false;

    if (!hub || !conn)
        return ROOM_EINVAL;
    if (conn->flags & RM_CONN_CLOSING)
        return ROOM_ECLOSED;
    room = rm_room_find(hub, name, &len, &rc);
    if (rc)
        return rc;
    if (room && find_membership(conn, room) >= 0)
        return ROOM_EALREADY;
    if (conn->nrooms >= hub->cfg.max_rooms_per_conn)
        return ROOM_ELIMIT;
    if (room && room->count >= hub->cfg.max_members_per_room)
        return ROOM_ELIMIT;
    if (!room && hub->rooms.count >= hub->cfg.max_rooms)
        return ROOM_ELIMIT;

    /* Allocate everything first so that a failure changes nothing. */
    rc = reserve_membership(hub, conn);
    if (rc)
        return rc;
    if (!room) {
        if ((rc = rm_table_reserve(&hub->rooms, &hub->alloc)) != 0)
            return rc;
        room = rm_calloc(&hub->alloc, rm_room_size(hub, len));
        if (!room)
            return ROOM_ENOMEM;
        memcpy(room->name, name, len + 1);
        room->name_len = (uint32_t)len;
        room->hash = rm_hash(hub->seed, name, len);
        created = true;
    }
    rc = rm_grow(&hub->alloc, (void **)&room->members, &room->cap, room->count + 1,
                 sizeof *room->members);
    if (rc) {
        if (created)
            room_free(hub, room);
        return rc;
    }
    if (created)
        rm_table_put(&hub->rooms, room);

    room->members[room->count] = (rm_member){conn, conn->nrooms};
    conn->rooms[conn->nrooms] = (rm_membership){room, room->count};
    room->count++;
    conn->nrooms++;
    return 0;
}

/* Removes membership `slot` of `conn`: swap-remove on both sides. */
static void unlink_membership(room_hub *hub, room_conn *conn, uint32_t slot)
{
    rm_membership m = conn->rooms[slot];
    rm_room *room = m.room;
    rm_member moved_member = room->members[--room->count];
    rm_membership moved_ship = conn->rooms[--conn->nrooms];

    if (m.index != room->count) {
        room->members[m.index] = moved_member;
        moved_member.conn->rooms[moved_member.slot].index = m.index;
    }
    if (slot != conn->nrooms) {
        conn->rooms[slot] = moved_ship;
        moved_ship.room->members[moved_ship.index].slot = slot;
    }
    /* Out of the room, which still exists: presence can tell the others. */
    if (conn->flags & RM_CONN_PRESENT)
        rm_presence_left(hub, conn, room->name, room->hash);
    if (hub->storage)
        rm_storage_left(hub, conn, room);
    if (room->count == 0) {
        rm_table_del(&hub->rooms, room);
        room_free(hub, room);
    }
}

int room_leave(room_hub *hub, room_conn *conn, const char *name)
{
    rm_room *room;
    int rc, slot;
    if (!hub || !conn)
        return ROOM_EINVAL;
    room = rm_room_find(hub, name, NULL, &rc);
    if (rc)
        return rc;
    slot = room ? find_membership(conn, room) : -1;
    if (slot < 0)
        return ROOM_ENOTMEMBER;
    if (conn->flags & RM_CONN_DETACHED)
        return ROOM_ECLOSED;
    unlink_membership(hub, conn, (uint32_t)slot);
    return 0;
}

int room_leave_all(room_hub *hub, room_conn *conn)
{
    int n = 0;
    if (!hub || !conn)
        return ROOM_EINVAL;
    if (conn->flags & RM_CONN_DETACHED)
        return ROOM_ECLOSED;
    while (conn->nrooms) {
        unlink_membership(hub, conn, conn->nrooms - 1);
        n++;
    }
    return n;
}

int room_is_member(room_hub *hub, const room_conn *conn, const char *name)
{
    rm_room *room;
    int rc;
    if (!hub || !conn)
        return 0;
    room = rm_room_find(hub, name, NULL, &rc);
    return room && find_membership(conn, room) >= 0;
}

size_t room_member_count(room_hub *hub, const char *name)
{
    rm_room *room;
    int rc;
    if (!hub)
        return 0;
    room = rm_room_find(hub, name, NULL, &rc);
    if (!room)
        return 0;
    return room->count - (hub->cfg.recovery_ms ? rm_room_log(hub, room)->detached : 0);
}

int room_members_foreach(room_hub *hub, const char *name, room_conn_visit_fn fn, void *ud)
{
    rm_room *room;
    int rc;
    uint32_t i;
    if (!hub || !fn)
        return ROOM_EINVAL;
    room = rm_room_find(hub, name, NULL, &rc);
    if (rc)
        return rc;
    for (i = 0; room && i < room->count; i++) {
        room_conn *conn = room->members[i].conn;
        if (!(conn->flags & RM_CONN_DETACHED) && (rc = fn(conn, ud)) != 0)
            return rc;
    }
    return 0;
}

int room_conn_rooms_foreach(room_hub *hub, const room_conn *conn, room_name_visit_fn fn, void *ud)
{
    uint32_t i;
    int rc;
    if (!hub || !conn || !fn)
        return ROOM_EINVAL;
    for (i = 0; i < conn->nrooms; i++) {
        if ((rc = fn(conn->rooms[i].room->name, ud)) != 0)
            return rc;
    }
    return 0;
}

void rm_rooms_free_all(room_hub *hub)
{
    uint32_t i;
    for (i = 0; i < hub->rooms.cap; i++) {
        if (hub->rooms.slots[i])
            room_free(hub, hub->rooms.slots[i]);
    }
    hub->rooms.count = 0;
}

static int by_id(room_hub *hub, const char *conn_id, const char *room, room_done_fn done, void *ud,
                 bool join)
{
    room_conn *conn;
    size_t len;
    int rc;
    if (!hub || !conn_id)
        return ROOM_EINVAL;
    if ((rc = rm_check_room_name(hub, room, &len)) != 0)
        return rc;
    conn = room_conn_find(hub, conn_id);
    if (!conn) {
        int (*remote)(room_adapter *, room_hub *, const char *, const char *, room_done_fn, void *) =
            join ? hub->adapter.remote_join : hub->adapter.remote_leave;
        if (remote)
            return remote(hub->cfg.adapter, hub, conn_id, room, done, ud);
        rc = ROOM_ENOTFOUND; /* an adapter without remote operations has no other node */
    } else {
        rc = join ? room_join(hub, conn, room) : room_leave(hub, conn, room);
    }
    if (done)
        done(hub, rc, ud);
    return 0;
}

int room_join_id(room_hub *hub, const char *conn_id, const char *room, room_done_fn done, void *ud)
{
    return by_id(hub, conn_id, room, done, ud, true);
}

int room_leave_id(room_hub *hub, const char *conn_id, const char *room, room_done_fn done, void *ud)
{
    return by_id(hub, conn_id, room, done, ud, false);
}
