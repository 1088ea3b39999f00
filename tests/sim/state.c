/* state: fleet persistence. Format (docs/simulator.md "State file"):
 *   simstate 1 ci=<hex point> cards=<n>
 *   C <eid> <curve> <d> <cert> <tar> <msl> <sr-sms> <mem> <notif-seq> <first-attach> <refresh>
 *   K80 <kvn> <kic> <kid> <dek> <cntr>          K81 <kvn> <id> <psk>
 *   P <aid> <lcs> <fallback> <pol1> <quota> <used> <iccid> <imsi> <msisdn> <algo> <k> <opc> <n-pes>
 *     <n-files> <fs-bytes> <conn> <attach-fail> <type-hex> <scp03: kvn klen enc mac dek seq | ->
 *   N <seq> <type> <tries> <aid> <prev>         F <unreachable> <tamper> <power-loss-after> <slow-ms>
 * "-" stands for an empty field. One card = one C line followed by its other lines. */
#include "tests/sim/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "tests/sim/ec.h"

static void hx(sim_buf *b, const uint8_t *p, size_t n)
{
    sim_buf_u8(b, ' ');
    if (n == 0)
        sim_buf_u8(b, '-');
    else
        sim_buf_hex(b, p, n);
}

static void str(sim_buf *b, const char *s)
{
    sim_buf_u8(b, ' ');
    sim_buf_str(b, *s ? s : "-");
}

static void card(sim_buf *b, const sim_euicc *e)
{
    sim_buf_str(b, "C");
    hx(b, e->eid, 16);
    sim_buf_printf(b, " %02x", e->curve);
    hx(b, e->ecasd_d, 32);
    hx(b, e->cert, e->certlen);
    hx(b, e->isdr_tar, 3);
    sim_buf_printf(b, " %02x", e->msl);
    str(b, e->sr_sms);
    sim_buf_printf(b, " %u %u %u %u\n", e->mem_total, e->notif_seq, e->first_attach_done, e->refresh);
    for (uint8_t i = 0; i < e->n_scp80; i++) {
        sim_buf_printf(b, "K80 %02x", e->scp80[i].kvn);
        hx(b, e->scp80[i].kic, 16);
        hx(b, e->scp80[i].kid, 16);
        hx(b, e->scp80[i].dek, 16);
        sim_buf_printf(b, " %llu\n", (unsigned long long)e->scp80[i].cntr);
    }
    for (uint8_t i = 0; i < e->n_scp81; i++) {
        sim_buf_printf(b, "K81 %02x %02x", e->scp81[i].kvn, e->scp81[i].id);
        hx(b, e->scp81[i].psk, 16);
        sim_buf_u8(b, '\n');
    }
    for (uint8_t i = 0; i < e->nprof; i++) {
        const sim_profile *p = &e->prof[i];
        sim_buf_str(b, "P");
        hx(b, p->aid.b, p->aid.len);
        sim_buf_printf(b, " %02x %u %02x %u %u", p->lcs, p->fallback, p->pol1, p->quota, p->used);
        str(b, p->iccid);
        str(b, p->imsi);
        str(b, p->msisdn);
        sim_buf_printf(b, " %u", p->algo);
        hx(b, p->k, p->klen);
        hx(b, p->opc, 16);
        sim_buf_printf(b, " %u %u %u", p->n_pes, p->n_files, p->fs_bytes);
        hx(b, p->conn, p->connlen);
        sim_buf_printf(b, " %u", p->attach_fail);
        hx(b, (const uint8_t *)p->profile_type, strlen(p->profile_type));
        if (p->has_scp03) {
            sim_buf_printf(b, " %02x %u", p->scp03.kvn, p->scp03.klen);
            hx(b, p->scp03.enc, p->scp03.klen);
            hx(b, p->scp03.mac, p->scp03.klen);
            hx(b, p->scp03.dek, p->scp03.klen);
            sim_buf_printf(b, " %u", p->scp03.seq);
        } else {
            sim_buf_str(b, " -");
        }
        sim_buf_u8(b, '\n');
    }
    for (uint8_t i = 0; i < e->npend; i++) {
        const sim_notif *n = &e->pend[i];
        sim_buf_printf(b, "N %u %u %u", n->seq, n->type, n->tries);
        hx(b, n->aid.b, n->aid.len);
        hx(b, n->prev.b, n->prev.len);
        sim_buf_u8(b, '\n');
    }
    const sim_faults *ft = &e->fault;
    if (ft->unreachable || ft->tamper || ft->power_loss_after || ft->slow_ms)
        sim_buf_printf(b, "F %u %u %u %u\n", ft->unreachable, ft->tamper, ft->power_loss_after, ft->slow_ms);
}

sim_rc sim_state_save(const sim_fleet *f, const char *dir, sim_err *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return sim_errf(err, SIM_EIO, "state: cannot create %s: %s", dir, strerror(errno));
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_str(&b, "simstate 1 ci=");
    sim_buf_hex(&b, f->ci_point, 65);
    sim_buf_printf(&b, " cards=%zu\n", f->n);
    for (size_t i = 0; i < f->n; i++)
        card(&b, f->cards[i]);
    char path[1024];
    sim_rc rc = sim_buf_check(&b, err);
    if (!rc) {
        if ((size_t)snprintf(path, sizeof path, "%s/cards.state", dir) >= sizeof path)
            rc = sim_errf(err, SIM_EINVAL, "state: path too long");
        else
            rc = sim_write_file(path, b.p, b.len, 0600, err);
    }
    sim_buf_free_secure(&b);
    return rc;
}

#define MAXF 32
static size_t split(char *line, char **f)
{
    size_t n = 0;
    for (char *s = strtok(line, " \n"); s && n < MAXF; s = strtok(NULL, " \n"))
        f[n++] = s;
    return n;
}

static sim_rc fhex(const char *s, uint8_t *out, size_t cap, size_t *len, sim_err *err)
{
    if (!strcmp(s, "-")) {
        *len = 0;
        return SIM_OK;
    }
    return sim_unhex(s, out, cap, len, err);
}

static sim_rc fstr(const char *s, char *out, size_t cap, sim_err *err)
{
    if (!strcmp(s, "-")) {
        out[0] = 0;
        return SIM_OK;
    }
    if (strlen(s) >= cap)
        return sim_errf(err, SIM_EPARSE, "state: field '%.20s' too long", s);
    strcpy(out, s);
    return SIM_OK;
}

static unsigned long num(const char *s) { return strtoul(s, NULL, 10); }
static unsigned long hnum(const char *s) { return strtoul(s, NULL, 16); }

static sim_rc line_card(sim_euicc *e, char **f, size_t n, sim_err *err)
{
    if (n != 12)
        return sim_errf(err, SIM_EPARSE, "C line has %zu fields", n);
    size_t l, cl;
    uint8_t cert[1024];
    sim_rc rc;
    if ((rc = sim_unhex(f[1], e->eid, 16, &l, err)) || l != 16 || (rc = sim_unhex(f[3], e->ecasd_d, 32, &l, err)) ||
        (rc = fhex(f[4], cert, sizeof cert, &cl, err)) || (rc = sim_unhex(f[5], e->isdr_tar, 3, &l, err)) ||
        (rc = fstr(f[7], e->sr_sms, sizeof e->sr_sms, err)))
        return rc ? rc : sim_errf(err, SIM_EPARSE, "bad EID");
    e->curve = (uint8_t)hnum(f[2]);
    e->msl = (uint8_t)hnum(f[6]);
    e->mem_total = (uint32_t)num(f[8]);
    e->notif_seq = (uint16_t)num(f[9]);
    e->first_attach_done = (uint8_t)num(f[10]);
    e->refresh = (uint8_t)num(f[11]);
    if (cl) {
        if (!(e->cert = malloc(cl)))
            return sim_errf(err, SIM_ENOMEM, "state: out of memory");
        memcpy(e->cert, cert, cl);
        e->certlen = (uint16_t)cl;
    }
    return SIM_OK;
}

static sim_rc line_profile(sim_euicc *e, char **f, size_t n, sim_err *err)
{
    if (n != 20 && n != 25)
        return sim_errf(err, SIM_EPARSE, "P line has %zu fields", n);
    uint8_t aid[16];
    size_t al, l;
    sim_profile *p;
    sim_rc rc;
    if ((rc = sim_unhex(f[1], aid, 16, &al, err)))
        return rc;
    uint32_t mem = e->mem_total;
    e->mem_total = UINT32_MAX; /* quotas were accepted when the ISD-Ps were created */
    rc = sim_euicc_add_profile(e, aid, al, (uint32_t)num(f[5]), &p, err);
    e->mem_total = mem;
    if (rc)
        return rc;
    p->lcs = (uint8_t)hnum(f[2]);
    p->fallback = (uint8_t)num(f[3]);
    p->pol1 = (uint8_t)hnum(f[4]);
    p->used = (uint32_t)num(f[6]);
    p->algo = (uint8_t)num(f[10]);
    if ((rc = fstr(f[7], p->iccid, sizeof p->iccid, err)) || (rc = fstr(f[8], p->imsi, sizeof p->imsi, err)) ||
        (rc = fstr(f[9], p->msisdn, sizeof p->msisdn, err)) || (rc = fhex(f[11], p->k, 32, &l, err)))
        return rc;
    p->klen = (uint8_t)l;
    if ((rc = fhex(f[12], p->opc, 16, &l, err)))
        return rc;
    p->n_pes = (uint16_t)num(f[13]);
    p->n_files = (uint16_t)num(f[14]);
    p->fs_bytes = (uint32_t)num(f[15]);
    if ((rc = fhex(f[16], p->conn, sizeof p->conn, &l, err)))
        return rc;
    p->connlen = (uint8_t)l;
    p->attach_fail = (uint8_t)num(f[17]);
    if ((rc = fhex(f[18], (uint8_t *)p->profile_type, sizeof p->profile_type - 1, &l, err)))
        return rc;
    p->profile_type[l] = 0;
    if (n == 25) {
        p->has_scp03 = 1;
        p->scp03.kvn = (uint8_t)hnum(f[19]);
        p->scp03.klen = (uint8_t)num(f[20]);
        if ((rc = sim_unhex(f[21], p->scp03.enc, 32, &l, err)) || (rc = sim_unhex(f[22], p->scp03.mac, 32, &l, err)) ||
            (rc = sim_unhex(f[23], p->scp03.dek, 32, &l, err)))
            return rc;
        p->scp03.seq = (uint32_t)num(f[24]);
    } else if (strcmp(f[19], "-")) {
        return sim_errf(err, SIM_EPARSE, "P line: bad SCP03 fields");
    }
    return SIM_OK;
}

sim_rc sim_state_load(sim_fleet *f, const char *dir, sim_err *err)
{
    char path[1024];
    if ((size_t)snprintf(path, sizeof path, "%s/cards.state", dir) >= sizeof path)
        return sim_errf(err, SIM_EINVAL, "state: path too long");
    FILE *fp = fopen(path, "r");
    if (!fp)
        return sim_errf(err, SIM_EIO, "state: cannot open %s: %s", path, strerror(errno));
    static char line[8192];
    char *fl[MAXF];
    sim_rc rc = SIM_OK;
    size_t lineno = 0;
    sim_euicc *cur = NULL;
    if (!fgets(line, sizeof line, fp) || strncmp(line, "simstate 1 ci=", 14)) {
        fclose(fp);
        return sim_errf(err, SIM_EPARSE, "state: %s is not a version 1 simulator state", path);
    }
    {
        uint8_t pt[65];
        size_t l;
        char *sp = strchr(line + 14, ' ');
        if (sp)
            *sp = 0;
        EVP_PKEY *ci = NULL;
        if ((rc = sim_unhex(line + 14, pt, 65, &l, err)) ||
            (rc = sim_ec_pub_from_point(SIM_CURVE_P256, pt, l, &ci, err)) || (rc = sim_fleet_set_ci(f, ci, err))) {
            EVP_PKEY_free(ci);
            fclose(fp);
            return rc;
        }
        EVP_PKEY_free(ci);
    }
    lineno = 1;
    while (!rc && fgets(line, sizeof line, fp)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(fp)) {
            rc = sim_errf(err, SIM_EPARSE, "line too long");
            break;
        }
        size_t n = split(line, fl);
        if (n == 0)
            continue;
        if (!strcmp(fl[0], "C")) {
            if (!(cur = sim_euicc_new())) {
                rc = sim_errf(err, SIM_ENOMEM, "out of memory");
                break;
            }
            if ((rc = line_card(cur, fl, n, err)) || (rc = sim_fleet_add(f, cur, err))) {
                sim_euicc_free(cur);
                cur = NULL;
            }
        } else if (!cur) {
            rc = sim_errf(err, SIM_EPARSE, "record before the first card");
        } else if (!strcmp(fl[0], "K80") && n == 6 && cur->n_scp80 < 2) {
            sim_scp80_keyset *k = &cur->scp80[cur->n_scp80++];
            size_t l;
            k->kvn = (uint8_t)hnum(fl[1]);
            k->cntr = strtoull(fl[5], NULL, 10);
            if ((rc = sim_unhex(fl[2], k->kic, 16, &l, err)) == SIM_OK && (rc = sim_unhex(fl[3], k->kid, 16, &l, err)) == SIM_OK)
                rc = sim_unhex(fl[4], k->dek, 16, &l, err);
        } else if (!strcmp(fl[0], "K81") && n == 4 && cur->n_scp81 < 2) {
            sim_scp81_key *k = &cur->scp81[cur->n_scp81++];
            size_t l;
            k->kvn = (uint8_t)hnum(fl[1]);
            k->id = (uint8_t)hnum(fl[2]);
            rc = sim_unhex(fl[3], k->psk, 16, &l, err);
        } else if (!strcmp(fl[0], "P")) {
            rc = line_profile(cur, fl, n, err);
        } else if (!strcmp(fl[0], "N") && n == 6 && cur->npend < SIM_MAX_PENDING) {
            sim_notif *nt = &cur->pend[cur->npend++];
            size_t l;
            nt->seq = (uint16_t)num(fl[1]);
            nt->type = (uint8_t)num(fl[2]);
            nt->tries = (uint8_t)num(fl[3]);
            if ((rc = fhex(fl[4], nt->aid.b, 16, &l, err)) == SIM_OK) {
                nt->aid.len = (uint8_t)l;
                if ((rc = fhex(fl[5], nt->prev.b, 16, &l, err)) == SIM_OK)
                    nt->prev.len = (uint8_t)l;
            }
        } else if (!strcmp(fl[0], "F") && n == 5) {
            cur->fault.unreachable = (uint8_t)num(fl[1]);
            cur->fault.tamper = (uint8_t)num(fl[2]);
            cur->fault.power_loss_after = (uint16_t)num(fl[3]);
            cur->fault.slow_ms = (uint32_t)num(fl[4]);
        } else {
            rc = sim_errf(err, SIM_EPARSE, "unknown or malformed record '%s'", fl[0]);
        }
    }
    OPENSSL_cleanse(line, sizeof line);
    fclose(fp);
    if (rc) {
        sim_err_prefix(err, "state: %s line %zu", path, lineno);
        return rc;
    }
    return sim_fleet_index(f, err);
}

static const char *lcs_name(uint8_t l)
{
    switch (l) {
    case SIM_LCS_SELECTABLE: return "SELECTABLE";
    case SIM_LCS_PERSONALIZED: return "PERSONALIZED";
    case SIM_LCS_DISABLED: return "DISABLED";
    case SIM_LCS_ENABLED: return "ENABLED";
    default: return "?";
    }
}

sim_rc sim_state_show(const sim_euicc *e, sim_buf *out, sim_err *err)
{
    char h[33];
    sim_eid_hex(e, h);
    sim_buf_printf(out, "eid=%s\n", h);
    sim_buf_printf(out, "isdr.tar=%02x%02x%02x\nsr_sms=%s\nmemory.total=%u\nmemory.free=%u\n", e->isdr_tar[0],
                   e->isdr_tar[1], e->isdr_tar[2], e->sr_sms, e->mem_total, sim_euicc_free_mem(e));
    for (uint8_t i = 0; i < e->n_scp80; i++)
        sim_buf_printf(out, "scp80.%02x.counter=%llu\n", e->scp80[i].kvn, (unsigned long long)e->scp80[i].cntr);
    for (uint8_t i = 0; i < e->n_scp81; i++)
        sim_buf_printf(out, "scp81.%02x.key_id=%02x\n", e->scp81[i].kvn, e->scp81[i].id);
    sim_buf_printf(out, "notification.seq=%u\nnotification.pending=%u\n", e->notif_seq, e->npend);
    for (uint8_t i = 0; i < e->npend; i++)
        if (e->pend[i].type)
            sim_buf_printf(out, "notification.%u.type=%02x\n", e->pend[i].seq, e->pend[i].type);
    sim_buf_printf(out, "fault.unreachable=%u\nfault.tamper=%u\nfault.power_loss_after=%u\nfault.slow_ms=%u\n",
                   e->fault.unreachable, e->fault.tamper, e->fault.power_loss_after, e->fault.slow_ms);
    for (uint8_t i = 0; i < e->nprof; i++) {
        const sim_profile *p = &e->prof[i];
        sim_aid_hex(&p->aid, h);
        sim_buf_printf(out,
                       "profile aid=%s state=%s fallback=%u pol1=%02x iccid=%s imsi=%s msisdn=%s quota=%u used=%u "
                       "pes=%u files=%u content=%u scp03=%s attach_fail=%u\n",
                       h, lcs_name(p->lcs), p->fallback, p->pol1, p->iccid[0] ? p->iccid : "-",
                       p->imsi[0] ? p->imsi : "-", p->msisdn[0] ? p->msisdn : "-", p->quota, p->used, p->n_pes,
                       p->n_files, p->fs_bytes, p->has_scp03 ? "yes" : "no", p->attach_fail);
    }
    return sim_buf_check(out, err);
}
