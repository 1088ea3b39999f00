/* euicc: card model and the platform operations of the ISD-R. */
#include "tests/sim/euicc.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tests/sim/ec.h"
#include "tests/sim/ecka.h"
#include "tests/sim/isdp.h"
#include "tests/sim/tlv.h"

#define AIDPFX 0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00
const sim_aid SIM_AID_ISDR = {{AIDPFX, 0x01, 0x00}, 16};
const sim_aid SIM_AID_ECASD = {{AIDPFX, 0x02, 0x00}, 16};
const sim_aid SIM_AID_ELF = {{AIDPFX, 0x0D, 0x00}, 16};
const sim_aid SIM_AID_MODULE = {{AIDPFX, 0x0E, 0x00}, 16};

sim_euicc *sim_euicc_new(void)
{
    sim_euicc *e = calloc(1, sizeof *e);
    if (e) {
        e->isdr_tar[2] = 0x01;
        e->msl = 0x16;
        e->curve = 0x00;
    }
    return e;
}

void sim_euicc_free(sim_euicc *e)
{
    if (!e)
        return;
    for (uint8_t i = 0; i < e->nprof; i++)
        sim_isdp_rt_free(&e->prof[i]);
    OPENSSL_cleanse(e->prof, sizeof *e->prof * e->nprof);
    free(e->prof);
    EVP_PKEY_free(e->ecasd_key);
    free(e->cert);
    if (e->isdr_ecka) {
        sim_ecka_reset(e->isdr_ecka);
        free(e->isdr_ecka);
    }
    OPENSSL_cleanse(e, sizeof *e);
    free(e);
}

EVP_PKEY *sim_euicc_ecasd(sim_euicc *e, sim_err *err)
{
    if (!e->ecasd_key && sim_ec_priv_from_bytes(e->curve, e->ecasd_d, &e->ecasd_key, err) != SIM_OK)
        return NULL;
    return e->ecasd_key;
}

int sim_aid_eq(const sim_aid *a, const uint8_t *b, size_t n)
{
    return a->len == n && memcmp(a->b, b, n) == 0;
}

void sim_aid_hex(const sim_aid *a, char out[33]) { sim_hex(out, a->b, a->len); }
void sim_eid_hex(const sim_euicc *e, char out[33]) { sim_hex(out, e->eid, 16); }

sim_profile *sim_euicc_find(sim_euicc *e, const uint8_t *aid, size_t n)
{
    for (uint8_t i = 0; i < e->nprof; i++)
        if (sim_aid_eq(&e->prof[i].aid, aid, n))
            return &e->prof[i];
    return NULL;
}

sim_profile *sim_euicc_find_iccid(sim_euicc *e, const char *iccid)
{
    for (uint8_t i = 0; i < e->nprof; i++)
        if (e->prof[i].iccid[0] && !strcmp(e->prof[i].iccid, iccid))
            return &e->prof[i];
    return NULL;
}

sim_profile *sim_euicc_enabled(sim_euicc *e)
{
    for (uint8_t i = 0; i < e->nprof; i++)
        if (e->prof[i].lcs == SIM_LCS_ENABLED)
            return &e->prof[i];
    return NULL;
}

sim_profile *sim_euicc_fallback(sim_euicc *e)
{
    for (uint8_t i = 0; i < e->nprof; i++)
        if (e->prof[i].fallback)
            return &e->prof[i];
    return NULL;
}

const char *sim_euicc_msisdn(sim_euicc *e)
{
    sim_profile *p = sim_euicc_enabled(e);
    return p ? p->msisdn : "";
}

uint32_t sim_euicc_free_mem(const sim_euicc *e)
{
    uint32_t used = 0;
    for (uint8_t i = 0; i < e->nprof; i++)
        used += e->prof[i].quota;
    return used >= e->mem_total ? 0 : e->mem_total - used;
}

sim_rc sim_euicc_add_profile(sim_euicc *e, const uint8_t *aid, size_t n, uint32_t quota, sim_profile **out,
                             sim_err *err)
{
    if (n < 5 || n > 16)
        return sim_errf(err, SIM_EINVAL, "ISD-P AID of %zu bytes", n);
    if (sim_euicc_find(e, aid, n) || sim_aid_eq(&SIM_AID_ISDR, aid, n) || sim_aid_eq(&SIM_AID_ECASD, aid, n))
        return sim_errf(err, SIM_EEXIST, "an application with this AID exists");
    if (e->nprof >= SIM_MAX_PROFILES)
        return sim_errf(err, SIM_ELIMIT, "no more than %d ISD-Ps", SIM_MAX_PROFILES);
    if (quota > sim_euicc_free_mem(e))
        return sim_errf(err, SIM_ELIMIT, "memory: %u bytes requested, %u free", quota, sim_euicc_free_mem(e));
    sim_profile *np = realloc(e->prof, sizeof *np * (e->nprof + 1u));
    if (!np)
        return sim_errf(err, SIM_ENOMEM, "out of memory adding an ISD-P");
    e->prof = np;
    sim_profile *p = &e->prof[e->nprof++];
    memset(p, 0, sizeof *p);
    memcpy(p->aid.b, aid, n);
    p->aid.len = (uint8_t)n;
    p->lcs = SIM_LCS_SELECTABLE;
    p->quota = quota;
    if (out)
        *out = p;
    return SIM_OK;
}

void sim_euicc_remove(sim_euicc *e, sim_profile *p)
{
    size_t i = (size_t)(p - e->prof);
    if (i >= e->nprof)
        return;
    sim_isdp_rt_free(p);
    OPENSSL_cleanse(p, sizeof *p);
    memmove(&e->prof[i], &e->prof[i + 1], sizeof *p * (e->nprof - i - 1));
    e->nprof--;
}

static void switch_to(sim_euicc *e, sim_profile *from, sim_profile *to)
{
    if (from)
        from->lcs = SIM_LCS_DISABLED;
    to->lcs = SIM_LCS_ENABLED;
}

/* the enable/disable pair that is waiting for its REFRESH */
static sim_aid g_none;

uint16_t sim_euicc_enable(sim_euicc *e, const uint8_t *aid, size_t n)
{
    sim_profile *t = sim_euicc_find(e, aid, n);
    if (!t)
        return 0x6A88;
    if (t->lcs == SIM_LCS_ENABLED)
        return 0x6985;
    if (t->lcs != SIM_LCS_DISABLED)
        return 0x6985; /* not installed yet */
    sim_profile *cur = sim_euicc_enabled(e);
    if (cur && (cur->pol1 & SIM_POL1_NO_DISABLE))
        return 0x69E1;
    sim_aid prev = cur ? cur->aid : g_none;
    switch_to(e, cur, t);
    e->refresh = 1;
    /* remember the roll-back target in a pending pseudo-notification slot, filled at refresh */
    sim_notif *nt = sim_euicc_notify(e, 0, &t->aid, &prev);
    if (!nt)
        return 0x6A84;
    return 0x9000;
}

uint16_t sim_euicc_disable(sim_euicc *e, const uint8_t *aid, size_t n)
{
    sim_profile *t = sim_euicc_find(e, aid, n);
    if (!t)
        return 0x6A88;
    if (t->lcs != SIM_LCS_ENABLED)
        return 0x6985;
    if (t->pol1 & SIM_POL1_NO_DISABLE)
        return 0x69E1;
    sim_profile *fb = sim_euicc_fallback(e);
    if (!fb || fb == t)
        return 0x6985;
    if (fb->lcs != SIM_LCS_DISABLED)
        return 0x6985;
    sim_aid prev = t->aid;
    switch_to(e, t, fb);
    e->refresh = 1;
    if (!sim_euicc_notify(e, 0, &fb->aid, &prev))
        return 0x6A84;
    return 0x9000;
}

uint16_t sim_euicc_delete(sim_euicc *e, const uint8_t *aid, size_t n, int master)
{
    sim_profile *t = sim_euicc_find(e, aid, n);
    if (!t)
        return 0x6A88;
    if (t->lcs == SIM_LCS_ENABLED || t->fallback)
        return 0x6985;
    if (!master && (t->pol1 & SIM_POL1_NO_DELETE))
        return 0x69E1;
    sim_euicc_remove(e, t);
    return 0x9000;
}

uint16_t sim_euicc_set_fallback(sim_euicc *e, const uint8_t *aid, size_t n)
{
    sim_profile *t = sim_euicc_find(e, aid, n);
    if (!t)
        return 0x6A88;
    if (t->lcs != SIM_LCS_DISABLED && t->lcs != SIM_LCS_ENABLED)
        return 0x6985;
    sim_profile *en = sim_euicc_enabled(e);
    if (en && en != t && (en->pol1 & SIM_POL1_NO_DISABLE) && en->fallback)
        return 0x69E1;
    for (uint8_t i = 0; i < e->nprof; i++)
        e->prof[i].fallback = 0;
    t->fallback = 1;
    return 0x9000;
}

sim_notif *sim_euicc_notify(sim_euicc *e, uint8_t type, const sim_aid *aid, const sim_aid *prev)
{
    if (e->npend >= SIM_MAX_PENDING) {
        memmove(&e->pend[0], &e->pend[1], sizeof e->pend[0] * (SIM_MAX_PENDING - 1));
        e->npend--;
    }
    sim_notif *n = &e->pend[e->npend++];
    memset(n, 0, sizeof *n);
    n->type = type;
    if (type)
        n->seq = ++e->notif_seq;
    if (aid)
        n->aid = *aid;
    if (prev)
        n->prev = *prev;
    return n;
}

int sim_euicc_attach(sim_euicc *e, const char **why)
{
    sim_profile *p = sim_euicc_enabled(e);
    const char *w = NULL;
    if (!p)
        w = "no enabled profile";
    else if (p->attach_fail)
        w = "network rejects the profile (fault switch)";
    else if (!p->imsi[0] || !p->klen)
        w = "profile has no IMSI or no authentication key";
    if (why)
        *why = w;
    return w ? -1 : 0;
}

static void drop_pending(sim_euicc *e, sim_notif *n)
{
    size_t i = (size_t)(n - e->pend);
    memmove(&e->pend[i], &e->pend[i + 1], sizeof *n * (e->npend - i - 1));
    e->npend--;
}

/* roll back from the failing enabled profile to prev, else fall back; queue the notification */
static int recover(sim_euicc *e, const sim_aid *failed, const sim_aid *prev)
{
    sim_profile *cur = sim_euicc_enabled(e);
    sim_profile *back = prev && prev->len ? sim_euicc_find(e, prev->b, prev->len) : NULL;
    if (back && back != cur && back->lcs == SIM_LCS_DISABLED) {
        switch_to(e, cur, back);
        if (sim_euicc_attach(e, NULL) == 0) {
            sim_euicc_notify(e, SIM_NOTIF_ROLLBACK, &back->aid, failed);
            return SIM_NOTIF_ROLLBACK;
        }
        cur = back;
    }
    sim_profile *fb = sim_euicc_fallback(e);
    if (fb && fb != cur && fb->lcs == SIM_LCS_DISABLED) {
        switch_to(e, cur, fb); /* fall-back ignores POL1 "disable not allowed" */
        if (sim_euicc_attach(e, NULL) == 0) {
            sim_euicc_notify(e, SIM_NOTIF_FALLBACK, &fb->aid, failed);
            return SIM_NOTIF_FALLBACK;
        }
    }
    return 0;
}

int sim_euicc_refresh(sim_euicc *e)
{
    if (!e->refresh)
        return 0;
    e->refresh = 0;
    /* the switch recorded a type-0 entry with target and previous profile */
    sim_notif *sw = NULL;
    for (uint8_t i = 0; i < e->npend; i++)
        if (e->pend[i].type == 0)
            sw = &e->pend[i];
    sim_aid target = sw ? sw->aid : g_none, prev = sw ? sw->prev : g_none;
    if (sw)
        drop_pending(e, sw);
    if (sim_euicc_attach(e, NULL) == 0) {
        sim_euicc_notify(e, SIM_NOTIF_CHANGE_OK, &target, &prev);
        return SIM_NOTIF_CHANGE_OK;
    }
    return recover(e, &target, &prev);
}

void sim_euicc_notif_expired(sim_euicc *e, sim_notif *n)
{
    sim_notif copy = *n;
    drop_pending(e, n);
    if (copy.type == SIM_NOTIF_CHANGE_OK)
        recover(e, &copy.aid, &copy.prev);
}

uint16_t sim_euicc_confirm(sim_euicc *e, uint16_t seq, sim_buf *out)
{
    sim_notif *n = NULL;
    for (uint8_t i = 0; i < e->npend; i++)
        if (e->pend[i].type && e->pend[i].seq == seq)
            n = &e->pend[i];
    if (!n)
        return 0x9000; /* already confirmed: confirming again is harmless */
    sim_notif copy = *n;
    drop_pending(e, n);
    if (copy.type == SIM_NOTIF_CHANGE_OK && copy.prev.len) {
        sim_profile *old = sim_euicc_find(e, copy.prev.b, copy.prev.len);
        if (old && old->lcs == SIM_LCS_DISABLED && (old->pol1 & SIM_POL1_DELETE_ON_DISABLE) && !old->fallback) {
            size_t m = sim_tlv_begin(out, 0x80);
            sim_tlv_put(out, 0x4F, old->aid.b, old->aid.len);
            sim_tlv_end(out, m);
            sim_euicc_remove(e, old);
        }
    }
    return 0x9000;
}

sim_rc sim_notif_tlv(const sim_euicc *e, const sim_notif *n, sim_buf *out, sim_err *err)
{
    size_t m = sim_tlv_begin(out, 0xE1);
    sim_tlv_put(out, 0x4C, e->eid, 16);
    sim_tlv_put_u8(out, 0x4D, n->type);
    uint8_t s[2];
    sim_put_be16(s, n->seq);
    sim_tlv_put(out, 0x4E, s, 2);
    if (n->aid.len)
        sim_tlv_put(out, 0x4F, n->aid.b, n->aid.len);
    sim_tlv_end(out, m);
    return sim_buf_check(out, err);
}
