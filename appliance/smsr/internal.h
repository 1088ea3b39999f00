/* internal: what the SM-SR's files share — GSMA status codes beyond net/status.h, the procedure
 * kinds, answering and notifying peers through the ES server (the durable outbox), the filtered EIS
 * as an ES value, POL2 coding, and the per-call checks common to ES3 and ES4. */
#ifndef SM_SMSR_INTERNAL_H
#define SM_SMSR_INTERNAL_H

#include <stdbool.h>

#include "appliance/smsr/opctx.h"
#include "appliance/smsr/smsr.h"
#include "appliance/workers.h"
#include "db/eis_repo.h"
#include "net/es_value.h"
#include "net/status.h"

/* subject and reason codes (functions.md §3) not in net/status.h */
#define SMSR_SUBJ_POL1 "8.2.2"
#define SMSR_SUBJ_POL2 "8.2.3"
#define SMSR_SUBJ_SUBADDR "8.2.6"
#define SMSR_SUBJ_ISDP "8.3"
#define SMSR_SUBJ_SDAID "8.3.1"
#define SMSR_SUBJ_ISDR "8.4"
#define SMSR_SUBJ_ECASD_CERT "8.5.2"
#define SMSR_RSN_INVALID_DEST "3.4"
#define SMSR_RSN_NO_MEMORY "4.8"
#define SMSR_RSN_VERIFY "6.1"
#define SMSR_RSN_DECRYPT "6.2"
#define SMSR_RSN_CERT_EXPIRED "6.3"

/* procedure kinds */
#define SMSR_K_CREATEISDP "smsr.CreateISDP"
#define SMSR_K_SENDDATA "smsr.SendData"
#define SMSR_K_PROFILEOP "smsr.ProfileOp"
#define SMSR_K_AUDIT "smsr.AuditEIS"

/* The worker running on connection c (the engine's or the ES layer's), or a stand-in holding c. */
sm_worker *smsr_worker(db_conn *c, sm_worker *tmp);

/* ---- answering and notifying (through the ES server's outbox, in the caller's transaction) ---- */

/* The asynchronous answer of a procedure's call, when one is owed. No ES server: logged, not sent. */
sm_rc smsr_reply(const smsr_ctx *x, db_conn *c, const smsr_opctx *o, const es_status *st, const es_value *out,
                 sm_err *err);

typedef enum smsr_event { SMSR_EV_ENABLED = 1, SMSR_EV_DISABLED, SMSR_EV_DELETED } smsr_event;

/* Tells the parties interested in a profile that its state changed: its MNO (ES4), the SM-DP that
 * installed it (ES3, with the MNO's id) and the eUICC owner (ES4) — except `skip`, the requester who
 * asked for the change (it gets the function's response instead). Peers without an endpoint are
 * logged and skipped; every message goes through the outbox (at least once). */
sm_rc smsr_fanout(const smsr_ctx *x, db_conn *c, const db_profile *p, smsr_event ev, const char *skip, sm_err *err);

/* ---- EIS as an ES value ------------------------------------------------------------------------ */

typedef enum smsr_view {
    SMSR_VIEW_SMDP = 1,   /* ES3: eUICC data incl. ECASD certificate; the profiles this SM-DP installed */
    SMSR_VIEW_MNO,        /* ES4 MNO: eUICC data without ECASD/AIDs; the MNO's own profiles */
    SMSR_VIEW_OWNER,      /* ES4 eUICC owner (M2M SP): eUICC data; every profile, without POL2 */
} smsr_view;

/* Adds "Eis" to parent: the eUICC's EIS filtered for the view (eis.md §4). only/nonly, when set,
 * restrict the profiles further (AuditEIS with listed ICCIDs). */
sm_rc smsr_eis_value(db_conn *c, const char *eid, smsr_view v, const char *caller, const char *const *only,
                     size_t nonly, es_value *parent, sm_err *err);

/* POL2 rules <-> DB_POL2_* bits. False (and *st filled, 8.2.3/2.1) for a rule smbox cannot enforce. */
bool smsr_pol2_decode(const es_value *pol2, int *bits, es_status *st);
void smsr_pol2_encode(int bits, es_value *parent);

/* ---- the callers of ES3 and ES4 --------------------------------------------------------------------- */

typedef struct smsr_caller {
    const char *id;
    es_role role;
    es_iface iface;
} smsr_caller;

/* Whether the caller may act on the profile: ES3, the SM-DP that installed it; ES4, its MNO, or the
 * M2M SP that owns the eUICC (standing in for the MNO's PLMA, which smbox does not implement). */
bool smsr_may_manage(db_conn *c, const smsr_caller *who, const db_profile *p);

/* Fills *e (locked FOR UPDATE when lock) or st: 8.1.1/3.9 unknown EID; 1.2/4.4 during an SM-SR change. */
bool smsr_get_euicc(db_conn *c, const char *eid, bool lock, db_euicc *e, es_status *st);
/* Profile iccid on eUICC eid, which the caller manages: 8.2.1/3.9 unknown, 8.2.1/3.4 on another eUICC,
 * 8.2.1/1.2 not the caller's. */
bool smsr_get_profile(db_conn *c, const smsr_caller *who, const char *eid, const char *iccid, db_profile *p,
                      es_status *st);

/* Starts a procedure for a deferred ES call: the proc row, its context, the call left deferred. */
sm_rc smsr_start(const smsr_ctx *x, db_conn *c, es_call *call, const char *kind, smsr_opctx *o, const char *eid,
                 const uint8_t *data, size_t len, int64_t *proc_id, sm_err *err);
/* Same for the SM-SR's own operations (POL2 auto-delete): no call, no answer. */
sm_rc smsr_start_internal(const smsr_ctx *x, db_conn *c, const char *kind, smsr_opctx *o, const char *eid,
                          int64_t *proc_id, sm_err *err);

/* ES handler bodies shared by ES3 and ES4 (the binding files only map the interface to a caller). */
void smsr_h_geteis(es_call *call, const smsr_ctx *x, smsr_view v);
void smsr_h_profile_op(es_call *call, const smsr_ctx *x, const char *op);
void smsr_h_audit(es_call *call, const smsr_ctx *x, smsr_view v);
void smsr_h_update_pol2(es_call *call, const smsr_ctx *x);
void smsr_h_update_subaddr(es_call *call, const smsr_ctx *x);
/* ES3 only */
void smsr_h_createisdp(es_call *call, const smsr_ctx *x);
void smsr_h_senddata(es_call *call, const smsr_ctx *x); /* also UpdateConnectivityParameters */
void smsr_h_download_completed(es_call *call, const smsr_ctx *x);
/* ES1 (es1.c): RegisterEIS and the batch upload */
void smsr_h_register_eis(es_call *call, const smsr_ctx *x);
void smsr_h_import_batch(es_call *call, const smsr_ctx *x);

/* db connection and HSM session of the worker running an ES call; NULL when the daemon has no
 * database (the call then fails 1.2/4.2). */
db_conn *smsr_call_db(es_call *call);

/* The ISD-P AID as the ES schema writes it (hex, upper case). */
void smsr_aid_hex(const db_aid *a, char *out, size_t cap);
bool smsr_aid_parse(const char *hex, db_aid *out);

#endif
