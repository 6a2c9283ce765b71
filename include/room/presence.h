/*
 * libroom: identity, join authorization, presence and typing indicators.
 *
 * Nothing here costs anything until it is used: a connection without a user
 * stays the same 72 bytes (its user lives in a hub table, found through a
 * flag), and a hub without room_presence_enable() keeps no presence state.
 *
 * Threading, ownership and errors follow room/room.h: one thread per hub,
 * `const char *` arguments borrowed for the call, `json_t *` borrowed unless
 * the name ends in `_new`, negative ROOM_E* codes.
 *
 * Re-entrancy: the callbacks below (authorize, validate, change) run inside
 * presence operations. They may read anything (getters, queries) and send
 * (room_send(), room_emit(), ...), but must not join, leave, close, set a
 * user or change presence or typing: such calls made from them return
 * ROOM_EINVAL and change nothing.
 *
 * Model (docs/presence.md): presence is per room and keyed by user id. A
 * user has one entry per room however many connections (tabs, devices) it
 * has there; members see it join on its first connection and leave after
 * its last. A connection without a user is its own user, keyed by its
 * connection id.
 *
 * Wire shape (Phoenix Presence's presence_state / presence_diff), built by
 * the hub when the config names the events:
 *   entry  {"id": user id, "name"?: ..., "role"?: ..., "meta"?: ...,
 *           "info"?: per-member info from the join authorization,
 *           "state": {...}}
 *          (name, role and meta of the connection that entered first; a
 *          user's connection count is not in it, so that a second tab
 *          changes nothing the members see: room_presence_foreach() has it)
 *   state  {"room": room, "members": {user id: entry, ...}}   to a joiner
 *   diff   {"room": room, "joins": {user id: entry}, "leaves": {user id: entry}}
 *          (the room's name in both: a connection may be in several rooms)
 * A client applies a diff's leaves first, then its joins; an entry in
 * joins replaces the user's entry (state updates travel as joins).
 * Batching: at room_hub_tick() or room_presence_flush(), each room with
 * changes sends one state frame, shared by every connection that entered
 * since the last flush, and one diff frame, shared by the room's other
 * presence connections (those whose state already holds every change in it
 * are skipped); each is encoded once. A connection thus gets at most one
 * presence frame per flush, and 1 000 users joining in one tick cost 1 000
 * deliveries of one frame. With `diff_ms`, a room's diffs are spaced by at
 * least that much hub time, and with `diff_budget` by more in large rooms
 * (states are not), except that a held diff whose changes settled (no
 * change for diff_ms) goes at once, counted against the spacings to come
 * (two at most). Diffs and states go to the
 * connections in the room's presence, not to members that joined with
 * plain room_join().
 *
 * Cluster: every presence change is offered to the adapter's `presence`
 * function (room/adapter.h) as a change record, so that an adapter can make
 * presence cluster-wide; docs/presence.md says what it must carry. Diffs
 * are delivered by each node to its own members only.
 */
#ifndef ROOM_PRESENCE_H
#define ROOM_PRESENCE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "room/room.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- identity ----------------------------------------------------------- */

/* The longest user id, in bytes. */
#define ROOM_USER_ID_MAX 256

/* Who a connection speaks for. Host-filled; initialise with
 * room_user_init(); later versions only append fields. */
typedef struct room_user {
    size_t size;      /* sizeof(room_user), set by room_user_init() */
    const char *id;   /* required: 1..ROOM_USER_ID_MAX bytes of UTF-8 */
    const char *name; /* optional display name, UTF-8, or NULL */
    const char *role; /* optional role ("teacher", "admin"), UTF-8, or NULL */
    json_t *meta;     /* optional host data shown to other members, or NULL */
} room_user;

#define ROOM_USER_SIZE_MIN (offsetof(room_user, meta) + sizeof(json_t *))

static inline void room_user_init(room_user *user)
{
    memset(user, 0, sizeof *user);
    user->size = sizeof *user;
}

/* Sets the user `conn` speaks for, normally from the "connect" handler
 * after checking what the client presented (auth, query, handshake). The
 * strings are copied and `meta` deep-copied; nothing of `user` is kept.
 * `user` NULL clears it. The user cannot change while the connection is in
 * a presence room (ROOM_EALREADY): what members were shown stays true. It
 * is cleared when the connection closes or is detached for recovery (a
 * resume runs the connect handler, which sets it again).
 * Errors: ROOM_EINVAL (NULL hub or conn, size below ROOM_USER_SIZE_MIN,
 * missing or overlong id, text that is not UTF-8, meta not an object, or
 * called from a presence callback), ROOM_EALREADY, ROOM_ENOMEM (the
 * previous user is kept). */
ROOM_API int room_conn_set_user(room_hub *hub, room_conn *conn, const room_user *user);
/* The connection's user, valid until it changes or the connection is
 * freed: id, name, role (NULL when unset) and meta (borrowed; NULL when
 * unset). room_conn_user_id() is NULL when no user is set. */
ROOM_API const char *room_conn_user_id(const room_hub *hub, const room_conn *conn);
ROOM_API const char *room_conn_user_name(const room_hub *hub, const room_conn *conn);
ROOM_API const char *room_conn_user_role(const room_hub *hub, const room_conn *conn);
ROOM_API json_t *room_conn_user_meta(const room_hub *hub, const room_conn *conn);
/* A user's open connections anywhere on this hub, whether in rooms or not
 * (direct messages to a user). The callback returns 0 to go on, non-zero
 * to stop (that value is returned); it must not join, leave or close.
 * Returns 0 for an unknown user. */
ROOM_API int room_user_conns_foreach(room_hub *hub, const char *user_id, room_conn_visit_fn fn,
                                     void *ud);
/* How many connections of this hub speak for `user_id`. */
ROOM_API size_t room_user_conn_count(room_hub *hub, const char *user_id);

/* ---- presence configuration ---------------------------------------------- */

/* The outcome of a join authorization. The callback fills it. */
typedef struct room_join_verdict {
    /* Refusals: the reason the client reads (msg of the `error`
     * SocketResponse); the callback's storage, read right after it
     * returns. NULL: room_strerror(ROOM_EFORBIDDEN). */
    const char *reason;
    /* Acceptance: per-member info to attach (Pluv's metadata on enter), or
     * NULL. Stolen (one reference) whatever the callback returns. */
    json_t *info;
} room_join_verdict;

/* Decides whether `conn` (its user: room_conn_user_id()) may enter `room`,
 * given the join's `metadata` (the client's, borrowed, maybe NULL: a token,
 * Pluv's metadata). Return 0 to accept, ROOM_EFORBIDDEN (or any negative
 * code) to refuse. */
typedef int (*room_join_auth_fn)(room_hub *hub, room_conn *conn, const char *room,
                                 json_t *metadata, room_join_verdict *verdict, void *ud);

/* Checks a user's presence state after a merge-patch, before anything
 * changes (Pluv validates presence against a schema). `state` is the
 * would-be state (borrowed, an object). Return 0 to accept; a negative
 * code refuses, and *message (optional, the callback's storage, read right
 * after it returns) says why. */
typedef int (*room_presence_validate_fn)(room_hub *hub, room_conn *conn, const char *room,
                                         json_t *state, const char **message, void *ud);

/* What changed, for the change callback and the adapter. */
typedef enum room_presence_change {
    ROOM_PRESENCE_JOIN = 1,       /* a user's first connection entered the room */
    ROOM_PRESENCE_LEAVE = 2,      /* a user's last connection left it */
    ROOM_PRESENCE_UPDATE = 3,     /* a user's state changed */
    ROOM_PRESENCE_CONN_JOIN = 4,  /* another connection of a present user entered */
    ROOM_PRESENCE_CONN_LEAVE = 5, /* a connection left; the user stays */
    ROOM_PRESENCE_TYPING = 6,     /* the user started (or kept) typing */
    ROOM_PRESENCE_STOP_TYPING = 7 /* typing stopped: explicitly, by expiry, or the typist left */
} room_presence_change;

/* After a change. `conn` is the connection that caused it (NULL for an
 * expiry). `entry` is the user's entry as members see it (borrowed, for
 * the call), also for a leave (its last value). */
typedef void (*room_presence_change_fn)(room_hub *hub, const char *room, const char *user_id,
                                        room_presence_change change, room_conn *conn,
                                        json_t *entry, void *ud);

/* A hub's presence settings. Initialise with room_presence_config_init();
 * 0 / NULL fields take their defaults. Copied by room_presence_enable(). */
typedef struct room_presence_config {
    size_t size; /* sizeof(room_presence_config), set by room_presence_config_init() */

    /* Events the hub sends itself; NULL: not sent (a host with its own wire
     * format uses `change` and the queries instead). The strings are
     * copied. `state_event` carries the full state to a joining
     * connection, `diff_event` the batched diffs to the members. */
    const char *state_event;
    const char *diff_event;
    /* Typing: relayed to the room's other members with the entry's
     * {"id", "name"?} as payload; NULL: not sent (change callbacks still
     * run). */
    const char *typing_event;
    const char *stop_typing_event;
    uint32_t typing_ms; /* idle time before an automatic stop; default 5000 */

    /* The largest presence state of one user in one room, as compact JSON
     * bytes; default 4096. Larger results of a patch are ROOM_ETOOBIG. */
    size_t max_state_bytes;

    room_join_auth_fn authorize;       /* NULL: every join accepted, no info */
    room_presence_validate_fn validate; /* NULL: any object within the cap */
    room_presence_change_fn change;    /* NULL: none */
    void *user_data;                   /* given to the callbacks */

    /* Hosts with their own wire format (roomd's diffy sends a count and a
     * roster): called at each flush, once per room whose users joined,
     * left or changed state since the last flush, after the room's diff
     * frame, so that a summary costs one frame per room per loop tick
     * however many changes the tick had. NULL: none. Runs as the other
     * callbacks do (re-entrancy above). */
    void (*flushed)(room_hub *hub, const char *room, void *ud);
    /* The shortest time, in hub time (room_hub_tick()), between two diffs
     * of a room: the changes of the ticks in between go out together, in
     * the next one. 0 (the default): a diff at every tick that has
     * changes. Joiners get their state at the first tick whatever this is;
     * room_presence_flush() sends everything at once. room_hub_tick()
     * counts a pending diff among its deadlines. The `flushed` callback
     * follows the diffs. */
    uint32_t diff_ms;
    /* The most diff deliveries per second one room may cost: a room's
     * diffs are also spaced by (its presence connections / diff_budget)
     * seconds, so that a large room's presence stays within a fixed
     * number of frames a second (10 000 members at 10 000 a second: a diff
     * a second). 0 (the default): no such bound. */
    uint32_t diff_budget;
} room_presence_config;

#define ROOM_PRESENCE_CONFIG_SIZE_MIN \
    (offsetof(room_presence_config, user_data) + sizeof(void *))

static inline void room_presence_config_init(room_presence_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
}

/* Turns presence on for `hub` (or changes its settings; existing presence
 * is kept). Errors: ROOM_EINVAL (NULL, size below the minimum, an event
 * name that is empty or not UTF-8), ROOM_ENOMEM (settings unchanged). The
 * presence state is freed with the hub. */
ROOM_API int room_presence_enable(room_hub *hub, const room_presence_config *config);

/* ---- membership ------------------------------------------------------------ */

/* Enters `conn` into `room` with presence: runs `authorize` with
 * `metadata` (borrowed, may be NULL), joins the room (room_join()), adds
 * the connection under its user, and queues for the next flush the
 * joining connection's full state (state_event) and, for the user's first
 * connection, its join in the diff. On refusal nothing changes; when `ev` (the
 * inbound event being handled, may be NULL) is given, the client is
 * answered with room_fail(ev, ROOM_EFORBIDDEN, reason): an `error`
 * SocketResponse whose data.code is "forbidden" (or the ack). Errors:
 * ROOM_EINVAL (presence not enabled, NULL arguments, re-entrant call),
 * ROOM_EFORBIDDEN or the callback's own code (refused), those of
 * room_join() (ROOM_EALREADY, ROOM_ENAME, ROOM_ELIMIT, ROOM_ECLOSED),
 * ROOM_ENOMEM (nothing changed). */
ROOM_API int room_presence_join(room_hub *hub, room_conn *conn, const char *room, json_t *metadata,
                                const room_event *ev);
/* Leaving the room any way (room_leave(), room_leave_all(), the
 * connection closing or detaching) leaves its presence; a leave is queued
 * after the user's last connection goes, and its typing stops at once.
 * A connection that resumes (recovery) must enter presence again. */

/* Merges `patch` (borrowed; RFC 7386 JSON merge patch, an object) into the
 * presence state of conn's user in `room`; queues an update for the next
 * flush when the state changed. Nothing changes on error: ROOM_EINVAL (NULL
 * arguments, presence off, re-entrant call), ROOM_ENOTMEMBER (the
 * connection is not in the room's presence), ROOM_EPROTO (patch not an
 * object, or the result not an object), ROOM_ETOOBIG (over
 * max_state_bytes), the validate callback's code, ROOM_ENOMEM. When `ev` is
 * given, errors from the patch itself (all but ROOM_EINVAL) are answered
 * to the client with room_fail(), with the validator's message. */
ROOM_API int room_presence_update(room_hub *hub, room_conn *conn, const char *room, json_t *patch,
                                  const room_event *ev);

/* Sends pending states and diffs now (see the model above). Transports
 * call it once per loop iteration (room_hub_tick() does too). Returns the
 * number of deliveries, ROOM_EINVAL from a presence callback, or
 * ROOM_ENOMEM (the pending diffs of the rooms not yet flushed are kept). */
ROOM_API int room_presence_flush(room_hub *hub);

/* ---- typing ------------------------------------------------------------------ */

/* conn's user is typing in `room`: relays typing_event to the other
 * members (not to the typist's connections) unless the user is already
 * typing there, and (re)starts the idle timer: stop_typing_event follows
 * typing_ms of hub time after the last call (room_hub_tick()), or at once
 * when the typing connection leaves the room. Out of memory, the relay is
 * skipped (the timer still runs). Errors: ROOM_EINVAL (presence off, NULL
 * arguments, re-entrant call), ROOM_ENAME, ROOM_ENOTMEMBER (not in the
 * room's presence). */
ROOM_API int room_typing(room_hub *hub, room_conn *conn, const char *room);
/* Stops conn's user typing in `room` now (stop_typing_event); 0 also when
 * it was not typing. Errors: those of room_typing(). */
ROOM_API int room_typing_stop(room_hub *hub, room_conn *conn, const char *room);

/* ---- queries ------------------------------------------------------------------- */

/* Distinct users and connections in a room's presence (0 for none). */
ROOM_API size_t room_presence_user_count(room_hub *hub, const char *room);
ROOM_API size_t room_presence_conn_count(room_hub *hub, const char *room);

/* One member as room_presence_foreach() shows it; everything borrowed for
 * the callback. */
typedef struct room_presence_member {
    size_t size;          /* sizeof(room_presence_member) of the library */
    const char *user_id;
    json_t *entry;        /* the entry members see (see the model above) */
    json_t *state;        /* the user's presence state, an object */
    size_t connections;   /* its connections in the room */
} room_presence_member;
typedef int (*room_presence_visit_fn)(const room_presence_member *member, void *ud);
/* Visits the room's members, in no particular order; the callback returns
 * non-zero to stop (that value is returned), and must not change presence. */
ROOM_API int room_presence_foreach(room_hub *hub, const char *room, room_presence_visit_fn fn,
                                   void *ud);
/* The room's full state {user id: entry} (what a joiner gets), a new
 * reference; an empty object for a room without presence. NULL when out of
 * memory or arguments are NULL. */
ROOM_API json_t *room_presence_state(room_hub *hub, const char *room);
/* Visits conn's user's connections in `room`'s presence. As
 * room_user_conns_foreach(). */
ROOM_API int room_presence_user_conns_foreach(room_hub *hub, const char *room, const char *user_id,
                                              room_conn_visit_fn fn, void *ud);

/* ---- JSON merge patch ---------------------------------------------------------- */

/* Applies RFC 7386 `patch` (borrowed) to `*target` (a reference the
 * caller owns, may be NULL for "absent"): on success *target is the new
 * value (a new reference; the old one released), on failure unchanged.
 * A non-object patch replaces the target; null members remove. Returns 0
 * or ROOM_ENOMEM / ROOM_EINVAL. Uses jansson's allocator. */
ROOM_API int room_merge_patch(json_t **target, json_t *patch);

#ifdef __cplusplus
}
#endif

#endif
