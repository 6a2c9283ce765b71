/* roomd in a cluster (--redis): one libroom-redis bus per process and an
 * adapter per hub (docs/cluster.md). Without --redis every call does
 * nothing and roomd is a single node. */
#ifndef ROOMD_CLUSTER_H
#define ROOMD_CLUSTER_H

#include <uv.h>

#include "options.h"
#include "room/room.h"

/* Connects to o->redis_url (asynchronously: a Redis that is down is
 * retried). 0, or a negative code (a bad URL; roomd built without
 * libroom-redis). */
int roomd_cluster_start(uv_loop_t *loop, const options *o, room_log_fn log, void *user_data);
/* The adapter for the hub that serves `nsp` cluster-wide, to put in its
 * room_config; NULL without a cluster. */
room_adapter *roomd_cluster_adapter(const char *nsp);
/* Ties each adapter handed out to its hub, once the hubs exist. */
int roomd_cluster_bind(const char *nsp, room_hub *hub);
/* The link to Redis for roomd_redis_up (metrics.c): 1 while both its
 * connections are up, 0 while not, -1 without a cluster. */
int roomd_cluster_link(void);
/* After every hub is freed: says goodbye, logs the counters, closes. */
void roomd_cluster_stop(void);

#endif
