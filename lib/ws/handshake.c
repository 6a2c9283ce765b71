/* The opening handshake (RFC 6455 section 4.2): one bounded HTTP/1.1
 * request head, parsed by hand, routed to a mount, answered 101 (and the
 * session opened) or 400 with a one-line reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "ws_internal.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

typedef struct span {
    const char *p;
    size_t len;
} span;

typedef struct request {
    span method, target, version;
    span key, ws_version;
    int keys, ws_versions;
    bool upgrade, connection;
} request;

static bool span_is(span s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static bool span_is_ci(span s, const char *lit)
{
    return s.len == strlen(lit) && strncasecmp(s.p, lit, s.len) == 0;
}

static span trim(span s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* Splits `*s` at the first `sep`: returns the part before it and leaves
 * the rest in `*s` (empty, p NULL, when there was no separator). */
static span split(span *s, char sep)
{
    const char *at = s->len ? memchr(s->p, sep, s->len) : NULL;
    span head = {s->p, at ? (size_t)(at - s->p) : s->len};
    if (at) {
        s->len -= head.len + 1;
        s->p = at + 1;
    } else {
        s->p = NULL;
        s->len = 0;
    }
    return head;
}

/* Whether a comma-separated header value lists `token`. */
static bool has_token(span v, const char *token)
{
    while (v.p) {
        if (span_is_ci(trim(split(&v, ',')), token))
            return true;
    }
    return false;
}

/* The value of `name` in "a=1&b=2"; p is NULL when it is absent. */
static span query_get(span q, const char *name)
{
    while (q.p) {
        span value = split(&q, '&');
        span key = split(&value, '=');
        if (value.p && span_is(key, name))
            return value;
    }
    return (span){NULL, 0};
}

/* Length of the request head up to and including its blank line; 0 while
 * incomplete. A blank line ended by a bare LF ends it too, so that a
 * request with LF-only line endings is refused at once (by
 * bad_characters()) rather than waited for until the deadline. */
static size_t request_end(const uint8_t *p, size_t len)
{
    size_t i, line = 0;
    for (i = 0; i < len; i++) {
        if (p[i] != '\n')
            continue;
        if (i == line || (i == line + 1 && p[line] == '\r'))
            return i + 1;
        line = i + 1;
    }
    return 0;
}

/* RFC 9112 2.2 and RFC 9110 5.5: lines end with CRLF, and a NUL, a bare CR
 * or a bare LF is invalid anywhere in the head. A server that accepted them
 * would read the request differently from a proxy in front of it that did
 * not (request smuggling), so they are refused, not repaired. */
static const char *bad_characters(const uint8_t *p, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (p[i] == '\0')
            return "NUL byte in request\n";
        if (p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n'))
            return "bare CR in request\n";
        if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
            return "line endings must be CRLF\n";
    }
    return NULL;
}

static span next_line(span *head)
{
    span line = split(head, '\n');
    if (line.len && line.p[line.len - 1] == '\r')
        line.len--;
    return line;
}

static const char *parse(span head, request *r)
{
    span line = next_line(&head);
    r->method = split(&line, ' ');
    r->target = split(&line, ' ');
    r->version = line;
    if (!r->method.len || !r->target.len || !r->version.len || memchr(line.p, ' ', line.len))
        return "malformed request line\n";
    for (;;) {
        span value = next_line(&head), name;
        if (!value.len)
            return NULL;
        name = split(&value, ':');
        /* No folded lines, no space before the colon (RFC 7230 3.2.4). */
        if (!value.p || !name.len || memchr(name.p, ' ', name.len) || memchr(name.p, '\t', name.len))
            return "malformed header\n";
        value = trim(value);
        if (span_is_ci(name, "Upgrade")) {
            r->upgrade |= has_token(value, "websocket");
        } else if (span_is_ci(name, "Connection")) {
            r->connection |= has_token(value, "upgrade");
        } else if (span_is_ci(name, "Sec-WebSocket-Key")) {
            r->key = value;
            r->keys++;
        } else if (span_is_ci(name, "Sec-WebSocket-Version")) {
            r->ws_version = value;
            r->ws_versions++;
        }
    }
}

/* The key must be base64 of 16 bytes (RFC 6455 4.1). */
static bool key_valid(span key)
{
    struct base64_decode_ctx b64;
    uint8_t raw[BASE64_DECODE_LENGTH(24)];
    size_t n = sizeof raw;
    if (key.len != 24)
        return false;
    base64_decode_init(&b64);
    return base64_decode_update(&b64, &n, raw, key.len, key.p) && base64_decode_final(&b64) &&
           n == 16;
}

static void accept_key(span key, char out[RM_WS_ACCEPT_LEN + 1])
{
    struct sha1_ctx sha;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&sha);
    sha1_update(&sha, key.len, (const uint8_t *)key.p);
    sha1_update(&sha, sizeof WS_GUID - 1, (const uint8_t *)WS_GUID);
    sha1_digest(&sha, sizeof digest, digest);
    base64_encode_raw(out, sizeof digest, digest);
    out[RM_WS_ACCEPT_LEN] = '\0';
}

/* Checks a complete request head. Returns NULL and sets the mount, the
 * Sec-WebSocket-Accept value and the query parameters (a new object), or
 * the reason (one line) to refuse it. */
static const char *check(const room_ws *ws, const uint8_t *head, size_t len, int *mount_out,
                         char accept[RM_WS_ACCEPT_LEN + 1], json_t **query_out)
{
    request r;
    span query, path;
    const rm_ws_mount *m;
    const char *why;
    int i;

    memset(&r, 0, sizeof r);
    if ((why = bad_characters(head, len)) != NULL ||
        (why = parse((span){(const char *)head, len}, &r)) != NULL)
        return why;
    if (!span_is(r.method, "GET"))
        return "only GET can upgrade\n";
    if (!span_is(r.version, "HTTP/1.1"))
        return "HTTP/1.1 required\n";
    query = r.target;
    path = split(&query, '?');
    if ((i = rm_ws_mount_find(ws, path.p, path.len)) < 0)
        return "unknown path\n";
    m = ws->mounts[i];
    if (m->eio) {
        if (!span_is(query_get(query, "EIO"), "4"))
            return "unsupported protocol version\n";
        if (!span_is(query_get(query, "transport"), "websocket"))
            return "unsupported transport\n";
        /* A sid would upgrade a polling session; there are none here. */
        if (query_get(query, "sid").p)
            return "session ID unknown\n";
    }
    if (!r.upgrade || !r.connection)
        return "websocket upgrade required\n";
    if (r.ws_versions != 1 || !span_is(r.ws_version, "13"))
        return "unsupported websocket version\n";
    if (r.keys != 1 || !key_valid(r.key))
        return "bad websocket key\n";
    switch (room_query_parse(query.p, query.len, query_out)) {
    case 0:
        break;
    case ROOM_ENOMEM:
        return "out of memory\n";
    default:
        return "malformed query\n";
    }
    accept_key(r.key, accept);
    *mount_out = i;
    return NULL;
}

static int respond_101(room_ws_conn *c, const char *accept)
{
    char text[160];
    int n = snprintf(text, sizeof text,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    return rm_ws_queue_bytes(c, text, (size_t)n);
}

static int respond_400(room_ws_conn *c, const char *reason)
{
    char text[256];
    int n = snprintf(text, sizeof text,
                     "HTTP/1.1 400 Bad Request\r\n"
                     "Content-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     strlen(reason), reason);
    return rm_ws_queue_bytes(c, text, (size_t)n);
}

/* The request is good: answer 101 and open the session, whose open packet
 * and whatever the connect handler sends follow the 101 in the queue. */
static void upgrade(room_ws_conn *c, int mount, const char *accept, json_t *query)
{
    const rm_ws_mount *m = c->ws->mounts[mount];
    json_t *refusal = NULL;
    int rc;

    c->mount = (uint8_t)mount;
    rm_ws_move(c, RM_WS_OPEN);
    if (respond_101(c, accept) != 0) {
        rm_ws_abort(c, NULL);
        return;
    }
    if (m->eio)
        rc = room_eio_open_query(m->eio, c, query, c->ws->now, &c->core.session);
    else
        rc = room_conn_open_handshake(m->hub, c, NULL, query, &c->core.conn, &refusal);
    if (rc == 0) {
        c->flags |= RM_WS_CORE;
    } else if (rc == ROOM_EDENIED) {
        const char *msg = json_string_value(json_object_get(refusal, "msg"));
        rm_ws_close(c, ROOM_CLOSE_POLICY_VIOLATION, msg ? msg : "connection refused");
    } else {
        rm_ws_close(c, ROOM_CLOSE_INTERNAL_ERROR, room_strerror(rc));
    }
    json_decref(refusal);
}

void rm_ws_request_input(room_ws_conn *c, const uint8_t *p, size_t n)
{
    rm_ws_side *s = c->side;
    char accept[RM_WS_ACCEPT_LEN + 1];
    json_t *query = NULL;
    uint8_t *own = s->request;
    int m = 0;
    const char *why;
    size_t end;

    /* Usually the whole head is in one read; otherwise collect it. */
    if (own) {
        uint8_t *b = realloc(own, s->request_len + n);
        if (!b) {
            rm_ws_abort(c, "out of memory");
            return;
        }
        memcpy(b + s->request_len, p, n);
        s->request = own = b;
        s->request_len += (uint32_t)n;
        p = b;
        n = s->request_len;
    }
    end = request_end(p, n);
    if (!end && n < RM_WS_MAX_REQUEST) {
        if (!own) {
            if (!(s->request = malloc(n))) {
                rm_ws_abort(c, "out of memory");
                return;
            }
            memcpy(s->request, p, n);
            s->request_len = (uint32_t)n;
        }
        return;
    }
    /* Ours now: leaving HANDSHAKE would free it under our feet. */
    s->request = NULL;
    s->request_len = 0;
    if (!end || end > RM_WS_MAX_REQUEST)
        why = "request too large\n";
    else
        why = check(c->ws, p, end, &m, accept, &query);
    if (!why) {
        upgrade(c, m, accept, query);
        json_decref(query);
        /* A client may send frames right behind the request. */
        if (n > end && c->state == RM_WS_OPEN)
            rm_ws_input(c, p + end, n - end);
    } else if (respond_400(c, why) == 0) {
        rm_ws_move(c, RM_WS_CLOSING);
        rm_ws_work(c);
    } else {
        rm_ws_abort(c, "out of memory");
    }
    free(own);
}
