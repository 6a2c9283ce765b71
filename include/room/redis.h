/*
 * libroom-redis: several nodes behave as one server over Redis.
 *
 * A room_redis is one node's link to a Redis server (two connections: one
 * publishing, one subscribed), its node id and its heartbeats. Each hub
 * that should span the cluster gets an adapter from it
 * (room_redis_adapter_new()), named after its Socket.IO namespace: the
 * channels and messages are those of @socket.io/redis-adapter 8.x
 * (docs/cluster.md), so that @socket.io/redis-emitter publishes into its
 * rooms unchanged.
 *
 * The node subscribes to the channel of a room only while one of its hubs
 * has members there, so it gets no traffic for rooms it does not serve.
 *
 * Loop: the library owns no loop. hiredis' sockets are handed to the host
 * through `watch` (start/stop watching a descriptor for reading/writing),
 * the host reports readiness with room_redis_io(), and calls
 * room_redis_tick() with its monotonic clock (heartbeats, request
 * timeouts, reconnection). room_redis_uv_new() does all of it on a libuv
 * loop.
 *
 * Threading: everything on the host's loop thread. Ownership: strings are
 * copied; an adapter belongs to its hub once room_hub_new() succeeds (the
 * hub destroys it), and must be bound to that hub with
 * room_redis_adapter_bind(). The room_redis must outlive its hubs. When
 * its hub is freed, the adapter ends every by-id operation (room_join_id()
 * ...) and count (room_member_count_cluster(), room_count_deliveries())
 * still waiting for other nodes with ROOM_ECLOSED: their callbacks run
 * once, after the hub's connections are gone, to release what they hold.
 * hiredis and msgpack-c allocate with malloc; the library's own state uses
 * the config's allocator.
 *
 * Errors: negative ROOM_E* codes (room_strerror()).
 */
#ifndef ROOM_REDIS_H
#define ROOM_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "room/adapter.h"
#include "room/redis_export.h"
#include "room/room.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct room_redis room_redis;

/* What room_redis_io() and `watch` pass. */
enum { ROOM_REDIS_READABLE = 1, ROOM_REDIS_WRITABLE = 2 };

/* Host-filled; initialise with room_redis_config_init(); later versions
 * only append fields. */
typedef struct room_redis_config {
    size_t size;
    /* redis://HOST[:PORT][/DB]; NULL: redis://127.0.0.1:6379. */
    const char *url;
    /* This node's name in logs and stats; NULL: a random one. It is not the
     * wire uid, which is always random (a restarted node is a new node). */
    const char *node_id;
    /* The channel prefix, @socket.io/redis-adapter's `key`; NULL: "socket.io". */
    const char *key;
    /* A by-id operation that no node answered in this time gets
     * ROOM_ENOTFOUND; 0: 5000 (the Socket.IO adapter's requestsTimeout). */
    uint32_t request_timeout_ms;
    /* Heartbeat period; 0: 1000. A node not heard for node_timeout_ms
     * (0: 5000) is dead: its presence leaves everywhere. */
    uint32_t heartbeat_ms;
    uint32_t node_timeout_ms;
    /* Reconnection attempts while Redis is away; 0: 500. */
    uint32_t reconnect_ms;
    /* Output waiting for Redis beyond this is dropped (counted in
     * room_redis_stats); 0: 8 MiB. */
    size_t max_pending_bytes;
    /* The host's loop: start (events non-zero) or stop (0) watching `fd`,
     * with `watch_data`. Required (room_redis_uv_new() fills both). */
    void (*watch)(int fd, int events, void *watch_data);
    void *watch_data;
    room_log_fn log;
    void *user_data;
    room_allocator allocator; /* zero: malloc/free */
    /* A count over the nodes (room_member_count_cluster(),
     * room_count_deliveries()) that some node did not answer in this time
     * ends with what came, `partial`; 0: 1000. */
    uint32_t count_timeout_ms;
} room_redis_config;

#define ROOM_REDIS_CONFIG_MIN_SIZE (offsetof(room_redis_config, allocator) + sizeof(room_allocator))

static inline void room_redis_config_init(room_redis_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
}

/* Connects (asynchronously: a Redis that is down is retried every
 * reconnect_ms, local delivery is never held up). Errors: ROOM_EINVAL (bad
 * url, no watch, size), ROOM_ENOMEM. */
ROOM_REDIS_API int room_redis_new(room_redis **out, const room_redis_config *config);
/* Says goodbye to the other nodes (best effort), closes both connections.
 * Every hub holding one of its adapters must be freed first. NULL-safe. */
ROOM_REDIS_API void room_redis_free(room_redis *redis);

/* `fd` is ready (ROOM_REDIS_READABLE | ROOM_REDIS_WRITABLE). */
ROOM_REDIS_API void room_redis_io(room_redis *redis, int fd, int events);
/* Runs timers: heartbeats, dead nodes, request timeouts, reconnection.
 * Returns the ms until it wants to run again. */
ROOM_REDIS_API int64_t room_redis_tick(room_redis *redis, uint64_t now_ms);

/* An adapter for the hub of Socket.IO namespace `nsp` ("/"; another
 * prefix than the Socket.IO one may be used for hubs that are no Socket.IO
 * namespace: any string naming the hub cluster-wide). Put it in the hub's
 * room_config.adapter, then bind it once the hub exists. Errors:
 * ROOM_EINVAL, ROOM_ENOMEM, ROOM_EALREADY (nsp taken). */
ROOM_REDIS_API int room_redis_adapter_new(room_redis *redis, const char *nsp, room_adapter **out);
/* Frees an adapter no hub took (room_hub_new() failed). NULL-safe. */
ROOM_REDIS_API void room_redis_adapter_free(room_adapter *adapter);
/* Ties the adapter to its hub: traffic from other nodes flows in from now
 * on. Errors: ROOM_EINVAL. */
ROOM_REDIS_API int room_redis_adapter_bind(room_adapter *adapter, room_hub *hub);

/* Counters since room_redis_new(). */
typedef struct room_redis_stats {
    uint64_t published;       /* messages published */
    uint64_t received;        /* broadcasts from other nodes (or emitters) */
    uint64_t unserved;        /* of those, for rooms without members here */
    uint64_t requests;        /* by-id and room-wide requests from other nodes */
    uint64_t ignored;         /* own messages, other namespaces, malformed */
    uint64_t dropped;         /* not published: Redis away or the bound reached */
    uint64_t outages;         /* times the connection to Redis was lost */
    uint32_t channels;        /* channels subscribed now */
    uint32_t nodes;           /* other live nodes heard */
    int connected;            /* both connections up */
} room_redis_stats;
ROOM_REDIS_API void room_redis_get_stats(const room_redis *redis, room_redis_stats *out);
/* This node's wire uid (six random bytes as 12 hex digits). */
ROOM_REDIS_API const char *room_redis_uid(const room_redis *redis);

#ifdef __cplusplus
}
#endif

#endif
