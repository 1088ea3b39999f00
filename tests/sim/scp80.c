/* scp80: SCP80 command packets and PoRs (AES only; SGP.02 mandates AES for the ISD-R). */
#include "tests/sim/scp80.h"

#include <string.h>

#include "tests/sim/prim.h"

#define SPI1_CC(s) (((s)[0] & 0x03) == 0x02)
#define SPI1_RCCCDS(s) ((s)[0] & 0x03)
#define SPI1_CIPHER(s) (((s)[0] & 0x04) != 0)
#define SPI1_CNTR(s) (((s)[0] >> 3) & 0x03)
#define SPI2_POR_CC(s) ((((s)[1] >> 2) & 0x03) == 0x02)
#define SPI2_POR_CIPHER(s) (((s)[1] & 0x10) != 0)

static sim_scp80_keyset *find_ks(sim_scp80_keyset *ks, size_t nks, uint8_t idx)
{
    for (size_t i = 0; i < nks; i++)
        if (ks[i].kvn == idx)
            return &ks[i];
    return NULL;
}

sim_rc sim_scp80_unwrap(const uint8_t *pkt, size_t n, sim_scp80_keyset *kss, size_t nks, sim_scp80_cmd *cmd,
                        sim_buf *plain, uint8_t *status, int *por_secure, sim_err *err)
{
    memset(cmd, 0, sizeof *cmd);
    *status = SIM_POR_SECURITY_ERROR;
    *por_secure = 0;
    if (n < 2 + 1 + 13)
        return sim_errf(err, SIM_EPARSE, "scp80: packet of %zu bytes is shorter than a header", n);
    size_t cpl = sim_be16(pkt);
    if (cpl != n - 2)
        return sim_errf(err, SIM_EPARSE, "scp80: CPL %zu does not match the %zu bytes that follow", cpl, n - 2);
    uint8_t chl = pkt[2];
    if (chl < 13 || (size_t)chl > n - 3)
        return sim_errf(err, SIM_EPARSE, "scp80: CHL %u out of range", chl);
    memcpy(cmd->spi, pkt + 3, 2);
    cmd->kic = pkt[5];
    cmd->kid = pkt[6];
    memcpy(cmd->tar, pkt + 7, 3);
    size_t cclen = SPI1_RCCCDS(cmd->spi) == 0 ? 0 : SPI1_CC(cmd->spi) ? 8 : 0xFF;
    if (cclen == 0xFF) {
        *status = SIM_POR_INSUFFICIENT_SECURITY;
        return sim_errf(err, SIM_EPERM, "scp80: only CC (AES-CMAC) is supported, SPI asks for RC/DS");
    }
    if (chl != 13 + cclen)
        return sim_errf(err, SIM_EPARSE, "scp80: CHL %u does not match a %zu-byte CC", chl, cclen);
    size_t sec_off = 10, sec_len = n - sec_off; /* CNTR onwards */
    if (sec_len < 6 + cclen)
        return sim_errf(err, SIM_EPARSE, "scp80: secured part of %zu bytes too short", sec_len);
    sim_scp80_keyset *ks = find_ks(kss, nks, cmd->kic >> 4);
    if (!ks || (cclen && (cmd->kid >> 4) != (cmd->kic >> 4))) {
        *status = SIM_POR_SECURITY_ERROR;
        return sim_errf(err, SIM_ENOTFOUND, "scp80: no key set with index %u", cmd->kic >> 4);
    }
    sim_buf_reset(plain);
    sim_buf_put(plain, pkt + sec_off, sec_len);
    if (sim_buf_check(plain, err))
        return SIM_ENOMEM;
    if (SPI1_CIPHER(cmd->spi)) {
        if ((cmd->kic & 0x0F) != 0x02) {
            *status = SIM_POR_CIPHER_ERROR;
            return sim_errf(err, SIM_EPERM, "scp80: KIc algorithm %x is not AES-CBC", cmd->kic & 0x0F);
        }
        if (sec_len % 16) {
            *status = SIM_POR_CIPHER_ERROR;
            return sim_errf(err, SIM_EPARSE, "scp80: ciphered part of %zu bytes is not whole AES blocks", sec_len);
        }
        static const uint8_t iv[16];
        if (sim_aes_cbc(0, ks->kic, 16, iv, plain->p, plain->len, plain->p, err))
            return SIM_ECRYPTO;
    }
    cmd->cntr = sim_be40(plain->p);
    cmd->pcntr = plain->p[5];
    if (cclen) {
        if ((cmd->kid & 0x0F) != 0x02) {
            *status = SIM_POR_CC_FAILED;
            return sim_errf(err, SIM_EPERM, "scp80: KID algorithm %x is not AES-CMAC", cmd->kid & 0x0F);
        }
        sim_cmac m;
        uint8_t mac[16];
        if (sim_cmac_init(&m, ks->kid, 16, err))
            return SIM_ECRYPTO;
        sim_rc rc = sim_cmac_update(&m, pkt, 10, err);
        if (!rc) rc = sim_cmac_update(&m, plain->p, 6, err);
        if (!rc) rc = sim_cmac_update(&m, plain->p + 6 + cclen, plain->len - 6 - cclen, err);
        if (rc) {
            sim_cmac_abort(&m);
            return rc;
        }
        if ((rc = sim_cmac_final(&m, mac, err)))
            return rc;
        if (sim_memneq(mac, plain->p + 6, 8)) {
            *status = SIM_POR_CC_FAILED;
            return sim_errf(err, SIM_EVERIFY, "scp80: cryptographic checksum does not verify");
        }
    }
    if (cmd->pcntr > plain->len - 6 - cclen) {
        *status = SIM_POR_CIPHER_ERROR;
        return sim_errf(err, SIM_EPARSE, "scp80: PCNTR %u larger than the data", cmd->pcntr);
    }
    cmd->ks = ks;
    *por_secure = 1;
    /* counter rules: only now that the packet is authentic */
    switch (SPI1_CNTR(cmd->spi)) {
    case 0: /* no counter */
    case 1: /* available, no check */
        break;
    case 2:
        if (ks->cntr >= SIM_SCP80_CNTR_MAX) {
            *status = SIM_POR_CNTR_BLOCKED;
            return sim_errf(err, SIM_EREPLAY, "scp80: counter blocked at its maximum");
        }
        if (cmd->cntr <= ks->cntr) {
            *status = SIM_POR_CNTR_LOW;
            return sim_errf(err, SIM_EREPLAY, "scp80: counter %llu not higher than %llu",
                            (unsigned long long)cmd->cntr, (unsigned long long)ks->cntr);
        }
        break;
    case 3:
        if (ks->cntr >= SIM_SCP80_CNTR_MAX) {
            *status = SIM_POR_CNTR_BLOCKED;
            return sim_errf(err, SIM_EREPLAY, "scp80: counter blocked at its maximum");
        }
        if (cmd->cntr != ks->cntr + 1) {
            *status = cmd->cntr <= ks->cntr ? SIM_POR_CNTR_LOW : SIM_POR_CNTR_HIGH;
            return sim_errf(err, SIM_EREPLAY, "scp80: counter %llu is not %llu + 1",
                            (unsigned long long)cmd->cntr, (unsigned long long)ks->cntr);
        }
        break;
    }
    if (SPI1_CNTR(cmd->spi) >= 1 && cmd->cntr > ks->cntr)
        ks->cntr = cmd->cntr;
    cmd->data_off = 6 + cclen;
    cmd->data_len = plain->len - 6 - cclen - cmd->pcntr;
    *status = SIM_POR_OK;
    return SIM_OK;
}

sim_rc sim_scp80_por_build(const sim_scp80_keyset *ks, const uint8_t spi[2], const uint8_t tar[3], uint64_t cntr,
                           uint8_t status, const uint8_t *data, size_t len, int secure, sim_buf *out, sim_err *err)
{
    int cc = secure && ks && SPI2_POR_CC(spi), ciph = secure && ks && SPI2_POR_CIPHER(spi);
    size_t cclen = cc ? 8 : 0;
    size_t body = 5 + 1 + 1 + cclen + len, pad = ciph ? (16 - body % 16) % 16 : 0;
    if (len > 4096)
        return sim_errf(err, SIM_ELIMIT, "scp80: PoR data of %zu bytes too long", len);
    size_t start = out->len;
    uint8_t udh[3] = {0x02, 0x71, 0x00};
    sim_buf_put(out, udh, 3);
    sim_buf_u16(out, (uint16_t)(1 + 3 + body + pad));
    sim_buf_u8(out, (uint8_t)(0x0A + cclen));
    sim_buf_put(out, tar, 3);
    size_t sec = out->len;
    uint8_t c5[5];
    sim_put_be40(c5, cntr);
    sim_buf_put(out, c5, 5);
    sim_buf_u8(out, (uint8_t)pad);
    sim_buf_u8(out, status);
    size_t ccpos = out->len;
    static const uint8_t zero[16];
    sim_buf_put(out, zero, cclen);
    sim_buf_put(out, data, len);
    sim_buf_put(out, zero, pad);
    if (sim_buf_check(out, err))
        return SIM_ENOMEM;
    if (cc) {
        sim_cmac m;
        uint8_t mac[16];
        sim_rc rc = sim_cmac_init(&m, ks->kid, 16, err);
        if (rc)
            return rc;
        rc = sim_cmac_update(&m, out->p + start, ccpos - start, err);
        if (!rc) rc = sim_cmac_update(&m, out->p + ccpos + 8, out->len - ccpos - 8, err);
        if (rc) {
            sim_cmac_abort(&m);
            return rc;
        }
        if ((rc = sim_cmac_final(&m, mac, err)))
            return rc;
        memcpy(out->p + ccpos, mac, 8);
    }
    if (ciph) {
        static const uint8_t iv[16];
        if (sim_aes_cbc(1, ks->kic, 16, iv, out->p + sec, out->len - sec, out->p + sec, err))
            return SIM_ECRYPTO;
    }
    return SIM_OK;
}

sim_rc sim_scp80_wrap(const sim_scp80_keyset *ks, const uint8_t spi[2], uint8_t kic, uint8_t kid,
                      const uint8_t tar[3], uint64_t cntr, const uint8_t *data, size_t len, sim_buf *out,
                      sim_err *err)
{
    if (SPI1_RCCCDS(spi) != 0 && !SPI1_CC(spi))
        return sim_errf(err, SIM_EINVAL, "scp80: only CC integrity is supported");
    size_t cclen = SPI1_CC(spi) ? 8 : 0;
    int ciph = SPI1_CIPHER(spi);
    size_t pad = ciph ? (16 - (6 + cclen + len) % 16) % 16 : 0;
    size_t total = 1 + 13 + cclen + len + pad; /* after CPL: CHL..end */
    if (total > 0xFFFF)
        return sim_errf(err, SIM_ELIMIT, "scp80: command of %zu bytes too long", len);
    size_t start = out->len;
    sim_buf_u16(out, (uint16_t)total);
    sim_buf_u8(out, (uint8_t)(13 + cclen));
    sim_buf_put(out, spi, 2);
    sim_buf_u8(out, kic);
    sim_buf_u8(out, kid);
    sim_buf_put(out, tar, 3);
    size_t sec = out->len;
    uint8_t c5[5];
    sim_put_be40(c5, cntr);
    sim_buf_put(out, c5, 5);
    sim_buf_u8(out, (uint8_t)pad);
    size_t ccpos = out->len;
    static const uint8_t zero[16];
    sim_buf_put(out, zero, cclen);
    sim_buf_put(out, data, len);
    sim_buf_put(out, zero, pad);
    if (sim_buf_check(out, err))
        return SIM_ENOMEM;
    if (cclen) {
        sim_cmac m;
        uint8_t mac[16];
        sim_rc rc = sim_cmac_init(&m, ks->kid, 16, err);
        if (rc)
            return rc;
        rc = sim_cmac_update(&m, out->p + start, ccpos - start, err);
        if (!rc) rc = sim_cmac_update(&m, out->p + ccpos + 8, out->len - ccpos - 8, err);
        if (rc) {
            sim_cmac_abort(&m);
            return rc;
        }
        if ((rc = sim_cmac_final(&m, mac, err)))
            return rc;
        memcpy(out->p + ccpos, mac, 8);
    }
    if (ciph) {
        static const uint8_t iv[16];
        if (sim_aes_cbc(1, ks->kic, 16, iv, out->p + sec, out->len - sec, out->p + sec, err))
            return SIM_ECRYPTO;
    }
    return SIM_OK;
}

sim_rc sim_scp80_por_parse(const sim_scp80_keyset *ks, const uint8_t spi[2], const uint8_t *p, size_t n,
                           sim_scp80_por *por, sim_err *err)
{
    sim_buf_init(&por->data);
    if (n < 3 + 2 + 1 + 3 + 7 || p[0] != 0x02 || p[1] != 0x71 || p[2] != 0x00)
        return sim_errf(err, SIM_EPARSE, "scp80: PoR does not start with UDH 02 71 00 or is too short");
    size_t rpl = sim_be16(p + 3);
    if (rpl != n - 5)
        return sim_errf(err, SIM_EPARSE, "scp80: RPL %zu does not match %zu bytes", rpl, n - 5);
    uint8_t rhl = p[5];
    size_t cclen = rhl == 0x12 ? 8 : rhl == 0x0A ? 0 : 0xFF;
    if (cclen == 0xFF)
        return sim_errf(err, SIM_EPARSE, "scp80: RHL %02x not supported", rhl);
    memcpy(por->tar, p + 6, 3);
    size_t sec = 9, seclen = n - sec;
    if (seclen < 7 + cclen)
        return sim_errf(err, SIM_EPARSE, "scp80: PoR secured part too short");
    sim_buf plain;
    sim_buf_init(&plain);
    sim_buf_put(&plain, p + sec, seclen);
    if (sim_buf_check(&plain, err))
        return SIM_ENOMEM;
    sim_rc rc = SIM_OK;
    /* A PoR carrying RHL 12 is secured; ciphering is recognisable only from the SPI. */
    if (cclen && SPI2_POR_CIPHER(spi)) {
        static const uint8_t iv[16];
        if (seclen % 16) {
            rc = sim_errf(err, SIM_EPARSE, "scp80: ciphered PoR not whole AES blocks");
            goto out;
        }
        if ((rc = sim_aes_cbc(0, ks->kic, 16, iv, plain.p, plain.len, plain.p, err)))
            goto out;
    }
    por->cntr = sim_be40(plain.p);
    por->pcntr = plain.p[5];
    por->status = plain.p[6];
    if (por->pcntr > plain.len - 7 - cclen) {
        rc = sim_errf(err, SIM_EPARSE, "scp80: PoR PCNTR larger than the data");
        goto out;
    }
    if (cclen) {
        sim_cmac m;
        uint8_t mac[16];
        if ((rc = sim_cmac_init(&m, ks->kid, 16, err)))
            goto out;
        rc = sim_cmac_update(&m, p, sec, err);
        if (!rc) rc = sim_cmac_update(&m, plain.p, 7, err);
        if (!rc) rc = sim_cmac_update(&m, plain.p + 7 + 8, plain.len - 15, err);
        if (rc) {
            sim_cmac_abort(&m);
            goto out;
        }
        if ((rc = sim_cmac_final(&m, mac, err)))
            goto out;
        if (sim_memneq(mac, plain.p + 7, 8)) {
            rc = sim_errf(err, SIM_EVERIFY, "scp80: PoR checksum does not verify");
            goto out;
        }
    }
    sim_buf_put(&por->data, plain.p + 7 + cclen, plain.len - 7 - cclen - por->pcntr);
    rc = sim_buf_check(&por->data, err);
out:
    sim_buf_free(&plain);
    return rc;
}
