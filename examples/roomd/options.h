/* roomd's configuration: one table of options (options.c), each given as a
 * command-line flag or as an environment variable ROOMD_<NAME> (the flag's
 * name in capitals, '-' as '_'); a flag wins over the environment. */
#ifndef ROOMD_OPTIONS_H
#define ROOMD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ROOMD_MAX_ORIGINS 64
#define ROOMD_DEFAULT_PORT 3000

/* roomd's limits (docs/roomd.md). Per connection: 100 messages a second
 * with bursts of 200, and 1 MiB a second (a burst is at least one largest
 * message); 10 refusals in a row close it with 1008. */
#define ROOMD_MSG_RATE 100
#define ROOMD_BYTE_RATE (1u << 20)

typedef struct options {
    const char *host;
    int port;
    const char *protocol;      /* checked by roomd.c against its protocols */
    uint32_t ping_interval_ms; /* 0: the library's default */
    uint32_t ping_timeout_ms;
    uint32_t handshake_timeout_ms; /* 0: the library's default */
    int log_level;
    int write_threads; /* -1: one fewer than the CPUs, at most 3 */
    uint32_t msg_rate, byte_rate; /* per connection and second; 0: unlimited */
    size_t max_connections;       /* 0: from the descriptor limit */
    bool hub_broadcast;           /* rooms clients may broadcast to a whole hub */
    unsigned transports;          /* ROOM_WS_TRANSPORT_* of /socket.io/; 0: both */
    /* --allow-origin, split; none: no CORS, as Socket.IO's default. */
    const char *origins[ROOMD_MAX_ORIGINS + 1];
    char *origin_list; /* the copy `origins` points into */
    bool credentials;
    bool allow_eio3;         /* Engine.IO v3 / Socket.IO v2 clients too */
    uint32_t recovery_ms;    /* connection-state recovery window; 0: off */
    const char *auth_secret; /* NULL: self-declared identities */
    bool presence;           /* the rooms protocol's presence on its hubs */
    uint32_t typing_ms;      /* automatic stop-typing; 0: the library's default */
    const char *yjs_path;    /* y-websocket's prefix; NULL: "/yjs/", "off": none */
    size_t yjs_compact_bytes; /* 0: the library's default */
    uint32_t yjs_compact_growth; /* 0: the library's default */
    const char *redis_url;   /* --redis: join a cluster (cluster.c); NULL: single node */
    const char *node_id;     /* --node-id: this node's name in the cluster */
    const char *history_rooms; /* rooms with history (globs); NULL: "*" if a limit is given */
    uint32_t history_messages; /* 0: the library's default (100 without history_ms) */
    uint32_t history_ms;       /* 0: no age limit */
    size_t history_bytes;      /* 0: the library's default (1 MiB per room) */
    const char *data;        /* --data: the SQLite file of rooms' state (storage.c); NULL: memory */
    const char *static_dir;  /* --static: files served at "/"; NULL: none */
    uint32_t drain_ms;       /* shutdown: how long clients get to leave */
    int log_format;          /* ROOMD_LOG_TEXT or ROOMD_LOG_JSON (log.h) */
} options;

/* Fills `o` from the environment, then from argv. Exits with status 2 and
 * a message on stderr for anything it does not accept, 0 after --help or
 * --version. */
void roomd_options_parse(int argc, char **argv, options *o);
/* The --help text, generated from the table. */
void roomd_options_usage(FILE *out);
/* Releases what parsing allocated. */
void roomd_options_release(options *o);

#endif
