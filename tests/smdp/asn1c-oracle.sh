#!/bin/sh
# Test oracle (manual, not part of `make test`): decodes every TS.48 package and personalised
# versions of each (made by appliance/smdp/personalise with new ICCID, IMSI, Ki/OPc incl. a 32-byte
# key, PIN/PUK/ADM and an appended EF.MSISDN record) with a decoder that asn1c generates from
# tests/profiles/PE_Definitions-3.3.1.asn, checks the module's constraints and requires a
# byte-identical DER re-encode. The generated code lives in a temporary directory only and is
# never linked into smbox. Needs the Debian package asn1c (skipped when absent).
set -eu
command -v asn1c >/dev/null || { echo "asn1c-oracle: asn1c not installed (apt-get install asn1c): skipped"; exit 0; }
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/smbox-asn1c.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/gen" "$tmp/out"
(cd "$tmp/gen" && asn1c -fcompound-names -fincludes-quoted "$src/tests/profiles/PE_Definitions-3.3.1.asn" >/dev/null 2>&1)
cat >"$tmp/gen/oracle.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ProfileElement.h"
static int cmpbuf(const void *b, size_t size, void *key) { 
    struct { uint8_t *p; size_t n; } *k = key; memcpy(k->p + k->n, b, size); k->n += size; return 0; }
int main(int argc, char **argv) {
    int bad = 0;
    for (int a = 1; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb"); static uint8_t buf[1<<21]; size_t n = fread(buf, 1, sizeof buf, f); fclose(f);
        size_t off = 0; int pes = 0; int ok = 1;
        static uint8_t out[1<<21]; struct { uint8_t *p; size_t n; } k = {out, 0};
        while (off < n) {
            ProfileElement_t *pe = NULL;
            asn_dec_rval_t r = ber_decode(0, &asn_DEF_ProfileElement, (void **)&pe, buf + off, n - off);
            if (r.code != RC_OK) { printf("%s: PE %d at %zu: decode failed\n", argv[a], pes, off); ok = 0; break; }
            char eb[256]; size_t el = sizeof eb;
            if (asn_check_constraints(&asn_DEF_ProfileElement, pe, eb, &el)) { printf("%s: PE %d: constraint: %s\n", argv[a], pes, eb); ok = 0; }
            asn_enc_rval_t e = der_encode(&asn_DEF_ProfileElement, pe, cmpbuf, &k);
            if (e.encoded < 0) { printf("%s: PE %d: encode failed\n", argv[a], pes); ok = 0; }
            ASN_STRUCT_FREE(asn_DEF_ProfileElement, pe);
            off += r.consumed; pes++;
        }
        if (ok && (k.n != n || memcmp(out, buf, n))) { printf("%s: re-encode differs (%zu vs %zu)\n", argv[a], k.n, n); ok = 0; }
        printf("%s: %s, %d PEs\n", argv[a], ok ? "ok (asn1c decode, constraints, DER re-encode identical)" : "FAILED", pes);
        bad |= !ok;
    }
    return bad;
}
EOF
cat >"$tmp/dump.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "appliance/smdp/personalise.h"
int main(int argc, char **argv) {
    static const uint8_t K[32] = {1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32};
    for (int a = 1; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb"); static uint8_t buf[1<<20]; size_t n = fread(buf,1,sizeof buf,f); fclose(f);
        saip_pkg *t; sm_err e = {0};
        if (saip_decode(buf, n, &t, &e)) { printf("%s\n", e.msg); return 1; }
        for (int var = 0; var < 2; var++) {
            smdp_perso v; memset(&v, 0, sizeof v);
            v.iccid = var ? "8944500102030405062" : "89445001020304050600"; v.imsi = var ? "00101012345606" : "234150999999999";
            v.ki = K; v.ki_len = var ? 32 : 16; v.opc = K + 16; v.opc_len = 16;
            v.code[SMDP_PIN1] = "1234"; v.code[SMDP_PIN2] = "43210"; v.code[SMDP_PUK1] = "12345678"; v.code[SMDP_PUK2] = "87654321";
            v.code[SMDP_ADM1] = "11223344"; v.code[SMDP_ADM2] = "55667788"; v.msisdn = var ? "3312345678" : "447700900123";
            smdp_secbuf o;
            if (smdp_personalise(t, &v, &o, &e)) { printf("%s\n", e.msg); return 1; }
            char p[512]; snprintf(p, sizeof p, "%s/%s.perso%d.der", getenv("OUT"), strrchr(argv[a], '/') + 1, var);
            FILE *w = fopen(p, "wb"); fwrite(o.p, 1, o.len, w); fclose(w);
            smdp_secbuf_free(&o);
        }
        saip_free(t);
    }
    return 0;
}
EOF
(cd "$tmp/gen" && gcc -w -O1 -I. -o "$tmp/oracle" oracle.c $(ls *.c | grep -v -e converter-sample.c -e '^oracle.c$'))
(cd "$src" && gcc -std=c11 -D_GNU_SOURCE -I. -o "$tmp/dump" "$tmp/dump.c" appliance/smdp/der.c appliance/smdp/saip.c \
    appliance/smdp/saip_check.c appliance/smdp/saip_enc.c appliance/smdp/simenc.c appliance/smdp/personalise.c \
    appliance/smdp/secbuf.c lib/err.c lib/secmem.c)
OUT="$tmp/out" "$tmp/dump" "$src"/tests/profiles/*.der
"$tmp/oracle" "$src"/tests/profiles/*.der "$tmp"/out/*.der
