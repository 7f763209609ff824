// Checks of GPU weight preparation (synthetic values, per-channel / per-tensor weight quantization) against the host.
#include "checks.h"

void check_weights(Harness& h) {}
