/* roomd's log lines (log.h): "2026-11-30T09:44:18.123Z info listening on
 * 127.0.0.1:3000", or {"time":"...","level":"info","msg":"..."}. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "room/room.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static int log_level = ROOM_LOG_INFO;
static int log_format = ROOMD_LOG_TEXT;

/* Refusals: this second's count, and those left out since the last line. */
static time_t refusal_second;
static unsigned refusals, refusals_dropped;

void roomd_log_setup(int level, int format)
{
    log_level = level;
    log_format = format;
}

/* A JSON string's content: quotes, backslashes and control bytes escaped,
 * the rest as it is. */
static void json_escaped(const char *s, FILE *out)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
}

static void write_line(int level, const char *message)
{
    struct timespec ts;
    struct tm tm;
    char when[40];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    if (log_format == ROOMD_LOG_JSON) {
        fprintf(stderr, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", when, ts.tv_nsec / 1000000,
                level_names[level]);
        json_escaped(message, stderr);
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s.%03ldZ %s %s\n", when, ts.tv_nsec / 1000000, level_names[level], message);
    }
    /* stderr is unbuffered, but a redirected one may not be: a line is
     * whole when it leaves. */
    fflush(stderr);
}

void roomd_log_line(int level, const char *message, void *user_data)
{
    (void)user_data;
    if (level >= 0 && level <= ROOM_LOG_DEBUG && level <= log_level && message)
        write_line(level, message);
}

static void vlog(int level, bool always, const char *fmt, va_list ap)
{
    char line[512];
    if (!always && level > log_level)
        return;
    vsnprintf(line, sizeof line, fmt, ap);
    write_line(level, line);
}

void roomd_logf(int level, const char *fmt, ...)
{
    va_list ap;
    if (level < 0 || level > ROOM_LOG_DEBUG)
        return;
    va_start(ap, fmt);
    vlog(level, false, fmt, ap);
    va_end(ap);
}

void roomd_log_notice(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(ROOM_LOG_INFO, true, fmt, ap);
    va_end(ap);
}

void roomd_log_refused(const char *what, const char *peer, const char *why)
{
    time_t now = time(NULL);
    if (now != refusal_second) {
        refusal_second = now;
        refusals = 0;
    }
    if (++refusals > ROOMD_LOG_REFUSALS_PER_S) {
        refusals_dropped++;
        return;
    }
    if (refusals_dropped) {
        roomd_logf(ROOM_LOG_WARN, "%s refused (%s): %s (and %u refusals not logged before it)", what,
                   peer && peer[0] ? peer : "?", why, refusals_dropped);
        refusals_dropped = 0;
    } else {
        roomd_logf(ROOM_LOG_WARN, "%s refused (%s): %s", what, peer && peer[0] ? peer : "?", why);
    }
}
