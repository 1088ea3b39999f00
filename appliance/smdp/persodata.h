/* persodata: the per-profile values an order generates — ICCIDs and IMSIs from ranges, Ki from
 * the HSM's random generator, OPc = AES_Ki(OP) XOR OP with the AES done by the HSM (Ki imported
 * as a short-lived session key), and OP itself decrypted by the HSM from the order.
 *
 * Ki, OP and OPc are only ever written to the caller's buffers, which must be locked memory
 * (smdp_secbuf); session keys made here are destroyed before returning, also on failure. */
#ifndef SM_SMDP_PERSODATA_H
#define SM_SMDP_PERSODATA_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"
#include "lib/err.h"

/* The index-th ICCID (0 = first) of the range starting at `first` (18..20 digits as issued,
 * Luhn-valid): the digits before the check digit count up as one decimal number of fixed width,
 * and the check digit is recomputed. SM_ELIMIT when the range runs out of digits. */
sm_rc smdp_iccid_at(const char *first, uint64_t index, char out[21], sm_err *err);

/* The index-th IMSI of the range starting at `first` (6..15 digits): MCC (3) and MNC
 * (mnc_digits, 2 or 3) fixed, the MSIN counts up with fixed width. SM_ELIMIT past its end. */
sm_rc smdp_imsi_at(const char *first, unsigned mnc_digits, uint64_t index, char out[16], sm_err *err);

/* Ki: len bytes from the HSM's generator (C_GenerateRandom). */
sm_rc smdp_ki_generate(hsm_sess *s, uint8_t *ki, size_t len, sm_err *err);

/* Milenage OPc (3GPP TS 35.206 §4.1): Ki imported as a session AES-128 key (encrypt only), OP
 * encrypted with it by the HSM, XOR OP; the session key is destroyed. */
sm_rc smdp_opc(hsm_sess *s, const uint8_t ki[16], const uint8_t op[16], uint8_t opc[16], sm_err *err);

/* OP from the order's op-enc: one AES block decrypted (ECB) by the HSM under the MNO transport
 * key (which needs HSM_U_DECRYPT). */
sm_rc smdp_op_decrypt(hsm_sess *s, const hsm_key *tk, const uint8_t op_enc[16], uint8_t op[16], sm_err *err);

#endif
