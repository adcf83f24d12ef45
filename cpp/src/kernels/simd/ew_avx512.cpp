// The elementwise loops compiled for avx512 (flags in kernels.cmake); see ew_body.inc.
#define TG_EW_NS ew_avx512
#define TG_EW_ISA "avx512"
#include "ew_body.inc"
