/* The fake host of eio_fake.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eio_fake.h"

static void record(eio_peer *p, const room_frame *f)
{
    size_t len;
    const uint8_t *bytes = room_frame_payload(f, &len);
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->msgs = realloc(p->msgs, p->cap * sizeof *p->msgs);
        p->lens = realloc(p->lens, p->cap * sizeof *p->lens);
        p->kinds = realloc(p->kinds, p->cap * sizeof *p->kinds);
    }
    p->msgs[p->n] = malloc(len + 1);
    memcpy(p->msgs[p->n], bytes, len);
    p->msgs[p->n][len] = '\0';
    p->lens[p->n] = len;
    p->kinds[p->n++] = room_frame_kind(f);
}

static void keep(eio_peer *p, room_frame *chain)
{
    if (p->nchains == p->capchains) {
        p->capchains = p->capchains ? p->capchains * 2 : 8;
        p->chains = realloc(p->chains, p->capchains * sizeof *p->chains);
    }
    p->chains[p->nchains++] = room_frame_ref(chain);
}

static int w_send(void *transport, room_frame *frame, void *ud)
{
    eio_peer *p = transport;
    (void)ud;
    if (p->fail_sends)
        return ROOM_ETRANSPORT;
    for (const room_frame *f = frame; f; f = room_frame_next(f))
        record(p, f);
    keep(p, frame);
    return 0;
}

static void w_close(void *transport, int code, const char *reason, void *ud)
{
    eio_peer *p = transport;
    (void)ud;
    p->closes++;
    p->close_code = code;
    snprintf(p->reason, sizeof p->reason, "%s", reason);
}

void eio_world_config(eio_world *w)
{
    memset(w, 0, sizeof *w);
    room_eio_config_init(&w->cfg);
    w->cfg.send = w_send;
    w->cfg.close = w_close;
    w->cfg.user_data = w;
    w->cfg.allocator = fake_allocator(&w->alloc);
    w->cfg.ping_interval_ms = 1000;
    w->cfg.ping_timeout_ms = 500;
    w->cfg.connect_timeout_ms = 5000;
    room_config_init(&w->root);
}

void eio_world_start(eio_world *w)
{
    assert_int_equal(room_eio_new(&w->eio, &w->cfg, &w->root), 0);
}

static void release(eio_peer *p)
{
    for (size_t i = 0; i < p->nchains; i++)
        room_frame_unref(p->chains[i]);
    p->nchains = p->polled = 0;
}

void eio_world_end(eio_world *w)
{
    eio_peer *p, *next;
    for (p = w->peers; p; p = p->next) {
        if (p->s && !p->closed)
            eio_close(w, p, "end");
    }
    for (p = w->peers; p; p = p->next)
        release(p);
    room_eio_free(w->eio);
    w->eio = NULL;
    assert_int_equal(w->alloc.allocs, w->alloc.frees);
    for (p = w->peers; p; p = next) {
        next = p->next;
        for (size_t i = 0; i < p->n; i++)
            free(p->msgs[i]);
        free(p->msgs);
        free(p->lens);
        free(p->kinds);
        free(p->chains);
        free(p);
    }
    w->peers = NULL;
}

eio_peer *eio_peer_new(eio_world *w)
{
    eio_peer *p = calloc(1, sizeof *p);
    p->next = w->peers;
    w->peers = p;
    return p;
}

int eio_accept(eio_world *w, eio_peer *p, int transport, int protocol, json_t *query,
               json_t *handshake)
{
    room_eio_request req;
    int rc;
    room_eio_request_init(&req);
    req.transport = transport;
    req.protocol = protocol;
    req.query = query;
    req.handshake = handshake;
    rc = room_eio_accept(w->eio, p, &req, w->now, &p->s);
    if (rc)
        assert_null(p->s);
    return rc;
}

eio_peer *eio_open(eio_world *w, int transport, int protocol)
{
    eio_peer *p = eio_peer_new(w);
    assert_int_equal(eio_accept(w, p, transport, protocol, NULL, NULL), 0);
    assert_true(p->n >= 1 && p->msgs[0][0] == '0');
    return p;
}

void eio_close(eio_world *w, eio_peer *p, const char *reason)
{
    room_eio_close(w->eio, p->s, reason);
    p->closed = true;
}

int eio_in(eio_world *w, eio_peer *p, const char *text)
{
    return room_eio_recv(w->eio, p->s, ROOM_FRAME_TEXT, text, strlen(text), w->now);
}

int eio_in_bin(eio_world *w, eio_peer *p, const void *bytes, size_t len)
{
    return room_eio_recv(w->eio, p->s, ROOM_FRAME_BINARY, bytes, len, w->now);
}

int eio_post(eio_world *w, eio_peer *p, const char *body)
{
    return room_eio_recv_payload(w->eio, p->s, body, strlen(body), false, w->now);
}

const char *eio_last(const eio_peer *p)
{
    assert_true(p->n > 0);
    return p->msgs[p->n - 1];
}

char *eio_poll(eio_peer *p, size_t *len, const char **content_type)
{
    room_buf *out;
    char *body;
    assert_int_equal(room_buf_new(&out, NULL), 0);
    assert_int_equal(room_eio_payload_encode(p->s, p->chains + p->polled, p->nchains - p->polled,
                                             out, content_type),
                     0);
    p->polled = p->nchains;
    *len = room_buf_len(out);
    body = malloc(*len + 1);
    if (*len)
        memcpy(body, room_buf_data(out), *len);
    body[*len] = '\0';
    room_buf_free(out);
    return body;
}

void eio_move_unpolled(eio_peer *from, eio_peer *to)
{
    for (size_t i = from->polled; i < from->nchains; i++) {
        for (const room_frame *f = from->chains[i]; f; f = room_frame_next(f))
            record(to, f);
        keep(to, from->chains[i]);
    }
    from->polled = from->nchains;
}
