/* gpcert: GlobalPlatform Amendment E / SGP.02 certificates (tag 7F21: CERT.DP.ECDSA, CERT.SR.ECDSA,
 * CERT.ECASD.ECKA) — strict parsing, encoding, issuing with an HSM-held CA key, and verification of
 * one link or a whole chain from the CI, whose CI and EUM certificates are X.509 (crypto.md §1).
 *
 * Parsing is pure (no HSM, no allocation; views into the input). Signature checks are public-key
 * work done with OpenSSL; issuing signs through hsm/. */
#ifndef SM_CRYPTO_GPCERT_H
#define SM_CRYPTO_GPCERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hsm/hsm.h"
#include "lib/buf.h"
#include "lib/err.h"

/* Curve parameter reference (tag F0 inside 7F49), GP Amd E Table 4-3. */
#define GPCERT_CURVE_P256 0x00
#define GPCERT_CURVE_BP256R1 0x03

/* Certificate type (tag C8 in the discretionary data 73). */
#define GPCERT_TYPE_SMDP 0x01
#define GPCERT_TYPE_SMSR 0x02

/* Key usage (tag 95) values smbox emits: 1 byte 88 for DP/SR signing keys (both public
 * implementations), 2 bytes 0080 "key agreement" for ECASD keys (crypto.md §1.1, UNCONFIRMED). */
#define GPCERT_KU_SIGN 0x88
#define GPCERT_KU_KEY_AGREEMENT 0x0080

typedef struct gpcert_date {
    uint16_t y;
    uint8_t m, d;
} gpcert_date;

/* A parsed 7F21 certificate: views into the input buffer, which must outlive it. */
typedef struct gpcert {
    const uint8_t *raw;      /* the whole 7F21 TLV */
    size_t rawlen;
    const uint8_t *tbs;      /* signed data: every TLV of the 7F21 value before 5F37 */
    size_t tbslen;
    const uint8_t *serial;   /* 93 */
    size_t serial_len;
    const uint8_t *ca_id;    /* 42 */
    size_t ca_id_len;
    const uint8_t *subject_id; /* 5F20 */
    size_t subject_id_len;
    uint16_t key_usage;      /* 95, big-endian value */
    uint8_t key_usage_len;   /* 1 or 2 */
    bool has_effective;      /* 5F25 */
    gpcert_date effective;
    gpcert_date expiry;      /* 5F24 */
    const uint8_t *image_number; /* 45: SD image number (optional, GP Amd A), NULL when absent */
    size_t image_number_len;
    bool has_disc;           /* 73 (or 53 on eUICC certificates) */
    uint32_t disc_tag;
    const uint8_t *disc;
    size_t disc_len;
    int cert_type;           /* C8 value, -1 when absent */
    const uint8_t *aki;      /* C9: key identifier of the issuing key, NULL when absent */
    size_t aki_len;
    const uint8_t *pubkey;   /* 7F49/B0: 04||X||Y, 65 bytes */
    size_t pubkey_len;
    uint8_t curve_ref;       /* 7F49/F0 */
    hsm_curve curve;
    const uint8_t *sig;      /* 5F37: r||s, 64 bytes */
    size_t sig_len;
} gpcert;

/* Strict parse of exactly one 7F21 TLV: tags in the order 93 42 5F20 95 [5F25] 5F24 [45] [73|53] 7F49
 * 5F37, minimal lengths, no unknown tags, 7F49 = B0 (65-byte uncompressed point) then F0 (curve
 * P-256 or brainpoolP256r1), 5F37 of 64 bytes, valid BCD dates (YYYYMMDD; YYMMDD accepted).
 * Does not check the point is on the curve (gpcert_check does). */
sm_rc gpcert_parse(const uint8_t *p, size_t len, gpcert *out, sm_err *err);

/* Fields to encode or issue. disc_extra is raw TLVs appended inside 73 after C8/C9. */
typedef struct gpcert_tbs {
    const uint8_t *serial;
    size_t serial_len;
    const uint8_t *ca_id;
    size_t ca_id_len;
    const uint8_t *subject_id;
    size_t subject_id_len;
    uint16_t key_usage;
    uint8_t key_usage_len;   /* 1 or 2 */
    bool has_effective;
    gpcert_date effective;
    gpcert_date expiry;
    bool has_disc;
    int cert_type;           /* -1: no C8 */
    const uint8_t *aki;
    size_t aki_len;
    const uint8_t *disc_extra;
    size_t disc_extra_len;
    const uint8_t *pubkey;   /* 65-byte uncompressed point */
    size_t pubkey_len;
    hsm_curve curve;
} gpcert_tbs;

/* Appends TLVs 93 .. 7F49 (the signed data). */
sm_rc gpcert_encode_tbs(const gpcert_tbs *t, sm_buf *out, sm_err *err);
/* Appends 7F21 { tbs || 5F37 sig } (sig is r||s, 64 bytes). */
sm_rc gpcert_assemble(const uint8_t *tbs, size_t tbslen, const uint8_t *sig, size_t siglen, sm_buf *out,
                      sm_err *err);
/* Encodes, signs the signed data with the CA's private key in the HSM (ECDSA SHA-256, r||s),
 * appends the 7F21 certificate to out. */
sm_rc gpcert_issue(hsm_sess *s, const hsm_key *ca_priv, const gpcert_tbs *t, sm_buf *out, sm_err *err);
/* The gpcert_tbs view of a parsed certificate (re-encoding it yields the same signed data when
 * the certificate used 4-byte dates). */
void gpcert_to_tbs(const gpcert *c, gpcert_tbs *t);

/* ---- verification ------------------------------------------------------------------------ */

/* A public key trusted to sign certificates: the CI, an EUM, or any verified issuer. */
typedef struct gpcert_issuer {
    uint8_t pub[65];
    hsm_curve curve;
    uint8_t key_id[64];      /* X.509 SubjectKeyIdentifier; matched against C9 / AKI */
    size_t key_id_len;
    uint8_t name[512];       /* X.509 subject name, DER (matched against the child's issuer name) */
    size_t name_len;
    time_t not_before, not_after;
} gpcert_issuer;

/* What a leaf certificate is checked for. */
typedef enum gpcert_purpose {
    GPCERT_P_ANY = 0,        /* signature, dates and curve only */
    GPCERT_P_SMDP,           /* C8 = 01 and a signing key usage */
    GPCERT_P_SMSR,           /* C8 = 02 and a signing key usage */
    GPCERT_P_ECASD,          /* key-agreement key usage (2-byte 95 with 0080) */
} gpcert_purpose;

/* Verifies a 7F21 signature (ECDSA SHA-256 over gpcert.tbs) with the issuer's key. SM_EVERIFY if bad. */
sm_rc gpcert_verify_sig(const gpcert *c, const gpcert_issuer *issuer, sm_err *err);
/* One link: signature, the point on its curve, validity at `now` (expiry day inclusive, UTC),
 * C9 = issuer key id when both present, key usage and type for the purpose. */
sm_rc gpcert_check(const gpcert *c, const gpcert_issuer *issuer, gpcert_purpose purpose, time_t now, sm_err *err);

/* X.509 (CI, EUM): parses DER strictly (no trailing bytes), requires an EC key on P-256 or
 * brainpoolP256r1, ecdsa-with-SHA256, CA basic constraints, keyCertSign when key usage is present,
 * a SubjectKeyIdentifier, validity at `now`, and the signature by `parent` (NULL: self-signed,
 * the trust anchor). On success fills *out as the next issuer. */
sm_rc gpcert_x509_issuer(const uint8_t *der, size_t len, const gpcert_issuer *parent, time_t now,
                         gpcert_issuer *out, sm_err *err);
/* gpcert_x509_issuer remembers, process-wide, the last 64 certificates it verified (keyed by a SHA-256
 * of the DER and the whole parent): the same CI and EUM certificates arrive with every eUICC's chain,
 * and their parsing and signature checks are the chain's cost. Only successes are kept; the validity
 * at `now` is checked at every call. Counters for tests and statistics: */
void gpcert_issuer_cache_stats(unsigned long *hits, unsigned long *misses);

/* Whole chain: certs[0] is the CI (X.509, self-signed trust anchor), certs[1..n-2] X.509
 * intermediates (the EUM for an eUICC), certs[n-1] the 7F21 leaf checked for `purpose`.
 * On success *leaf is parsed from certs[n-1]. */
sm_rc gpcert_verify_chain(const uint8_t *const *certs, const size_t *lens, size_t n, gpcert_purpose purpose,
                          time_t now, gpcert *leaf, sm_err *err);

/* BCD date helpers. */
int gpcert_date_cmp(const gpcert_date *a, const gpcert_date *b);
void gpcert_date_from_time(time_t t, gpcert_date *out);
/* Curve reference byte of an hsm curve. */
uint8_t gpcert_curve_ref(hsm_curve c);
/* OpenSSL group name of an hsm curve ("prime256v1", "brainpoolP256r1"). */
const char *gpcert_curve_name(hsm_curve c);

#endif
