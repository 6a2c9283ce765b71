/* The fake cluster adapter (fake_cluster.h). */
#include "fake_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "room/presence.h"
#include "room/storage.h"

enum { FC_STORAGE_UPDATE = ROOM_STORAGE_UPDATE, FC_STORAGE_RELAY = ROOM_STORAGE_RELAY, FC_PRESENCE = 100 };

struct fc_msg {
    int node, kind;
    char room[64], user[64];
    int change;
    size_t conns;
    json_t *entry;
    uint8_t *bytes;
    size_t len;
    fc_msg *next;
};

static fc_msg *queue(fake_cluster *cl, int node, int kind, const char *room)
{
    fc_msg *m = calloc(1, sizeof *m);
    m->node = node;
    m->kind = kind;
    snprintf(m->room, sizeof m->room, "%s", room);
    if (cl->tail)
        cl->tail->next = m;
    else
        cl->head = m;
    cl->tail = m;
    return m;
}

static int publish(room_adapter *adapter, room_hub *hub, const char *room, int kind, const void *bytes,
                   size_t len)
{
    fc_node *n = (fc_node *)adapter;
    fc_msg *m;
    (void)hub;
    n->cluster->publishes++;
    if (n->cluster->fail_publish)
        return ROOM_ENOMEM;
    m = queue(n->cluster, n->index, kind, room);
    m->bytes = malloc(len ? len : 1);
    memcpy(m->bytes, bytes, len);
    m->len = len;
    return 0;
}

static int fetch(room_adapter *adapter, room_hub *hub, const char *room)
{
    fc_node *n = (fc_node *)adapter;
    fake_cluster *cl = n->cluster;
    (void)hub;
    cl->fetch_calls++;
    if (cl->alone || cl->nfetches == (int)(sizeof cl->fetches / sizeof cl->fetches[0]))
        return ROOM_ENOTFOUND;
    cl->fetches[cl->nfetches].node = n->index;
    snprintf(cl->fetches[cl->nfetches].room, sizeof cl->fetches[0].room, "%s", room);
    cl->nfetches++;
    return 0;
}

static int count_conn(room_conn *conn, void *ud)
{
    (void)conn;
    (*(size_t *)ud)++;
    return 0;
}

static void presence(room_adapter *adapter, room_hub *hub, const char *room, const char *user_id,
                     int change, const char *conn_id, json_t *entry)
{
    fc_node *n = (fc_node *)adapter;
    fc_msg *m = queue(n->cluster, n->index, FC_PRESENCE, room);
    (void)conn_id;
    snprintf(m->user, sizeof m->user, "%s", user_id);
    m->change = change;
    room_presence_user_conns_foreach(hub, room, user_id, count_conn, &m->conns);
    m->entry = json_deep_copy(entry);
}

room_adapter *fake_cluster_adapter(fake_cluster *cl, int i)
{
    fc_node *n = &cl->nodes[i];
    memset(n, 0, sizeof *n);
    n->base.size = sizeof n->base;
    n->base.name = "fake-cluster";
    n->base.presence = presence;
    n->base.storage_publish = publish;
    n->base.storage_fetch = fetch;
    n->cluster = cl;
    n->index = i;
    return &n->base;
}

void fake_cluster_bind(fake_cluster *cl, int i, room_hub *hub)
{
    cl->nodes[i].hub = hub;
}

static void msg_free(fc_msg *m)
{
    free(m->bytes);
    json_decref(m->entry);
    free(m);
}

int fake_cluster_deliver(fake_cluster *cl)
{
    int n = 0;
    fc_msg *m;
    while ((m = cl->head) != NULL) {
        char node[8];
        if (!(cl->head = m->next))
            cl->tail = NULL;
        snprintf(node, sizeof node, "n%d", m->node);
        for (int i = 0; i < FAKE_CLUSTER_NODES; i++) {
            room_hub *hub = cl->nodes[i].hub;
            if (i == m->node || !hub)
                continue;
            if (m->kind == FC_STORAGE_UPDATE)
                cl->last_append = room_storage_remote_append(hub, m->room, m->bytes, m->len);
            else if (m->kind == FC_STORAGE_RELAY)
                room_storage_remote_relay(hub, m->room, m->bytes, m->len);
            else if (room_presence_remote(hub, node, m->room, m->user, m->change, m->conns, m->entry) == 0)
                room_presence_flush(hub);
        }
        msg_free(m);
        n++;
    }
    return n;
}

typedef struct copy {
    uint8_t **updates;
    size_t *lens;
    size_t n, cap;
} copy;

static int take(const room_storage_entry *e, void *ud)
{
    copy *c = ud;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->updates = realloc(c->updates, c->cap * sizeof *c->updates);
        c->lens = realloc(c->lens, c->cap * sizeof *c->lens);
    }
    c->updates[c->n] = malloc(e->update.len ? e->update.len : 1);
    memcpy(c->updates[c->n], e->update.data, e->update.len);
    c->lens[c->n++] = e->update.len;
    return 0;
}

int fake_cluster_answer(fake_cluster *cl)
{
    int done = 0;
    while (cl->nfetches) {
        int asker = cl->fetches[0].node;
        char room[64];
        snprintf(room, sizeof room, "%s", cl->fetches[0].room);
        memmove(cl->fetches, cl->fetches + 1, (size_t)--cl->nfetches * sizeof cl->fetches[0]);
        for (int i = 0; i < FAKE_CLUSTER_NODES; i++) {
            copy c = {0};
            int current;
            if (i == asker || !cl->nodes[i].hub)
                continue;
            room_storage_peek(cl->nodes[i].hub, room, take, &c, &current);
            for (size_t k = 0; k < c.n; k++) {
                room_storage_remote_append(cl->nodes[asker].hub, room, c.updates[k], c.lens[k]);
                free(c.updates[k]);
            }
            free(c.updates);
            free(c.lens);
        }
        room_storage_remote_fetched(cl->nodes[asker].hub, room);
        done++;
    }
    return done;
}

void fake_cluster_forget(fake_cluster *cl, int i)
{
    char node[8];
    snprintf(node, sizeof node, "n%d", i);
    for (int k = 0; k < FAKE_CLUSTER_NODES; k++) {
        if (k != i && cl->nodes[k].hub && room_presence_remote_forget(cl->nodes[k].hub, node) > 0)
            room_presence_flush(cl->nodes[k].hub);
    }
}

void fake_cluster_free(fake_cluster *cl)
{
    fc_msg *m;
    while ((m = cl->head) != NULL) {
        cl->head = m->next;
        msg_free(m);
    }
    cl->tail = NULL;
}
