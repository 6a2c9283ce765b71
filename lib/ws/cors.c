/* CORS and Origin: which browser origins a mount accepts, and the
 * Access-Control-* headers its responses carry, as the `cors` package that
 * Socket.IO uses answers: "*" when every origin is, else the allowed
 * origin echoed with Vary: Origin; credentials when configured. A mount without origins sends none and
 * accepts every origin, as Socket.IO does by default. */
#include <stdio.h>
#include <string.h>

#include "ws_internal.h"

static bool listed(const rm_ws_mount *m, rm_ws_span origin)
{
    char *const *o;
    if (m->any_origin)
        return true;
    for (o = m->origins; o && *o; o++) {
        if (strlen(*o) == origin.len && memcmp(*o, origin.p, origin.len) == 0)
            return true;
    }
    return m->origin_allowed && m->origin_allowed(origin.p, origin.len, m->user_data) != 0;
}

void rm_ws_cors_check(const room_ws *ws, rm_ws_request *r)
{
    const rm_ws_mount *m = r->mount >= 0 ? ws->mounts[r->mount] : NULL;
    r->origin_ok = true;
    r->cors = false;
    if (!m || !m->cors || !r->origin.p)
        return;
    r->origin_ok = listed(m, r->origin);
    r->cors = r->origin_ok;
}

size_t rm_ws_cors_headers(const rm_ws_mount *m, const char *origin, size_t len, char *out, size_t cap)
{
    int n;
    /* "*" as the cors package answers it; with credentials a browser
     * takes only the origin itself. */
    if (m->any_origin && !m->credentials)
        n = snprintf(out, cap, "Access-Control-Allow-Origin: *\r\n");
    else
        n = snprintf(out, cap, "Access-Control-Allow-Origin: %.*s\r\nVary: Origin\r\n%s", (int)len, origin,
                     m->credentials ? "Access-Control-Allow-Credentials: true\r\n" : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
