/* smpp: the SMPP 3.4 PDU codec of the ES5 SMS channel (the ESME side: bind_transceiver, submit_sm,
 * deliver_sm, enquire_link, unbind, generic_nack and their responses; message_payload TLV).
 * Decoding is strict and bounded: every length is checked against the PDU, strings against SMPP's
 * field sizes, and a PDU must be consumed exactly. No I/O here (net/smpp_client does that). */
#ifndef SM_NET_SMPP_H
#define SM_NET_SMPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

enum {
    SMPP_GENERIC_NACK = 0x80000000u,
    SMPP_BIND_RECEIVER = 0x00000001u,
    SMPP_BIND_TRANSMITTER = 0x00000002u,
    SMPP_SUBMIT_SM = 0x00000004u,
    SMPP_DELIVER_SM = 0x00000005u,
    SMPP_UNBIND = 0x00000006u,
    SMPP_BIND_TRANSCEIVER = 0x00000009u,
    SMPP_ENQUIRE_LINK = 0x00000015u,
    SMPP_RESP = 0x80000000u, /* response bit of command_id */
};

/* command_status values used here */
enum {
    SMPP_ROK = 0x00,
    SMPP_RINVMSGLEN = 0x01,
    SMPP_RINVCMDLEN = 0x02,
    SMPP_RINVCMDID = 0x03,
    SMPP_RINVBNDSTS = 0x04,
    SMPP_RALYBND = 0x05,
    SMPP_RSYSERR = 0x08,
    SMPP_RBINDFAIL = 0x0D,
    SMPP_RINVPASWD = 0x0E,
    SMPP_RINVSYSID = 0x0F,
    SMPP_RTHROTTLED = 0x58,
    SMPP_RX_T_APPN = 0x64, /* ESME receiver temporary app error: the SMSC retries the deliver_sm */
};

#define SMPP_HEADER_LEN 16
#define SMPP_MAX_PDU 16384       /* largest PDU accepted or built */
#define SMPP_SHORT_MESSAGE_MAX 254
#define SMPP_TAG_MESSAGE_PAYLOAD 0x0424
#define SMPP_INTERFACE_VERSION 0x34

/* esm_class bits */
#define SMPP_ESM_UDHI 0x40
#define SMPP_ESM_TYPE_MASK 0x3C
#define SMPP_ESM_DELIVERY_RECEIPT 0x04

/* One PDU. Strings are NUL-terminated copies; sm points into the decoded buffer (valid while it
 * is) or, for encoding, at the caller's bytes. */
typedef struct smpp_pdu {
    uint32_t id, status, seq;
    /* bind and bind_resp */
    char system_id[16], password[9], system_type[13], address_range[41];
    uint8_t interface_version, addr_ton, addr_npi;
    /* submit_sm / deliver_sm */
    char service_type[6], src[21], dst[21], schedule[17], validity[17];
    uint8_t src_ton, src_npi, dst_ton, dst_npi;
    uint8_t esm_class, protocol_id, priority, registered_delivery, replace, data_coding, sm_default_msg_id;
    const uint8_t *sm;
    size_t sm_len;
    bool payload_tlv;          /* the message is (or goes) in message_payload instead of short_message */
    /* submit_sm_resp / deliver_sm_resp */
    char message_id[65];
} smpp_pdu;

/* Name of a command id ("submit_sm_resp", "unknown"). */
const char *smpp_name(uint32_t id);

/* Framing: with at least 16 bytes, *len = command_length. SM_EPARSE when it is outside
 * 16..SMPP_MAX_PDU (the stream cannot be resynchronised: close it). SM_OK with *len = 0 when fewer
 * than 16 bytes are there. */
sm_rc smpp_frame_len(const uint8_t *p, size_t n, size_t *len, sm_err *err);

/* Decodes exactly one PDU of n bytes (n = its command_length). SM_EPARSE for malformed or
 * truncated bodies and trailing bytes, SM_EPROTO for a command id this ESME does not handle
 * (pdu->id and pdu->seq are set then, for the generic_nack). */
sm_rc smpp_decode(const uint8_t *p, size_t n, smpp_pdu *pdu, sm_err *err);

/* Appends the encoded PDU. Refuses strings that do not fit their field, a short_message over 254
 * bytes, and anything over SMPP_MAX_PDU. */
sm_rc smpp_encode(const smpp_pdu *pdu, sm_buf *out, sm_err *err);

/* A delivery receipt's text ("id:... stat:DELIVRD ..."): message id and stat, when present. */
bool smpp_receipt_parse(const uint8_t *text, size_t len, char *id, size_t idcap, char *stat, size_t statcap);

#endif
