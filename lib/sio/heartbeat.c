/* Deadlines: the server's pings and their pongs (Engine.IO v4: only the
 * server pings), the client's pings (v3: the client pings, the server
 * answers and closes a session silent for pingInterval + pingTimeout), and
 * the CONNECT a new session owes.
 *
 * Every session shares the same intervals, so a deadline appended at the
 * tail of a list is never earlier than the ones before it. Each list stays
 * sorted by construction and room_eio_tick() only looks at heads: O(1) per
 * session and event. */
#include "sio_internal.h"

void sio_list_init(eio_link *head)
{
    head->prev = head->next = head;
}

void sio_list_append(eio_link *head, eio_link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

void sio_list_unlink(eio_link *l)
{
    if (!l->next)
        return;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

room_eio_session *sio_hb_session(eio_link *l)
{
    return (room_eio_session *)((char *)l - offsetof(room_eio_session, hb));
}

static eio_wait *wait_of(eio_link *l)
{
    return (eio_wait *)((char *)l - offsetof(eio_wait, link));
}

/* v3: the client pings every pingInterval, and the server waits
 * pingTimeout more for it (engine.io's resetPingTimeout()). */
static void await_ping(room_eio *eio, room_eio_session *s, uint64_t now_ms)
{
    s->hb_deadline = now_ms + eio->cfg.ping_interval_ms + eio->cfg.ping_timeout_ms;
    sio_list_append(&eio->silent, &s->hb);
}

void sio_heartbeat_start(room_eio *eio, room_eio_session *s, uint64_t now_ms)
{
    if (s->eio3) {
        await_ping(eio, s, now_ms);
    } else {
        s->hb_deadline = now_ms + eio->cfg.ping_interval_ms;
        sio_list_append(&eio->ping, &s->hb);
    }
    /* Plain Engine.IO sessions owe no CONNECT. */
    if (!s->wait)
        return;
    s->wait->deadline = now_ms + eio->cfg.connect_timeout_ms;
    s->wait->session = s;
    sio_list_append(&eio->connect, &s->wait->link);
}

void sio_connect_wait_end(room_eio *eio, room_eio_session *s)
{
    if (!s->wait)
        return;
    sio_list_unlink(&s->wait->link);
    json_decref(s->wait->handshake);
    sio_free(&eio->alloc, s->wait);
    s->wait = NULL;
}

void sio_heartbeat_pong(room_eio *eio, room_eio_session *s, uint64_t now_ms)
{
    /* An unsolicited pong does not postpone the next ping. */
    if (!s->awaiting_pong)
        return;
    s->awaiting_pong = false;
    sio_list_unlink(&s->hb);
    s->hb_deadline = now_ms + eio->cfg.ping_interval_ms;
    sio_list_append(&eio->ping, &s->hb);
}

int sio_heartbeat_ping(room_eio *eio, room_eio_session *s, uint64_t now_ms)
{
    sio_list_unlink(&s->hb);
    await_ping(eio, s, now_ms);
    return sio_send(eio, s, eio->pong_frame);
}

static void fold(int64_t *next, int64_t ms)
{
    if (ms >= 0 && (*next < 0 || ms < *next))
        *next = ms;
}

int64_t room_eio_tick(room_eio *eio, uint64_t now_ms)
{
    room_eio_session *s;
    int64_t next = -1;
    uint32_t i;

    if (!eio)
        return -1;
    while (eio->ping.next != &eio->ping && sio_hb_session(eio->ping.next)->hb_deadline <= now_ms) {
        s = sio_hb_session(eio->ping.next);
        sio_list_unlink(&s->hb);
        s->awaiting_pong = true;
        s->hb_deadline = now_ms + eio->cfg.ping_timeout_ms;
        sio_list_append(&eio->pong, &s->hb);
        sio_send(eio, s, eio->ping_frame);
    }
    while (eio->pong.next != &eio->pong && sio_hb_session(eio->pong.next)->hb_deadline <= now_ms)
        sio_shut(eio, sio_hb_session(eio->pong.next), ROOM_CLOSE_NORMAL, "ping timeout");
    while (eio->silent.next != &eio->silent &&
           sio_hb_session(eio->silent.next)->hb_deadline <= now_ms)
        sio_shut(eio, sio_hb_session(eio->silent.next), ROOM_CLOSE_NORMAL, "ping timeout");
    /* sio_shut() ends the wait, taking it off the list. */
    while (eio->connect.next != &eio->connect && wait_of(eio->connect.next)->deadline <= now_ms)
        sio_shut(eio, wait_of(eio->connect.next)->session, ROOM_CLOSE_NORMAL, "connect timeout");

    if (eio->ping.next != &eio->ping)
        fold(&next, (int64_t)(sio_hb_session(eio->ping.next)->hb_deadline - now_ms));
    if (eio->pong.next != &eio->pong)
        fold(&next, (int64_t)(sio_hb_session(eio->pong.next)->hb_deadline - now_ms));
    if (eio->silent.next != &eio->silent)
        fold(&next, (int64_t)(sio_hb_session(eio->silent.next)->hb_deadline - now_ms));
    if (eio->connect.next != &eio->connect)
        fold(&next, (int64_t)(wait_of(eio->connect.next)->deadline - now_ms));
    fold(&next, sio_probe_tick(eio, now_ms));
    /* Last: ack callbacks may close sessions, which only moves them to the
     * closing list. */
    for (i = 0; i < eio->nnsp; i++)
        fold(&next, room_hub_tick(eio->nsps[i]->hub, now_ms));
    return next;
}
