/* EumSignature verification (ECDSA P-256 / SHA-256). */
#include "appliance/smsr/xmldsig.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/ecpub.h"
#include "hsm/hsm.h"
#include "net/xml.h"

#define GSMA_NS_DECL " xmlns=\"http://namespaces.gsma.org/esim-messaging/3\""

static xmlNodePtr find(xmlNodePtr n, const char *local)
{
    for (xmlNodePtr c = xml_first_elem(n); c; c = xml_next_elem(c)) {
        if (xml_is(c, NULL, local))
            return c;
        xmlNodePtr d = find(c, local);
        if (d)
            return d;
    }
    return NULL;
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
            return false;
    return true;
}

/* hex (as the simulator writes) or base64 (as XML-DSig does) */
static bool decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    if (n && n % 2 == 0 && n / 2 <= cap && all_hex(s, n)) {
        for (size_t i = 0; i < n / 2; i++) {
            char b[3] = {s[2 * i], s[2 * i + 1], 0};
            out[i] = (uint8_t)strtoul(b, NULL, 16);
        }
        *len = n / 2;
        return true;
    }
    char clean[512];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof clean - 1; i++)
        if (!strchr(" \t\r\n", s[i]))
            clean[k++] = s[i];
    if (k == 0 || k % 4 || (k / 4) * 3 > cap)
        return false;
    int l = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)k);
    if (l < 0)
        return false;
    size_t pad = (clean[k - 1] == '=') + (k > 1 && clean[k - 2] == '=');
    *len = (size_t)l - pad;
    return true;
}

static bool sig_raw(const uint8_t *v, size_t n, uint8_t raw[64])
{
    if (n == 64) {
        memcpy(raw, v, 64);
        return true;
    }
    size_t rl = 0;
    sm_err e = {0};
    return hsm_sig_der_to_raw(v, n, 32, raw, 64, &rl, &e) == SM_OK && rl == 64;
}

static bool verify(const gpcert_issuer *eum, const void *msg, size_t len, const uint8_t sig[64])
{
    sm_err e = {0};
    return ecpub_verify_raw(eum->curve, eum->pub, sizeof eum->pub, msg, len, sig, 64, &e) == SM_OK;
}

static bool digest_is(const void *msg, size_t len, const uint8_t *want, size_t wl)
{
    uint8_t d[32];
    unsigned dl = 0;
    return wl == 32 && EVP_Digest(msg, len, d, &dl, EVP_sha256(), NULL) == 1 && !memcmp(d, want, 32);
}

sm_rc smsr_xmldsig_verify(const char *signed_c14n, size_t slen, const char *sig_xml, size_t siglen,
                          const gpcert_issuer *eum, sm_err *err)
{
    if (!signed_c14n || !slen || !sig_xml || !siglen)
        return sm_errf(err, SM_EPARSE, "EumSignature: the signed EumSignedInfo or the signature is missing");
    /* EumSignature is a ds:SignatureType: its content is SignedInfo, SignatureValue, [KeyInfo], Object*
     * (several elements, the ES layer's canonical children); one ds:Signature element is taken too.
     * Parsed under a neutral wrapper element. */
    static const char wo[] = "<w>", wc[] = "</w>";
    if (siglen > 65536)
        return sm_errf(err, SM_ELIMIT, "EumSignature: %zu bytes, more than 65536", siglen);
    char *wrapped = malloc(siglen + sizeof wo + sizeof wc);
    if (!wrapped)
        return sm_errf(err, SM_ENOMEM, "EumSignature: out of memory");
    memcpy(wrapped, wo, 3);
    memcpy(wrapped + 3, sig_xml, siglen);
    memcpy(wrapped + 3 + siglen, wc, 4);
    xml_limits lim = {.max_bytes = 65536 + 8, .max_depth = 17, .max_nodes = 201};
    xmlDocPtr doc = NULL;
    sm_rc rc = xml_parse(wrapped, siglen + 7, &lim, &doc, err);
    free(wrapped);
    if (rc != SM_OK) {
        sm_err_prefix(err, "EumSignature");
        return rc;
    }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr si = root ? (xml_is(root, NULL, "SignedInfo") ? root : find(root, "SignedInfo")) : NULL;
    xmlNodePtr sv = root ? find(root, "SignatureValue") : NULL;
    xmlNodePtr dv = si ? find(si, "DigestValue") : NULL;
    char *svt = NULL, *dvt = NULL, *sic = NULL;
    size_t svl = 0, dvl = 0, sil = 0;
    uint8_t sigv[80], dig[48], raw[64];
    size_t sl = 0, dl = 0;
    if (!si || !sv || !dv || !(svt = xml_text(sv, &svl)) || !(dvt = xml_text(dv, &dvl)) ||
        !decode(svt, svl, sigv, sizeof sigv, &sl) || !decode(dvt, dvl, dig, sizeof dig, &dl) || !sig_raw(sigv, sl, raw)) {
        rc = sm_errf(err, SM_EPARSE, "EumSignature: no usable SignedInfo, DigestValue and ECDSA SignatureValue");
        goto out;
    }
    /* the bytes the EUM may have signed: EumSignedInfo canonical, or as written before it inherited the
     * body's default namespace (the simulator's ES1 bodies) */
    const char *cand[2] = {signed_c14n, NULL};
    size_t cl[2] = {slen, 0};
    char *bare = NULL;
    const char *decl = strstr(signed_c14n, GSMA_NS_DECL);
    const char *gt = memchr(signed_c14n, '>', slen);
    if (decl && gt && decl < gt && (bare = malloc(slen))) {
        size_t a = (size_t)(decl - signed_c14n), dlen = strlen(GSMA_NS_DECL);
        memcpy(bare, signed_c14n, a);
        memcpy(bare + a, decl + dlen, slen - a - dlen);
        cand[1] = bare;
        cl[1] = slen - dlen;
    }
    bool ok = false;
    for (int i = 0; i < 2 && !ok && cand[i]; i++) {
        if (!digest_is(cand[i], cl[i], dig, dl))
            continue;
        /* standard: over the canonical SignedInfo; simulator: over the element bytes */
        if (!sic)
            sic = xml_c14n_node(doc, si, &sil);
        ok = (sic && verify(eum, sic, sil, raw)) || verify(eum, cand[i], cl[i], raw);
    }
    free(bare);
    if (!ok)
        rc = sm_errf(err, SM_EVERIFY, "EumSignature does not verify with the EUM certificate over EumSignedInfo");
out:
    free(svt);
    free(dvt);
    free(sic);
    xmlFreeDoc(doc);
    return rc;
}
