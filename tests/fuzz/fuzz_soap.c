/* libFuzzer target: the SOAP decoder (hardened XML parse, envelope, WS-Addressing, function body
 * by the table) and, when a message decodes, the encoder round trip: re-encoded output decodes again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/soap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xml_limits lim = {.max_bytes = 1 << 20, .max_depth = 32, .max_nodes = 5000};
    es_msg m;
    es_status st;
    soap_fault fault;
    sm_err err = {0};
    if (soap_decode((const char *)data, size, &lim, 0, &m, &st, &fault, &err) == SM_OK) {
        if (st.exec == ES_EXEC_SUCCESS) {
            sm_buf b;
            sm_buf_init(&b);
            if (soap_encode(&m, &b, &err) == SM_OK) {
                es_msg m2;
                es_status st2;
                xml_limits big = {.max_bytes = 1 << 24, .max_depth = 64, .max_nodes = 100000};
                if (soap_decode((const char *)b.data, b.len, &big, 0, &m2, &st2, &fault, &err) != SM_OK ||
                    m2.fn != m.fn || m2.kind != m.kind)
                    abort(); /* what we encode we must be able to decode */
                es_msg_clear(&m2);
            }
            sm_buf_free(&b);
        }
    }
    es_msg_clear(&m);
    return 0;
}
