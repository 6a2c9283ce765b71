/* GET /metrics: roomd's counters and gauges in the Prometheus text format
 * (version 0.0.4), the list in docs/roomd.md ("Metrics"). */
#ifndef ROOMD_METRICS_H
#define ROOMD_METRICS_H

#include <stdbool.h>

#include "room/eio.h"
#include "room/ws.h"
#include "room/ws_uv.h"

#define ROOMD_METRICS_HUBS 8

/* Where the figures come from; every pointer is read at each scrape, and
 * must outlive the engine's routes. */
typedef struct roomd_metrics_source {
    room_ws *ws;
    room_uv_server *srv;
    /* Hubs by the label they get (hub="socket.io/", ...). */
    struct {
        const char *label;
        room_hub *hub;
    } hubs[ROOMD_METRICS_HUBS];
    unsigned nhubs;
    /* roomd_redis_up when set: 1 while the cluster link is up (the Redis
     * adapter's). Unset on a single node: the metric is absent. */
    bool (*redis_up)(void *user_data);
    void *redis_user_data;
    /* roomd_draining: set by the shutdown's drain (lifecycle.c). */
    const bool *draining;
} roomd_metrics_source;

/* Routes GET /metrics on src->ws; `src` is kept (not copied). Returns 0,
 * or -1 after logging why. */
int roomd_metrics_mount(roomd_metrics_source *src);
/* Adds a hub; false when there are ROOMD_METRICS_HUBS already. */
bool roomd_metrics_add_hub(roomd_metrics_source *src, const char *label, room_hub *hub);

#endif
