/* smpp: SMPP 3.4 PDU codec. */
#include "tests/sim/smpp.h"

#include <string.h>

typedef struct rd {
    const uint8_t *p;
    size_t n, off;
    int bad;
} rd;

static uint8_t u8(rd *r)
{
    if (r->off >= r->n) {
        r->bad = 1;
        return 0;
    }
    return r->p[r->off++];
}

static void cstr(rd *r, char *out, size_t cap)
{
    size_t i = 0;
    while (r->off < r->n && r->p[r->off] != 0) {
        if (i + 1 >= cap) {
            r->bad = 1;
            out[0] = 0;
            return;
        }
        out[i++] = (char)r->p[r->off++];
    }
    if (r->off >= r->n) {
        r->bad = 1;
        out[0] = 0;
        return;
    }
    r->off++;
    out[i] = 0;
}

uint32_t sim_smpp_peek_len(const uint8_t *p, size_t n)
{
    return n < 16 ? 0 : sim_be32(p);
}

const char *sim_smpp_name(uint32_t id)
{
    switch (id & ~SMPP_RESP) {
    case SMPP_BIND_RECEIVER: return id & SMPP_RESP ? "bind_receiver_resp" : "bind_receiver";
    case SMPP_BIND_TRANSMITTER: return id & SMPP_RESP ? "bind_transmitter_resp" : "bind_transmitter";
    case SMPP_BIND_TRANSCEIVER: return id & SMPP_RESP ? "bind_transceiver_resp" : "bind_transceiver";
    case SMPP_SUBMIT_SM: return id & SMPP_RESP ? "submit_sm_resp" : "submit_sm";
    case SMPP_DELIVER_SM: return id & SMPP_RESP ? "deliver_sm_resp" : "deliver_sm";
    case SMPP_UNBIND: return id & SMPP_RESP ? "unbind_resp" : "unbind";
    case SMPP_ENQUIRE_LINK: return id & SMPP_RESP ? "enquire_link_resp" : "enquire_link";
    case 0: return "generic_nack";
    default: return "unknown";
    }
}

static int is_bind(uint32_t id)
{
    id &= ~SMPP_RESP;
    return id == SMPP_BIND_RECEIVER || id == SMPP_BIND_TRANSMITTER || id == SMPP_BIND_TRANSCEIVER;
}

sim_rc sim_smpp_decode(const uint8_t *p, size_t n, sim_smpp_pdu *pdu, sim_err *err)
{
    memset(pdu, 0, sizeof *pdu);
    if (n < 16)
        return sim_errf(err, SIM_EPARSE, "smpp: %zu bytes, header needs 16", n);
    uint32_t len = sim_be32(p);
    if (len < 16 || len > SMPP_MAX_PDU || len != n)
        return sim_errf(err, SIM_EPARSE, "smpp: command_length %u invalid for %zu bytes", len, n);
    pdu->id = sim_be32(p + 4);
    pdu->status = sim_be32(p + 8);
    pdu->seq = sim_be32(p + 12);
    rd r = {p, n, 16, 0};
    uint32_t base = pdu->id & ~SMPP_RESP;
    if (is_bind(pdu->id) && !(pdu->id & SMPP_RESP)) {
        cstr(&r, pdu->system_id, sizeof pdu->system_id);
        cstr(&r, pdu->password, sizeof pdu->password);
        cstr(&r, pdu->system_type, sizeof pdu->system_type);
        pdu->interface_version = u8(&r);
        pdu->addr_ton = u8(&r);
        pdu->addr_npi = u8(&r);
        cstr(&r, pdu->address_range, sizeof pdu->address_range);
    } else if (is_bind(pdu->id)) {
        if (r.off < n)
            cstr(&r, pdu->system_id, sizeof pdu->system_id);
        r.off = n; /* optional sc_interface_version TLV ignored */
    } else if ((base == SMPP_SUBMIT_SM || base == SMPP_DELIVER_SM) && !(pdu->id & SMPP_RESP)) {
        cstr(&r, pdu->service_type, sizeof pdu->service_type);
        pdu->src_ton = u8(&r);
        pdu->src_npi = u8(&r);
        cstr(&r, pdu->src, sizeof pdu->src);
        pdu->dst_ton = u8(&r);
        pdu->dst_npi = u8(&r);
        cstr(&r, pdu->dst, sizeof pdu->dst);
        pdu->esm_class = u8(&r);
        pdu->protocol_id = u8(&r);
        pdu->priority = u8(&r);
        cstr(&r, pdu->schedule, sizeof pdu->schedule);
        cstr(&r, pdu->validity, sizeof pdu->validity);
        pdu->registered_delivery = u8(&r);
        pdu->replace = u8(&r);
        pdu->data_coding = u8(&r);
        pdu->sm_default_msg_id = u8(&r);
        uint8_t sl = u8(&r);
        if (!r.bad && sl > n - r.off)
            r.bad = 1;
        if (!r.bad) {
            memcpy(pdu->sm, p + r.off, sl);
            pdu->sm_len = sl;
            r.off += sl;
        }
        while (!r.bad && r.off < n) { /* optional TLVs */
            if (n - r.off < 4) {
                r.bad = 1;
                break;
            }
            uint16_t tag = sim_be16(p + r.off), tl = sim_be16(p + r.off + 2);
            r.off += 4;
            if (tl > n - r.off) {
                r.bad = 1;
                break;
            }
            if (tag == SMPP_TAG_MESSAGE_PAYLOAD) {
                if (sl != 0 || tl > SMPP_MAX_SM)
                    return sim_errf(err, SIM_EPARSE, "smpp: message_payload with short_message or over %d bytes",
                                    SMPP_MAX_SM);
                memcpy(pdu->sm, p + r.off, tl);
                pdu->sm_len = tl;
                pdu->payload_tlv = 1;
            }
            r.off += tl;
        }
    } else if ((base == SMPP_SUBMIT_SM || base == SMPP_DELIVER_SM) && (pdu->id & SMPP_RESP)) {
        if (r.off < n)
            cstr(&r, pdu->message_id, sizeof pdu->message_id);
    } else if (base == SMPP_UNBIND || base == SMPP_ENQUIRE_LINK || pdu->id == SMPP_GENERIC_NACK) {
        /* header only */
    } else {
        return sim_errf(err, SIM_EPROTO, "smpp: command_id %08x not supported", pdu->id);
    }
    if (r.bad)
        return sim_errf(err, SIM_EPARSE, "smpp: %s body truncated or a field too long", sim_smpp_name(pdu->id));
    if (r.off != n)
        return sim_errf(err, SIM_EPARSE, "smpp: %zu trailing bytes in %s", n - r.off, sim_smpp_name(pdu->id));
    return SIM_OK;
}

static void pstr(sim_buf *b, const char *s)
{
    sim_buf_str(b, s);
    sim_buf_u8(b, 0);
}

sim_rc sim_smpp_encode(const sim_smpp_pdu *pdu, sim_buf *out, sim_err *err)
{
    size_t start = out->len;
    sim_buf_u32(out, 0);
    sim_buf_u32(out, pdu->id);
    sim_buf_u32(out, pdu->status);
    sim_buf_u32(out, pdu->seq);
    uint32_t base = pdu->id & ~SMPP_RESP;
    if (is_bind(pdu->id) && !(pdu->id & SMPP_RESP)) {
        pstr(out, pdu->system_id);
        pstr(out, pdu->password);
        pstr(out, pdu->system_type);
        sim_buf_u8(out, pdu->interface_version);
        sim_buf_u8(out, pdu->addr_ton);
        sim_buf_u8(out, pdu->addr_npi);
        pstr(out, pdu->address_range);
    } else if (is_bind(pdu->id)) {
        pstr(out, pdu->system_id);
    } else if ((base == SMPP_SUBMIT_SM || base == SMPP_DELIVER_SM) && !(pdu->id & SMPP_RESP)) {
        if (pdu->sm_len > SMPP_MAX_SM || (!pdu->payload_tlv && pdu->sm_len > 254))
            return sim_errf(err, SIM_ELIMIT, "smpp: message of %u bytes too long", pdu->sm_len);
        pstr(out, pdu->service_type);
        sim_buf_u8(out, pdu->src_ton);
        sim_buf_u8(out, pdu->src_npi);
        pstr(out, pdu->src);
        sim_buf_u8(out, pdu->dst_ton);
        sim_buf_u8(out, pdu->dst_npi);
        pstr(out, pdu->dst);
        sim_buf_u8(out, pdu->esm_class);
        sim_buf_u8(out, pdu->protocol_id);
        sim_buf_u8(out, pdu->priority);
        pstr(out, pdu->schedule);
        pstr(out, pdu->validity);
        sim_buf_u8(out, pdu->registered_delivery);
        sim_buf_u8(out, pdu->replace);
        sim_buf_u8(out, pdu->data_coding);
        sim_buf_u8(out, pdu->sm_default_msg_id);
        if (pdu->payload_tlv) {
            sim_buf_u8(out, 0);
            sim_buf_u16(out, SMPP_TAG_MESSAGE_PAYLOAD);
            sim_buf_u16(out, pdu->sm_len);
        } else {
            sim_buf_u8(out, (uint8_t)pdu->sm_len);
        }
        sim_buf_put(out, pdu->sm, pdu->sm_len);
    } else if ((base == SMPP_SUBMIT_SM || base == SMPP_DELIVER_SM) && (pdu->id & SMPP_RESP)) {
        pstr(out, pdu->message_id);
    }
    if (sim_buf_check(out, err))
        return SIM_ENOMEM;
    size_t len = out->len - start;
    if (len > SMPP_MAX_PDU)
        return sim_errf(err, SIM_ELIMIT, "smpp: PDU of %zu bytes too long", len);
    sim_put_be32(out->p + start, (uint32_t)len);
    return SIM_OK;
}
