/* SPDX-License-Identifier: MIT */
/* cnv_kern_scalar_popcnt.c - the portable kernels again, compiled for the POPCNT instruction
 * (without it __builtin_popcountll is a libgcc call); chosen at run time. */
#include "cnv_internal.h"
#if CNV_X86
#pragma GCC target("popcnt")
#define CNV_SCALAR_FORWARD cnv_forward_scalar_popcnt
#include "cnv_kern_scalar.c"
#endif
