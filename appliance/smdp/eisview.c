/* The SM-DP's reading of an EIS and of the eUICC certificate chain. */
#include "appliance/smdp/eisview.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "crypto/tlv.h"

static const uint8_t *find_ecasd_cert(const es_value *ecasd, size_t *len)
{
    size_t nk = es_count(ecasd, "Keyset");
    for (size_t i = 0; i < nk; i++) {
        const es_value *ks = es_item(ecasd, "Keyset", i);
        size_t nc = es_count(ks, "Certificate");
        for (size_t j = 0; j < nc; j++) {
            const uint8_t *p;
            size_t l;
            if (es_bytes(es_item(ks, "Certificate", j), "Value", &p, &l) && l > 3 && p[0] == 0x7F && p[1] == 0x21) {
                *len = l;
                return p;
            }
        }
    }
    return NULL;
}

sm_rc dp_eis_read(const es_value *body, const char *smdp_id, const char *iccid, dp_eis *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    out->remaining_memory = -1;
    const es_value *eis = es_struct(body, "Eis");
    if (!eis)
        return sm_errf(err, SM_EPROTO, "EIS: the SM-SR answered without an Eis");
    const es_value *si = es_struct(eis, "EumSignedInfo");
    const char *eid = es_str(si, "Eid"), *eum = es_str(si, "Eum-id");
    if (!eid || strlen(eid) >= sizeof out->eid)
        return sm_errf(err, SM_EPROTO, "EIS: no EumSignedInfo/Eid");
    snprintf(out->eid, sizeof out->eid, "%s", eid);
    if (eum && strlen(eum) < sizeof out->eum_id)
        snprintf(out->eum_id, sizeof out->eum_id, "%s", eum);
    const char *rpv = es_str(es_struct(si, "EuiccCapabilities"), "RemoteProvisioningVersion");
    if (rpv)
        snprintf(out->rpv, sizeof out->rpv, "%.15s", rpv);
    const char *sr = es_str(eis, "Smsr-id");
    if (sr)
        snprintf(out->smsr_id, sizeof out->smsr_id, "%.64s", sr);
    int64_t m;
    if (es_int(eis, "RemainingMemory", &m))
        out->remaining_memory = m;
    out->ecasd_cert = find_ecasd_cert(es_struct(si, "Ecasd"), &out->ecasd_cert_len);
    if (!out->ecasd_cert)
        return sm_errf(err, SM_EPROTO, "EIS of %s: no eUICC certificate (EumSignedInfo/Ecasd/Keyset/Certificate)",
                       out->eid);
    size_t np = es_count(eis, "ProfileInfo");
    for (size_t i = 0; i < np; i++) {
        const es_value *pi = es_item(eis, "ProfileInfo", i);
        const char *ic = es_str(pi, "Iccid"), *st = es_str(pi, "State"), *dp = es_str(pi, "Smdp-id");
        if (!ic)
            continue;
        if (iccid && !strcasecmp(ic, iccid))
            out->iccid_present = true;
        if (st && !strcmp(st, "Created") && dp && smdp_id && !strcmp(dp, smdp_id) &&
            out->ncreated < DP_EIS_MAX_CREATED && strlen(ic) < 21)
            snprintf(out->created[out->ncreated++], 21, "%s", ic);
    }
    return SM_OK;
}

sm_rc dp_eis_verify_chain(const smdp_ctx *x, const uint8_t *cert, size_t len, const uint8_t *eum_der, size_t eum_len,
                          time_t now, gpcert *leaf, sm_err *err)
{
    if (!x->nci)
        return sm_errf(err, SM_ECONFIG, "no trusted CI certificate (gsma.ci_cert_file)");
    const uint8_t *eums[SMDP_MAX_CERTS + 1];
    size_t eum_lens[SMDP_MAX_CERTS + 1], ne = 0;
    if (eum_der && eum_len) {
        eums[ne] = eum_der;
        eum_lens[ne++] = eum_len;
    }
    for (size_t i = 0; i < x->neum; i++) {
        eums[ne] = x->eum[i];
        eum_lens[ne++] = x->eum_len[i];
    }
    if (!ne)
        return sm_errf(err, SM_ECONFIG, "no EUM certificate to verify the eUICC certificate with (smdp.eum_cert_file "
                                        "or the eum table)");
    sm_err last = {0};
    for (size_t c = 0; c < x->nci; c++)
        for (size_t e = 0; e < ne; e++) {
            const uint8_t *chain[3] = {x->ci[c], eums[e], cert};
            size_t lens[3] = {x->ci_len[c], eum_lens[e], len};
            sm_err_clear(&last);
            if (gpcert_verify_chain(chain, lens, 3, GPCERT_P_ECASD, now, leaf, &last) == SM_OK)
                return SM_OK;
        }
    return sm_errf(err, SM_EVERIFY, "the eUICC certificate does not chain to a trusted CI: %s", last.msg);
}
