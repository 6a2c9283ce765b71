/* HTTP/1.1 requests on a connection, one after another (keep-alive) and
 * pipelined, answered in order, until one upgrades to WebSocket.
 *
 * A request head is framed here (at most RM_WS_MAX_REQUEST bytes, with
 * RFC 9112's strictness: a NUL, a bare CR or LF, a folded line or a stray
 * space in the request line is refused, not repaired, so that this server
 * never reads a request differently from a proxy in front of it), then
 * parsed by http-parser. The body is taken by its Content-Length, bounded
 * by the mount's message limit. Input that arrives in pieces, or behind a
 * parked long-poll, waits in the connection's side part. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "ws_internal.h"

bool rm_ws_span_is(rm_ws_span s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static bool span_is_ci(rm_ws_span s, const char *lit)
{
    return s.len == strlen(lit) && strncasecmp(s.p, lit, s.len) == 0;
}

static rm_ws_span trim(rm_ws_span s)
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
static rm_ws_span split(rm_ws_span *s, char sep)
{
    const char *at = s->len ? memchr(s->p, sep, s->len) : NULL;
    rm_ws_span head = {s->p, at ? (size_t)(at - s->p) : s->len};
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
static bool has_token(rm_ws_span v, const char *token)
{
    while (v.p) {
        if (span_is_ci(trim(split(&v, ',')), token))
            return true;
    }
    return false;
}

rm_ws_span rm_ws_query_get(rm_ws_span q, const char *name)
{
    while (q.p) {
        rm_ws_span value = split(&q, '&');
        rm_ws_span key = split(&value, '=');
        if (value.p && rm_ws_span_is(key, name))
            return value;
    }
    return (rm_ws_span){NULL, 0};
}

/* Length of the request head up to and including its blank line; 0 while
 * incomplete or refused (then *why is set). RFC 9112 2.2 and RFC 9110 5.5:
 * lines end with CRLF, and a NUL, a bare CR or a bare LF is invalid
 * anywhere in the head; 5.2: no line folding, no white space in a field
 * name (http-parser as Debian builds it allows both); 3: single spaces in
 * the request line. */
static size_t head_end(const uint8_t *p, size_t len, const char **why)
{
    size_t i, line = 0;
    bool first = true, colon = false;
    for (i = 0; i < len; i++) {
        switch (p[i]) {
        case ':':
            colon = true;
            break;
        case '\0':
            *why = "NUL byte in request\n";
            return 0;
        case '\r':
            if (i + 1 < len && p[i + 1] != '\n') {
                *why = "bare CR in request\n";
                return 0;
            }
            break;
        case '\n':
            if (i == 0 || p[i - 1] != '\r') {
                *why = "line endings must be CRLF\n";
                return 0;
            }
            if (i == line + 1)
                return i + 1;
            line = i + 1;
            first = false;
            colon = false;
            break;
        case ' ':
        case '\t':
            if (first && (p[i] == '\t' || i == 0 || p[i - 1] == ' ')) {
                *why = "malformed request line\n";
                return 0;
            }
            /* A folded line, or white space in a field name. */
            if (!first && !colon) {
                *why = "malformed header\n";
                return 0;
            }
            break;
        default:
            break;
        }
    }
    return 0;
}

/* ---- the head, through http-parser ---------------------------------------- */

typedef struct parse_ctx {
    rm_ws_request *r;
    rm_ws_span field;
    bool in_headers, complete, length_seen;
    json_t *headers; /* the handshake pass: every header */
} parse_ctx;

static int on_url(http_parser *hp, const char *at, size_t len)
{
    parse_ctx *x = hp->data;
    x->r->target = (rm_ws_span){at, len};
    return 0;
}

static int on_field(http_parser *hp, const char *at, size_t len)
{
    parse_ctx *x = hp->data;
    x->in_headers = true;
    x->field = (rm_ws_span){at, len};
    return 0;
}

static int on_value(http_parser *hp, const char *at, size_t len)
{
    parse_ctx *x = hp->data;
    rm_ws_request *r = x->r;
    rm_ws_span v = trim((rm_ws_span){at, len}), f = x->field;

    if (span_is_ci(f, "Upgrade")) {
        r->upgrade |= has_token(v, "websocket");
        r->upgrade_header = true;
    } else if (span_is_ci(f, "Connection")) {
        r->connection_upgrade |= has_token(v, "upgrade");
    } else if (span_is_ci(f, "Sec-WebSocket-Key")) {
        r->key = v;
        r->keys++;
    } else if (span_is_ci(f, "Sec-WebSocket-Version")) {
        r->ws_version = v;
        r->ws_versions++;
    } else if (span_is_ci(f, "Origin")) {
        r->origin = v;
    } else if (span_is_ci(f, "Access-Control-Request-Headers")) {
        r->request_headers = v;
    } else if (span_is_ci(f, "Content-Type")) {
        r->content_type = v;
    } else if (span_is_ci(f, "Content-Length")) {
        x->length_seen = true;
    } else if (span_is_ci(f, "Expect")) {
        r->expect_continue = span_is_ci(v, "100-continue");
    }
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    parse_ctx *x = hp->data;
    x->complete = true;
    return 0;
}

static const http_parser_settings head_settings = {
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
};

static int method_of(unsigned m)
{
    return m == HTTP_GET ? RM_HTTP_GET : m == HTTP_POST ? RM_HTTP_POST : m == HTTP_OPTIONS ? RM_HTTP_OPTIONS
                                                                                           : RM_HTTP_OTHER;
}

/* Parses a framed head into `r`; returns NULL or the reason to refuse. */
static const char *parse(const room_ws *ws, const uint8_t *head, size_t len, rm_ws_request *r)
{
    http_parser hp;
    parse_ctx x;
    rm_ws_span query;

    memset(r, 0, sizeof *r);
    memset(&x, 0, sizeof x);
    x.r = r;
    r->head = head;
    r->head_len = len;
    http_parser_init(&hp, HTTP_REQUEST);
    hp.data = &x;
    http_parser_execute(&hp, &head_settings, (const char *)head, len);
    if (HTTP_PARSER_ERRNO(&hp) != HPE_OK || !x.complete || !r->target.p)
        return x.in_headers ? "malformed header\n" : "malformed request line\n";
    if (hp.http_major != 1 || hp.http_minor > 1)
        return "unsupported HTTP version\n";
    r->method = method_of(hp.method);
    r->method_name = http_method_str((enum http_method)hp.method);
    r->http11 = hp.http_major == 1 && hp.http_minor == 1;
    r->keep_alive = r->http11 && http_should_keep_alive(&hp);
    r->chunked = (hp.flags & F_CHUNKED) != 0;
    r->content_length = x.length_seen ? hp.content_length : 0;
    query = r->target;
    r->path = split(&query, '?');
    r->query = query;
    r->mount = rm_ws_mount_find(ws, r->path.p, r->path.len);
    rm_ws_cors_check(ws, r);
    return NULL;
}

/* ---- the handshake JSON --------------------------------------------------- */

/* Socket.IO's socket.handshake.headers: lowercase names, a repeated
 * header's values joined with ", ". A value that is not UTF-8 is left out
 * (a JSON string cannot carry it). */
static int on_json_value(http_parser *hp, const char *at, size_t len)
{
    parse_ctx *x = hp->data;
    rm_ws_span v = trim((rm_ws_span){at, len});
    char name[256];
    json_t *old, *s;
    size_t i;

    if (x->field.len >= sizeof name)
        return 0;
    for (i = 0; i < x->field.len; i++) {
        char ch = x->field.p[i];
        name[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    name[i] = '\0';
    old = json_object_get(x->headers, name);
    if (old) {
        size_t olen = json_string_length(old);
        char *both = malloc(olen + 2 + v.len);
        if (!both)
            return -1;
        memcpy(both, json_string_value(old), olen);
        memcpy(both + olen, ", ", 2);
        memcpy(both + olen + 2, v.p, v.len);
        s = json_stringn(both, olen + 2 + v.len);
        free(both);
    } else {
        s = json_stringn(v.p, v.len);
    }
    if (s && json_object_set_new(x->headers, name, s) != 0)
        return -1;
    return 0;
}

static const http_parser_settings json_settings = {
    .on_header_field = on_field,
    .on_header_value = on_json_value,
};

json_t *rm_ws_handshake_json(const room_ws_conn *c, const rm_ws_request *r, bool websocket)
{
    http_parser hp;
    parse_ctx x;
    json_t *hs, *url;

    memset(&x, 0, sizeof x);
    if (!(x.headers = json_object()))
        return NULL;
    http_parser_init(&hp, HTTP_REQUEST);
    hp.data = &x;
    http_parser_execute(&hp, &json_settings, (const char *)r->head, r->head_len);
    if (HTTP_PARSER_ERRNO(&hp) != HPE_OK) { /* out of memory: the head parsed once already */
        json_decref(x.headers);
        return NULL;
    }
    url = json_stringn(r->target.p, r->target.len);
    hs = json_pack("{s:o, s:s, s:o, s:s, s:b}", "headers", x.headers, "address",
                   c->side ? c->side->peer : "", "url", url ? url : json_string(""), "transport",
                   websocket ? "websocket" : "polling", "secure", 0);
    return hs;
}

/* ---- responses ------------------------------------------------------------ */

const char *rm_ws_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 412:
        return "Precondition Failed";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 400:
        return "Bad Request";
    default: /* the phrase means nothing to a client: its class will do */
        return status < 300 ? "OK" : status < 400 ? "Redirection" : status < 500 ? "Client Error" : "Server Error";
    }
}

int rm_ws_respond_to(room_ws_conn *c, const rm_ws_mount *m, const char *origin, size_t origin_len,
                     int status, const char *content_type, const char *extra, const void *body,
                     size_t len, bool keep_alive)
{
    char head[RM_WS_MAX_REQUEST + 512];
    size_t n;
    int k;

    k = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n", status, rm_ws_status_text(status));
    n = (size_t)k;
    if (content_type)
        n += (size_t)snprintf(head + n, sizeof head - n, "Content-Type: %s\r\n", content_type);
    n += (size_t)snprintf(head + n, sizeof head - n, "Content-Length: %zu\r\n", len);
    if (m && origin)
        n += rm_ws_cors_headers(m, origin, origin_len, head + n, sizeof head - n);
    keep_alive &= !c->ws->shutting;
    k = snprintf(head + n, sizeof head - n, "%s%s\r\n", extra ? extra : "", keep_alive ? "" : "Connection: close\r\n");
    if (k < 0 || (size_t)k >= sizeof head - n)
        return ROOM_EINVAL;
    n += (size_t)k;
    c->ws->stats.http_requests++;
    if (rm_ws_queue_bytes(c, head, n) != 0 || (len && rm_ws_queue_bytes(c, body, len) != 0))
        return ROOM_ENOMEM;
    return 0;
}

int rm_ws_respond(room_ws_conn *c, const rm_ws_request *r, int status, const char *content_type,
                  const char *extra, const void *body, size_t len, bool keep_alive)
{
    const rm_ws_mount *m = r && r->mount >= 0 ? c->ws->mounts[r->mount] : NULL;
    return rm_ws_respond_to(c, m, r && r->cors ? r->origin.p : NULL, r && r->cors ? r->origin.len : 0,
                            status, content_type, extra, body, len, keep_alive);
}

void rm_ws_request_done(room_ws_conn *c, bool keep_alive)
{
    if (keep_alive && !c->ws->shutting) {
        /* Same state, a new deadline: for the next request. */
        rm_ws_move(c, RM_WS_HANDSHAKE);
    } else {
        rm_ws_move(c, RM_WS_CLOSING);
        rm_ws_work(c);
    }
}

/* ---- framing -------------------------------------------------------------- */

/* Largest body a request to mount `m` may carry. */
static uint64_t body_limit(const room_ws *ws, int mount)
{
    const rm_ws_mount *m = mount >= 0 ? ws->mounts[mount] : NULL;
    return m && m->eio ? m->max_message : 0;
}

/* Serves the request at the start of p[0..n). Returns the bytes it took,
 * or 0 when it is not complete yet. */
static size_t serve_one(room_ws_conn *c, const uint8_t *p, size_t n)
{
    room_ws *ws = c->ws;
    const char *why = NULL;
    rm_ws_request r;
    size_t end;

    end = head_end(p, n < RM_WS_MAX_REQUEST ? n : RM_WS_MAX_REQUEST, &why);
    if (!end && !why) {
        if (n < RM_WS_MAX_REQUEST)
            return 0;
        rm_ws_refuse(c, NULL, 431, "request too large\n");
        return n;
    }
    /* RFC 9112 2.2: an empty line before a request is ignored. */
    if (end == 2)
        return 2;
    if (!why)
        why = parse(ws, p, end, &r);
    if (why) {
        rm_ws_refuse(c, NULL, 400, why);
        return n;
    }
    if (r.chunked) {
        rm_ws_refuse(c, &r, 411, "a Content-Length is required\n");
        return n;
    }
    if (r.content_length > body_limit(ws, r.mount)) {
        rm_ws_poll_too_large(c, &r);
        return n;
    }
    if (n - end < r.content_length) {
        rm_ws_poll_posting(c, &r);
        /* curl waits for this before it sends a body (Node answers it). */
        if (r.expect_continue && !c->side->continued) {
            c->side->continued = true;
            if (rm_ws_queue_bytes(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0)
                rm_ws_abort(c, "out of memory");
        }
        return 0;
    }
    rm_ws_poll_posted(c);
    c->side->continued = false;
    r.body = p + end;
    if (r.upgrade_header) {
        /* A client may send frames right behind the request. */
        rm_ws_upgrade(c, &r, p + end, n - end);
        return n;
    }
    if (r.mount >= 0 && ws->mounts[r.mount]->eio)
        rm_ws_eio_request(c, &r);
    else if (r.mount >= 0 || !rm_ws_route_request(c, &r))
        rm_ws_refuse(c, &r, 400, r.mount < 0 ? "unknown path\n" : "websocket upgrade required\n");
    return end + (size_t)r.content_length;
}

/* What input may wait behind a parked poll or for the rest of a request. */
static size_t wait_limit(const room_ws *ws)
{
    size_t most = 0;
    unsigned i;
    for (i = 0; i < ws->nmounts; i++) {
        if (ws->mounts[i]->eio && ws->mounts[i]->max_message > most)
            most = ws->mounts[i]->max_message;
    }
    return RM_WS_MAX_REQUEST + most;
}

void rm_ws_request_input(room_ws_conn *c, const uint8_t *p, size_t n)
{
    rm_ws_side *s = c->side;
    uint8_t *own = s->request;
    size_t took;

    /* Usually a whole request is in one read; otherwise collect it. */
    if (own) {
        uint8_t *b;
        if (s->request_len + n > wait_limit(c->ws)) {
            rm_ws_abort(c, "request too large");
            return;
        }
        if (n) {
            if (!(b = realloc(own, s->request_len + n))) {
                rm_ws_abort(c, "out of memory");
                return;
            }
            memcpy(b + s->request_len, p, n);
            s->request = own = b;
            s->request_len += (uint32_t)n;
        }
        p = own;
        n = s->request_len;
    }
    /* Ours now: leaving HANDSHAKE would free it under our feet. */
    s->request = NULL;
    s->request_len = 0;
    while (n && c->state == RM_WS_HANDSHAKE && (took = serve_one(c, p, n)) != 0) {
        p += took;
        n -= took;
    }
    if (n && (c->state == RM_WS_HANDSHAKE || c->state == RM_WS_PARKED)) {
        s = c->side;
        if (n > wait_limit(c->ws)) {
            rm_ws_abort(c, "request too large");
        } else if (own) {
            memmove(own, p, n);
            s->request = own;
            s->request_len = (uint32_t)n;
            return;
        } else if ((s->request = malloc(n)) != NULL) {
            memcpy(s->request, p, n);
            s->request_len = (uint32_t)n;
        } else {
            rm_ws_abort(c, "out of memory");
        }
    }
    free(own);
}

void rm_ws_request_eof(room_ws_conn *c)
{
    /* A POST cut short: its polling session ends, as engine.io's on
     * "data request connection closed prematurely". */
    if (c->side->posting)
        rm_ws_poll_close(c->side->posting, "transport error", false);
    rm_ws_refuse(c, NULL, 400, "incomplete request\n");
}
