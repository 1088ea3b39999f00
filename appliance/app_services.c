/* The daemon's services in start order. Each layer adds its entry here. */
#include "appliance/app.h"

const sm_service sm_services[] = {
    {.name = "none"},
};
const size_t sm_nservices = 0;
