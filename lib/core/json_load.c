/* Inbound JSON for the codecs (any layer's), with jansson's failures told
 * apart. */
#include <string.h>

#include "internal.h"

int room_json_load(const void *bytes, size_t len, size_t flags, json_t **out)
{
    json_error_t err;
    if (!out)
        return ROOM_EINVAL;
    /* Most of jansson's allocation failures record no error at all, so the
     * code would be left unset: a failure without a recorded parse error is
     * one of those. (A few, such as a token's string that cannot be
     * allocated, are recorded as syntax errors; nothing tells those from bad
     * input, so they come back as ROOM_EJSON.) */
    memset(&err, 0, sizeof err);
    *out = json_loadb(bytes, len, flags, &err);
    if (*out)
        return 0;
    return json_error_code(&err) == json_error_out_of_memory || !err.text[0] ? ROOM_ENOMEM
                                                                             : ROOM_EJSON;
}
