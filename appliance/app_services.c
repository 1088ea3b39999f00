/* The daemon's services in start order. Each layer adds its entry here. */
#include "appliance/app.h"
#include "appliance/db_service.h"
#include "appliance/engine_service.h"
#include "appliance/es5/es5.h"
#include "appliance/net_service.h"
#include "appliance/smdp/service.h"
#include "appliance/smsr/service.h"

const sm_service sm_services[] = {
    /* the database service goes before net: workers need their connection before ES calls run */
    {.name = "db", .start = sm_db_start, .stop = sm_db_stop,
     .worker_hook = {.name = "db", .init = sm_db_worker_init, .fini = sm_db_worker_fini}},
    /* the engine goes before net so that ES handlers can create procedures as soon as calls arrive */
    {.name = "engine", .start = sm_engine_start, .stop = sm_engine_stop},
    /* ES5 delivery to eUICCs (SMPP client, SCP81 admin server, delivery driver): after the engine it
     * wakes, stopped after net (no new requests) */
    {.name = "es5", .start = es5_start, .stop = es5_stop},
    {.name = "net", .start = sm_net_start, .stop = sm_net_stop, .reload = sm_net_reload},
};
const size_t sm_nservices = sizeof sm_services / sizeof sm_services[0];

/* ES handler binders of the domain modules (run by the net service before traffic). */
const sm_es_binder sm_es_binders[] = {
    smdp_es_binder, /* ES2 for MNOs, ES3 answers and notifications from SM-SRs, the SM-DP's extensions */
    smsr_es_binder, /* ES1 for EUMs, ES3 for SM-DPs, ES4 for MNOs and M2M SPs */
};
const size_t sm_nes_binders = sizeof sm_es_binders / sizeof sm_es_binders[0];
