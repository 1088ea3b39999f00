/* dl_repo: the state of one profile download procedure (table dp_download, one row per procedure,
 * locked by the engine's claim of the procedure), and the ISD-P key sets established with eUICCs
 * (dp_isdp_keyset: key values only wrapped under the HSM KEK). */
#ifndef SM_SMDP_DL_REPO_H
#define SM_SMDP_DL_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pg.h"
#include "net/es_table.h"

typedef struct dp_dl {
    int64_t proc_id, order_id;
    char origin[8];             /* es2 | es4 | local */
    char requester[129], call_id[257], mno_id[65], eid[33], smsr_id[65];
    char req_iccid[21], req_type[101];
    bool enable;
    bool has_reply;             /* where the final answer goes */
    es_reply_to reply;
    char iccid[21], template_id[65], profile_type[101];
    char phase[32];
    int es3_seq;
    char expect_mid[128], expect_fn[48];
    uint8_t isdp_aid[16];
    size_t isdp_aid_len;
    bool data_sent;
    int ke_attempts;
    uint8_t ke_state[400];
    size_t ke_state_len;
    int kvn, scp_seq;
    /* the SCP03t-protected profile (13 KB and more): dp_dl_load reads its length only, dp_dl_script its
     * bytes when a part is sent; dp_dl_save writes it only when script_dirty */
    uint8_t *script;            /* malloc'd (dp_dl_clear); NULL until read */
    size_t script_len;
    bool script_dirty;
    uint8_t *script_state;
    size_t script_state_len;
    int chunk;
    char fail_status[400];      /* "exec|subject|reason|message" of the original failure */
    char warning[256];
    char outcome[16];
} dp_dl;

sm_rc dp_dl_create(db_conn *c, const dp_dl *d, sm_err *err);
/* SM_ENOTFOUND when the procedure has no download row. */
sm_rc dp_dl_load(db_conn *c, int64_t proc_id, dp_dl *out, sm_err *err);
/* Writes every mutable field back (the script when script_dirty), sent with the transaction's next
 * statement or COMMIT (db_exec_later): a row that is gone fails the transaction. */
sm_rc dp_dl_save(db_conn *c, const dp_dl *d, sm_err *err);
/* Reads the script's bytes into d->script when they are not in memory yet. */
sm_rc dp_dl_script(db_conn *c, dp_dl *d, sm_err *err);
void dp_dl_clear(dp_dl *d);

/* The SM-SR and requester of a download (the checks of an ES3 callback, without loading the row). */
sm_rc dp_dl_peer(db_conn *c, int64_t proc_id, char smsr_id[65], char expect_mid[128], sm_err *err);
/* The running download procedure of a request (requester, FunctionCallIdentifier); 0 when none. */
sm_rc dp_dl_find_call(db_conn *c, const char *requester, const char *call_id, int64_t *proc_id, sm_err *err);

typedef struct dp_isdp_keys {
    char eid[33], iccid[21];
    uint8_t aid[16];
    size_t aid_len;
    int kvn;
    uint8_t wrapped[3][48];
    size_t wrapped_len[3];
    uint8_t kcv[9];
    char kek_label[65];
    int scp_seq;
    int64_t proc_id;
} dp_isdp_keys;

/* Stores (replaces) the key set of an ISD-P. */
sm_rc dp_isdp_keys_put(db_conn *c, const char *actor, const dp_isdp_keys *k, sm_err *err);
sm_rc dp_isdp_keys_get(db_conn *c, const char *eid, const uint8_t *aid, size_t aid_len, dp_isdp_keys *out,
                       sm_err *err);
sm_rc dp_isdp_keys_set_seq(db_conn *c, const char *eid, const uint8_t *aid, size_t aid_len, int seq, sm_err *err);
sm_rc dp_isdp_keys_delete(db_conn *c, const char *eid, const uint8_t *aid, size_t aid_len, sm_err *err);

/* es_reply_to as stored in dp_download.reply (one field per line). */
sm_rc dp_reply_encode(const es_reply_to *r, char *out, size_t cap, sm_err *err);
sm_rc dp_reply_decode(const uint8_t *p, size_t len, es_reply_to *out, sm_err *err);

#endif
