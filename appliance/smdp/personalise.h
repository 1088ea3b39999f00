/* personalise: writes one profile's values (ICCID, IMSI, Ki/OPc, PIN/PUK/ADM, MSISDN) into a
 * decoded template and produces the personalised package in locked memory.
 *
 * Values replace the template's in place; where a length differs, or the template has no content
 * for a file (EF.IMSI, EF.MSISDN), the element is re-encoded with correct enclosing lengths.
 * Nothing the card computes is recomputed (services, ACC, checksums). The result is decoded and
 * checked again and must carry exactly the requested values, else SM_EINTERNAL. Values never
 * appear in errors. */
#ifndef SM_SMDP_PERSONALISE_H
#define SM_SMDP_PERSONALISE_H

#include <stddef.h>
#include <stdint.h>

#include "appliance/smdp/saip.h"
#include "appliance/smdp/secbuf.h"

/* PIN/PUK/ADM values personalisation can set, with the key references they patch:
 * PIN1 = pinAppl1 (01), PIN2 = secondPINAppl1 (81, in every NAA/DF that defines it),
 * PUK1 = pukAppl1 (01), PUK2 = secondPUKAppl1 (81), ADM1 = adm1 (0A), ADM2 = adm2 (0B). */
typedef enum smdp_code { SMDP_PIN1 = 0, SMDP_PIN2, SMDP_PUK1, SMDP_PUK2, SMDP_ADM1, SMDP_ADM2, SMDP_CODE_COUNT } smdp_code;

typedef struct smdp_perso {
    const char *iccid;     /* 18..20 digits, Luhn check digit included; NULL = keep the template's */
    const char *imsi;      /* 6..15 digits; NULL = keep */
    const uint8_t *ki;     /* written into every algoParameter (USIM, ISIM, ...); NULL = keep */
    size_t ki_len;
    const uint8_t *opc;    /* given together with ki */
    size_t opc_len;
    const char *code[SMDP_CODE_COUNT]; /* digits (PIN 4..8, PUK and ADM 8); NULL = keep */
    const char *msisdn;    /* E.164 digits without '+' into EF.MSISDN record 1; NULL = keep */
} smdp_perso;

/* "pin1", "pin2", "puk1", "puk2", "adm1", "adm2". */
const char *smdp_code_name(smdp_code c);
/* Digit-count bounds of a code. */
void smdp_code_bounds(smdp_code c, size_t *min, size_t *max);

/* Builds the personalised package of template tpl (which must pass saip_check) into *out
 * (locked memory; free with smdp_secbuf_free). SM_EINVAL for malformed values, SM_ENOTFOUND
 * when the template lacks the element a value needs (no USIM, no PIN2, no EF.MSISDN, ...). */
sm_rc smdp_personalise(const saip_pkg *tpl, const smdp_perso *v, smdp_secbuf *out, sm_err *err);

#endif
