/* libFuzzer: the device's parser of SM-SR HTTP responses (status line, headers, chunked bodies). */
#include <stddef.h>
#include <stdint.h>

#include "tests/sim/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sim_http_resp r = {0};
    sim_buf_init(&r.body);
    size_t used = 0;
    int k = sim_http_parse(data, size, &r, &used, NULL);
    if (k == 1 && used > size)
        __builtin_trap();
    uint8_t aid[16];
    size_t al;
    sim_http_target_aid(r.target, aid, &al);
    sim_buf_free(&r.body);
    return 0;
}
