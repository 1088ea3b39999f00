/* xmldsig: the check of an EIS's EumSignature (ds:Signature) over its EumSignedInfo with the EUM's key,
 * for ES1.RegisterEIS. Two forms are accepted, nothing else: standard XML-DSig (ECDSA-SHA256 over the
 * exclusive c14n of ds:SignedInfo, whose Reference digests EumSignedInfo) and the simulator's
 * (docs/euicc-batch-format.md: the signature and digest over the EumSignedInfo bytes themselves). */
#ifndef SM_SMSR_XMLDSIG_H
#define SM_SMSR_XMLDSIG_H

#include <stddef.h>

#include "crypto/gpcert.h"
#include "lib/err.h"

/* signed_c14n: EumSignedInfo as the ES layer kept it (exclusive c14n, EumSignedInfo@c14n);
 * sig_xml: the ds:Signature element as text. SM_EVERIFY when the signature does not verify, SM_EPARSE
 * when the signature element is unusable. */
sm_rc smsr_xmldsig_verify(const char *signed_c14n, size_t slen, const char *sig_xml, size_t siglen,
                          const gpcert_issuer *eum, sm_err *err);

#endif
