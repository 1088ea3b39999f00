/* fleet: card manufacturing and the fleet indexes. */
#include "tests/sim/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "tests/sim/buf.h"
#include "tests/sim/cert.h"
#include "tests/sim/ec.h"
#include "tests/sim/prim.h"

void sim_fleet_init(sim_fleet *f) { memset(f, 0, sizeof *f); }

void sim_fleet_free(sim_fleet *f)
{
    for (size_t i = 0; i < f->n; i++)
        sim_euicc_free(f->cards[i]);
    free(f->cards);
    free(f->by_eid);
    free(f->by_msisdn);
    EVP_PKEY_free(f->ci);
    memset(f, 0, sizeof *f);
}

sim_rc sim_fleet_set_ci(sim_fleet *f, EVP_PKEY *ci, sim_err *err)
{
    sim_rc rc = sim_ec_pub_point(ci, f->ci_point, err);
    if (rc)
        return rc;
    if (!EVP_PKEY_up_ref(ci))
        return sim_errf(err, SIM_ECRYPTO, "fleet: cannot reference the CI key");
    EVP_PKEY_free(f->ci);
    f->ci = ci;
    for (size_t i = 0; i < f->n; i++)
        f->cards[i]->ci = ci;
    return SIM_OK;
}

sim_rc sim_fleet_add(sim_fleet *f, sim_euicc *e, sim_err *err)
{
    if (f->n >= SIM_FLEET_MAX)
        return sim_errf(err, SIM_ELIMIT, "fleet: more than %d cards", SIM_FLEET_MAX);
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 64;
        sim_euicc **nv = realloc(f->cards, nc * sizeof *nv);
        if (!nv)
            return sim_errf(err, SIM_ENOMEM, "fleet: out of memory");
        f->cards = nv;
        f->cap = nc;
    }
    e->ci = f->ci;
    f->cards[f->n++] = e;
    return SIM_OK;
}

static unsigned mod97(const char *digits)
{
    unsigned r = 0;
    for (const char *p = digits; *p; p++)
        r = (r * 10 + (unsigned)(*p - '0')) % 97;
    return r;
}

void sim_eid_make(uint64_t serial, uint8_t eid[16])
{
    char d[40];
    snprintf(d, sizeof d, "8904903200000000%014llu00", (unsigned long long)(serial % 100000000000000ULL));
    unsigned c = 98 - mod97(d);
    d[30] = (char)('0' + c / 10);
    d[31] = (char)('0' + c % 10);
    for (int i = 0; i < 16; i++)
        eid[i] = (uint8_t)((d[2 * i] - '0') << 4 | (d[2 * i + 1] - '0'));
}

void sim_iccid_make(const char *prefix, uint64_t serial, char out[21])
{
    char d[32];
    /* 18 digits: the prefix, then the serial right-aligned; then the Luhn digit */
    size_t pl = strlen(prefix) < 17 ? strlen(prefix) : 17;
    memcpy(d, prefix, pl);
    unsigned long long left = serial;
    for (size_t i = 17; i >= pl && i < 18; i--) {
        d[i] = (char)('0' + left % 10);
        left /= 10;
    }
    d[18] = 0;
    int sum = 0;
    for (int i = 17, dbl = 1; i >= 0; i--, dbl = !dbl) {
        int v = d[i] - '0';
        if (dbl && (v *= 2) > 9)
            v -= 9;
        sum += v;
    }
    d[18] = (char)('0' + (10 - sum % 10) % 10);
    d[19] = 0;
    memcpy(out, d, 20);
}

static const uint8_t PROV_AID[16] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                     0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x10, 0x00};

sim_rc sim_fleet_make_card(const sim_pki *pki, const sim_fleet_opts *o, uint64_t s, sim_euicc **out, sim_err *err)
{
    sim_euicc *e = sim_euicc_new();
    if (!e)
        return sim_errf(err, SIM_ENOMEM, "fleet: out of memory");
    sim_eid_make(s, e->eid);
    e->curve = SIM_CURVE_P256;
    e->mem_total = o->mem_total ? o->mem_total : 524288;
    snprintf(e->sr_sms, sizeof e->sr_sms, "%s", o->sr_sms ? o->sr_sms : "447700900000");
    EVP_PKEY *k = NULL;
    sim_rc rc = sim_ec_keygen(e->curve, &k, err);
    sim_buf cert;
    sim_buf_init(&cert);
    if (!rc)
        rc = sim_ec_priv_bytes(k, e->ecasd_d, err);
    if (!rc) {
        uint8_t serial[8];
        sim_put_be32(serial, (uint32_t)(s >> 32));
        sim_put_be32(serial + 4, (uint32_t)s);
        serial[0] = (uint8_t)(serial[0] & 0x7F) | 0x01;
        static const uint8_t usage[2] = {0x00, 0x80};
        char eff[16], exp[16];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(eff, sizeof eff, "%Y%m%d", &tm);
        tm.tm_year += 30;
        strftime(exp, sizeof exp, "%Y%m%d", &tm);
        sim_gpcert_tmpl t = {serial, 8, pki->eum_ski, 20, e->eid, 16, usage, 2, eff, exp, 0, pki->eum_ski, 20, k};
        rc = sim_gpcert_build(&t, pki->eum_key, &cert, err);
    }
    EVP_PKEY_free(k); /* rebuilt from ecasd_d on first use: 100,000 idle keys would cost ~100 MB */
    if (!rc) {
        e->cert = malloc(cert.len);
        if (!e->cert)
            rc = sim_errf(err, SIM_ENOMEM, "fleet: out of memory");
        else {
            memcpy(e->cert, cert.p, cert.len);
            e->certlen = (uint16_t)cert.len;
        }
    }
    sim_buf_free(&cert);
    /* ISD-R key sets for the first SM-SR */
    e->n_scp80 = 1;
    e->scp80[0].kvn = 0x01;
    e->n_scp81 = 1;
    e->scp81[0].kvn = 0x40;
    e->scp81[0].id = 0x01;
    if (!rc && !(rc = sim_random(e->scp80[0].kic, 16, err)) && !(rc = sim_random(e->scp80[0].kid, 16, err)) &&
        !(rc = sim_random(e->scp80[0].dek, 16, err)))
        rc = sim_random(e->scp81[0].psk, 16, err);
    /* provisioning profile: enabled, fall-back attribute */
    sim_profile *p = NULL;
    if (!rc)
        rc = sim_euicc_add_profile(e, PROV_AID, 16, 32768, &p, err);
    if (!rc) {
        p->lcs = SIM_LCS_ENABLED;
        p->fallback = 1;
        sim_iccid_make("8988200", s, p->iccid);
        snprintf(p->imsi, sizeof p->imsi, "00101%010llu", (unsigned long long)(s % 10000000000ULL));
        snprintf(p->msisdn, sizeof p->msisdn, "%.6s%08llu", o->msisdn_prefix ? o->msisdn_prefix : "4479",
                 (unsigned long long)(s % 100000000ULL));
        snprintf(p->profile_type, sizeof p->profile_type, "provisioning");
        p->algo = 3;
        p->klen = 16;
        p->used = 12000;
        p->n_pes = 0;
        rc = sim_random(p->k, 16, err);
    }
    if (rc) {
        sim_euicc_free(e);
        return rc;
    }
    *out = e;
    return SIM_OK;
}

sim_rc sim_fleet_create(sim_fleet *f, const sim_pki *pki, const sim_fleet_opts *o, sim_err *err)
{
    if (o->count == 0 || o->count > SIM_FLEET_MAX)
        return sim_errf(err, SIM_EINVAL, "fleet: count must be 1..%d", SIM_FLEET_MAX);
    sim_rc rc = sim_fleet_set_ci(f, pki->ci_pub, err);
    for (size_t i = 0; !rc && i < o->count; i++) {
        sim_euicc *e = NULL;
        if ((rc = sim_fleet_make_card(pki, o, o->first_serial + i, &e, err)))
            break;
        if ((rc = sim_fleet_add(f, e, err)))
            sim_euicc_free(e);
    }
    return rc ? rc : sim_fleet_index(f, err);
}

static uint64_t hash(const void *p, size_t n)
{
    const uint8_t *q = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ q[i]) * 1099511628211ULL;
    return h;
}

sim_rc sim_fleet_index(sim_fleet *f, sim_err *err)
{
    size_t slots = 64;
    while (slots < f->n * 4 * 2)
        slots *= 2;
    size_t *a = malloc(slots * sizeof *a), *b = malloc(slots * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return sim_errf(err, SIM_ENOMEM, "fleet: out of memory indexing");
    }
    for (size_t i = 0; i < slots; i++)
        a[i] = b[i] = SIZE_MAX;
    for (size_t i = 0; i < f->n; i++) {
        size_t h = hash(f->cards[i]->eid, 16) & (slots - 1);
        while (a[h] != SIZE_MAX)
            h = (h + 1) & (slots - 1);
        a[h] = i;
        for (uint8_t k = 0; k < f->cards[i]->nprof; k++) {
            const char *m = f->cards[i]->prof[k].msisdn;
            if (!m[0])
                continue;
            h = hash(m, strlen(m)) & (slots - 1);
            while (b[h] != SIZE_MAX)
                h = (h + 1) & (slots - 1);
            b[h] = i;
        }
    }
    free(f->by_eid);
    free(f->by_msisdn);
    f->by_eid = a;
    f->by_msisdn = b;
    f->slots = slots;
    return SIM_OK;
}

sim_euicc *sim_fleet_by_eid(const sim_fleet *f, const char *eid_hex)
{
    uint8_t eid[16];
    size_t l = 0;
    if (!f->slots || sim_unhex(eid_hex, eid, 16, &l, NULL) || l != 16)
        return NULL;
    for (size_t h = hash(eid, 16) & (f->slots - 1); f->by_eid[h] != SIZE_MAX; h = (h + 1) & (f->slots - 1))
        if (!memcmp(f->cards[f->by_eid[h]]->eid, eid, 16))
            return f->cards[f->by_eid[h]];
    return NULL;
}

sim_euicc *sim_fleet_by_msisdn(const sim_fleet *f, const char *m)
{
    if (!f->slots || !m || !*m)
        return NULL;
    for (size_t h = hash(m, strlen(m)) & (f->slots - 1); f->by_msisdn[h] != SIZE_MAX; h = (h + 1) & (f->slots - 1)) {
        sim_euicc *e = f->cards[f->by_msisdn[h]];
        for (uint8_t k = 0; k < e->nprof; k++)
            if (!strcmp(e->prof[k].msisdn, m))
                return e;
    }
    /* profiles installed since the last index build: scan (the runtime re-indexes when it sees one) */
    for (size_t i = 0; i < f->n; i++)
        for (uint8_t k = 0; k < f->cards[i]->nprof; k++)
            if (!strcmp(f->cards[i]->prof[k].msisdn, m))
                return f->cards[i];
    return NULL;
}
