/* Mounts (what each path serves) and the send and close callbacks that
 * route a hub's or eio's frames to the connection, its transport. */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

static int mount(room_ws *ws, const char *path, room_eio *eio, room_hub *hub)
{
    rm_ws_mount *m;
    size_t len = strlen(path), limit;

    if (rm_ws_mount_find(ws, path, len) >= 0 || ws->nmounts == RM_WS_MAX_MOUNTS)
        return ROOM_EINVAL;
    if (!(m = malloc(sizeof *m + len + 1)))
        return ROOM_ENOMEM;
    m->eio = eio;
    m->hub = hub;
    /* One limit: the hub's, which Engine.IO also announces as maxPayload. */
    limit = room_hub_max_message_bytes(eio ? room_eio_hub(eio, "/") : hub);
    m->max_message = limit < UINT32_MAX ? (uint32_t)limit : UINT32_MAX;
    memcpy(m->path, path, len + 1);
    ws->mounts[ws->nmounts++] = m;
    /* Its clock starts with the next room_ws_run(). */
    ws->tick_due = true;
    return 0;
}

int room_ws_mount_socketio(room_ws *ws, room_eio *eio)
{
    if (!ws || !eio)
        return ROOM_EINVAL;
    return mount(ws, "/socket.io/", eio, NULL);
}

int room_ws_mount_json(room_ws *ws, const char *path, room_hub *hub)
{
    if (!ws || !path || path[0] != '/' || !hub)
        return ROOM_EINVAL;
    return mount(ws, path, NULL, hub);
}

int rm_ws_mount_find(const room_ws *ws, const char *path, size_t len)
{
    unsigned i;
    for (i = 0; i < ws->nmounts; i++) {
        if (strlen(ws->mounts[i]->path) == len && memcmp(ws->mounts[i]->path, path, len) == 0)
            return (int)i;
    }
    return -1;
}

void rm_ws_mounts_free(room_ws *ws)
{
    while (ws->nmounts)
        free(ws->mounts[--ws->nmounts]);
}

/* ---- hub and eio callbacks ------------------------------------------------ */

/* One pair for hubs and the Engine.IO layer alike: both hand over the
 * transport pointer, which is the connection. */
static int transport_send(void *transport, room_frame *frame, void *user_data)
{
    (void)user_data;
    return rm_ws_send(transport, frame);
}

static void transport_close(void *transport, int code, const char *reason, void *user_data)
{
    (void)user_data;
    rm_ws_close(transport, code, reason);
}

void room_ws_eio_config(const room_ws *ws, room_eio_config *config)
{
    if (!ws || !config)
        return;
    config->send = transport_send;
    config->close = transport_close;
    config->seal = rm_ws_seal;
    config->seal_headroom = RM_WS_HEADROOM;
}

void room_ws_hub_config(const room_ws *ws, room_config *config)
{
    if (!ws || !config)
        return;
    config->send = transport_send;
    config->close = transport_close;
    config->seal = rm_ws_seal;
    config->seal_headroom = RM_WS_HEADROOM;
}
