/* Diagnostics: every layer formats its log lines here, for whichever host
 * callback it was given. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

void room_vlogf(room_log_fn log, void *user_data, int level, const char *fmt, va_list ap)
{
    /* Lines are short; a longer one is cut rather than allocated for. */
    char line[256];
    if (!log || !fmt)
        return;
    vsnprintf(line, sizeof line, fmt, ap);
    log(level, line, user_data);
}

void room_logf(room_log_fn log, void *user_data, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    room_vlogf(log, user_data, level, fmt, ap);
    va_end(ap);
}
