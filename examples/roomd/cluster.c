/* roomd's cluster wiring: --redis and --node-id (docs/cluster.md). */
#include "cluster.h"

#include <stdio.h>
#include <string.h>

#ifdef ROOMD_REDIS
#include "room/redis_uv.h"

/* One bus per process; the adapters belong to their hubs once bound. */
static room_redis *bus;
static room_log_fn log_fn;
static void *log_ud;
/* Handed out, waiting for their hubs: roomd has a few namespaces. */
static struct {
    const char *nsp;
    room_adapter *adapter;
} made[8];

int roomd_cluster_start(uv_loop_t *loop, const options *o, room_log_fn log, void *user_data)
{
    room_redis_config cfg;
    int rc;
    if (!o->redis_url)
        return 0;
    room_redis_config_init(&cfg);
    cfg.url = o->redis_url;
    cfg.node_id = o->node_id;
    cfg.log = log_fn = log;
    cfg.user_data = log_ud = user_data;
    if ((rc = room_redis_uv_new(&bus, loop, &cfg)) != 0) {
        fprintf(stderr, "roomd: --redis %s: %s\n", o->redis_url, room_strerror(rc));
        return rc;
    }
    room_logf(log, user_data, ROOM_LOG_INFO, "cluster: node %s (uid %s) over %s",
              o->node_id ? o->node_id : room_redis_uid(bus), room_redis_uid(bus), o->redis_url);
    return 0;
}

room_adapter *roomd_cluster_adapter(const char *nsp)
{
    room_adapter *adapter = NULL;
    size_t i;
    if (!bus)
        return NULL;
    for (i = 0; i < sizeof made / sizeof made[0] && made[i].nsp; i++)
        ;
    if (i == sizeof made / sizeof made[0] || room_redis_adapter_new(bus, nsp, &adapter) != 0) {
        room_logf(log_fn, log_ud, ROOM_LOG_ERROR, "cluster: no adapter for %s: single node there", nsp);
        return NULL;
    }
    made[i].nsp = nsp;
    made[i].adapter = adapter;
    return adapter;
}

int roomd_cluster_bind(const char *nsp, room_hub *hub)
{
    size_t i;
    for (i = 0; bus && hub && i < sizeof made / sizeof made[0] && made[i].nsp; i++) {
        if (strcmp(made[i].nsp, nsp) == 0)
            return room_redis_adapter_bind(made[i].adapter, hub);
    }
    return 0;
}

int roomd_cluster_link(void)
{
    room_redis_stats st;
    if (!bus)
        return -1;
    room_redis_get_stats(bus, &st);
    return st.connected ? 1 : 0;
}

void roomd_cluster_stop(void)
{
    room_redis_stats st;
    if (!bus)
        return;
    room_redis_get_stats(bus, &st);
    room_logf(log_fn, log_ud, ROOM_LOG_INFO,
              "cluster: published %llu, received %llu (%llu for rooms not served here), "
              "requests %llu, ignored %llu, dropped %llu, outages %llu",
              (unsigned long long)st.published, (unsigned long long)st.received,
              (unsigned long long)st.unserved, (unsigned long long)st.requests,
              (unsigned long long)st.ignored, (unsigned long long)st.dropped,
              (unsigned long long)st.outages);
    room_redis_uv_free(bus);
    bus = NULL;
    memset(made, 0, sizeof made);
}

#else

int roomd_cluster_start(uv_loop_t *loop, const options *o, room_log_fn log, void *user_data)
{
    (void)loop, (void)log, (void)user_data;
    if (!o->redis_url)
        return 0;
    fprintf(stderr, "roomd: --redis: this roomd was built without libroom-redis (hiredis, msgpack)\n");
    return ROOM_EINVAL;
}

room_adapter *roomd_cluster_adapter(const char *nsp)
{
    (void)nsp;
    return NULL;
}

int roomd_cluster_bind(const char *nsp, room_hub *hub)
{
    (void)nsp, (void)hub;
    return 0;
}

int roomd_cluster_link(void)
{
    return -1;
}

void roomd_cluster_stop(void)
{
}

#endif
