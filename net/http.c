/* Strict incremental HTTP/1.1 parsing. */
#include "net/http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_msg_init(http_msg *m, bool request)
{
    memset(m, 0, sizeof *m);
    m->request = request;
    m->content_length = -1;
    sm_buf_init(&m->body);
}

static void free_headers(http_msg *m)
{
    for (size_t i = 0; i < m->nhdr; i++) {
        free(m->hdr[i].name);
        free(m->hdr[i].value);
    }
    m->nhdr = 0;
}

void http_msg_reset(http_msg *m)
{
    bool req = m->request;
    free_headers(m);
    sm_buf_free(&m->body);
    http_msg_init(m, req);
}

void http_msg_free(http_msg *m)
{
    free_headers(m);
    sm_buf_free(&m->body);
}

const char *http_header(const http_msg *m, const char *name)
{
    for (size_t i = 0; i < m->nhdr; i++)
        if (!strcasecmp(m->hdr[i].name, name))
            return m->hdr[i].value;
    return NULL;
}

const char *http_reason(int s)
{
    switch (s) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

#define FAIL(s, w)      \
    do {                \
        *status = (s);  \
        *why = (w);     \
        return HTTP_ERROR; \
    } while (0)

static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

/* reads one CRLF line into a malloc'd string; NULL if incomplete. *toolong when the line cannot fit */
static char *read_line(struct evbuffer *in, size_t room, bool *toolong, size_t *used)
{
    *toolong = false;
    struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_CRLF_STRICT);
    if (p.pos < 0) {
        if (evbuffer_get_length(in) > room)
            *toolong = true;
        return NULL;
    }
    if ((size_t)p.pos + 2 > room) {
        *toolong = true;
        return NULL;
    }
    size_t n;
    char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT);
    *used = n + 2;
    return line;
}

static http_rc finish_headers(http_msg *m, const http_limits *lim, int *status, const char **why)
{
    const char *te = http_header(m, "Transfer-Encoding");
    const char *cl = http_header(m, "Content-Length");
    const char *conn = http_header(m, "Connection");
    m->keep_alive = m->minor >= 1;
    if (conn) {
        if (strcasestr(conn, "close"))
            m->keep_alive = false;
        else if (strcasestr(conn, "keep-alive"))
            m->keep_alive = true;
    }
    if (te && cl)
        FAIL(400, "both Transfer-Encoding and Content-Length");
    if (te) {
        if (strcasecmp(te, "chunked"))
            FAIL(501, "unsupported Transfer-Encoding");
        m->chunked = true;
        m->st = HTTP_ST_CHUNK_SIZE;
        return HTTP_MORE;
    }
    if (cl) {
        char *end = NULL;
        errno = 0;
        if (!*cl || *cl == '-' || *cl == '+')
            FAIL(400, "bad Content-Length");
        long long v = strtoll(cl, &end, 10);
        if (errno || !end || *end || v < 0)
            FAIL(400, "bad Content-Length");
        if ((unsigned long long)v > lim->max_body_bytes)
            FAIL(413, "body larger than the limit");
        m->content_length = v;
        if (v == 0) {
            m->st = HTTP_ST_DONE;
            return HTTP_DONE;
        }
        m->st = HTTP_ST_BODY;
        return HTTP_MORE;
    }
    if (m->request && (!strcmp(m->method, "POST") || !strcmp(m->method, "PUT")))
        FAIL(411, "a request body needs Content-Length or chunked encoding");
    if (!m->request && !(m->status == 204 || m->status == 304 || m->status / 100 == 1)) {
        /* response delimited by close: not supported by our client (peers send a length) */
        FAIL(502, "response without Content-Length or chunked encoding");
    }
    m->st = HTTP_ST_DONE;
    return HTTP_DONE;
}

static http_rc start_line(http_msg *m, char *line, int *status, const char **why)
{
    if (m->request) {
        char *sp1 = strchr(line, ' ');
        char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp1 || !sp2 || strchr(sp2 + 1, ' '))
            FAIL(400, "malformed request line");
        *sp1 = 0;
        *sp2 = 0;
        if (!*line || strlen(line) >= sizeof m->method)
            FAIL(400, "bad method");
        for (char *c = line; *c; c++)
            if (!tchar(*c))
                FAIL(400, "bad method");
        if (strlen(sp1 + 1) >= sizeof m->target || sp1[1] != '/')
            FAIL(400, "bad request target");
        for (char *c = sp1 + 1; *c; c++)
            if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
                FAIL(400, "bad request target");
        const char *v = sp2 + 1;
        if (strncmp(v, "HTTP/1.", 7) || !(v[7] == '0' || v[7] == '1') || v[8])
            FAIL(505, "only HTTP/1.0 and HTTP/1.1");
        strcpy(m->method, line);
        strcpy(m->target, sp1 + 1);
        m->minor = v[7] - '0';
    } else {
        if (strncmp(line, "HTTP/1.", 7) || !(line[7] == '0' || line[7] == '1') || line[8] != ' ')
            FAIL(502, "malformed status line");
        m->minor = line[7] - '0';
        char *end = NULL;
        long s = strtol(line + 9, &end, 10);
        if (s < 100 || s > 599 || !end || (*end && *end != ' '))
            FAIL(502, "malformed status line");
        m->status = (int)s;
    }
    return HTTP_MORE;
}

static http_rc header_line(http_msg *m, char *line, int *status, const char **why)
{
    int bad = m->request ? 400 : 502;
    if (*line == ' ' || *line == '\t')
        FAIL(bad, "obsolete header folding");
    char *colon = strchr(line, ':');
    if (!colon || colon == line)
        FAIL(bad, "malformed header");
    for (char *c = line; c < colon; c++)
        if (!tchar(*c))
            FAIL(bad, "malformed header name");
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vl = strlen(v);
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        v[--vl] = 0;
    for (size_t i = 0; i < vl; i++)
        if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
            FAIL(bad, "control character in a header");
    if (m->nhdr >= HTTP_MAX_HEADERS)
        FAIL(m->request ? 431 : 502, "too many header fields");
    const char *prev = http_header(m, line);
    if (prev && (!strcasecmp(line, "Content-Length") || !strcasecmp(line, "Transfer-Encoding") ||
                 !strcasecmp(line, "Host")))
        FAIL(bad, "repeated framing header");
    m->hdr[m->nhdr].name = strdup(line);
    m->hdr[m->nhdr].value = strdup(v);
    if (!m->hdr[m->nhdr].name || !m->hdr[m->nhdr].value) {
        free(m->hdr[m->nhdr].name);
        free(m->hdr[m->nhdr].value);
        FAIL(500, "out of memory");
    }
    m->nhdr++;
    return HTTP_MORE;
}

http_rc http_parse(http_msg *m, struct evbuffer *in, const http_limits *lim, int *status, const char **why)
{
    while (1) {
        switch (m->st) {
        case HTTP_ST_START:
        case HTTP_ST_HEADERS:
        case HTTP_ST_TRAILERS: {
            if (m->st == HTTP_ST_START) {
                /* tolerate empty lines before a request (RFC 9112 §2.2) */
                while (evbuffer_get_length(in) >= 2) {
                    char two[2];
                    evbuffer_copyout(in, two, 2);
                    if (two[0] != '\r' || two[1] != '\n')
                        break;
                    evbuffer_drain(in, 2);
                }
            }
            if (evbuffer_get_length(in))
                m->started = true;
            bool toolong;
            size_t used = 0;
            size_t room = lim->max_header_bytes > m->header_bytes ? lim->max_header_bytes - m->header_bytes : 0;
            char *line = read_line(in, room, &toolong, &used);
            if (!line) {
                if (toolong)
                    FAIL(m->request ? 431 : 502, "header block larger than the limit");
                return HTTP_MORE;
            }
            m->header_bytes += used;
            http_rc r = HTTP_MORE;
            if (m->st == HTTP_ST_START) {
                r = start_line(m, line, status, why);
                m->st = HTTP_ST_HEADERS;
            } else if (!*line) {
                if (m->st == HTTP_ST_TRAILERS) {
                    m->st = HTTP_ST_DONE;
                    free(line);
                    return HTTP_DONE;
                }
                r = finish_headers(m, lim, status, why);
                free(line);
                if (r != HTTP_MORE)
                    return r;
                continue;
            } else if (m->st == HTTP_ST_HEADERS) {
                r = header_line(m, line, status, why);
            } /* trailer fields are read and ignored */
            free(line);
            if (r == HTTP_ERROR)
                return r;
            break;
        }
        case HTTP_ST_BODY: {
            size_t have = evbuffer_get_length(in);
            size_t need = (size_t)m->content_length - m->body.len;
            size_t n = have < need ? have : need;
            if (n) {
                if (sm_buf_reserve(&m->body, n) != 0)
                    FAIL(500, "out of memory");
                evbuffer_remove(in, m->body.data + m->body.len, n);
                m->body.len += n;
            }
            if (m->body.len == (size_t)m->content_length) {
                m->st = HTTP_ST_DONE;
                return HTTP_DONE;
            }
            return HTTP_MORE;
        }
        case HTTP_ST_CHUNK_SIZE: {
            bool toolong;
            size_t used = 0;
            char *line = read_line(in, 64, &toolong, &used);
            if (!line) {
                if (toolong)
                    FAIL(400, "bad chunk size line");
                return HTTP_MORE;
            }
            char *semi = strchr(line, ';');
            if (semi)
                *semi = 0;
            char *end = NULL;
            errno = 0;
            unsigned long long sz = strtoull(line, &end, 16);
            bool ok = *line && end && !*end && !errno && line[0] != '-' && line[0] != '+';
            free(line);
            if (!ok)
                FAIL(400, "bad chunk size");
            if (sz > lim->max_body_bytes || m->body.len + sz > lim->max_body_bytes)
                FAIL(413, "body larger than the limit");
            if (sz == 0) {
                m->st = HTTP_ST_TRAILERS;
                break;
            }
            m->chunk_left = (size_t)sz;
            m->st = HTTP_ST_CHUNK_DATA;
            break;
        }
        case HTTP_ST_CHUNK_DATA: {
            size_t have = evbuffer_get_length(in);
            size_t n = have < m->chunk_left ? have : m->chunk_left;
            if (n) {
                if (sm_buf_reserve(&m->body, n) != 0)
                    FAIL(500, "out of memory");
                evbuffer_remove(in, m->body.data + m->body.len, n);
                m->body.len += n;
                m->chunk_left -= n;
            }
            if (m->chunk_left)
                return HTTP_MORE;
            m->st = HTTP_ST_CHUNK_CRLF;
            break;
        }
        case HTTP_ST_CHUNK_CRLF: {
            if (evbuffer_get_length(in) < 2)
                return HTTP_MORE;
            char two[2];
            evbuffer_remove(in, two, 2);
            if (two[0] != '\r' || two[1] != '\n')
                FAIL(400, "chunk not followed by CRLF");
            m->st = HTTP_ST_CHUNK_SIZE;
            break;
        }
        case HTTP_ST_DONE:
            return HTTP_DONE;
        }
    }
}
