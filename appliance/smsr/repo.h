/* repo: the SM-SR's own rows beside the EIS repository (db/eis_repo.h) — EUM certificates, eUICC
 * owner and SM-SR SMS address, the batch import log, the running procedures' context (smsr_op) —
 * and savepoints for work that must fail alone inside a larger transaction. Migration 0010. */
#ifndef SM_SMSR_REPO_H
#define SM_SMSR_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pg.h"

/* ---- savepoints (inside the caller's transaction) -------------------------------------------- */
sm_rc smsr_sp_begin(db_conn *c, sm_err *err);
sm_rc smsr_sp_release(db_conn *c, sm_err *err);
/* Rolls back to the savepoint and releases it; the transaction is usable again. */
void smsr_sp_rollback(db_conn *c);

/* ---- EUMs ----------------------------------------------------------------------------------- */
typedef struct smsr_eum {
    char eum_id[65];
    uint8_t *cert;            /* X.509 DER, issued by the CI (malloc'd) */
    size_t cert_len;
    char tk_id[41];           /* default transport-key id, "" = none */
} smsr_eum;

sm_rc smsr_eum_get(db_conn *c, const char *eum_id, smsr_eum *out, sm_err *err); /* SM_ENOTFOUND */
/* Creates or replaces an EUM's certificate (and default tk id, NULL keeps it); audited. */
sm_rc smsr_eum_put(db_conn *c, const char *actor, const char *eum_id, const uint8_t *cert, size_t len,
                   const char *tk_id, sm_err *err);
void smsr_eum_clear(smsr_eum *e);

/* ---- eUICC extras ----------------------------------------------------------------------------- */
sm_rc smsr_euicc_set_smsr_sms(db_conn *c, const char *eid, const char *smsr_sms, sm_err *err);
/* The eUICC owner (an M2M SP's id, NULL = none); history and audit entry. */
sm_rc smsr_euicc_set_owner(db_conn *c, const char *actor, const char *eid, const char *owner, sm_err *err);
/* owner[65] gets "" when none. SM_ENOTFOUND for an unknown eUICC. */
sm_rc smsr_euicc_owner(db_conn *c, const char *eid, char *owner, size_t cap, sm_err *err);

/* ---- batch log ------------------------------------------------------------------------------ */
typedef struct smsr_batch_log {
    uint8_t sha256[32];
    const char *eum_id, *tk_id, *actor;
    int records, imported, unchanged, rejected;
} smsr_batch_log;
sm_rc smsr_batch_logged(db_conn *c, const uint8_t sha256[32], char *when, size_t cap, bool *seen, sm_err *err);
sm_rc smsr_batch_log_add(db_conn *c, const smsr_batch_log *l, sm_err *err);

/* ---- procedure context (smsr_op) --------------------------------------------------------------- */
typedef struct smsr_oprow {
    int64_t proc_id;
    char eid[33];
    char op[16];
    char iccid[21];
    uint8_t *ctx;             /* malloc'd */
    size_t ctx_len;
    int64_t es5_req;          /* 0 = none */
    int notif_type;           /* -1 = none received */
    uint8_t notif_aid[16];
    size_t notif_aid_len;
} smsr_oprow;

sm_rc smsr_op_put(db_conn *c, int64_t proc_id, const char *eid, const char *op, const char *iccid,
                  const uint8_t *ctx, size_t len, sm_err *err);
/* lock: FOR UPDATE (serialises with a notification recording into it). SM_ENOTFOUND when absent. */
sm_rc smsr_op_get(db_conn *c, int64_t proc_id, bool lock, smsr_oprow *out, sm_err *err);
sm_rc smsr_op_set_es5(db_conn *c, int64_t proc_id, int64_t req_id, sm_err *err);
sm_rc smsr_op_note(db_conn *c, int64_t proc_id, int type, const uint8_t *aid, size_t aid_len, sm_err *err);
sm_rc smsr_op_del(db_conn *c, int64_t proc_id, sm_err *err);
/* The oldest running profile switch (Enable / Disable) of an eUICC, locked; *proc_id 0 when none. */
sm_rc smsr_op_switch_pending(db_conn *c, const char *eid, int64_t *proc_id, sm_err *err);
/* Whether a profile switch older than proc_id is still running on the eUICC. */
sm_rc smsr_op_switch_before(db_conn *c, const char *eid, int64_t proc_id, bool *older, sm_err *err);
/* Whether a Cleanup procedure of the eUICC (deleting an ISD-P a failed CreateISDP may have left) has not
 * ended yet: a CreateISDP waits for it, since the AID it would be given may be the one being deleted. */
sm_rc smsr_op_cleanup_pending(db_conn *c, const char *eid, bool *pending, sm_err *err);
void smsr_oprow_clear(smsr_oprow *r);

#endif
