/* eis_repo: the SM-SR's eUICC Information Sets: eUICCs, their ISD-P/profile entries, ISD-R key sets
 * (key values only as HSM-wrapped blobs) and the EIS change history. Every change records who asked
 * in eis_history and in the audit trail, in the caller's transaction. */
#ifndef SM_DB_EIS_REPO_H
#define SM_DB_EIS_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pg.h"

#define DB_OID_MAX 64

typedef struct db_aid {
    uint8_t b[16];
    size_t len;  /* 0 = absent */
} db_aid;

typedef struct db_euicc {
    char eid[33];                /* 32 hex digits, upper case */
    char eum_id[DB_OID_MAX + 1];
    char production_date[32];    /* xs:dateTime ("2024-05-01T10:00:00Z"), "" = absent */
    char platform_type[101];
    char platform_version[32];
    char rsp_version[32];        /* RemoteProvisioningVersion */
    db_aid isdp_loadfile_aid, isdp_module_aid, ecasd_aid;
    uint8_t *ecasd_cert;         /* CERT.ECASD.ECKA (7F21 TLV); malloc'd by db_eis_get */
    size_t ecasd_cert_len;
    int caps;                    /* DB_CAP_* */
    char cattp_version[16], http_version[16], secure_packet_version[16];
    int64_t remaining_memory, available_memory;
    char last_audit[32];         /* "" = never */
    char smsr_id[DB_OID_MAX + 1];
    db_aid isdr_aid, isdr_tar, isdr_sin, isdr_sdin;
    uint8_t *eum_signed;         /* EumSignedInfo + EumSignature verbatim; malloc'd by db_eis_get */
    size_t eum_signed_len;
    char state[20];              /* active | change-prepared | changing | handed-over */
    int notif_seq;               /* last default notification processed (-1 = none) */
    int64_t version;
} db_euicc;

enum { DB_CAP_CATTP = 1, DB_CAP_HTTPS = 2 };

/* POL2 rule bits (Subject PROFILE). */
enum {
    DB_POL2_ENABLE_NOT_ALLOWED = 1,
    DB_POL2_DISABLE_NOT_ALLOWED = 2,
    DB_POL2_DELETE_NOT_ALLOWED = 4,
    DB_POL2_DISABLE_AUTO_DELETE = 8,
};

typedef struct db_profile {
    char iccid[21];
    char eid[33];
    db_aid isdp_aid;
    char mno_id[DB_OID_MAX + 1];
    char state[12];              /* creating | Created | Disabled | Enabled */
    bool fallback;
    bool emergency;
    char imsi[16];               /* "" = absent */
    char msisdn[16];
    int pol2;                    /* DB_POL2_* */
    char smdp_id[DB_OID_MAX + 1];
    char profile_type[101];
    int64_t allocated_memory;
    int64_t free_memory;         /* -1 = unknown */
    int64_t version;
} db_profile;

/* ---- eUICCs ------------------------------------------------------------------------------------- */

/* ES1.RegisterEIS: the eUICC and its pre-loaded profiles. SM_EEXIST when the EID is registered. */
sm_rc db_eis_register(db_conn *c, const char *actor, const db_euicc *e, const db_profile *profiles, size_t n,
                      sm_err *err);
/* Bulk registration (EUM batches, migrations from another SM-SR) through COPY, inside the caller's
 * transaction: begin, add each eUICC (or profile), end. The eUICC end writes each one's history row
 * and one audit entry with the count; a bad row fails the whole COPY. Profiles are loaded in a second
 * COPY after their eUICCs. */
sm_rc db_eis_bulk_begin(db_conn *c, sm_err *err);
sm_rc db_eis_bulk_add(db_conn *c, const db_euicc *e, sm_err *err);
sm_rc db_eis_bulk_end(db_conn *c, const char *actor, long *n, sm_err *err);
sm_rc db_profile_bulk_begin(db_conn *c, sm_err *err);
sm_rc db_profile_bulk_add(db_conn *c, const db_profile *p, sm_err *err);
sm_rc db_profile_bulk_end(db_conn *c, const char *actor, long *n, sm_err *err);

/* GetEIS by EID. SM_ENOTFOUND when unknown. Free with db_euicc_clear. */
sm_rc db_eis_get(db_conn *c, const char *eid, db_euicc *out, sm_err *err);
/* Same, locking the eUICC row until the transaction ends (one operation at a time per eUICC). */
sm_rc db_eis_lock(db_conn *c, const char *eid, db_euicc *out, sm_err *err);
void db_euicc_clear(db_euicc *e);
/* The eUICC's profiles, by ISD-P AID; hidden "creating" entries only when asked. Free with free(). */
sm_rc db_eis_profiles(db_conn *c, const char *eid, bool include_creating, db_profile **out, size_t *n, sm_err *err);

/* State of the eUICC record (SM-SR change); from NULL = any. SM_ESTATE when not in `from`. */
sm_rc db_eis_set_state(db_conn *c, const char *actor, const char *eid, const char *from, const char *to, sm_err *err);
/* Memory figures from an audit or a profile change; audited stamps LastAuditDate. */
sm_rc db_eis_set_memory(db_conn *c, const char *actor, const char *eid, int64_t remaining, bool audited, sm_err *err);
/* Records a default notification's sequence number; *duplicate when it was the last one processed. */
sm_rc db_eis_note_notification(db_conn *c, const char *eid, int seq, bool *duplicate, sm_err *err);
/* Removes the EIS (after a completed handover to another SM-SR). */
sm_rc db_eis_delete(db_conn *c, const char *actor, const char *eid, sm_err *err);

/* An EIS history record without another change (a notification received, an audit performed). op_type
 * is the EIS AuditTrail OperationType ("0500"), or NULL. */
sm_rc db_eis_record(db_conn *c, const char *actor, const char *eid, const char *iccid, const char *action,
                    const char *op_type, const char *detail, sm_err *err);

typedef struct db_eis_change {
    int64_t id;
    char at[32];
    char iccid[21];
    char actor[128];
    char action[48];
    char op_type[5];
    char detail[200];
} db_eis_change;
/* The newest `max` history records of an eUICC, newest first. Free with free(). */
sm_rc db_eis_history(db_conn *c, const char *eid, int max, db_eis_change **out, size_t *n, sm_err *err);

/* ---- profiles (ISD-Ps) ---------------------------------------------------------------------------- */

/* CreateISDP: a new entry (normally state "creating"). SM_EEXIST if the ICCID is in use. */
sm_rc db_profile_add(db_conn *c, const char *actor, const db_profile *p, sm_err *err);
sm_rc db_profile_get(db_conn *c, const char *iccid, db_profile *out, sm_err *err);
/* MO SMS routing: the profile holding an MSISDN. */
sm_rc db_profile_by_msisdn(db_conn *c, const char *msisdn, db_profile *out, sm_err *err);
/* State transition from `from` (NULL = any) to `to`, with the EIS AuditTrail op_type. SM_ESTATE when the
 * profile is not in `from`; SM_EEXIST when it would make a second Enabled profile on the eUICC. */
sm_rc db_profile_set_state(db_conn *c, const char *actor, const char *iccid, const char *from, const char *to,
                           const char *op_type, sm_err *err);
/* ProfileDownloadCompleted: Created -> Disabled with type, subscription address and POL2. */
sm_rc db_profile_completed(db_conn *c, const char *actor, const char *iccid, const char *profile_type,
                           const char *imsi, const char *msisdn, int pol2, sm_err *err);
/* Moves the fall-back attribute to this profile (cleared on the eUICC's others). */
sm_rc db_profile_set_fallback(db_conn *c, const char *actor, const char *iccid, sm_err *err);
sm_rc db_profile_set_address(db_conn *c, const char *actor, const char *iccid, const char *imsi, const char *msisdn,
                             sm_err *err);
sm_rc db_profile_set_pol2(db_conn *c, const char *actor, const char *iccid, int pol2, sm_err *err);
/* Removes the entry (ISD-P deleted). Deleting an absent one is SM_ENOTFOUND (callers treating a double
 * deletion as success check for it). */
sm_rc db_profile_delete(db_conn *c, const char *actor, const char *iccid, const char *op_type, sm_err *err);

/* ---- key sets (wrapped only) ----------------------------------------------------------------------- */

typedef struct db_key {
    int index;                   /* 0..127 */
    int key_type;                /* GP key type, 0x88 = AES */
    uint8_t wrapped[128];        /* hsm_wrap output under the KEK (RFC 5649: multiple of 8, >= 24 bytes) */
    size_t wrapped_len;
    uint8_t kcv[8];
    size_t kcv_len;
    char kek_label[65];
} db_key;

typedef struct db_keyset {
    int kvn;                     /* 1..127 */
    char sd[16];                 /* "ISD-R" */
    char type[24];               /* SCP80 | SCP81 | SCP03 | ... */
    int64_t counter;
    db_key keys[8];
    size_t nkeys;
} db_keyset;

/* Stores (replaces) a key set. Refuses blobs that cannot be wrapped keys. */
sm_rc db_keyset_put(db_conn *c, const char *actor, const char *eid, const db_keyset *ks, sm_err *err);
sm_rc db_keyset_get(db_conn *c, const char *eid, int kvn, db_keyset *out, sm_err *err);
/* The key set versions of an eUICC. Free with free(). */
sm_rc db_keyset_list(db_conn *c, const char *eid, int **kvns, size_t *n, sm_err *err);
/* Next SCP80 counter value: strictly increasing and atomic across nodes (UPDATE ... RETURNING). */
sm_rc db_keyset_next_counter(db_conn *c, const char *eid, int kvn, int64_t *counter, sm_err *err);
sm_rc db_keyset_delete(db_conn *c, const char *actor, const char *eid, int kvn, sm_err *err);

#endif
