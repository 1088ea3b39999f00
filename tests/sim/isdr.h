/* isdr: the ISD-R: platform-management APDUs of SGP.02 (ES5) and the SMS-PP entry point (SCP80
 * unwrap at the ISD-R or an ISD-P TAR, minimum security level, push trigger, script execution, PoR). */
#ifndef SIM_ISDR_H
#define SIM_ISDR_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/euicc.h"

/* One platform C-APDU. */
sim_rc sim_isdr_apdu(sim_euicc *e, const uint8_t *apdu, size_t n, sim_buf *rdata, uint16_t *sw, sim_err *err);

/* GP Amd B administration session triggering parameters (tag 81) from a push SMS. */
typedef struct sim_push {
    int present;
    char host[128], agent[64], uri[256];
    uint16_t port;            /* from 84 connection parameters (transport level 3C), 0 if absent */
    uint8_t psk_id[128]; size_t psk_id_len; /* 85 security parameters: PSK identity if given (TLS-PSK: up to 128) */
    uint8_t kvn, key_id;
} sim_push;
sim_rc sim_push_parse(const uint8_t *v, size_t n, sim_push *p, sim_err *err);

/* One SMS-PP data download: ud = user data incl. UDH (IEI 70). The TAR selects the ISD-R or an ISD-P
 * (bytes 13..15 of its AID; ES8 by SMS); the packet is secured with the ISD-R's SCP80 keys either way.
 * Appends the PoR user data (UDH 02 71 00 included) to por when one is due; fills push when the packet
 * was a session trigger (ISD-R only). *power_lost (may be NULL) is set when the card lost power while
 * running the script (fault switch): no PoR then. */
sim_rc sim_isdr_sms(sim_euicc *e, const uint8_t *ud, size_t n, sim_buf *por, sim_push *push, int *power_lost,
                    sim_err *err);

/* SCP80 settings the card uses for its MO notifications (UNCONFIRMED in the digest): SPI 06 00
 * (CC, ciphered, no counter, no PoR), counter 0, ISD-R TAR, first SCP80 key set. */
sim_rc sim_isdr_mo_notification(sim_euicc *e, const sim_notif *n, sim_buf *ud, sim_err *err);

#endif
