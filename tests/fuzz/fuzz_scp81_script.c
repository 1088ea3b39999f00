/* libFuzzer target: SCP81 command and response scripts (AE/AA, AF/AB), R-APDU splitting, the PSK
 * identity text and the X-Admin-* request headers. Pure parsing, no HSM calls. Invariant: a parsed
 * command script's elements re-encode to its content. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/scp81.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sm_err err = {0};
    scp81_parsed ps;
    for (int response = 0; response < 2; response++) {
        if (scp81_script_parse(data, size, response, &ps, &err) != SM_OK)
            continue;
        size_t total = 0;
        for (size_t i = 0; i < ps.n; i++) {
            const scp81_item *it = &ps.items[i];
            if (it->raw < data || it->raw + it->rawlen > data + size || it->val + it->len > it->raw + it->rawlen)
                abort();
            total += it->rawlen;
            const uint8_t *d;
            size_t dl;
            uint16_t sw;
            if (it->tag == 0x23 && scp81_rapdu(it, &d, &dl, &sw, &err) == SM_OK && dl + 2 != it->len)
                abort();
        }
        if (!response && !ps.indefinite && ps.chaining < 0) {
            /* rebuild the definite script from its elements: same bytes */
            sm_buf b;
            sm_buf_init(&b);
            scp81_script sc;
            sm_err e2 = {0};
            scp81_script_open(&sc, &b, false, &e2);
            for (size_t i = 0; i < ps.n; i++)
                scp81_script_raw(&sc, ps.items[i].raw, ps.items[i].rawlen, &e2);
            scp81_script_close(&sc, &e2);
            if (e2.code == SM_OK && data[1] < 0x80 && (b.len != size || memcmp(b.data, data, size) != 0))
                abort();
            sm_buf_free(&b);
        }
        (void)total;
        scp81_parsed_free(&ps);
    }
    /* the same bytes as a PSK identity and as header lines "Name: value\n" */
    char text[512];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = 0;
    scp81_psk_id id;
    scp81_psk_id_decode(text, strlen(text), &id, &err);
    scp81_request r;
    scp81_request_init(&r);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = 0;
        sm_err e3 = {0};
        scp81_request_header(&r, line, colon + 1, &e3);
    }
    scp81_request_check(&r, size, &err);
    return 0;
}
