/* scp80: ETSI TS 102 225 / 3GPP TS 31.115 secured packets for SMS-PP (SCP80): command packets
 * (SPI, KIc, KID, TAR, counter, padding counter, cryptographic checksum) with AES (CBC + CMAC) or
 * triple DES (CBC + CBC-MAC), counter policy, response packets (PoR), and the SMS user-data framing
 * with the command/response packet identifiers and concatenation (UDH).
 * All cipher and MAC work goes through hsm/; parsing never reads outside its buffer. */
#ifndef SM_CRYPTO_SCP80_H
#define SM_CRYPTO_SCP80_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"
#include "lib/buf.h"
#include "lib/err.h"

/* SPI byte 1 */
#define SCP80_SPI1_INTEGRITY 0x03 /* 00 none, 01 RC, 10 CC, 11 DS */
#define SCP80_SPI1_CC 0x02
#define SCP80_SPI1_CIPHER 0x04
#define SCP80_SPI1_CNTR 0x18      /* counter mode: */
#define SCP80_CNTR_NONE 0x00      /*   no counter */
#define SCP80_CNTR_AVAILABLE 0x08 /*   counter available, not checked */
#define SCP80_CNTR_HIGHER 0x10    /*   must be higher than the last one received */
#define SCP80_CNTR_ONE_HIGHER 0x18 /*  must be exactly one higher (crypto.md: do not use) */
/* SPI byte 2 */
#define SCP80_SPI2_POR 0x03       /* 00 none, 01 always, 10 on error */
#define SCP80_SPI2_POR_INTEGRITY 0x0C /* 00 none, 04 RC, 08 CC, 0C DS */
#define SCP80_SPI2_POR_CC 0x08
#define SCP80_SPI2_POR_CIPHER 0x10
#define SCP80_SPI2_POR_SUBMIT 0x20

#define SCP80_CNTR_MAX 0xFFFFFFFFFFull /* 5 bytes; the card blocks the key set there */

/* TP-PID and TP-DCS of SMS-PP data download */
#define SCP80_TP_PID 0x7F
#define SCP80_TP_DCS 0xF6

/* PoR status codes (TS 102 225 §5.1.2) */
enum {
    SCP80_POR_OK = 0x00,
    SCP80_POR_CC_FAILED = 0x01,
    SCP80_POR_CNTR_LOW = 0x02,
    SCP80_POR_CNTR_HIGH = 0x03,
    SCP80_POR_CNTR_BLOCKED = 0x04,
    SCP80_POR_CIPHER_ERROR = 0x05,
    SCP80_POR_UNDEFINED = 0x06,
    SCP80_POR_NO_MEMORY = 0x07,
    SCP80_POR_MORE_TIME = 0x08,
    SCP80_POR_TAR_UNKNOWN = 0x09,
    SCP80_POR_LOW_SECURITY = 0x0A,
    SCP80_POR_DATA_SUBMIT = 0x0B,
    SCP80_POR_DATA_USSD = 0x0C,
};
const char *scp80_por_status_name(uint8_t status);

/* The header fields of one command packet. */
typedef struct scp80_params {
    uint8_t spi[2];
    uint8_t kic;     /* key index << 4 | algorithm: 2 AES-CBC, 5 3DES-2key CBC, 9 3DES-3key CBC */
    uint8_t kid;     /* key index << 4 | algorithm: 2 AES-CMAC, 5 / 9 3DES CBC-MAC */
    uint8_t tar[3];
    uint64_t cntr;   /* 5 bytes */
} scp80_params;

/* Key templates: KIc encrypts/decrypts; KID computes the CC (CMAC, or 3DES CBC-MAC = encrypt). */
void scp80_kic_keyspec(hsm_keytype type, unsigned len, bool wrappable, hsm_keyspec *out);
void scp80_kid_keyspec(hsm_keytype type, unsigned len, bool wrappable, hsm_keyspec *out);

/* Counter policy for the sender (SM-SR): the next value after `last` for the SPI's counter mode
 * (0 when the SPI has no counter); SM_ELIMIT at the 5-byte maximum. */
sm_rc scp80_counter_next(uint8_t spi1, uint64_t last, uint64_t *next, sm_err *err);
/* Counter policy for a received or proposed value: SM_EREPLAY when `cntr` is not higher than
 * `last` (mode 10) or not exactly last+1 (mode 11); SM_ELIMIT past the maximum. */
sm_rc scp80_counter_check(uint8_t spi1, uint64_t last, uint64_t cntr, sm_err *err);

/* Builds the command packet CPL..end into out: padding (ciphering only) to the cipher block,
 * CC over CPL..TAR || CNTR || PCNTR || data || padding, then CNTR..end ciphered with KIc (CBC, zero
 * IV). kic_key may be NULL without ciphering, kid_key without CC. RC and DS are not supported. */
sm_rc scp80_wrap(hsm_sess *s, const scp80_params *p, const hsm_key *kic_key, const hsm_key *kid_key,
                 const uint8_t *data, size_t len, sm_buf *out, sm_err *err);

/* A received command packet (MO, card -> SM-SR) checked and deciphered: SPI/KIc/KID/TAR/CNTR into
 * *p, secured data (padding removed) appended to data. The counter is checked against last_cntr
 * by the SPI's policy (SM_EREPLAY); SM_EVERIFY on a bad CC. */
sm_rc scp80_unwrap_command(hsm_sess *s, const uint8_t *pkt, size_t len, const hsm_key *kic_key,
                           const hsm_key *kid_key, uint64_t last_cntr, scp80_params *p, sm_buf *data, sm_err *err);

/* A parsed response packet (PoR). */
typedef struct scp80_por {
    uint8_t tar[3];
    uint64_t cntr;
    uint8_t pcntr;
    uint8_t status;
    bool has_cc;
    size_t data_len;   /* response data (padding removed) appended to the caller's buffer */
} scp80_por;

/* Parses and verifies a PoR given as SMS user data (UDHL .. end, UDH with IEI 71) for the command
 * `cmd` (its SPI, KIc, KID, TAR and CNTR): TAR and CNTR echo the command, the packet is deciphered
 * and its CC checked when the command's SPI byte 2 asked for it (SM_EVERIFY if wrong). The card's
 * status is in out->status (see scp80_por_check). Response data is appended to data. */
sm_rc scp80_unwrap_por(hsm_sess *s, const scp80_params *cmd, const hsm_key *kic_key, const hsm_key *kid_key,
                       const uint8_t *ud, size_t len, scp80_por *out, sm_buf *data, sm_err *err);
/* Parses the PoR framing without keys (no deciphering, no CC): for fuzzing and diagnostics. */
sm_rc scp80_parse_por_frame(const uint8_t *ud, size_t len, size_t *udhl, uint8_t tar[3], size_t *secured_off,
                            size_t *secured_len, uint8_t *rhl, sm_err *err);
/* SM_OK for status 00; SM_EREPLAY for counter low/high/blocked; SM_EVERIFY for 01; SM_EPROTO else. */
sm_rc scp80_por_check(const scp80_por *por, sm_err *err);

/* ---- SMS user data ------------------------------------------------------------------------ */

#define SCP80_UD_MAX 140
#define SCP80_PARTS_MAX 16

typedef struct scp80_sms {
    uint8_t ud[SCP80_UD_MAX];
    size_t len;
} scp80_sms;

/* Frames a command packet as SMS user data: one SMS (UDH 02 70 00) when it fits in 137 bytes,
 * else concatenated parts: first UDH 07 70 00 00 03 ref n 1, then 05 00 03 ref n i. */
sm_rc scp80_sms_frame(const uint8_t *pkt, size_t len, uint8_t ref, scp80_sms *parts, size_t maxparts,
                      size_t *nparts, sm_err *err);

/* The UDH of one received SMS. */
typedef struct scp80_udh {
    bool cmd_packet;    /* IEI 70 */
    bool resp_packet;   /* IEI 71 */
    bool concat;        /* IEI 00 (8-bit reference) or 08 (16-bit) */
    uint16_t ref;
    uint8_t total, seq;
    size_t payload_off; /* after the UDH */
} scp80_udh;
sm_rc scp80_sms_parse_udh(const uint8_t *ud, size_t len, scp80_udh *out, sm_err *err);
/* Joins the payloads of parts (any order, one reference, all present) into out. */
sm_rc scp80_sms_join(const scp80_sms *parts, size_t n, sm_buf *out, sm_err *err);

#endif
