/* The default notification an eUICC sends (procedures.md §11.4, docs/simulator.md):
 * E1 { 4C EID(16) | 4D type(1) | 4E sequence number(2) | 4F ISD-P AID [| 14 IMEI | 6D MEID] }.
 * Strict and bounded: one E1 TLV spanning the input, mandatory elements once each, sizes checked. */
#include <string.h>

#include "appliance/es5/internal.h"
#include "crypto/tlv.h"

sm_rc es5_notif_parse(const uint8_t *p, size_t len, es5_notif_msg *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    tlv top;
    sm_rc rc = tlv_parse_one(p, len, 0, &top, err);
    if (rc != SM_OK)
        return sm_errf(err, SM_EPARSE, "es5: the notification is not one TLV");
    if (top.tag != 0xE1)
        return sm_errf(err, SM_EPARSE, "es5: notification tag %X, expected E1", (unsigned)top.tag);
    tlv_rd rd;
    tlv_rd_init(&rd, top.val, top.len, 0);
    bool have_eid = false, have_type = false, have_seq = false;
    tlv t;
    while ((rc = tlv_next(&rd, &t, err)) == SM_OK) {
        switch (t.tag) {
        case 0x4C:
            if (have_eid || t.len != 16)
                return sm_errf(err, SM_EPARSE, "es5: notification EID (4C) repeated or not 16 bytes");
            memcpy(out->eid, t.val, 16);
            have_eid = true;
            break;
        case 0x4D:
            if (have_type || t.len != 1)
                return sm_errf(err, SM_EPARSE, "es5: notification type (4D) repeated or not 1 byte");
            out->type = t.val[0];
            have_type = true;
            break;
        case 0x4E:
            if (have_seq || t.len != 2)
                return sm_errf(err, SM_EPARSE, "es5: notification sequence number (4E) repeated or not 2 bytes");
            out->seq = (uint16_t)(t.val[0] << 8 | t.val[1]);
            have_seq = true;
            break;
        case 0x4F:
        case 0x2F:
            if (out->aid_len || t.len < 5 || t.len > 16)
                return sm_errf(err, SM_EPARSE, "es5: notification ISD-P AID repeated or not 5..16 bytes");
            memcpy(out->aid, t.val, t.len);
            out->aid_len = t.len;
            break;
        default:
            break; /* IMEI (14), MEID (6D), later additions */
        }
    }
    if (rc != SM_ENOTFOUND)
        return sm_errf(err, SM_EPARSE, "es5: malformed element in the notification");
    if (!have_eid || !have_type || !have_seq)
        return sm_errf(err, SM_EPARSE, "es5: the notification lacks its EID, type or sequence number");
    out->raw = p;
    out->raw_len = len;
    return SM_OK;
}
