/* apdu: the ES5 command scripts the SM-SR sends to an ISD-R (procedures.md §16, as docs/simulator.md's
 * card implements them) — TS 102 226 expanded-format C-APDU TLVs (tag 22) — and a bounded reader of
 * the card's response scripts (R-APDU TLVs 23) and of the GET STATUS / GET DATA answers. */
#ifndef SM_SMSR_APDU_H
#define SM_SMSR_APDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/eis_repo.h"
#include "lib/buf.h"
#include "lib/err.h"

/* STORE DATA DGIs of the ISD-R platform commands */
#define SMSR_DGI_ENABLE 0x3A03
#define SMSR_DGI_DISABLE 0x3A04
#define SMSR_DGI_FALLBACK 0x3A05

/* ES5.CreateISDP: INSTALL [for install and make selectable] 80 E6 0C 00 — ELF, module, new ISD-P AID,
 * privileges 80 C0 00, parameters C9 {81 02 03 70} (SCP03 i=70) and, when quota > 0, EF {83 quota},
 * empty install token. */
sm_rc smsr_script_install(sm_buf *out, const db_aid *elf, const db_aid *module, const db_aid *isdp, int64_t quota,
                          sm_err *err);
/* STORE DATA 80 E2 88 00 {DGI {4F AID}}: enable (3A03), disable (3A04), fall-back attribute (3A05). */
sm_rc smsr_script_store_aid(sm_buf *out, uint16_t dgi, const db_aid *aid, sm_err *err);
/* ES5.DeleteProfile: DELETE 80 E4 00 40 {4F AID}. */
sm_rc smsr_script_delete(sm_buf *out, const db_aid *aid, sm_err *err);
/* ES5.AuditEIS: GET STATUS 80 F2 40 02 {4F 00} (every ISD-P), then GET DATA 80 CA FF 21. */
sm_rc smsr_script_audit(sm_buf *out, sm_err *err);

#define SMSR_RAPDU_MAX 32

typedef struct smsr_rapdu {
    const uint8_t *data;      /* response data (view into the script) */
    size_t len;
    uint16_t sw;
} smsr_rapdu;

typedef struct smsr_rscript {
    smsr_rapdu r[SMSR_RAPDU_MAX];
    size_t n;
    int executed;             /* 80 01 n when present, else -1 */
    bool bad_format;          /* 90: the card found the script malformed */
} smsr_rscript;

/* Reads a response script: AB/AF-wrapped or bare, 80 (count), 23 (R-APDU: data || SW), 81/90
 * tolerated, anything else refused. Views point into p. */
sm_rc smsr_script_response(const uint8_t *p, size_t len, smsr_rscript *out, sm_err *err);
/* The status word that decided the outcome: the last R-APDU's (0 when there is none). */
uint16_t smsr_last_sw(const smsr_rscript *s);
/* 9000, 61xx, 62xx, 63xx: the command was executed. */
bool smsr_sw_ok(uint16_t sw);

/* GET STATUS answer: E3 {4F AID, 9F70 LCS, 53 attributes (01 = fall-back), 8F allocated, 91 free} each. */
typedef struct smsr_isdp_status {
    db_aid aid;
    uint8_t lcs;
    bool fallback;
    int64_t allocated;        /* -1 when absent */
    int64_t free;             /* -1 when absent */
} smsr_isdp_status;
sm_rc smsr_parse_get_status(const uint8_t *p, size_t len, smsr_isdp_status *out, size_t cap, size_t *n, sm_err *err);
/* GET DATA FF21 (extended card resources): 82 free non-volatile memory; *free_nvm -1 when absent. */
sm_rc smsr_parse_ff21(const uint8_t *p, size_t len, int64_t *free_nvm, sm_err *err);
/* ISD-P life cycle state as the EIS names it: 3F Enabled, 1F Disabled, 07/0F Created; NULL otherwise. */
const char *smsr_lcs_state(uint8_t lcs);

#endif
