/* Error codes: human text and the machine token sent to clients. */
#include "internal.h"

static const struct {
    const char *name;
    const char *text;
} errors[] = {
    {"ok", "success"},
    {"no_memory", "out of memory"},
    {"invalid_argument", "invalid argument"},
    {"bad_json", "message is not valid JSON"},
    {"bad_message", "message has the wrong shape or types"},
    {"too_big", "message is larger than the configured limit"},
    {"bad_room_name", "room name is empty, too long or not UTF-8"},
    {"limit", "a configured limit would be exceeded"},
    {"not_member", "not a member of that room"},
    {"already_member", "already a member of that room"},
    {"not_found", "no such connection or room"},
    {"unknown_event", "no handler for that event"},
    {"closed", "connection is closing"},
    {"transport", "the transport failed to send"},
    {"denied", "refused by the protocol"},
    {"timeout", "acknowledgement timed out"},
    {"reserved_event", "that event name is reserved"},
    {"rate_limited", "sending faster than the rate limit allows"},
    {"forbidden", "not allowed to join that room"},
    {"too_old", "the history no longer holds messages that old"},
    {"wrong_epoch", "that position is not in the room's current history: start over"},
    {"storage", "the storage backend failed; the room is read-only"},
};

const char *room_strerror(int code)
{
    if (code > 0 || code < ROOM_ERROR_MIN)
        return "unknown error";
    return errors[-code].text;
}

const char *room_error_name(int code)
{
    if (code > 0 || code < ROOM_ERROR_MIN)
        return "unknown";
    return errors[-code].name;
}
