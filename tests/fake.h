/* A fake transport for driving a real hub in tests: every frame a peer is
 * sent is recorded as a string, closes are recorded, sends can be made to
 * fail. Plus a counting allocator that can fail the Nth allocation. */
#ifndef FAKE_H
#define FAKE_H

#include <stddef.h>

#include <jansson.h>

#include "room/room.h"

typedef struct fake_peer {
    room_conn *conn;
    char **frames; /* payloads, NUL-terminated copies */
    int *kinds;
    size_t nframes;
    size_t capframes;
    int kicked;    /* times the hub asked to close it */
    int close_code;
    char close_reason[128];
    int fail_sends; /* make the send callback fail */
} fake_peer;

typedef struct fake_alloc {
    size_t allocs;  /* successful allocations so far */
    size_t frees;
    size_t fail_at; /* 1-based allocation number that fails; 0: never */
    size_t failures;
} fake_alloc;

typedef struct fake_net {
    room_hub *hub;
    fake_alloc alloc;
    size_t sends;
    int logs; /* lines the hub logged, the last one kept */
    int log_level;
    char last_log[256];
} fake_net;

/* Fills the transport callbacks and the counting allocator. */
void fake_config(room_config *cfg, fake_net *net);
/* room_hub_new() with a config from room_config_init() + fake_config(). */
room_hub *fake_hub(fake_net *net, int with_rooms_protocol);
fake_peer *fake_open(fake_net *net);
/* room_conn_close() and free the peer. */
void fake_close(fake_net *net, fake_peer *peer);
void fake_peer_free(fake_peer *peer);
void fake_clear(fake_peer *peer);
int fake_recv(fake_net *net, fake_peer *peer, const char *text);
/* The i-th frame parsed as JSON (new reference); NULL if not JSON. */
json_t *fake_json(const fake_peer *peer, size_t i);
/* Index of the first JSON-codec frame {"event": name} at or after `from`,
 * or -1. */
long fake_find(const fake_peer *peer, const char *event, size_t from);
/* The "data" member of that frame (new reference) or NULL. */
json_t *fake_event_data(const fake_peer *peer, const char *event);
size_t fake_count(const fake_peer *peer, const char *event);

room_allocator fake_allocator(fake_alloc *a);

#endif
