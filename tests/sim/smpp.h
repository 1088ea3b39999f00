/* smpp: SMPP 3.4 PDU codec for the simulated SMSC (bind_transceiver/transmitter/receiver, submit_sm,
 * deliver_sm, enquire_link, unbind, generic_nack, message_payload TLV). Bounds-checked decode. */
#ifndef SIM_SMPP_H
#define SIM_SMPP_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/buf.h"

enum {
    SMPP_GENERIC_NACK = 0x80000000u, SMPP_BIND_RECEIVER = 0x00000001u, SMPP_BIND_TRANSMITTER = 0x00000002u,
    SMPP_SUBMIT_SM = 0x00000004u, SMPP_DELIVER_SM = 0x00000005u, SMPP_UNBIND = 0x00000006u,
    SMPP_BIND_TRANSCEIVER = 0x00000009u, SMPP_ENQUIRE_LINK = 0x00000015u, SMPP_RESP = 0x80000000u,
};
enum { SMPP_ESME_ROK = 0x00, SMPP_ESME_RINVMSGLEN = 0x01, SMPP_ESME_RINVCMDLEN = 0x02, SMPP_ESME_RINVCMDID = 0x03,
       SMPP_ESME_RINVBNDSTS = 0x04, SMPP_ESME_RALYBND = 0x05, SMPP_ESME_RSYSERR = 0x08,
       SMPP_ESME_RINVDSTADR = 0x0B, SMPP_ESME_RBINDFAIL = 0x0D, SMPP_ESME_RINVPASWD = 0x0E };

#define SMPP_MAX_PDU 8192
#define SMPP_MAX_SM 4096
#define SMPP_TAG_MESSAGE_PAYLOAD 0x0424

typedef struct sim_smpp_pdu {
    uint32_t id, status, seq;
    /* bind / bind_resp */
    char system_id[16], password[9], system_type[13];
    uint8_t interface_version, addr_ton, addr_npi;
    char address_range[41];
    /* submit_sm / deliver_sm */
    char service_type[6];
    uint8_t src_ton, src_npi, dst_ton, dst_npi;
    char src[21], dst[21];
    uint8_t esm_class, protocol_id, priority, registered_delivery, replace, data_coding, sm_default_msg_id;
    char schedule[17], validity[17];
    uint8_t sm[SMPP_MAX_SM];
    uint16_t sm_len;
    int payload_tlv; /* the message came (or goes) in message_payload */
    /* submit_sm_resp */
    char message_id[65];
} sim_smpp_pdu;

/* 0 if fewer than 16 bytes; else the command_length (caller checks bounds with sim_smpp_decode). */
uint32_t sim_smpp_peek_len(const uint8_t *p, size_t n);
sim_rc sim_smpp_decode(const uint8_t *p, size_t n, sim_smpp_pdu *pdu, sim_err *err);
sim_rc sim_smpp_encode(const sim_smpp_pdu *pdu, sim_buf *out, sim_err *err);
const char *sim_smpp_name(uint32_t id);

#endif
