/* libFuzzer target: the REST decoder. The first byte picks the function and kind from the table,
 * the rest is the JSON message; a message that decodes must re-encode and decode again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/rest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const es_function *f = &es_functions[data[0] % es_nfunctions];
    es_kind kind = f->mode == ES_NOTIFY ? ES_KIND_NOTIFICATION : (data[0] & 0x80) ? ES_KIND_RESPONSE : ES_KIND_REQUEST;
    json_limits lim = {.max_bytes = 1 << 20, .max_depth = 32, .max_nodes = 5000};
    es_msg m;
    es_status st;
    sm_err err = {0};
    if (rest_decode((const char *)data + 1, size - 1, &lim, f, kind, &m, &st, &err) == SM_OK &&
        st.exec == ES_EXEC_SUCCESS) {
        sm_buf b;
        sm_buf_init(&b);
        if (rest_encode(&m, &b, &err) == SM_OK) {
            es_msg m2;
            es_status st2;
            json_limits big = {.max_bytes = 1 << 24, .max_depth = 64, .max_nodes = 100000};
            if (rest_decode((const char *)b.data, b.len, &big, f, kind, &m2, &st2, &err) != SM_OK ||
                st2.exec != ES_EXEC_SUCCESS)
                abort();
            es_msg_clear(&m2);
        }
        sm_buf_free(&b);
    }
    es_msg_clear(&m);
    return 0;
}
