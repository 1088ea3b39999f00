/* pki: the test PKI shared by `make run` and the tests: CI and EUM (X.509), SM-DP/SM-SR GP certificates
 * (7F21, signed by the CI), TLS CA and per-role TLS certificates, the EUM<->SM-SR transport key, a manifest. */
#ifndef SIM_PKI_H
#define SIM_PKI_H

#include <stdint.h>

#include <openssl/evp.h>

#include "tests/sim/err.h"

/* Test entity identifiers (OIDs under the example arc 2.999). */
#define SIM_OID_CI "2.999.1"
#define SIM_OID_EUM1 "2.999.10.1"
#define SIM_OID_SMDP "2.999.20.1"
#define SIM_OID_SMSR "2.999.30.1"
#define SIM_OID_SMSR2 "2.999.30.2"
#define SIM_OID_MNO1 "2.999.40.1"
#define SIM_OID_M2MSP1 "2.999.50.1"
#define SIM_TK_ID "TK-EUM1-SMSR-01"

/* Writes a fresh PKI into dir (created if needed). Private keys and the transport key get mode 0600. */
sim_rc sim_pki_generate(const char *dir, sim_err *err);

/* Public keys held elsewhere (the appliance's HSM), 65-byte uncompressed P-256 points; NULL = a
 * fresh key written into the PKI. smdp_pub / smsr_pub: the SM-DP / SM-SR GP certificates (7F21) are
 * issued for them (no *-gp.key; the manifest gets smdp.gppub / smsr.gppub instead of *.gpkey).
 * tls_pub: also issue tls-smbox.crt (TLS CA, subject OU=SM-DP+SM-SR CN=smbox, SAN localhost,
 * 127.0.0.1 and both role OIDs) for that key; manifest tls.smbox.cert, tls.smbox.pub. */
typedef struct sim_pki_given {
    const uint8_t *smdp_pub, *smsr_pub, *tls_pub;
} sim_pki_given;
sim_rc sim_pki_generate2(const char *dir, const sim_pki_given *g, sim_err *err);

/* What the EUM side of the simulator needs from a PKI directory. */
typedef struct sim_pki {
    EVP_PKEY *ci_pub;
    uint8_t ci_ski[20];
    EVP_PKEY *eum_key;
    uint8_t eum_ski[20];
    uint8_t tk[16];
    char tk_id[64], eum_oid[64], smsr_oid[64], ci_oid[64];
} sim_pki;
sim_rc sim_pki_load(const char *dir, sim_pki *p, sim_err *err);
void sim_pki_free(sim_pki *p);
/* Looks a key up in DIR/manifest ("name=value" lines); out gets the value. */
sim_rc sim_manifest_get(const char *dir, const char *key, char *out, size_t cap, sim_err *err);
/* Loads a PEM private key / the public key of a PEM certificate. */
sim_rc sim_pem_key(const char *path, EVP_PKEY **k, sim_err *err);
sim_rc sim_pem_cert_pub(const char *path, EVP_PKEY **k, uint8_t ski[20], sim_err *err);

#endif
