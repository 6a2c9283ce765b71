/* RFC 7386 JSON merge patch. The result is built beside the target (shared
 * subtrees are never modified, only replaced), so a failure leaves the
 * target as it was. */
#include "internal.h"
#include "room/presence.h"

static json_t *merge(json_t *target, json_t *patch)
{
    const char *key;
    json_t *value, *out;
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    out = json_is_object(target) ? json_copy(target) : json_object();
    if (!out)
        return NULL;
    json_object_foreach(patch, key, value) {
        json_t *sub;
        if (json_is_null(value)) {
            json_object_del(out, key);
            continue;
        }
        sub = merge(json_object_get(out, key), value);
        if (!sub || json_object_set_new(out, key, sub)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

int room_merge_patch(json_t **target, json_t *patch)
{
    json_t *out;
    if (!target || !patch)
        return ROOM_EINVAL;
    if (!(out = merge(*target, patch)))
        return ROOM_ENOMEM;
    json_decref(*target);
    *target = out;
    return 0;
}
