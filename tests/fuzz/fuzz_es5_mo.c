/* libFuzzer target: what an eUICC sends back through es5 once deciphered — a default notification
 * (E1 TLV) and a response script (AB / AF, judged for the request's outcome). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/es5/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sm_err err = {0};
    es5_notif_msg m;
    if (es5_notif_parse(data, size, &m, &err) == SM_OK && (m.aid_len > 16 || m.raw != data || m.raw_len != size))
        abort();
    es5_status st;
    char detail[200];
    const uint8_t *content = NULL;
    size_t clen = 0;
    sm_err e2 = {0};
    if (es5_outcome_script(data, size, &st, detail, sizeof detail, &content, &clen, &e2) == SM_OK) {
        if (clen && (content < data || content + clen > data + size))
            abort();
        if (strnlen(detail, sizeof detail) >= sizeof detail)
            abort();
    }
    return 0;
}
