/* The procedure kinds of the appliance, one registration function per domain module. */
#include "appliance/engine_service.h"
#include "appliance/smdp/service.h"
#include "appliance/smsr/service.h"

const sm_proc_registrar sm_proc_registrars[] = {
    smdp_proc_registrar, /* es2.DownloadProfile, smdp.DeleteISDP */
    smsr_proc_registrar, /* smsr.CreateISDP, smsr.SendData, smsr.ProfileOp, smsr.AuditEIS */
};
const size_t sm_nproc_registrars = sizeof sm_proc_registrars / sizeof sm_proc_registrars[0];
