/* SCP81 (GP Amd B): PSK-TLS parameters and PSK handling, admin HTTP headers, scripts, push trigger. */
#include "crypto/scp81.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/tlv.h"
#include "lib/hex.h"
#include "lib/secmem.h"

/* ---- TLS ------------------------------------------------------------------------------------ */

bool scp81_cipher_allowed(uint16_t suite)
{
    return suite == 0x00A8 || suite == 0x00AE;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Strict hex (no whitespace) of exactly the given text length. */
static sm_rc unhex_strict(const char *t, size_t len, uint8_t *out, size_t cap, size_t *outlen, const char *what,
                          sm_err *err)
{
    if (len % 2 || len / 2 > cap)
        return sm_errf(err, SM_EPROTO, "scp81: %s is not %s hex", what, len % 2 ? "even-length" : "short enough");
    for (size_t i = 0; i < len; i += 2) {
        int a = hexval((unsigned char)t[i]), b = hexval((unsigned char)t[i + 1]);
        if (a < 0 || b < 0)
            return sm_errf(err, SM_EPROTO, "scp81: %s contains a non-hex character at %zu", what, a < 0 ? i : i + 1);
        out[i / 2] = (uint8_t)(a << 4 | b);
    }
    *outlen = len / 2;
    return SM_OK;
}

static void hex_upper(const uint8_t *p, size_t n, char *out)
{
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = 0;
}

sm_rc scp81_psk_id_encode(const scp81_psk_id *id, char *out, size_t cap, sm_err *err)
{
    if (id->aid_len < 5 || id->aid_len > 16)
        return sm_errf(err, SM_EINVAL, "scp81: AID of %zu bytes in a PSK identity", id->aid_len);
    uint8_t b[64];
    size_t n = 0;
    b[n++] = 0x80;
    b[n++] = 1;
    b[n++] = id->format;
    b[n++] = 0x81;
    b[n++] = 16;
    memcpy(b + n, id->eid, 16);
    n += 16;
    b[n++] = 0x4F;
    b[n++] = (uint8_t)id->aid_len;
    memcpy(b + n, id->aid, id->aid_len);
    n += id->aid_len;
    b[n++] = 0x82;
    b[n++] = 1;
    b[n++] = id->key_id;
    b[n++] = 0x83;
    b[n++] = 1;
    b[n++] = id->kvn;
    if (cap < 2 * n + 1)
        return sm_errf(err, SM_EINVAL, "scp81: PSK identity buffer too small");
    hex_upper(b, n, out);
    return SM_OK;
}

sm_rc scp81_psk_id_decode(const char *text, size_t len, scp81_psk_id *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    uint8_t b[64];
    size_t n;
    sm_rc rc = unhex_strict(text, len, b, sizeof b, &n, "the PSK identity", err);
    if (rc != SM_OK)
        return rc;
    tlv_rd r;
    tlv_rd_init(&r, b, n, TLV_F_MINLEN);
    tlv f, e, a, k, v;
    if ((rc = tlv_expect(&r, 0x80, &f, "identity format", err)) != SM_OK ||
        (rc = tlv_expect(&r, 0x81, &e, "EID", err)) != SM_OK || (rc = tlv_expect(&r, 0x4F, &a, "ISD-R AID", err)) != SM_OK ||
        (rc = tlv_expect(&r, 0x82, &k, "key identifier", err)) != SM_OK ||
        (rc = tlv_expect(&r, 0x83, &v, "key version", err)) != SM_OK ||
        (rc = tlv_rd_end(&r, "the PSK identity", err)) != SM_OK) {
        sm_err_prefix(err, "scp81: decoding a PSK identity");
        return SM_EPROTO;
    }
    if (f.len != 1 || e.len != 16 || a.len < 5 || a.len > 16 || k.len != 1 || v.len != 1)
        return sm_errf(err, SM_EPROTO, "scp81: PSK identity element lengths are wrong");
    if (v.val[0] < 0x40 || v.val[0] > 0x4F)
        return sm_errf(err, SM_EPROTO, "scp81: PSK identity names key version %02X, outside 40..4F", v.val[0]);
    out->format = f.val[0];
    memcpy(out->eid, e.val, 16);
    memcpy(out->aid, a.val, a.len);
    out->aid_len = a.len;
    out->key_id = k.val[0];
    out->kvn = v.val[0];
    return SM_OK;
}

#define PSK_MAX 64

sm_rc scp81_psk_load(hsm_sess *s, const hsm_key *kek, const uint8_t *wrapped, size_t len, scp81_psk *out,
                     sm_err *err)
{
    out->key = sm_secmem_alloc(PSK_MAX);
    out->len = 0;
    if (!out->key)
        return sm_errf(err, SM_ENOMEM, "scp81: cannot lock memory for the PSK");
    sm_rc rc = hsm_unwrap_psk_for_tls(s, kek, wrapped, len, out->key, PSK_MAX, &out->len, err);
    if (rc == SM_OK && (out->len < 16 || out->len > PSK_MAX))
        rc = sm_errf(err, SM_EINVAL, "scp81: PSK of %zu bytes", out->len);
    if (rc != SM_OK) {
        scp81_psk_wipe(out);
        sm_err_prefix(err, "scp81: obtaining the PSK");
    }
    return rc;
}

void scp81_psk_wipe(scp81_psk *psk)
{
    if (psk->key)
        sm_secmem_free(psk->key, PSK_MAX);
    psk->key = NULL;
    psk->len = 0;
}

struct psk_cb_data {
    scp81_psk_lookup_fn lookup;
    void *arg;
};

static int ctx_idx = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;
static _Thread_local char last_error[SM_ERR_MSG];

static void free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static void make_idx(void)
{
    ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_cb);
}

static unsigned int psk_server_cb(SSL *ssl, const char *identity, unsigned char *psk, unsigned int max_psk_len)
{
    struct psk_cb_data *d = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx);
    sm_err err = {0};
    scp81_psk_id id;
    scp81_psk k = {0};
    unsigned int n = 0;
    last_error[0] = 0;
    if (!d || !identity)
        sm_errf(&err, SM_EPROTO, "scp81: no PSK identity or no lookup configured");
    else if (scp81_psk_id_decode(identity, strlen(identity), &id, &err) == SM_OK &&
             d->lookup(d->arg, &id, &k, &err) == SM_OK) {
        if (k.len <= max_psk_len) {
            memcpy(psk, k.key, k.len);
            n = (unsigned int)k.len;
        } else {
            sm_errf(&err, SM_EINVAL, "scp81: PSK longer than OpenSSL accepts");
        }
    }
    scp81_psk_wipe(&k);
    if (!n)
        snprintf(last_error, sizeof last_error, "%s", err.msg[0] ? err.msg : "scp81: PSK lookup failed");
    return n;
}

sm_rc scp81_tls_server_setup(SSL_CTX *ctx, scp81_psk_lookup_fn lookup, void *arg, sm_err *err)
{
    pthread_once(&idx_once, make_idx);
    if (ctx_idx < 0)
        return sm_errf(err, SM_ECRYPTO, "scp81: OpenSSL has no ex_data index to spare");
    struct psk_cb_data *d = malloc(sizeof *d);
    if (!d)
        return sm_errf(err, SM_ENOMEM, "scp81: out of memory");
    d->lookup = lookup;
    d->arg = arg;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, SCP81_TLS_CIPHERS) != 1) {
        free(d);
        return sm_errf(err, SM_ECRYPTO, "scp81: OpenSSL refused the TLS 1.2 PSK configuration");
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    void *old = SSL_CTX_get_ex_data(ctx, ctx_idx);
    if (SSL_CTX_set_ex_data(ctx, ctx_idx, d) != 1) {
        free(d);
        return sm_errf(err, SM_ECRYPTO, "scp81: cannot attach the PSK lookup to the SSL_CTX");
    }
    free(old);
    SSL_CTX_set_psk_server_callback(ctx, psk_server_cb);
    return SM_OK;
}

const char *scp81_tls_last_error(const SSL *ssl)
{
    (void)ssl;
    return last_error;
}

/* ---- HTTP ------------------------------------------------------------------------------------- */

const char *scp81_status_name(scp81_status st)
{
    switch (st) {
    case SCP81_ST_NONE:
        return "(none)";
    case SCP81_ST_OK:
        return "ok";
    case SCP81_ST_UNKNOWN_APPLICATION:
        return "unknown-application";
    case SCP81_ST_NOT_A_SECURITY_DOMAIN:
        return "not-a-security-domain";
    case SCP81_ST_SECURITY_ERROR:
        return "security-error";
    }
    return "?";
}

void scp81_request_init(scp81_request *r)
{
    memset(r, 0, sizeof *r);
}

/* value without surrounding blanks */
static void trim(const char *v, const char **b, size_t *n)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t l = strlen(v);
    while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
        l--;
    *b = v;
    *n = l;
}

static bool eq_nocase(const char *a, size_t n, const char *b)
{
    return strlen(b) == n && strncasecmp(a, b, n) == 0;
}

/* Content types compare case-insensitively, ignoring blanks around ';'. */
static bool content_type_is(const char *v, size_t n, const char *want)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == ' ' || v[i] == '\t')
            continue;
        if (!want[j] || tolower((unsigned char)v[i]) != tolower((unsigned char)want[j]))
            return false;
        j++;
    }
    return want[j] == 0;
}

static sm_rc parse_from(scp81_request *r, const char *v, size_t n, sm_err *err)
{
    static const char p1[] = "//se-id/eid/", p2[] = ";//aa-id/aid/";
    if (n < sizeof p1 - 1 + 32 + sizeof p2 - 1 + 10 || strncasecmp(v, p1, sizeof p1 - 1) != 0)
        return sm_errf(err, SM_EPROTO, "scp81: X-Admin-From does not start with //se-id/eid/<EID>");
    const char *e = v + sizeof p1 - 1;
    size_t l;
    if (unhex_strict(e, 32, r->eid, 16, &l, "the EID in X-Admin-From", err) != SM_OK)
        return SM_EPROTO;
    const char *a = e + 32;
    size_t rest = n - (size_t)(a - v);
    if (rest < sizeof p2 - 1 || strncasecmp(a, p2, sizeof p2 - 1) != 0)
        return sm_errf(err, SM_EPROTO, "scp81: X-Admin-From lacks ;//aa-id/aid/<RID>/<PIX>");
    a += sizeof p2 - 1;
    rest -= sizeof p2 - 1;
    if (rest < 10 || unhex_strict(a, 10, r->agent_aid, 5, &l, "the RID in X-Admin-From", err) != SM_OK)
        return sm_errf(err, SM_EPROTO, "scp81: X-Admin-From has no 5-byte RID");
    a += 10;
    rest -= 10;
    size_t pl = 0;
    if (rest) {
        if (a[0] != '/' || unhex_strict(a + 1, rest - 1, r->agent_aid + 5, 11, &pl, "the PIX in X-Admin-From", err) != SM_OK)
            return sm_errf(err, SM_EPROTO, "scp81: X-Admin-From PIX is not /<hex, at most 11 bytes>");
    }
    r->agent_aid_len = 5 + pl;
    r->has_from = true;
    return SM_OK;
}

sm_rc scp81_request_header(scp81_request *r, const char *name, const char *value, sm_err *err)
{
    const char *v;
    size_t n;
    trim(value, &v, &n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7F)
            return sm_errf(err, SM_EPROTO, "scp81: control character in header %s", name);
    if (strcasecmp(name, "X-Admin-Protocol") == 0) {
        if (r->protocol || !eq_nocase(v, n, SCP81_ADMIN_PROTOCOL))
            return sm_errf(err, SM_EPROTO, "scp81: X-Admin-Protocol is not %s (or repeated)", SCP81_ADMIN_PROTOCOL);
        r->protocol = true;
    } else if (strcasecmp(name, "X-Admin-From") == 0) {
        if (r->has_from)
            return sm_errf(err, SM_EPROTO, "scp81: X-Admin-From repeated");
        return parse_from(r, v, n, err);
    } else if (strcasecmp(name, "X-Admin-Script-Status") == 0) {
        static const struct {
            const char *s;
            scp81_status st;
        } map[] = {{"ok", SCP81_ST_OK},
                   {"unknown-application", SCP81_ST_UNKNOWN_APPLICATION},
                   {"not-a-security-domain", SCP81_ST_NOT_A_SECURITY_DOMAIN},
                   {"security-error", SCP81_ST_SECURITY_ERROR}};
        if (r->status != SCP81_ST_NONE)
            return sm_errf(err, SM_EPROTO, "scp81: X-Admin-Script-Status repeated");
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (eq_nocase(v, n, map[i].s)) {
                r->status = map[i].st;
                return SM_OK;
            }
        return sm_errf(err, SM_EPROTO, "scp81: unknown X-Admin-Script-Status value");
    } else if (strcasecmp(name, "X-Admin-Resume") == 0) {
        if (eq_nocase(v, n, "true"))
            r->resume = true;
        else if (!eq_nocase(v, n, "false"))
            return sm_errf(err, SM_EPROTO, "scp81: X-Admin-Resume is neither true nor false");
    } else if (strcasecmp(name, "Content-Type") == 0) {
        if (r->has_content_type || !content_type_is(v, n, SCP81_CT_RESPONSE))
            return sm_errf(err, SM_EPROTO, "scp81: Content-Type is not %s (or repeated)", SCP81_CT_RESPONSE);
        r->has_content_type = true;
    }
    return SM_OK;
}

sm_rc scp81_request_check(const scp81_request *r, size_t body_len, sm_err *err)
{
    if (!r->protocol)
        return sm_errf(err, SM_EPROTO, "scp81: the POST has no X-Admin-Protocol header");
    if (body_len) {
        if (!r->has_content_type)
            return sm_errf(err, SM_EPROTO, "scp81: a response script without its Content-Type");
        if (r->status == SCP81_ST_NONE)
            return sm_errf(err, SM_EPROTO, "scp81: a response script without X-Admin-Script-Status");
    }
    return SM_OK;
}

static bool uri_ok(const char *u)
{
    if (!u[0] || strlen(u) > 2048)
        return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F)
            return false;
    return true;
}

sm_rc scp81_reply_headers(const scp81_reply *r, sm_buf *out, sm_err *err)
{
    if (r->status != 200 && r->status != 204)
        return sm_errf(err, SM_EINVAL, "scp81: reply status %d (200 or 204)", r->status);
    if (r->status == 200 && !r->next_uri)
        return sm_errf(err, SM_EINVAL, "scp81: a 200 reply needs X-Admin-Next-URI for the card's answer");
    if (r->next_uri && !uri_ok(r->next_uri))
        return sm_errf(err, SM_EINVAL, "scp81: X-Admin-Next-URI has characters outside visible ASCII");
    if (r->target_aid && (r->target_aid_len < 5 || r->target_aid_len > 16))
        return sm_errf(err, SM_EINVAL, "scp81: targeted AID of %zu bytes", r->target_aid_len);
    int bad = sm_buf_printf(out, "X-Admin-Protocol: %s\r\n", SCP81_ADMIN_PROTOCOL);
    if (r->status == 200)
        bad = bad || sm_buf_printf(out, "Content-Type: %s\r\n", SCP81_CT_COMMAND);
    if (r->next_uri)
        bad = bad || sm_buf_printf(out, "X-Admin-Next-URI: %s\r\n", r->next_uri);
    if (r->target_aid) {
        char rid[11], pix[23];
        hex_upper(r->target_aid, 5, rid);
        hex_upper(r->target_aid + 5, r->target_aid_len - 5, pix);
        bad = bad || sm_buf_printf(out, "X-Admin-Targeted-Application: //aid/%s/%s\r\n", rid, pix);
    }
    if (bad)
        return sm_errf(err, SM_ENOMEM, "scp81: out of memory");
    return SM_OK;
}

/* ---- scripts ------------------------------------------------------------------------------------ */

sm_rc scp81_script_open(scp81_script *sc, sm_buf *b, bool indefinite, sm_err *err)
{
    memset(sc, 0, sizeof *sc);
    sc->b = b;
    sc->indefinite = indefinite;
    if (indefinite ? tlv_open_indef(b, 0xAE) : (sc->mark = tlv_open(b, 0xAA)) == (size_t)-1)
        return sm_errf(err, SM_ENOMEM, "scp81: out of memory");
    return SM_OK;
}

sm_rc scp81_script_chaining(scp81_script *sc, uint8_t cc, sm_err *err)
{
    if (sc->items)
        return sm_errf(err, SM_ESTATE, "scp81: script chaining must be the first element");
    if (cc != 0x01 && cc != 0x11 && cc != 0x02 && cc != 0x03)
        return sm_errf(err, SM_EINVAL, "scp81: script chaining value %02X", cc);
    if (tlv_put_u8(sc->b, 0x83, cc))
        return sm_errf(err, SM_ENOMEM, "scp81: out of memory");
    sc->items++;
    return SM_OK;
}

sm_rc scp81_script_capdu(scp81_script *sc, const uint8_t *apdu, size_t len, sm_err *err)
{
    if (len < 4 || len > 65535 + 9)
        return sm_errf(err, SM_EINVAL, "scp81: C-APDU of %zu bytes", len);
    if (tlv_put(sc->b, 0x22, apdu, len))
        return sm_errf(err, SM_ENOMEM, "scp81: out of memory");
    sc->items++;
    return SM_OK;
}

sm_rc scp81_script_raw(scp81_script *sc, const uint8_t *tlvs, size_t len, sm_err *err)
{
    tlv_rd r;
    tlv_rd_init(&r, tlvs, len, 0);
    tlv t;
    sm_rc rc;
    size_t n = 0;
    while ((rc = tlv_next(&r, &t, err)) == SM_OK)
        n++;
    if (rc != SM_ENOTFOUND) {
        sm_err_prefix(err, "scp81: TLVs for a script");
        return rc;
    }
    if (sm_buf_append(sc->b, tlvs, len))
        return sm_errf(err, SM_ENOMEM, "scp81: out of memory");
    sc->items += n;
    return SM_OK;
}

sm_rc scp81_script_close(scp81_script *sc, sm_err *err)
{
    if (sc->indefinite ? tlv_close_indef(sc->b) : tlv_close(sc->b, sc->mark))
        return sm_errf(err, SM_ENOMEM, "scp81: out of memory");
    return SM_OK;
}

sm_rc scp81_script_parse(const uint8_t *p, size_t len, bool response, scp81_parsed *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    out->chaining = -1;
    out->executed = -1;
    tlv_rd top;
    tlv_rd_init(&top, p, len, TLV_F_INDEF);
    tlv t;
    sm_rc rc = tlv_next(&top, &t, err);
    if (rc == SM_ENOTFOUND)
        return sm_errf(err, SM_EPARSE, "scp81: empty script");
    if (rc == SM_OK)
        rc = tlv_rd_end(&top, "the script", err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "scp81: parsing a %s script", response ? "response" : "command");
        return rc;
    }
    uint32_t want_indef = response ? 0xAF : 0xAE, want_def = response ? 0xAB : 0xAA;
    if ((t.tag != want_indef && t.tag != want_def) || (t.tag == want_indef) != t.indefinite)
        return sm_errf(err, SM_EPARSE, "scp81: a %s script must be %02X 80 .. 00 00 or %02X L .. (found tag %X%s)",
                       response ? "response" : "command", want_indef, want_def, (unsigned)t.tag,
                       t.indefinite ? " indefinite" : "");
    out->tag = t.tag;
    out->indefinite = t.indefinite;
    tlv_rd r;
    if ((rc = tlv_rd_child(&top, &t, &r, err)) != SM_OK)
        return rc;
    r.flags &= ~(unsigned)TLV_F_INDEF; /* elements are definite */
    size_t cap = 0;
    tlv e;
    while ((rc = tlv_next(&r, &e, err)) == SM_OK) {
        if (out->n == SCP81_ITEMS_MAX) {
            rc = sm_errf(err, SM_ELIMIT, "scp81: more than %d script elements", SCP81_ITEMS_MAX);
            break;
        }
        if (!response && e.tag == 0x83) {
            if (out->n != 0 || e.len != 1) {
                rc = sm_errf(err, SM_EPARSE, "scp81: script chaining (83) at offset %zu is not a first 1-byte element",
                             e.off);
                break;
            }
            out->chaining = e.val[0];
        } else if (response && e.tag == 0x80) {
            if (e.len != 1 || out->executed >= 0) {
                rc = sm_errf(err, SM_EPARSE, "scp81: number of executed commands (80) at offset %zu is malformed",
                             e.off);
                break;
            }
            out->executed = e.val[0];
        } else if (response && e.tag == 0x90) {
            out->bad_format = true;
        } else if (e.tag == (response ? 0x23u : 0x22u)) {
            if (e.len < (response ? 2u : 4u)) {
                rc = sm_errf(err, SM_EPARSE, "scp81: %s at offset %zu is %zu bytes", response ? "R-APDU" : "C-APDU",
                             e.off, e.len);
                break;
            }
            out->n_apdu++;
        }
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            scp81_item *ni = realloc(out->items, nc * sizeof *ni);
            if (!ni) {
                rc = sm_errf(err, SM_ENOMEM, "scp81: out of memory");
                break;
            }
            out->items = ni;
            cap = nc;
        }
        out->items[out->n++] = (scp81_item){e.tag, e.val, e.len, e.raw, e.rawlen};
    }
    if (rc == SM_ENOTFOUND)
        return SM_OK;
    scp81_parsed_free(out);
    sm_err_prefix(err, "scp81: parsing a %s script", response ? "response" : "command");
    return rc;
}

void scp81_parsed_free(scp81_parsed *ps)
{
    free(ps->items);
    ps->items = NULL;
    ps->n = 0;
}

sm_rc scp81_rapdu(const scp81_item *it, const uint8_t **data, size_t *dlen, uint16_t *sw, sm_err *err)
{
    if (it->tag != 0x23 || it->len < 2)
        return sm_errf(err, SM_EPARSE, "scp81: not an R-APDU TLV (23) with a status word");
    *data = it->val;
    *dlen = it->len - 2;
    *sw = (uint16_t)(it->val[it->len - 2] << 8 | it->val[it->len - 1]);
    return SM_OK;
}

/* ---- push trigger ------------------------------------------------------------------------------ */

sm_rc scp81_trigger_encode(const scp81_trigger *t, sm_buf *out, sm_err *err)
{
    if (!t->psk_id || !t->psk_id_len || t->psk_id_len > 200 || !t->uri || !t->host || !t->agent_id)
        return sm_errf(err, SM_EINVAL, "scp81: the trigger needs a PSK identity, host, agent id and URI");
    if (t->kvn < 0x40 || t->kvn > 0x4F)
        return sm_errf(err, SM_EINVAL, "scp81: SCP81 key version %02X outside 40..4F", t->kvn);
    size_t m81 = tlv_open(out, 0x81), m83 = tlv_open(out, 0x83);
    int bad = m81 == (size_t)-1 || m83 == (size_t)-1;
    if (!bad && t->conn_len)
        bad = tlv_put(out, 0x84, t->conn, t->conn_len);
    if (!bad) {
        size_t m85 = tlv_open(out, 0x85);
        uint8_t tail[3] = {0x02, t->kvn, t->key_id};
        bad = sm_buf_append_byte(out, (uint8_t)t->psk_id_len) || sm_buf_append(out, t->psk_id, t->psk_id_len) ||
              sm_buf_append(out, tail, 3) || tlv_close(out, m85);
    }
    if (!bad && t->has_retry) {
        uint8_t r[7] = {(uint8_t)(t->retry_count >> 8), (uint8_t)t->retry_count, 0xA5, 0x03, t->retry_timer[0],
                        t->retry_timer[1], t->retry_timer[2]};
        bad = tlv_put(out, 0x86, r, sizeof r);
    }
    if (!bad) {
        size_t m89 = tlv_open(out, 0x89);
        bad = tlv_put(out, 0x8A, t->host, strlen(t->host)) || tlv_put(out, 0x8B, t->agent_id, strlen(t->agent_id)) ||
              tlv_put(out, 0x8C, t->uri, strlen(t->uri)) || tlv_close(out, m89);
    }
    bad = bad || tlv_close(out, m83) || tlv_close(out, m81);
    if (bad)
        return sm_errf(err, SM_ENOMEM, "scp81: out of memory");
    return SM_OK;
}
