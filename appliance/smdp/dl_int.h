/* dl_int: shared by the files of the download procedure (download.c and the dl_*.c steps) — one
 * step's working set, sending an ES3 request of the procedure, taking its answer, failure routing. */
#ifndef SM_SMDP_DL_INT_H
#define SM_SMDP_DL_INT_H

#include "appliance/smdp/dl_repo.h"
#include "appliance/smdp/download.h"
#include "db/proc.h"
#include "hsm/hsm.h"
#include "net/es_answer.h"

typedef struct dl_run {
    smdp_ctx *x;
    db_conn *c;
    const db_proc *p;
    db_next *nx;
    dp_dl *d;
    hsm_sess *s;
    es_answer ans;      /* the answer the step was woken with (ans.fn NULL when none) */
} dl_run;

/* Sends an ES3 request of this procedure through the outbox (MessageID and FunctionCallIdentifier
 * urn:smbox:proc:<id>:<n>, ValidityPeriod = what is left of the procedure's) to its SM-SR, and parks the
 * procedure at wait_step until the answer comes. body is consumed. */
sm_rc dl_send(dl_run *r, const char *qname, es_value *body, const char *wait_step, sm_err *err);
/* Continues at step now. */
void dl_goto(dl_run *r, const char *step);
/* The answer to the request the procedure waits for, when it came (*have); a late or foreign answer
 * that woke the procedure is not it (the procedure then waits on). */
sm_rc dl_take_answer(dl_run *r, bool *have, sm_err *err);
/* The download failed with st: error management first when an ISD-P may exist on the card, then the
 * final answer. */
sm_rc dl_failed(dl_run *r, const es_status *st, sm_err *err);
/* A failure of our own (card answer, verification): Failed subject/reason with a message. */
sm_rc dl_failf(dl_run *r, const char *subject, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The answer's status as the final status of a failed exchange (Expired stays Expired). */
void dl_status_of_answer(const es_answer *a, es_status *st);
/* The remaining validity in seconds (at least 1), for ES3 requests. */
long dl_validity_left(const db_proc *p);

/* The steps (dl_prepare.c, dl_keyest.c, dl_load.c, dl_finish.c). */
sm_rc dl_reserve(dl_run *r, sm_err *err);
sm_rc dl_eis(dl_run *r, sm_err *err);
sm_rc dl_cleaned(dl_run *r, sm_err *err);
sm_rc dl_isdp(dl_run *r, sm_err *err);
sm_rc dl_ke_start(dl_run *r, sm_err *err);
sm_rc dl_ke_rc(dl_run *r, sm_err *err);
sm_rc dl_ke_receipt(dl_run *r, sm_err *err);
sm_rc dl_load(dl_run *r, sm_err *err);
sm_rc dl_completed(dl_run *r, sm_err *err);
sm_rc dl_enabled(dl_run *r, sm_err *err);
sm_rc dl_cleanup_done(dl_run *r, sm_err *err);
sm_rc dl_respond(dl_run *r, sm_err *err);
/* Sends ES3.CreateISDP (dl_prepare.c, also after the clean-up). */
sm_rc dl_create_isdp(dl_run *r, sm_err *err);
/* Error management: ES3.DeleteISDP of the download's ISD-P (dl_finish.c). */
sm_rc dl_delete_isdp(dl_run *r, const char *iccid, const char *wait_step, sm_err *err);
/* Ends a download that the engine ends (expired, failed): stock, order, final answer, clean-up. */
sm_rc dl_end(smdp_ctx *x, db_conn *c, const db_proc *p, bool expired, const char *why, sm_err *err);
/* Ephemeral keys of key establishments in flight in this process (dl_keyest.c). */
void dl_eph_forget(hsm_sess *s, int64_t proc_id);
/* Builds the SCP03t session of the download (keys in the HSM) and sends its first part (dl_load.c). */
sm_rc dl_script_start(dl_run *r, const hsm_key *kenc, const hsm_key *kmac, sm_err *err);

/* fail_status text <-> es_status */
void dl_status_put(char *out, size_t cap, const es_status *st);
void dl_status_get(const char *in, es_status *st);

#endif
