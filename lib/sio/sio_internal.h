/* libroom-sio internals shared by its files. Not installed. Built on
 * libroom's public headers only, like any other host of the core.
 *
 * Each namespace is a hub with its own codec. A session CONNECTed to a
 * namespace is a connection of that hub whose transport is the session; the
 * hub's callbacks land in namespace.c, which routes frames to the host's
 * WebSocket. */
#ifndef ROOM_SIO_INTERNAL_H
#define ROOM_SIO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "room/codec.h"
#include "room/eio.h"
#include "room/room.h"

/* ---- memory (alloc.c) ----------------------------------------------------
 * The host's allocator, with the C library's standing in for an unset one. */
room_allocator sio_allocator(const room_allocator *given);
void *sio_malloc(const room_allocator *a, size_t size);
void *sio_calloc(const room_allocator *a, size_t size);
/* `old_size` is for allocators without realloc (malloc, copy, free). */
void *sio_realloc(const room_allocator *a, void *ptr, size_t old_size, size_t new_size);
void sio_free(const room_allocator *a, void *ptr);

/* ---- packets (packet.c) --------------------------------------------------- */
enum {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6,
};

/* Binary attachments one inbound packet may announce. */
#define SIO_MAX_ATTACHMENTS 10

/* What precedes a packet's JSON payload:
 * <type>[<attachments>-][<namespace>,][<ack id>] */
typedef struct sio_header {
    int type;
    size_t attachments; /* 1..SIO_MAX_ATTACHMENTS for binary types, else 0 */
    const char *nsp;    /* into the parsed bytes, not NUL-terminated; "/" when none */
    size_t nsp_len;
    int64_t id;         /* ack id, or -1 */
    size_t body;        /* offset of the payload; the length when there is none */
} sio_header;

/* Parses the header of one Socket.IO packet (without the Engine.IO "4").
 * Ack ids are read for event and ack types only. Returns 0 or ROOM_EPROTO. */
int sio_header_parse(const uint8_t *p, size_t len, sio_header *h);
/* Appends "4" (an Engine.IO message) and the header of a Socket.IO packet
 * of `type`: the binary variant when `attachments` > 0 (EVENT and ACK
 * only), the namespace unless it is "/", the ack id when >= 0. */
int sio_header_write(room_buf *out, int type, size_t attachments, const char *nsp, size_t nsp_len,
                     int64_t id);

/* ---- codec (codec_socketio.c) ---------------------------------------------
 * The room_eio parses every header to route the packet; it tells the
 * namespace's codec, so that the decode the hub runs on the same bytes does
 * not parse it again. NULL bytes forget it. */
void sio_codec_known_header(room_codec *codec, const uint8_t *bytes, const sio_header *h);

/* ---- connection-state recovery (recovery.c) ---------------------------------
 * The resume arguments from a CONNECT's auth ({pid, offset}, both strings),
 * with the hub's time brought to `now_ms`. */
void sio_recovery_args(room_hub *hub, json_t *auth, uint64_t now_ms, room_open_args *args);
/* Appends `","pid":"<pid>` to a CONNECT reply being written after the sid,
 * when the hub has recovery. */
int sio_recovery_connected(room_buf *b, const room_hub *hub, const room_conn *conn);

/* ---- state ---------------------------------------------------------------- */

/* Lists are circular around a sentinel, so unlinking needs no list. */
typedef struct eio_link {
    struct eio_link *prev, *next;
} eio_link;

typedef struct eio_nsp {
    room_eio *eio;
    room_hub *hub;
    room_codec *codec;
    /* The host's random callback (NULL: none) and user data, which the
     * hub's config no longer carries (its user_data points here). */
    room_random_fn random;
    void *random_ud;
    uint16_t index;
    size_t name_len;
    char name[];
} eio_nsp;

/* A BINARY_EVENT/BINARY_ACK waiting for its attachments. The text packet
 * and the attachments share one buffer: end[0] is the packet's length,
 * end[i + 1] the end of attachment i. */
typedef struct eio_binary {
    room_conn *conn;
    sio_header header; /* its nsp points nowhere once the message is gone */
    uint8_t *buf;
    size_t len;
    size_t end[SIO_MAX_ATTACHMENTS + 1];
    uint16_t nsp;
    uint8_t have;
} eio_binary;

/* A session's wait for its first successful CONNECT, in the connect list.
 * Apart from the session, because a session needs it only for its first
 * moments: allocated at open, freed once connected or closing. */
typedef struct eio_wait {
    eio_link link;
    uint64_t deadline;
    room_eio_session *session;
    json_t *handshake; /* the request's (a reference), unless keep_handshake */
} eio_wait;

/* A WebSocket probing a polling session ("2probe" answered), in the
 * upgrades list until "5" or upgradeTimeout. Apart from the session for the
 * same reason as eio_wait. */
typedef struct eio_probe {
    eio_link link;
    uint64_t deadline;
    room_eio_session *session;
    void *transport; /* the host's WebSocket */
} eio_probe;

/* What few sessions need: connections in namespaces other than "/" and a
 * binary packet in flight. Allocated when one of them is, freed when none
 * is left, so that an idle session in "/" does without it. */
typedef struct eio_rare {
    eio_binary *binary;
    eio_probe *probe;  /* while upgrading */
    json_t *handshake; /* keep_handshake: the request's, for the session's life */
    uint16_t nextra;
    room_conn *extra[]; /* connection in namespace i >= 1 at extra[i - 1] */
} eio_rare;

/* Every idle connection has one: each byte here is paid per client. */
struct room_eio_session {
    eio_link hb;            /* in the ping, pong or closing list */
    uint64_t hb_deadline;   /* next ping, or the pong's deadline */
    void *transport;
    room_conn *root;        /* connection in namespace "/" */
    json_t *query;          /* the host's query parameters, NULL when none */
    eio_wait *wait;         /* until a CONNECT succeeds */
    eio_rare *rare;
    char sid[ROOM_CONN_ID_LEN + 1];
    bool awaiting_pong : 1;
    bool closing : 1;       /* the host was asked to close; nothing more is sent */
    bool polling : 1;       /* on the polling transport (else WebSocket) */
    bool eio3 : 1;          /* Engine.IO v3 / Socket.IO v2 */
    bool b64 : 1;           /* v3 polling client without binary support (b64=1) */
    bool indexed : 1;       /* in the sid index (opened on polling) */
    bool no_upgrade : 1;    /* the open packet offered no upgrade */
    bool resuming : 1;      /* a CONNECT waited for the cluster (recovery) */
};

struct room_eio {
    room_eio_config cfg;    /* defaults resolved */
    room_allocator alloc;
    size_t max_payload;     /* the root hub's max_message_bytes */
    uint64_t now;           /* the time of the message being received */
    eio_nsp **nsps;         /* nsps[0] is "/" */
    uint32_t nnsp;
    /* Heartbeat lists (one per deadline kind, each sorted by construction):
     * v4 sessions wait for their ping, then for its pong; v3 sessions for
     * the client's next ping (silent); closing ones for room_eio_close(). */
    eio_link ping, pong, silent, closing, connect, upgrades;
    size_t nsessions;
    room_frame *ping_frame; /* "2", shared by every v4 session; made with the first */
    room_frame *pong_frame; /* "3", shared by every v3 session; made with the first */
    /* Sessions opened on polling by sid (sid_index.c): open addressing,
     * linear probing, at most 3/4 full; NULL is an empty slot. */
    room_eio_session **index;
    size_t index_cap, index_count;
    room_buf *scratch;      /* reused to build the room_eio's own packets */
    /* While a connect handler runs, what it sends to the connecting session
     * waits here: the CONNECT reply, which names the connection, goes
     * first. */
    room_eio_session *connecting;
    uint16_t connecting_nsp;
    /* While "/" connects a Socket.IO v2 client: the sid its connection's id
     * is drawn from (hub_random), once. */
    const char *id_from_sid;
    room_frame **held;
    size_t nheld, capheld;
};

/* ---- sessions (session.c) ------------------------------------------------ */
/* Asks the host, once, to close the session's WebSocket. The session stays
 * (in the closing list) until the host calls room_eio_close(). */
void sio_shut(room_eio *eio, room_eio_session *s, int code, const char *reason);
/* sio_shut() for a client that broke the protocol; returns ROOM_EPROTO. */
int sio_violation(room_eio *eio, room_eio_session *s, const char *reason);
/* Sends `frame` (borrowed); a failed send closes the session, but for
 * ROOM_ECLOSED: the transport is going already and its close follows. */
int sio_send(room_eio *eio, room_eio_session *s, room_frame *frame);
/* Sends the packet built in eio->scratch; `rc` is the result of building
 * it (an error closes the session). */
int sio_send_scratch(room_eio *eio, room_eio_session *s, int rc);
void sio_session_free(room_eio *eio, room_eio_session *s);
/* Gives the session its rare part with at least `nextra` slots for other
 * namespaces; when it grows, it makes one for every namespace known now
 * (namespaces are few). Growing moves the slots: hold none across it. */
int sio_rare_grow(room_eio *eio, room_eio_session *s, size_t nextra);
/* Frees the rare part once nothing is in it. Never while a connect handler
 * may be filling one of its slots. */
void sio_rare_trim(room_eio *eio, room_eio_session *s);

/* The session's handshake for connect handlers, or NULL. */
json_t *sio_handshake(const room_eio_session *s);
/* One decoded Engine.IO packet: text with its type digit, binary as the
 * message's bytes (v3's type byte stripped). */
int sio_recv_engine(room_eio *eio, room_eio_session *s, int kind, const uint8_t *p, size_t len);

/* ---- the sid index (sid_index.c) ------------------------------------------ */
int sio_index_add(room_eio *eio, room_eio_session *s);
void sio_index_remove(room_eio *eio, room_eio_session *s);
room_eio_session *sio_index_find(const room_eio *eio, const char *sid, size_t len);

/* ---- upgrades (upgrade.c) -------------------------------------------------- */
/* Ends the session's probe, if any; `close_probe` asks the host to close
 * the probe WebSocket (close callback). */
void sio_probe_end(room_eio *eio, room_eio_session *s, bool close_probe, const char *reason);
/* Closes the probes past upgradeTimeout; returns ms to the next deadline or -1. */
int64_t sio_probe_tick(room_eio *eio, uint64_t now_ms);

/* ---- payloads (payload.c) --------------------------------------------------- */
/* Strict UTF-8: returns false for invalid input; else *units is its length
 * in UTF-16 code units (JavaScript's string length). */
bool sio_utf8_units(const uint8_t *p, size_t len, size_t *units);
/* A text message "b" + base64 (v3: "b4" + base64): a binary message from a
 * client that sends binary as base64 (forceBase64), as engine.io reads it
 * on a WebSocket too. */
int sio_recv_base64(room_eio *eio, room_eio_session *s, const uint8_t *p, size_t len);

/* ---- heartbeat (heartbeat.c) -------------------------------------------- */
void sio_list_init(eio_link *head);
void sio_list_append(eio_link *head, eio_link *l);
void sio_list_unlink(eio_link *l);
room_eio_session *sio_hb_session(eio_link *l);
/* A new session: its first ping and, in s->wait (allocated by the
 * caller), its CONNECT deadline. */
void sio_heartbeat_start(room_eio *eio, room_eio_session *s, uint64_t now_ms);
/* The session no longer owes a CONNECT: connected, or closing. */
void sio_connect_wait_end(room_eio *eio, room_eio_session *s);
void sio_heartbeat_pong(room_eio *eio, room_eio_session *s, uint64_t now_ms);
/* v3: the client pinged; answers "3" and moves its silence deadline. */
int sio_heartbeat_ping(room_eio *eio, room_eio_session *s, uint64_t now_ms);

/* ---- namespaces (namespace.c) -------------------------------------------- */
int sio_namespace_add(room_eio *eio, const char *name, const room_config *config,
                      room_hub **hub_out);
int sio_namespace_find(const room_eio *eio, const char *name, size_t len);
void sio_namespace_free(room_eio *eio, eio_nsp *ns);
room_conn **sio_conn_slot(room_eio_session *s, size_t index);
/* One Socket.IO packet, the Engine.IO "4" stripped. */
int sio_recv_packet(room_eio *eio, room_eio_session *s, const uint8_t *p, size_t len);
/* Socket.IO v2 connects "/" as soon as the session opens. */
int sio_connect_root_v2(room_eio *eio, room_eio_session *s);
/* Hands a complete packet whose header is `h` to namespace `index`'s hub. */
int sio_deliver(room_eio *eio, room_eio_session *s, size_t index, room_conn *conn,
                const sio_header *h, const uint8_t *p, size_t len, const room_bytes *att,
                size_t natt);

/* ---- binary attachments (binary.c) ---------------------------------------- */
int sio_binary_start(room_eio *eio, room_eio_session *s, size_t index, room_conn *conn,
                     const sio_header *h, const uint8_t *p, size_t len);
int sio_binary_recv(room_eio *eio, room_eio_session *s, const uint8_t *p, size_t len);
void sio_binary_drop(room_eio *eio, room_eio_session *s);

#endif
