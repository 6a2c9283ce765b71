/* roomd's identities and signed tokens (auth.h). */
#include "auth.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "room/room.h"

#define MAC_SIZE SHA256_DIGEST_SIZE
/* base64url of 32 bytes, unpadded */
#define MAC_CHARS 43

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Strict unpadded base64url: only the alphabet, no length of 4k+1, and the
 * unused bits of the last character zero, so that one byte string has one
 * encoding. `out` holds at least len * 3 / 4 bytes. Returns the decoded
 * length, or -1. */
static long b64url_decode(const char *in, size_t len, uint8_t *out)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t i, o = 0;
    if (len % 4 == 1)
        return -1;
    for (i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1))
        return -1;
    return (long)o;
}

static const char *string_claim(json_t *v, size_t max, int required, const char *why)
{
    size_t n;
    if (!v)
        return required ? why : NULL;
    if (!json_is_string(v))
        return why;
    n = json_string_length(v);
    /* An embedded NUL would make the C string another name. */
    return n == 0 || n > max || strlen(json_string_value(v)) != n ? why : NULL;
}

/* The claims' shape: every key known, every value within its bounds. */
static const char *check_claims(json_t *claims, int64_t now)
{
    const char *key, *why;
    json_t *v, *exp, *rooms;
    size_t i;

    if (!json_is_object(claims))
        return "token claims must be an object";
    json_object_foreach(claims, key, v) {
        if (strcmp(key, "userId") != 0 && strcmp(key, "name") != 0 && strcmp(key, "role") != 0 &&
            strcmp(key, "exp") != 0 && strcmp(key, "rooms") != 0)
            return "token has an unknown claim";
    }
    if ((why = string_claim(json_object_get(claims, "userId"), ROOMD_ID_MAX, 1,
                            "token userId must be a non-empty string of at most 128 bytes")) ||
        (why = string_claim(json_object_get(claims, "name"), ROOMD_ID_MAX, 0,
                            "token name must be a non-empty string of at most 128 bytes")) ||
        (why = string_claim(json_object_get(claims, "role"), ROOMD_ROLE_MAX, 0,
                            "token role must be a non-empty string of at most 32 bytes")))
        return why;
    exp = json_object_get(claims, "exp");
    if (!json_is_integer(exp))
        return "token exp must be an integer (Unix seconds)";
    rooms = json_object_get(claims, "rooms");
    if (!json_is_array(rooms) || json_array_size(rooms) > ROOMD_ROOMS_MAX)
        return "token rooms must be an array of at most 64 room names";
    json_array_foreach(rooms, i, v) {
        if (string_claim(v, ROOMD_ROOM_MAX, 1, "x"))
            return "token rooms must be non-empty strings of at most 128 bytes";
    }
    /* Last: a well-formed token that has expired says so. */
    if (json_integer_value(exp) <= now)
        return "token expired";
    return NULL;
}

int roomd_token_verify(const uint8_t *key, size_t key_len, const char *token, size_t len,
                       int64_t now, json_t **identity_out, const char **why)
{
    uint8_t mac[MAC_SIZE], given[MAC_SIZE + 3], payload[ROOMD_TOKEN_MAX];
    struct hmac_sha256_ctx ctx;
    const char *dot;
    size_t plen;
    long n;
    json_t *claims;

    *identity_out = NULL;
    *why = NULL;
    if (len > ROOMD_TOKEN_MAX) {
        *why = "token too long";
        return ROOM_EDENIED;
    }
    dot = memchr(token, '.', len);
    plen = dot ? (size_t)(dot - token) : 0;
    if (!dot || plen == 0 || len - plen - 1 != MAC_CHARS ||
        b64url_decode(dot + 1, MAC_CHARS, given) != MAC_SIZE) {
        *why = "malformed token";
        return ROOM_EDENIED;
    }
    hmac_sha256_set_key(&ctx, key_len, key);
    hmac_sha256_update(&ctx, plen, (const uint8_t *)token);
    hmac_sha256_digest(&ctx, MAC_SIZE, mac);
    /* Constant time: how much of a forged MAC matched must not show. */
    if (!memeql_sec(mac, given, MAC_SIZE)) {
        *why = "bad token signature";
        return ROOM_EDENIED;
    }
    /* Signed by us, yet decoded as strictly as any input. */
    if ((n = b64url_decode(token, plen, payload)) < 0) {
        *why = "malformed token";
        return ROOM_EDENIED;
    }
    /* jansson does not tell running out of memory from bad JSON: either
     * refuses. */
    claims = json_loadb((const char *)payload, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    if (!claims || (*why = check_claims(claims, now)) != NULL) {
        if (!claims)
            *why = "token claims are not JSON";
        json_decref(claims);
        return ROOM_EDENIED;
    }
    if (json_object_del(claims, "exp") != 0) {
        json_decref(claims);
        return ROOM_ENOMEM;
    }
    *identity_out = claims;
    return 0;
}

/* {userId, name} as the client declares them. */
static int declared(json_t *auth, json_t *query, json_t **identity_out, const char **why)
{
    static const char *const keys[] = {"userId", "name"};
    json_t *id = NULL;
    size_t i;
    for (i = 0; i < 2; i++) {
        json_t *v = json_object_get(auth, keys[i]);
        if (!v)
            v = json_object_get(query, keys[i]);
        if (!v)
            continue;
        if (string_claim(v, ROOMD_ID_MAX, 1, "x")) {
            json_decref(id);
            *why = i == 0 ? "userId must be a non-empty string of at most 128 bytes"
                          : "name must be a non-empty string of at most 128 bytes";
            return ROOM_EDENIED;
        }
        if ((!id && !(id = json_object())) || json_object_set(id, keys[i], v) != 0) {
            json_decref(id);
            return ROOM_ENOMEM;
        }
    }
    if (id && !json_object_get(id, "userId")) {
        json_decref(id);
        *why = "name without userId";
        return ROOM_EDENIED;
    }
    *identity_out = id;
    return 0;
}

int roomd_identity_from(const uint8_t *key, size_t key_len, json_t *auth, json_t *query,
                        int64_t now, json_t **identity_out, const char **why)
{
    json_t *token;
    *identity_out = NULL;
    *why = NULL;
    if (auth && !json_is_object(auth))
        auth = NULL;
    if (!key)
        return declared(auth, query, identity_out, why);
    token = json_object_get(auth, "token");
    if (!token)
        token = json_object_get(query, "token");
    if (!json_is_string(token)) {
        *why = "a signed token is required (auth.token or the query parameter token)";
        return ROOM_EDENIED;
    }
    return roomd_token_verify(key, key_len, json_string_value(token), json_string_length(token),
                              now, identity_out, why);
}

int roomd_identity_may_join(const json_t *identity, const char *room)
{
    json_t *rooms = json_object_get(identity, "rooms");
    json_t *v;
    size_t i;
    if (!rooms)
        return 1;
    json_array_foreach(rooms, i, v) {
        const char *allowed = json_string_value(v);
        if (strcmp(allowed, "*") == 0 || strcmp(allowed, room) == 0)
            return 1;
    }
    return 0;
}

int roomd_auth_identity(const roomd_auth *a, const room_event *connect_ev, json_t **identity_out,
                        const char **why)
{
    int rc = roomd_identity_from(a->key, a->key_len, json_array_get(connect_ev->args, 0),
                                 json_array_get(connect_ev->args, 1), (int64_t)time(NULL), identity_out, why);
    if (rc == ROOM_EDENIED)
        roomd_log_refused("connect", json_string_value(json_object_get(json_array_get(connect_ev->args, 2), "address")),
                          *why);
    return rc;
}

int roomd_auth_set_user(room_hub *hub, room_conn *conn, const json_t *identity)
{
    room_user u;
    room_user_init(&u);
    u.id = json_string_value(json_object_get(identity, "userId"));
    u.name = json_string_value(json_object_get(identity, "name"));
    u.role = json_string_value(json_object_get(identity, "role"));
    return room_conn_set_user(hub, conn, &u);
}

static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *identity;
    const char *why;
    int rc = roomd_auth_identity(ud, ev, &identity, &why);
    if (rc == ROOM_EDENIED)
        room_refuse(hub, conn, why, NULL);
    else if (rc == 0 && identity)
        rc = roomd_auth_set_user(hub, conn, identity);
    /* The hub keeps its own copy; the rooms claim is not kept (nothing
     * checks this protocol's joins against it yet). */
    json_decref(identity);
    return rc;
}

int roomd_auth_register(room_hub *hub, roomd_auth *a)
{
    return room_on(hub, "connect", on_connect, a);
}

int roomd_forbid(room_hub *hub, room_conn *conn, const room_event *ev, const char *room)
{
    char msg[ROOMD_ROOM_MAX + 32];
    snprintf(msg, sizeof msg, "not allowed in room %s", room);
    return room_fail(hub, conn, ev, ROOM_EFORBIDDEN, msg);
}
