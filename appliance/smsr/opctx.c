/* The procedure context record (TLV, context-specific tags). */
#include "appliance/smsr/opctx.h"

#include <string.h>

#include "crypto/tlv.h"

enum {
    T_OP = 0x80, T_QNAME, T_BINDING, T_RELATES, T_FCID, T_ADDRESS, T_PEER, T_PEER_ROLE, T_CALLER, T_CALLER_ROLE,
    T_IFACE, T_ICCID, T_AID, T_MEM, T_MNO, T_ICCIDS, T_REPLY
};

static int put_str(sm_buf *b, uint8_t tag, const char *s) { return *s ? tlv_put(b, tag, s, strlen(s)) : 0; }

sm_rc smsr_opctx_encode(const smsr_opctx *o, sm_buf *out, sm_err *err)
{
    uint8_t mem[8];
    for (int i = 0; i < 8; i++)
        mem[i] = (uint8_t)((uint64_t)o->required_memory >> (56 - 8 * i));
    int r = put_str(out, T_OP, o->op) | tlv_put_u8(out, T_REPLY, o->has_reply) | put_str(out, T_QNAME, o->reply.qname) |
            tlv_put_u8(out, T_BINDING, (uint8_t)o->reply.binding) | put_str(out, T_RELATES, o->reply.relates_to) |
            put_str(out, T_FCID, o->reply.fcid) | put_str(out, T_ADDRESS, o->reply.address) |
            put_str(out, T_PEER, o->reply.peer_id) | tlv_put_u8(out, T_PEER_ROLE, (uint8_t)o->reply.peer_role) |
            put_str(out, T_CALLER, o->caller) | tlv_put_u8(out, T_CALLER_ROLE, (uint8_t)o->caller_role) |
            tlv_put_u8(out, T_IFACE, (uint8_t)o->iface) | put_str(out, T_ICCID, o->iccid) |
            (o->aid.len ? tlv_put(out, T_AID, o->aid.b, o->aid.len) : 0) | tlv_put(out, T_MEM, mem, 8) |
            put_str(out, T_MNO, o->mno_id) | put_str(out, T_ICCIDS, o->iccids);
    if (r != 0 || out->failed)
        return sm_errf(err, SM_ENOMEM, "procedure context: out of memory");
    return SM_OK;
}

static sm_rc get_str(const tlv *t, char *out, size_t cap, sm_err *err)
{
    if (t->len >= cap || memchr(t->val, 0, t->len))
        return sm_errf(err, SM_EPARSE, "procedure context: field %X of %zu bytes", (unsigned)t->tag, t->len);
    memcpy(out, t->val, t->len);
    out[t->len] = 0;
    return SM_OK;
}

static sm_rc get_u8(const tlv *t, unsigned max, int *out, sm_err *err)
{
    if (t->len != 1 || t->val[0] > max)
        return sm_errf(err, SM_EPARSE, "procedure context: field %X is not a small number", (unsigned)t->tag);
    *out = t->val[0];
    return SM_OK;
}

sm_rc smsr_opctx_decode(const uint8_t *p, size_t len, smsr_opctx *o, sm_err *err)
{
    memset(o, 0, sizeof *o);
    tlv_rd rd;
    tlv_rd_init(&rd, p, len, TLV_F_MINLEN);
    tlv t;
    sm_rc rc;
    int v = 0;
    while ((rc = tlv_next(&rd, &t, err)) == SM_OK) {
        switch (t.tag) {
        case T_OP: rc = get_str(&t, o->op, sizeof o->op, err); break;
        case T_REPLY: rc = get_u8(&t, 1, &v, err); o->has_reply = v == 1; break;
        case T_QNAME: rc = get_str(&t, o->reply.qname, sizeof o->reply.qname, err); break;
        case T_BINDING: rc = get_u8(&t, ES_BIND_REST, &v, err); o->reply.binding = (es_binding)v; break;
        case T_RELATES: rc = get_str(&t, o->reply.relates_to, sizeof o->reply.relates_to, err); break;
        case T_FCID: rc = get_str(&t, o->reply.fcid, sizeof o->reply.fcid, err); break;
        case T_ADDRESS: rc = get_str(&t, o->reply.address, sizeof o->reply.address, err); break;
        case T_PEER: rc = get_str(&t, o->reply.peer_id, sizeof o->reply.peer_id, err); break;
        case T_PEER_ROLE: rc = get_u8(&t, ES_ROLE_SMSR, &v, err); o->reply.peer_role = (es_role)v; break;
        case T_CALLER: rc = get_str(&t, o->caller, sizeof o->caller, err); break;
        case T_CALLER_ROLE: rc = get_u8(&t, ES_ROLE_SMSR, &v, err); o->caller_role = (es_role)v; break;
        case T_IFACE: rc = get_u8(&t, ES_IF_ES7, &v, err); o->iface = (es_iface)v; break;
        case T_ICCID: rc = get_str(&t, o->iccid, sizeof o->iccid, err); break;
        case T_AID:
            if (t.len < 1 || t.len > sizeof o->aid.b)
                return sm_errf(err, SM_EPARSE, "procedure context: AID of %zu bytes", t.len);
            memcpy(o->aid.b, t.val, t.len);
            o->aid.len = t.len;
            break;
        case T_MEM:
            if (t.len != 8)
                return sm_errf(err, SM_EPARSE, "procedure context: memory figure of %zu bytes", t.len);
            o->required_memory = 0;
            for (int i = 0; i < 8; i++)
                o->required_memory = (int64_t)((uint64_t)o->required_memory << 8 | t.val[i]);
            break;
        case T_MNO: rc = get_str(&t, o->mno_id, sizeof o->mno_id, err); break;
        case T_ICCIDS: rc = get_str(&t, o->iccids, sizeof o->iccids, err); break;
        default:
            return sm_errf(err, SM_EPARSE, "procedure context: unknown field %X", (unsigned)t.tag);
        }
        if (rc != SM_OK)
            return rc;
    }
    return rc == SM_ENOTFOUND ? SM_OK : rc;
}
