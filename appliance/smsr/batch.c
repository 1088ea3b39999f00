/* The eUICC batch file parser (version 1). */
#include "appliance/smsr/batch.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#define MAGIC "#smbox-euicc-batch"

/* ---- small checks ------------------------------------------------------------------------------- */

bool smsr_oid_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SMSR_OID_MAX)
        return false;
    bool digit = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digit = true;
        else if (s[i] == '.' && digit)
            digit = false;
        else
            return false;
    }
    return digit;
}

bool smsr_eid_ok(const char *s)
{
    if (!s || strlen(s) != 32)
        return false;
    unsigned r = 0;
    for (int i = 0; i < 32; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        r = (r * 10 + (unsigned)(s[i] - '0')) % 97;
    }
    return r == 1;
}

static bool all(const char *v, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, v[i]) || v[i] == 0)
            return false;
    return true;
}

#define DIGITS "0123456789"

/* a field value copied to a C string; false when it does not fit */
static bool cstr(const char *v, size_t n, char *out, size_t cap)
{
    if (n >= cap)
        return false;
    memcpy(out, v, n);
    out[n] = 0;
    return true;
}

static bool dec(const char *v, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20 || !all(v, n, DIGITS) || (n > 1 && v[0] == '0'))
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(v[i] - '0');
        if (x > (max - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

static bool hexb(const char *v, size_t n, uint8_t *out, size_t minb, size_t maxb, size_t *outlen)
{
    if (n % 2 || n / 2 < minb || n / 2 > maxb || !all(v, n, DIGITS "abcdef"))
        return false;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned hi = (unsigned)(v[2 * i] <= '9' ? v[2 * i] - '0' : v[2 * i] - 'a' + 10);
        unsigned lo = (unsigned)(v[2 * i + 1] <= '9' ? v[2 * i + 1] - '0' : v[2 * i + 1] - 'a' + 10);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    if (outlen)
        *outlen = n / 2;
    return true;
}

static bool version(const char *v, size_t n, char *out, size_t cap)
{
    /* \d+.\d+.\d+ */
    int dots = 0;
    bool digit = false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] >= '0' && v[i] <= '9')
            digit = true;
        else if (v[i] == '.' && digit && dots < 2)
            dots++, digit = false;
        else
            return false;
    }
    return dots == 2 && digit && cstr(v, n, out, cap);
}

static bool timestamp(const char *v, size_t n, char *out, size_t cap)
{
    /* YYYY-MM-DDThh:mm:ssZ */
    static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
    if (n != sizeof pat - 1)
        return false;
    for (size_t i = 0; i < n; i++)
        if (pat[i] == 'd' ? (v[i] < '0' || v[i] > '9') : v[i] != pat[i])
            return false;
    int mo = (v[5] - '0') * 10 + (v[6] - '0'), d = (v[8] - '0') * 10 + (v[9] - '0');
    int h = (v[11] - '0') * 10 + (v[12] - '0'), mi = (v[14] - '0') * 10 + (v[15] - '0');
    int s = (v[17] - '0') * 10 + (v[18] - '0');
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return false;
    return cstr(v, n, out, cap);
}

static bool oid(const char *v, size_t n, char *out, size_t cap) { return cstr(v, n, out, cap) && smsr_oid_ok(out); }

static bool digits(const char *v, size_t n, size_t minl, size_t maxl, char *out, size_t cap)
{
    return n >= minl && n <= maxl && all(v, n, DIGITS) && cstr(v, n, out, cap);
}

static bool iccid_ok(const char *v, size_t n)
{
    return n >= 6 && n <= 20 && v[0] == '8' && v[1] == '9' && all(v + 2, n - 2, DIGITS "fF");
}

/* ---- file level --------------------------------------------------------------------------------- */

/* the value of name=... among the header's fields (after the magic) */
static bool hfield(const char *line, size_t n, const char *name, const char **v, size_t *vl)
{
    size_t nl = strlen(name);
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && line[e] != ';')
            e++;
        if (e - i > nl && !memcmp(line + i, name, nl) && line[i + nl] == '=') {
            *v = line + i + nl + 1;
            *vl = e - i - nl - 1;
            return true;
        }
        i = e + 1;
    }
    return false;
}

sm_rc smsr_batch_open(const char *data, size_t len, smsr_batch *b, sm_err *err)
{
    memset(b, 0, sizeof *b);
    if (!data || len == 0)
        return sm_errf(err, SM_EPARSE, "batch: empty file");
    if (data[len - 1] != '\n')
        return sm_errf(err, SM_EPARSE, "batch: the last line has no line end (truncated file?)");
    /* lines: no CR, no NUL, no blank line, none too long; remember the start of the last one */
    size_t lines = 0, start = 0, last = 0, records = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = data[i];
        if (ch == '\r' || ch == 0)
            return sm_errf(err, SM_EPARSE, "batch: line %zu holds a %s character", lines + 1, ch ? "CR" : "NUL");
        if (ch != '\n')
            continue;
        lines++;
        if (i == start)
            return sm_errf(err, SM_EPARSE, "batch: line %zu is blank", lines);
        if (i - start > SMSR_BATCH_MAX_LINE)
            return sm_errf(err, SM_EPARSE, "batch: line %zu is longer than %d bytes", lines, SMSR_BATCH_MAX_LINE);
        if (i - start >= 4 && !memcmp(data + start, "eis;", 4))
            records++;
        last = start;
        start = i + 1;
    }
    /* header */
    const char *h = data;
    size_t hl = (size_t)((const char *)memchr(data, '\n', len) - data);
    if (hl < sizeof MAGIC || memcmp(h, MAGIC ";", sizeof MAGIC))
        return sm_errf(err, SM_EPARSE, "batch: line 1 is not a %s header", MAGIC);
    const char *v;
    size_t vl;
    if (!hfield(h, hl, "v", &v, &vl) || vl != 1 || v[0] != '1')
        return sm_errf(err, SM_EPARSE, "batch: line 1: only format version 1 is known");
    if (!hfield(h, hl, "eum-id", &v, &vl) || !oid(v, vl, b->hdr.eum_id, sizeof b->hdr.eum_id))
        return sm_errf(err, SM_EPARSE, "batch: line 1: eum-id missing or not an OID");
    if (!hfield(h, hl, "tk-id", &v, &vl) || vl == 0 || !all(v, vl, DIGITS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-") ||
        !cstr(v, vl, b->hdr.tk_id, sizeof b->hdr.tk_id))
        return sm_errf(err, SM_EPARSE, "batch: line 1: tk-id missing or malformed");
    if (!hfield(h, hl, "kw", &v, &vl) || !cstr(v, vl, b->hdr.kw, sizeof b->hdr.kw) || strcmp(b->hdr.kw, "aes-kwp"))
        return sm_errf(err, SM_EPARSE, "batch: line 1: key wrap must be kw=aes-kwp");
    if (!hfield(h, hl, "sig", &v, &vl) || vl != 17 || memcmp(v, "ecdsa-p256-sha256", 17))
        return sm_errf(err, SM_EPARSE, "batch: line 1: record signatures must be sig=ecdsa-p256-sha256");
    if (!hfield(h, hl, "created", &v, &vl) || !timestamp(v, vl, b->hdr.created, sizeof b->hdr.created))
        return sm_errf(err, SM_EPARSE, "batch: line 1: created is not YYYY-MM-DDThh:mm:ssZ");
    /* trailer: the last line */
    if (lines < 2 || len - last < 6 || memcmp(data + last, "#end;", 5))
        return sm_errf(err, SM_EPARSE, "batch: no #end trailer as the last line (truncated file?)");
    const char *t = data + last;
    size_t tl = len - last - 1;
    uint64_t count;
    if (!hfield(t + 5, tl - 5, "count", &v, &vl) || !dec(v, vl, 10000000, &count))
        return sm_errf(err, SM_EPARSE, "batch: line %zu: trailer count missing", lines);
    if (count != records)
        return sm_errf(err, SM_EPARSE, "batch: line %zu: the trailer announces %llu records, the file holds %zu",
                       lines, (unsigned long long)count, records);
    uint8_t want[32];
    if (!hfield(t + 5, tl - 5, "sha256", &v, &vl) || !hexb(v, vl, want, 32, 32, NULL))
        return sm_errf(err, SM_EPARSE, "batch: line %zu: trailer sha256 missing", lines);
    unsigned int dl = 0;
    uint8_t got[32];
    if (EVP_Digest(data, last, got, &dl, EVP_sha256(), NULL) != 1 ||
        EVP_Digest(data, len, b->sha256, &dl, EVP_sha256(), NULL) != 1)
        return sm_errf(err, SM_ECRYPTO, "batch: SHA-256 failed");
    if (memcmp(got, want, 32))
        return sm_errf(err, SM_EVERIFY, "batch: the SHA-256 in the trailer does not match the file (damaged file)");
    b->data = data;
    b->len = len;
    b->count = (size_t)count;
    b->pos = hl + 1;
    b->line = 2;
    b->body_end = last;
    return SM_OK;
}

/* ---- records ------------------------------------------------------------------------------------ */

typedef struct fcur {
    const char *p;
    size_t n, i;
    const char *name, *v; /* current field */
    size_t namel, vl;
} fcur;

/* advances to the next field; false at the end of the line */
static bool fnext(fcur *c)
{
    if (c->i >= c->n)
        return false;
    size_t e = c->i;
    while (e < c->n && c->p[e] != ';')
        e++;
    const char *f = c->p + c->i;
    size_t fl = e - c->i;
    const char *eq = memchr(f, '=', fl);
    c->name = f;
    c->namel = eq ? (size_t)(eq - f) : fl;
    c->v = eq ? eq + 1 : f + fl;
    c->vl = eq ? fl - c->namel - 1 : 0;
    c->i = e + 1;
    if (e == c->n)
        c->i = c->n + 1; /* no trailing separator: done after this one */
    return eq != NULL || fl > 0;
}

static bool is(const fcur *c, const char *name) { return c->namel == strlen(name) && !memcmp(c->name, name, c->namel); }

static sm_rc bad(sm_err *err, const smsr_brec *r, const char *what, const char *why)
{
    return sm_errf(err, SM_EPARSE, "line %zu: %s %s", r->line, what, why);
}

/* the record fields in order: name and parser */
typedef enum fk {
    F_EID, F_EUM, F_PDATE, F_PTYPE, F_PVER, F_RPV, F_SPV, F_CATTP, F_HTTP, F_ELF, F_MOD, F_ECASD_AID, F_ECASD_CERT,
    F_CI, F_ISDR_AID, F_ISDR_TAR, F_ISDR_SIN, F_ISDR_SDIN, F_80KVN, F_80CNTR, F_KIC, F_KICKCV, F_KID, F_KIDKCV,
    F_DEK, F_DEKKCV, F_81KVN, F_81KEYID, F_PSK, F_PSKKCV, F_MEMT, F_MEMF, F_SMSR, F_SMSRSMS, F_MSISDN, F_N
} fk;

static const char *const FNAMES[F_N] = {
    "eid", "eum-id", "production-date", "platform-type", "platform-version", "rpv", "spv", "cattp", "http",
    "isdp-elf-aid", "isdp-module-aid", "ecasd-aid", "ecasd-cert", "ci-id", "isdr-aid", "isdr-tar", "isdr-sin",
    "isdr-sdin", "scp80-kvn", "scp80-cntr", "scp80-kic", "scp80-kic-kcv", "scp80-kid", "scp80-kid-kcv", "scp80-dek",
    "scp80-dek-kcv", "scp81-kvn", "scp81-key-id", "scp81-psk", "scp81-psk-kcv", "mem-total", "mem-free", "smsr-id",
    "smsr-sms", "msisdn",
};

static bool flag(const char *v, size_t n, bool *out)
{
    if (n != 1 || (v[0] != '0' && v[0] != '1'))
        return false;
    *out = v[0] == '1';
    return true;
}

static bool aid(const char *v, size_t n, smsr_baid *a) { return hexb(v, n, a->b, 5, 16, &a->len); }

static bool wrapped(const char *v, size_t n, smsr_bkey *k)
{
    return hexb(v, n, k->wrapped, 24, SMSR_WRAPPED_MAX, &k->wrapped_len) && k->wrapped_len % 8 == 0;
}

static bool field(smsr_brec *r, fk k, const char *v, size_t n)
{
    uint64_t x;
    size_t l;
    switch (k) {
    case F_EID:
        return cstr(v, n, r->eid, sizeof r->eid) && smsr_eid_ok(r->eid);
    case F_EUM:
        return oid(v, n, r->eum_id, sizeof r->eum_id);
    case F_PDATE:
        return timestamp(v, n, r->production_date, sizeof r->production_date);
    case F_PTYPE:
        return n >= 1 && n <= 100 && all(v, n, DIGITS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-") &&
               cstr(v, n, r->platform_type, sizeof r->platform_type);
    case F_PVER:
        return version(v, n, r->platform_version, sizeof r->platform_version);
    case F_RPV:
        return version(v, n, r->rpv, sizeof r->rpv);
    case F_SPV:
        return version(v, n, r->spv, sizeof r->spv);
    case F_CATTP:
        return flag(v, n, &r->cattp);
    case F_HTTP:
        return flag(v, n, &r->http);
    case F_ELF:
        return aid(v, n, &r->elf_aid);
    case F_MOD:
        return aid(v, n, &r->module_aid);
    case F_ECASD_AID:
        return aid(v, n, &r->ecasd_aid);
    case F_ECASD_CERT:
        return hexb(v, n, r->ecasd_cert, 8, SMSR_CERT_MAX, &r->ecasd_cert_len);
    case F_CI:
        return oid(v, n, r->ci_id, sizeof r->ci_id);
    case F_ISDR_AID:
        return aid(v, n, &r->isdr_aid);
    case F_ISDR_TAR:
        return hexb(v, n, r->isdr_tar.b, 3, 3, &r->isdr_tar.len);
    case F_ISDR_SIN:
        return hexb(v, n, r->isdr_sin.b, 1, 16, &r->isdr_sin.len);
    case F_ISDR_SDIN:
        return hexb(v, n, r->isdr_sdin.b, 1, 16, &r->isdr_sdin.len);
    case F_80KVN:
        return hexb(v, n, &r->scp80_kvn, 1, 1, &l) && r->scp80_kvn >= 0x01 && r->scp80_kvn <= 0x0F;
    case F_80CNTR:
        return dec(v, n, 0xFFFFFFFFFFull, &r->scp80_cntr);
    case F_KIC:
        return wrapped(v, n, &r->kic);
    case F_KID:
        return wrapped(v, n, &r->kid);
    case F_DEK:
        return wrapped(v, n, &r->dek);
    case F_PSK:
        return wrapped(v, n, &r->psk);
    case F_KICKCV:
        return hexb(v, n, r->kic.kcv, 3, 3, &l);
    case F_KIDKCV:
        return hexb(v, n, r->kid.kcv, 3, 3, &l);
    case F_DEKKCV:
        return hexb(v, n, r->dek.kcv, 3, 3, &l);
    case F_PSKKCV:
        return hexb(v, n, r->psk.kcv, 3, 3, &l);
    case F_81KVN:
        return hexb(v, n, &r->scp81_kvn, 1, 1, &l) && r->scp81_kvn >= 0x40 && r->scp81_kvn <= 0x4F;
    case F_81KEYID:
        return hexb(v, n, &r->scp81_key_id, 1, 1, &l) && r->scp81_key_id <= 0x7F;
    case F_MEMT:
        return dec(v, n, 0xFFFFFFFFFFull, &x) && ((r->mem_total = (int64_t)x), true);
    case F_MEMF:
        return dec(v, n, 0xFFFFFFFFFFull, &x) && ((r->mem_free = (int64_t)x), true);
    case F_SMSR:
        return oid(v, n, r->smsr_id, sizeof r->smsr_id);
    case F_SMSRSMS:
        return digits(v, n, 1, 20, r->smsr_sms, sizeof r->smsr_sms);
    case F_MSISDN:
        return digits(v, n, 0, 15, r->msisdn, sizeof r->msisdn) && (n == 0 || n >= 3);
    case F_N:
        break;
    }
    return false;
}

/* profile=aid-hex,iccid,imsi,msisdn,state,fallback,allocated-memory,pol1-hex,mno-id */
static bool profile(const char *v, size_t n, smsr_bprofile *p)
{
    const char *f[9];
    size_t fl[9], k = 0, s = 0;
    for (size_t i = 0; i <= n && k < 9; i++) {
        if (i == n || v[i] == ',') {
            f[k] = v + s;
            fl[k++] = i - s;
            s = i + 1;
        }
    }
    if (k != 9 || s != n + 1)
        return false;
    uint64_t x;
    size_t l;
    if (!aid(f[0], fl[0], &p->aid) || !iccid_ok(f[1], fl[1]) || !cstr(f[1], fl[1], p->iccid, sizeof p->iccid) ||
        !digits(f[2], fl[2], 0, 15, p->imsi, sizeof p->imsi) || !digits(f[3], fl[3], 0, 15, p->msisdn, sizeof p->msisdn) ||
        (fl[3] != 0 && fl[3] < 3))
        return false;
    if (fl[4] == 7 && !memcmp(f[4], "Enabled", 7))
        p->enabled = true;
    else if (!(fl[4] == 8 && !memcmp(f[4], "Disabled", 8)))
        return false;
    return flag(f[5], fl[5], &p->fallback) && dec(f[6], fl[6], 0xFFFFFFFFFFull, &x) &&
           ((p->allocated = (int64_t)x), true) && hexb(f[7], fl[7], &p->pol1, 1, 1, &l) &&
           oid(f[8], fl[8], p->mno_id, sizeof p->mno_id);
}

static sm_rc parse_record(smsr_brec *r, sm_err *err)
{
    fcur c = {.p = r->text, .n = r->len};
    if (!fnext(&c) || !is(&c, "eis") || c.vl || c.v != c.name + 3)
        return bad(err, r, "record", "does not start with eis;");
    /* best effort: name the record by its EID even when a later field is broken */
    {
        fcur e = c;
        if (fnext(&e) && is(&e, "eid") && e.vl == 32 && all(e.v, 32, DIGITS))
            cstr(e.v, 32, r->eid, sizeof r->eid);
    }
    for (int k = 0; k < F_N; k++) {
        if (!fnext(&c))
            return bad(err, r, FNAMES[k], "is missing");
        if (!is(&c, FNAMES[k])) {
            char nm[40];
            snprintf(nm, sizeof nm, "%.*s", (int)(c.namel < 32 ? c.namel : 32), c.name);
            for (char *q = nm; *q; q++)
                if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7E)
                    *q = '?';
            char why[120];
            snprintf(why, sizeof why, "expected here, found field '%s' (missing, unknown or out of order)", nm);
            return bad(err, r, FNAMES[k], why);
        }
        if (!field(r, (fk)k, c.v, c.vl)) {
            if (k == F_EID)
                r->eid[0] = 0;
            return bad(err, r, FNAMES[k], "has a malformed value");
        }
    }
    for (;;) {
        size_t at = c.i;
        if (!fnext(&c))
            return bad(err, r, "sig", "is missing");
        if (is(&c, "profile")) {
            if (r->nprof >= SMSR_BATCH_MAX_PROFILES)
                return bad(err, r, "profile", "repeated more than 16 times");
            if (!profile(c.v, c.vl, &r->prof[r->nprof]))
                return bad(err, r, "profile", "has a malformed value");
            r->nprof++;
            continue;
        }
        if (!is(&c, "sig"))
            return bad(err, r, "sig", "expected here (unknown or out-of-order field)");
        size_t l;
        if (!hexb(c.v, c.vl, r->sig, 64, 64, &l))
            return bad(err, r, "sig", "is not 64 bytes of lowercase hex");
        if (c.i <= c.n)
            return bad(err, r, "record", "has fields after sig");
        r->signed_len = at - 1; /* up to the ';' before sig= */
        break;
    }
    if (r->mem_free > r->mem_total)
        return bad(err, r, "mem-free", "is larger than mem-total");
    return SM_OK;
}

sm_rc smsr_batch_next(smsr_batch *b, smsr_brec *r, sm_err *err)
{
    while (b->pos < b->body_end) {
        const char *s = b->data + b->pos;
        const char *nl = memchr(s, '\n', b->body_end - b->pos);
        size_t n = nl ? (size_t)(nl - s) : b->body_end - b->pos;
        size_t line = b->line;
        b->pos += n + 1;
        b->line++;
        if (s[0] == '#')
            continue; /* comment */
        memset(r, 0, sizeof *r);
        r->line = line;
        r->text = s;
        r->len = n;
        if (n < 4 || memcmp(s, "eis;", 4))
            return bad(err, r, "line", "is neither a record (eis;...) nor a comment (#...)");
        return parse_record(r, err);
    }
    return SM_ENOTFOUND;
}
