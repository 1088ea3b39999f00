/* scp80: ETSI TS 102 225 secured packets over SMS (AES-CBC ciphering, AES-CMAC 8-byte CC), both
 * directions: card-side unwrap with counter rules and PoR build, and the sender side (MO notifications, tests). */
#ifndef SIM_SCP80_H
#define SIM_SCP80_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/buf.h"

/* PoR status codes (TS 102 225 5.1.2) */
enum {
    SIM_POR_OK = 0x00, SIM_POR_CC_FAILED = 0x01, SIM_POR_CNTR_LOW = 0x02, SIM_POR_CNTR_HIGH = 0x03,
    SIM_POR_CNTR_BLOCKED = 0x04, SIM_POR_CIPHER_ERROR = 0x05, SIM_POR_SECURITY_ERROR = 0x06,
    SIM_POR_NO_MEMORY = 0x07, SIM_POR_MORE_TIME = 0x08, SIM_POR_TAR_UNKNOWN = 0x09,
    SIM_POR_INSUFFICIENT_SECURITY = 0x0A,
};

#define SIM_SCP80_CNTR_MAX 0xFFFFFFFFFFULL

typedef struct sim_scp80_keyset {
    uint8_t kvn;            /* key index 1..15 (KIc/KID high nibble) */
    uint8_t kic[16], kid[16], dek[16];
    uint64_t cntr;          /* last counter accepted (card) or last used (sender) */
} sim_scp80_keyset;

typedef struct sim_scp80_cmd {
    uint8_t spi[2], kic, kid, tar[3];
    uint64_t cntr;
    uint8_t pcntr;
    sim_scp80_keyset *ks;   /* key set that verified it (NULL before CC check) */
    size_t data_off, data_len; /* secured data (padding removed) inside the plain buffer */
} sim_scp80_cmd;

/* Card side. Parses pkt (CPL onwards, UDH removed), selects the key set by the KIc key index,
 * deciphers, checks the CC and the counter according to SPI, and on success stores the new counter
 * in the key set. *status gets the PoR status; *por_secure says whether a PoR may be secured with
 * the key set (false when the packet could not be authenticated). plain receives
 * CNTR||PCNTR||CC||data||padding after deciphering. Returns SIM_OK only with status 00. */
sim_rc sim_scp80_unwrap(const uint8_t *pkt, size_t n, sim_scp80_keyset *ks, size_t nks, sim_scp80_cmd *cmd,
                        sim_buf *plain, uint8_t *status, int *por_secure, sim_err *err);

/* Card side: builds the response packet, UDH 02 71 00 included, secured as SPI byte 2 asks
 * (CC and/or ciphering) when secure != 0. */
sim_rc sim_scp80_por_build(const sim_scp80_keyset *ks, const uint8_t spi[2], const uint8_t tar[3], uint64_t cntr,
                           uint8_t status, const uint8_t *data, size_t len, int secure, sim_buf *out, sim_err *err);

/* Sender side: command packet CPL..end (no UDH). kic/kid are the full KIc/KID bytes. */
sim_rc sim_scp80_wrap(const sim_scp80_keyset *ks, const uint8_t spi[2], uint8_t kic, uint8_t kid,
                      const uint8_t tar[3], uint64_t cntr, const uint8_t *data, size_t len, sim_buf *out,
                      sim_err *err);

/* Sender side: checks a PoR (UDH 02 71 00 included) and extracts status and response data. */
typedef struct sim_scp80_por {
    uint8_t tar[3], status, pcntr;
    uint64_t cntr;
    sim_buf data; /* caller frees */
} sim_scp80_por;
sim_rc sim_scp80_por_parse(const sim_scp80_keyset *ks, const uint8_t spi[2], const uint8_t *p, size_t n,
                           sim_scp80_por *por, sim_err *err);

#endif
