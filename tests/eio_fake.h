/* A fake host for the room_eio (libroom-sio) tests beyond test_eio.c: each
 * peer is one transport (a WebSocket or a polling session's buffer) that
 * records every message it is sent, as text and as the frame chains
 * themselves, so that polling tests can encode them into a poll response
 * with room_eio_payload_encode(). The clock is whatever the test says. */
#ifndef EIO_FAKE_H
#define EIO_FAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "fake.h"
#include "room/eio.h"

typedef struct eio_peer {
    room_eio_session *s;
    char **msgs;          /* NUL-terminated copies of each message */
    size_t *lens;
    int *kinds;
    size_t n, cap;
    room_frame **chains;  /* references to every chain sent, in order */
    size_t nchains, capchains, polled;
    int closes;           /* close callbacks for this transport */
    int close_code;
    char reason[128];
    int fail_sends;
    bool closed;          /* the test called room_eio_close() */
    struct eio_peer *next;
} eio_peer;

typedef struct eio_world {
    room_eio *eio;
    room_eio_config cfg;
    room_config root;     /* the "/" hub's */
    fake_alloc alloc;
    uint64_t now;
    eio_peer *peers;      /* every peer, freed by eio_world_end() */
} eio_world;

/* The test configuration: fake transport, counting allocator, intervals of
 * 1000 (ping) / 500 (pong) / 5000 (CONNECT) ms. */
void eio_world_config(eio_world *w);
/* room_eio_new() with w->cfg and w->root. */
void eio_world_start(eio_world *w);
/* Closes the sessions the test left open, releases every frame, frees the
 * room_eio and checks that nothing leaked. */
void eio_world_end(eio_world *w);

eio_peer *eio_peer_new(eio_world *w);
/* room_eio_accept() for `p`. */
int eio_accept(eio_world *w, eio_peer *p, int transport, int protocol, json_t *query,
               json_t *handshake);
/* A new peer accepted (asserting success). */
eio_peer *eio_open(eio_world *w, int transport, int protocol);
/* The host's room_eio_close(). */
void eio_close(eio_world *w, eio_peer *p, const char *reason);
int eio_in(eio_world *w, eio_peer *p, const char *text);
int eio_in_bin(eio_world *w, eio_peer *p, const void *bytes, size_t len);
/* room_eio_recv_payload() of a text body. */
int eio_post(eio_world *w, eio_peer *p, const char *body);
const char *eio_last(const eio_peer *p);
/* The poll response for what `p` got since the last poll: a new malloc'd
 * NUL-terminated body (*len bytes before the NUL) and its Content-Type. */
char *eio_poll(eio_peer *p, size_t *len, const char **content_type);
/* Moves peer `from`'s chains not yet polled to `to`, as a host moves what
 * polling still holds to the WebSocket after an upgrade. */
void eio_move_unpolled(eio_peer *from, eio_peer *to);

#endif
