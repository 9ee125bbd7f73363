/* SPDX-License-Identifier: MIT */
/* cnv_default.c - the shipped model (models/cnv-w1a1.orym) linked into the library, so the app
 * needs no files at run time. The build passes its path as CNV_DEFAULT_ORYM. */
#include "cnv_internal.h"

#ifndef CNV_DEFAULT_ORYM
#error "CNV_DEFAULT_ORYM must name the .orym file to embed"
#endif

/* .incbin keeps the 200 KB out of the C compiler; hidden symbols keep it library-local. */
__asm__(".pushsection .rodata.cnv_default_orym,\"a\",@progbits\n"
	".balign 64\n"
	".globl cnv_default_orym_begin\n"
	".hidden cnv_default_orym_begin\n"
	"cnv_default_orym_begin:\n"
	".incbin \"" CNV_DEFAULT_ORYM "\"\n"
	".globl cnv_default_orym_end\n"
	".hidden cnv_default_orym_end\n"
	"cnv_default_orym_end:\n"
	".popsection\n");

extern const uint8_t cnv_default_orym_begin[], cnv_default_orym_end[];

void cnv_default_model(const void **buf, size_t *len)
{
	*buf = cnv_default_orym_begin;
	*len = (size_t)(cnv_default_orym_end - cnv_default_orym_begin);
}
