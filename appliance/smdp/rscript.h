/* rscript: what an eUICC answered the SM-DP's ES8 data, as ES3.SendData's EuiccResponseData carries
 * it — a TS 102 226 response script (AB/AF-wrapped or bare: 80 count, 23 R-APDUs, 90 format error)
 * whose SCP03t answers (84, 85, 86, 9F4x) are inline — and the EUICCResponse of a profile
 * installation (30 { A0 { PEStatus... } [81 aborted] }). Untrusted bytes: bounded, strict, no
 * allocation beyond the caller's buffer (fuzz_smdp_rscript). */
#ifndef SM_SMDP_RSCRIPT_H
#define SM_SMDP_RSCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

#define DP_RAPDU_MAX 16
#define DP_RSCRIPT_MAX (1u << 20)

typedef struct dp_rapdu {
    const uint8_t *data;   /* response data, view into the input */
    size_t len;
    uint16_t sw;
} dp_rapdu;

typedef struct dp_rscript {
    dp_rapdu r[DP_RAPDU_MAX];
    size_t n;
    int executed;          /* 80 01 n when present, else -1 */
    bool bad_format;       /* 90: the card found the script malformed */
    size_t nscp;           /* SCP03t answer TLVs found (appended to the caller's buffer) */
} dp_rscript;

/* Parses a response script. The SCP03t answers are appended, in order and verbatim, to scp (may be
 * NULL). SM_EPROTO for anything else than the elements above, naming the offset. */
sm_rc dp_rscript_parse(const uint8_t *p, size_t len, dp_rscript *out, sm_buf *scp, sm_err *err);

/* 9000, 61xx, 62xx, 63xx. */
bool dp_sw_ok(uint16_t sw);

/* The installation result an ISD-P reports (the plain data of its last SCP03t answer). */
typedef struct dp_pe_report {
    size_t npes;           /* PEStatus entries */
    bool aborted;          /* 81: the installation was stopped */
    int bad_pe;            /* identification of the first PE that failed (-1 = none) */
    int bad_status;        /* its status (0 = ok) */
} dp_pe_report;

/* Strict parse of 30 { A0 { 30 { 80 status [81 id] ... }* } [81 00] }. */
sm_rc dp_euicc_response(const uint8_t *p, size_t len, dp_pe_report *out, sm_err *err);

#endif
