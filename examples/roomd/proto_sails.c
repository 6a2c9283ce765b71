/* roomd --protocol sails: Sails' virtual requests (docs/protocol-sails.md),
 * as sails-hook-sockets 3 interprets them for the stock sails.io.js client.
 *
 * A request is an event named after its HTTP method (get, post, put,
 * delete, patch, options, head) whose one argument is {method, url,
 * headers, data}; the answer is the acknowledgement {body, headers,
 * statusCode}, the JWR the client hands to its callback. Without an
 * acknowledgement there is no answer, as in Sails. The routes are the
 * example controller's (the seed document, Sails' sails.sockets pages):
 *
 *   POST /joinFunRoom  {roomName}                 the requesting socket joins
 *   POST /leaveFunRoom {roomName}                 ... leaves
 *   POST /leaveRoom    {socketId, roomName}       that socket leaves, on any node
 *   POST /broadcast    {roomName, event?, data?}  event(data) to the room
 *   GET  /socketId                                the requesting socket's id
 *
 * Everything else is 404 "Not Found". Bodies, headers and status codes are
 * those Sails' responses give over a socket: res.json(object) is the
 * object with no headers; res.json(string) is the string's JSON text with
 * content-type application/json (Sails' virtual response JSON-encodes a
 * string once more); res.badRequest(message) is that with status 400;
 * res.ok() and res.notFound() are the status text.
 *
 * A request that cannot be interpreted (not an object, no url, a url that
 * is not a string, a method that is not one of the seven) is answered as
 * sails-hook-sockets answers it: its PARSE_VIRTUAL_REQ error, through the
 * acknowledgement or else as a "sails:parseError" event. So is every
 * request of a socket whose SDK version (__sails_io_sdk_version, in the
 * handshake's headers or query; 0.9.0 when absent) is older than 0.11.0.
 * The error also carries a JWR's statusCode 400, headers and body, so
 * that the stock client reports it as an error rather than as a 200. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto.h"

#define PARSE_ERROR_CODE "SAILS:HOOK:SOCKETS:PARSE_VIRTUAL_REQ"

/* ---- responses ---------------------------------------------------------- */

/* The JWR, as sails-hook-sockets builds it: {body, headers, statusCode}.
 * Steals body and headers (NULL: out of memory). */
static int respond(room_hub *hub, room_conn *conn, const room_event *ev, int status, json_t *body,
                   json_t *headers)
{
    json_t *jwr;
    if (ev->ack_id < 0 || !body || !headers) {
        json_decref(body);
        json_decref(headers);
        return ev->ack_id < 0 ? 0 : ROOM_ENOMEM;
    }
    /* json_pack() steals both, also when it fails. */
    jwr = json_pack("{sososi}", "body", body, "headers", headers, "statusCode", status);
    return jwr ? room_reply_new(hub, conn, ev, NULL, jwr) : ROOM_ENOMEM;
}

/* res.json(object): the object, no headers. */
static int respond_json(room_hub *hub, room_conn *conn, const room_event *ev, int status,
                        json_t *body)
{
    return respond(hub, conn, ev, status, body, json_object());
}

/* res.json(string) (badRequest(message) with 400): Sails' virtual
 * response sends JSON.stringify(string) as the body, and says so. */
static int respond_string(room_hub *hub, room_conn *conn, const room_event *ev, int status,
                          const char *text)
{
    json_t *str = json_string(text);
    char *encoded = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
    json_t *body = encoded ? json_string(encoded) : NULL;
    json_decref(str);
    free(encoded);
    return respond(hub, conn, ev, status, body,
                   json_pack("{ss}", "content-type", "application/json"));
}

/* res.sendStatus(status): the status text, no headers. */
static int respond_status(room_hub *hub, room_conn *conn, const room_event *ev, int status)
{
    const char *text = status == 200 ? "OK" : status == 404 ? "Not Found" : "Internal Server Error";
    return respond(hub, conn, ev, status, json_string(text), json_object());
}

/* A failure of the library, for which a Sails controller would call
 * res.serverError(err): 500 with the error's code and message. */
static int respond_error(room_hub *hub, room_conn *conn, const room_event *ev, int rc)
{
    return respond_json(hub, conn, ev, 500,
                        json_pack("{ssss}", "code", room_error_name(rc), "message",
                                  room_strerror(rc)));
}

/* The length of the longest prefix of `s` of at most `max` bytes that
 * ends between characters: what a "%.*s" may take of a UTF-8 string. */
static int utf8_prefix(const char *s, int max)
{
    size_t n = strlen(s);
    if (n <= (size_t)max)
        return (int)n;
    n = (size_t)max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

/* sails-hook-sockets' respondWithParseError(): its PARSE_VIRTUAL_REQ error
 * (code, name, status, message, details) to the acknowledgement, or as a
 * "sails:parseError" event when there is none; plus the JWR fields. */
static int parse_error(room_hub *hub, room_conn *conn, const room_event *ev, const char *details)
{
    json_t *err = json_pack("{sssssissss}", "code", PARSE_ERROR_CODE, "name",
                            "Error (" PARSE_ERROR_CODE "):", "status", 400, "message",
                            "Failed to parse incoming socket.io request.", "details", details);
    if (!err || json_object_set_new(err, "statusCode", json_integer(400)) != 0 ||
        json_object_set_new(err, "headers", json_object()) != 0 ||
        json_object_set_new(err, "body", json_string(details)) != 0) {
        json_decref(err);
        return ROOM_ENOMEM;
    }
    if (ev->ack_id >= 0)
        return room_reply_new(hub, conn, ev, NULL, err);
    return room_emit_new(hub, conn, "sails:parseError", err);
}

/* ---- the SDK version ---------------------------------------------------- */

/* Reads "[v|=]major.minor.patch[-pre][+build]" (semver's own parse, which
 * the hook's check rounds to major.minor.patch). Returns 0 or -1. */
static int parse_version(const char *s, unsigned long v[3])
{
    int i;
    if (*s == 'v' || *s == '=')
        s++;
    for (i = 0; i < 3; i++) {
        char *end;
        if (!isdigit((unsigned char)*s))
            return -1;
        v[i] = strtoul(s, &end, 10);
        s = end;
        if (i < 2 && *s++ != '.')
            return -1;
    }
    return *s == '\0' || *s == '-' || *s == '+' ? 0 : -1;
}

/* The handshake's __sails_io_sdk_version, headers first (the hook's
 * parseSdkMetadata()); "0.9.0" when the client sent none. */
static const char *sdk_version(const room_event *ev)
{
    json_t *query = json_array_get(ev->args, 1);
    json_t *headers = json_object_get(json_array_get(ev->args, 2), "headers");
    const char *v = json_string_value(json_object_get(headers, "__sails_io_sdk_version"));
    if (!v || !*v)
        v = json_string_value(json_object_get(query, "__sails_io_sdk_version"));
    return v && *v ? v : "0.9.0";
}

/* A connection's data is NULL for a compatible client, else its version
 * (a JSON string), which refuses its every request. Sails accepts the
 * connection and refuses the requests: so does roomd. */
static int on_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    const char *version = sdk_version(ev);
    unsigned long v[3];
    json_t *old;
    (void)hub;
    (void)ud;
    if (parse_version(version, v) == 0 && (v[0] > 0 || v[1] >= 11))
        return 0;
    old = json_string(version);
    if (!old)
        return ROOM_ENOMEM;
    room_conn_set_data(conn, old);
    return 0;
}

static int on_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)hub;
    (void)ev;
    (void)ud;
    json_decref(room_conn_data(conn));
    room_conn_set_data(conn, NULL);
    return 0;
}

/* ---- the request -------------------------------------------------------- */

typedef struct request {
    const char *method; /* the event's name */
    const char *path;   /* the url's path, without the query */
    size_t path_len;
    json_t *data;  /* the body: the request's data, or else params (borrowed) */
    json_t *query; /* the url's query parameters (owned), or NULL */
} request;

/* The url's path as url.parse() finds it: after "scheme://host" if there
 * is one, up to '?' or '#'; the query parameters after '?'. */
static void split_url(const char *url, request *req)
{
    const char *p = url, *scheme = strstr(url, "://"), *end;
    if (scheme && scheme > url && !memchr(url, '/', (size_t)(scheme - url))) {
        p = scheme + 3;
        p += strcspn(p, "/?#");
    }
    end = p + strcspn(p, "?#");
    req->path = p;
    req->path_len = (size_t)(end - p);
    if (*end == '?') {
        size_t qlen = strcspn(end + 1, "#");
        /* A query that does not parse has no parameters. */
        if (room_query_parse(end + 1, qlen, &req->query) != 0)
            req->query = NULL;
    }
}

/* req.param(name): the body's, else the url query's; NULL when undefined. */
static json_t *param(const request *req, const char *name)
{
    json_t *v = json_object_get(req->data, name);
    return v ? v : json_object_get(req->query, name);
}

/* Express' routing: case-insensitive, one trailing slash allowed. */
static int route_is(const request *req, const char *method, const char *path)
{
    size_t len = strlen(path), plen = req->path_len;
    if (strcmp(req->method, method) != 0)
        return 0;
    if (plen == len + 1 && req->path[len] == '/')
        plen = len;
    return plen == len && strncasecmp(req->path, path, len) == 0;
}

/* A string parameter, or a 400 answered: "`name` is required." when it is
 * undefined, as the seed's controller checks it. */
static const char *string_param(room_hub *hub, room_conn *conn, const room_event *ev,
                                const request *req, const char *name, int *rc)
{
    json_t *v = param(req, name);
    char msg[64];
    if (json_is_string(v))
        return json_string_value(v);
    snprintf(msg, sizeof msg, v ? "`%s` must be a string." : "`%s` is required.", name);
    *rc = respond_string(hub, conn, ev, 400, msg);
    return NULL;
}

/* A room name the library refuses (empty, too long, not UTF-8). */
static int bad_room(room_hub *hub, room_conn *conn, const room_event *ev, int rc)
{
    char msg[160];
    snprintf(msg, sizeof msg, "`roomName` is not a valid room name: %s.", room_strerror(rc));
    return respond_string(hub, conn, ev, 400, msg);
}

/* ---- routes ---------------------------------------------------------------- */

static int fun_room(room_hub *hub, room_conn *conn, const room_event *ev, const request *req,
                    int join)
{
    int rc = 0;
    const char *room = string_param(hub, conn, ev, req, "roomName", &rc);
    if (!room)
        return rc;
    /* Socket.IO's join and leave are idempotent, and so are Sails'. */
    rc = join ? room_join(hub, conn, room) : room_leave(hub, conn, room);
    if (rc == ROOM_ENAME)
        return bad_room(hub, conn, ev, rc);
    if (rc && rc != ROOM_EALREADY && rc != ROOM_ENOTMEMBER)
        return respond_error(hub, conn, ev, rc);
    return respond_json(hub, conn, ev, 200,
                        json_pack("{s:s++}", "message",
                                  join ? "Subscribed to a fun room called " : "Left a fun room called ",
                                  room, "!"));
}

/* A /leaveRoom waiting for its leave to complete on this node: the
 * answer names the requester by id, which may be gone by then. */
typedef struct pending_leave {
    char requester[ROOM_CONN_ID_LEN + 1];
    int64_t ack_id;
    json_t *args;  /* the request's event arguments (a reference) */
    json_t *param; /* {socketId, roomName} (strings) */
} pending_leave;

static void pending_free(pending_leave *p)
{
    json_decref(p->args);
    json_decref(p->param);
    free(p);
}

static void leave_done(room_hub *hub, int status, void *ud)
{
    pending_leave *p = ud;
    /* ROOM_ECLOSED: the hub is being freed (roomd stops) with the leave
     * still waiting; the requester is gone with it. */
    room_conn *conn = status == ROOM_ECLOSED ? NULL : room_conn_find(hub, p->requester);
    /* The answer outlives the handler: an event with the request's ack id,
     * which room_reply_new() answers as it answers one in a handler. */
    room_event ev = {"post", p->args, p->ack_id, NULL, 0};
    const char *id = json_string_value(json_object_get(p->param, "socketId"));
    const char *room = json_string_value(json_object_get(p->param, "roomName"));
    /* Leaving a room one is not in does nothing, in Sails as here. */
    if (conn && (status == 0 || status == ROOM_ENOTMEMBER))
        respond_json(hub, conn, &ev, 200,
                     json_pack("{s:s++++}", "message", "Socket ", id, " left the room called ",
                               room, "!"));
    else if (conn && status == ROOM_ENOTFOUND)
        respond_json(hub, conn, &ev, 404,
                     json_pack("{s:s++}", "message", "Cannot find socket with id=`", id, "`"));
    else if (conn)
        respond_error(hub, conn, &ev, status);
    pending_free(p);
}

/* sails.sockets.leave(socketId, roomName, cb): the answer waits for cb,
 * which runs when the leave is done on this node (at once when the socket
 * is here; once the cluster adapter heard back otherwise). */
static int leave_room(room_hub *hub, room_conn *conn, const room_event *ev, const request *req)
{
    pending_leave *p;
    int rc = 0;
    const char *id = string_param(hub, conn, ev, req, "socketId", &rc);
    const char *room = id ? string_param(hub, conn, ev, req, "roomName", &rc) : NULL;
    if (!room)
        return rc;
    p = calloc(1, sizeof *p);
    if (!p)
        return respond_error(hub, conn, ev, ROOM_ENOMEM);
    snprintf(p->requester, sizeof p->requester, "%s", room_conn_id(conn));
    p->ack_id = ev->ack_id;
    p->args = json_incref(ev->args);
    p->param = json_pack("{ssss}", "socketId", id, "roomName", room);
    if (!p->param) {
        pending_free(p);
        return respond_error(hub, conn, ev, ROOM_ENOMEM);
    }
    rc = room_leave_id(hub, id, room, leave_done, p);
    if (rc == 0)
        return 0;
    pending_free(p);
    return rc == ROOM_ENAME ? bad_room(hub, conn, ev, rc) : respond_error(hub, conn, ev, rc);
}

/* sails.sockets.broadcast(roomName, event, data): to every member, the
 * requester too if it is one; the event is "message" when not named. */
static int broadcast(room_hub *hub, room_conn *conn, const room_event *ev, const request *req)
{
    json_t *event = param(req, "event"), *data = param(req, "data");
    const char *name = "message";
    char msg[160];
    int rc = 0;
    const char *room = string_param(hub, conn, ev, req, "roomName", &rc);
    if (!room)
        return rc;
    if (event && !json_is_string(event))
        return respond_string(hub, conn, ev, 400, "`event` must be a string.");
    if (event)
        name = json_string_value(event);
    rc = room_send(hub, room, name, data ? data : json_null(), NULL);
    if (rc == ROOM_ENAME)
        return bad_room(hub, conn, ev, rc);
    if (rc == ROOM_EINVAL || rc == ROOM_ERESERVED) {
        snprintf(msg, sizeof msg, "`event` cannot be sent: %s.", room_strerror(rc));
        return respond_string(hub, conn, ev, 400, msg);
    }
    if (rc < 0)
        return respond_error(hub, conn, ev, rc);
    return respond_status(hub, conn, ev, 200);
}

static int route(room_hub *hub, room_conn *conn, const room_event *ev, const request *req)
{
    if (route_is(req, "get", "/socketId"))
        return respond_string(hub, conn, ev, 200, room_conn_id(conn));
    if (route_is(req, "post", "/joinFunRoom"))
        return fun_room(hub, conn, ev, req, 1);
    if (route_is(req, "post", "/leaveFunRoom"))
        return fun_room(hub, conn, ev, req, 0);
    if (route_is(req, "post", "/leaveRoom"))
        return leave_room(hub, conn, ev, req);
    if (route_is(req, "post", "/broadcast"))
        return broadcast(hub, conn, ev, req);
    return respond_status(hub, conn, ev, 404);
}

/* The hook's receiveIncomingSailsIOMsg(): the checks in its order, then
 * the router. */
static int on_request(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *msg = json_array_get(ev->args, 0), *url, *method, *data, *headers;
    json_t *old = room_conn_data(conn);
    request req = {ev->name, NULL, 0, NULL, NULL};
    char details[512];
    char *text;
    int rc;
    (void)ud;

    if (!json_is_object(msg)) {
        text = json_dumps(msg ? msg : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(details, sizeof details,
                 "Invalid request: expected an object {method, url, headers, data}, got %.*s",
                 utf8_prefix(text ? text : "?", 200), text ? text : "?");
        free(text);
        return parse_error(hub, conn, ev, details);
    }
    url = json_object_get(msg, "url");
    if (!url || json_is_null(url) || json_is_false(url) ||
        (json_is_string(url) && !json_string_length(url)) ||
        (json_is_number(url) && json_number_value(url) == 0)) {
        text = json_dumps(msg, JSON_COMPACT);
        snprintf(details, sizeof details, "No url provided in request: %.*s",
                 utf8_prefix(text ? text : "?", 200), text ? text : "?");
        free(text);
        return parse_error(hub, conn, ev, details);
    }
    if (!json_is_string(url)) {
        text = json_dumps(url, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(details, sizeof details, "Invalid url provided: %.*s",
                 utf8_prefix(text ? text : "?", 200), text ? text : "?");
        free(text);
        return parse_error(hub, conn, ev, details);
    }
    if (old) {
        snprintf(details, sizeof details,
                 "This version of Sails is not compatible with the socket.io/sails.io.js client "
                 "SDK version you are using (%.*s). Please see "
                 "https://sailsjs.com/documentation/upgrading/to-v-0-11 for more information-- "
                 "then please continue upgrading all the way to the installed version of Sails.",
                 utf8_prefix(json_string_value(old), 40), json_string_value(old));
        return parse_error(hub, conn, ev, details);
    }
    /* Sails routes by the event's name alone; a `method` that says
     * otherwise is a client's mistake worth naming. */
    method = json_object_get(msg, "method");
    if (method && !json_is_null(method) &&
        (!json_is_string(method) || strcasecmp(json_string_value(method), ev->name) != 0)) {
        text = json_dumps(method, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(details, sizeof details,
                 "Invalid method %.*s: a request sent as \"%s\" has the method \"%s\"",
                 utf8_prefix(text ? text : "?", 100), text ? text : "?", ev->name, ev->name);
        free(text);
        return parse_error(hub, conn, ev, details);
    }
    headers = json_object_get(msg, "headers");
    if (headers && !json_is_null(headers) && !json_is_object(headers))
        return parse_error(hub, conn, ev, "Invalid headers: must be an object of strings");
    data = json_object_get(msg, "data");
    if (!data || json_is_null(data))
        data = json_object_get(msg, "params");
    if (data && !json_is_null(data) && !json_is_object(data) && !json_is_array(data))
        return parse_error(hub, conn, ev, "Invalid data: must be an object or an array");
    req.data = data;
    split_url(json_string_value(url), &req);
    rc = route(hub, conn, ev, &req);
    json_decref(req.query);
    return rc;
}

/* Any other event: the seven methods are all Sails binds. */
static int on_other(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    char details[200];
    (void)ud;
    snprintf(details, sizeof details,
             "Unknown method \"%.*s\": a request is an event named get, post, put, delete, "
             "patch, options or head",
             utf8_prefix(ev->name, 60), ev->name);
    return parse_error(hub, conn, ev, details);
}

int proto_sails_register(room_hub *hub)
{
    static const room_handler_entry handlers[] = {
        {"get", on_request},    {"post", on_request},  {"put", on_request},
        {"delete", on_request}, {"patch", on_request}, {"options", on_request},
        {"head", on_request},   {"connect", on_connect}, {"disconnect", on_disconnect},
    };
    int rc = room_on_many(hub, handlers, sizeof handlers / sizeof handlers[0], NULL);
    return rc ? rc : room_on_any(hub, on_other, NULL);
}
