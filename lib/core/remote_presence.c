/* Presence records from other nodes, merged with this hub's members by
 * user id (docs/presence.md, "The cluster adapter"). */
#include "people.h"

/* Runs the host's change callback for a change made elsewhere. */
static void tell(room_hub *hub, rm_pmember *m, room_presence_change change)
{
    rm_people *p = hub->people;
    if (!p->cfg.change)
        return;
    p->busy++;
    p->cfg.change(hub, m->room->name, m->id, change, NULL, m->entry, p->cfg.user_data);
    p->busy--;
}

/* {"room", "id", "name"?}, as typing.c relays it. */
static void relay_typing(room_hub *hub, rm_pmember *m, const char *event)
{
    json_t *who;
    if (!event || !(who = json_pack("{s:s,s:s,s:O*}", "room", m->room->name, "id", m->id, "name",
                                    json_object_get(m->entry, "name"))))
        return;
    hub->people->busy++;
    rm_presence_send(hub, m->room->name, event, who, m->id);
    hub->people->busy--;
    json_decref(who);
}

static int find_node(const rm_pmember *m, const char *node)
{
    for (uint32_t i = 0; i < m->nremote; i++) {
        if (strcmp(m->remote[i].node, node) == 0)
            return (int)i;
    }
    return -1;
}

/* The member has no connection anywhere any more: it leaves. */
static void member_gone(room_hub *hub, rm_pmember *m)
{
    rm_proom *r = m->room;
    m->rtyping = false;
    rm_presence_queue_leave(hub, m);
    tell(hub, m, ROOM_PRESENCE_LEAVE);
    rm_table_del(&r->members, m);
    rm_presence_member_free(hub, m);
    rm_presence_room_maybe_free(hub, r);
}

/* Sets `node`'s connection count of `m`; 0 removes the node. */
static int set_conns(room_hub *hub, rm_pmember *m, const char *node, uint32_t conns)
{
    int i = find_node(m, node);
    if (i < 0 && conns) {
        if (rm_grow(&hub->alloc, (void **)&m->remote, &m->capremote, m->nremote + 1,
                    sizeof *m->remote))
            return ROOM_ENOMEM;
        i = (int)m->nremote++;
        memset(&m->remote[i], 0, sizeof m->remote[i]);
        memcpy(m->remote[i].node, node, strlen(node) + 1);
    }
    if (i < 0)
        return 0;
    m->rconns -= m->remote[i].conns;
    m->room->rconns -= m->remote[i].conns;
    m->remote[i].conns = conns;
    m->remote[i].stale = false;
    m->rconns += conns;
    m->room->rconns += conns;
    if (!conns)
        m->remote[i] = m->remote[--m->nremote];
    return 0;
}

/* A member new here, present on `node` only. */
static rm_pmember *member_new(room_hub *hub, const char *room, size_t len, const char *user,
                              json_t *entry, int *rc)
{
    rm_people *p = hub->people;
    uint32_t hash = rm_hash(hub->seed, room, len);
    size_t klen = strlen(user);
    rm_proom *r = rm_proom_find(p, room, hash);
    rm_pmember *m;
    bool new_room = false;
    json_t *state = json_object_get(entry, "state");

    *rc = ROOM_ENOMEM;
    if (!json_is_object(entry) || !json_is_object(state) ||
        json_string_value(json_object_get(entry, "id")) == NULL) {
        *rc = ROOM_EINVAL;
        return NULL;
    }
    if (!r) {
        if (rm_table_reserve(&p->rooms, &hub->alloc) || !(r = rm_proom_new(hub, room, len, hash)))
            return NULL;
        new_room = true;
    }
    if (rm_table_reserve(&r->members, &hub->alloc) ||
        !(m = rm_calloc(&hub->alloc, sizeof *m + klen + 1))) {
        if (new_room)
            rm_presence_room_free(hub, r);
        return NULL;
    }
    memcpy(m->id, user, klen + 1);
    m->hash = rm_hash(hub->seed, user, klen);
    m->room = r;
    m->state = json_incref(state);
    m->entry = json_incref(entry);
    if (new_room)
        rm_table_put(&p->rooms, r);
    rm_table_put(&r->members, m);
    rm_pwire_add(hub, m);
    *rc = 0;
    return m;
}

int room_presence_remote(room_hub *hub, const char *node, const char *room, const char *user_id,
                         int change, size_t conns, json_t *entry)
{
    rm_people *p = hub ? hub->people : NULL;
    rm_proom *r;
    rm_pmember *m;
    size_t len, klen;
    int rc;

    if (!p || !p->enabled || p->busy || !node || !user_id || strlen(node) >= sizeof m->remote->node ||
        conns > UINT32_MAX)
        return ROOM_EINVAL;
    if ((rc = rm_check_room_name(hub, room, &len)) != 0)
        return rc;
    klen = strlen(user_id);
    if (!klen || klen > ROOM_USER_ID_MAX)
        return ROOM_EINVAL;
    r = rm_proom_find(p, room, rm_hash(hub->seed, room, len));
    m = r ? rm_pmember_find(hub, r, user_id) : NULL;
    switch (change) {
    case ROOM_PRESENCE_JOIN:
    case ROOM_PRESENCE_CONN_JOIN:
    case ROOM_PRESENCE_CONN_LEAVE:
    case ROOM_PRESENCE_LEAVE:
        if (!m) {
            if (!conns)
                return 0;
            if (!(m = member_new(hub, room, len, user_id, entry, &rc)))
                return rc;
            if ((rc = set_conns(hub, m, node, (uint32_t)conns)) != 0) {
                rm_table_del(&m->room->members, m);
                r = m->room;
                rm_presence_member_free(hub, m);
                rm_presence_room_maybe_free(hub, r);
                return rc;
            }
            rm_presence_queue_join(hub, m);
            tell(hub, m, ROOM_PRESENCE_JOIN);
            return 0;
        }
        if ((rc = set_conns(hub, m, node, (uint32_t)conns)) != 0)
            return rc;
        if (!m->nconns && !m->nremote)
            member_gone(hub, m);
        return 0;
    case ROOM_PRESENCE_UPDATE:
        if (!m || !json_is_object(entry) || !json_is_object(json_object_get(entry, "state")))
            return m ? ROOM_EINVAL : 0;
        json_decref(m->state);
        json_decref(m->entry);
        m->state = json_incref(json_object_get(entry, "state"));
        m->entry = json_incref(entry);
        rm_pmember_changed(hub, m);
        rm_presence_queue_join(hub, m);
        tell(hub, m, ROOM_PRESENCE_UPDATE);
        return 0;
    case ROOM_PRESENCE_TYPING:
    case ROOM_PRESENCE_STOP_TYPING:
        if (!m)
            return 0;
        /* Relayed when it starts and when it stops, as on the typist's node. */
        if (change == ROOM_PRESENCE_TYPING && !m->rtyping)
            relay_typing(hub, m, p->events[2]);
        else if (change == ROOM_PRESENCE_STOP_TYPING && m->rtyping)
            relay_typing(hub, m, p->events[3]);
        m->rtyping = change == ROOM_PRESENCE_TYPING;
        tell(hub, m, (room_presence_change)change);
        return 0;
    default:
        return ROOM_EINVAL;
    }
}

/* Removes `node` from the members that have it (stale ones only when
 * `stale_only`); the users left with no connection anywhere leave. */
static int drop_node(room_hub *hub, const char *node, bool stale_only)
{
    rm_people *p = hub->people;
    int left = 0;
    /* Leaves free members and rooms: walk again from the start after each
     * (a table's slots move on deletion). */
    for (;;) {
        rm_pmember *gone = NULL;
        for (uint32_t i = 0; i < p->rooms.cap && !gone; i++) {
            rm_proom *r = p->rooms.slots[i];
            for (uint32_t j = 0; r && j < r->members.cap && !gone; j++) {
                rm_pmember *m = r->members.slots[j];
                int k = m ? find_node(m, node) : -1;
                if (k < 0 || (stale_only && !m->remote[k].stale))
                    continue;
                set_conns(hub, m, node, 0);
                if (!m->nconns && !m->nremote)
                    gone = m;
            }
        }
        if (!gone)
            return left;
        if (gone->rtyping)
            relay_typing(hub, gone, p->events[3]);
        member_gone(hub, gone);
        left++;
    }
}

int room_presence_remote_forget(room_hub *hub, const char *node)
{
    rm_people *p = hub ? hub->people : NULL;
    if (!node || (p && p->busy))
        return ROOM_EINVAL;
    return p ? drop_node(hub, node, false) : 0;
}

int room_presence_remote_sync(room_hub *hub, const char *node, int phase)
{
    rm_people *p = hub ? hub->people : NULL;
    if (!node || (phase != ROOM_PRESENCE_SYNC_BEGIN && phase != ROOM_PRESENCE_SYNC_END) ||
        (p && p->busy))
        return ROOM_EINVAL;
    if (!p)
        return 0;
    if (phase == ROOM_PRESENCE_SYNC_END)
        return drop_node(hub, node, true);
    for (uint32_t i = 0; i < p->rooms.cap; i++) {
        rm_proom *r = p->rooms.slots[i];
        for (uint32_t j = 0; r && j < r->members.cap; j++) {
            rm_pmember *m = r->members.slots[j];
            int k = m ? find_node(m, node) : -1;
            if (k >= 0)
                m->remote[k].stale = true;
        }
    }
    return 0;
}
