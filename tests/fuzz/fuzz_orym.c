/* SPDX-License-Identifier: MIT */
/*
 * fuzz_orym.c - the .orym model loader (apps/cnv/cnv_orym.c), from memory and from a file.
 *
 * Byte 0 steers the harness, the rest is the file. A random byte string almost never has the
 * right CRC-32, which would keep the fuzzer at the first check; so when bit 0 is set the
 * harness seals the file first, writing the CRC of the payload where the header keeps it, and
 * the loader's later checks (topology, fan-in bits, thresholds) get the input. Bit 1 loads it
 * from a file instead of memory. A model that loads must save to the same bytes, except the
 * fields the loader ignores (flags, name, reserved: bytes 12..31 and 44..47).
 */
#include <errno.h>
#include <zlib.h>

#include "apps/cnv/cnv.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 1)
		return 0;
	uint8_t how = d[0];
	d++;
	n--;
	uint8_t *b = malloc(n + 1);
	memcpy(b, d, n);
	if (n >= 48 && (how & 1)) {
		uint32_t crc = (uint32_t)crc32(0, b + 48, (uInt)(n - 48));
		for (int i = 0; i < 4; i++)
			b[40 + i] = (uint8_t)(crc >> 8 * i);
	}
	struct cnv_model *m = NULL;
	char err[512] = "";
	int rc;
	if (how & 2)
		rc = cnv_model_load_file(fz_file("model.orym", b, n), &m, err, sizeof(err));
	else
		rc = cnv_model_load_mem(b, n, &m, err, sizeof(err));
	FZ_CHECK(rc <= 0, "rc %d", rc);
	if (rc == 0) {
		FZ_CHECK(m, "no model");
		void *again;
		size_t len;
		FZ_CHECK(cnv_model_to_orym(m, &again, &len) == 0, "save");
		const uint8_t *a = again;
		FZ_CHECK(len == n && !memcmp(a, b, 12) && !memcmp(a + 32, b + 32, 12) &&
				 !memcmp(a + 48, b + 48, n - 48),
			 "the model saves to other bytes");
		free(again);
		cnv_model_free(m);
	} else {
		fz_check_message(err);
	}
	free(b);
	return 0;
}
