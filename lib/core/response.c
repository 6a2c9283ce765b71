/* The SocketResponse envelope: {"msg": "<human text>", "data": <any>}. */
#include "internal.h"

json_t *room_response_new(const char *msg, json_t *data)
{
    json_t *m = msg ? json_string(msg) : NULL;
    json_t *r = json_object();
    if (!data)
        data = json_null();
    if (!m || !r) {
        json_decref(m);
        json_decref(r);
        json_decref(data);
        return NULL;
    }
    /* json_object_set_new() consumes its value even when it fails. */
    if (json_object_set_new(r, "msg", m) != 0) {
        json_decref(data);
        json_decref(r);
        return NULL;
    }
    if (json_object_set_new(r, "data", data) != 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}
