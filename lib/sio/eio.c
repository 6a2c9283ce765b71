/* The room_eio itself (docs/protocol-socketio.md): its configuration, with
 * the defaults resolved here and nowhere else, the root namespace, and
 * teardown. */
#include <string.h>

#include "sio_internal.h"

/* Copies the host's config, of whichever size it was built with, and fills
 * in the defaults for what it left 0. */
static int resolve_config(room_eio_config *cfg, const room_eio_config *given)
{
    if (room_config_copy(cfg, sizeof *cfg, given, ROOM_EIO_CONFIG_MIN_SIZE) != 0 || !cfg->send ||
        !cfg->close)
        return ROOM_EINVAL;
    if (!cfg->ping_interval_ms)
        cfg->ping_interval_ms = 25000;
    if (!cfg->ping_timeout_ms)
        cfg->ping_timeout_ms = 20000;
    if (!cfg->connect_timeout_ms)
        cfg->connect_timeout_ms = 45000;
    return 0;
}

int room_eio_new(room_eio **eio_out, const room_eio_config *config, const room_config *root_config)
{
    room_eio_config cfg;
    room_allocator alloc;
    room_eio *eio;
    int rc;

    if (!eio_out)
        return ROOM_EINVAL;
    *eio_out = NULL;
    rc = resolve_config(&cfg, config);
    if (rc)
        return rc;
    alloc = sio_allocator(&cfg.allocator);
    eio = sio_calloc(&alloc, sizeof *eio);
    if (!eio)
        return ROOM_ENOMEM;
    eio->cfg = cfg;
    eio->alloc = alloc;
    sio_list_init(&eio->ping);
    sio_list_init(&eio->pong);
    sio_list_init(&eio->closing);
    sio_list_init(&eio->silent);
    sio_list_init(&eio->connect);
    sio_list_init(&eio->upgrades);
    rc = room_buf_new(&eio->scratch, &cfg.allocator);
    /* The root hub is the last thing that can fail, so that the host keeps
     * its adapter whenever this call fails. */
    if (!rc)
        rc = sio_namespace_add(eio, "/", root_config, NULL);
    if (rc) {
        room_eio_free(eio);
        return rc;
    }
    /* Engine.IO's maxPayload is the root hub's message limit: the one
     * limit a Socket.IO client knows of. */
    eio->max_payload = room_hub_max_message_bytes(eio->nsps[0]->hub);
    *eio_out = eio;
    return 0;
}

void room_eio_free(room_eio *eio)
{
    eio_link *lists[4], *l;
    room_allocator alloc;
    size_t i;

    if (!eio)
        return;
    lists[0] = &eio->ping;
    lists[1] = &eio->pong;
    lists[2] = &eio->silent;
    lists[3] = &eio->closing;
    /* Hubs may still call back while they free their connections (pending
     * acks fail); those calls must find their sessions, sending nothing. */
    for (i = 0; i < 4; i++) {
        for (l = lists[i]->next; l != lists[i]; l = l->next)
            sio_hb_session(l)->closing = true;
    }
    room_frame_unref(eio->ping_frame);
    room_frame_unref(eio->pong_frame);
    for (i = 0; i < eio->nnsp; i++)
        sio_namespace_free(eio, eio->nsps[i]);
    for (i = 0; i < 4; i++) {
        while (lists[i]->next != lists[i])
            sio_session_free(eio, sio_hb_session(lists[i]->next));
    }
    sio_free(&eio->alloc, eio->nsps);
    sio_free(&eio->alloc, eio->held);
    sio_free(&eio->alloc, eio->index);
    room_buf_free(eio->scratch);
    alloc = eio->alloc;
    sio_free(&alloc, eio);
}
