/* Diagnostics: every layer formats its log lines here, for whichever host
 * callback it was given. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

void room_logf(room_log_fn log, void *user_data, int level, const char *fmt, ...)
{
    /* Lines are short; a longer one is cut rather than allocated for. */
    char line[256];
    va_list ap;
    if (!log || !fmt)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log(level, line, user_data);
}
