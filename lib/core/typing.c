/* Typing indicators: relayed to the other users of a room, stopped by the
 * hub clock after an idle time, or at once when the typing connection
 * leaves. */
#include "people.h"

/* {"room", "id", "name"?}: who is typing where (a client may be in
 * several rooms). */
static json_t *typist_new(const rm_pmember *m)
{
    return json_pack("{s:s,s:s,s:O*}", "room", m->room->name, "id", m->id, "name",
                     json_object_get(m->entry, "name"));
}

static void relay(room_hub *hub, rm_pmember *m, const char *event)
{
    json_t *who;
    if (!event || !(who = typist_new(m)))
        return;
    rm_presence_send(hub, m->room->name, event, who, m->id);
    json_decref(who);
}

void rm_typing_end(room_hub *hub, rm_pmember *m, room_conn *conn)
{
    rm_people *p = hub->people;
    if (m->tprev)
        m->tprev->tnext = m->tnext;
    else
        p->typing = m->tnext;
    if (m->tnext)
        m->tnext->tprev = m->tprev;
    m->tprev = m->tnext = NULL;
    m->typist = NULL;
    relay(hub, m, p->events[3]);
    rm_presence_notify(hub, m, ROOM_PRESENCE_STOP_TYPING, conn);
}

/* The member `conn` is present as in `room`; ROOM_ENOTMEMBER otherwise. */
static int find(room_hub *hub, room_conn *conn, const char *room, rm_pmember **out)
{
    rm_people *p = hub ? hub->people : NULL;
    rm_proom *r;
    size_t len;
    int rc;
    if (!p || !p->enabled || p->busy || !conn || !room)
        return ROOM_EINVAL;
    if ((rc = rm_check_room_name(hub, room, &len)) != 0)
        return rc;
    r = rm_proom_find(p, room, rm_hash(hub->seed, room, len));
    *out = r ? rm_pmember_find(hub, r, rm_user_key(hub, conn)) : NULL;
    for (uint32_t i = 0; *out && i < (*out)->nconns; i++) {
        if ((*out)->conns[i] == conn)
            return 0;
    }
    return ROOM_ENOTMEMBER;
}

int room_typing(room_hub *hub, room_conn *conn, const char *room)
{
    rm_people *p;
    rm_pmember *m;
    int rc = find(hub, conn, room, &m);
    bool started;
    if (rc)
        return rc;
    p = hub->people;
    started = !m->typist;
    if (started) {
        m->tprev = NULL;
        m->tnext = p->typing;
        if (p->typing)
            p->typing->tprev = m;
        p->typing = m;
    }
    m->typist = conn;
    m->typing_until = hub->now_ms + p->cfg.typing_ms;
    if (started)
        relay(hub, m, p->events[2]);
    rm_presence_notify(hub, m, ROOM_PRESENCE_TYPING, conn);
    return 0;
}

int room_typing_stop(room_hub *hub, room_conn *conn, const char *room)
{
    rm_pmember *m;
    int rc = find(hub, conn, room, &m);
    if (rc)
        return rc;
    if (m->typist)
        rm_typing_end(hub, m, conn);
    return 0;
}
