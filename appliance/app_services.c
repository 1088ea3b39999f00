/* The daemon's services in start order. Each layer adds its entry here. */
#include "appliance/app.h"
#include "appliance/net_service.h"

const sm_service sm_services[] = {
    /* the database service goes before net: workers need their connection before ES calls run */
    {.name = "net", .start = sm_net_start, .stop = sm_net_stop, .reload = sm_net_reload},
};
const size_t sm_nservices = sizeof sm_services / sizeof sm_services[0];
