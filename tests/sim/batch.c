/* batch: EUM registration output (batch file v1 + ES1.RegisterEIS bodies) and its verifier. */
#include "tests/sim/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>

#include "tests/sim/ec.h"
#include "tests/sim/prim.h"

static void eid_digits(const uint8_t eid[16], char out[33])
{
    for (int i = 0; i < 16; i++) {
        out[2 * i] = (char)('0' + (eid[i] >> 4));
        out[2 * i + 1] = (char)('0' + (eid[i] & 15));
    }
    out[32] = 0;
}

static sim_rc wrapped(sim_buf *b, const char *name, const uint8_t tk[16], const uint8_t key[16], sim_err *err)
{
    sim_buf w;
    sim_buf_init(&w);
    uint8_t kcv[3];
    sim_rc rc = sim_kwp_wrap(tk, 16, key, 16, &w, err);
    if (!rc)
        rc = sim_kcv_aes(key, 16, kcv, err);
    if (!rc) {
        sim_buf_printf(b, ";%s=", name);
        sim_buf_hex(b, w.p, w.len);
        sim_buf_printf(b, ";%s-kcv=", name);
        sim_buf_hex(b, kcv, 3);
    }
    sim_buf_free(&w);
    return rc;
}

static const char *state_name(uint8_t lcs)
{
    return lcs == SIM_LCS_ENABLED ? "Enabled" : lcs == SIM_LCS_DISABLED ? "Disabled" : "Created";
}

static sim_rc record(sim_buf *b, const sim_euicc *e, const sim_pki *pki, const char *ts, int http, sim_err *err)
{
    char eid[33];
    eid_digits(e->eid, eid);
    size_t start = b->len;
    sim_buf_printf(b, "eis;eid=%s;eum-id=%s;production-date=%s;platform-type=smbox-sim;platform-version=1.0.0;"
                      "rpv=3.2.0;spv=9.2.0;cattp=0;http=%d;isdp-elf-aid=", eid, pki->eum_oid, ts, http);
    sim_buf_hex(b, SIM_AID_ELF.b, 16);
    sim_buf_str(b, ";isdp-module-aid=");
    sim_buf_hex(b, SIM_AID_MODULE.b, 16);
    sim_buf_str(b, ";ecasd-aid=");
    sim_buf_hex(b, SIM_AID_ECASD.b, 16);
    sim_buf_str(b, ";ecasd-cert=");
    sim_buf_hex(b, e->cert, e->certlen);
    sim_buf_printf(b, ";ci-id=%s;isdr-aid=", pki->ci_oid);
    sim_buf_hex(b, SIM_AID_ISDR.b, 16);
    sim_buf_str(b, ";isdr-tar=");
    sim_buf_hex(b, e->isdr_tar, 3);
    sim_buf_str(b, ";isdr-sin=");
    sim_buf_hex(b, e->eid + 8, 8);
    sim_buf_str(b, ";isdr-sdin=");
    sim_buf_hex(b, SIM_AID_ISDR.b, 16);
    const sim_scp80_keyset *k = &e->scp80[0];
    sim_buf_printf(b, ";scp80-kvn=%02x;scp80-cntr=%llu", k->kvn, (unsigned long long)k->cntr);
    sim_rc rc;
    if ((rc = wrapped(b, "scp80-kic", pki->tk, k->kic, err)) || (rc = wrapped(b, "scp80-kid", pki->tk, k->kid, err)) ||
        (rc = wrapped(b, "scp80-dek", pki->tk, k->dek, err)))
        return rc;
    sim_buf_printf(b, ";scp81-kvn=%02x;scp81-key-id=%02x", e->scp81[0].kvn, e->scp81[0].id);
    if ((rc = wrapped(b, "scp81-psk", pki->tk, e->scp81[0].psk, err)))
        return rc;
    sim_buf_printf(b, ";mem-total=%u;mem-free=%u;smsr-id=%s;smsr-sms=%s;msisdn=%s", e->mem_total,
                   sim_euicc_free_mem(e), pki->smsr_oid, e->sr_sms, sim_euicc_msisdn((sim_euicc *)e));
    for (uint8_t i = 0; i < e->nprof; i++) {
        const sim_profile *p = &e->prof[i];
        sim_buf_str(b, ";profile=");
        sim_buf_hex(b, p->aid.b, p->aid.len);
        sim_buf_printf(b, ",%s,%s,%s,%s,%u,%u,%02x,%s", p->iccid, p->imsi, p->msisdn, state_name(p->lcs), p->fallback,
                       p->quota, p->pol1, SIM_OID_MNO1);
    }
    uint8_t sig[64];
    if ((rc = sim_buf_check(b, err)) || (rc = sim_ecdsa_sign(pki->eum_key, b->p + start, b->len - start, sig, err)))
        return rc;
    sim_buf_str(b, ";sig=");
    sim_buf_hex(b, sig, 64);
    sim_buf_u8(b, '\n');
    return sim_buf_check(b, err);
}

/* ES1.RegisterEIS SOAP body. The EumSignature covers the exact bytes of <EumSignedInfo>..</EumSignedInfo>
 * as written (no canonicalisation transform); see docs/euicc-batch-format.md. */
static sim_rc es1(const sim_euicc *e, const sim_pki *pki, const char *ts, const char *dir, int http, sim_err *err)
{
    char eid[33], path[1024];
    eid_digits(e->eid, eid);
    sim_buf si, x;
    sim_buf_init(&si);
    sim_buf_init(&x);
    sim_buf_printf(&si, "<EumSignedInfo><Eid>%s</Eid><Eum-id>%s</Eum-id><ProductionDate>%s</ProductionDate>"
                        "<PlatformType>smbox-sim</PlatformType><PlatformVersion>1.0.0</PlatformVersion>"
                        "<Isd-p-loadfile-aid>", eid, pki->eum_oid, ts);
    sim_buf_hex(&si, SIM_AID_ELF.b, 16);
    sim_buf_str(&si, "</Isd-p-loadfile-aid><Isd-p-module-aid>");
    sim_buf_hex(&si, SIM_AID_MODULE.b, 16);
    sim_buf_str(&si, "</Isd-p-module-aid><Ecasd><Aid>");
    sim_buf_hex(&si, SIM_AID_ECASD.b, 16);
    sim_buf_str(&si, "</Aid><Sin>");
    sim_buf_hex(&si, e->eid + 8, 8);
    sim_buf_str(&si, "</Sin><Sdin>");
    sim_buf_hex(&si, SIM_AID_ECASD.b, 16);
    sim_buf_printf(&si, "</Sdin><Role>ECASD</Role><Keyset><Version>115</Version><Type>CA</Type><Certificate><Index>1</Index>"
                        "<CaId>%s</CaId><Value>", pki->eum_oid);
    sim_buf_hex(&si, e->cert, e->certlen);
    sim_buf_printf(&si, "</Value></Certificate></Keyset></Ecasd><EuiccCapabilities><CattpSupport>false</CattpSupport>"
                     "<HttpSupport>%s</HttpSupport><HttpVersion>1.1.0</HttpVersion><SecurePacketVersion>9.2.0"
                     "</SecurePacketVersion><RemoteProvisioningVersion>3.2.0</RemoteProvisioningVersion>"
                     "</EuiccCapabilities></EumSignedInfo>", http ? "true" : "false");
    uint8_t dg[32], sig[64];
    sim_rc rc = sim_buf_check(&si, err);
    if (!rc && !(rc = sim_sha256(si.p, si.len, dg, err)))
        rc = sim_ecdsa_sign(pki->eum_key, si.p, si.len, sig, err);
    if (rc)
        goto out;
    sim_buf_str(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
                    "xmlns:wsa=\"http://www.w3.org/2005/08/addressing\"><s:Header><wsa:Action>"
                    "http://gsma.com/ES1/eUICCManagement/ES1-RegisterEISRequest</wsa:Action>");
    sim_buf_printf(&x, "<wsa:From><wsa:Address>http://%s?EumId=%s</wsa:Address></wsa:From><wsa:MessageID>urn:uuid:eis-%s"
                       "</wsa:MessageID></s:Header><s:Body><ES1-RegisterEISRequest xmlns=\"http://namespaces.gsma.org/"
                       "esim-messaging/3\"><FunctionCallIdentifier>register-%s</FunctionCallIdentifier>"
                       "<ValidityPeriod>86400</ValidityPeriod><Eis>", pki->eum_oid, pki->eum_oid, eid, eid);
    sim_buf_put(&x, si.p, si.len);
    sim_buf_str(&x, "<EumSignature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>"
                    "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>"
                    "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"/>"
                    "<ds:Reference URI=\"\"><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>"
                    "<ds:DigestValue>");
    sim_buf_hex(&x, dg, 32);
    sim_buf_str(&x, "</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>");
    sim_buf_hex(&x, sig, 64);
    sim_buf_printf(&x, "</ds:SignatureValue></EumSignature><RemainingMemory>%u</RemainingMemory>"
                       "<AvailableMemoryForProfiles>%u</AvailableMemoryForProfiles><Smsr-id>%s</Smsr-id>",
                   sim_euicc_free_mem(e), e->mem_total, pki->smsr_oid);
    for (uint8_t i = 0; i < e->nprof; i++) {
        const sim_profile *p = &e->prof[i];
        sim_buf_printf(&x, "<ProfileInfo><Iccid>%s</Iccid><Isd-p-aid>", p->iccid);
        sim_buf_hex(&x, p->aid.b, p->aid.len);
        sim_buf_printf(&x, "</Isd-p-aid><Mno-id>%s</Mno-id><FallbackAttribute>%s</FallbackAttribute>"
                           "<SubscriptionAddress><Imsi>%s</Imsi><Msisdn>%s</Msisdn></SubscriptionAddress>"
                           "<State>%s</State><AllocatedMemory>%u</AllocatedMemory><pol2/></ProfileInfo>",
                       SIM_OID_MNO1, p->fallback ? "true" : "false", p->imsi, p->msisdn, state_name(p->lcs), p->quota);
    }
    sim_buf_str(&x, "<Isd-r><Aid>");
    sim_buf_hex(&x, SIM_AID_ISDR.b, 16);
    sim_buf_str(&x, "</Aid><Tar>");
    sim_buf_hex(&x, e->isdr_tar, 3);
    sim_buf_str(&x, "</Tar><Sin>");
    sim_buf_hex(&x, e->eid + 8, 8);
    sim_buf_str(&x, "</Sin><Sdin>");
    sim_buf_hex(&x, SIM_AID_ISDR.b, 16);
    const sim_scp80_keyset *k = &e->scp80[0];
    sim_buf_printf(&x, "</Sdin><Role>ISD-R</Role><Keyset><Version>%u</Version><Type>SCP80</Type><Cntr>%llu</Cntr>", k->kvn,
                   (unsigned long long)k->cntr);
    const uint8_t *keys[3] = {k->kic, k->kid, k->dek};
    for (int i = 0; i < 3; i++) {
        sim_buf w;
        sim_buf_init(&w);
        uint8_t kcv[3];
        if ((rc = sim_kwp_wrap(pki->tk, 16, keys[i], 16, &w, err)) || (rc = sim_kcv_aes(keys[i], 16, kcv, err))) {
            sim_buf_free(&w);
            goto out;
        }
        sim_buf_str(&x, "<Key kcv=\"");
        sim_buf_hex(&x, kcv, 3);
        sim_buf_printf(&x, "\"><Index>%d</Index><KeyComponents type=\"88\" value=\"", i + 1);
        sim_buf_hex(&x, w.p, w.len);
        sim_buf_str(&x, "\"/></Key>");
        sim_buf_free(&w);
    }
    sim_buf_printf(&x, "</Keyset><Keyset><Version>%u</Version><Type>SCP81</Type>", e->scp81[0].kvn);
    {
        sim_buf w;
        sim_buf_init(&w);
        uint8_t kcv[3];
        if ((rc = sim_kwp_wrap(pki->tk, 16, e->scp81[0].psk, 16, &w, err)) ||
            (rc = sim_kcv_aes(e->scp81[0].psk, 16, kcv, err))) {
            sim_buf_free(&w);
            goto out;
        }
        sim_buf_str(&x, "<Key kcv=\"");
        sim_buf_hex(&x, kcv, 3);
        sim_buf_printf(&x, "\"><Index>%u</Index><KeyComponents type=\"85\" value=\"", e->scp81[0].id);
        sim_buf_hex(&x, w.p, w.len);
        sim_buf_str(&x, "\"/></Key>");
        sim_buf_free(&w);
    }
    sim_buf_printf(&x, "</Keyset></Isd-r><AdditionalProperties><Property key=\"smsr-sms\" value=\"%s\"/>"
                       "<Property key=\"transport-key-id\" value=\"%s\"/><Property key=\"key-wrap\" value=\"aes-kwp\"/>"
                       "</AdditionalProperties></Eis></ES1-RegisterEISRequest></s:Body></s:Envelope>\n",
                   e->sr_sms, pki->tk_id);
    if ((rc = sim_buf_check(&x, err)))
        goto out;
    if ((size_t)snprintf(path, sizeof path, "%s/es1/%s.xml", dir, eid) >= sizeof path)
        rc = sim_errf(err, SIM_EINVAL, "path too long");
    else
        rc = sim_write_file(path, x.p, x.len, 0644, err);
out:
    sim_buf_free(&si);
    sim_buf_free(&x);
    return rc;
}

sim_rc sim_batch_write(const sim_fleet *f, const sim_pki *pki, const char *dir, int with_es1, sim_err *err)
{
    char path[1024], ts[32];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return sim_errf(err, SIM_EIO, "batch: cannot create %s: %s", dir, strerror(errno));
    if (with_es1) {
        snprintf(path, sizeof path, "%s/es1", dir);
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return sim_errf(err, SIM_EIO, "batch: cannot create %s: %s", path, strerror(errno));
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_printf(&b, "#smbox-euicc-batch;v=1;eum-id=%s;tk-id=%s;kw=aes-kwp;sig=ecdsa-p256-sha256;created=%s\n",
                   pki->eum_oid, pki->tk_id, ts);
    sim_rc rc = SIM_OK;
    for (size_t i = 0; !rc && i < f->n; i++) {
        int http = i + f->sms_only < f->n; /* the last sms_only cards declare no HTTPS support */
        rc = record(&b, f->cards[i], pki, ts, http, err);
        if (!rc && with_es1)
            rc = es1(f->cards[i], pki, ts, dir, http, err);
    }
    uint8_t h[32];
    if (!rc && !(rc = sim_buf_check(&b, err)) && !(rc = sim_sha256(b.p, b.len, h, err))) {
        sim_buf_printf(&b, "#end;count=%zu;sha256=", f->n);
        sim_buf_hex(&b, h, 32);
        sim_buf_u8(&b, '\n');
        snprintf(path, sizeof path, "%s/euicc-batch.txt", dir);
        if (!(rc = sim_buf_check(&b, err)))
            rc = sim_write_file(path, b.p, b.len, 0644, err);
    }
    sim_buf_free(&b);
    return rc;
}

/* ---- verifier (what the appliance's importer must do) ---- */

static const char *field(const char *line, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = line;
    while ((p = strstr(p, name))) {
        if ((p == line || p[-1] == ';') && p[nl] == '=') {
            p += nl + 1;
            *len = strcspn(p, ";\n");
            return p;
        }
        p += nl;
    }
    return NULL;
}

static sim_rc key_field(const char *line, const char *name, const uint8_t tk[16], uint8_t out[16], sim_err *err)
{
    size_t l, kl;
    const char *v = field(line, name, &l);
    char kcvname[64];
    snprintf(kcvname, sizeof kcvname, "%s-kcv", name);
    const char *kv = field(line, kcvname, &kl);
    if (!v || !kv || kl != 6 || l > 96)
        return sim_errf(err, SIM_EPARSE, "batch: field %s missing", name);
    sim_buf w, u;
    sim_buf_init(&w);
    sim_buf_init(&u);
    uint8_t kcv[3], exp[3];
    size_t xl;
    char tmp[8];
    memcpy(tmp, kv, 6);
    tmp[6] = 0;
    sim_rc rc = sim_unhex_buf(v, l, &w, err);
    if (!rc) rc = sim_kwp_unwrap(tk, 16, w.p, w.len, &u, err);
    if (!rc && u.len != 16) rc = sim_errf(err, SIM_EPARSE, "batch: %s is not a 16-byte key", name);
    if (!rc) rc = sim_kcv_aes(u.p, 16, kcv, err);
    if (!rc) rc = sim_unhex(tmp, exp, 3, &xl, err);
    if (!rc && memcmp(kcv, exp, 3)) rc = sim_errf(err, SIM_EVERIFY, "batch: KCV of %s does not match", name);
    if (!rc) memcpy(out, u.p, 16);
    sim_buf_free(&w);
    sim_buf_free_secure(&u);
    return rc;
}

sim_rc sim_batch_verify(const char *path, EVP_PKEY *eum_pub, const uint8_t tk[16],
                        void (*cb)(const sim_batch_rec *r, void *arg), void *arg, size_t *count, sim_err *err)
{
    sim_buf b;
    sim_buf_init(&b);
    sim_rc rc = sim_read_file(path, &b, err);
    if (rc)
        return rc;
    sim_buf_u8(&b, 0);
    if ((rc = sim_buf_check(&b, err)))
        goto out;
    char *text = (char *)b.p, *save = NULL;
    size_t n = 0, lineno = 0;
    int trailer = 0;
    uint8_t body_hash[32] = {0};
    char *tr = strstr(text, "\n#end;");
    if (tr && (rc = sim_sha256(b.p, (size_t)(tr + 1 - text), body_hash, err)))
        goto out;
    if (strncmp(text, "#smbox-euicc-batch;v=1;", 23)) {
        rc = sim_errf(err, SIM_EPARSE, "batch: not a version 1 batch file");
        goto out;
    }
    for (char *line = strtok_r(text, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (!strncmp(line, "#end;", 5)) {
            size_t cl, hl;
            const char *c = field(line, "count", &cl), *h = field(line, "sha256", &hl);
            uint8_t dg[32], exp[32];
            size_t xl;
            char hx[65];
            if (!c || !h || hl != 64 || (size_t)strtoul(c, NULL, 10) != n) {
                rc = sim_errf(err, SIM_EPARSE, "batch: trailer count does not match %zu records", n);
                break;
            }
            memcpy(hx, h, 64);
            hx[64] = 0;
            memcpy(dg, body_hash, 32);
            if ((rc = sim_unhex(hx, exp, 32, &xl, err)))
                break;
            if (memcmp(dg, exp, 32))
                rc = sim_errf(err, SIM_EVERIFY, "batch: file hash in the trailer does not match");
            trailer = 1;
            continue;
        }
        if (line[0] == '#')
            continue;
        if (strncmp(line, "eis;", 4)) {
            rc = sim_errf(err, SIM_EPARSE, "batch: line %zu is not a record", lineno);
            break;
        }
        char *sig = strstr(line, ";sig=");
        uint8_t s[64];
        size_t sl = 0;
        if (!sig || strlen(sig + 5) != 128 || sim_unhex(sig + 5, s, 64, &sl, err)) {
            rc = sim_errf(err, SIM_EPARSE, "batch: line %zu: no 64-byte signature", lineno);
            break;
        }
        if ((rc = sim_ecdsa_verify(eum_pub, line, (size_t)(sig - line), s, 64, err))) {
            sim_err_prefix(err, "batch: line %zu", lineno);
            break;
        }
        sim_batch_rec r;
        memset(&r, 0, sizeof r);
        size_t l;
        const char *v = field(line, "eid", &l);
        if (!v || l != 32) {
            rc = sim_errf(err, SIM_EPARSE, "batch: line %zu: bad eid", lineno);
            break;
        }
        memcpy(r.eid, v, 32);
        if ((v = field(line, "msisdn", &l)) && l < sizeof r.msisdn)
            memcpy(r.msisdn, v, l);
        if ((v = field(line, "scp80-kvn", &l)))
            r.scp80_kvn = (uint8_t)strtoul(v, NULL, 16);
        if ((v = field(line, "scp81-kvn", &l)))
            r.scp81_kvn = (uint8_t)strtoul(v, NULL, 16);
        if ((rc = key_field(line, "scp80-kic", tk, r.kic, err)) || (rc = key_field(line, "scp80-kid", tk, r.kid, err)) ||
            (rc = key_field(line, "scp80-dek", tk, r.dek, err)) || (rc = key_field(line, "scp81-psk", tk, r.psk, err))) {
            sim_err_prefix(err, "batch: line %zu", lineno);
            break;
        }
        n++;
        if (cb)
            cb(&r, arg);
        OPENSSL_cleanse(&r, sizeof r);
    }
    if (!rc && !trailer)
        rc = sim_errf(err, SIM_EPARSE, "batch: no #end trailer (truncated file?)");
    if (count)
        *count = n;
out:
    sim_buf_free_secure(&b);
    return rc;
}
