/* http: the card's side of GP Amd B RAM over HTTP: builds the POST requests (X-Admin-* headers) and
 * parses the SM-SR's responses incrementally (Content-Length or chunked), bounded. */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/buf.h"

#define SIM_HTTP_MAX_HEADERS 8192
#define SIM_HTTP_MAX_BODY (1u << 20)

typedef struct sim_http_resp {
    int status;
    char next_uri[512];
    char target[128];      /* X-Admin-Targeted-Application */
    char content_type[128];
    sim_buf body;
} sim_http_resp;

/* POST uri. status_hdr NULL = no X-Admin-Script-Status (the first POST). */
void sim_http_post(sim_buf *out, const char *host, const char *uri, const char *from, const char *status_hdr,
                   int resume, const uint8_t *body, size_t n);
/* Parses one response from p[0..n). Returns 1 complete (*used = bytes consumed), 0 need more, -1 bad
 * (message in err). r->body must be initialised by the caller and is reset here. */
int sim_http_parse(const uint8_t *p, size_t n, sim_http_resp *r, size_t *used, sim_err *err);
/* "//aid/A000000559/1010FFFFFFFF8900001100" -> AID bytes; 0 on success. */
int sim_http_target_aid(const char *s, uint8_t aid[16], size_t *len);

#endif
