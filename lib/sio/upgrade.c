/* The upgrade of a polling session to a WebSocket, as engine.io's
 * Socket._maybeUpgrade(): the client probes the new WebSocket with
 * "2probe", the server answers "3probe" there and releases the pending poll
 * with a noop ("6"); "5" then moves the session. Anything else on the
 * probe, or no "5" within upgradeTimeout, ends the probe and the session
 * goes on polling. */
#include <string.h>

#include "sio_internal.h"

/* engine.io's upgradeTimeout default. */
#define SIO_UPGRADE_TIMEOUT_MS 10000

static eio_probe *probe_of(const room_eio_session *s)
{
    return s->rare ? s->rare->probe : NULL;
}

static eio_probe *probe_at(eio_link *l)
{
    return (eio_probe *)((char *)l - offsetof(eio_probe, link));
}

/* Leaves the rare part to the caller: this runs inside connect handlers
 * too (a session shut from one), whose slot may be in it. */
void sio_probe_end(room_eio *eio, room_eio_session *s, bool close_probe, const char *reason)
{
    eio_probe *probe = probe_of(s);
    void *transport;
    if (!probe)
        return;
    s->rare->probe = NULL;
    sio_list_unlink(&probe->link);
    transport = probe->transport;
    sio_free(&eio->alloc, probe);
    if (close_probe)
        eio->cfg.close(transport, ROOM_CLOSE_NORMAL, reason, eio->cfg.user_data);
}

int64_t sio_probe_tick(room_eio *eio, uint64_t now_ms)
{
    while (eio->upgrades.next != &eio->upgrades && probe_at(eio->upgrades.next)->deadline <= now_ms) {
        room_eio_session *s = probe_at(eio->upgrades.next)->session;
        sio_probe_end(eio, s, true, "upgrade timeout");
        sio_rare_trim(eio, s);
    }
    if (eio->upgrades.next == &eio->upgrades)
        return -1;
    return (int64_t)(probe_at(eio->upgrades.next)->deadline - now_ms);
}

/* "3probe" on the probe, then a noop on polling, which the host writes to
 * the pending poll (or the next one) at once. */
static int answer_probe(room_eio *eio, room_eio_session *s, void *ws_transport)
{
    room_hub *hub = eio->nsps[0]->hub;
    room_frame *frame = room_frame_new(hub, ROOM_FRAME_TEXT, "3probe", 6);
    int rc;
    if (!frame)
        return ROOM_ENOMEM;
    rc = eio->cfg.send(ws_transport, frame, eio->cfg.user_data);
    room_frame_unref(frame);
    if (rc < 0)
        return ROOM_ETRANSPORT;
    frame = room_frame_new(hub, ROOM_FRAME_TEXT, "6", 1);
    if (!frame) {
        sio_shut(eio, s, ROOM_CLOSE_INTERNAL_ERROR, "out of memory");
        return ROOM_ENOMEM;
    }
    rc = sio_send(eio, s, frame);
    room_frame_unref(frame);
    return rc;
}

/* The first "2probe": the probe's state is made first and attached only
 * once both answers went out, so that a failure leaves no probe for the
 * room_eio to close. */
static int probe_start(room_eio *eio, room_eio_session *s, void *ws_transport)
{
    eio_probe *probe;
    int rc = sio_rare_grow(eio, s, 0);
    probe = rc ? NULL : sio_malloc(&eio->alloc, sizeof *probe);
    rc = probe ? answer_probe(eio, s, ws_transport) : ROOM_ENOMEM;
    if (rc) {
        sio_free(&eio->alloc, probe);
        sio_rare_trim(eio, s);
        return rc;
    }
    probe->deadline = eio->now + SIO_UPGRADE_TIMEOUT_MS;
    probe->session = s;
    probe->transport = ws_transport;
    sio_list_append(&eio->upgrades, &probe->link);
    s->rare->probe = probe;
    return 0;
}

int room_eio_upgrade_recv(room_eio *eio, room_eio_session *s, void *ws_transport, int kind,
                          const void *bytes, size_t len, uint64_t now_ms)
{
    eio_probe *probe;
    int rc;

    if (!eio || !s || !ws_transport || (!bytes && len))
        return ROOM_EINVAL;
    if (s->closing)
        return ROOM_ECLOSED;
    probe = probe_of(s);
    /* One probe at a time, as engine.io refuses a second WebSocket while
     * one is upgrading. */
    if (!s->polling || s->no_upgrade || (probe && probe->transport != ws_transport))
        return ROOM_EPROTO;
    eio->now = now_ms;
    if (kind == ROOM_FRAME_TEXT && len == 6 && memcmp(bytes, "2probe", 6) == 0) {
        /* Probed again: answered again, on the same deadline. */
        rc = probe ? answer_probe(eio, s, ws_transport) : probe_start(eio, s, ws_transport);
        if (rc) {
            /* The host closes the probe on this error: forget it. */
            sio_probe_end(eio, s, false, NULL);
            sio_rare_trim(eio, s);
            return rc;
        }
        return ROOM_EIO_PROBING;
    }
    if (probe && kind == ROOM_FRAME_TEXT && len == 1 && *(const uint8_t *)bytes == '5') {
        sio_probe_end(eio, s, false, NULL);
        sio_rare_trim(eio, s);
        s->transport = ws_transport;
        s->polling = false;
        return ROOM_EIO_UPGRADED;
    }
    sio_probe_end(eio, s, false, NULL);
    sio_rare_trim(eio, s);
    return ROOM_EPROTO;
}

bool room_eio_session_upgrading(const room_eio_session *session)
{
    return session && probe_of(session);
}

void room_eio_upgrade_abort(room_eio *eio, room_eio_session *s, void *ws_transport)
{
    eio_probe *probe = s ? probe_of(s) : NULL;
    if (!eio || !probe || probe->transport != ws_transport)
        return;
    sio_probe_end(eio, s, false, NULL);
    sio_rare_trim(eio, s);
}
