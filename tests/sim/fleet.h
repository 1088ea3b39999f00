/* fleet: a set of simulated eUICCs (one process, up to 100,000 cards): manufacturing new cards the
 * way an EUM does (keys, certificate, provisioning profile) and lookup by EID / MSISDN. */
#ifndef SIM_FLEET_H
#define SIM_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/euicc.h"
#include "tests/sim/pki.h"

#define SIM_FLEET_MAX 100000

typedef struct sim_fleet {
    sim_euicc **cards;
    size_t n, cap;
    EVP_PKEY *ci;                 /* owned */
    uint8_t ci_point[65];
    /* open-addressing indexes (rebuilt by sim_fleet_index) */
    size_t *by_eid, *by_msisdn, slots;
    size_t sms_only;              /* batch: the last sms_only cards declare no HTTPS support (http=0) */
} sim_fleet;

typedef struct sim_fleet_opts {
    size_t count;
    uint64_t first_serial;        /* EID / ICCID / IMSI / MSISDN numbering */
    uint32_t mem_total;           /* bytes per card (default 524288) */
    const char *sr_sms;           /* SM-SR SMS address written into every ISD-R */
    const char *msisdn_prefix;    /* default "4479" */
} sim_fleet_opts;

void sim_fleet_init(sim_fleet *f);
void sim_fleet_free(sim_fleet *f);
sim_rc sim_fleet_set_ci(sim_fleet *f, EVP_PKEY *ci_pub, sim_err *err);
sim_rc sim_fleet_add(sim_fleet *f, sim_euicc *e, sim_err *err);
/* Manufactures one card with serial s (EUM key signs the ECASD certificate). */
sim_rc sim_fleet_make_card(const sim_pki *pki, const sim_fleet_opts *o, uint64_t s, sim_euicc **out, sim_err *err);
sim_rc sim_fleet_create(sim_fleet *f, const sim_pki *pki, const sim_fleet_opts *o, sim_err *err);
sim_rc sim_fleet_index(sim_fleet *f, sim_err *err);
sim_euicc *sim_fleet_by_eid(const sim_fleet *f, const char *eid_hex);
/* Card whose *any* profile has this MSISDN (routing then checks it is the enabled one). */
sim_euicc *sim_fleet_by_msisdn(const sim_fleet *f, const char *msisdn);

/* EID: 32 digits with ISO 7064 mod 97-10 check digits. */
void sim_eid_make(uint64_t serial, uint8_t eid[16]);
/* ICCID 19 digits + Luhn. */
void sim_iccid_make(const char *prefix, uint64_t serial, char out[21]);

#endif
