/* SCP80 (TS 102 225) secured packets and SMS framing, keys in the HSM. */
#include "crypto/scp80.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/pad.h"

const char *scp80_por_status_name(uint8_t status)
{
    static const char *const names[] = {
        "PoR OK", "RC/CC/DS failed", "CNTR low", "CNTR high", "CNTR blocked", "ciphering error",
        "unidentified security error", "insufficient memory", "more time needed", "TAR unknown",
        "insufficient security level", "response data via SMS-SUBMIT", "response data via USSD"};
    return status < sizeof names / sizeof names[0] ? names[status] : "reserved status";
}

void scp80_kic_keyspec(hsm_keytype type, unsigned len, bool wrappable, hsm_keyspec *out)
{
    memset(out, 0, sizeof *out);
    out->type = type;
    out->len = len;
    out->usage = HSM_U_ENCRYPT | HSM_U_DECRYPT;
    out->wrappable = wrappable;
}

void scp80_kid_keyspec(hsm_keytype type, unsigned len, bool wrappable, hsm_keyspec *out)
{
    memset(out, 0, sizeof *out);
    out->type = type;
    out->len = len;
    out->usage = HSM_U_SIGN | HSM_U_VERIFY | HSM_U_ENCRYPT;
    out->wrappable = wrappable;
}

sm_rc scp80_counter_next(uint8_t spi1, uint64_t last, uint64_t *next, sm_err *err)
{
    if ((spi1 & SCP80_SPI1_CNTR) == SCP80_CNTR_NONE) {
        *next = 0;
        return SM_OK;
    }
    if (last >= SCP80_CNTR_MAX)
        return sm_errf(err, SM_ELIMIT, "scp80: the counter of this key set is exhausted (the card blocks it)");
    *next = last + 1;
    return SM_OK;
}

sm_rc scp80_counter_check(uint8_t spi1, uint64_t last, uint64_t cntr, sm_err *err)
{
    if (cntr > SCP80_CNTR_MAX)
        return sm_errf(err, SM_ELIMIT, "scp80: counter beyond 5 bytes");
    switch (spi1 & SCP80_SPI1_CNTR) {
    case SCP80_CNTR_HIGHER:
        if (cntr <= last)
            return sm_errf(err, SM_EREPLAY, "scp80: counter %llu is not higher than the last one (%llu): replay or "
                           "counter too low", (unsigned long long)cntr, (unsigned long long)last);
        break;
    case SCP80_CNTR_ONE_HIGHER:
        if (last >= SCP80_CNTR_MAX || cntr != last + 1)
            return sm_errf(err, SM_EREPLAY, "scp80: counter %llu is not exactly one higher than %llu",
                           (unsigned long long)cntr, (unsigned long long)last);
        break;
    default:
        break;
    }
    return SM_OK;
}

/* Algorithm of a KIc/KID byte: 1 = AES, 2 = 3DES (2-key), 3 = 3DES (3-key). */
static sm_rc algo_of(uint8_t b, const char *what, const hsm_key *key, int *algo, size_t *block, sm_err *err)
{
    switch (b & 0x0F) {
    case 0x02:
        *algo = 1;
        *block = 16;
        break;
    case 0x05:
        *algo = 2;
        *block = 8;
        break;
    case 0x09:
        *algo = 3;
        *block = 8;
        break;
    default:
        return sm_errf(err, SM_EMECH, "scp80: %s algorithm %X is not supported (AES 2, 3DES 5 or 9)", what, b & 0x0F);
    }
    if (key) {
        hsm_keytype want = *algo == 1 ? HSM_KT_AES : *algo == 2 ? HSM_KT_DES2 : HSM_KT_DES3;
        if (key->type != want)
            return sm_errf(err, SM_EINVAL, "scp80: the %s key does not match algorithm %X", what, b & 0x0F);
    }
    return SM_OK;
}

/* CC: AES-CMAC leftmost 8 bytes, or 3DES CBC-MAC (zero IV, zero-padded to 8, last block). */
static sm_rc compute_cc(hsm_sess *s, uint8_t kid, const hsm_key *key, const uint8_t *m, size_t len, uint8_t cc[8],
                        sm_err *err)
{
    int algo = 0;
    size_t blk = 1;
    sm_rc rc = algo_of(kid, "KID", key, &algo, &blk, err);
    if (rc != SM_OK)
        return rc;
    if (algo == 1) {
        uint8_t mac[16];
        rc = hsm_aes_cmac(s, key, m, len, mac, err);
        if (rc == SM_OK)
            memcpy(cc, mac, 8);
    } else {
        size_t pl = len ? (len + 7) / 8 * 8 : 8;
        uint8_t *buf = calloc(1, pl), iv[8] = {0};
        if (!buf)
            return sm_errf(err, SM_ENOMEM, "scp80: out of memory");
        memcpy(buf, m, len);
        rc = hsm_des3_cbc_encrypt(s, key, iv, buf, pl, buf, err);
        if (rc == SM_OK)
            memcpy(cc, buf + pl - 8, 8);
        free(buf);
    }
    if (rc != SM_OK)
        sm_err_prefix(err, "scp80: cryptographic checksum");
    return rc;
}

static sm_rc do_cipher(hsm_sess *s, uint8_t kic, const hsm_key *key, bool enc, uint8_t *buf, size_t len, sm_err *err)
{
    int algo = 0;
    size_t blk = 1;
    sm_rc rc = algo_of(kic, "KIc", key, &algo, &blk, err);
    if (rc != SM_OK)
        return rc;
    if (len == 0 || len % blk)
        return sm_errf(err, SM_EPARSE, "scp80: ciphered part of %zu bytes is not whole %zu-byte blocks", len, blk);
    static const uint8_t zero[16];
    if (algo == 1)
        rc = enc ? hsm_aes_cbc_encrypt(s, key, zero, buf, len, buf, err) : hsm_aes_cbc_decrypt(s, key, zero, buf, len, buf, err);
    else
        rc = enc ? hsm_des3_cbc_encrypt(s, key, zero, buf, len, buf, err) : hsm_des3_cbc_decrypt(s, key, zero, buf, len, buf, err);
    if (rc != SM_OK)
        sm_err_prefix(err, "scp80: %s", enc ? "ciphering" : "deciphering");
    return rc;
}

static sm_rc integrity_len(uint8_t bits, const char *what, size_t *ccl, sm_err *err)
{
    switch (bits & 0x03) {
    case 0x00:
        *ccl = 0;
        return SM_OK;
    case 0x02:
        *ccl = 8;
        return SM_OK;
    default:
        return sm_errf(err, SM_EMECH, "scp80: %s %s is not supported (CC or none)", what,
                       (bits & 3) == 1 ? "redundancy check" : "digital signature");
    }
}

static void put_cntr(uint8_t *p, uint64_t c)
{
    for (int i = 0; i < 5; i++)
        p[i] = (uint8_t)(c >> (8 * (4 - i)));
}

static uint64_t get_cntr(const uint8_t *p)
{
    uint64_t c = 0;
    for (int i = 0; i < 5; i++)
        c = c << 8 | p[i];
    return c;
}

sm_rc scp80_wrap(hsm_sess *s, const scp80_params *p, const hsm_key *kic_key, const hsm_key *kid_key,
                 const uint8_t *data, size_t len, sm_buf *out, sm_err *err)
{
    size_t ccl = 0, blk = 1;
    int algo = 0;
    sm_rc rc = integrity_len(p->spi[0], "integrity by", &ccl, err);
    if (rc != SM_OK)
        return rc;
    bool cipher = p->spi[0] & SCP80_SPI1_CIPHER;
    if (p->cntr > SCP80_CNTR_MAX)
        return sm_errf(err, SM_EINVAL, "scp80: counter beyond 5 bytes");
    if (cipher) {
        if (!kic_key)
            return sm_errf(err, SM_EINVAL, "scp80: the SPI asks for ciphering but no KIc key was given");
        if ((rc = algo_of(p->kic, "KIc", kic_key, &algo, &blk, err)) != SM_OK)
            return rc;
    }
    if (ccl && !kid_key)
        return sm_errf(err, SM_EINVAL, "scp80: the SPI asks for a CC but no KID key was given");
    size_t pad = cipher ? zpad_count(6 + ccl + len, blk) : 0;
    size_t chl = 13 + ccl, cpl = 1 + chl + len + pad;
    if (cpl > 0xFFFF)
        return sm_errf(err, SM_EINVAL, "scp80: command packet of %zu bytes is too long", cpl + 2);
    uint8_t *m = malloc(16 + len + pad), *sec = malloc(6 + ccl + len + pad);
    if (!m || !sec) {
        free(m);
        free(sec);
        return sm_errf(err, SM_ENOMEM, "scp80: out of memory");
    }
    m[0] = (uint8_t)(cpl >> 8);
    m[1] = (uint8_t)cpl;
    m[2] = (uint8_t)chl;
    m[3] = p->spi[0];
    m[4] = p->spi[1];
    m[5] = p->kic;
    m[6] = p->kid;
    memcpy(m + 7, p->tar, 3);
    put_cntr(m + 10, p->cntr);
    m[15] = (uint8_t)pad;
    memcpy(m + 16, data, len);
    memset(m + 16 + len, 0, pad);
    memcpy(sec, m + 10, 6);
    if (ccl)
        rc = compute_cc(s, p->kid, kid_key, m, 16 + len + pad, sec + 6, err);
    memcpy(sec + 6 + ccl, m + 16, len + pad);
    size_t slen = 6 + ccl + len + pad;
    if (rc == SM_OK && cipher)
        rc = do_cipher(s, p->kic, kic_key, true, sec, slen, err);
    if (rc == SM_OK && (sm_buf_append(out, m, 10) || sm_buf_append(out, sec, slen)))
        rc = sm_errf(err, SM_ENOMEM, "scp80: out of memory");
    explicit_bzero(m, 16 + len + pad);
    explicit_bzero(sec, slen);
    free(m);
    free(sec);
    return rc;
}

sm_rc scp80_unwrap_command(hsm_sess *s, const uint8_t *pkt, size_t len, const hsm_key *kic_key,
                           const hsm_key *kid_key, uint64_t last_cntr, scp80_params *p, sm_buf *data, sm_err *err)
{
    if (len < 16)
        return sm_errf(err, SM_EPARSE, "scp80: command packet of %zu bytes is shorter than its header", len);
    size_t cpl = (size_t)pkt[0] << 8 | pkt[1];
    if (cpl != len - 2)
        return sm_errf(err, SM_EPARSE, "scp80: CPL %zu does not match the %zu bytes that follow it", cpl, len - 2);
    memset(p, 0, sizeof *p);
    p->spi[0] = pkt[3];
    p->spi[1] = pkt[4];
    p->kic = pkt[5];
    p->kid = pkt[6];
    memcpy(p->tar, pkt + 7, 3);
    size_t ccl = 0;
    sm_rc rc = integrity_len(p->spi[0], "integrity by", &ccl, err);
    if (rc != SM_OK)
        return rc;
    if (pkt[2] != 13 + ccl)
        return sm_errf(err, SM_EPARSE, "scp80: CHL %u does not match the SPI (expected %zu)", pkt[2], 13 + ccl);
    size_t slen = len - 10;
    if (slen < 6 + ccl)
        return sm_errf(err, SM_EPARSE, "scp80: secured part of %zu bytes is too short", slen);
    bool cipher = p->spi[0] & SCP80_SPI1_CIPHER;
    if ((cipher && !kic_key) || (ccl && !kid_key))
        return sm_errf(err, SM_EINVAL, "scp80: the packet's SPI needs keys that were not given");
    uint8_t *sec = malloc(slen), *m = malloc(16 + slen);
    if (!sec || !m) {
        free(sec);
        free(m);
        return sm_errf(err, SM_ENOMEM, "scp80: out of memory");
    }
    memcpy(sec, pkt + 10, slen);
    if (cipher)
        rc = do_cipher(s, p->kic, kic_key, false, sec, slen, err);
    size_t dlen = slen - 6 - ccl;
    if (rc == SM_OK && sec[5] > dlen)
        rc = sm_errf(err, SM_EPARSE, "scp80: padding counter %u exceeds the %zu data bytes", sec[5], dlen);
    if (rc == SM_OK && ccl) {
        uint8_t cc[8];
        memcpy(m, pkt, 10);
        memcpy(m + 10, sec, 6);
        memcpy(m + 16, sec + 6 + ccl, dlen);
        rc = compute_cc(s, p->kid, kid_key, m, 16 + dlen, cc, err);
        if (rc == SM_OK && !ct_equal(cc, sec + 6, 8))
            rc = sm_errf(err, SM_EVERIFY, "scp80: the command packet's CC does not verify");
    }
    if (rc == SM_OK) {
        p->cntr = get_cntr(sec);
        rc = scp80_counter_check(p->spi[0], last_cntr, p->cntr, err);
    }
    if (rc == SM_OK && sm_buf_append(data, sec + 6 + ccl, dlen - sec[5]))
        rc = sm_errf(err, SM_ENOMEM, "scp80: out of memory");
    explicit_bzero(sec, slen);
    explicit_bzero(m, 16 + slen);
    free(sec);
    free(m);
    return rc;
}

/* Walks a UDH: returns the IE flags and the concatenation fields. */
sm_rc scp80_sms_parse_udh(const uint8_t *ud, size_t len, scp80_udh *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    if (len < 1 || (size_t)ud[0] + 1 > len)
        return sm_errf(err, SM_EPARSE, "scp80: user data header length %u exceeds the %zu bytes of user data",
                       len ? ud[0] : 0, len);
    size_t end = 1 + (size_t)ud[0], i = 1;
    while (i < end) {
        if (end - i < 2)
            return sm_errf(err, SM_EPARSE, "scp80: truncated information element at UDH offset %zu", i);
        uint8_t iei = ud[i], iel = ud[i + 1];
        if ((size_t)iel > end - i - 2)
            return sm_errf(err, SM_EPARSE, "scp80: information element %02X at offset %zu runs past the UDH", iei, i);
        const uint8_t *v = ud + i + 2;
        switch (iei) {
        case 0x70:
        case 0x71:
            if (iel != 0)
                return sm_errf(err, SM_EPARSE, "scp80: packet identifier %02X with length %u", iei, iel);
            if (iei == 0x70)
                out->cmd_packet = true;
            else
                out->resp_packet = true;
            break;
        case 0x00:
        case 0x08:
            if (iel != (iei == 0x00 ? 3 : 4) || out->concat)
                return sm_errf(err, SM_EPARSE, "scp80: malformed or repeated concatenation element");
            out->concat = true;
            out->ref = iei == 0x00 ? v[0] : (uint16_t)(v[0] << 8 | v[1]);
            out->total = v[iel - 2];
            out->seq = v[iel - 1];
            if (out->total == 0 || out->seq == 0 || out->seq > out->total)
                return sm_errf(err, SM_EPARSE, "scp80: concatenation part %u of %u", out->seq, out->total);
            break;
        default:
            break;
        }
        i += 2 + (size_t)iel;
    }
    out->payload_off = end;
    return SM_OK;
}

sm_rc scp80_parse_por_frame(const uint8_t *ud, size_t len, size_t *udhl, uint8_t tar[3], size_t *secured_off,
                            size_t *secured_len, uint8_t *rhl, sm_err *err)
{
    scp80_udh h;
    sm_rc rc = scp80_sms_parse_udh(ud, len, &h, err);
    if (rc != SM_OK)
        return rc;
    if (!h.resp_packet)
        return sm_errf(err, SM_EPARSE, "scp80: the user data header has no response packet identifier (71)");
    size_t o = h.payload_off;
    if (len - o < 6)
        return sm_errf(err, SM_EPARSE, "scp80: response packet of %zu bytes is shorter than its header", len - o);
    size_t rpl = (size_t)ud[o] << 8 | ud[o + 1];
    if (rpl != len - o - 2)
        return sm_errf(err, SM_EPARSE, "scp80: RPL %zu does not match the %zu bytes that follow it", rpl, len - o - 2);
    if (ud[o + 2] != 0x0A && ud[o + 2] != 0x12)
        return sm_errf(err, SM_EPARSE, "scp80: RHL %02X is neither 0A nor 12", ud[o + 2]);
    *udhl = o;
    *rhl = ud[o + 2];
    memcpy(tar, ud + o + 3, 3);
    *secured_off = o + 6;
    *secured_len = len - o - 6;
    if (*secured_len < 7u + (*rhl - 0x0Au))
        return sm_errf(err, SM_EPARSE, "scp80: response packet too short for its header (%zu bytes after TAR)",
                       *secured_len);
    return SM_OK;
}

sm_rc scp80_unwrap_por(hsm_sess *s, const scp80_params *cmd, const hsm_key *kic_key, const hsm_key *kid_key,
                       const uint8_t *ud, size_t len, scp80_por *out, sm_buf *data, sm_err *err)
{
    memset(out, 0, sizeof *out);
    size_t off, slen, hl;
    uint8_t rhl;
    sm_rc rc = scp80_parse_por_frame(ud, len, &hl, out->tar, &off, &slen, &rhl, err);
    if (rc != SM_OK)
        return rc;
    size_t ccl = 0;
    if ((rc = integrity_len((uint8_t)(cmd->spi[1] >> 2), "PoR integrity by", &ccl, err)) != SM_OK)
        return rc;
    if (rhl != 0x0A + ccl)
        return sm_errf(err, SM_EPARSE, "scp80: RHL %02X does not match the PoR integrity the command asked for", rhl);
    if (memcmp(out->tar, cmd->tar, 3) != 0)
        return sm_errf(err, SM_EPROTO, "scp80: the PoR's TAR %02X%02X%02X is not the command's", out->tar[0],
                       out->tar[1], out->tar[2]);
    bool cipher = cmd->spi[1] & SCP80_SPI2_POR_CIPHER;
    if ((cipher && !kic_key) || (ccl && !kid_key))
        return sm_errf(err, SM_EINVAL, "scp80: the PoR needs keys that were not given");
    uint8_t *sec = malloc(slen), *m = malloc(hl + 6 + slen);
    if (!sec || !m) {
        free(sec);
        free(m);
        return sm_errf(err, SM_ENOMEM, "scp80: out of memory");
    }
    memcpy(sec, ud + off, slen);
    if (cipher)
        rc = do_cipher(s, cmd->kic, kic_key, false, sec, slen, err);
    size_t dlen = slen - 7 - ccl;
    if (rc == SM_OK && sec[5] > dlen)
        rc = sm_errf(err, SM_EPARSE, "scp80: PoR padding counter %u exceeds the %zu data bytes", sec[5], dlen);
    if (rc == SM_OK && ccl) {
        /* CC over UDH || RPL RHL TAR || CNTR PCNTR status || data || padding */
        uint8_t cc[8];
        memcpy(m, ud, hl + 6);
        memcpy(m + hl + 6, sec, 7);
        memcpy(m + hl + 13, sec + 7 + ccl, dlen);
        rc = compute_cc(s, cmd->kid, kid_key, m, hl + 13 + dlen, cc, err);
        if (rc == SM_OK && !ct_equal(cc, sec + 7, 8))
            rc = sm_errf(err, SM_EVERIFY, "scp80: the PoR's CC does not verify");
    }
    if (rc == SM_OK) {
        out->cntr = get_cntr(sec);
        out->pcntr = sec[5];
        out->status = sec[6];
        out->has_cc = ccl != 0;
        out->data_len = dlen - sec[5];
        if (out->cntr != cmd->cntr)
            rc = sm_errf(err, SM_EPROTO, "scp80: the PoR's counter %llu does not echo the command's %llu",
                         (unsigned long long)out->cntr, (unsigned long long)cmd->cntr);
    }
    if (rc == SM_OK && data && out->data_len && sm_buf_append(data, sec + 7 + ccl, out->data_len))
        rc = sm_errf(err, SM_ENOMEM, "scp80: out of memory");
    explicit_bzero(sec, slen);
    explicit_bzero(m, hl + 6 + slen);
    free(sec);
    free(m);
    if (rc != SM_OK)
        sm_err_prefix(err, "checking a PoR");
    return rc;
}

sm_rc scp80_por_check(const scp80_por *por, sm_err *err)
{
    switch (por->status) {
    case SCP80_POR_OK:
        return SM_OK;
    case SCP80_POR_CNTR_LOW:
    case SCP80_POR_CNTR_HIGH:
    case SCP80_POR_CNTR_BLOCKED:
        return sm_errf(err, SM_EREPLAY, "scp80: the card refused the counter: %s (%02X)",
                       scp80_por_status_name(por->status), por->status);
    case SCP80_POR_CC_FAILED:
        return sm_errf(err, SM_EVERIFY, "scp80: the card could not verify the command: %s (%02X)",
                       scp80_por_status_name(por->status), por->status);
    default:
        return sm_errf(err, SM_EPROTO, "scp80: PoR status %02X: %s", por->status, scp80_por_status_name(por->status));
    }
}

sm_rc scp80_sms_frame(const uint8_t *pkt, size_t len, uint8_t ref, scp80_sms *parts, size_t maxparts,
                      size_t *nparts, sm_err *err)
{
    *nparts = 0;
    if (len == 0)
        return sm_errf(err, SM_EINVAL, "scp80: empty packet");
    if (len <= SCP80_UD_MAX - 3) {
        if (maxparts < 1)
            return sm_errf(err, SM_ELIMIT, "scp80: no room for one SMS");
        parts[0].ud[0] = 0x02;
        parts[0].ud[1] = 0x70;
        parts[0].ud[2] = 0x00;
        memcpy(parts[0].ud + 3, pkt, len);
        parts[0].len = 3 + len;
        *nparts = 1;
        return SM_OK;
    }
    const size_t first = SCP80_UD_MAX - 8, later = SCP80_UD_MAX - 6;
    size_t n = 1 + (len - first + later - 1) / later;
    if (n > maxparts || n > 255)
        return sm_errf(err, SM_ELIMIT, "scp80: a %zu-byte packet needs %zu SMS (limit %zu)", len, n, maxparts);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *u = parts[i].ud;
        size_t h;
        if (i == 0) {
            const uint8_t udh[8] = {0x07, 0x70, 0x00, 0x00, 0x03, ref, (uint8_t)n, 1};
            memcpy(u, udh, 8);
            h = 8;
        } else {
            const uint8_t udh[6] = {0x05, 0x00, 0x03, ref, (uint8_t)n, (uint8_t)(i + 1)};
            memcpy(u, udh, 6);
            h = 6;
        }
        size_t take = len - off < SCP80_UD_MAX - h ? len - off : SCP80_UD_MAX - h;
        memcpy(u + h, pkt + off, take);
        parts[i].len = h + take;
        off += take;
    }
    *nparts = n;
    return SM_OK;
}

sm_rc scp80_sms_join(const scp80_sms *parts, size_t n, sm_buf *out, sm_err *err)
{
    if (n == 0 || n > 255)
        return sm_errf(err, SM_EINVAL, "scp80: %zu parts to join", n);
    scp80_udh h[255];
    bool seen[256] = {false};
    for (size_t i = 0; i < n; i++) {
        sm_rc rc = scp80_sms_parse_udh(parts[i].ud, parts[i].len, &h[i], err);
        if (rc != SM_OK)
            return rc;
        if (n == 1 && !h[i].concat)
            return sm_buf_append(out, parts[i].ud + h[i].payload_off, parts[i].len - h[i].payload_off)
                       ? sm_errf(err, SM_ENOMEM, "scp80: out of memory")
                       : SM_OK;
        if (!h[i].concat || h[i].total != n || h[i].ref != h[0].ref || seen[h[i].seq])
            return sm_errf(err, SM_EPARSE, "scp80: part %zu does not belong to a complete %zu-part message", i, n);
        seen[h[i].seq] = true;
    }
    for (unsigned seq = 1; seq <= n; seq++)
        for (size_t i = 0; i < n; i++)
            if (h[i].seq == seq &&
                sm_buf_append(out, parts[i].ud + h[i].payload_off, parts[i].len - h[i].payload_off))
                return sm_errf(err, SM_ENOMEM, "scp80: out of memory");
    return SM_OK;
}
