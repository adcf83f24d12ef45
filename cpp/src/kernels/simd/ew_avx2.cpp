// The elementwise loops compiled for avx2 (flags in kernels.cmake); see ew_body.inc.
#define TG_EW_NS ew_avx2
#define TG_EW_ISA "avx2"
#include "ew_body.inc"
