// The elementwise loops compiled for scalar (flags in kernels.cmake); see ew_body.inc.
#define TG_EW_NS ew_scalar
#define TG_EW_ISA "scalar"
#include "ew_body.inc"
