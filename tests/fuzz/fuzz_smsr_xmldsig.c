/* libFuzzer target: appliance/smsr/xmldsig.c, the EumSignature check of ES1.RegisterEIS — any
 * ds:Signature text and signed EumSignedInfo (split at the first NUL of the input) are parsed within the
 * hardened XML limits and either verify or are refused; nothing made up verifies with a fixed key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smsr/xmldsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul)
        return 0;
    size_t sl = (size_t)(nul - data), gl = size - sl - 1;
    char *signed_part = malloc(sl + 1), *sig = malloc(gl + 1);
    if (!signed_part || !sig) {
        free(signed_part);
        free(sig);
        return 0;
    }
    memcpy(signed_part, data, sl);
    signed_part[sl] = 0;
    memcpy(sig, nul + 1, gl);
    sig[gl] = 0;
    /* the P-256 generator as the EUM key: nobody has its private key (1) ... */
    static const uint8_t G[65] = {0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5,
                                  0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4,
                                  0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a,
                                  0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33,
                                  0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};
    gpcert_issuer eum;
    memset(&eum, 0, sizeof eum);
    memcpy(eum.pub, G, 65);
    eum.curve = HSM_CURVE_P256;
    sm_err err = {0};
    sm_rc rc = smsr_xmldsig_verify(signed_part, sl, sig, gl, &eum, &err);
    if (rc == SM_OK || err.code == SM_OK)
        abort(); /* ... so nothing verifies, and every refusal says why */
    free(signed_part);
    free(sig);
    return 0;
}
