/* libFuzzer: the simulated SMSC's SMPP PDU decoder (and re-encoding of what it accepted). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/sim/smpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sim_smpp_pdu p, q;
    if (sim_smpp_peek_len(data, size) > SMPP_MAX_PDU)
        return 0;
    if (sim_smpp_decode(data, size, &p, NULL) != SIM_OK)
        return 0;
    sim_buf b;
    sim_buf_init(&b);
    if (sim_smpp_encode(&p, &b, NULL) == SIM_OK && sim_smpp_decode(b.p, b.len, &q, NULL) == SIM_OK) {
        if (q.id != p.id || q.sm_len != p.sm_len || memcmp(q.sm, p.sm, p.sm_len))
            __builtin_trap(); /* what we accept must survive a round trip */
    }
    sim_buf_free(&b);
    return 0;
}
