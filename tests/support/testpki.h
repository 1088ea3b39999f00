/* testpki: a throw-away PKI for TLS tests, made at run time with plain OpenSSL (no key material in
 * the tree): a test CA, an untrusted CA, and certificates issued for generated keys or for a given
 * public key (the HSM-held TLS key), with chosen SANs and validity. Files go to a temporary directory. */
#ifndef SM_TESTPKI_H
#define SM_TESTPKI_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct testpki {
    char dir[256];
    char ca_file[320];   /* PEM of the trusted test CA */
    EVP_PKEY *ca_key, *bad_key;
    X509 *ca, *bad_ca;
} testpki;

int testpki_init(testpki *p);
void testpki_free(testpki *p);   /* removes the directory */

/* Issues <dir>/<name>.crt (and <name>.key when pub is NULL: a new P-256 key) with subject CN=cn,O=smbox-test,
 * subjectAltNames san ("IP:127.0.0.1,DNS:localhost,URI:..." or NULL), valid from now+from_days to
 * now+to_days, signed by the test CA or (untrusted != 0) by the other CA. Returns 0 on success. */
int testpki_issue(testpki *p, const char *name, const char *cn, const char *san, EVP_PKEY *pub, int from_days,
                  int to_days, int untrusted);
/* Paths of an issued certificate and key. */
void testpki_path(const testpki *p, const char *name, const char *ext, char *out, size_t cap);
/* SHA-256 fingerprint (hex) of <name>.crt into out[65]. */
int testpki_fingerprint(const testpki *p, const char *name, char *out);
/* EVP_PKEY of a P-256 public point 04||X||Y. */
EVP_PKEY *testpki_pub_from_point(const uint8_t *pt, size_t len);

#endif
