/* smsr: the SM-SR logic of smbox — eUICC registration (ES1 and EUM batch files), ES3 for the SM-DP,
 * ES4 for MNOs and M2M SPs, eUICC notifications, all as durable procedures over ES5 (docs/sm-sr.md).
 * This header is the module's contract with the daemon, smctl and the tests: its context. */
#ifndef SM_SMSR_H
#define SM_SMSR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appliance/es5/es5.h"
#include "appliance/config.h"
#include "db/pg.h"
#include "db/proc.h"
#include "hsm/hsm.h"
#include "net/es_server.h"

#define SMSR_MAX_CI 4

/* ES5 as the SM-SR logic reaches it (appliance/es5 in the daemon, a fake in unit tests). */
typedef struct smsr_es5_ops {
    sm_rc (*submit)(db_conn *c, const es5_request *r, int64_t *req_id, sm_err *err);
    sm_rc (*cancel)(db_conn *c, int64_t req_id, sm_err *err);
    void (*kick)(void *arg);          /* a request was queued: deliver soon (may be NULL) */
    void *kick_arg;
} smsr_es5_ops;

typedef struct smsr_ctx {
    char smsr_id[65];                 /* our GSMA identifier (gsma.smsr_id) */
    char kek_label[HSM_LABEL_MAX + 1]; /* <prefix>-kek: wraps every per-eUICC key stored */
    char key_prefix[48];              /* transport keys are <prefix>-tk-<tk-id> */
    uint8_t *ci[SMSR_MAX_CI];         /* trusted CI certificates (DER), gsma.ci_cert_file */
    size_t ci_len[SMSR_MAX_CI];
    size_t nci;
    char ci_note[300];                /* why nci is 0 */
    es_server *srv;                   /* asynchronous answers and notifications (NULL: none sent) */
    smsr_es5_ops es5;
    void (*kick)(void *arg);          /* a procedure was created or woken: run the engine soon */
    void *kick_arg;
    es5_channel platform_channel;     /* ISD-R platform commands (enable, disable, delete) */
    long default_validity_s;          /* procedures whose call named no ValidityPeriod */
    void *bound;                      /* the handlers' arguments (smsr_bind) */
} smsr_ctx;

/* Fills a context from the configuration: identifiers, key labels, the CI certificate file (PEM or
 * DER, up to SMSR_MAX_CI certificates; a file that does not exist leaves none, and every registration is
 * then refused, saying why). srv, es5 and kick are left for the caller. */
sm_rc smsr_ctx_init(smsr_ctx *x, const sm_config *cfg, sm_err *err);
/* Same with explicit values (tests, smctl). ci_file may be NULL (no CI: every chain check fails). */
sm_rc smsr_ctx_init2(smsr_ctx *x, const char *smsr_id, const char *key_prefix, const char *ci_file, sm_err *err);
void smsr_ctx_free(smsr_ctx *x);

/* Registers the SM-SR procedure kinds on an engine (the procedures use x, which must outlive e). */
sm_rc smsr_register_kinds(smsr_ctx *x, db_engine *e, sm_err *err);
/* Binds the ES1, ES3 and ES4 handlers of the SM-SR on an ES server (sets x->srv). */
sm_rc smsr_bind(smsr_ctx *x, es_server *srv, sm_err *err);
/* Runs the SM-SR handler of call->fn as a bound handler would (tests drive decoded calls with it).
 * SM_ENOTFOUND when the SM-SR serves no such function. */
sm_rc smsr_dispatch(const smsr_ctx *x, es_call *call);
/* The eUICC notification handler (es5_notification_fn; arg is the smsr_ctx). */
sm_rc smsr_on_notification(db_conn *c, const es5_notification *n, void *arg, sm_err *err);

#endif
