/* tls: the TLS contexts of the ES interfaces (server and client, TLS 1.2 and 1.3, mutual TLS) with the
 * private key held in the HSM and reached through the libp11 PKCS#11 engine — or, in development
 * mode only, a PEM key file (logged loudly). Also reads the identity of a verified peer certificate. */
#ifndef SM_NET_TLS_H
#define SM_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "lib/err.h"

typedef struct net_tls_config {
    const char *cert_file;     /* our certificate chain (PEM) */
    const char *ca_file;       /* trust list: CAs that peer certificates must chain to (PEM) */
    const char *p11_module;    /* PKCS#11 module the engine loads (the one hsm/ uses) */
    const char *token_label;
    const char *key_label;     /* label of the TLS private key on the token */
    const char *pin;           /* user PIN, NUL-terminated (handed to the engine) */
    const char *dev_key_file;  /* development only: PEM private key instead of the HSM */
} net_tls_config;

typedef struct net_tls net_tls;

sm_rc net_tls_new(const net_tls_config *cfg, net_tls **out, sm_err *err);
void net_tls_free(net_tls *t);
SSL_CTX *net_tls_server_ctx(net_tls *t);
SSL_CTX *net_tls_client_ctx(net_tls *t);
/* True when the key came from a PEM file (development mode). */
bool net_tls_dev_mode(const net_tls *t);

#define NET_SAN_MAX 8
typedef struct net_cert_info {
    char subject[256];          /* RFC 2253 */
    char fingerprint[65];       /* SHA-256 of the DER certificate, lowercase hex */
    char san[NET_SAN_MAX][256]; /* DNS names and URIs */
    int nsan;
} net_cert_info;

/* Identity of the peer certificate of an established connection; false when there is none. */
bool net_tls_peer_info(SSL *ssl, net_cert_info *out);
/* Same, from a certificate. */
void net_cert_info_from(X509 *x, net_cert_info *out);

#endif
