/* SMPP 3.4 PDU codec (ESME side), strict and bounded. */
#include "net/smpp.h"

#include <string.h>

typedef struct rd {
    const uint8_t *p;
    size_t n, off;
    const char *bad; /* first problem, names the field */
} rd;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t u8(rd *r, const char *field)
{
    if (r->bad)
        return 0;
    if (r->off >= r->n) {
        r->bad = field;
        return 0;
    }
    return r->p[r->off++];
}

/* C-octet string of at most cap bytes including its NUL; exact: 0 or cap-1 characters. */
static void cstr(rd *r, char *out, size_t cap, bool exact, const char *field)
{
    out[0] = 0;
    if (r->bad)
        return;
    size_t i = 0;
    while (r->off + i < r->n && r->p[r->off + i] != 0) {
        if (i + 1 >= cap) {
            r->bad = field;
            return;
        }
        i++;
    }
    if (r->off + i >= r->n) {
        r->bad = field;
        return;
    }
    if (exact && i != 0 && i != cap - 1) {
        r->bad = field;
        return;
    }
    memcpy(out, r->p + r->off, i);
    out[i] = 0;
    r->off += i + 1;
}

const char *smpp_name(uint32_t id)
{
    bool resp = (id & SMPP_RESP) != 0;
    switch (id & ~SMPP_RESP) {
    case 0:
        return resp ? "generic_nack" : "unknown";
    case SMPP_BIND_RECEIVER:
        return resp ? "bind_receiver_resp" : "bind_receiver";
    case SMPP_BIND_TRANSMITTER:
        return resp ? "bind_transmitter_resp" : "bind_transmitter";
    case SMPP_BIND_TRANSCEIVER:
        return resp ? "bind_transceiver_resp" : "bind_transceiver";
    case SMPP_SUBMIT_SM:
        return resp ? "submit_sm_resp" : "submit_sm";
    case SMPP_DELIVER_SM:
        return resp ? "deliver_sm_resp" : "deliver_sm";
    case SMPP_UNBIND:
        return resp ? "unbind_resp" : "unbind";
    case SMPP_ENQUIRE_LINK:
        return resp ? "enquire_link_resp" : "enquire_link";
    default:
        return "unknown";
    }
}

sm_rc smpp_frame_len(const uint8_t *p, size_t n, size_t *len, sm_err *err)
{
    *len = 0;
    if (n < SMPP_HEADER_LEN)
        return SM_OK;
    uint32_t l = be32(p);
    if (l < SMPP_HEADER_LEN || l > SMPP_MAX_PDU)
        return sm_errf(err, SM_EPARSE, "smpp: command_length %u outside %d..%d", l, SMPP_HEADER_LEN, SMPP_MAX_PDU);
    *len = l;
    return SM_OK;
}

static bool is_bind(uint32_t base)
{
    return base == SMPP_BIND_RECEIVER || base == SMPP_BIND_TRANSMITTER || base == SMPP_BIND_TRANSCEIVER;
}

/* Optional TLVs after the mandatory body: message_payload is kept, the others skipped (well-formed). */
static void tlvs(rd *r, smpp_pdu *pdu, bool allow_payload)
{
    bool seen_payload = false;
    while (!r->bad && r->off < r->n) {
        if (r->n - r->off < 4) {
            r->bad = "optional parameter header";
            return;
        }
        uint16_t tag = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
        size_t tl = (size_t)(r->p[r->off + 2] << 8 | r->p[r->off + 3]);
        r->off += 4;
        if (tl > r->n - r->off) {
            r->bad = "optional parameter length";
            return;
        }
        if (tag == SMPP_TAG_MESSAGE_PAYLOAD) {
            if (!allow_payload || seen_payload || pdu->sm_len != 0) {
                r->bad = "message_payload (repeated, or together with short_message)";
                return;
            }
            seen_payload = true;
            pdu->sm = r->p + r->off;
            pdu->sm_len = tl;
            pdu->payload_tlv = true;
        }
        r->off += tl;
    }
}

sm_rc smpp_decode(const uint8_t *p, size_t n, smpp_pdu *pdu, sm_err *err)
{
    memset(pdu, 0, sizeof *pdu);
    if (n < SMPP_HEADER_LEN || n > SMPP_MAX_PDU)
        return sm_errf(err, SM_EPARSE, "smpp: a PDU of %zu bytes", n);
    if (be32(p) != n)
        return sm_errf(err, SM_EPARSE, "smpp: command_length %u for a PDU of %zu bytes", be32(p), n);
    pdu->id = be32(p + 4);
    pdu->status = be32(p + 8);
    pdu->seq = be32(p + 12);
    rd r = {p, n, SMPP_HEADER_LEN, NULL};
    uint32_t base = pdu->id & ~SMPP_RESP;
    bool resp = (pdu->id & SMPP_RESP) != 0;
    if (pdu->id == SMPP_GENERIC_NACK || base == SMPP_UNBIND || base == SMPP_ENQUIRE_LINK) {
        /* header only */
    } else if (is_bind(base) && !resp) {
        cstr(&r, pdu->system_id, sizeof pdu->system_id, false, "system_id");
        cstr(&r, pdu->password, sizeof pdu->password, false, "password");
        cstr(&r, pdu->system_type, sizeof pdu->system_type, false, "system_type");
        pdu->interface_version = u8(&r, "interface_version");
        pdu->addr_ton = u8(&r, "addr_ton");
        pdu->addr_npi = u8(&r, "addr_npi");
        cstr(&r, pdu->address_range, sizeof pdu->address_range, false, "address_range");
    } else if (is_bind(base)) {
        /* the body may be absent when the bind failed */
        if (r.off < n || pdu->status == SMPP_ROK) {
            cstr(&r, pdu->system_id, sizeof pdu->system_id, false, "system_id");
            tlvs(&r, pdu, false);
        }
    } else if ((base == SMPP_SUBMIT_SM || base == SMPP_DELIVER_SM) && !resp) {
        cstr(&r, pdu->service_type, sizeof pdu->service_type, false, "service_type");
        pdu->src_ton = u8(&r, "source_addr_ton");
        pdu->src_npi = u8(&r, "source_addr_npi");
        cstr(&r, pdu->src, sizeof pdu->src, false, "source_addr");
        pdu->dst_ton = u8(&r, "dest_addr_ton");
        pdu->dst_npi = u8(&r, "dest_addr_npi");
        cstr(&r, pdu->dst, sizeof pdu->dst, false, "destination_addr");
        pdu->esm_class = u8(&r, "esm_class");
        pdu->protocol_id = u8(&r, "protocol_id");
        pdu->priority = u8(&r, "priority_flag");
        cstr(&r, pdu->schedule, sizeof pdu->schedule, true, "schedule_delivery_time");
        cstr(&r, pdu->validity, sizeof pdu->validity, true, "validity_period");
        pdu->registered_delivery = u8(&r, "registered_delivery");
        pdu->replace = u8(&r, "replace_if_present_flag");
        pdu->data_coding = u8(&r, "data_coding");
        pdu->sm_default_msg_id = u8(&r, "sm_default_msg_id");
        size_t sl = u8(&r, "sm_length");
        if (!r.bad && sl > n - r.off)
            r.bad = "short_message (runs past the PDU)";
        if (!r.bad) {
            pdu->sm = sl ? p + r.off : NULL;
            pdu->sm_len = sl;
            r.off += sl;
        }
        tlvs(&r, pdu, true);
    } else if (base == SMPP_SUBMIT_SM || base == SMPP_DELIVER_SM) {
        if (r.off < n || (pdu->status == SMPP_ROK && base == SMPP_SUBMIT_SM))
            cstr(&r, pdu->message_id, sizeof pdu->message_id, false, "message_id");
    } else {
        return sm_errf(err, SM_EPROTO, "smpp: command_id %08X is not handled by this ESME", pdu->id);
    }
    if (r.bad)
        return sm_errf(err, SM_EPARSE, "smpp: %s: field %s is malformed, too long or truncated", smpp_name(pdu->id),
                       r.bad);
    if (r.off != n)
        return sm_errf(err, SM_EPARSE, "smpp: %zu bytes after the end of %s", n - r.off, smpp_name(pdu->id));
    return SM_OK;
}

static int put_u32(sm_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return sm_buf_append(b, x, 4);
}

/* returns nonzero when the string does not fit (len + NUL > cap) */
static int put_cstr(sm_buf *b, const char *s, size_t cap, bool *toolong)
{
    size_t l = strlen(s);
    if (l + 1 > cap) {
        *toolong = true;
        return 1;
    }
    return sm_buf_append(b, s, l + 1);
}

sm_rc smpp_encode(const smpp_pdu *pdu, sm_buf *out, sm_err *err)
{
    size_t start = out->len;
    bool toolong = false;
    int bad = put_u32(out, 0) || put_u32(out, pdu->id) || put_u32(out, pdu->status) || put_u32(out, pdu->seq);
    uint32_t base = pdu->id & ~SMPP_RESP;
    bool resp = (pdu->id & SMPP_RESP) != 0;
    if (pdu->id == SMPP_GENERIC_NACK || base == SMPP_UNBIND || base == SMPP_ENQUIRE_LINK) {
        /* header only */
    } else if (is_bind(base) && !resp) {
        bad = bad || put_cstr(out, pdu->system_id, 16, &toolong) || put_cstr(out, pdu->password, 9, &toolong) ||
              put_cstr(out, pdu->system_type, 13, &toolong) || sm_buf_append_byte(out, pdu->interface_version) ||
              sm_buf_append_byte(out, pdu->addr_ton) || sm_buf_append_byte(out, pdu->addr_npi) ||
              put_cstr(out, pdu->address_range, 41, &toolong);
    } else if (is_bind(base)) {
        bad = bad || put_cstr(out, pdu->system_id, 16, &toolong);
    } else if ((base == SMPP_SUBMIT_SM || base == SMPP_DELIVER_SM) && !resp) {
        if (!pdu->payload_tlv && pdu->sm_len > SMPP_SHORT_MESSAGE_MAX)
            return sm_errf(err, SM_EINVAL, "smpp: a short_message of %zu bytes (254 at most)", pdu->sm_len);
        if (pdu->sm_len > 0xFFFF)
            return sm_errf(err, SM_EINVAL, "smpp: a message of %zu bytes", pdu->sm_len);
        size_t sl = strlen(pdu->schedule), vl = strlen(pdu->validity);
        if ((sl != 0 && sl != 16) || (vl != 0 && vl != 16))
            return sm_errf(err, SM_EINVAL, "smpp: schedule/validity times must be empty or 16 characters");
        bad = bad || put_cstr(out, pdu->service_type, 6, &toolong) || sm_buf_append_byte(out, pdu->src_ton) ||
              sm_buf_append_byte(out, pdu->src_npi) || put_cstr(out, pdu->src, 21, &toolong) ||
              sm_buf_append_byte(out, pdu->dst_ton) || sm_buf_append_byte(out, pdu->dst_npi) ||
              put_cstr(out, pdu->dst, 21, &toolong) || sm_buf_append_byte(out, pdu->esm_class) ||
              sm_buf_append_byte(out, pdu->protocol_id) || sm_buf_append_byte(out, pdu->priority) ||
              put_cstr(out, pdu->schedule, 17, &toolong) || put_cstr(out, pdu->validity, 17, &toolong) ||
              sm_buf_append_byte(out, pdu->registered_delivery) || sm_buf_append_byte(out, pdu->replace) ||
              sm_buf_append_byte(out, pdu->data_coding) || sm_buf_append_byte(out, pdu->sm_default_msg_id);
        if (!bad && pdu->payload_tlv) {
            uint8_t t[4] = {SMPP_TAG_MESSAGE_PAYLOAD >> 8, SMPP_TAG_MESSAGE_PAYLOAD & 0xFF, (uint8_t)(pdu->sm_len >> 8),
                            (uint8_t)pdu->sm_len};
            bad = sm_buf_append_byte(out, 0) || sm_buf_append(out, t, 4) ||
                  (pdu->sm_len && sm_buf_append(out, pdu->sm, pdu->sm_len));
        } else if (!bad) {
            bad = sm_buf_append_byte(out, (uint8_t)pdu->sm_len) ||
                  (pdu->sm_len && sm_buf_append(out, pdu->sm, pdu->sm_len));
        }
    } else if (base == SMPP_SUBMIT_SM || base == SMPP_DELIVER_SM) {
        bad = bad || put_cstr(out, pdu->message_id, 65, &toolong);
    } else {
        out->len = start;
        return sm_errf(err, SM_EINVAL, "smpp: cannot encode command_id %08X", pdu->id);
    }
    if (toolong) {
        out->len = start;
        return sm_errf(err, SM_EINVAL, "smpp: a string field of %s is longer than SMPP allows", smpp_name(pdu->id));
    }
    if (bad || out->failed)
        return sm_errf(err, SM_ENOMEM, "smpp: out of memory");
    size_t len = out->len - start;
    if (len > SMPP_MAX_PDU) {
        out->len = start;
        return sm_errf(err, SM_ELIMIT, "smpp: %s of %zu bytes is over %d", smpp_name(pdu->id), len, SMPP_MAX_PDU);
    }
    out->data[start] = (uint8_t)(len >> 24);
    out->data[start + 1] = (uint8_t)(len >> 16);
    out->data[start + 2] = (uint8_t)(len >> 8);
    out->data[start + 3] = (uint8_t)len;
    return SM_OK;
}

/* copies the value after "key:" up to a blank */
static bool receipt_field(const uint8_t *t, size_t n, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    out[0] = 0;
    for (size_t i = 0; i + kl <= n; i++) {
        if ((i == 0 || t[i - 1] == ' ') && memcmp(t + i, key, kl) == 0) {
            size_t j = i + kl, k = 0;
            while (j < n && t[j] != ' ' && t[j] >= 0x21 && t[j] < 0x7F) {
                if (k + 1 >= cap)
                    return false;
                out[k++] = (char)t[j++];
            }
            out[k] = 0;
            return k > 0;
        }
    }
    return false;
}

bool smpp_receipt_parse(const uint8_t *text, size_t len, char *id, size_t idcap, char *stat, size_t statcap)
{
    bool a = receipt_field(text, len, "id:", id, idcap);
    bool b = receipt_field(text, len, "stat:", stat, statcap);
    return a && b;
}
