/* status: the GSMA function execution status (Executed-Success / WithWarning / Failed / Expired with
 * subject and reason codes, SGP.02 §5.1.6 / functions.md §3) and its mapping to HTTP statuses. */
#ifndef SM_NET_STATUS_H
#define SM_NET_STATUS_H

#include <stdbool.h>

typedef enum es_exec {
    ES_EXEC_SUCCESS = 0,
    ES_EXEC_WARNING,
    ES_EXEC_FAILED,
    ES_EXEC_EXPIRED,
} es_exec;

/* Subject codes (functions.md §3.1). */
#define ES_SUBJ_GENERIC "1"
#define ES_SUBJ_REQUESTER "1.1"
#define ES_SUBJ_PROVIDER "1.2"
#define ES_SUBJ_VALIDITY "1.2.1"
#define ES_SUBJ_FUNCTION "1.6"
#define ES_SUBJ_EUICC "8.1"
#define ES_SUBJ_EID "8.1.1"
#define ES_SUBJ_PROFILE "8.2"
#define ES_SUBJ_ICCID "8.2.1"
#define ES_SUBJ_EIS "8.6"
#define ES_SUBJ_SMSR "8.7"
/* Reason codes (functions.md §3.2). */
#define ES_RSN_UNKNOWN "1.1"
#define ES_RSN_NOT_ALLOWED "1.2"
#define ES_RSN_INVALID "2.1"
#define ES_RSN_MANDATORY_MISSING "2.2"
#define ES_RSN_CONDITIONAL_MISSING "2.3"
#define ES_RSN_UNSUPPORTED "3.1" /* "Unsupported": SGP.22 family, number not confirmed for SGP.02 */
#define ES_RSN_SIZE_EXCEEDED "3.2"
#define ES_RSN_ALREADY_IN_USE "3.3"
#define ES_RSN_REFUSED "3.8"
#define ES_RSN_UNKNOWN_OBJ "3.9"
#define ES_RSN_EXEC_ERROR "4.2"
#define ES_RSN_BUSY "4.4"
#define ES_RSN_TTL_EXPIRED "5.3"
#define ES_RSN_NO_RESPONSE "5.4"

typedef struct es_status {
    es_exec exec;
    char subject[24];     /* empty when exec is SUCCESS */
    char reason[24];
    char subject_id[128]; /* SubjectIdentifier, optional */
    char message[256];    /* Message, optional; never secrets */
} es_status;

void es_status_ok(es_status *st);
/* Sets exec, subject, reason and a printf-style message (NULL fmt: none). */
void es_status_set(es_status *st, es_exec exec, const char *subject, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define es_status_fail(st, subj, rsn, ...) es_status_set((st), ES_EXEC_FAILED, (subj), (rsn), __VA_ARGS__)

/* XML value of Status ("EXECUTED_SUCCESS") and the spec name ("Executed-Success"). */
const char *es_exec_wire(es_exec e);
const char *es_exec_name(es_exec e);
/* Accepts both spellings; false if neither. */
bool es_exec_parse(const char *s, es_exec *out);
/* True for "digits(.digits)*" (ObjectIdentifierType). */
bool es_oid_valid(const char *s);

/* HTTP status the REST binding answers with for a final status: 200 for every function outcome;
 * 4xx/5xx for protocol-level failures (requester 1.1 -> 403, format 1.6/2.x -> 400, unsupported
 * 1.6/3.1 -> 501, busy 1.2/4.4 -> 503, provider error 1.2/4.2 -> 500). */
int es_status_http(const es_status *st);

#endif
