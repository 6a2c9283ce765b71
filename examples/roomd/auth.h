/* roomd's identities (docs/roomd.md, "Identity and authorization").
 *
 * Without a secret, a connection's identity is what the client declares:
 * {userId, name} from the Socket.IO CONNECT auth payload, or from the query
 * of the connection (/ws has no CONNECT). Nothing checks it.
 *
 * With a secret (--auth-secret), the client presents a token instead, as
 * auth {token} or the query parameter token:
 *
 *     base64url(claims) "." base64url(HMAC-SHA256(secret, base64url(claims)))
 *
 * without padding, where claims is the JSON object
 *
 *     {"userId": "42", "name": "Ada", "role": "TEACHER",
 *      "exp": 1767225600, "rooms": ["c:math", "pr:7", "*"]}
 *
 * userId, exp (Unix seconds) and rooms are required, name and role
 * optional, other keys refused. "*" in rooms allows every room.
 * examples/roomd/mint-token.sh makes one.
 *
 * An identity is a JSON object {"userId", "name"?, "role"?, "rooms"?}; no
 * "rooms" means every room (self-declared identities). */
#ifndef ROOMD_AUTH_H
#define ROOMD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "room/room.h"

/* Bounds of what a client may present: a token is short, and every string
 * of it travels in presence lists. */
#define ROOMD_TOKEN_MAX 4096
#define ROOMD_ID_MAX 128   /* userId and name, in bytes */
#define ROOMD_ROLE_MAX 32
#define ROOMD_ROOMS_MAX 64 /* entries of rooms */
#define ROOMD_ROOM_MAX 128 /* bytes of one entry, the hub's room name limit */

/* Checks `token` (`len` bytes, not NUL-terminated, untrusted) against
 * `key`, at `now` (Unix seconds). Returns 0 and a new identity object in
 * *identity_out (the caller owns it), or ROOM_EDENIED with *why set to a
 * static reason for the client ("token expired", "bad token signature",
 * ...), or ROOM_ENOMEM. The signature is checked, in constant time, before
 * the claims are parsed. Pure: no state, re-entrant. */
int roomd_token_verify(const uint8_t *key, size_t key_len, const char *token, size_t len,
                       int64_t now, json_t **identity_out, const char **why);

/* A connection's identity from its CONNECT `auth` payload and `query`
 * (each borrowed, an object or NULL/null). With `key` (not NULL), the token
 * from auth.token or else query.token is verified; without, {userId, name}
 * are taken from auth, key by key from the query when auth lacks them.
 * Returns 0 and *identity_out: a new object, or NULL when no key is set and
 * the client declared no userId (an anonymous connection, which the
 * protocols may identify later, as diffy does at join); ROOM_EDENIED with
 * *why; or ROOM_ENOMEM. */
int roomd_identity_from(const uint8_t *key, size_t key_len, json_t *auth, json_t *query,
                        int64_t now, json_t **identity_out, const char **why);

/* What roomd's protocols are given: the --auth-secret, or none. */
typedef struct roomd_auth {
    const uint8_t *key; /* NULL: identities are self-declared */
    size_t key_len;
} roomd_auth;

/* roomd_identity_from() for a "connect" event (args [auth, query, ...]),
 * at the wall clock's time. */
int roomd_auth_identity(const roomd_auth *a, const room_event *connect_ev, json_t **identity_out,
                        const char **why);

/* For hubs whose protocol keeps no identity (rooms): a "connect" handler
 * that refuses a connection whose identity roomd_auth_identity() refuses,
 * with the reason as the client's connect_error message. */
int roomd_auth_register(room_hub *hub, roomd_auth *a);

/* Answers `ev` with the error SocketResponse {"msg": "not allowed in room
 * <room>", "data": {"code": "forbidden", "event": ev->name}} (as room_fail()
 * does: the ack if one was asked for, else an `error` event). Returns
 * ROOM_EDENIED, for the handler to return. */
int roomd_forbid(room_hub *hub, room_conn *conn, const room_event *ev, const char *room);

/* 1 when `identity` (borrowed; NULL means anonymous) may join `room`. */
int roomd_identity_may_join(const json_t *identity, const char *room);

#endif
