/* Hub lifecycle and configuration. */
#include <string.h>

#include "internal.h"

static const char *room_key(const void *item)
{
    return ((const rm_room *)item)->name;
}

static const char *conn_key(const void *item)
{
    return ((const room_conn *)item)->id;
}

void room_config_init(room_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
    config->max_message_bytes = 65536;
    config->max_room_name_bytes = 128;
    config->max_rooms_per_conn = 128;
    config->max_members_per_room = 1000000;
    config->max_rooms = 1000000;
}

int room_hub_new(room_hub **hub_out, const room_config *config)
{
    room_config cfg;
    rm_alloc alloc;
    room_hub *hub;

    if (!hub_out)
        return ROOM_EINVAL;
    *hub_out = NULL;
    if (!config || config->size < sizeof(room_config) || !config->send)
        return ROOM_EINVAL;
    cfg = *config;
    if (!cfg.max_message_bytes)
        cfg.max_message_bytes = 65536;
    if (!cfg.max_room_name_bytes)
        cfg.max_room_name_bytes = 128;
    if (!cfg.max_rooms_per_conn)
        cfg.max_rooms_per_conn = 128;
    if (!cfg.max_members_per_room)
        cfg.max_members_per_room = 1000000;
    if (!cfg.max_rooms)
        cfg.max_rooms = 1000000;
    if ((cfg.adapter && cfg.adapter->size < sizeof(room_adapter)) ||
        (cfg.codec && cfg.codec->size < ROOM_CODEC_SIZE_MIN) || cfg.seal_headroom > RM_SEAL_MAX || cfg.max_rooms_per_conn > UINT32_MAX / 2 ||
        cfg.max_members_per_room > UINT32_MAX / 2 || cfg.max_rooms > UINT32_MAX / 2)
        return ROOM_EINVAL;
    if (!cfg.random)
        cfg.random = rm_random_default;

    rm_alloc_init(&alloc, &cfg.allocator);
    hub = rm_calloc(&alloc, sizeof *hub);
    if (!hub)
        return ROOM_ENOMEM;
    hub->cfg = cfg;
    hub->alloc = alloc;
    hub->codec = cfg.codec ? cfg.codec : room_codec_json();
    hub->adapter = cfg.adapter ? cfg.adapter : room_adapter_local();
    rm_table_init(&hub->rooms, room_key);
    rm_table_init(&hub->conns_by_id, conn_key);
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
    while (hub->nconns)
        rm_conn_free(hub, hub->conns[hub->nconns - 1]);
    rm_rooms_free_all(hub);
    rm_handlers_free(hub);
    rm_table_release(&hub->rooms, &hub->alloc);
    rm_table_release(&hub->conns_by_id, &hub->alloc);
    rm_free(&hub->alloc, hub->conns, (size_t)hub->capconns * sizeof *hub->conns);
    rm_buf_release(&hub->scratch);
    if (hub->adapter && hub->adapter->destroy)
        hub->adapter->destroy(hub->adapter);
    alloc = hub->alloc;
    rm_free(&alloc, hub, sizeof *hub);
}

size_t room_hub_max_message_bytes(const room_hub *hub)
{
    return hub ? hub->cfg.max_message_bytes : 0;
}

size_t room_hub_memory(const room_hub *hub)
{
    return hub ? hub->alloc.bytes : 0;
}

size_t room_conn_count(const room_hub *hub)
{
    return hub ? hub->nconns : 0;
}

size_t room_count(const room_hub *hub)
{
    return hub ? hub->rooms.count : 0;
}
