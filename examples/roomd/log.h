/* roomd's log: one line per event that matters (listening, a refused
 * connection and why, a slow consumer closed, shutdown; with --verbose each
 * connection's open and close), never one per message. Lines go to stderr,
 * each with a UTC timestamp and a level, as text or as JSON objects
 * (--log-format json). One thread: the loop's. */
#ifndef ROOMD_LOG_H
#define ROOMD_LOG_H

#include <stdbool.h>

enum { ROOMD_LOG_TEXT, ROOMD_LOG_JSON };

/* Lines above `level` (ROOM_LOG_*) are dropped. */
void roomd_log_setup(int level, int format);
/* The libraries' logger (room_log_fn); user_data unused. */
void roomd_log_line(int level, const char *message, void *user_data);
void roomd_logf(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* An info line written whatever the level (--quiet too): listening, shutdown. */
void roomd_log_notice(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* A refused connection (`peer` may be NULL): a warning, at most
 * ROOMD_LOG_REFUSALS_PER_S a second; the next line written says how many
 * were left out, so that a flood of bad clients is not a flood of lines. */
#define ROOMD_LOG_REFUSALS_PER_S 10
void roomd_log_refused(const char *what, const char *peer, const char *why);

#endif
