/* MNO output file: writer (HSM-encrypted Ki/OPc, CMAC trailer) and strict verifier. */
#include "appliance/smdp/mnofile.h"

#include <stdlib.h>
#include <string.h>

#include "lib/hex.h"

#define COLUMNS "iccid,imsi,msisdn,ki_enc,opc_enc"

/* K_mac = AES-ECB_TK(SMDP_MNO_MAC_LABEL), a session key inside the HSM; CMAC; key destroyed. */
static sm_rc file_mac(hsm_sess *s, const hsm_key *tk, const uint8_t *msg, size_t len, uint8_t mac[16], sm_err *err)
{
    static const hsm_keyspec spec = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_SIGN, .token = false};
    hsm_key mk;
    sm_rc rc = hsm_derive_aes_ecb(s, tk, (const uint8_t *)SMDP_MNO_MAC_LABEL, &spec, &mk, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "MNO file: deriving the MAC key from the transport key");
        return rc;
    }
    rc = hsm_aes_cmac(s, &mk, msg, len, mac, err);
    sm_err derr = {0};
    sm_rc drc = hsm_key_destroy(s, &mk, &derr);
    if (rc != SM_OK) {
        sm_err_prefix(err, "MNO file: AES-CMAC");
        return rc;
    }
    if (drc != SM_OK)
        return sm_errf(err, drc, "MNO file: destroying the MAC key: %s", derr.msg);
    return SM_OK;
}

sm_rc smdp_mnofile_begin(smdp_mnofile *f, hsm_sess *s, const hsm_key *tk, const char *tk_label,
                         const smdp_order *o, sm_err *err)
{
    memset(f, 0, sizeof *f);
    sm_buf_init(&f->text);
    f->s = s;
    f->tk = *tk;
    f->expected = o->quantity;
    if (!smdp_name_ok(tk_label))
        return sm_errf(err, SM_EINVAL, "MNO file: transport key label must be 1 to 64 of A-Z a-z 0-9 . _ -");
    sm_buf_printf(&f->text,
                  "#smbox-mno-output,1\n#profile-type,%s\n#template,%s\n#mno,%s\n#quantity,%llu\n"
                  "#transport-key,%s\n#cipher,AES-ECB\n#mac,AES-CMAC," SMDP_MNO_MAC_LABEL "\n" COLUMNS "\n",
                  o->profile_type, o->template_id, o->mno, (unsigned long long)o->quantity, tk_label);
    return f->text.failed ? sm_errf(err, SM_ENOMEM, "MNO file: out of memory") : SM_OK;
}

sm_rc smdp_mnofile_add(smdp_mnofile *f, const char *iccid, const char *imsi, const char *msisdn,
                       const uint8_t ki[16], const uint8_t opc[16], sm_err *err)
{
    if (f->finished || f->count >= f->expected)
        return sm_errf(err, SM_ESTATE, "MNO file: more records than the order's %llu",
                       (unsigned long long)f->expected);
    uint8_t ek[16], eo[16];
    sm_rc rc;
    if ((rc = hsm_aes_ecb_encrypt(f->s, &f->tk, ki, 16, ek, err)) != SM_OK ||
        (rc = hsm_aes_ecb_encrypt(f->s, &f->tk, opc, 16, eo, err)) != SM_OK) {
        sm_err_prefix(err, "MNO file: encrypting Ki/OPc of %s under the transport key", iccid);
        return rc;
    }
    char hk[33], ho[33];
    sm_hex_encode(ek, 16, hk);
    sm_hex_encode(eo, 16, ho);
    sm_buf_printf(&f->text, "%s,%s,%s,%s,%s\n", iccid, imsi, msisdn ? msisdn : "", hk, ho);
    if (f->text.failed)
        return sm_errf(err, SM_ENOMEM, "MNO file: out of memory");
    f->count++;
    return SM_OK;
}

sm_rc smdp_mnofile_finish(smdp_mnofile *f, sm_err *err)
{
    if (f->finished || f->count != f->expected)
        return sm_errf(err, SM_ESTATE, "MNO file: %llu records for an order of %llu", (unsigned long long)f->count,
                       (unsigned long long)f->expected);
    uint8_t mac[16];
    sm_rc rc = file_mac(f->s, &f->tk, f->text.data, f->text.len, mac, err);
    if (rc != SM_OK)
        return rc;
    char hm[33];
    sm_hex_encode(mac, 16, hm);
    sm_buf_printf(&f->text, "#end,%llu,%s\n", (unsigned long long)f->count, hm);
    if (f->text.failed)
        return sm_errf(err, SM_ENOMEM, "MNO file: out of memory");
    f->finished = true;
    return SM_OK;
}

void smdp_mnofile_free(smdp_mnofile *f)
{
    sm_buf_free(&f->text);
    memset(f, 0, sizeof *f);
}

/* ---- verifier ------------------------------------------------------------------------------ */

typedef struct field {
    const char *p;
    size_t n;
} field;

static size_t split(const char *s, size_t n, field *f, size_t max)
{
    size_t k = 0, st = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || s[i] == ',') {
            if (k == max)
                return max + 1;
            f[k++] = (field){s + st, i - st};
            st = i + 1;
        }
    return k;
}

static bool fdigits(field f, size_t min, size_t max, char *out)
{
    if (f.n < min || f.n > max)
        return false;
    for (size_t i = 0; i < f.n; i++)
        if (f.p[i] < '0' || f.p[i] > '9')
            return false;
    memcpy(out, f.p, f.n);
    out[f.n] = 0;
    return true;
}

static bool fhex16(field f, uint8_t out[16])
{
    char tmp[33];
    sm_err e = {0};
    size_t l = 0;
    if (f.n != 32)
        return false;
    for (size_t i = 0; i < 32; i++)
        if (!((f.p[i] >= '0' && f.p[i] <= '9') || (f.p[i] >= 'a' && f.p[i] <= 'f')))
            return false;
    memcpy(tmp, f.p, 32);
    tmp[32] = 0;
    return sm_hex_decode(tmp, out, 16, &l, &e) == SM_OK && l == 16;
}

static bool fnum(field f, uint64_t *v)
{
    if (f.n == 0 || f.n > 7 || (f.n > 1 && f.p[0] == '0'))
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < f.n; i++) {
        if (f.p[i] < '0' || f.p[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(f.p[i] - '0');
    }
    *v = x;
    return true;
}

static const char *const HEAD[] = {"#smbox-mno-output", "#profile-type", "#template", "#mno",
                                   "#quantity",         "#transport-key", "#cipher",  "#mac"};
#define NHEAD (sizeof HEAD / sizeof HEAD[0])

sm_rc smdp_mnofile_verify(hsm_sess *s, const hsm_key *tk, const char *text, size_t len, smdp_mnorec_fn fn,
                          void *arg, uint64_t *count, sm_err *err)
{
    *count = 0;
    size_t pos = 0;
    unsigned line = 0;
    uint64_t quantity = 0, n = 0, trailer_n = 0;
    uint8_t mac[16];
    size_t mac_end = 0;
    bool ended = false;
    while (pos < len) {
        line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl)
            return sm_errf(err, SM_EPARSE, "MNO file line %u: no line end (truncated?)", line);
        const char *s0 = text + pos;
        size_t ln = (size_t)(nl - s0);
        size_t start = pos;
        pos += ln + 1;
        if (ended)
            return sm_errf(err, SM_EPARSE, "MNO file line %u: content after the trailer", line);
        field f[8];
        size_t nf = split(s0, ln, f, 6);
        if (line <= NHEAD) {
            size_t hl = strlen(HEAD[line - 1]);
            if (nf < 2 || f[0].n != hl || memcmp(f[0].p, HEAD[line - 1], hl) != 0)
                return sm_errf(err, SM_EPARSE, "MNO file line %u: expected %s", line, HEAD[line - 1]);
            if (line == 1 && (nf != 2 || f[1].n != 1 || f[1].p[0] != '1'))
                return sm_errf(err, SM_EPARSE, "MNO file line 1: format version not supported");
            if (line == 5 && (nf != 2 || !fnum(f[1], &quantity)))
                return sm_errf(err, SM_EPARSE, "MNO file line 5: bad quantity");
            if (line == 8 && (nf != 3 || f[2].n != 16 || memcmp(f[2].p, SMDP_MNO_MAC_LABEL, 16) != 0))
                return sm_errf(err, SM_EPARSE, "MNO file line 8: unknown MAC scheme");
            continue;
        }
        if (line == NHEAD + 1) {
            if (ln != strlen(COLUMNS) || memcmp(s0, COLUMNS, ln) != 0)
                return sm_errf(err, SM_EPARSE, "MNO file line %u: expected the column line " COLUMNS, line);
            continue;
        }
        if (ln >= 4 && memcmp(s0, "#end", 4) == 0) {
            if (nf != 3 || f[0].n != 4 || !fnum(f[1], &trailer_n) || !fhex16(f[2], mac))
                return sm_errf(err, SM_EPARSE, "MNO file line %u: bad trailer", line);
            mac_end = start;
            ended = true;
            continue;
        }
        smdp_mnorec r;
        if (nf != 5 || !fdigits(f[0], 18, 20, r.iccid) || !fdigits(f[1], 6, 15, r.imsi) ||
            !fdigits(f[2], 0, 15, r.msisdn) || !fhex16(f[3], r.ki_enc) || !fhex16(f[4], r.opc_enc))
            return sm_errf(err, SM_EPARSE, "MNO file line %u: not a record (iccid,imsi,msisdn,ki_enc,opc_enc)", line);
        n++;
        if (fn && fn(&r, arg) != 0)
            return sm_errf(err, SM_EINVAL, "MNO file line %u: record refused", line);
    }
    if (!ended)
        return sm_errf(err, SM_EPARSE, "MNO file: no trailer (truncated?)");
    if (trailer_n != n || quantity != n)
        return sm_errf(err, SM_EPARSE, "MNO file: %llu records, trailer says %llu, header %llu", (unsigned long long)n,
                       (unsigned long long)trailer_n, (unsigned long long)quantity);
    uint8_t want[16];
    sm_rc rc = file_mac(s, tk, (const uint8_t *)text, mac_end, want, err);
    if (rc != SM_OK)
        return rc;
    uint8_t diff = 0;
    for (int i = 0; i < 16; i++)
        diff |= (uint8_t)(want[i] ^ mac[i]);
    if (diff != 0)
        return sm_errf(err, SM_EVERIFY, "MNO file: CMAC does not match (changed, or another transport key)");
    *count = n;
    return SM_OK;
}
