/* The EIS as an ES value, filtered for who asks (eis.md §4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smsr/internal.h"
#include "lib/log.h"

static bool hexstr(es_value *s, const char *name, const db_aid *a)
{
    if (!a->len)
        return true;
    char h[40];
    smsr_aid_hex(a, h, sizeof h);
    return es_add_str(s, name, h) != NULL;
}

static bool signed_info(es_value *eis, const db_euicc *e, smsr_view v)
{
    es_value *si = es_add_struct(eis, "EumSignedInfo");
    if (!si || !es_add_str(si, "Eid", e->eid) || !es_add_str(si, "Eum-id", e->eum_id))
        return false;
    if (e->production_date[0] && !es_add_str(si, "ProductionDate", e->production_date))
        return false;
    if (!es_add_str(si, "PlatformType", e->platform_type) || !es_add_str(si, "PlatformVersion", e->platform_version))
        return false;
    if (v == SMSR_VIEW_SMDP) {
        /* what the SM-DP needs for eligibility and key establishment: ISD-P AIDs, the ECASD certificate */
        if (!hexstr(si, "Isd-p-loadfile-aid", &e->isdp_loadfile_aid) ||
            !hexstr(si, "Isd-p-module-aid", &e->isdp_module_aid))
            return false;
        es_value *ecasd = es_add_struct(si, "Ecasd");
        if (!ecasd || !hexstr(ecasd, "Aid", &e->ecasd_aid) || !es_add_str(ecasd, "Role", "ECASD"))
            return false;
        es_value *ks = es_add_list(ecasd, "Keyset");
        es_value *k = ks ? es_add_struct(ks, NULL) : NULL;
        es_value *cl = k && es_add_int(k, "Version", 115) && es_add_str(k, "Type", "CA") ? es_add_list(k, "Certificate")
                                                                                        : NULL;
        es_value *c = cl ? es_add_struct(cl, NULL) : NULL;
        if (!c || !es_add_int(c, "Index", 1) || !es_add_str(c, "CaId", e->eum_id) ||
            !es_add_bytes(c, "Value", e->ecasd_cert, e->ecasd_cert_len))
            return false;
    }
    es_value *cap = es_add_struct(si, "EuiccCapabilities");
    if (!cap || !es_add_bool(cap, "CattpSupport", e->caps & DB_CAP_CATTP) ||
        (e->cattp_version[0] && !es_add_str(cap, "CattpVersion", e->cattp_version)) ||
        !es_add_bool(cap, "HttpSupport", e->caps & DB_CAP_HTTPS) ||
        (e->http_version[0] && !es_add_str(cap, "HttpVersion", e->http_version)) ||
        (e->secure_packet_version[0] && !es_add_str(cap, "SecurePacketVersion", e->secure_packet_version)) ||
        (e->rsp_version[0] && !es_add_str(cap, "RemoteProvisioningVersion", e->rsp_version)))
        return false;
    return true;
}

static bool profile_info(es_value *list, const db_profile *p, smsr_view v)
{
    es_value *pi = es_add_struct(list, NULL);
    if (!pi || !es_add_str(pi, "Iccid", p->iccid) || !hexstr(pi, "Isd-p-aid", &p->isdp_aid) ||
        !es_add_str(pi, "Mno-id", p->mno_id) || !es_add_bool(pi, "FallbackAttribute", p->fallback))
        return false;
    es_value *sa = es_add_struct(pi, "SubscriptionAddress");
    if (!sa || (p->imsi[0] && !es_add_str(sa, "Imsi", p->imsi)) || (p->msisdn[0] && !es_add_str(sa, "Msisdn", p->msisdn)))
        return false;
    if (!es_add_str(pi, "State", p->state) || (p->smdp_id[0] && !es_add_str(pi, "Smdp-id", p->smdp_id)) ||
        (p->profile_type[0] && !es_add_str(pi, "ProfileType", p->profile_type)) ||
        !es_add_int(pi, "AllocatedMemory", p->allocated_memory) ||
        (p->free_memory >= 0 && !es_add_int(pi, "FreeMemory", p->free_memory)))
        return false;
    smsr_pol2_encode(v == SMSR_VIEW_OWNER ? 0 : p->pol2, pi); /* the eUICC owner does not see POL2 */
    return es_get(pi, "pol2") != NULL;
}

static bool wanted(const db_profile *p, smsr_view v, const char *caller, const char *const *only, size_t nonly)
{
    if (v == SMSR_VIEW_SMDP && strcmp(p->smdp_id, caller))
        return false;
    if (v == SMSR_VIEW_MNO && strcmp(p->mno_id, caller))
        return false;
    if (nonly) {
        for (size_t i = 0; i < nonly; i++)
            if (!strcmp(only[i], p->iccid))
                return true;
        return false;
    }
    return true;
}

sm_rc smsr_eis_value(db_conn *c, const char *eid, smsr_view v, const char *caller, const char *const *only,
                     size_t nonly, es_value *parent, sm_err *err)
{
    db_euicc e;
    sm_rc rc = db_eis_get(c, eid, &e, err);
    if (rc != SM_OK)
        return rc;
    db_profile *pv = NULL;
    size_t np = 0;
    rc = db_eis_profiles(c, e.eid, false, &pv, &np, err);
    es_value *eis = rc == SM_OK ? es_add_struct(parent, "Eis") : NULL;
    bool ok = eis && signed_info(eis, &e, v) && es_add_int(eis, "RemainingMemory", e.remaining_memory) &&
              es_add_int(eis, "AvailableMemoryForProfiles", e.available_memory) &&
              es_add_str(eis, "Smsr-id", e.smsr_id);
    es_value *list = NULL;
    for (size_t i = 0; ok && i < np; i++) {
        if (!wanted(&pv[i], v, caller, only, nonly))
            continue;
        if (!list && !(list = es_add_list(eis, "ProfileInfo")))
            ok = false;
        else
            ok = profile_info(list, &pv[i], v);
    }
    free(pv);
    db_euicc_clear(&e);
    if (rc == SM_OK && !ok)
        rc = sm_errf(err, SM_ENOMEM, "EIS: out of memory");
    return rc;
}
