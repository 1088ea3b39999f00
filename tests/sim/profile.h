/* profile: the card's Profile Package Interpreter for TCA/SAIP packages (concatenated DER PEs):
 * incremental PE splitting across segments, ordering checks, the values a card keeps, EUICCResponse. */
#ifndef SIM_PROFILE_H
#define SIM_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/buf.h"

/* PEStatus values (PE_Definitions) */
enum { SIM_PE_OK = 0, SIM_PE_NOT_SUPPORTED = 1, SIM_PE_MEMORY_FAILURE = 2, SIM_PE_BAD_VALUES = 3,
       SIM_PE_NOT_ENOUGH_MEMORY = 4, SIM_PE_INVALID_FORMAT = 5, SIM_PE_UNSUPPORTED_VERSION = 31 };

typedef struct sim_pkg_info {
    char iccid[21];
    char profile_type[101];
    uint8_t major, minor;
    uint8_t pol1; int has_pol1;
    char imsi[16];
    uint8_t k[32]; uint8_t klen;
    uint8_t opc[32]; uint8_t opclen;
    uint8_t algo;
    uint8_t conn[64]; uint8_t connlen;
    uint16_t n_pes, n_files;
    uint32_t content_bytes;
} sim_pkg_info;

typedef struct sim_pkg_parser {
    sim_pkg_info info;
    sim_buf pending;      /* bytes of an incomplete PE */
    uint8_t *idmap;       /* 32768-bit set of PE identifications seen */
    sim_buf statuses;     /* DER PEStatus entries */
    size_t total, limit;  /* bytes consumed; memory quota (0 = none) */
    int done, failed;
    uint8_t fail_status;
    uint16_t fail_id;
    char fail_msg[128];
} sim_pkg_parser;

void sim_pkg_init(sim_pkg_parser *p, size_t limit);
void sim_pkg_free(sim_pkg_parser *p);
/* Feeds plaintext bytes; parses every complete PE. A failure is recorded in p (failed, fail_status)
 * and returned as SIM_EPROTO; further bytes are refused. */
sim_rc sim_pkg_feed(sim_pkg_parser *p, const uint8_t *d, size_t n, sim_err *err);
/* EUICCResponse: 30 { A0 { PEStatus... } [81 00 profileInstallationAborted] }. */
sim_rc sim_pkg_response(const sim_pkg_parser *p, sim_buf *out, sim_err *err);
/* Parses a whole package at once (tools/tests). */
sim_rc sim_pkg_parse_all(const uint8_t *d, size_t n, sim_pkg_info *info, sim_err *err);

/* ICCID header encoding (BCD, natural order, F padded) <-> digits. */
void sim_iccid_from_bcd(const uint8_t v[10], char out[21]);
/* EF.IMSI content (length byte + swapped BCD) to digits; 0 on success. */
int sim_imsi_from_ef(const uint8_t *v, size_t n, char out[16]);

#endif
