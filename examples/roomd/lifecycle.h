/* roomd's life after start: readiness (sd_notify READY=1 under systemd),
 * GET /healthz, and the shutdown on SIGTERM or SIGINT with its drain
 * (docs/roomd.md, "Shutdown"). */
#ifndef ROOMD_LIFECYCLE_H
#define ROOMD_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "room/ws.h"
#include "room/ws_uv.h"

#define ROOMD_DRAIN_MS 5000 /* --drain-ms's default */

typedef struct roomd_life {
    uv_loop_t *loop;
    room_ws *ws;
    room_uv_server *srv;
    uint32_t drain_ms;
    bool draining; /* /healthz answers 503, roomd_draining is 1 */
    bool stopping; /* room_uv_shutdown() has run */
    uv_signal_t sigint, sigterm;
    uv_timer_t poll;   /* drain: are the clients gone? */
    uint64_t deadline; /* drain: loop time to stop waiting */
} roomd_life;

/* Routes GET /healthz on `ws`. Call before listening; `life` stays where
 * it is until the loop has ended. Returns 0, or -1 after logging why. */
int roomd_health_mount(roomd_life *life, uv_loop_t *loop, room_ws *ws, room_uv_server *srv, uint32_t drain_ms);
/* Once listening: SIGTERM and SIGINT start the drain, and systemd hears
 * READY=1. */
void roomd_life_ready(roomd_life *life);

#endif
