/* rest: the JSON binding of the same ES functions. POST /gsma/rest/<es>/<Function> carries a
 * request, .../<Function>Response an asynchronous response, .../Handle...Notification a
 * notification; the body is {"header":{...},"body":{...}} with the XSD field names (docs/net.md).
 * No HSM or database use: the decoder is fuzzed on its own (tests/fuzz/fuzz_rest.c). */
#ifndef SM_NET_REST_H
#define SM_NET_REST_H

#include "lib/buf.h"
#include "lib/err.h"
#include "net/es_table.h"
#include "net/json.h"

#define REST_PREFIX "/gsma/rest/"

/* Maps a request path to a function and message kind; false if it names none. */
bool rest_parse_path(const char *path, const es_function **f, es_kind *kind);
/* The path of a message: "/gsma/rest/es3/CreateISDPResponse". */
void rest_path(const es_function *f, es_kind kind, char *out, size_t cap);

/* Decodes a JSON message of function f and kind. SM_OK: *fst is success, or Failed naming the
 * field when fields are missing or malformed; SM_EPARSE / SM_ELIMIT when the JSON itself is bad. */
sm_rc rest_decode(const char *buf, size_t len, const json_limits *lim, const es_function *f, es_kind kind, es_msg *m,
                  es_status *fst, sm_err *err);

/* Encodes m as JSON. */
sm_rc rest_encode(const es_msg *m, sm_buf *out, sm_err *err);
/* A JSON error answer carrying only a status ({"header":{"functionExecutionStatus":...}}). */
void rest_encode_status(const es_status *st, const char *relates_to, sm_buf *out);

/* Writes the OpenAPI 3.0 description of every served function and message (smctl es openapi). */
void rest_openapi(sm_buf *out);

#endif
