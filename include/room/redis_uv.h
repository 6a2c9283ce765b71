/*
 * libroom-redis on a libuv loop: room_redis_new() with `watch` and the
 * timer done with uv_poll_t and uv_timer_t handles. Built when libuv is
 * found (as roomd is).
 */
#ifndef ROOM_REDIS_UV_H
#define ROOM_REDIS_UV_H

#include <uv.h>

#include "room/redis.h"

#ifdef __cplusplus
extern "C" {
#endif

/* room_redis_new() driven by `loop` (config->watch and watch_data are
 * ignored). Its handles are unreferenced: they do not keep the loop
 * running on their own. Errors as room_redis_new(). */
ROOM_REDIS_API int room_redis_uv_new(room_redis **out, uv_loop_t *loop, const room_redis_config *config);
/* room_redis_free(), then closes the handles; their memory is released
 * by the loop's close callbacks, which this runs. NULL-safe. */
ROOM_REDIS_API void room_redis_uv_free(room_redis *redis);

#ifdef __cplusplus
}
#endif

#endif
