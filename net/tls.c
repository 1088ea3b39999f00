/* TLS contexts; the private key through the libp11 engine (deprecated ENGINE API, this file only). */
#include "net/tls.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lib/hex.h"
#include "lib/log.h"

#define P11_ENGINE_SO "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"

struct net_tls {
    SSL_CTX *server, *client;
    EVP_PKEY *key;
    bool dev;
};

/* One engine per process, initialised once and never finished: finishing it would C_Finalize the
 * module under hsm/'s feet (both share the PKCS#11 library in this process). */
static ENGINE *g_engine;
static pthread_mutex_t g_engine_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_engine_module[512];

static const char *ossl_err(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (!e)
        snprintf(buf, cap, "no OpenSSL error");
    else
        ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

static sm_rc engine_get(const net_tls_config *c, ENGINE **out, sm_err *err)
{
    char eb[256];
    pthread_mutex_lock(&g_engine_lock);
    if (g_engine) {
        bool same = !strcmp(g_engine_module, c->p11_module);
        pthread_mutex_unlock(&g_engine_lock);
        if (!same)
            return sm_errf(err, SM_ECONFIG, "tls: the pkcs11 engine is already bound to %s, not %s", g_engine_module,
                           c->p11_module);
        *out = g_engine;
        return SM_OK;
    }
    ENGINE_load_builtin_engines();
    ENGINE *e = ENGINE_by_id("pkcs11");
    if (!e) {
        ERR_clear_error();
        e = ENGINE_by_id("dynamic");
        if (!e || !ENGINE_ctrl_cmd_string(e, "SO_PATH", P11_ENGINE_SO, 0) ||
            !ENGINE_ctrl_cmd_string(e, "ID", "pkcs11", 0) || !ENGINE_ctrl_cmd_string(e, "LOAD", NULL, 0)) {
            if (e)
                ENGINE_free(e);
            pthread_mutex_unlock(&g_engine_lock);
            return sm_errf(err, SM_ECONFIG, "tls: cannot load the libp11 pkcs11 engine (%s): %s", P11_ENGINE_SO,
                           ossl_err(eb, sizeof eb));
        }
    }
    if (!ENGINE_ctrl_cmd_string(e, "MODULE_PATH", c->p11_module, 0)) {
        ENGINE_free(e);
        pthread_mutex_unlock(&g_engine_lock);
        return sm_errf(err, SM_ECONFIG, "tls: pkcs11 engine refused MODULE_PATH %s: %s", c->p11_module,
                       ossl_err(eb, sizeof eb));
    }
    if (c->pin && !ENGINE_ctrl_cmd_string(e, "PIN", c->pin, 0)) {
        ENGINE_free(e);
        pthread_mutex_unlock(&g_engine_lock);
        return sm_errf(err, SM_EPIN, "tls: pkcs11 engine refused the PIN setting");
    }
    if (!ENGINE_init(e)) {
        ENGINE_free(e);
        pthread_mutex_unlock(&g_engine_lock);
        return sm_errf(err, SM_EHSM, "tls: pkcs11 engine initialisation failed: %s", ossl_err(eb, sizeof eb));
    }
    ENGINE_free(e); /* keep the functional reference from ENGINE_init */
    g_engine = e;
    snprintf(g_engine_module, sizeof g_engine_module, "%s", c->p11_module);
    pthread_mutex_unlock(&g_engine_lock);
    *out = e;
    return SM_OK;
}

/* RFC 7512 percent-encoding of a path attribute value */
static void uri_pct(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
    }
    out[o] = 0;
}

static sm_rc load_hsm_key(const net_tls_config *c, EVP_PKEY **out, sm_err *err)
{
    ENGINE *e = NULL;
    sm_rc rc = engine_get(c, &e, err);
    if (rc != SM_OK)
        return rc;
    char tok[200], obj[200], uri[512], eb[256];
    uri_pct(tok, sizeof tok, c->token_label);
    uri_pct(obj, sizeof obj, c->key_label);
    snprintf(uri, sizeof uri, "pkcs11:token=%s;object=%s;type=private", tok, obj);
    pthread_mutex_lock(&g_engine_lock);
    EVP_PKEY *k = ENGINE_load_private_key(e, uri, NULL, NULL);
    pthread_mutex_unlock(&g_engine_lock);
    if (!k)
        return sm_errf(err, SM_ENOTFOUND, "tls: HSM key %s on token %s not usable through the pkcs11 engine: %s",
                       c->key_label, c->token_label, ossl_err(eb, sizeof eb));
    *out = k;
    return SM_OK;
}

static sm_rc load_pem_key(const char *path, EVP_PKEY **out, sm_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return sm_errf(err, SM_EIO, "tls: cannot open development key %s", path);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    char eb[256];
    if (!k)
        return sm_errf(err, SM_EPARSE, "tls: %s is not a PEM private key: %s", path, ossl_err(eb, sizeof eb));
    *out = k;
    return SM_OK;
}

static sm_rc ctx_common(SSL_CTX *ctx, const net_tls_config *c, EVP_PKEY *key, bool server, sm_err *err)
{
    char eb[256];
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    if (!SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-RSA-AES256-GCM-SHA384"))
        return sm_errf(err, SM_ECRYPTO, "tls: cipher list refused: %s", ossl_err(eb, sizeof eb));
    if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1)
        return sm_errf(err, SM_ECONFIG, "tls: cannot load certificate chain %s: %s", c->cert_file,
                       ossl_err(eb, sizeof eb));
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1)
        return sm_errf(err, SM_ECONFIG, "tls: private key refused: %s", ossl_err(eb, sizeof eb));
    if (SSL_CTX_check_private_key(ctx) != 1)
        return sm_errf(err, SM_ECONFIG, "tls: the private key does not match certificate %s: %s", c->cert_file,
                       ossl_err(eb, sizeof eb));
    if (SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1)
        return sm_errf(err, SM_ECONFIG, "tls: cannot load the trust list %s: %s", c->ca_file, ossl_err(eb, sizeof eb));
    SSL_CTX_set_verify(ctx, server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_verify_depth(ctx, 5);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (server) {
        static const unsigned char sid[] = "smbox-es";
        SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, 4096);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    return SM_OK;
}

sm_rc net_tls_new(const net_tls_config *c, net_tls **out, sm_err *err)
{
    *out = NULL;
    net_tls *t = calloc(1, sizeof *t);
    if (!t)
        return sm_errf(err, SM_ENOMEM, "tls: out of memory");
    sm_rc rc;
    if (c->dev_key_file && *c->dev_key_file) {
        t->dev = true;
        sm_log(SM_LOG_WARN, "net", "tls_dev_key",
               "msg=\"DEVELOPMENT MODE: the ES TLS private key is read from a PEM file, not the HSM\" file=%s",
               c->dev_key_file);
        rc = load_pem_key(c->dev_key_file, &t->key, err);
    } else {
        if (!c->p11_module || !c->token_label || !c->key_label) {
            free(t);
            return sm_errf(err, SM_ECONFIG, "tls: HSM module, token and key label are required");
        }
        rc = load_hsm_key(c, &t->key, err);
    }
    if (rc != SM_OK) {
        free(t);
        return rc;
    }
    t->server = SSL_CTX_new(TLS_server_method());
    t->client = SSL_CTX_new(TLS_client_method());
    if (!t->server || !t->client) {
        net_tls_free(t);
        return sm_errf(err, SM_ECRYPTO, "tls: SSL_CTX_new failed");
    }
    if ((rc = ctx_common(t->server, c, t->key, true, err)) != SM_OK ||
        (rc = ctx_common(t->client, c, t->key, false, err)) != SM_OK) {
        net_tls_free(t);
        return rc;
    }
    *out = t;
    return SM_OK;
}

void net_tls_free(net_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->server);
    SSL_CTX_free(t->client);
    EVP_PKEY_free(t->key);
    free(t);
}

SSL_CTX *net_tls_server_ctx(net_tls *t) { return t->server; }
SSL_CTX *net_tls_client_ctx(net_tls *t) { return t->client; }
bool net_tls_dev_mode(const net_tls *t) { return t->dev; }

void net_cert_info_from(X509 *x, net_cert_info *o)
{
    memset(o, 0, sizeof *o);
    BIO *b = BIO_new(BIO_s_mem());
    if (b) {
        X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
        int n = BIO_read(b, o->subject, (int)sizeof o->subject - 1);
        o->subject[n > 0 ? n : 0] = 0;
        BIO_free(b);
    }
    unsigned char md[32];
    unsigned int ml = 0;
    if (X509_digest(x, EVP_sha256(), md, &ml) == 1 && ml == 32)
        sm_hex_encode(md, 32, o->fingerprint);
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && o->nsan < NET_SAN_MAX; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        ASN1_IA5STRING *s = NULL;
        if (g->type == GEN_DNS)
            s = g->d.dNSName;
        else if (g->type == GEN_URI)
            s = g->d.uniformResourceIdentifier;
        if (!s)
            continue;
        int l = ASN1_STRING_length(s);
        const unsigned char *d = ASN1_STRING_get0_data(s);
        if (l <= 0 || l >= 256 || memchr(d, 0, (size_t)l))
            continue;
        memcpy(o->san[o->nsan], d, (size_t)l);
        o->san[o->nsan][l] = 0;
        o->nsan++;
    }
    GENERAL_NAMES_free(gens);
}

bool net_tls_peer_info(SSL *ssl, net_cert_info *o)
{
    X509 *x = SSL_get0_peer_certificate(ssl);
    if (!x || SSL_get_verify_result(ssl) != X509_V_OK) {
        memset(o, 0, sizeof *o);
        return false;
    }
    net_cert_info_from(x, o);
    return true;
}
