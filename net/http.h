/* http: an incremental, strict HTTP/1.1 message parser (requests for the server, responses for the
 * client) over a libevent evbuffer, with header and body limits enforced while reading — a body
 * over the limit is refused from its Content-Length or as soon as chunks pass it, never buffered. */
#ifndef SM_NET_HTTP_H
#define SM_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/buffer.h>

#include "lib/buf.h"

#define HTTP_MAX_HEADERS 64

typedef struct http_limits {
    size_t max_header_bytes; /* request/status line + headers */
    size_t max_body_bytes;
} http_limits;

typedef enum http_state { HTTP_ST_START = 0, HTTP_ST_HEADERS, HTTP_ST_BODY, HTTP_ST_CHUNK_SIZE, HTTP_ST_CHUNK_DATA,
                          HTTP_ST_CHUNK_CRLF, HTTP_ST_TRAILERS, HTTP_ST_DONE } http_state;

typedef struct http_msg {
    bool request;
    char method[16];
    char target[1024];
    int status;                      /* responses */
    int minor;                       /* HTTP/1.<minor> */
    struct {
        char *name, *value;
    } hdr[HTTP_MAX_HEADERS];
    size_t nhdr;
    long long content_length;        /* -1 = none */
    bool chunked;
    bool keep_alive;
    sm_buf body;
    /* parser state */
    http_state st;
    size_t header_bytes;
    size_t chunk_left;
    bool started;                    /* at least one byte of this message seen */
} http_msg;

typedef enum http_rc { HTTP_MORE = 0, HTTP_DONE, HTTP_ERROR } http_rc;

void http_msg_init(http_msg *m, bool request);
void http_msg_reset(http_msg *m);   /* for the next message on the connection */
void http_msg_free(http_msg *m);

/* Consumes what it can from in. HTTP_ERROR: *status is the HTTP status to answer (400, 413, 431,
 * 501, 505) and *why a short reason. */
http_rc http_parse(http_msg *m, struct evbuffer *in, const http_limits *lim, int *status, const char **why);

/* Header value by name (case-insensitive); NULL if absent. */
const char *http_header(const http_msg *m, const char *name);
const char *http_reason(int status);

#endif
