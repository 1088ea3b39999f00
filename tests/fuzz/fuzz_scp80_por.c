/* libFuzzer target: SCP80 response packets (PoR) and SMS user-data headers — the framing parser,
 * the full PoR path for an SPI without PoR security (no keys, so no HSM calls), and joining a
 * concatenated message cut from the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/scp80.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sm_err err = {0};
    size_t udhl, off, slen;
    uint8_t tar[3], rhl;
    if (scp80_parse_por_frame(data, size, &udhl, tar, &off, &slen, &rhl, &err) == SM_OK) {
        if (off + slen != size || udhl > size)
            abort();
        /* the same PoR as the answer to a command without PoR security */
        scp80_params cmd = {.spi = {0x00, rhl == 0x0A ? 0x01 : 0x09}, .kic = 0x12, .kid = 0x12};
        memcpy(cmd.tar, tar, 3);
        if (rhl == 0x0A) {
            scp80_por por;
            sm_buf d;
            sm_buf_init(&d);
            sm_err e2 = {0};
            if (scp80_unwrap_por(NULL, &cmd, NULL, NULL, data, size, &por, &d, &e2) == SM_OK &&
                (d.len != por.data_len || por.data_len > slen))
                abort();
            sm_buf_free(&d);
        }
    }
    /* cut the input into up to 4 SMS and try to join them */
    scp80_sms parts[4];
    size_t n = 0, pos = 0;
    while (n < 4 && pos < size) {
        size_t l = data[pos] % (SCP80_UD_MAX + 1);
        pos++;
        if (l > size - pos)
            l = size - pos;
        memcpy(parts[n].ud, data + pos, l);
        parts[n].len = l;
        pos += l;
        n++;
    }
    if (n) {
        sm_buf j;
        sm_buf_init(&j);
        sm_err e3 = {0};
        scp80_sms_join(parts, n, &j, &e3);
        sm_buf_free(&j);
    }
    return 0;
}
