/* SPDX-License-Identifier: MIT */
/*
 * fuzz_bnnpynq.c - the BNN-PYNQ parameter folder loader (apps/cnv/cnv_bnnpynq.c).
 *
 * The folder needs 178 files of exact sizes, which random bytes never make; so the harness
 * keeps a valid folder (all-zero weights and thresholds) and the input only changes it: a
 * list of records {u8 file, u16 length (LE), bytes}. File 0..177 replaces that parameter file
 * with the bytes (any length); higher numbers add a stray file from a short list. After the
 * load, every change is undone.
 */
#include <errno.h>
#include <sys/stat.h>

#include "apps/cnv/cnv_internal.h"
#include "fuzz.h"

#define NFILES 178 /* 91 weight files, 87 threshold files */

static char names[NFILES][32];
static size_t sizes[NFILES];
static const char *const strays[] = {
	"9-0-weights.bin", "0-99-thres.bin", "8-0-thres.bin", "0-0-other.bin", "1-1-weights.bin~",
};
static char dir[160];
static uint8_t *zeros;

static void put(const char *name, const uint8_t *d, size_t n)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FZ_CHECK(fd >= 0, "open %s", path);
	FZ_CHECK(n == 0 || write(fd, d, n) == (ssize_t)n, "write %s", path);
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/weights", fz_scratch());
	FZ_CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
	unsigned k = 0;
	size_t most = 0;
	for (int l = 0; l < CNV_LAYERS; l++) {
		const struct cnv_topo *t = &cnv_topo[l];
		for (unsigned p = 0; p < t->pe; p++) {
			snprintf(names[k], sizeof(names[k]), "%d-%u-weights.bin", l, p);
			sizes[k++] = (size_t)t->file_rows / t->pe * (t->fanin / t->simd) * 8;
			if (l < CNV_LAYERS - 1) {
				snprintf(names[k], sizeof(names[k]), "%d-%u-thres.bin", l, p);
				sizes[k++] = (size_t)t->file_rows / t->pe * 8;
			}
		}
	}
	FZ_CHECK(k == NFILES, "%u files", k);
	for (k = 0; k < NFILES; k++)
		most = sizes[k] > most ? sizes[k] : most;
	zeros = calloc(1, most);
	for (k = 0; k < NFILES; k++)
		put(names[k], zeros, sizes[k]);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	bool changed[NFILES] = {false}, stray[sizeof(strays) / sizeof(strays[0])] = {false};
	size_t i = 0;
	while (i + 3 <= n) {
		unsigned f = d[i];
		size_t len = (size_t)(d[i + 1] | d[i + 2] << 8);
		i += 3;
		if (len > n - i)
			len = n - i;
		if (f < NFILES) {
			put(names[f], d + i, len);
			changed[f] = true;
		} else {
			unsigned s = (f - NFILES) % (sizeof(strays) / sizeof(strays[0]));
			put(strays[s], d + i, len);
			stray[s] = true;
		}
		i += len;
	}
	struct cnv_model *m = NULL;
	char err[512] = "";
	int rc = cnv_model_load_dir(dir, &m, err, sizeof(err));
	FZ_CHECK(rc <= 0, "rc %d", rc);
	if (rc == 0)
		cnv_model_free(m);
	else
		fz_check_message(err);
	for (unsigned f = 0; f < NFILES; f++)
		if (changed[f])
			put(names[f], zeros, sizes[f]);
	for (unsigned s = 0; s < sizeof(strays) / sizeof(strays[0]); s++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", dir, strays[s]);
		if (stray[s])
			unlink(path);
	}
	return 0;
}
