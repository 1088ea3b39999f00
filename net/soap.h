/* soap: the GSMA SOAP 1.2 binding — envelopes with WS-Addressing headers, the BaseRequestType /
 * BaseResponseType fields and each function's body, decoded into and encoded from es_msg by the
 * function table. No HSM or database use: the decoder is fuzzed on its own (tests/fuzz/fuzz_soap.c). */
#ifndef SM_NET_SOAP_H
#define SM_NET_SOAP_H

#include "lib/buf.h"
#include "lib/err.h"
#include "net/es_table.h"
#include "net/xml.h"

#define SOAP12_NS "http://www.w3.org/2003/05/soap-envelope"
#define SOAP11_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define WSA_NS "http://www.w3.org/2005/08/addressing"
#define RPS_NS "http://namespaces.gsma.org/esim-messaging/3"

/* Why a message could not be decoded at all (answered with a SOAP Fault, never with a function status). */
typedef enum soap_fault {
    SOAP_FAULT_NONE = 0,
    SOAP_FAULT_SENDER,          /* malformed XML, DTD/entities, not an envelope, unknown body element */
    SOAP_FAULT_VERSION,         /* SOAP 1.1 or another envelope namespace */
    SOAP_FAULT_MUST_UNDERSTAND, /* a mustUnderstand header block we do not process */
    SOAP_FAULT_LIMIT,           /* size, depth or node count over the configured limits */
} soap_fault;

/* Decodes a SOAP message. iface (0 = any) is the interface of the endpoint it arrived on.
 * Returns SM_OK with m->fn set when the function was identified; if its fields are invalid
 * (missing, malformed), *fst is a Failed status (1.6/2.x naming the field) and m->body may be
 * partial. Any other return: *fault says which fault to answer, err why. */
sm_rc soap_decode(const char *buf, size_t len, const xml_limits *lim, es_iface iface, es_msg *m, es_status *fst,
                  soap_fault *fault, sm_err *err);

/* Encodes m (request, notification or response of m->fn) as a SOAP 1.2 envelope with the
 * WS-Addressing headers of m->hdr. The body must match the function's type (es_validate). */
sm_rc soap_encode(const es_msg *m, sm_buf *out, sm_err *err);

/* A SOAP 1.2 Fault (code "Sender", "Receiver", "VersionMismatch", "MustUnderstand"), reason text. */
void soap_encode_fault(const char *code, const char *reason, const char *relates_to, sm_buf *out);

/* HTTP status for a fault kind (400, 413, 500). */
int soap_fault_http(soap_fault f);
const char *soap_fault_code(soap_fault f);

#endif
