/* smctl tool: offline crypto for operators and auditors. Every subcommand runs without the
 * appliance, on test keys imported as session objects of a throw-away development token, and
 * exits 0 on success, 1 with a one-line error on bad input or a failed check, 2 on usage errors. */
#include "appliance/smctl_tool.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "appliance/devtoken.h"
#include "crypto/ecka.h"
#include "crypto/ecpub.h"
#include "crypto/gpcert.h"
#include "crypto/scp03.h"
#include "crypto/scp03t.h"
#include "crypto/scp80.h"
#include "crypto/tlv.h"
#include "lib/buf.h"
#include "lib/hex.h"

#define INPUT_MAX (1u << 20)

static const char *g_sub = "";

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "smctl tool %s: %s\n", g_sub, msg);
    return 1;
}

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "smctl tool %s: %s (see `smctl help tool`)\n", g_sub, msg);
    return 2;
}

/* ---- options --------------------------------------------------------------------------------- */

#define OPT_MAX 24

typedef struct opts {
    const char *name[OPT_MAX];
    const char *val[OPT_MAX];
    int n;
    const char *pos[OPT_MAX];
    int npos;
} opts;

/* known: "name=" takes a value, "name" is a flag. */
static int parse_opts(int argc, char **argv, const char *const *known, opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || !a[2]) {
            if (o->npos == OPT_MAX)
                return usage("too many arguments");
            o->pos[o->npos++] = a;
            continue;
        }
        const char *nm = a + 2;
        bool found = false, takes = false;
        for (const char *const *k = known; *k; k++) {
            size_t l = strlen(*k);
            bool v = (*k)[l - 1] == '=';
            if (strlen(nm) == l - (v ? 1 : 0) && strncmp(nm, *k, l - (v ? 1 : 0)) == 0) {
                found = true;
                takes = v;
                break;
            }
        }
        if (!found)
            return usage("unknown option --%s", nm);
        if (o->n == OPT_MAX)
            return usage("too many options");
        for (int j = 0; j < o->n; j++)
            if (strcmp(o->name[j], nm) == 0)
                return usage("--%s given twice", nm);
        o->name[o->n] = nm;
        if (takes) {
            if (i + 1 >= argc)
                return usage("--%s needs a value", nm);
            o->val[o->n] = argv[++i];
        } else {
            o->val[o->n] = "";
        }
        o->n++;
    }
    return 0;
}

static const char *opt(const opts *o, const char *name)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->name[i], name) == 0)
            return o->val[i];
    return NULL;
}

static bool stdin_used;

static int read_stdin(char **out, size_t *len)
{
    if (stdin_used)
        return fail("only one value can come from stdin");
    stdin_used = true;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (!b)
        return fail("out of memory");
    size_t r;
    while ((r = fread(b + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (n + 1 == cap) {
            if (cap >= INPUT_MAX) {
                free(b);
                return fail("stdin is larger than %u bytes", INPUT_MAX);
            }
            cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                return fail("out of memory");
            }
            b = nb;
        }
    }
    b[n] = 0;
    *out = b;
    *len = n;
    return 0;
}

/* A hex value: the option's text, or stdin when it is "-". */
typedef struct bytes {
    uint8_t *p;
    size_t n;
} bytes;

static void bytes_free(bytes *b)
{
    if (b->p)
        explicit_bzero(b->p, b->n);
    free(b->p);
    b->p = NULL;
    b->n = 0;
}

static int get_hex(const opts *o, const char *name, bool required, bytes *out)
{
    out->p = NULL;
    out->n = 0;
    const char *v = opt(o, name);
    if (!v)
        return required ? usage("--%s is required", name) : 0;
    char *text = NULL;
    size_t tl;
    if (strcmp(v, "-") == 0) {
        if (read_stdin(&text, &tl))
            return 1;
        v = text;
    }
    sm_err err = {0};
    sm_rc rc = sm_hex_decode_alloc(v, &out->p, &out->n, &err);
    free(text);
    if (rc != SM_OK)
        return fail("--%s: %s", name, err.msg);
    return 0;
}

static int get_hex_len(const opts *o, const char *name, bool required, size_t lo, size_t hi, bytes *out)
{
    int r = get_hex(o, name, required, out);
    if (r || !out->p)
        return r;
    if (out->n < lo || out->n > hi) {
        size_t n = out->n;
        bytes_free(out);
        if (lo == hi)
            return fail("--%s must be %zu bytes (got %zu)", name, lo, n);
        return fail("--%s must be %zu..%zu bytes (got %zu)", name, lo, hi, n);
    }
    return 0;
}

static int get_uint(const opts *o, const char *name, unsigned long lo, unsigned long hi, unsigned long dflt,
                    unsigned long *out)
{
    const char *v = opt(o, name);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || !*v || *end || x < lo || x > hi)
        return fail("--%s must be a decimal number in %lu..%lu", name, lo, hi);
    *out = x;
    return 0;
}

static void put_hex(const char *label, const uint8_t *p, size_t n)
{
    char *h = malloc(2 * n + 1);
    if (!h)
        return;
    sm_hex_encode(p, n, h);
    if (label)
        printf("%s: %s\n", label, h);
    else
        printf("%s\n", h);
    free(h);
}

/* Reads a file: DER / 7F21 bytes, or hex text (whitespace allowed). */
static int read_file(const char *path, bytes *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail("%s: %s", path, strerror(errno));
    uint8_t *b = malloc(INPUT_MAX + 1);
    size_t n = b ? fread(b, 1, INPUT_MAX + 1, f) : 0;
    fclose(f);
    if (!b)
        return fail("out of memory");
    if (n == 0 || n > INPUT_MAX) {
        free(b);
        return fail("%s: %s", path, n ? "larger than 1 MiB" : "empty");
    }
    bool text = true;
    for (size_t i = 0; i < n && text; i++)
        text = isxdigit(b[i]) || isspace(b[i]);
    if (text) {
        b[n] = 0;
        sm_err err = {0};
        sm_rc rc = sm_hex_decode_alloc((const char *)b, &out->p, &out->n, &err);
        free(b);
        if (rc != SM_OK)
            return fail("%s: %s", path, err.msg);
        return 0;
    }
    out->p = b;
    out->n = n;
    return 0;
}

/* ---- token and keys ---------------------------------------------------------------------------- */

static devtoken TOK;

static hsm_sess *token(void)
{
    if (TOK.sess)
        return TOK.sess;
    sm_err err = {0};
    if (devtoken_open(&TOK, &err) != SM_OK) {
        fail("%s", err.msg);
        return NULL;
    }
    return TOK.sess;
}

static int import_key(hsm_keytype type, const bytes *v, unsigned usage, const char *what, hsm_key *out)
{
    hsm_sess *s = token();
    if (!s)
        return 1;
    hsm_keyspec sp = {.type = type, .len = (unsigned)v->n, .usage = usage};
    sm_err err = {0};
    if (hsm_secret_import(s, &sp, v->p, v->n, out, &err) != SM_OK)
        return fail("%s: %s", what, err.msg);
    return 0;
}

static int import_aes(const bytes *v, unsigned usage, const char *what, hsm_key *out)
{
    if (v->n != 16 && v->n != 24 && v->n != 32)
        return fail("%s must be an AES key of 16, 24 or 32 bytes (got %zu)", what, v->n);
    return import_key(HSM_KT_AES, v, usage, what, out);
}

/* SCP80 keys follow the KIc/KID algorithm nibble: 2 AES, 5 3DES two-key, 9 3DES three-key. */
static int import_scp80(uint8_t algo_byte, const bytes *v, bool kid, const char *what, hsm_key *out)
{
    hsm_keytype t;
    switch (algo_byte & 0x0F) {
    case 0x02:
        if (v->n != 16 && v->n != 24 && v->n != 32)
            return fail("%s: an AES key is 16, 24 or 32 bytes", what);
        t = HSM_KT_AES;
        break;
    case 0x05:
        if (v->n != 16)
            return fail("%s: a two-key 3DES key is 16 bytes", what);
        t = HSM_KT_DES2;
        break;
    case 0x09:
        if (v->n != 24)
            return fail("%s: a three-key 3DES key is 24 bytes", what);
        t = HSM_KT_DES3;
        break;
    default:
        return fail("%s: algorithm %X is not supported (2 AES, 5 or 9 3DES)", what, algo_byte & 0x0F);
    }
    hsm_keyspec sp;
    if (kid)
        scp80_kid_keyspec(t, (unsigned)v->n, false, &sp);
    else
        scp80_kic_keyspec(t, (unsigned)v->n, false, &sp);
    hsm_sess *s = token();
    if (!s)
        return 1;
    sm_err err = {0};
    if (hsm_secret_import(s, &sp, v->p, v->n, out, &err) != SM_OK)
        return fail("%s: %s", what, err.msg);
    return 0;
}

/* ---- cmac ------------------------------------------------------------------------------------------ */

static int cmd_cmac(int argc, char **argv)
{
    static const char *const known[] = {"key=", "data=", NULL};
    opts o;
    bytes key = {0}, data = {0};
    int r = parse_opts(argc, argv, known, &o);
    if (!r)
        r = get_hex(&o, "key", true, &key);
    if (!r)
        r = get_hex(&o, "data", true, &data);
    hsm_key k;
    if (!r)
        r = import_aes(&key, HSM_U_SIGN, "--key", &k);
    if (!r) {
        uint8_t mac[16];
        sm_err err = {0};
        if (hsm_aes_cmac(TOK.sess, &k, data.p, data.n, mac, &err) != SM_OK)
            r = fail("%s", err.msg);
        else
            put_hex(NULL, mac, 16);
    }
    bytes_free(&key);
    bytes_free(&data);
    return r;
}

/* ---- kdf-x963 --------------------------------------------------------------------------------------- */

static int openssl_x963(const bytes *z, const bytes *info, uint8_t *out, size_t n)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
    EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[4];
    int k = 0;
    p[k++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
    p[k++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z->p, z->n);
    if (info->n)
        p[k++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info->p, info->n);
    p[k] = OSSL_PARAM_construct_end();
    int ok = c && EVP_KDF_derive(c, out, n, p) == 1;
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(kdf);
    return ok ? 0 : fail("OpenSSL X963KDF failed");
}

static int openssl_kcv(const uint8_t *key, size_t klen, uint8_t out[3])
{
    const EVP_CIPHER *ci = klen == 16 ? EVP_aes_128_ecb() : klen == 24 ? EVP_aes_192_ecb() : EVP_aes_256_ecb();
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    uint8_t one[16], e[32];
    memset(one, 1, 16);
    int l = 0;
    int ok = x && EVP_EncryptInit_ex(x, ci, NULL, key, NULL) == 1 && EVP_CIPHER_CTX_set_padding(x, 0) == 1 &&
             EVP_EncryptUpdate(x, e, &l, one, 16) == 1 && l == 16;
    EVP_CIPHER_CTX_free(x);
    if (!ok)
        return fail("OpenSSL AES failed");
    memcpy(out, e, 3);
    return 0;
}

static int cmd_kdf_x963(int argc, char **argv)
{
    static const char *const known[] = {"z=", "info=", "len=", NULL};
    opts o;
    bytes z = {0}, info = {0};
    unsigned long n = 0;
    int r = parse_opts(argc, argv, known, &o);
    if (!r)
        r = get_hex_len(&o, "z", true, 1, 64, &z);
    if (!r)
        r = get_hex(&o, "info", false, &info);
    if (!r && !opt(&o, "len"))
        r = usage("--len is required");
    if (!r)
        r = get_uint(&o, "len", 1, 256, 0, &n);
    size_t n16 = (n + 15) / 16 * 16;
    uint8_t ref[256];
    if (!r)
        r = openssl_x963(&z, &info, ref, n16);
    hsm_sess *s = r ? NULL : token();
    if (!r && !s)
        r = 1;
    if (!r) {
        /* the same KDF in the HSM path (hsm_x963_from_value), compared chunk by chunk by KCV */
        size_t nk = n16 / 16;
        hsm_keyspec specs[16];
        hsm_key keys[16];
        for (size_t i = 0; i < nk; i++)
            specs[i] = (hsm_keyspec){.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
        sm_err err = {0};
        if (hsm_x963_from_value(s, z.p, z.n, info.p, info.n, specs, nk, keys, &err) != SM_OK)
            r = fail("HSM path: %s", err.msg);
        for (size_t i = 0; !r && i < nk; i++) {
            uint8_t a[3], b[3];
            if (scp03_kcv(s, &keys[i], a, &err) != SM_OK)
                r = fail("HSM path: %s", err.msg);
            else if (!(r = openssl_kcv(ref + 16 * i, 16, b)) && memcmp(a, b, 3) != 0)
                r = fail("MISMATCH: the HSM path and OpenSSL disagree on output bytes %zu..%zu", 16 * i, 16 * i + 15);
        }
        for (size_t i = 0; !err.code && i < nk; i++)
            hsm_key_destroy(s, &keys[i], NULL);
    }
    if (!r)
        put_hex(NULL, ref, n);
    explicit_bzero(ref, sizeof ref);
    bytes_free(&z);
    bytes_free(&info);
    return r;
}

/* ---- scp03-kdf / scp03-wrap ----------------------------------------------------------------------- */

static int cmd_scp03_kdf(int argc, char **argv)
{
    static const char *const known[] = {"key=", "constant=", "context=", "bits=", NULL};
    opts o;
    bytes key = {0}, c = {0}, ctx = {0};
    unsigned long bits = 0;
    int r = parse_opts(argc, argv, known, &o);
    if (!r)
        r = get_hex(&o, "key", true, &key);
    if (!r)
        r = get_hex_len(&o, "constant", true, 1, 1, &c);
    if (!r)
        r = get_hex_len(&o, "context", true, 0, 64, &ctx);
    if (!r && !opt(&o, "bits"))
        r = usage("--bits is required");
    if (!r)
        r = get_uint(&o, "bits", 8, 512, 0, &bits);
    if (!r && bits % 8)
        r = fail("--bits must be a multiple of 8");
    hsm_key k;
    if (!r)
        r = import_aes(&key, HSM_U_SIGN, "--key", &k);
    if (!r) {
        uint8_t out[64];
        sm_err err = {0};
        if (scp03_kdf(TOK.sess, &k, c.p[0], ctx.p, ctx.n, (unsigned)bits, out, &err) != SM_OK)
            r = fail("%s", err.msg);
        else
            put_hex(NULL, out, bits / 8);
        explicit_bzero(out, sizeof out);
    }
    bytes_free(&key);
    bytes_free(&c);
    bytes_free(&ctx);
    return r;
}

static int cmd_scp03_wrap(int argc, char **argv)
{
    static const char *const known[] = {"enc=", "mac=", "chain=", "counter=", "apdu=", "level=", NULL};
    opts o;
    bytes enc = {0}, mac = {0}, chain = {0}, apdu = {0}, level = {0};
    unsigned long ctr = 1;
    int r = parse_opts(argc, argv, known, &o);
    if (!r)
        r = get_hex(&o, "mac", true, &mac);
    if (!r)
        r = get_hex(&o, "enc", false, &enc);
    if (!r)
        r = get_hex_len(&o, "chain", false, 16, 16, &chain);
    if (!r)
        r = get_hex_len(&o, "apdu", true, 4, 261, &apdu);
    if (!r)
        r = get_hex_len(&o, "level", false, 1, 1, &level);
    if (!r)
        r = get_uint(&o, "counter", 1, 0xFFFFFFFFul, 1, &ctr);
    uint8_t sl = level.p ? level.p[0] : (enc.p ? 0x03 : 0x01);
    if (!r && sl != 0x01 && sl != 0x03 && sl != 0x11 && sl != 0x13 && sl != 0x33)
        r = fail("--level %02X is not one of 01 03 11 13 33", sl);
    if (!r && (sl & 0x02) && !enc.p)
        r = usage("--enc is required at level %02X", sl);
    hsm_key ke = {0}, km;
    if (!r)
        r = import_aes(&mac, HSM_U_SIGN, "--mac", &km);
    if (!r && enc.p)
        r = import_aes(&enc, HSM_U_ENCRYPT | HSM_U_DECRYPT, "--enc", &ke);
    if (!r) {
        static const uint8_t zero[16];
        scp03_session ss;
        scp03_session_from_keys(enc.p ? &ke : NULL, &km, &km, (unsigned)mac.n, sl, chain.p ? chain.p : zero,
                                (uint32_t)(ctr - 1), &ss);
        uint8_t out[300];
        size_t ol = 0;
        sm_err err = {0};
        if (scp03_wrap(TOK.sess, &ss, apdu.p, apdu.n, out, sizeof out, &ol, &err) != SM_OK) {
            r = fail("%s", err.msg);
        } else {
            put_hex(NULL, out, ol);
            put_hex("chain", ss.mcv, 16);
        }
    }
    bytes_free(&enc);
    bytes_free(&mac);
    bytes_free(&chain);
    bytes_free(&apdu);
    bytes_free(&level);
    return r;
}

/* ---- scp03t ----------------------------------------------------------------------------------------- */

/* One SCP03t protected TLV (an 86 profile segment, or 87/88 MAC-only) with given session keys. */
static int cmd_scp03t_wrap(int argc, char **argv)
{
    static const char *const known[] = {"senc=", "smac=", "mcv=", "counter=", "tag=", "data=", NULL};
    opts o;
    bytes senc = {0}, smac = {0}, mcv = {0}, tag = {0}, data = {0};
    unsigned long ctr = 1;
    int r = parse_opts(argc, argv, known, &o);
    if (!r)
        r = get_hex(&o, "senc", true, &senc);
    if (!r)
        r = get_hex(&o, "smac", true, &smac);
    if (!r)
        r = get_hex_len(&o, "mcv", false, 16, 16, &mcv);
    if (!r)
        r = get_hex_len(&o, "tag", false, 1, 1, &tag);
    if (!r)
        r = get_hex_len(&o, "data", true, 1, SCP03T_SEG_MAX, &data);
    if (!r)
        r = get_uint(&o, "counter", 1, 0xFFFFFFFFul, 1, &ctr);
    uint8_t t = tag.p ? tag.p[0] : 0x86;
    if (!r && t != 0x86 && t != 0x87 && t != 0x88)
        r = fail("--tag %02X is not 86, 87 or 88", t);
    hsm_key ke, km;
    if (!r)
        r = import_aes(&senc, HSM_U_ENCRYPT | HSM_U_DECRYPT, "--senc", &ke);
    if (!r)
        r = import_aes(&smac, HSM_U_SIGN, "--smac", &km);
    if (!r) {
        static const uint8_t zero[16];
        scp03t_session ss;
        scp03t_session_from_keys(&ke, &km, &km, mcv.p ? mcv.p : zero, &ss);
        ss.sc.ctr = (uint32_t)(ctr - 1);
        sm_buf out;
        sm_buf_init(&out);
        sm_err err = {0};
        if (scp03t_wrap_tlv(TOK.sess, &ss, t, t == 0x86, data.p, data.n, &out, &err) != SM_OK) {
            r = fail("%s", err.msg);
        } else {
            put_hex("tlv", out.data, out.len);
            put_hex("mcv", ss.sc.mcv, 16);
            printf("counter: %lu\n", (unsigned long)ss.sc.ctr);
        }
        sm_buf_free(&out);
        scp03t_close(TOK.sess, &ss);
    }
    bytes_free(&senc);
    bytes_free(&smac);
    bytes_free(&mcv);
    bytes_free(&tag);
    bytes_free(&data);
    return r;
}

/* ---- scp80 ------------------------------------------------------------------------------------------ */

static const char *const scp80_known[] = {"spi=", "kic=", "kid=", "tar=", "cntr=", "kic-key=", "kid-key=", "data=",
                                          "por=", "sms", "ref=", NULL};

/* Common SCP80 header options and keys. */
static int scp80_setup(const opts *o, scp80_params *p, hsm_key *kic, hsm_key *kid, bool *has_kic, bool *has_kid)
{
    bytes spi = {0}, b = {0}, tar = {0}, cntr = {0}, kk = {0}, kd = {0};
    int r = get_hex_len(o, "spi", true, 2, 2, &spi);
    memset(p, 0, sizeof *p);
    if (!r) {
        memcpy(p->spi, spi.p, 2);
        r = get_hex_len(o, "kic", true, 1, 1, &b);
    }
    if (!r) {
        p->kic = b.p[0];
        bytes_free(&b);
        r = get_hex_len(o, "kid", true, 1, 1, &b);
    }
    if (!r) {
        p->kid = b.p[0];
        r = get_hex_len(o, "tar", true, 3, 3, &tar);
    }
    if (!r) {
        memcpy(p->tar, tar.p, 3);
        r = get_hex_len(o, "cntr", false, 1, 5, &cntr);
    }
    if (!r && cntr.p)
        for (size_t i = 0; i < cntr.n; i++)
            p->cntr = p->cntr << 8 | cntr.p[i];
    if (!r)
        r = get_hex(o, "kic-key", false, &kk);
    if (!r)
        r = get_hex(o, "kid-key", false, &kd);
    *has_kic = kk.p != NULL;
    *has_kid = kd.p != NULL;
    if (!r && kk.p)
        r = import_scp80(p->kic, &kk, false, "--kic-key", kic);
    if (!r && kd.p)
        r = import_scp80(p->kid, &kd, true, "--kid-key", kid);
    bytes_free(&spi);
    bytes_free(&b);
    bytes_free(&tar);
    bytes_free(&cntr);
    bytes_free(&kk);
    bytes_free(&kd);
    return r;
}

static int cmd_scp80_wrap(int argc, char **argv)
{
    opts o;
    scp80_params p;
    hsm_key kic, kid;
    bool hk, hd;
    bytes data = {0}, ref = {0};
    int r = parse_opts(argc, argv, scp80_known, &o);
    if (!r && opt(&o, "por"))
        r = usage("--por belongs to scp80-unwrap-por");
    if (!r)
        r = get_hex(&o, "data", true, &data);
    if (!r)
        r = get_hex_len(&o, "ref", false, 1, 1, &ref);
    if (!r)
        r = scp80_setup(&o, &p, &kic, &kid, &hk, &hd);
    if (!r && !token())
        r = 1;
    sm_buf pkt;
    sm_buf_init(&pkt);
    if (!r) {
        sm_err err = {0};
        if (scp80_wrap(TOK.sess, &p, hk ? &kic : NULL, hd ? &kid : NULL, data.p, data.n, &pkt, &err) != SM_OK)
            r = fail("%s", err.msg);
    }
    if (!r && opt(&o, "sms")) {
        scp80_sms parts[SCP80_PARTS_MAX];
        size_t n = 0;
        sm_err err = {0};
        if (scp80_sms_frame(pkt.data, pkt.len, ref.p ? ref.p[0] : 0, parts, SCP80_PARTS_MAX, &n, &err) != SM_OK)
            r = fail("%s", err.msg);
        for (size_t i = 0; !r && i < n; i++)
            put_hex(NULL, parts[i].ud, parts[i].len);
    } else if (!r) {
        put_hex(NULL, pkt.data, pkt.len);
    }
    sm_buf_free(&pkt);
    bytes_free(&data);
    bytes_free(&ref);
    return r;
}

static int cmd_scp80_unwrap_por(int argc, char **argv)
{
    opts o;
    scp80_params p;
    hsm_key kic, kid;
    bool hk, hd;
    bytes por = {0};
    int r = parse_opts(argc, argv, scp80_known, &o);
    if (!r)
        r = get_hex(&o, "por", true, &por);
    if (!r)
        r = scp80_setup(&o, &p, &kic, &kid, &hk, &hd);
    if (!r && !token())
        r = 1;
    if (!r) {
        scp80_por pr;
        sm_buf data;
        sm_buf_init(&data);
        sm_err err = {0};
        if (scp80_unwrap_por(TOK.sess, &p, hk ? &kic : NULL, hd ? &kid : NULL, por.p, por.n, &pr, &data, &err) != SM_OK) {
            r = fail("%s", err.msg);
        } else {
            printf("status: %02x (%s)\n", pr.status, scp80_por_status_name(pr.status));
            uint8_t c[5];
            for (int i = 0; i < 5; i++)
                c[i] = (uint8_t)(pr.cntr >> (8 * (4 - i)));
            put_hex("cntr", c, 5);
            printf("cc: %s\n", pr.has_cc ? "verified" : "none");
            put_hex("data", data.data ? data.data : (const uint8_t *)"", data.len);
        }
        sm_buf_free(&data);
    }
    bytes_free(&por);
    return r;
}

/* ---- tlv-decode ------------------------------------------------------------------------------------ */

/* True when p[0..len) is a sequence of well-formed TLVs (one level). */
static bool is_tlv_seq(const uint8_t *p, size_t len, unsigned flags)
{
    tlv_rd r;
    tlv t;
    sm_err err = {0};
    sm_rc rc;
    tlv_rd_init(&r, p, len, flags);
    while ((rc = tlv_next(&r, &t, &err)) == SM_OK)
        ;
    return rc == SM_ENOTFOUND;
}

/* Prints a TLV sequence; a constructed TLV whose value is not itself TLVs (22 C-APDU, 23 R-APDU)
 * is shown as a value. */
static sm_rc print_tlvs(const uint8_t *p, size_t len, unsigned flags, unsigned depth, sm_err *err)
{
    if (depth >= TLV_MAX_DEPTH)
        return sm_errf(err, SM_EPARSE, "tlv: nesting too deep");
    tlv_rd r;
    tlv_rd_init(&r, p, len, flags);
    r.maxdepth = TLV_MAX_DEPTH;
    tlv t;
    sm_rc rc;
    while ((rc = tlv_next(&r, &t, err)) == SM_OK) {
        char tag[8];
        snprintf(tag, sizeof tag, "%0*x", 2 * t.taglen, (unsigned)t.tag);
        printf("%*s%s len=%zu%s", (int)(2 * depth), "", tag, t.len, t.indefinite ? " (indefinite)" : "");
        bool nested = t.constructed && !(flags & TLV_F_DGI) && t.len &&
                      is_tlv_seq(t.val, t.len, flags & ~(unsigned)TLV_F_PAD);
        if (!nested && t.len) {
            char *h = malloc(2 * t.len + 1);
            if (h) {
                sm_hex_encode(t.val, t.len, h);
                printf(" %s", h);
                free(h);
            }
        }
        printf("\n");
        if (nested && (rc = print_tlvs(t.val, t.len, flags & ~(unsigned)TLV_F_PAD, depth + 1, err)) != SM_OK)
            return rc;
    }
    return rc == SM_ENOTFOUND ? SM_OK : rc;
}

static int cmd_tlv_decode(int argc, char **argv)
{
    static const char *const known[] = {"data=", "dgi", "strict", "pad", NULL};
    opts o;
    bytes in = {0};
    int r = parse_opts(argc, argv, known, &o);
    if (!r) {
        if (!opt(&o, "data")) {
            o.name[o.n] = "data";
            o.val[o.n++] = "-";
        }
        r = get_hex(&o, "data", true, &in);
    }
    if (!r) {
        unsigned flags = TLV_F_INDEF;
        if (opt(&o, "dgi"))
            flags = TLV_F_DGI;
        if (opt(&o, "strict"))
            flags |= TLV_F_MINLEN;
        if (opt(&o, "pad"))
            flags |= TLV_F_PAD;
        sm_err err = {0};
        if (in.n == 0)
            r = fail("no input");
        else if (print_tlvs(in.p, in.n, flags, 0, &err) != SM_OK)
            r = fail("%s", err.msg);
    }
    bytes_free(&in);
    return r;
}

/* ---- certificates ---------------------------------------------------------------------------------- */

static void put_date(const char *label, const gpcert_date *d)
{
    printf("%s: %04u-%02u-%02u\n", label, d->y, d->m, d->d);
}

static int show_gp(const bytes *b)
{
    gpcert c;
    sm_err err = {0};
    if (gpcert_parse(b->p, b->n, &c, &err) != SM_OK)
        return fail("%s", err.msg);
    printf("format: GP Amendment E (7F21)\n");
    put_hex("serial", c.serial, c.serial_len);
    put_hex("ca-id", c.ca_id, c.ca_id_len);
    put_hex("subject-id", c.subject_id, c.subject_id_len);
    uint8_t ku[2] = {(uint8_t)(c.key_usage >> 8), (uint8_t)c.key_usage};
    put_hex("key-usage", ku + 2 - c.key_usage_len, c.key_usage_len);
    if (c.has_effective)
        put_date("effective", &c.effective);
    put_date("expiry", &c.expiry);
    if (c.has_disc) {
        printf("discretionary-tag: %02x\n", (unsigned)c.disc_tag);
        if (c.cert_type >= 0)
            printf("type: %02x (%s)\n", c.cert_type,
                   c.cert_type == GPCERT_TYPE_SMDP ? "SM-DP" : c.cert_type == GPCERT_TYPE_SMSR ? "SM-SR" : "other");
        if (c.aki)
            put_hex("authority-key-id", c.aki, c.aki_len);
        put_hex("discretionary", c.disc, c.disc_len);
    }
    printf("curve: %02x (%s)\n", c.curve_ref, c.curve == HSM_CURVE_P256 ? "P-256" : "brainpoolP256r1");
    put_hex("public-key", c.pubkey, c.pubkey_len);
    uint8_t d[32];
    unsigned dl = 0;
    if (EVP_Digest(c.tbs, c.tbslen, d, &dl, EVP_sha256(), NULL) == 1)
        put_hex("signed-data-sha256", d, dl);
    put_hex("signature", c.sig, c.sig_len);
    return 0;
}

static void name_line(const char *label, const X509_NAME *n)
{
    BIO *b = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
    char *p;
    long l = BIO_get_mem_data(b, &p);
    printf("%s: %.*s\n", label, (int)l, p);
    BIO_free(b);
}

static void time_line(const char *label, const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) == 1)
        printf("%s: %04d-%02d-%02dT%02d:%02d:%02dZ\n", label, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
               tm.tm_min, tm.tm_sec);
}

static int show_x509(const bytes *b)
{
    const unsigned char *p = b->p;
    X509 *x = d2i_X509(NULL, &p, (long)b->n);
    if (!x || p != b->p + b->n) {
        X509_free(x);
        return fail("not one DER X.509 certificate");
    }
    printf("format: X.509\n");
    name_line("subject", X509_get_subject_name(x));
    name_line("issuer", X509_get_issuer_name(x));
    time_line("not-before", X509_get0_notBefore(x));
    time_line("not-after", X509_get0_notAfter(x));
    printf("signature-algorithm: %s\n", OBJ_nid2ln(X509_get_signature_nid(x)));
    printf("ca: %s\n", X509_check_ca(x) >= 1 ? "yes" : "no");
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x), *aki = X509_get0_authority_key_id(x);
    if (ski)
        put_hex("subject-key-id", ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski));
    if (aki)
        put_hex("authority-key-id", ASN1_STRING_get0_data(aki), (size_t)ASN1_STRING_length(aki));
    uint8_t pub[65];
    hsm_curve c;
    sm_err err = {0};
    if (ecpub_from_pkey(X509_get0_pubkey(x), pub, &c, &err) == SM_OK) {
        printf("curve: %s\n", c == HSM_CURVE_P256 ? "P-256" : "brainpoolP256r1");
        put_hex("public-key", pub, 65);
    } else {
        printf("public-key: (%s)\n", err.msg);
    }
    X509_free(x);
    return 0;
}

static int cmd_cert_show(int argc, char **argv)
{
    static const char *const known[] = {NULL};
    opts o;
    int r = parse_opts(argc, argv, known, &o);
    if (!r && o.npos != 1)
        r = usage("cert-show takes one FILE");
    bytes b = {0};
    if (!r)
        r = read_file(o.pos[0], &b);
    if (!r)
        r = b.n >= 2 && b.p[0] == 0x7F && b.p[1] == 0x21 ? show_gp(&b)
            : b.p[0] == 0x30                               ? show_x509(&b)
                                                           : fail("%s is neither a 7F21 nor an X.509 certificate", o.pos[0]);
    bytes_free(&b);
    return r;
}

static int parse_date_opt(const char *v, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, m, d;
    char extra;
    if (sscanf(v, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
        return fail("--at must be YYYY-MM-DD");
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = 12;
    *out = timegm(&tm);
    return 0;
}

static int cmd_cert_verify(int argc, char **argv)
{
    static const char *const known[] = {"ca=", "at=", "purpose=", NULL};
    opts o;
    int r = parse_opts(argc, argv, known, &o);
    if (!r && (!opt(&o, "ca") || o.npos < 1 || o.npos > 8))
        r = usage("cert-verify needs --ca CI.der and 1..8 certificates");
    time_t now = time(NULL);
    if (!r && opt(&o, "at"))
        r = parse_date_opt(opt(&o, "at"), &now);
    bytes certs[9];
    memset(certs, 0, sizeof certs);
    size_t n = 0;
    if (!r)
        r = read_file(opt(&o, "ca"), &certs[n++]);
    for (int i = 0; !r && i < o.npos; i++)
        r = read_file(o.pos[i], &certs[n++]);
    bytes *leaf = &certs[n - 1];
    if (!r && leaf->n >= 2 && leaf->p[0] == 0x7F && leaf->p[1] == 0x21) {
        gpcert c;
        sm_err err = {0};
        gpcert_purpose pu = GPCERT_P_ANY;
        const char *pv = opt(&o, "purpose");
        if (gpcert_parse(leaf->p, leaf->n, &c, &err) != SM_OK) {
            r = fail("%s: %s", o.pos[o.npos - 1], err.msg);
        } else if (!pv || strcmp(pv, "auto") == 0) {
            pu = c.cert_type == GPCERT_TYPE_SMDP   ? GPCERT_P_SMDP
                 : c.cert_type == GPCERT_TYPE_SMSR ? GPCERT_P_SMSR
                 : c.key_usage_len == 2            ? GPCERT_P_ECASD
                                                   : GPCERT_P_ANY;
        } else if (strcmp(pv, "smdp") == 0) {
            pu = GPCERT_P_SMDP;
        } else if (strcmp(pv, "smsr") == 0) {
            pu = GPCERT_P_SMSR;
        } else if (strcmp(pv, "ecasd") == 0) {
            pu = GPCERT_P_ECASD;
        } else if (strcmp(pv, "any") != 0) {
            r = usage("--purpose is auto, smdp, smsr, ecasd or any");
        }
        const uint8_t *ps[9];
        size_t ls[9];
        for (size_t i = 0; i < n; i++) {
            ps[i] = certs[i].p;
            ls[i] = certs[i].n;
        }
        static const char *const pnames[] = {"any", "smdp", "smsr", "ecasd"};
        if (!r && gpcert_verify_chain(ps, ls, n, pu, now, &c, &err) != SM_OK)
            r = fail("%s", err.msg);
        else if (!r)
            printf("ok: chain of %zu verified, leaf 7F21 checked as %s\n", n, pnames[pu]);
    } else if (!r) {
        gpcert_issuer cur, next;
        sm_err err = {0};
        if (gpcert_x509_issuer(certs[0].p, certs[0].n, NULL, now, &cur, &err) != SM_OK)
            r = fail("%s", err.msg);
        for (size_t i = 1; !r && i < n; i++) {
            if (gpcert_x509_issuer(certs[i].p, certs[i].n, &cur, now, &next, &err) != SM_OK)
                r = fail("%s: %s", o.pos[i - 1], err.msg);
            cur = next;
        }
        if (!r)
            printf("ok: chain of %zu X.509 certificates verified\n", n);
    }
    for (size_t i = 0; i < n; i++)
        bytes_free(&certs[i]);
    return r;
}

/* ---- keyest -------------------------------------------------------------------------------------- */

/* The simulated card: OpenSSL ECDH with the test ECASD key, X9.63, receipt. */
static int card_answer(const ecka_session *es, const bytes *ecasd_d, const bytes *dr, uint8_t *kd, size_t kdlen,
                       uint8_t *rsp, size_t *rsplen)
{
    const char *group = ecpub_group_name(es->curve);
    int nid = es->curve == HSM_CURVE_P256 ? NID_X9_62_prime256v1 : NID_brainpoolP256r1;
    EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);
    BIGNUM *bn = BN_bin2bn(ecasd_d->p, (int)ecasd_d->n, NULL);
    EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
    uint8_t pub[65];
    int r = 0;
    if (!pt || !bn || EC_POINT_mul(g, pt, bn, NULL, NULL, NULL) != 1 ||
        EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, pub, 65, NULL) != 65)
        r = fail("--ecasd-key is not a valid private scalar");
    else if (memcmp(pub, es->ecasd_pub, 65) != 0)
        r = fail("--ecasd-key does not belong to the public key in --ecasd-cert");
    EVP_PKEY *k = NULL, *peer = NULL;
    if (!r) {
        OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
        OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
        OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, 65);
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, bn);
        OSSL_PARAM *pp = OSSL_PARAM_BLD_to_param(b);
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (!c || EVP_PKEY_fromdata_init(c) != 1 || EVP_PKEY_fromdata(c, &k, EVP_PKEY_KEYPAIR, pp) != 1)
            r = fail("OpenSSL refused the ECASD test key");
        EVP_PKEY_CTX_free(c);
        OSSL_PARAM_free(pp);
        OSSL_PARAM_BLD_free(b);
    }
    sm_err err = {0};
    if (!r && ecpub_pkey(es->curve, es->epk, 65, &peer, &err) != SM_OK)
        r = fail("%s", err.msg);
    uint8_t z[32];
    size_t zl = sizeof z;
    if (!r) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
        if (!c || EVP_PKEY_derive_init(c) != 1 || EVP_PKEY_derive_set_peer(c, peer) != 1 ||
            EVP_PKEY_derive(c, z, &zl) != 1 || zl != 32)
            r = fail("OpenSSL ECDH failed");
        EVP_PKEY_CTX_free(c);
    }
    uint8_t si[128];
    size_t sil = 0;
    if (!r && ecka_shared_info(&es->p, dr->p, dr->n, si, sizeof si, &sil, &err) != SM_OK)
        r = fail("%s", err.msg);
    if (!r) {
        bytes zb = {z, 32}, ib = {si, sil};
        r = openssl_x963(&zb, &ib, kd, kdlen);
        put_hex("shared-info", si, sil);
    }
    if (!r) {
        /* receipt = CMAC(receipt key, A6 CRT || [85 L DR]) */
        uint8_t m[256];
        size_t ml = es->crt_len;
        memcpy(m, es->crt, ml);
        size_t n = 0;
        if (dr->n) {
            rsp[n++] = 0x85;
            rsp[n++] = (uint8_t)dr->n;
            memcpy(rsp + n, dr->p, dr->n);
            n += dr->n;
            memcpy(m + ml, rsp, n);
            ml += n;
        }
        rsp[n++] = 0x86;
        rsp[n++] = 16;
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
        EVP_MAC_CTX *mc = mac ? EVP_MAC_CTX_new(mac) : NULL;
        OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string("cipher", "AES-128-CBC", 0), OSSL_PARAM_construct_end()};
        size_t ol = 0;
        if (!mc || EVP_MAC_init(mc, kd, 16, p) != 1 || EVP_MAC_update(mc, m, ml) != 1 ||
            EVP_MAC_final(mc, rsp + n, &ol, 16) != 1)
            r = fail("OpenSSL CMAC failed");
        EVP_MAC_CTX_free(mc);
        EVP_MAC_free(mac);
        *rsplen = n + 16;
    }
    explicit_bzero(z, sizeof z);
    EVP_PKEY_free(k);
    EVP_PKEY_free(peer);
    EC_POINT_free(pt);
    BN_clear_free(bn);
    EC_GROUP_free(g);
    return r;
}

static void put_apdus(const char *label, const sm_buf *capdus)
{
    tlv_rd rd;
    tlv t;
    sm_err err = {0};
    tlv_rd_init(&rd, capdus->data, capdus->len, 0);
    while (tlv_next(&rd, &t, &err) == SM_OK)
        put_hex(label, t.val, t.len);
}

static int cmd_keyest(int argc, char **argv)
{
    static const char *const known[] = {"ecasd-cert=", "sd-cert=", "sd-key=", "ecasd-key=", "rc=", "kind=",
                                        "kvn=", "cntr=", "dr=", NULL};
    opts o;
    bytes ecert = {0}, scert = {0}, sdk = {0}, ek = {0}, rcv = {0}, kvn = {0}, cntr = {0}, dr = {0};
    int r = parse_opts(argc, argv, known, &o);
    if (!r && (!opt(&o, "ecasd-cert") || !opt(&o, "sd-cert")))
        r = usage("keyest needs --ecasd-cert FILE and --sd-cert FILE");
    if (!r)
        r = read_file(opt(&o, "ecasd-cert"), &ecert);
    if (!r)
        r = read_file(opt(&o, "sd-cert"), &scert);
    if (!r)
        r = get_hex_len(&o, "sd-key", true, 32, 32, &sdk);
    if (!r)
        r = get_hex_len(&o, "ecasd-key", false, 32, 32, &ek);
    if (!r)
        r = get_hex_len(&o, "rc", false, 16, 32, &rcv);
    if (!r)
        r = get_hex_len(&o, "kvn", false, 1, 1, &kvn);
    if (!r)
        r = get_hex_len(&o, "cntr", false, 1, 5, &cntr);
    if (!r)
        r = get_hex_len(&o, "dr", false, 16, 16, &dr);
    gpcert ec, sc;
    sm_err err = {0};
    if (!r && gpcert_parse(ecert.p, ecert.n, &ec, &err) != SM_OK)
        r = fail("--ecasd-cert: %s", err.msg);
    if (!r && gpcert_parse(scert.p, scert.n, &sc, &err) != SM_OK)
        r = fail("--sd-cert: %s", err.msg);
    ecka_params p;
    const char *kind = opt(&o, "kind") ? opt(&o, "kind") : "isdp";
    const char *names[3] = {"enc", "mac", "dek"};
    if (!r) {
        uint64_t c = 0;
        for (size_t i = 0; cntr.p && i < cntr.n; i++)
            c = c << 8 | cntr.p[i];
        if (strcmp(kind, "isdp") == 0) {
            ecka_params_isdp(kvn.p ? kvn.p[0] : 0x30, &p);
        } else if (strcmp(kind, "scp80") == 0) {
            ecka_params_isdr_scp80(kvn.p ? kvn.p[0] : 0x01, c, &p);
            names[0] = "kic";
            names[1] = "kid";
        } else if (strcmp(kind, "scp81") == 0) {
            ecka_params_isdr_scp81(kvn.p ? kvn.p[0] : 0x40, &p);
            names[0] = "psk";
        } else {
            r = usage("--kind is isdp, scp80 or scp81");
        }
        if (dr.p)
            p.scenario |= ECKA_SC_DR;
    }
    hsm_sess *s = r ? NULL : token();
    if (!r && !s)
        r = 1;
    /* the SM-DP / SM-SR test key, checked against its certificate */
    hsm_key sk;
    if (!r) {
        hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = sc.curve, .usage = HSM_U_SIGN};
        static const char probe[] = "smctl tool keyest: does this key belong to --sd-cert?";
        uint8_t sig[72];
        size_t sl;
        if (hsm_ec_import_private(s, &sp, sdk.p, sdk.n, &sk, &err) != SM_OK ||
            hsm_ecdsa_sign_msg(s, &sk, (const uint8_t *)probe, sizeof probe, sig, sizeof sig, &sl, &err) != SM_OK)
            r = fail("--sd-key: %s", err.msg);
        else if (ecpub_verify_raw(sc.curve, sc.pubkey, sc.pubkey_len, (const uint8_t *)probe, sizeof probe, sig, sl,
                                  &err) != SM_OK)
            r = fail("--sd-key does not belong to the public key in --sd-cert");
    }
    ecka_session es;
    sm_buf d1, d2, ap;
    sm_buf_init(&d1);
    sm_buf_init(&d2);
    sm_buf_init(&ap);
    if (!r && ecka_begin(&p, &ec, &es, &err) != SM_OK)
        r = fail("%s", err.msg);
    if (!r && ecka_dgi_3a01(scert.p, scert.n, &d1, &err) != SM_OK)
        r = fail("%s", err.msg);
    uint8_t rc[32];
    size_t rcl = rcv.p ? rcv.n : 16;
    if (!r && !rcv.p && hsm_random(s, rc, 16, &err) != SM_OK)
        r = fail("%s", err.msg);
    if (!r && rcv.p)
        memcpy(rc, rcv.p, rcv.n);
    if (!r) {
        uint8_t a[34] = {0x85, (uint8_t)rcl};
        memcpy(a + 2, rc, rcl);
        if (ecka_parse_3a01_response(&es, a, 2 + rcl, &err) != SM_OK)
            r = fail("%s", err.msg);
    }
    if (!r && ecka_dgi_3a02(s, &es, &sk, &d2, &err) != SM_OK)
        r = fail("%s", err.msg);
    unsigned block = 0;
    if (!r && (ecka_store_data(d1.data, d1.len, false, &block, &ap, &err) != SM_OK ||
               ecka_store_data(d2.data, d2.len, true, &block, &ap, &err) != SM_OK))
        r = fail("%s", err.msg);
    if (!r) {
        put_hex("dgi-3a01", d1.data, d1.len);
        put_hex("rc", rc, rcl);
        put_hex("dgi-3a02", d2.data, d2.len);
        put_hex("crt", es.crt, es.crt_len);
        put_hex("ephemeral-public-key", es.epk, 65);
        put_apdus("store-data", &ap);
    }
    if (!r && !ek.p) {
        printf("receipt: not simulated (give --ecasd-key to play the card and derive the keys)\n");
        ecka_abort(s, &es);
    } else if (!r) {
        uint8_t kd[64], rsp[64];
        size_t rl = 0, kdl = 16 * (1 + p.nkeys);
        r = card_answer(&es, &ek, &dr, kd, kdl, rsp, &rl);
        ecka_result res;
        if (!r && ecka_finish(s, &es, rsp, rl, NULL, &res, &err) != SM_OK)
            r = fail("%s", err.msg);
        else if (r)
            ecka_abort(s, &es);
        if (!r) {
            put_hex("receipt", rsp + rl - 16, 16);
            printf("receipt-check: verified\n");
            for (unsigned i = 0; !r && i < res.nkeys; i++) {
                uint8_t k2[3];
                char label[16];
                snprintf(label, sizeof label, "kcv-%s", names[i]);
                put_hex(label, res.kcv[i], 3);
                if (!(r = openssl_kcv(kd + 16 * (i + 1), 16, k2)) && memcmp(k2, res.kcv[i], 3) != 0)
                    r = fail("MISMATCH: the HSM and OpenSSL derive different %s keys", names[i]);
            }
            ecka_result_release(s, &res);
        }
        explicit_bzero(kd, sizeof kd);
    }
    sm_buf_free(&d1);
    sm_buf_free(&d2);
    sm_buf_free(&ap);
    bytes_free(&ecert);
    bytes_free(&scert);
    bytes_free(&sdk);
    bytes_free(&ek);
    bytes_free(&rcv);
    bytes_free(&kvn);
    bytes_free(&cntr);
    bytes_free(&dr);
    return r;
}

/* ---- dispatch --------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*run)(int, char **);
} subs[] = {
    {"cmac", cmd_cmac},
    {"kdf-x963", cmd_kdf_x963},
    {"scp03-kdf", cmd_scp03_kdf},
    {"scp03-wrap", cmd_scp03_wrap},
    {"scp03t-wrap", cmd_scp03t_wrap},
    {"scp80-wrap", cmd_scp80_wrap},
    {"scp80-unwrap-por", cmd_scp80_unwrap_por},
    {"tlv-decode", cmd_tlv_decode},
    {"cert-show", cmd_cert_show},
    {"cert-verify", cmd_cert_verify},
    {"keyest", cmd_keyest},
};

void smctl_tool_help(FILE *out)
{
    fprintf(out,
            "  Offline crypto on test keys: no running appliance; keys live as session objects of a throw-away\n"
            "  SoftHSM2 token (or of the development token named by SMBOX_TOOL_P11_MODULE, SMBOX_TOOL_TOKEN,\n"
            "  SMBOX_TOOL_PIN; never point these at a production token). Values are hex; a value of - is read\n"
            "  from stdin. Output is lowercase hex: one bare line for single results, `name: value` lines\n"
            "  otherwise. Exit status 0 ok, 1 bad input or failed check (one line on stderr), 2 usage.\n"
            "  cmac --key K --data D                   AES-CMAC (SP 800-38B), 16-byte tag\n"
            "  kdf-x963 --z Z [--info I] --len N       ANSI X9.63 KDF, SHA-256, N (1..256) bytes; computed with\n"
            "                                          OpenSSL and checked against the HSM path by KCV (fails on\n"
            "                                          any mismatch)\n"
            "  scp03-kdf --key K --constant C --context X --bits L\n"
            "                                          SCP03 KDF (SP 800-108, AES-CMAC), L bits\n"
            "  scp03-wrap --mac S-MAC [--enc S-ENC] [--chain V] [--counter N] [--level SL] --apdu A\n"
            "                                          C-MAC (and C-DECRYPTION) of one command APDU with session\n"
            "                                          keys; V = chaining value (default 00..), N = this command's\n"
            "                                          counter (default 1), SL default 03 with --enc else 01;\n"
            "                                          prints the APDU, then `chain:` (the new chaining value)\n"
            "  scp03t-wrap --senc S-ENC --smac S-MAC [--mcv V] [--counter N] [--tag T] --data D\n"
            "                                          one SCP03t TLV (86: encrypted segment; 87/88: MAC only)\n"
            "                                          with session keys; V = MCV before it (default 00..), N =\n"
            "                                          its counter (default 1); prints tlv, mcv and counter\n"
            "  scp80-wrap --spi S --kic B --kid B --tar T [--cntr C] [--kic-key K] [--kid-key K] --data D\n"
            "             [--sms [--ref R]]            TS 102 225 command packet; --sms prints the SMS user data\n"
            "                                          (one line per SMS, UDH included, concatenated if long)\n"
            "  scp80-unwrap-por --spi S --kic B --kid B --tar T [--cntr C] [--kic-key K] [--kid-key K] --por P\n"
            "                                          checks a PoR (SMS user data with UDH 71) for that command:\n"
            "                                          prints status, cntr, cc and data\n"
            "  tlv-decode [--data D] [--dgi] [--strict] [--pad]\n"
            "                                          indented tree of BER-TLV (stdin by default); --dgi for GP\n"
            "                                          DGIs, --strict for minimal lengths, --pad for 00/FF padding\n"
            "  cert-show FILE                          fields of a 7F21 or X.509 certificate (DER or hex)\n"
            "  cert-verify --ca CI.der CERT... [--at YYYY-MM-DD] [--purpose auto|smdp|smsr|ecasd|any]\n"
            "                                          verifies CI -> [EUM ->] leaf (7F21 or X.509)\n"
            "  keyest --ecasd-cert C --sd-cert S --sd-key D [--ecasd-key E] [--kind isdp|scp80|scp81]\n"
            "         [--kvn V] [--cntr C] [--rc R] [--dr R]\n"
            "                                          one off-card key establishment (GP Amd E scenario 3)\n"
            "                                          against the ECASD public key in C, signed with the test\n"
            "                                          key D of certificate S: prints DGIs 3A01/3A02 and the STORE\n"
            "                                          DATA APDUs; with the test ECASD key E it plays the card too,\n"
            "                                          checks the receipt and prints the key check values\n");
}

int smctl_tool_main(int argc, char **argv)
{
    g_sub = argc > 1 ? argv[1] : "";
    stdin_used = false;
    if (argc < 2) {
        fprintf(stderr, "usage: smctl tool SUBCOMMAND [options] (see `smctl help tool`)\n");
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        smctl_tool_help(stdout);
        fflush(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(argv[1], subs[i].name) == 0) {
            int r = subs[i].run(argc, argv);
            devtoken_close(&TOK);
            fflush(stdout);
            return r;
        }
    fprintf(stderr, "smctl tool: unknown subcommand %s (see `smctl help tool`)\n", argv[1]);
    return 2;
}
