/* SPDX-License-Identifier: MIT */
/* cnv_bnnpynq.c - reading BNN-PYNQ's finnthesizer parameter folder (L-P-weights.bin and
 * L-P-thres.bin, PE-interleaved rows of SIMD-bit words, docs/cnv.md section 3). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnv_internal.h"
#include "../../runtime/internal.h"

#define WEIGHT_FILES 91 /* sum of PE over the 9 layers */
#define THRES_FILES  87 /* layer 8 has none */

/* Read the whole file at path when it is exactly want bytes long. */
static int read_exact(const char *path, void *buf, size_t want, char *err, size_t errlen)
{
	uint64_t size;
	int fd = ory_open_regular(path, want, &size, err, errlen);
	if (fd == -EFBIG || (fd >= 0 && size != want)) {
		if (fd >= 0)
			close(fd);
		struct stat st;
		long long have = stat(path, &st) == 0 ? (long long)st.st_size : -1;
		return cnv_err(err, errlen, -EINVAL, "%s: %lld bytes, expected %zu", path, have,
			       want);
	}
	if (fd < 0)
		return fd == -EISDIR ? -EINVAL : fd;
	int rc = ory_pread_full(fd, buf, want, 0);
	if (rc < 0)
		cnv_err(err, errlen, rc, "%s: read: %s", path, strerror(-rc));
	close(fd);
	return rc;
}

/* Little-endian 64-bit word i of buf. */
static uint64_t le64(const uint8_t *buf, size_t i)
{
	uint64_t v = 0;
	for (int b = 7; b >= 0; b--)
		v = v << 8 | buf[8 * i + (size_t)b];
	return v;
}

/* Word nf * SF + sf of PE p's file is row nf * PE + p, columns sf * SIMD + 0..SIMD-1. */
static int load_weights(const char *dir, int l, struct cnv_model *m, uint8_t *buf, char *err,
			size_t errlen)
{
	const struct cnv_topo *t = &cnv_topo[l];
	unsigned nf = t->file_rows / t->pe, sf = t->fanin / t->simd;
	char path[4096];
	for (unsigned p = 0; p < t->pe; p++) {
		snprintf(path, sizeof(path), "%s/%d-%u-weights.bin", dir, l, p);
		int rc = read_exact(path, buf, (size_t)nf * sf * 8, err, errlen);
		if (rc)
			return rc;
		for (unsigned f = 0; f < nf; f++) {
			unsigned r = f * t->pe + p;
			for (unsigned s = 0; s < sf; s++) {
				uint64_t v = le64(buf, (size_t)f * sf + s);
				if (t->simd < 64 && v >> t->simd)
					return cnv_err(err, errlen, -EINVAL,
						       "%s: word %u has bits above SIMD=%u set",
						       path, f * sf + s, t->simd);
				if (r >= t->out_ch)
					continue; /* layer 8's padding rows */
				for (unsigned j = 0; j < t->simd; j++) {
					unsigned col = s * t->simd + j;
					if (v >> j & 1)
						m->w[l][r * t->words + col / 64] |= 1ull
										    << (col % 64);
				}
			}
		}
	}
	return 0;
}

static int load_thresholds(const char *dir, int l, struct cnv_model *m, uint8_t *buf, char *err,
			   size_t errlen)
{
	const struct cnv_topo *t = &cnv_topo[l];
	unsigned nf = t->file_rows / t->pe;
	int64_t lo = l == 0 ? -(1 << 23) : -32768, hi = l == 0 ? (1 << 23) - 1 : 32767;
	char path[4096];
	for (unsigned p = 0; p < t->pe; p++) {
		snprintf(path, sizeof(path), "%s/%d-%u-thres.bin", dir, l, p);
		int rc = read_exact(path, buf, (size_t)nf * 8, err, errlen);
		if (rc)
			return rc;
		for (unsigned f = 0; f < nf; f++) {
			int64_t v = (int64_t)le64(buf, f);
			if (v < lo || v > hi)
				return cnv_err(err, errlen, -ERANGE,
					       "%s: threshold %u = %lld outside %lld..%lld", path,
					       f, (long long)v, (long long)lo, (long long)hi);
			m->thr[l][f * t->pe + p] = (int32_t)v;
		}
	}
	return 0;
}

/* The folder must hold exactly the parameter files of this topology: a stray L-P file means a
 * different network (or a half-copied one), which must not load as CNV. */
static int check_file_set(const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d) {
		int rc = -errno;
		return cnv_err(err, errlen, rc, "%s: %s", dir, strerror(-rc));
	}
	unsigned nw = 0, nt = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		unsigned l, p;
		char kind[16];
		int end = 0;
		if (sscanf(e->d_name, "%u-%u-%15[a-z].bin%n", &l, &p, kind, &end) != 3 ||
		    e->d_name[end] != '\0' || end == 0)
			continue;
		bool weights = !strcmp(kind, "weights"), thres = !strcmp(kind, "thres");
		if (!weights && !thres)
			continue;
		if (l >= CNV_LAYERS || p >= cnv_topo[l].pe || (thres && l == CNV_LAYERS - 1)) {
			rc = cnv_err(err, errlen, -EINVAL, "%s/%s: not a file of CNV-W1A1", dir,
				     e->d_name);
			break;
		}
		nw += weights;
		nt += thres;
	}
	closedir(d);
	if (!rc && (nw != WEIGHT_FILES || nt != THRES_FILES))
		rc = cnv_err(err, errlen, nw < WEIGHT_FILES || nt < THRES_FILES ? -ENOENT : -EINVAL,
			     "%s: %u weight and %u threshold files, expected %d and %d", dir, nw,
			     nt, WEIGHT_FILES, THRES_FILES);
	return rc;
}

int cnv_model_load_dir(const char *dir, struct cnv_model **out, char *err, size_t errlen)
{
	if (!dir || !out)
		return cnv_err(err, errlen, -EINVAL, "no folder or output given");
	size_t most = 0;
	for (int l = 0; l < CNV_LAYERS; l++) {
		const struct cnv_topo *t = &cnv_topo[l];
		size_t sz = (size_t)t->file_rows / t->pe * (t->fanin / t->simd) * 8;
		most = sz > most ? sz : most;
	}
	struct cnv_model *m = cnv_model_alloc();
	uint8_t *buf = malloc(most);
	int rc = -ENOMEM;
	if (!m || !buf) {
		cnv_err(err, errlen, rc, "out of memory");
		goto fail;
	}
	/* Missing files are reported by name below, so the set check runs last for them. */
	for (int l = 0; l < CNV_LAYERS; l++) {
		rc = load_weights(dir, l, m, buf, err, errlen);
		if (!rc && l < CNV_LAYERS - 1)
			rc = load_thresholds(dir, l, m, buf, err, errlen);
		if (rc)
			goto fail;
	}
	rc = check_file_set(dir, err, errlen);
	if (rc)
		goto fail;
	rc = cnv_model_prepare(m);
	if (rc) {
		cnv_err(err, errlen, rc, "out of memory");
		goto fail;
	}
	free(buf);
	*out = m;
	return 0;
fail:
	free(buf);
	cnv_model_free(m);
	return rc;
}
