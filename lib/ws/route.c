/* Plain HTTP routes of the host (health checks, metrics, static files):
 * requests to no mount are matched against the routes' prefixes and
 * answered by the route's handler, synchronously, in the order they came
 * (keep-alive and pipelining as every other request, http.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ws_internal.h"

struct rm_ws_route {
    room_ws_route_fn handler;
    void *user_data;
    size_t len;
    char prefix[];
};

struct room_ws_http {
    room_ws_conn *c;
    const rm_ws_request *r;
    bool head;     /* a HEAD request: the head of the GET's answer, no body */
    bool answered; /* room_ws_http_respond() queued the response */
    bool broken;   /* part of a response is queued, the rest could not be */
};

int room_ws_route(room_ws *ws, const char *prefix, room_ws_route_fn handler, void *user_data)
{
    rm_ws_route **routes, *rt;
    size_t len, i;

    if (!ws || !prefix || !handler || prefix[0] != '/')
        return ROOM_EINVAL;
    len = strlen(prefix);
    for (i = 0; i < ws->nroutes; i++) {
        if (strcmp(ws->routes[i]->prefix, prefix) == 0)
            return ROOM_EINVAL;
    }
    if (!(rt = malloc(sizeof *rt + len + 1)))
        return ROOM_ENOMEM;
    if (!(routes = realloc(ws->routes, (ws->nroutes + 1) * sizeof *routes))) {
        free(rt);
        return ROOM_ENOMEM;
    }
    rt->handler = handler;
    rt->user_data = user_data;
    rt->len = len;
    memcpy(rt->prefix, prefix, len + 1);
    routes[ws->nroutes++] = rt;
    ws->routes = routes;
    return 0;
}

void rm_ws_routes_free(room_ws *ws)
{
    while (ws->nroutes)
        free(ws->routes[--ws->nroutes]);
    free(ws->routes);
    ws->routes = NULL;
}

/* The longest prefix ending in '/' that the path starts with, or a prefix
 * without one that is the whole path. */
static const rm_ws_route *find(const room_ws *ws, rm_ws_span path)
{
    const rm_ws_route *best = NULL;
    size_t i;
    for (i = 0; i < ws->nroutes; i++) {
        const rm_ws_route *rt = ws->routes[i];
        bool dir = rt->prefix[rt->len - 1] == '/';
        if ((dir ? path.len >= rt->len : path.len == rt->len) && memcmp(path.p, rt->prefix, rt->len) == 0 &&
            (!best || rt->len > best->len))
            best = rt;
    }
    return best;
}

bool rm_ws_route_request(room_ws_conn *c, const rm_ws_request *r)
{
    const rm_ws_route *rt = find(c->ws, r->path);
    room_ws_http h = {c, r, strcmp(r->method_name, "HEAD") == 0, false, false};
    static const char oops[] = "internal error\n";

    if (!rt)
        return false;
    rt->handler(&h, rt->user_data);
    /* A handler that did not answer, or could not: 500, if memory allows. */
    if (h.broken ||
        (!h.answered && room_ws_http_respond(&h, 500, "text/plain", NULL, oops, sizeof oops - 1) != 0)) {
        rm_ws_abort(c, "out of memory");
        return true;
    }
    rm_ws_request_done(c, r->keep_alive);
    return true;
}

const char *room_ws_http_method(const room_ws_http *req)
{
    return req ? req->r->method_name : NULL;
}

const char *room_ws_http_path(const room_ws_http *req, size_t *len)
{
    if (!req)
        return NULL;
    if (len)
        *len = req->r->path.len;
    return req->r->path.p;
}

const char *room_ws_http_query(const room_ws_http *req, size_t *len)
{
    if (!req || !req->r->query.p)
        return NULL;
    if (len)
        *len = req->r->query.len;
    return req->r->query.p;
}

const char *room_ws_http_header(const room_ws_http *req, const char *name, size_t *len)
{
    const char *line, *end, *eol;
    size_t nlen;

    if (!req || !name)
        return NULL;
    nlen = strlen(name);
    line = (const char *)req->r->head;
    end = line + req->r->head_len;
    /* http.c framed the head: CRLF lines, no white space before a colon,
     * no folding. The request line first, the blank line last. */
    line = (const char *)memchr(line, '\n', (size_t)(end - line)) + 1;
    while (line < end && (eol = memchr(line, '\n', (size_t)(end - line))) != NULL && eol - line > 1) {
        size_t n = (size_t)(eol - 1 - line);
        if (n > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1, *ve = eol - 1;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (len)
                *len = (size_t)(ve - v);
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

const char *room_ws_http_peer(const room_ws_http *req)
{
    return req && req->c->side ? req->c->side->peer : "";
}

/* Header lines as the host gives them: each "Name: value\r\n", with no
 * other CR or LF (no injected header, no early end of the head). */
static bool headers_valid(const char *h)
{
    while (*h) {
        const char *eol = strstr(h, "\r\n");
        const char *colon = strchr(h, ':');
        if (!eol || !colon || colon > eol || colon == h || strcspn(h, "\r\n") != (size_t)(eol - h))
            return false;
        h = eol + 2;
    }
    return true;
}

int room_ws_http_respond(room_ws_http *req, int status, const char *content_type, const char *headers,
                         const void *body, size_t len)
{
    room_ws_conn *c;
    bool bodiless = status == 204 || status == 304, keep;
    size_t cap, n;
    char *head;
    int k, rc = 0;

    if (!req || req->answered || req->broken || status < 200 || status > 599 || (bodiless && len) || (!body && len && !req->head) ||
        (content_type && strpbrk(content_type, "\r\n")) || (headers && !headers_valid(headers)))
        return ROOM_EINVAL;
    c = req->c;
    keep = req->r->keep_alive && !c->ws->shutting;
    cap = 160 + (content_type ? strlen(content_type) : 0) + (headers ? strlen(headers) : 0);
    if (!(head = malloc(cap)))
        return ROOM_ENOMEM;
    k = snprintf(head, cap, "HTTP/1.1 %d %s\r\n", status, rm_ws_status_text(status));
    n = (size_t)k;
    if (content_type)
        n += (size_t)snprintf(head + n, cap - n, "Content-Type: %s\r\n", content_type);
    /* A HEAD answer says how long the GET's body would be. */
    if (!bodiless)
        n += (size_t)snprintf(head + n, cap - n, "Content-Length: %zu\r\n", len);
    n += (size_t)snprintf(head + n, cap - n, "%s%s\r\n", headers ? headers : "", keep ? "" : "Connection: close\r\n");
    if (rm_ws_queue_bytes(c, head, n) != 0) {
        rc = ROOM_ENOMEM;
    } else if (len && !req->head && rm_ws_queue_bytes(c, body, len) != 0) {
        req->broken = true;
        rc = ROOM_ENOMEM;
    }
    free(head);
    if (rc == 0) {
        c->ws->stats.http_requests++;
        req->answered = true;
    }
    return rc;
}
