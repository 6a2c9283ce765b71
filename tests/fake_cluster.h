/* A fake cluster adapter for tests: several hubs in one process, whose
 * storage updates, relays and presence records are queued when published
 * and handed to the other hubs by fake_cluster_deliver(), and whose log
 * fetches are answered by fake_cluster_answer() from the other hubs'
 * copies (room_storage_peek()), as libroom-redis does over Redis. */
#ifndef FAKE_CLUSTER_H
#define FAKE_CLUSTER_H

#include <stddef.h>

#include "room/adapter.h"
#include "room/room.h"

#define FAKE_CLUSTER_NODES 4

typedef struct fake_cluster fake_cluster;
typedef struct fc_node {
    room_adapter base; /* first: the hub hands it back */
    fake_cluster *cluster;
    int index;
    room_hub *hub;
} fc_node;

typedef struct fc_msg fc_msg;
struct fake_cluster {
    fc_node nodes[FAKE_CLUSTER_NODES];
    fc_msg *head, *tail;
    struct {
        int node;
        char room[64];
    } fetches[16];
    int nfetches;
    int alone;         /* storage_fetch says there is no other node */
    int fail_publish;  /* storage_publish fails with ROOM_ENOMEM */
    int publishes;     /* storage_publish calls */
    int fetch_calls;   /* storage_fetch calls */
    int last_append;   /* the last room_storage_remote_append() result of a delivery */
};

/* The adapter of node `i`, for its room_config (the cluster keeps it). */
room_adapter *fake_cluster_adapter(fake_cluster *cl, int i);
void fake_cluster_bind(fake_cluster *cl, int i, room_hub *hub);
/* Hands every queued message to the other bound hubs; how many. */
int fake_cluster_deliver(fake_cluster *cl);
/* Answers the fetches asked so far: each other hub's copy (peek) appended
 * to the asking hub, then room_storage_remote_fetched(). How many. */
int fake_cluster_answer(fake_cluster *cl);
/* Node `i` died: its presence leaves the other hubs. */
void fake_cluster_forget(fake_cluster *cl, int i);
/* Frees what is queued (the hubs are the caller's). */
void fake_cluster_free(fake_cluster *cl);

#endif
