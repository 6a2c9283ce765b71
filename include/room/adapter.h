/*
 * libroom: the cluster adapter seam.
 *
 * The hub always delivers to its own connections itself; the adapter carries
 * what must reach other nodes: broadcasts (as already encoded frames) and
 * operations on connections that live elsewhere. The local adapter (the
 * default) has no other nodes. An adapter receiving traffic from other nodes
 * feeds it back with room_hub_deliver_remote() and room_join_id() /
 * room_leave_id() on the hub that holds the connection.
 */
#ifndef ROOM_ADAPTER_H
#define ROOM_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "room/room.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct room_remote_op room_remote_op;
struct room_history_limits;
struct room_history_pos;

/* A count over every node (room_member_count_cluster(),
 * room_count_deliveries()). `status` is 0, or ROOM_ECLOSED when the hub is
 * being freed before the count ended (room_hub_free(): the callback must
 * only release `ud`, and not use `hub`). `count` sums what the nodes
 * reported; `partial` is 1 when some node that should have answered did
 * not within the adapter's timeout, or the other nodes could not be asked
 * (the cluster bus was away): `count` is then a lower bound. */
typedef void (*room_count_fn)(room_hub *hub, int status, uint64_t count, int partial, void *ud);

/* Like room_codec, the table starts with the size it was built with; the
 * hub refuses one below ROOM_ADAPTER_SIZE_MIN, copies the first `size`
 * bytes once at room_hub_new() (later changes to the table are not seen)
 * and never reads past them. The hub passes the adapter's own pointer to
 * its functions. */
struct room_adapter {
    size_t size; /* sizeof(room_adapter) the adapter was built with */
    const char *name;
    void *state;
    /* A broadcast was delivered locally; forward it. `room` NULL means every
     * connection. `except_id` may be NULL. The frame is borrowed. */
    int (*publish)(room_adapter *adapter, room_hub *hub, const char *room, const room_frame *frame,
                   const char *except_id);
    /* Join/leave for a connection id not on this node. Must call `done`
     * exactly once (possibly later) if it returns 0. NULL: there is no other
     * node, and `done` gets ROOM_ENOTFOUND. */
    int (*remote_join)(room_adapter *adapter, room_hub *hub, const char *conn_id, const char *room,
                       room_done_fn done, void *ud);
    int (*remote_leave)(room_adapter *adapter, room_hub *hub, const char *conn_id, const char *room,
                        room_done_fn done, void *ud);
    /* Frees the adapter; may be NULL. */
    void (*destroy)(room_adapter *adapter);

    /* ---- after ROOM_ADAPTER_SIZE_MIN: absent from older adapters */

    /* A presence change made on this node (room/presence.h), for the other
     * nodes: `change` is a room_presence_change, `conn_id` the connection
     * that caused it (NULL for an expiry), `entry` the user's entry as
     * members see it (borrowed for the call). NULL: single node. Runs with
     * the same restrictions as presence callbacks (no joins, leaves,
     * closes, presence changes). docs/presence.md says what an adapter
     * must carry. */
    void (*presence)(room_adapter *adapter, room_hub *hub, const char *room, const char *user_id,
                     int change, const char *conn_id, json_t *entry);

    /* ---- added with the cluster operations (libroom 0.3, issue 12) */

    /* An operation for the other nodes (room_remote_op below; borrowed for
     * the call). By-id kinds: `op->conn_id` is not on this node; the
     * adapter asks the others and must call `done` exactly once (possibly
     * later) when it returns 0: with the holder's status once it answered,
     * or ROOM_ENOTFOUND when no node answered within the adapter's timeout
     * (nodes that do not hold the id stay silent, so silence is "not
     * found", as on a single node). Room-wide kinds (ROOM_REMOTE_MEMBERS_*)
     * have been applied locally already; `done` is NULL and the other nodes
     * apply them without answering. NULL: remote_join/remote_leave are used
     * for joins and leaves, the other by-id kinds get ROOM_ENOTFOUND, and
     * room-wide ones stay local. */
    int (*remote)(room_adapter *adapter, room_hub *hub, const room_remote_op *op, room_done_fn done,
                  void *ud);
    /* (`done` of by-id kinds that are still waiting when the adapter is
     * destroyed runs then with ROOM_ECLOSED: from room_hub_free(), after
     * the hub's connections are gone; it must only release `ud`.) */
    /* A broadcast was delivered locally; forward its event and arguments
     * (borrowed) rather than its frame, so that an adapter can re-encode it
     * for a wire format of its own (Socket.IO's Redis adapter packets). When
     * set, the hub calls it instead of `publish` for room_send*() and
     * room_broadcast*(); `publish` still gets frames the hub did not encode
     * from an event. Errors are logged by the hub. */
    int (*publish_event)(room_adapter *adapter, room_hub *hub, const char *room, const char *event,
                         json_t *const *argv, size_t argc, const room_bytes *attachments,
                         size_t attachment_count, const char *except_id);
    /* The first connection of this hub joined `room` (`present` 1), or the
     * last left it (0): the adapter subscribes to the room's traffic only
     * while the node has members there. Runs inside the join or leave: it
     * may read the hub but must not join, leave, send or close. */
    void (*room_local)(room_adapter *adapter, room_hub *hub, const char *room, int present);

    /* ---- added with cluster-wide counts (issue 12); all three or none */

    /* Counted broadcasts (room_count_deliveries()): the hub calls
     * count_begin, makes its broadcasts (publish_event / publish calls, as
     * usual), then count_end with the deliveries it made itself (`local`).
     * The broadcasts made in between ask each node that receives them how
     * many deliveries it made; the adapter calls done(hub, 0, local + their
     * sum, partial, ud) exactly once (possibly inside count_end) when every
     * such node answered, or at its timeout with `partial` 1. count_begin
     * returns 0 or ROOM_ENOMEM (then the hub does not call count_end and
     * answers with `local`, partial); count_end returns 0 (done will run)
     * or a negative code (it will not; the hub answers `local`, partial).
     * count_end with `done` NULL: the broadcasting failed, nothing is to be
     * reported (answers that come are dropped). No nesting: the hub never
     * calls count_begin twice without count_end. */
    int (*count_begin)(room_adapter *adapter, room_hub *hub);
    int (*count_end)(room_adapter *adapter, room_hub *hub, uint64_t local, room_count_fn done,
                     void *ud);
    /* room_member_count_cluster(): the members of `room` on the other nodes
     * plus `local` (this hub's), through `done` exactly once (possibly
     * inside the call) when it returns 0. */
    int (*count_members)(room_adapter *adapter, room_hub *hub, const char *room, uint64_t local,
                         room_count_fn done, void *ud);
    /* ---- added with cross-node recovery (docs/recovery.md, "Across nodes") */

    /* A client asks to resume private id `pid` from `offset` (both
     * borrowed for the call) and no detached connection of this hub has
     * that pid. The adapter asks the other nodes, the one holding it
     * answers with room_hub_resume_take(), and returns 0: it must then
     * call room_hub_resume_complete(hub, ticket, ...) exactly once, never
     * inside this call, with that answer, or with a negative status when
     * none came within its timeout. A negative return (no other node
     * alive, the bus away, out of memory) means nobody can hold it: the
     * client gets a fresh connection at once. The hub calls `destroy` with
     * requests outstanding only from room_hub_free(), when no completion
     * may follow. NULL: a single node. */
    int (*resume)(room_adapter *adapter, room_hub *hub, uint64_t ticket, const char *pid,
                  const char *offset);
    /* ---- added with cluster-wide room storage (issue 12; room/storage.h,
     * docs/cluster.md "Room storage") */

    /* For the other nodes serving `room`: an update appended to its log on
     * this node (`kind` ROOM_STORAGE_UPDATE: from a member or the host,
     * never one that came from another node), or the bytes of
     * room_storage_relay() (ROOM_STORAGE_RELAY). Borrowed for the call.
     * The receiving nodes call room_storage_remote_append() or
     * room_storage_remote_relay(). Runs inside the append: it must not call
     * into the hub. Errors are logged by the hub. NULL: single node. */
    int (*storage_publish)(room_adapter *adapter, room_hub *hub, const char *room, int kind,
                           const void *bytes, size_t len);
    /* The first member of `room` here began a sync while this node's copy
     * of the log does not follow the cluster (it served no member since it
     * last had none): ask the other nodes for their log of `room`. Return
     * 0 when asked: the adapter then feeds what they answer through
     * room_storage_remote_append() and calls room_storage_remote_fetched()
     * exactly once, later (never inside this call): when a node serving
     * the room has answered, when every node has, or after its timeout.
     * Until then the room's syncs do not finish. Any other value (no other
     * node is alive, the bus is down): the syncs go on at once. Must not
     * call into the hub. NULL: single node. */
    int (*storage_fetch)(room_adapter *adapter, room_hub *hub, const char *room);

    /* ---- history rooms in a cluster (docs/history.md "In a cluster", issue 12).
     * Both or neither. */

    /* A message to a history room (room_history_send_args()): the adapter
     * gives it the room's next offset cluster-wide and hands it back to
     * every node serving the room, this one included, with
     * room_history_deliver_remote(); the hub does not deliver it itself.
     * `stamp` (an object inside argv, or NULL) is where the position goes;
     * `limits` are the room's here (the adapter bounds its log with them).
     * All borrowed for the call. Returns 0 when taken; an error (the bus is
     * away) makes the hub deliver the message here under an epoch of its
     * own (room_history_unpublished()). */
    int (*history_publish)(room_adapter *adapter, room_hub *hub, const char *room,
                           const char *event, json_t *const *argv, size_t argc,
                           const room_bytes *attachments, size_t attachment_count,
                           const char *except_id, json_t *stamp,
                           const struct room_history_limits *limits);
    /* The room's kept messages after `since` (NULL: all), from the
     * cluster's log: the adapter answers with room_history_fetched(hub,
     * request, ...) exactly once, never inside this call, and only once the
     * room's live messages published after the answer's position reach
     * this node (so that none falls between the two). An error (the bus is
     * away): the hub answers ROOM_ESTORAGE. */
    int (*history_fetch)(room_adapter *adapter, room_hub *hub, const char *room,
                         const struct room_history_pos *since, uint64_t request);
};

/* room_adapter.storage_publish kinds. */
enum { ROOM_STORAGE_UPDATE = 1, ROOM_STORAGE_RELAY = 2 };

/* What room_adapter.remote carries. */
enum room_remote_kind {
    ROOM_REMOTE_JOIN = 1,      /* conn_id joins room */
    ROOM_REMOTE_LEAVE = 2,     /* conn_id leaves room */
    ROOM_REMOTE_LEAVE_ALL = 3, /* conn_id leaves every room */
    ROOM_REMOTE_DISCONNECT = 4,/* conn_id is closed with `reason` (may be NULL) */
    ROOM_REMOTE_EMIT = 5,      /* conn_id gets event(argv...) */
    ROOM_REMOTE_MEMBERS_JOIN = 6,  /* every member of room joins rooms[] */
    ROOM_REMOTE_MEMBERS_LEAVE = 7, /* every member of room leaves rooms[] */
};
struct room_remote_op {
    int kind;                /* enum room_remote_kind */
    const char *conn_id;     /* by-id kinds; NULL for room-wide ones */
    const char *room;        /* JOIN/LEAVE: the room; MEMBERS_*: whose members */
    const char *const *rooms; /* MEMBERS_*: the rooms joined or left */
    size_t nrooms;
    const char *reason;      /* DISCONNECT: the close reason, or NULL */
    const char *event;       /* EMIT: the event and its arguments */
    json_t *const *argv;
    size_t argc;
};

/* The smallest adapter table a hub accepts: the layout above. */
#define ROOM_ADAPTER_SIZE_MIN (offsetof(struct room_adapter, destroy) + sizeof(void (*)(room_adapter *)))

/* The single-node adapter: publishes nowhere, and an id that is not local
 * does not exist (ROOM_ENOTFOUND). Static; never freed. */
ROOM_API room_adapter *room_adapter_local(void);

/* ---- operations by connection id on whichever node holds it ---------------
 * Like room_join_id() / room_leave_id() (room.h): `done` (optional) runs
 * once when the operation is complete on this node, with 0 or a negative
 * code: the local result when `conn_id` is here (before the call
 * returns), else the holder's answer through the adapter, or ROOM_ENOTFOUND
 * when no node holds the id (at once with the local adapter, after the
 * cluster adapter's timeout otherwise). The return value reports argument
 * errors only (ROOM_EINVAL, ROOM_ENAME); then `done` does not run. `done`
 * may run inside the call: it may do anything a handler may. Strings and
 * arguments are borrowed for the call. */

/* Leaves every room. Status: 0 (also when it was in none). */
ROOM_API int room_leave_all_id(room_hub *hub, const char *conn_id, room_done_fn done, void *ud);
/* Closes the connection as room_conn_close() does (its disconnect handler
 * runs on its node), with `reason` (NULL: "server disconnect"). */
ROOM_API int room_disconnect_id(room_hub *hub, const char *conn_id, const char *reason,
                                room_done_fn done, void *ud);
/* Emits event(argv...) to the connection (room_emit_args() without
 * attachments). */
ROOM_API int room_emit_id(room_hub *hub, const char *conn_id, const char *event,
                          json_t *const *argv, size_t argc, room_done_fn done, void *ud);
/* Every member of `room`, on every node, joins (leaves) each of `rooms`
 * (Socket.IO's in(room).socketsJoin(rooms)). Applied here before the call
 * returns, sent to the other nodes without waiting for them; `done` gets 0,
 * or the first error of a local join other than ROOM_EALREADY
 * (ROOM_ENOTMEMBER for leaves). */
ROOM_API int room_members_join(room_hub *hub, const char *room, const char *const *rooms,
                               size_t nrooms, room_done_fn done, void *ud);
ROOM_API int room_members_leave(room_hub *hub, const char *room, const char *const *rooms,
                                size_t nrooms, room_done_fn done, void *ud);

/* ---- counts on every node ---------------------------------------------------
 * With an adapter that counts (count_begin, count_end and count_members
 * set: libroom-redis), these ask the other nodes and `done` runs later;
 * otherwise it runs inside the call with this hub's count and `partial` 0,
 * at the cost of the local count alone. `done` runs exactly once when the
 * call returns 0 (also with ROOM_ECLOSED when the hub is freed first), and
 * not at all when it returns an error. Not re-entrant with itself: not from
 * inside the `send` step of room_count_deliveries(). */

/* 1 when the hub's adapter counts on other nodes (`done` of the two calls
 * below then mostly runs later, from the adapter), else 0 (`done` runs
 * inside the call). NULL-safe. */
ROOM_API int room_hub_counts_cluster(const room_hub *hub);

/* The members of `room` (connections) on every node. Errors: ROOM_EINVAL
 * (NULL hub or done), ROOM_ENAME, ROOM_ENOMEM. */
ROOM_API int room_member_count_cluster(room_hub *hub, const char *room, room_count_fn done,
                                       void *ud);

/* A step that broadcasts (room_send*(), room_broadcast*(),
 * room_history_send_args()) and returns the deliveries it made here, or a
 * negative code. */
typedef int (*room_send_step_fn)(room_hub *hub, void *ud);
/* Runs send(hub, send_ud) once, now, and counts the deliveries of the
 * broadcasts it makes on every node: `done` gets this node's deliveries
 * plus those each other node receiving them reports. Returns what `send`
 * returned: when negative, `done` does not run (and the other nodes'
 * deliveries, if any, are not counted). Errors of its own: ROOM_EINVAL
 * (NULL hub, send or done). */
ROOM_API int room_count_deliveries(room_hub *hub, room_send_step_fn send, void *send_ud,
                                   room_count_fn done, void *ud);

/* ---- for adapters: traffic from other nodes ----------------------------------- */

/* Applies an operation from another node here, without asking the adapter
 * again. By-id kinds: ROOM_ENOTFOUND when the id is not on this node (the
 * adapter then stays silent), else the local result. Room-wide kinds: the
 * number of joins (leaves) made. */
ROOM_API int room_remote_apply(room_hub *hub, const room_remote_op *op);

/* Delivers an event from another node, encoded once, to the connections
 * that are in any of `rooms` (nrooms 0: every connection) and neither are
 * named in `except` nor are members of a room named there (Socket.IO's
 * broadcast options). Not published again. With recovery
 * (room_config.recovery_ms) it carries the hub's next offset and is logged
 * as the hub's own sends are, also in rooms whose members here are all
 * detached (docs/recovery.md): call it for those too. Returns the number
 * of deliveries or a negative code (ROOM_EINVAL, ROOM_ENOMEM). */
ROOM_API int room_hub_deliver_remote_event(room_hub *hub, const char *const *rooms, size_t nrooms,
                                           const char *const *except, size_t nexcept,
                                           const char *event, json_t *const *argv, size_t argc,
                                           const room_bytes *attachments, size_t attachment_count);

/* Presence from another node (docs/presence.md, "The cluster adapter").
 * `node` names the node (at most 31 bytes); `conns` is how many
 * connections `user_id` now has in `room` on that node, for the kinds
 * ROOM_PRESENCE_JOIN, CONN_JOIN, CONN_LEAVE and LEAVE alike (0: none
 * left there); `entry` (borrowed; an object with "state") is the user's
 * entry as that node shows it, needed when the user is new here and for
 * ROOM_PRESENCE_UPDATE. TYPING / STOP_TYPING relay typing (its expiry runs
 * on the typist's node). The hub merges it with its own members by user
 * id: members see a user join on its first connection cluster-wide and
 * leave after its last, through the same diffs, change callbacks and
 * counts as local changes; the change callback gets NULL for `conn`, and
 * no CONN_* kinds (they concern a connection of another node). Broadcasts
 * made from presence callbacks are not published (every node runs them).
 * Errors: ROOM_EINVAL (presence off, bad arguments, called from a presence
 * callback), ROOM_ENAME, ROOM_ENOMEM (nothing changed). */
ROOM_API int room_presence_remote(room_hub *hub, const char *node, const char *room,
                                  const char *user_id, int change, size_t conns, json_t *entry);
/* Every connection of `node` leaves presence (it died, or left): members
 * hear of the users it was the last node of. Returns how many users left,
 * or ROOM_EINVAL. */
ROOM_API int room_presence_remote_forget(room_hub *hub, const char *node);
/* A full snapshot of `node`'s presence follows (BEGIN: its records here
 * are marked), or has been applied (END: the marked ones that it did not
 * renew are removed, as room_presence_remote_forget() does, and the users
 * that left are returned). Repairs what an outage of the bus hid. Errors:
 * ROOM_EINVAL. */
enum { ROOM_PRESENCE_SYNC_BEGIN = 0, ROOM_PRESENCE_SYNC_END = 1 };
ROOM_API int room_presence_remote_sync(room_hub *hub, const char *node, int phase);

/* ---- for adapters: connection-state recovery across nodes ---------------- */

/* One missed event, as the holder's codec decoded it from its log. */
typedef struct room_resume_event {
    const char *event;
    json_t *const *argv;
    size_t argc;
    const room_bytes *attachments; /* binary arguments, named by placeholders */
    size_t attachment_count;
} room_resume_event;
/* A detached connection handed from one node to another. Every pointer
 * is borrowed for the call it is passed to. */
typedef struct room_resume_session {
    const char *conn_id; /* the public id (ROOM_CONN_ID_LEN characters) */
    const char *const *rooms;
    size_t nrooms;
    const room_resume_event *events; /* oldest first, each once */
    size_t nevents;
} room_resume_session;
typedef int (*room_resume_take_fn)(room_hub *hub, const room_resume_session *session, void *ud);

/* The holding side of a resume request from another node: when a detached
 * connection here has `pid` and a resume from `offset` would succeed here
 * (the same conditions as a local resume), calls fn(hub, session, ud) with
 * its id, rooms and the events it missed after `offset`, decoded with the
 * hub's codec; when fn returns 0 (its answer is on its way) the detached
 * connection is freed, leaving its rooms without any handler or event (it
 * was invisible already), and 0 is returned; fn's negative code leaves it
 * detached here and is returned. ROOM_ENOTFOUND: no detached connection
 * has `pid` (recovery off too): stay silent. ROOM_EDENIED: it is here but
 * cannot be resumed from `offset` (expired or events gone: then freed, as
 * a local resume frees it; or a malformed offset): answer so, the asker
 * then opens a fresh connection. ROOM_ENOMEM, ROOM_EPROTO (a logged frame
 * the codec cannot read back): it stays detached. ROOM_EINVAL for NULL
 * arguments. fn must not call into this hub. */
ROOM_API int room_hub_resume_take(room_hub *hub, const char *pid, const char *offset,
                                  room_resume_take_fn fn, void *ud);
/* The asking side: the answer to room_adapter.resume's `ticket`. Status 0
 * with `session`: the holder handed the connection over; it becomes a
 * detached connection of this hub with the same id and pid, back in its
 * rooms (joined here: the adapter hears room_local), the missed events
 * encoded with this hub's codec and offsets and logged as its direct
 * emits; the waiting open (room_open_args.resume_wait) then resumes it
 * like a local one. A negative status (refused, timed out): the waiting
 * open becomes a fresh connection. Either way the host's resume_wait runs
 * inside this call. Returns 0; ROOM_ENOTFOUND for an unknown ticket;
 * ROOM_EINVAL; ROOM_EALREADY when the id or pid is in use here and
 * ROOM_ENOMEM (the open then goes fresh too). Not from hub callbacks. */
ROOM_API int room_hub_resume_complete(room_hub *hub, uint64_t ticket, int status,
                                      const room_resume_session *session);

/* Visits the rooms that have members on this hub (an adapter subscribing
 * again after its bus came back). The callback must not join or leave. */
ROOM_API int room_hub_rooms_foreach(room_hub *hub, room_name_visit_fn fn, void *ud);

/* Delivers a frame received from another node to this hub's members of
 * `room` (NULL: every connection) except `except_id`, without publishing it
 * again. Returns the number of deliveries or a negative code. */
ROOM_API int room_hub_deliver_remote(room_hub *hub, const char *room, int kind, const void *bytes,
                                     size_t len, const char *except_id);

#ifdef __cplusplus
}
#endif

#endif
