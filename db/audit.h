/* audit: the tamper-evident audit trail. Every security-relevant event is appended, inside the
 * caller's transaction, to a SHA-256 hash chain (one chain per connection lane, its head row locked
 * FOR UPDATE by the append); checkpoints signed by the HSM audit key fix all chain heads. Verifying
 * needs no HSM, and an exported bundle verifies with neither HSM nor database (docs/audit.md).
 *
 * Never put secrets (keys, PINs, passwords, Ki/OPc) in any field: the trail is readable by auditors.
 */
#ifndef SM_DB_AUDIT_H
#define SM_DB_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "db/pg.h"
#include "hsm/hsm.h"

#define DB_AUDIT_HASHLEN 32

/* Appends one entry to the connection's chain. Inside an open transaction it is part of it (if the
 * action rolls back, so does its entry; if the entry cannot be written the caller must not commit);
 * outside one it commits on its own. actor: who (peer id, "ssh:alice@10.0.0.5", "node:smbox-1");
 * action: what ("es4.EnableProfile", "smctl.db.migrate", "hsm.key.create"); object: on what
 * (EID, ICCID, key label); outcome: "ok", "failed", "denied", ...; details: free text, may be NULL. */
sm_rc db_audit_append(db_conn *c, const char *actor, const char *action, const char *object, const char *outcome,
                      const char *details, sm_err *err);
/* Same with printf-style details. */
sm_rc db_audit_appendf(db_conn *c, sm_err *err, const char *actor, const char *action, const char *object,
                       const char *outcome, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* ---- checkpoints ------------------------------------------------------------------------------ */

/* What signs checkpoints: an HSM session and the audit key pair (appliance/keyring AK_AUDIT). */
typedef struct db_audit_signer {
    hsm_sess *sess;
    hsm_key priv;
    uint8_t pub[HSM_EC_POINT_MAX]; /* 04 || X || Y, P-256 */
    size_t publen;
    const char *label;
} db_audit_signer;

typedef struct db_audit_policy {
    long every;      /* a checkpoint once this many entries were appended since the last (default 1000) */
    long max_age_s;  /* and at least this often while entries arrive (default 60) */
} db_audit_policy;

/* Fills pub/publen from the HSM (hsm_ec_public of the key pair). */
sm_rc db_audit_signer_init(db_audit_signer *s, hsm_sess *sess, const hsm_key *priv, const hsm_key *pub,
                           const char *label, sm_err *err);

/* Writes a signed checkpoint of every chain head when the policy says one is due (pol NULL: always,
 * if any entry is new). Serialised across nodes by the checkpoint chain's own head row.
 * written (may be NULL) says whether one was written. Runs its own transaction. */
sm_rc db_audit_checkpoint(db_conn *c, const db_audit_signer *s, const db_audit_policy *pol, bool *written,
                          sm_err *err);

/* ---- verification and export ------------------------------------------------------------------ */

typedef struct db_audit_report {
    long entries;
    long chains;
    long checkpoints;
    long uncovered;          /* entries after the last signed checkpoint of their chain */
    char key_fp[65];         /* hex SHA-256 of the (last) checkpoint public key */
    char key_pub[131];       /* that public key, hex 04 || X || Y */
    /* the first problem found (SM_EVERIFY): where and what */
    char bad_chain[128];
    int64_t bad_seq;         /* -1 when the problem is a checkpoint */
    int64_t bad_id;          /* audit_log.id, 0 when unknown */
    int64_t bad_checkpoint;  /* checkpoint seq involved, 0 when none */
    char problem[400];
} db_audit_report;

/* Walks every chain and checkpoint in the database. SM_OK when intact; SM_EVERIFY naming the first
 * entry that was changed, deleted or reordered (report and err say which and how). Entries after
 * the last checkpoint are counted in uncovered (still hash-linked, not yet signed). */
sm_rc db_audit_verify(db_conn *c, db_audit_report *rep, sm_err *err);

/* Writes a self-contained bundle: the entries appended between from and to (timestamps PostgreSQL
 * understands, e.g. "2024-05-01" or "2024-05-01T12:00:00Z"; NULL = open end), extended back to the last
 * checkpoint before `from` and forward to the first checkpoint that covers `to`, with those checkpoints
 * and their public keys, so that every entry in it is signed. Entries not covered by a checkpoint yet
 * are left out and counted in *left_out (may be NULL). */
sm_rc db_audit_export(db_conn *c, const char *from, const char *to, FILE *out, long *entries, long *left_out,
                      sm_err *err);

/* Verifies a bundle offline. pin_fp_hex (optional) is the expected key fingerprint (hex SHA-256 of
 * the public point, as `smctl hsm init` printed it, or a prefix of at least 16 digits). SM_OK only when
 * every entry is intact and covered by a valid signed checkpoint. */
sm_rc db_audit_verify_bundle(FILE *in, const char *pin_fp_hex, db_audit_report *rep, sm_err *err);

#endif
