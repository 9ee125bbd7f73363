/* SPDX-License-Identifier: MIT */
/* crc.c - the CRC-32 app (ORY_OP_CRC32): each chunk's CRC, combined in order by gzip.c's
 * framing code; no output. Only CPU workers run it: it is memory-bound on any device. */
#include <errno.h>

#include <isa-l/crc.h>

#include "gzip_internal.h"

static int crc_open(void **state)
{
	*state = NULL;
	return 0;
}

static int crc_run(void *state, struct ory_chunk *c)
{
	(void)state;
	c->check = crc32_gzip_refl(0, c->in, c->in_len);
	c->out_len = 0;
	return 0;
}

static void crc_close(void *state)
{
	(void)state;
}

static const struct ory_kernel_ops crc_ops = {
	.open = crc_open,
	.run = crc_run,
	.close = crc_close,
};

const struct ory_app ory_crc_app = {
	.name = "crc32",
	.sw = &crc_ops,
};
