/* SPDX-License-Identifier: MIT */
/* cnv-convert - turn BNN-PYNQ's cnvW1A1 parameter folder into the .orym model the library embeds
 * (apps/cnv/models/cnv-w1a1.orym; `cmake --build <dir> --target cnv-model` reruns it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cnv.h"

int main(int argc, char **argv)
{
	if (argc != 3 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: %s BNN_PYNQ_CNVW1A1_DIR OUT.orym\n", argv[0]);
		return argc == 2 ? 0 : 1;
	}
	char err[512];
	struct cnv_model *m = NULL, *back = NULL;
	int rc = cnv_model_load_dir(argv[1], &m, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "cnv-convert: %s\n", err);
		return 1;
	}
	rc = cnv_model_save(m, argv[2]);
	if (rc) {
		fprintf(stderr, "cnv-convert: %s: %s\n", argv[2], strerror(-rc));
		cnv_model_free(m);
		return 1;
	}
	/* Read it back: a file that does not reload bit for bit must not be shipped. */
	void *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	rc = cnv_model_load_file(argv[2], &back, err, sizeof(err));
	if (!rc)
		rc = cnv_model_to_orym(m, &a, &alen);
	if (!rc)
		rc = cnv_model_to_orym(back, &b, &blen);
	if (!rc && (alen != blen || memcmp(a, b, alen)))
		rc = -1;
	if (rc)
		fprintf(stderr, "cnv-convert: %s does not read back: %s\n", argv[2],
			rc == -1 ? "contents differ" : err);
	else
		printf("%s: %zu bytes\n", argv[2], alen);
	free(a);
	free(b);
	cnv_model_free(back);
	cnv_model_free(m);
	return rc ? 1 : 0;
}
