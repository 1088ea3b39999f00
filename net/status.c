/* GSMA execution status helpers. */
#include "net/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void es_status_ok(es_status *st)
{
    memset(st, 0, sizeof *st);
    st->exec = ES_EXEC_SUCCESS;
}

/* a truncated message must not end in the middle of a UTF-8 sequence */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < need)
        s[i - 1] = 0;
}

void es_status_set(es_status *st, es_exec exec, const char *subject, const char *reason, const char *fmt, ...)
{
    memset(st, 0, sizeof *st);
    st->exec = exec;
    snprintf(st->subject, sizeof st->subject, "%s", subject ? subject : "");
    snprintf(st->reason, sizeof st->reason, "%s", reason ? reason : "");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->message, sizeof st->message, fmt, ap);
        va_end(ap);
        utf8_trim(st->message);
    }
}

static const struct {
    const char *wire, *name;
} exec_names[] = {
    {"EXECUTED_SUCCESS", "Executed-Success"},
    {"EXECUTED_WITHWARNING", "Executed-WithWarning"},
    {"FAILED", "Failed"},
    {"EXPIRED", "Expired"},
};

const char *es_exec_wire(es_exec e) { return (unsigned)e < 4 ? exec_names[e].wire : "FAILED"; }
const char *es_exec_name(es_exec e) { return (unsigned)e < 4 ? exec_names[e].name : "Failed"; }

bool es_exec_parse(const char *s, es_exec *out)
{
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, exec_names[i].wire) || !strcasecmp(s, exec_names[i].name)) {
            *out = (es_exec)i;
            return true;
        }
    return false;
}

bool es_oid_valid(const char *s)
{
    if (!s || !*s)
        return false;
    int digits = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9')
            digits++;
        else if (*s == '.' && digits)
            digits = 0;
        else
            return false;
    }
    return digits > 0;
}

int es_status_http(const es_status *st)
{
    if (st->exec != ES_EXEC_FAILED)
        return 200;
    if (!strcmp(st->subject, ES_SUBJ_REQUESTER))
        return 403;
    if (!strcmp(st->subject, ES_SUBJ_FUNCTION) && !strncmp(st->reason, "2.", 2))
        return 400;
    if (!strcmp(st->subject, ES_SUBJ_FUNCTION) && !strcmp(st->reason, ES_RSN_UNSUPPORTED))
        return 501;
    if (!strcmp(st->subject, ES_SUBJ_PROVIDER) && !strcmp(st->reason, ES_RSN_BUSY))
        return 503;
    if (!strcmp(st->subject, ES_SUBJ_PROVIDER) && !strcmp(st->reason, ES_RSN_EXEC_ERROR))
        return 500;
    return 200;
}
