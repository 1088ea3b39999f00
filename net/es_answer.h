/* es_answer: a peer's answer to a request a procedure sent through the outbox — the synchronous
 * HTTP answer (or refusal) seen by the outbox sender, or the asynchronous ...Response callback — as
 * the step data that wakes the procedure (db_proc_wake). One record for both, so a step reads one
 * format: the request's MessageID it answers, the function, the GSMA status and the output fields. */
#ifndef SM_NET_ES_ANSWER_H
#define SM_NET_ES_ANSWER_H

#include <stdbool.h>
#include <stdint.h>

#include "db/pg.h"
#include "lib/buf.h"
#include "net/es_table.h"

#define ES_ANSWER_MAX (1u << 22) /* largest encoded record accepted */

typedef struct es_answer {
    const es_function *fn;
    char relates_to[256];  /* MessageID of the request it answers */
    int http;              /* HTTP status of a synchronous answer; 0 for an asynchronous callback */
    es_status status;
    es_value *body;        /* output fields (owned; may be NULL = none) */
} es_answer;

/* "smbox-es-answer/1" header lines, then the REST JSON form of the response message. */
sm_rc es_answer_encode(const es_answer *a, sm_buf *out, sm_err *err);
/* Strict, bounded decoding (the record is database content). */
sm_rc es_answer_decode(const uint8_t *p, size_t len, es_answer *out, sm_err *err);
void es_answer_clear(es_answer *a);

/* The procedure id in a MessageID made by a procedure: "urn:smbox:proc:<id>:<n>"; 0 when not one. */
int64_t es_answer_proc_of(const char *message_id);
/* Makes such a MessageID (also used as the FunctionCallIdentifier of the request). */
void es_answer_message_id(int64_t proc_id, int n, char *out, size_t cap);

/* Delivers an answer to its procedure, in the caller's transaction (or one of its own when none is
 * open): the answer is kept (table proc_answer) and the procedure, locked first so that a step running
 * now finishes before, is woken with it as its step data. SM_ESTATE when the procedure is not waiting:
 * it takes the answer when it next looks for it (es_answer_take), nothing is lost. */
sm_rc es_answer_wake(db_conn *c, int64_t proc_id, const es_answer *a, sm_err *err);
/* The kept answer of procedure proc_id to the request whose MessageID is relates_to (*found false when
 * none came yet); it is removed once taken, in the caller's transaction. */
sm_rc es_answer_take(db_conn *c, int64_t proc_id, const char *relates_to, es_answer *out, bool *found, sm_err *err);
/* Drops what is kept for a procedure (when it ends). */
sm_rc es_answer_forget(db_conn *c, int64_t proc_id, sm_err *err);

#endif
