/* profile: SAIP profile package interpreter (what a card checks and keeps). */
#include "tests/sim/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/tlv.h"

void sim_iccid_from_bcd(const uint8_t v[10], char out[21])
{
    size_t k = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t hi = v[i] >> 4, lo = v[i] & 15;
        if (hi > 9) break;
        out[k++] = (char)('0' + hi);
        if (lo > 9) break;
        out[k++] = (char)('0' + lo);
    }
    out[k] = 0;
}

int sim_imsi_from_ef(const uint8_t *v, size_t n, char out[16])
{
    if (n < 2 || v[0] < 1 || v[0] > 8 || (size_t)v[0] + 1 > n)
        return -1;
    size_t k = 0;
    uint8_t first = v[1] >> 4;
    if (first > 9)
        return -1;
    out[k++] = (char)('0' + first);
    for (size_t i = 2; i <= v[0]; i++) {
        uint8_t lo = v[i] & 15, hi = v[i] >> 4;
        if (lo > 9) break;
        out[k++] = (char)('0' + lo);
        if (hi > 9) break;
        if (k < 15)
            out[k++] = (char)('0' + hi);
    }
    out[k] = 0;
    return k >= 6 ? 0 : -1;
}

void sim_pkg_init(sim_pkg_parser *p, size_t limit)
{
    memset(p, 0, sizeof *p);
    sim_buf_init(&p->pending);
    sim_buf_init(&p->statuses);
    p->limit = limit;
}

void sim_pkg_free(sim_pkg_parser *p)
{
    sim_buf_free_secure(&p->pending);
    sim_buf_free(&p->statuses);
    free(p->idmap);
    memset(p, 0, sizeof *p);
}

static void add_status(sim_pkg_parser *p, uint8_t status, uint16_t id)
{
    size_t m = sim_tlv_begin(&p->statuses, 0x30);
    sim_tlv_put_u8(&p->statuses, 0x80, status);
    if (id > 0x7F) {
        uint8_t v[2] = {(uint8_t)(id >> 8), (uint8_t)id};
        sim_tlv_put(&p->statuses, 0x81, v, 2);
    } else {
        sim_tlv_put_u8(&p->statuses, 0x81, (uint8_t)id);
    }
    sim_tlv_end(&p->statuses, m);
}

static sim_rc fail(sim_pkg_parser *p, uint8_t status, uint16_t id, sim_err *err, const char *msg)
{
    p->failed = 1;
    p->fail_status = status;
    p->fail_id = id;
    snprintf(p->fail_msg, sizeof p->fail_msg, "%s", msg);
    add_status(p, status, id);
    return sim_errf(err, SIM_EPROTO, "profile package: PE %u: %s (PEStatus %u)", id, msg, status);
}

static int known_pe(uint32_t tag)
{
    return (tag >= 0xA0 && tag <= 0xAF) || (tag >= 0xB0 && tag <= 0xBE) || (tag >= 0xBF1F && tag <= 0xBF21);
}

static void header(sim_pkg_parser *p, const sim_tlv *pe, sim_rc *rc, sim_err *err)
{
    sim_tlv t;
    sim_pkg_info *in = &p->info;
    if (sim_tlv_find(pe->v, pe->len, 0x80, &t) != 1 || t.len != 1) {
        *rc = fail(p, SIM_PE_INVALID_FORMAT, 0, err, "header without major-version");
        return;
    }
    in->major = t.v[0];
    if (sim_tlv_find(pe->v, pe->len, 0x81, &t) == 1 && t.len == 1)
        in->minor = t.v[0];
    if (in->major != 2 && in->major != 3) {
        *rc = fail(p, SIM_PE_UNSUPPORTED_VERSION, 0, err, "profile package version not supported");
        return;
    }
    if (sim_tlv_find(pe->v, pe->len, 0x83, &t) != 1 || t.len != 10) {
        *rc = fail(p, SIM_PE_BAD_VALUES, 0, err, "header ICCID missing or not 10 bytes");
        return;
    }
    sim_iccid_from_bcd(t.v, in->iccid);
    if (strlen(in->iccid) < 18) {
        *rc = fail(p, SIM_PE_BAD_VALUES, 0, err, "header ICCID is not 18-20 BCD digits");
        return;
    }
    if (sim_tlv_find(pe->v, pe->len, 0x82, &t) == 1) {
        size_t l = t.len < 100 ? t.len : 100;
        memcpy(in->profile_type, t.v, l);
        in->profile_type[l] = 0;
    }
    if (sim_tlv_find(pe->v, pe->len, 0x84, &t) == 1 && t.len >= 1) {
        in->pol1 = t.v[0];
        in->has_pol1 = 1;
    }
    if (sim_tlv_find(pe->v, pe->len, 0x87, &t) == 1 && t.len <= sizeof in->conn) {
        memcpy(in->conn, t.v, t.len);
        in->connlen = (uint8_t)t.len;
    }
}

/* counts file fields ([2..] constructed children of a template PE) and content bytes */
static void files(sim_pkg_parser *p, const sim_tlv *pe)
{
    size_t off = 0;
    while (off < pe->len) {
        sim_tlv f;
        if (sim_tlv_read(pe->v, pe->len, &off, &f, NULL))
            return;
        if ((f.tag & 0x20) && f.tag != 0xA0 && f.tag != 0xA1) {
            p->info.n_files++;
            size_t o2 = 0;
            while (o2 < f.len) {
                sim_tlv c;
                if (sim_tlv_read(f.v, f.len, &o2, &c, NULL))
                    break;
                if (c.tag == 0x83)
                    p->info.content_bytes += (uint32_t)c.len;
            }
        }
    }
}

static void usim(sim_pkg_parser *p, const sim_tlv *pe)
{
    sim_tlv f, c;
    if (p->info.imsi[0] || sim_tlv_find(pe->v, pe->len, 0xA3, &f) != 1)
        return;
    size_t o = 0;
    while (o < f.len) {
        if (sim_tlv_read(f.v, f.len, &o, &c, NULL))
            return;
        if (c.tag == 0x83 && sim_imsi_from_ef(c.v, c.len, p->info.imsi) == 0)
            return;
    }
}

static void aka(sim_pkg_parser *p, const sim_tlv *pe, sim_rc *rc, sim_err *err, uint16_t id)
{
    sim_tlv cfg, par, t;
    if (p->info.klen)
        return; /* the first AKA PE (USIM's) is the one the network attach uses */
    if (sim_tlv_find(pe->v, pe->len, 0xA1, &cfg) != 1 || sim_tlv_find(cfg.v, cfg.len, 0xA1, &par) != 1)
        return; /* mappingParameter: nothing to keep */
    if (sim_tlv_find(par.v, par.len, 0x80, &t) == 1 && t.len == 1)
        p->info.algo = t.v[0];
    if (sim_tlv_find(par.v, par.len, 0x82, &t) != 1 || (t.len != 16 && t.len != 32)) {
        *rc = fail(p, SIM_PE_BAD_VALUES, id, err, "akaParameter key is not 16 or 32 bytes");
        return;
    }
    memcpy(p->info.k, t.v, t.len);
    p->info.klen = (uint8_t)t.len;
    if (sim_tlv_find(par.v, par.len, 0x83, &t) == 1 && t.len <= 32) {
        memcpy(p->info.opc, t.v, t.len);
        p->info.opclen = (uint8_t)t.len;
    }
}

static sim_rc one_pe(sim_pkg_parser *p, const sim_tlv *pe, sim_err *err)
{
    sim_rc rc = SIM_OK;
    uint16_t id = 0;
    if (p->done)
        return fail(p, SIM_PE_INVALID_FORMAT, 0, err, "data after the end PE");
    if (!known_pe(pe->tag))
        return fail(p, SIM_PE_NOT_SUPPORTED, 0, err, "unknown profile element");
    if (p->info.n_pes == 0 && pe->tag != 0xA0)
        return fail(p, SIM_PE_INVALID_FORMAT, 0, err, "first PE is not the header");
    if (p->info.n_pes == 1 && pe->tag != 0xB0)
        return fail(p, SIM_PE_INVALID_FORMAT, 0, err, "second PE is not the MF");
    if (pe->tag == 0xA0) {
        if (p->info.n_pes != 0)
            return fail(p, SIM_PE_INVALID_FORMAT, 0, err, "second header PE");
        header(p, pe, &rc, err);
    } else {
        sim_tlv h, idt;
        if (sim_tlv_find(pe->v, pe->len, 0xA0, &h) != 1 || sim_tlv_find(h.v, h.len, 0x81, &idt) != 1 ||
            idt.len < 1 || idt.len > 2)
            return fail(p, SIM_PE_INVALID_FORMAT, 0, err, "PE without a PEHeader identification");
        id = idt.len == 1 ? idt.v[0] : (uint16_t)(idt.v[0] << 8 | idt.v[1]);
        if (id > 0x7FFF)
            return fail(p, SIM_PE_INVALID_FORMAT, 0, err, "PE identification out of range");
        if (!p->idmap && !(p->idmap = calloc(4096, 1)))
            return fail(p, SIM_PE_MEMORY_FAILURE, id, err, "out of memory");
        if (p->idmap[id >> 3] & (1u << (id & 7)))
            return fail(p, SIM_PE_INVALID_FORMAT, id, err, "duplicate PE identification");
        p->idmap[id >> 3] |= (uint8_t)(1u << (id & 7));
        if (!sim_tlv_wellformed(pe->v, pe->len))
            return fail(p, SIM_PE_INVALID_FORMAT, id, err, "malformed PE content");
        if (pe->tag == 0xB3)
            usim(p, pe);
        else if (pe->tag == 0xA4)
            aka(p, pe, &rc, err, id);
        if (pe->tag >= 0xB0 || pe->tag == 0xA1)
            files(p, pe);
        if (pe->tag == 0xAA)
            p->done = 1;
    }
    if (rc)
        return rc;
    p->info.n_pes++;
    add_status(p, SIM_PE_OK, id);
    return sim_buf_check(&p->statuses, err);
}

sim_rc sim_pkg_feed(sim_pkg_parser *p, const uint8_t *d, size_t n, sim_err *err)
{
    if (p->failed)
        return sim_errf(err, SIM_ESTATE, "profile package: installation already aborted");
    if (p->limit && p->total + n > p->limit)
        return fail(p, SIM_PE_NOT_ENOUGH_MEMORY, 0, err, "profile larger than the ISD-P memory quota");
    p->total += n;
    sim_buf_put(&p->pending, d, n);
    if (sim_buf_check(&p->pending, err))
        return fail(p, SIM_PE_MEMORY_FAILURE, 0, err, "out of memory");
    size_t off = 0;
    while (off < p->pending.len) {
        size_t o = off;
        sim_tlv pe;
        sim_err e2 = {0};
        if (sim_tlv_read(p->pending.p, p->pending.len, &o, &pe, &e2) != SIM_OK) {
            /* incomplete: wait for more bytes, unless the header itself is impossible */
            const uint8_t *q = p->pending.p + off;
            size_t left = p->pending.len - off;
            if (left >= 1 && !(q[0] & 0x20))
                return fail(p, SIM_PE_INVALID_FORMAT, 0, err, "PE tag is not constructed");
            if (left >= 2 && ((q[0] & 0x1F) == 0x1F ? (left >= 3 && (q[2] == 0x80 || q[2] > 0x83))
                                                    : (q[1] == 0x80 || q[1] > 0x83)))
                return fail(p, SIM_PE_INVALID_FORMAT, 0, err, "PE length encoding not supported");
            break;
        }
        sim_rc rc = one_pe(p, &pe, err);
        if (rc)
            return rc;
        off = o;
    }
    if (off) {
        memmove(p->pending.p, p->pending.p + off, p->pending.len - off);
        p->pending.len -= off;
    }
    return SIM_OK;
}

sim_rc sim_pkg_response(const sim_pkg_parser *p, sim_buf *out, sim_err *err)
{
    size_t m = sim_tlv_begin(out, 0x30);
    sim_tlv_put(out, 0xA0, p->statuses.p, p->statuses.len);
    if (p->failed)
        sim_tlv_put(out, 0x81, NULL, 0);
    sim_tlv_end(out, m);
    return sim_buf_check(out, err);
}

sim_rc sim_pkg_parse_all(const uint8_t *d, size_t n, sim_pkg_info *info, sim_err *err)
{
    sim_pkg_parser p;
    sim_pkg_init(&p, 0);
    sim_rc rc = sim_pkg_feed(&p, d, n, err);
    if (!rc && (!p.done || p.pending.len))
        rc = sim_errf(err, SIM_EPARSE, "profile package: %s", p.done ? "bytes after the end PE" : "no end PE");
    if (!rc)
        *info = p.info;
    sim_pkg_free(&p);
    return rc;
}
