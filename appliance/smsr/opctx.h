/* opctx: what an SM-SR procedure remembers about the call that started it (where its asynchronous
 * answer goes, who asked, on which profile) — a small bounded TLV record kept in smsr_op.ctx, because
 * the procedure's own step data is replaced by each ES5 result. Never holds a secret. */
#ifndef SM_SMSR_OPCTX_H
#define SM_SMSR_OPCTX_H

#include <stdbool.h>
#include <stdint.h>

#include "db/eis_repo.h"
#include "lib/buf.h"
#include "net/es_table.h"

typedef struct smsr_opctx {
    char op[16];                 /* CreateISDP | SendData | Enable | Disable | Delete | Audit */
    bool has_reply;              /* an asynchronous answer is owed */
    es_reply_to reply;
    char caller[ES_ID_MAX];      /* GSMA id of the requester ("" for the SM-SR's own operations) */
    es_role caller_role;
    es_iface iface;              /* ES3 or ES4 (0: internal) */
    char iccid[21];
    db_aid aid;                  /* the ISD-P concerned */
    int64_t required_memory;     /* CreateISDP */
    char mno_id[65];
    char iccids[512];            /* AuditEIS: the ICCIDs asked for, comma-separated ("" = all the caller's) */
} smsr_opctx;

sm_rc smsr_opctx_encode(const smsr_opctx *o, sm_buf *out, sm_err *err);
/* Strict and bounded (database content is still checked). */
sm_rc smsr_opctx_decode(const uint8_t *p, size_t len, smsr_opctx *o, sm_err *err);

#endif
