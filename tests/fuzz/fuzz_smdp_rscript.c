/* libFuzzer target: appliance/smdp/rscript, the SM-DP's reading of what an eUICC answered its ES8
 * data (ES3.SendData's EuiccResponseData: response scripts with R-APDUs and inline SCP03t answers) and
 * of an ISD-P's installation result (EUICCResponse). Any input is refused or read consistently: the
 * SCP03t answers collected are whole TLVs of the input, R-APDU views stay inside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smdp/rscript.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_rscript rs;
    sm_buf scp;
    sm_buf_init(&scp);
    sm_err err = {0};
    if (dp_rscript_parse(data, size, &rs, &scp, &err) == SM_OK) {
        if (rs.n > DP_RAPDU_MAX || scp.len > size || (rs.nscp == 0) != (scp.len == 0))
            abort();
        for (size_t i = 0; i < rs.n; i++)
            if (rs.r[i].data < data || rs.r[i].data + rs.r[i].len > data + size)
                abort();
    } else if (err.code == SM_OK) {
        abort();
    }
    sm_buf_free(&scp);
    dp_pe_report rep;
    sm_err e2 = {0};
    if (dp_euicc_response(data, size, &rep, &e2) == SM_OK) {
        if ((rep.bad_pe >= 0) != (rep.bad_status != 0) || rep.npes > size)
            abort();
    } else if (e2.code == SM_OK) {
        abort();
    }
    return 0;
}
