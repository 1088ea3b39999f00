/* scp03: GP SCP03 card side (Amd D) for APDUs and its TLV form SCP03t (SGP.02 ES8): INITIALIZE
 * UPDATE with pseudo-random card challenge, EXTERNAL AUTHENTICATE, C-MAC/C-DEC unwrap, R-MAC/R-ENC wrap. */
#ifndef SIM_SCP03_H
#define SIM_SCP03_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/buf.h"

typedef struct sim_scp03_keys {
    uint8_t kvn;           /* 0x30..0x3F */
    uint8_t klen;          /* 16, 24 or 32 */
    uint8_t enc[32], mac[32], dek[32];
    uint32_t seq;          /* 24-bit sequence counter, incremented before each INITIALIZE UPDATE */
} sim_scp03_keys;

/* MAC chain + encryption counter of an open session (also usable on its own for BSP-style chains). */
typedef struct sim_scp03_chain {
    uint8_t klen;
    uint8_t senc[32], smac[32], srmac[32];
    uint8_t mcv[16];
    uint32_t ctr;
} sim_scp03_chain;

enum { SIM_SCP03_NONE = 0, SIM_SCP03_INIT = 1, SIM_SCP03_OPEN = 2 };
#define SIM_SL_CMAC 0x01
#define SIM_SL_CDEC 0x02
#define SIM_SL_RMAC 0x10
#define SIM_SL_RENC 0x20

typedef struct sim_scp03_sess {
    int state;
    uint8_t sl;
    uint8_t host_ch[8], card_ch[8];
    sim_scp03_chain ch;
} sim_scp03_sess;

/* INITIALIZE UPDATE: increments keys->seq, derives the pseudo-random card challenge from K-ENC
 * (constant 02, context seq||aid) unless fixed_card_ch is given (tests), derives session keys and
 * writes the 32-byte response (div data 10x00 | KVN | 03 | 70 | card challenge | card cryptogram | seq). */
sim_rc sim_scp03_init_update(sim_scp03_keys *keys, const uint8_t *aid, size_t aidlen, const uint8_t host_ch[8],
                             const uint8_t *fixed_card_ch, sim_scp03_sess *s, uint8_t resp[32], sim_err *err);
/* EXTERNAL AUTHENTICATE: macdata = the exact bytes MACed after the all-zero chaining value
 * (APDU: 84 82 SL 00 10 || host cryptogram; SCP03t: 85 11 || SL || host cryptogram). */
sim_rc sim_scp03_ext_auth(sim_scp03_sess *s, const uint8_t *macdata, size_t mlen, uint8_t sl,
                          const uint8_t host_crypto[8], const uint8_t mac[8], sim_err *err);
/* APDU form: 84 82 SL 00 10 <host cryptogram 8> <C-MAC 8>. */
sim_rc sim_scp03_ext_auth_apdu(sim_scp03_sess *s, const uint8_t *apdu, size_t n, sim_err *err);
/* SCP03t form: value of TLV 85 = SL || host cryptogram || MAC. */
sim_rc sim_scp03_ext_auth_tlv(sim_scp03_sess *s, const uint8_t *v, size_t n, sim_err *err);

/* APDU mode. unwrap: verifies C-MAC, deciphers, returns the plain APDU (CLA with bit 04 cleared). */
sim_rc sim_scp03_unwrap_apdu(sim_scp03_sess *s, const uint8_t *apdu, size_t n, sim_buf *plain, sim_err *err);
/* Response: data' (R-ENC) || R-MAC || SW as the SL asks. */
sim_rc sim_scp03_wrap_resp(sim_scp03_sess *s, const uint8_t *data, size_t n, uint16_t sw, sim_buf *out,
                           sim_err *err);

/* TLV mode (SCP03t / BSP chain). Verifies MAC = CMAC(S-MAC, MCV || tag || len || C) of a TLV whose
 * value is C || MAC8, updates MCV, increments ctr and (if decrypt) deciphers with ICV = AES(S-ENC, ctr). */
sim_rc sim_scp03t_unwrap(sim_scp03_chain *c, const uint8_t *tlv, size_t n, int decrypt, sim_buf *plain,
                         sim_err *err);
/* Sender side of the same (tests, tools). */
sim_rc sim_scp03t_wrap(sim_scp03_chain *c, uint8_t tag, const uint8_t *p, size_t n, int encrypt, sim_buf *out,
                       sim_err *err);
/* Card response TLV 86: empty -> 86 00; else R-ENC (ICV from 80||ctr) + R-MAC over MCV||86||len||C. */
sim_rc sim_scp03t_resp(sim_scp03_chain *c, const uint8_t *p, size_t n, sim_buf *out, sim_err *err);

#endif
