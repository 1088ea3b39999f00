/* The procedure kinds of the appliance, one registration function per domain module. */
#include "appliance/engine_service.h"

const sm_proc_registrar sm_proc_registrars[] = {
    NULL,
};
const size_t sm_nproc_registrars = 0;
