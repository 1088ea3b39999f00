/* mnofile: the MNO output file of an order run (docs/sm-dp-files.md): one line per profile with
 * ICCID, IMSI, MSISDN and Ki/OPc each encrypted by the HSM under the MNO transport key (one
 * AES-ECB block), then a trailer with the count and an AES-CMAC over everything before it, keyed
 * with K_mac = AES-ECB_TK("smbox-mno-mac-v1") derived inside the HSM.
 *
 * The writer builds the text in memory (it holds no clear secret); the verifier re-parses a file
 * strictly and checks count and CMAC (for tests and for checking a file before it is sent). */
#ifndef SM_SMDP_MNOFILE_H
#define SM_SMDP_MNOFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appliance/smdp/orderfile.h"
#include "hsm/hsm.h"
#include "lib/buf.h"
#include "lib/err.h"

#define SMDP_MNO_MAC_LABEL "smbox-mno-mac-v1" /* 16 bytes: the block AES-ECB-encrypted into K_mac */

typedef struct smdp_mnofile {
    sm_buf text;
    hsm_sess *s;
    hsm_key tk;
    uint64_t count, expected;
    bool finished;
} smdp_mnofile;

/* Starts a file for order o; tk_label (the transport key's HSM label) goes into the header. */
sm_rc smdp_mnofile_begin(smdp_mnofile *f, hsm_sess *s, const hsm_key *tk, const char *tk_label,
                         const smdp_order *o, sm_err *err);
/* One profile line; ki and opc (locked memory) are encrypted by the HSM, only ciphertext is kept. */
sm_rc smdp_mnofile_add(smdp_mnofile *f, const char *iccid, const char *imsi, const char *msisdn,
                       const uint8_t ki[16], const uint8_t opc[16], sm_err *err);
/* The trailer; fails unless exactly the order's quantity of lines was added. */
sm_rc smdp_mnofile_finish(smdp_mnofile *f, sm_err *err);
void smdp_mnofile_free(smdp_mnofile *f);

/* One record as read back (the encrypted values as they are in the file). */
typedef struct smdp_mnorec {
    char iccid[21], imsi[16], msisdn[16];
    uint8_t ki_enc[16], opc_enc[16];
} smdp_mnorec;

typedef int (*smdp_mnorec_fn)(const smdp_mnorec *r, void *arg);

/* Parses a file strictly, checks the trailer count and the CMAC (SM_EVERIFY when it does not
 * match), calling fn (may be NULL) per record; *count gets the number of records. */
sm_rc smdp_mnofile_verify(hsm_sess *s, const hsm_key *tk, const char *text, size_t len, smdp_mnorec_fn fn,
                          void *arg, uint64_t *count, sm_err *err);

#endif
