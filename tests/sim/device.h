/* device: the simulated device around each eUICC: receives MT SMS (concatenation, faults), sends PoRs
 * and notifications as MO SMS, runs the HTTPS (PSK-TLS) admin session after a push, re-attaches after a switch. */
#ifndef SIM_DEVICE_H
#define SIM_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/isdr.h"
#include "tests/sim/world.h"

/* An MT SMS (user data incl. UDH) from `from` reached the device of e. */
void sim_dev_mt(sim_world *w, sim_euicc *e, const char *from, const uint8_t *ud, size_t n);
/* Opens the admin session as if a push had arrived (push may be NULL: card defaults). */
sim_rc sim_dev_push(sim_world *w, sim_euicc *e, const sim_push *push, sim_err *err);
/* Sends pending notifications now and arms the retry timer. */
void sim_dev_kick(sim_world *w, sim_euicc *e);
/* Starts every device: first-attach notifications (spread), pending notifications, pending REFRESH. */
void sim_dev_start_all(sim_world *w);
void sim_dev_free(sim_euicc *e);
/* SSL_CTX for the PSK-TLS 1.2 client side (TLS_PSK_WITH_AES_128_GCM_SHA256 / _CBC_SHA256). */
sim_rc sim_dev_tls_ctx(SSL_CTX **out, sim_err *err);
/* PSK identity string (hex of 80 01 02 | 81 10 EID | 4F 10 ISD-R AID | 82 01 id | 83 01 KVN). */
void sim_dev_psk_identity(const sim_euicc *e, char out[2 * 45 + 1]);
int sim_dev_session_active(const sim_euicc *e);

#endif
