/* Who a connection speaks for: a user record per connection, found through
 * a hub table by connection id, and the connections of each user id. */
#include <stdlib.h>

#include "people.h"

rm_people *rm_people_get(room_hub *hub)
{
    rm_people *p = hub->people;
    if (p)
        return p;
    p = rm_calloc(&hub->alloc, sizeof *p);
    if (!p)
        return NULL;
    rm_table_init(&p->users, offsetof(rm_user, id), offsetof(rm_user, hash));
    rm_table_init(&p->by_conn, offsetof(rm_cuser, id), offsetof(rm_cuser, hash));
    rm_table_init(&p->rooms, offsetof(rm_proom, name), offsetof(rm_proom, hash));
    p->diff_due = UINT64_MAX;
    hub->people = p;
    return p;
}

rm_cuser *rm_cuser_of(const room_hub *hub, const room_conn *conn)
{
    if (!hub || !conn || !(conn->flags & RM_CONN_USER) || !hub->people)
        return NULL;
    return rm_table_get(&hub->people->by_conn, conn->id_hash, conn->id);
}

const char *rm_user_key(const room_hub *hub, const room_conn *conn)
{
    rm_cuser *c = rm_cuser_of(hub, conn);
    return c ? c->user->id : conn->id;
}

static rm_user *user_find(const room_hub *hub, const char *id)
{
    if (!hub->people || !id)
        return NULL;
    return rm_table_get(&hub->people->users, rm_hash(hub->seed, id, strlen(id)), id);
}

static char *dup_text(room_hub *hub, const char *s, int *rc)
{
    size_t len;
    char *d;
    if (!s)
        return NULL;
    len = strlen(s);
    if (!rm_utf8_valid((const unsigned char *)s, len)) {
        *rc = ROOM_EINVAL;
        return NULL;
    }
    d = rm_malloc(&hub->alloc, len + 1);
    if (!d) {
        *rc = ROOM_ENOMEM;
        return NULL;
    }
    memcpy(d, s, len + 1);
    return d;
}

static void free_text(room_hub *hub, char *s)
{
    if (s)
        rm_free(&hub->alloc, s, strlen(s) + 1);
}

/* Takes `conn` out of its user's list, freeing the user with its last. */
static void unlink_user(room_hub *hub, rm_cuser *c)
{
    rm_user *u = c->user;
    room_conn *moved = u->conns[--u->nconns];
    if (c->slot != u->nconns) {
        u->conns[c->slot] = moved;
        rm_cuser_of(hub, moved)->slot = c->slot;
    }
    if (u->nconns == 0) {
        rm_table_del(&hub->people->users, u);
        rm_free(&hub->alloc, u->conns, u->cap * sizeof *u->conns);
        rm_free(&hub->alloc, u, sizeof *u + strlen(u->id) + 1);
    }
}

static void cuser_free(room_hub *hub, rm_cuser *c)
{
    free_text(hub, c->name);
    free_text(hub, c->role);
    json_decref(c->meta);
    rm_free(&hub->alloc, c, sizeof *c);
}

void rm_identity_forget(room_hub *hub, room_conn *conn)
{
    rm_cuser *c = rm_cuser_of(hub, conn);
    conn->flags &= (uint8_t)~RM_CONN_USER;
    if (!c)
        return;
    rm_table_del(&hub->people->by_conn, c);
    unlink_user(hub, c);
    cuser_free(hub, c);
}

int room_conn_set_user(room_hub *hub, room_conn *conn, const room_user *user)
{
    room_user u;
    rm_people *p;
    rm_cuser *c, *old;
    rm_user *ur;
    size_t idlen;
    int rc = 0;
    bool new_user = false;

    if (!hub || !conn || (hub->people && hub->people->busy))
        return ROOM_EINVAL;
    if (conn->flags & RM_CONN_PRESENT) {
        /* Only a connection still in a presence room is held to its user. */
        for (uint32_t i = 0; i < conn->nrooms; i++) {
            rm_proom *r = rm_proom_find(hub->people, conn->rooms[i].room->name, conn->rooms[i].room->hash);
            if (r && rm_pmember_find(hub, r, rm_user_key(hub, conn)))
                return ROOM_EALREADY;
        }
    }
    if (!user) {
        rm_identity_forget(hub, conn);
        return 0;
    }
    if (room_config_copy(&u, sizeof u, user, ROOM_USER_SIZE_MIN))
        return ROOM_EINVAL;
    if (!u.id || (idlen = strlen(u.id)) == 0 || idlen > ROOM_USER_ID_MAX ||
        !rm_utf8_valid((const unsigned char *)u.id, idlen) || (u.meta && !json_is_object(u.meta)))
        return ROOM_EINVAL;
    if (!(p = rm_people_get(hub)))
        return ROOM_ENOMEM;
    /* Allocate everything first so that a failure keeps the old user. */
    if (rm_table_reserve(&p->by_conn, &hub->alloc) || rm_table_reserve(&p->users, &hub->alloc))
        return ROOM_ENOMEM;
    c = rm_calloc(&hub->alloc, sizeof *c);
    if (!c)
        return ROOM_ENOMEM;
    c->name = dup_text(hub, u.name, &rc);
    if (!rc)
        c->role = dup_text(hub, u.role, &rc);
    if (!rc && u.meta && !(c->meta = json_deep_copy(u.meta)))
        rc = ROOM_ENOMEM;
    ur = user_find(hub, u.id);
    if (!rc && !ur) {
        ur = rm_calloc(&hub->alloc, sizeof *ur + idlen + 1);
        if (!ur)
            rc = ROOM_ENOMEM;
        else {
            memcpy(ur->id, u.id, idlen + 1);
            ur->hash = rm_hash(hub->seed, u.id, idlen);
            new_user = true;
        }
    }
    if (!rc && (rc = rm_grow(&hub->alloc, (void **)&ur->conns, &ur->cap, ur->nconns + 1,
                             sizeof *ur->conns)) != 0 && new_user) {
        rm_free(&hub->alloc, ur, sizeof *ur + idlen + 1);
    }
    if (rc) {
        cuser_free(hub, c);
        return rc;
    }
    if (new_user)
        rm_table_put(&p->users, ur);
    c->conn = conn;
    c->user = ur;
    c->hash = conn->id_hash;
    memcpy(c->id, conn->id, sizeof c->id);
    old = rm_cuser_of(hub, conn);
    if (old && old->user == ur) {
        c->slot = old->slot; /* same user, new name or meta: keep its place */
    } else {
        c->slot = ur->nconns;
        ur->conns[ur->nconns++] = conn;
        if (old)
            unlink_user(hub, old);
    }
    if (old) {
        rm_table_del(&p->by_conn, old);
        cuser_free(hub, old);
    }
    rm_table_put(&p->by_conn, c);
    conn->flags |= RM_CONN_USER;
    return 0;
}

const char *room_conn_user_id(const room_hub *hub, const room_conn *conn)
{
    rm_cuser *c = rm_cuser_of(hub, conn);
    return c ? c->user->id : NULL;
}

const char *room_conn_user_name(const room_hub *hub, const room_conn *conn)
{
    rm_cuser *c = rm_cuser_of(hub, conn);
    return c ? c->name : NULL;
}

const char *room_conn_user_role(const room_hub *hub, const room_conn *conn)
{
    rm_cuser *c = rm_cuser_of(hub, conn);
    return c ? c->role : NULL;
}

json_t *room_conn_user_meta(const room_hub *hub, const room_conn *conn)
{
    rm_cuser *c = rm_cuser_of(hub, conn);
    return c ? c->meta : NULL;
}

int room_user_conns_foreach(room_hub *hub, const char *user_id, room_conn_visit_fn fn, void *ud)
{
    rm_user *u;
    int rc;
    if (!hub || !user_id || !fn)
        return ROOM_EINVAL;
    u = user_find(hub, user_id);
    for (uint32_t i = 0; u && i < u->nconns; i++) {
        if ((rc = fn(u->conns[i], ud)) != 0)
            return rc;
    }
    return 0;
}

size_t room_user_conn_count(room_hub *hub, const char *user_id)
{
    rm_user *u = hub ? user_find(hub, user_id) : NULL;
    return u ? u->nconns : 0;
}
