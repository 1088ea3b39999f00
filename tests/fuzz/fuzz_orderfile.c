/* libFuzzer target: appliance/smdp/orderfile, the order file parser (strict, bounded,
 * all-or-nothing): any input either parses into a consistent order or fails with nothing
 * returned. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smdp/orderfile.h"
#include "appliance/smdp/persodata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smdp_order *o = (smdp_order *)data;
    sm_err err = {0};
    if (smdp_order_parse((const char *)data, size, &o, &err) != SM_OK) {
        if (o != NULL || err.code == SM_OK)
            abort();
        return 0;
    }
    /* what the parser accepted, the run can enumerate: ranges hold for the whole quantity */
    char iccid[21], imsi[16];
    if (o->quantity < 1 || smdp_iccid_at(o->iccid_start, o->quantity - 1, iccid, &err) != SM_OK ||
        smdp_imsi_at(o->imsi_start, o->mnc_digits, o->quantity - 1, imsi, &err) != SM_OK || !smdp_name_ok(o->mno))
        abort();
    for (size_t i = 0; i < o->nov; i++)
        if (o->ov[i].index >= o->quantity || smdp_order_find(o, o->ov[i].index) == NULL)
            abort();
    smdp_order_free(o);
    return 0;
}
