/* libFuzzer: the card's profile package interpreter fed in two arbitrary segments. */
#include <stddef.h>
#include <stdint.h>

#include "tests/sim/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    sim_pkg_parser p;
    sim_pkg_init(&p, 65536);
    size_t cut = data[0] % size;
    if (sim_pkg_feed(&p, data + 1, cut > 0 ? cut - 1 : 0, NULL) == SIM_OK)
        sim_pkg_feed(&p, data + cut, size - cut, NULL);
    sim_buf r;
    sim_buf_init(&r);
    sim_pkg_response(&p, &r, NULL);
    sim_buf_free(&r);
    sim_pkg_free(&p);
    return 0;
}
