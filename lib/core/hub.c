/* Hub lifecycle and configuration. */
#include <string.h>

#include "internal.h"
#include "people.h"
#include "stored.h"

/* The one place where 0 turns into the documented defaults. */
static void resolve_defaults(room_config *cfg)
{
    if (!cfg->max_message_bytes)
        cfg->max_message_bytes = 1000000;
    if (!cfg->max_room_name_bytes)
        cfg->max_room_name_bytes = 128;
    if (!cfg->max_rooms_per_conn)
        cfg->max_rooms_per_conn = 128;
    if (!cfg->max_members_per_room)
        cfg->max_members_per_room = 1000000;
    if (!cfg->max_rooms)
        cfg->max_rooms = 1000000;
    if (!cfg->random)
        cfg->random = rm_random_default;
    if (!cfg->codec)
        cfg->codec = room_codec_json();
    if (!cfg->adapter)
        cfg->adapter = room_adapter_local();
    if (!cfg->rate_messages_burst)
        cfg->rate_messages_burst = cfg->rate_messages;
    /* A message of the largest size must be able to pass. */
    if (!cfg->rate_bytes_burst && cfg->rate_bytes)
        cfg->rate_bytes_burst = cfg->max_message_bytes > cfg->rate_bytes && cfg->max_message_bytes <= UINT32_MAX
                                    ? (uint32_t)cfg->max_message_bytes
                                    : cfg->rate_bytes;
    if (!cfg->rate_kick_after)
        cfg->rate_kick_after = 10;
    if (cfg->recovery_ms && !cfg->recovery_log_events)
        cfg->recovery_log_events = 1000;
    if (cfg->recovery_ms && !cfg->recovery_log_bytes)
        cfg->recovery_log_bytes = 1048576;
}

/* Copies the first `size` bytes of a caller's table (whose first member is
 * its size) into a zeroed `dst` of `dst_size`: members the caller was built
 * without read as 0, and nothing past `size` is read. */
int room_hub_new(room_hub **hub_out, const room_config *config)
{
    room_config cfg;
    rm_alloc alloc;
    room_hub *hub;

    if (!hub_out)
        return ROOM_EINVAL;
    *hub_out = NULL;
    if (room_config_copy(&cfg, sizeof cfg, config, ROOM_CONFIG_SIZE_MIN) != 0)
        return ROOM_EINVAL;
    if (!cfg.send || (cfg.codec && cfg.codec->size < ROOM_CODEC_SIZE_MIN) ||
        (cfg.adapter && cfg.adapter->size < ROOM_ADAPTER_SIZE_MIN) ||
        cfg.seal_headroom > RM_SEAL_MAX || cfg.max_rooms_per_conn > ROOM_MAX_ROOMS_PER_CONN ||
        cfg.max_members_per_room > UINT32_MAX / 2 || cfg.max_rooms > UINT32_MAX / 2 ||
        (cfg.unknown_events != ROOM_UNKNOWN_REPLY_ERROR && cfg.unknown_events != ROOM_UNKNOWN_IGNORE))
        return ROOM_EINVAL;
    resolve_defaults(&cfg);
    if (cfg.rate_messages_burst > RM_RATE_BURST_MAX || (cfg.rate_bytes && cfg.rate_bytes_burst < cfg.max_message_bytes))
        return ROOM_EINVAL;

    rm_alloc_init(&alloc, &cfg.allocator);
    hub = rm_calloc(&alloc, sizeof *hub);
    if (!hub)
        return ROOM_ENOMEM;
    hub->cfg = cfg;
    hub->alloc = alloc;
    rm_limit_start(hub);
    rm_recovery_start(hub);
    /* Sizes checked above. */
    room_config_copy(&hub->codec, sizeof hub->codec, cfg.codec, ROOM_CODEC_SIZE_MIN);
    room_config_copy(&hub->adapter, sizeof hub->adapter, cfg.adapter, ROOM_ADAPTER_SIZE_MIN);
    rm_table_init(&hub->rooms, offsetof(rm_room, name), offsetof(rm_room, hash));
    rm_table_init(&hub->conns_by_id, offsetof(room_conn, id), offsetof(room_conn, id_hash));
    rm_buf_init(&hub->scratch, &hub->alloc);
    if (cfg.random(&hub->seed, sizeof hub->seed, cfg.user_data) != 0) {
        rm_free(&hub->alloc, hub, sizeof *hub);
        return ROOM_EINVAL;
    }
    *hub_out = hub;
    return 0;
}

void room_hub_free(room_hub *hub)
{
    rm_alloc alloc;
    if (!hub)
        return;
    /* Teardown calls back into nothing: pending acks are dropped first. */
    rm_acks_free(hub);
    rm_recovery_free(hub);
    rm_people_free(hub);
    rm_storage_free(hub);
    /* Freeing shifts later items of a probe run back into slot i, which is
     * then looked at again. No connection is closing here (this is not
     * called from handlers), so every one is in the table. */
    for (uint32_t i = 0; i < hub->conns_by_id.cap;) {
        if (hub->conns_by_id.slots[i])
            rm_conn_free(hub, hub->conns_by_id.slots[i]);
        else
            i++;
    }
    rm_rooms_free_all(hub);
    rm_handlers_free(hub);
    rm_table_release(&hub->rooms, &hub->alloc);
    rm_table_release(&hub->conns_by_id, &hub->alloc);
    rm_buf_release(&hub->scratch);
    if (hub->adapter.destroy)
        hub->adapter.destroy(hub->cfg.adapter);
    alloc = hub->alloc;
    rm_free(&alloc, hub, sizeof *hub);
}

void room_hub_set_time(room_hub *hub, uint64_t now_ms)
{
    if (hub && now_ms >= hub->now_ms) {
        hub->now_ms = now_ms;
        if (hub->cfg.recovery_ms)
            rm_recovery_clock(hub);
    }
}

size_t room_hub_max_message_bytes(const room_hub *hub)
{
    return hub ? hub->cfg.max_message_bytes : 0;
}

size_t room_hub_memory(const room_hub *hub)
{
    return hub ? hub->alloc.bytes : 0;
}

void room_hub_stats_copy(const room_hub *hub, room_hub_stats *stats, size_t size)
{
    if (!stats)
        return;
    memset(stats, 0, size);
    if (hub)
        memcpy(stats, &hub->stats, size < sizeof hub->stats ? size : sizeof hub->stats);
}

size_t room_conn_count(const room_hub *hub)
{
    return hub ? hub->nconns - hub->ndetached : 0;
}

size_t room_count(const room_hub *hub)
{
    return hub ? hub->rooms.count : 0;
}
