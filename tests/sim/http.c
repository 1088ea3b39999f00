/* http: RAM over HTTP requests and response parsing. */
#include "tests/sim/http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void sim_http_post(sim_buf *out, const char *host, const char *uri, const char *from, const char *status_hdr,
                   int resume, const uint8_t *body, size_t n)
{
    sim_buf_printf(out,
                   "POST %s HTTP/1.1\r\nHost: %s\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\n"
                   "X-Admin-From: %s\r\n",
                   uri, host, from);
    if (status_hdr)
        sim_buf_printf(out, "Content-Type: application/vnd.globalplatform.card-content-mgt-response;version=1.0\r\n"
                            "X-Admin-Script-Status: %s\r\n", status_hdr);
    if (resume)
        sim_buf_str(out, "X-Admin-Resume: true\r\n");
    sim_buf_printf(out, "Content-Length: %zu\r\n\r\n", n);
    sim_buf_put(out, body, n);
}

static const char *find_eoh(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return (const char *)p + i;
    return NULL;
}

static void hval(const char *line, size_t ll, size_t nl, char *out, size_t cap)
{
    const char *v = line + nl + 1;
    size_t vl = ll - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) { v++; vl--; }
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
    if (vl >= cap)
        vl = cap - 1;
    memcpy(out, v, vl);
    out[vl] = 0;
}

int sim_http_parse(const uint8_t *p, size_t n, sim_http_resp *r, size_t *used, sim_err *err)
{
    const char *eoh = find_eoh(p, n < SIM_HTTP_MAX_HEADERS ? n : SIM_HTTP_MAX_HEADERS);
    if (!eoh) {
        if (n >= SIM_HTTP_MAX_HEADERS)
            return sim_errf(err, SIM_ELIMIT, "http: header block over %d bytes", SIM_HTTP_MAX_HEADERS), -1;
        return 0;
    }
    const char *s = (const char *)p, *end = eoh;
    r->status = 0;
    r->next_uri[0] = r->target[0] = r->content_type[0] = 0;
    sim_buf_reset(&r->body);
    if (end - s < 12 || strncmp(s, "HTTP/1.", 7) || s[8] != ' ' || !isdigit((unsigned char)s[9]) ||
        !isdigit((unsigned char)s[10]) || !isdigit((unsigned char)s[11]))
        return sim_errf(err, SIM_EPROTO, "http: bad status line"), -1;
    r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    long clen = -1;
    int chunked = 0;
    const char *line = memchr(s, '\n', (size_t)(end - s));
    while (line && line < end) {
        line++;
        const char *le = memchr(line, '\r', (size_t)(end - line + 1));
        if (!le || le > end)
            le = end;
        size_t ll = (size_t)(le - line);
        const char *colon = memchr(line, ':', ll);
        if (colon) {
            size_t nl = (size_t)(colon - line);
            char tmp[32];
            if (nl == 14 && !strncasecmp(line, "Content-Length", 14)) {
                hval(line, ll, nl, tmp, sizeof tmp);
                char *e2;
                clen = strtol(tmp, &e2, 10);
                if (*e2 || clen < 0 || clen > (long)SIM_HTTP_MAX_BODY)
                    return sim_errf(err, SIM_EPROTO, "http: bad Content-Length"), -1;
            } else if (nl == 17 && !strncasecmp(line, "Transfer-Encoding", 17)) {
                hval(line, ll, nl, tmp, sizeof tmp);
                chunked = !strcasecmp(tmp, "chunked");
            } else if (nl == 16 && !strncasecmp(line, "X-Admin-Next-URI", 16)) {
                hval(line, ll, nl, r->next_uri, sizeof r->next_uri);
            } else if (nl == 28 && !strncasecmp(line, "X-Admin-Targeted-Application", 28)) {
                hval(line, ll, nl, r->target, sizeof r->target);
            } else if (nl == 12 && !strncasecmp(line, "Content-Type", 12)) {
                hval(line, ll, nl, r->content_type, sizeof r->content_type);
            }
        }
        line = memchr(le, '\n', (size_t)(end - le + 1));
        if (line >= end)
            break;
    }
    size_t off = (size_t)(eoh - s) + 4;
    if (chunked) {
        for (;;) {
            const uint8_t *crlf = NULL;
            for (size_t i = off; i + 1 < n; i++)
                if (p[i] == '\r' && p[i + 1] == '\n') {
                    crlf = p + i;
                    break;
                }
            if (!crlf)
                return n - off > 32 ? (sim_errf(err, SIM_EPROTO, "http: bad chunk size line"), -1) : 0;
            char tmp[20];
            size_t sl = (size_t)(crlf - (p + off));
            if (sl == 0 || sl >= sizeof tmp)
                return sim_errf(err, SIM_EPROTO, "http: bad chunk size line"), -1;
            memcpy(tmp, p + off, sl);
            tmp[sl] = 0;
            char *e2;
            unsigned long cs = strtoul(tmp, &e2, 16);
            if (e2 == tmp || (*e2 && *e2 != ';') || cs > SIM_HTTP_MAX_BODY || r->body.len + cs > SIM_HTTP_MAX_BODY)
                return sim_errf(err, SIM_EPROTO, "http: bad chunk size"), -1;
            size_t data = off + sl + 2;
            if (n - data < cs + 2)
                return 0;
            if (cs == 0) {
                if (p[data] != '\r' || p[data + 1] != '\n')
                    return sim_errf(err, SIM_EPROTO, "http: trailers not supported"), -1;
                *used = data + 2;
                return sim_buf_check(&r->body, err) ? -1 : 1;
            }
            sim_buf_put(&r->body, p + data, cs);
            if (p[data + cs] != '\r' || p[data + cs + 1] != '\n')
                return sim_errf(err, SIM_EPROTO, "http: chunk not followed by CRLF"), -1;
            off = data + cs + 2;
        }
    }
    if (clen < 0)
        clen = 0; /* responses here always have a length; 204 has none */
    if (n - off < (size_t)clen)
        return 0;
    sim_buf_put(&r->body, p + off, (size_t)clen);
    *used = off + (size_t)clen;
    return sim_buf_check(&r->body, err) ? -1 : 1;
}

int sim_http_target_aid(const char *s, uint8_t aid[16], size_t *len)
{
    if (strncmp(s, "//aid/", 6))
        return -1;
    char hex[40];
    size_t k = 0;
    for (const char *q = s + 6; *q && k < sizeof hex - 1; q++)
        if (*q != '/')
            hex[k++] = *q;
    hex[k] = 0;
    if (sim_unhex(hex, aid, 16, len, NULL) != SIM_OK || *len < 5)
        return -1;
    return 0;
}
