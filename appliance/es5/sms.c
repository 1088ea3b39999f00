/* SCP80 command packets for the SMS channel: a script (expanded definite form, AA) to the ISD-R's TAR or
 * an ISD-P's (ES8 by SMS), or a push trigger (GP Amd B tag 81) to the ISD-R, secured with the eUICC's
 * ISD-R SCP80 keys and a fresh counter, framed as SMS user data (one SMS, or concatenated parts); a
 * script longer than one packet is cut at TLV boundaries into several (es5_sms_cut). */
#include <stdlib.h>
#include <string.h>

#include "appliance/es5/internal.h"
#include "crypto/scp81.h"
#include "crypto/tlv.h"
#include "db/eis_repo.h"
#include "lib/hex.h"

static sm_rc push_data(db_conn *c, const es5_ctx *x, const es5_card *card, sm_buf *out, sm_err *err)
{
    int kvn = 0, key_id = 0;
    sm_rc rc = es5_keys_scp81_ids(c, card->eid, &kvn, &key_id, err);
    if (rc != SM_OK)
        return rc;
    scp81_psk_id id = {.format = 0x02, .aid_len = card->isdr_aid_len, .key_id = (uint8_t)key_id, .kvn = (uint8_t)kvn};
    size_t el = 0;
    if ((rc = sm_hex_decode(card->eid, id.eid, sizeof id.eid, &el, err)) != SM_OK || el != 16)
        return rc != SM_OK ? rc : sm_errf(err, SM_EINVAL, "es5: EID %s is not 16 bytes", card->eid);
    memcpy(id.aid, card->isdr_aid, card->isdr_aid_len);
    /* 85 carries the PSK identity the card will present: as its text (hex) form, or as the TLV bytes
     * that text encodes (es5.push_identity; the choice is UNCONFIRMED, docs/es5.md) */
    uint8_t bin[48];
    char text[2 * 48 + 1];
    size_t bl = 0;
    bin[bl++] = 0x80, bin[bl++] = 0x01, bin[bl++] = id.format;
    bin[bl++] = 0x81, bin[bl++] = 0x10;
    memcpy(bin + bl, id.eid, 16), bl += 16;
    bin[bl++] = 0x4F, bin[bl++] = (uint8_t)id.aid_len;
    memcpy(bin + bl, id.aid, id.aid_len), bl += id.aid_len;
    bin[bl++] = 0x82, bin[bl++] = 0x01, bin[bl++] = id.key_id;
    bin[bl++] = 0x83, bin[bl++] = 0x01, bin[bl++] = id.kvn;
    if (x->set.push_id_text && (rc = scp81_psk_id_encode(&id, text, sizeof text, err)) != SM_OK)
        return rc;
    scp81_trigger t = {
        .psk_id = x->set.push_id_text ? (const uint8_t *)text : bin,
        .psk_id_len = x->set.push_id_text ? strlen(text) : bl,
        .kvn = (uint8_t)kvn,
        .key_id = (uint8_t)key_id,
        .host = x->set.admin_host,
        .agent_id = "smbox",
        .uri = x->set.admin_path,
    };
    return scp81_trigger_encode(&t, out, err);
}

/* CPL CHL SPI KIc KID TAR, then (ciphered) CNTR PCNTR CC(8) and the data padded to the AES block */
size_t es5_sms_packet_len(size_t len)
{
    size_t data = 1 + tlv_len_size(len) + len; /* AA L script */
    size_t sec = 5 + 1 + 8 + data;
    return 10 + sec + (16 - sec % 16) % 16;
}

size_t es5_sms_parts(size_t packet_len)
{
    const size_t alone = SCP80_UD_MAX - 3, first = SCP80_UD_MAX - 8, later = SCP80_UD_MAX - 6;
    return packet_len <= alone ? 1 : 1 + (packet_len - first + later - 1) / later;
}

sm_rc es5_sms_cut(const uint8_t *script, size_t len, size_t off, int max_parts, size_t *end, sm_err *err)
{
    *end = off;
    tlv_rd rd;
    tlv_rd_init(&rd, script + off, len - off, 0);
    tlv t;
    sm_rc rc;
    size_t n = 0;
    while ((rc = tlv_next(&rd, &t, err)) == SM_OK) {
        size_t e = (size_t)(t.raw + t.rawlen - script);
        size_t parts = es5_sms_parts(es5_sms_packet_len(e - off));
        if (parts > (size_t)max_parts) {
            if (n == 0)
                return sm_errf(err, SM_ELIMIT,
                               "es5: script element %02X of %zu bytes at offset %zu needs %zu SMS, more than "
                               "es5.sms_max_parts (%d)", (unsigned)t.tag, t.rawlen, off, parts, max_parts);
            return SM_OK;
        }
        *end = e;
        n++;
    }
    return rc == SM_ENOTFOUND && n ? SM_OK : sm_errf(err, SM_EINVAL, "es5: no script element at offset %zu", off);
}

sm_rc es5_sms_tar(const uint8_t *aid, size_t aid_len, const es5_card *card, uint8_t tar[3], sm_err *err)
{
    if (aid_len == card->isdr_aid_len && !memcmp(aid, card->isdr_aid, aid_len)) {
        memcpy(tar, card->tar, 3);
        return SM_OK;
    }
    if (aid_len < 15)
        return sm_errf(err, SM_EINVAL, "es5: an ISD-P AID of %zu bytes has no TAR (bytes 13..15) to address by SMS",
                       aid_len);
    memcpy(tar, aid + 12, 3);
    return SM_OK;
}

sm_rc es5_sms_build(db_conn *c, hsm_sess *s, const es5_ctx *x, const es5_card *card, es5_row *r, bool push,
                    sm_err *err)
{
    sm_buf data, pkt, blob;
    sm_buf_init(&data);
    sm_buf_init(&pkt);
    sm_buf_init(&blob);
    sm_rc rc;
    uint8_t tar[3];
    memcpy(tar, card->tar, 3);
    if (push) {
        rc = push_data(c, x, card, &data, err);
    } else if (r->sms_len == 0 || r->sms_off + r->sms_len > r->script_len) {
        rc = sm_errf(err, SM_EINTERNAL, "es5: packet %zu+%zu outside the %zu-byte script", r->sms_off, r->sms_len,
                     r->script_len);
    } else {
        scp81_script sc;
        rc = es5_sms_tar(r->aid, r->aid_len, card, tar, err);
        if (rc == SM_OK)
            rc = es5q_script(c, r, err);
        if (rc == SM_OK)
            rc = scp81_script_open(&sc, &data, false, err);
        if (rc == SM_OK)
            rc = scp81_script_raw(&sc, r->script + r->sms_off, r->sms_len, err);
        if (rc == SM_OK)
            rc = scp81_script_close(&sc, err);
    }
    es5_keys k = {0};
    if (rc == SM_OK)
        rc = es5_keys_scp80(c, s, &x->kek, card->eid, 0, &k, err);
    int64_t ctr = 0;
    if (rc == SM_OK)
        rc = db_keyset_next_counter(c, card->eid, k.kvn, &ctr, err);
    if (rc == SM_OK && (ctr <= 0 || (uint64_t)ctr > SCP80_CNTR_MAX))
        rc = sm_errf(err, SM_ELIMIT, "es5: the SCP80 counter of %s (key set %d) is exhausted", card->eid, k.kvn);
    scp80_params p = {.spi = {ES5_SPI1, ES5_SPI2},
                      .kic = (uint8_t)(k.kvn << 4 | 0x02),
                      .kid = (uint8_t)(k.kvn << 4 | 0x02),
                      .cntr = (uint64_t)ctr};
    memcpy(p.tar, tar, 3);
    if (rc == SM_OK)
        rc = scp80_wrap(s, &p, &k.kic, &k.kid, data.data, data.len, &pkt, err);
    es5_keys_drop(s, &k);
    scp80_sms parts[ES5_SMS_PARTS_MAX];
    size_t n = 0;
    size_t maxp = x->set.sms_max_parts > 0 && x->set.sms_max_parts <= ES5_SMS_PARTS_MAX ? (size_t)x->set.sms_max_parts
                                                                                        : ES5_SMS_PARTS_MAX;
    if (rc == SM_OK)
        rc = scp80_sms_frame(pkt.data, pkt.len, (uint8_t)(ctr & 0xFF), parts, maxp, &n, err);
    for (size_t i = 0; rc == SM_OK && i < n; i++)
        if (sm_buf_append_byte(&blob, (uint8_t)parts[i].len) || sm_buf_append(&blob, parts[i].ud, parts[i].len))
            rc = sm_errf(err, SM_ENOMEM, "es5: out of memory");
    sm_buf_free_wipe(&data);
    sm_buf_free(&pkt);
    if (rc != SM_OK) {
        sm_buf_free(&blob);
        sm_err_prefix(err, "es5: building the SCP80 %s for request %lld", push ? "push" : "packet", (long long)r->id);
        return rc;
    }
    free(r->packet);
    r->packet = sm_buf_steal(&blob, &r->packet_len);
    r->kvn = k.kvn;
    r->p = p;
    return SM_OK;
}

sm_rc es5_sms_split(const uint8_t *packet, size_t len, void (*fn)(void *arg, const uint8_t *ud, size_t n), void *arg,
                    sm_err *err)
{
    size_t o = 0;
    while (o < len) {
        size_t l = packet[o];
        if (l == 0 || l > SCP80_UD_MAX || l > len - o - 1)
            return sm_errf(err, SM_EPARSE, "es5: a stored packet is damaged at byte %zu", o);
        if (fn)
            fn(arg, packet + o + 1, l);
        o += 1 + l;
    }
    return SM_OK;
}
