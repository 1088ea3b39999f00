#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "smbox";
static sm_log_level log_min = SM_LOG_INFO;
static int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "notice", "warn", "error"};

void sm_log_init(const char *prog, sm_log_level min, int fd)
{
    log_prog = prog ? prog : "smbox";
    log_min = min;
    log_fd = fd;
}

void sm_log_set_level(sm_log_level min) { log_min = min; }

const char *sm_log_level_name(sm_log_level l)
{
    return (unsigned)l <= SM_LOG_ERR ? level_names[l] : "?";
}

int sm_log_level_parse(const char *s, sm_log_level *out)
{
    for (unsigned i = 0; i <= SM_LOG_ERR; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (sm_log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *sm_log_quote(char *buf, unsigned long bufsz, const char *s)
{
    unsigned long o = 0;
    if (bufsz < 3) {
        if (bufsz)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (; s && *s && o + 3 < bufsz; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '?';
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

void sm_log(sm_log_level lvl, const char *sub, const char *event, const char *kvfmt, ...)
{
    if (lvl < log_min)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld] level=%s sub=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, log_prog, (long)getpid(), sm_log_level_name(lvl), sub, event);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (kvfmt && *kvfmt && len + 2 < sizeof line) {
        line[len++] = ' ';
        va_list ap;
        va_start(ap, kvfmt);
        int m = vsnprintf(line + len, sizeof line - len - 1, kvfmt, ap);
        va_end(ap);
        if (m > 0) {
            size_t start = len;
            len += (size_t)m < sizeof line - len - 1 ? (size_t)m : sizeof line - len - 2;
            for (size_t i = start; i < len; i++)
                if ((unsigned char)line[i] < 0x20)
                    line[i] = ' ';
        }
    }
    line[len++] = '\n';
    ssize_t w = write(log_fd, line, len);
    (void)w;
}
