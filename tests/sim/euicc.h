/* euicc: the card model: ECASD (key, certificate, EID), ISD-R data (SCP80/SCP81 key sets, TAR,
 * SM-SR SMS address), ISD-Ps with their profiles, memory budget, profile switching and notifications. */
#ifndef SIM_EUICC_H
#define SIM_EUICC_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "tests/sim/buf.h"
#include "tests/sim/scp03.h"
#include "tests/sim/scp80.h"

/* ISD-P life-cycle (GET STATUS byte; codes UNCONFIRMED in the digest, see docs/simulator.md) */
enum { SIM_LCS_SELECTABLE = 0x07, SIM_LCS_PERSONALIZED = 0x0F, SIM_LCS_DISABLED = 0x1F, SIM_LCS_ENABLED = 0x3F };
/* POL1 bits (first byte of the header `pol`, UNCONFIRMED coding) */
enum { SIM_POL1_NO_DISABLE = 0x01, SIM_POL1_NO_DELETE = 0x02, SIM_POL1_DELETE_ON_DISABLE = 0x04 };
/* notification types (procedures.md 11.4) */
enum { SIM_NOTIF_FIRST_ATTACH = 0x01, SIM_NOTIF_CHANGE_OK = 0x02, SIM_NOTIF_ROLLBACK = 0x03,
       SIM_NOTIF_FALLBACK = 0x05 };

#define SIM_MAX_PROFILES 16
#define SIM_MAX_PENDING 8
#define SIM_NOTIF_MAX_TRIES 5

typedef struct sim_aid {
    uint8_t b[16];
    uint8_t len;
} sim_aid;

struct sim_isdp_rt;

typedef struct sim_profile {
    sim_aid aid;
    uint8_t lcs, fallback, pol1, algo, klen, connlen, has_scp03, attach_fail;
    uint32_t quota, used;
    char iccid[21], imsi[16], msisdn[16];
    char profile_type[40];
    uint8_t k[32], opc[16];
    uint16_t n_pes, n_files;
    uint32_t fs_bytes;
    uint8_t conn[64];
    sim_scp03_keys scp03;
    struct sim_isdp_rt *rt; /* transient: key establishment / download in progress */
} sim_profile;

typedef struct sim_notif {
    uint16_t seq;
    uint8_t type, tries;
    sim_aid aid;   /* profile concerned */
    sim_aid prev;  /* profile enabled before the change (roll-back target) */
} sim_notif;

typedef struct sim_scp81_key {
    uint8_t kvn, id;
    uint8_t psk[16];
} sim_scp81_key;

/* Fault switches for tests (control interface `fault`). */
typedef struct sim_faults {
    uint8_t unreachable;       /* SMS and HTTPS to this card vanish */
    uint8_t tamper;            /* flip one byte of every response (PoR, HTTP body) */
    uint16_t power_loss_after; /* lose power after this many SCP03t 86 segments (0 = off) */
    uint32_t slow_ms;          /* extra delay before each response */
} sim_faults;

typedef struct sim_euicc {
    uint8_t eid[16];
    uint8_t curve;
    uint8_t ecasd_d[32];
    EVP_PKEY *ecasd_key;       /* lazily built from ecasd_d */
    EVP_PKEY *ci;              /* PK.CI.ECDSA, shared, not owned */
    uint8_t *cert;             /* CERT.ECASD.ECKA (7F21 TLV) */
    uint16_t certlen;
    sim_scp80_keyset scp80[2];
    uint8_t n_scp80, n_scp81;
    sim_scp81_key scp81[2];
    uint8_t isdr_tar[3];
    uint8_t msl;               /* minimum SPI1 for the ISD-R TAR (default 0x16) */
    char sr_sms[16];           /* SM-SR SMS address for MO notifications */
    uint32_t mem_total;
    sim_profile *prof;
    uint8_t nprof;
    uint16_t notif_seq;
    sim_notif pend[SIM_MAX_PENDING];
    uint8_t npend;
    uint8_t refresh;           /* a profile switch happened: device must re-attach */
    uint8_t first_attach_done;
    sim_faults fault;
    struct sim_ecka_state *isdr_ecka; /* SM-SR change key establishment in progress */
    void *dev;                 /* runtime device (device.c) */
} sim_euicc;

extern const sim_aid SIM_AID_ISDR, SIM_AID_ECASD, SIM_AID_ELF, SIM_AID_MODULE;

sim_euicc *sim_euicc_new(void);
void sim_euicc_free(sim_euicc *e);
/* ECASD private key as EVP_PKEY (built on first use). */
EVP_PKEY *sim_euicc_ecasd(sim_euicc *e, sim_err *err);

sim_profile *sim_euicc_find(sim_euicc *e, const uint8_t *aid, size_t aidlen);
sim_profile *sim_euicc_find_iccid(sim_euicc *e, const char *iccid);
sim_profile *sim_euicc_enabled(sim_euicc *e);
sim_profile *sim_euicc_fallback(sim_euicc *e);
sim_rc sim_euicc_add_profile(sim_euicc *e, const uint8_t *aid, size_t aidlen, uint32_t quota, sim_profile **out,
                             sim_err *err);
void sim_euicc_remove(sim_euicc *e, sim_profile *p);
uint32_t sim_euicc_free_mem(const sim_euicc *e);
/* MSISDN of the enabled profile ("" when none). */
const char *sim_euicc_msisdn(sim_euicc *e);

/* Platform operations as the ISD-R performs them. They return the ISO status word. */
uint16_t sim_euicc_enable(sim_euicc *e, const uint8_t *aid, size_t aidlen);
uint16_t sim_euicc_disable(sim_euicc *e, const uint8_t *aid, size_t aidlen);
uint16_t sim_euicc_delete(sim_euicc *e, const uint8_t *aid, size_t aidlen, int master);
uint16_t sim_euicc_set_fallback(sim_euicc *e, const uint8_t *aid, size_t aidlen);
/* Notification confirmation: removes the pending entry; appends AIDs deleted by POL1 to out. */
uint16_t sim_euicc_confirm(sim_euicc *e, uint16_t seq, sim_buf *out);

/* Network attach with the enabled profile: 0 on success. */
int sim_euicc_attach(sim_euicc *e, const char **why);
/* After a switch (REFRESH): attach, roll back or fall back, and queue the notification. Returns the
 * notification queued (type) or 0. */
int sim_euicc_refresh(sim_euicc *e);
/* Queues a notification of a type for a profile. */
sim_notif *sim_euicc_notify(sim_euicc *e, uint8_t type, const sim_aid *aid, const sim_aid *prev);
/* A notification exhausted its retries: for a profile change, roll back. */
void sim_euicc_notif_expired(sim_euicc *e, sim_notif *n);
/* E1 { 4C EID, 4D type, 4E seq, 4F AID } */
sim_rc sim_notif_tlv(const sim_euicc *e, const sim_notif *n, sim_buf *out, sim_err *err);

void sim_aid_hex(const sim_aid *a, char out[33]);
int sim_aid_eq(const sim_aid *a, const uint8_t *b, size_t n);
void sim_eid_hex(const sim_euicc *e, char out[33]);

#endif
