/* SPDX-License-Identifier: MIT */
/* cnv_ref.c - the naive CNV-W1A1 reference and the test helpers of cnv_ref.h. Deliberately
 * slow and literal: every layer is the formula of docs/cnv.md on int arrays of +-1. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnv_ref.h"

/* docs/cnv.md section 1: in_dim, in_ch, out_dim, out_ch, k, pool; section 3: PE, SIMD, rows in
 * the files (layer 8 padded to 64). Written out again here on purpose. */
static const struct {
	int in_dim, in_ch, out_dim, out_ch, k, pool, pe, simd, file_rows;
} L[9] = {
	{32, 3, 30, 64, 3, 0, 16, 3, 64},     {30, 64, 28, 64, 3, 1, 32, 32, 64},
	{14, 64, 12, 128, 3, 0, 16, 32, 128}, {12, 128, 10, 128, 3, 1, 16, 32, 128},
	{5, 128, 3, 256, 3, 0, 4, 32, 256},   {3, 256, 1, 256, 3, 0, 1, 32, 256},
	{1, 256, 1, 512, 1, 0, 1, 4, 512},    {1, 512, 1, 512, 1, 0, 1, 8, 512},
	{1, 512, 1, 10, 1, 0, 4, 1, 64},
};

struct cnv_ref {
	int8_t *w[9];  /* [row][fanin] of +-1 */
	int64_t *t[9]; /* [row] */
};

static int fanin(int l)
{
	return L[l].k * L[l].k * L[l].in_ch;
}

struct cnv_ref *cnv_ref_create(const struct cnv_model *m)
{
	struct cnv_ref *r = calloc(1, sizeof(*r));
	for (int l = 0; l < 9; l++) {
		r->w[l] = malloc((size_t)L[l].out_ch * fanin(l));
		r->t[l] = calloc((size_t)L[l].out_ch, sizeof(int64_t));
		for (int o = 0; o < L[l].out_ch; o++) {
			for (int c = 0; c < fanin(l); c++)
				r->w[l][(size_t)o * fanin(l) + c] = (int8_t)cnv_model_weight(
					m, (unsigned)l, (unsigned)o, (unsigned)c);
			r->t[l][o] = cnv_model_threshold(m, (unsigned)l, (unsigned)o);
		}
	}
	return r;
}

void cnv_ref_free(struct cnv_ref *r)
{
	if (!r)
		return;
	for (int l = 0; l < 9; l++) {
		free(r->w[l]);
		free(r->t[l]);
	}
	free(r);
}

static int floordiv(int a, int b)
{
	int q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* One binary layer on a dim x dim x ch map of +-1 (HWC): out = +1 iff thr < XNOR matches. */
static int *binary_layer(const struct cnv_ref *r, int l, const int *in)
{
	int od = L[l].out_dim, k = L[l].k, ic = L[l].in_ch, id = L[l].in_dim;
	int *out = malloc(sizeof(int) * (size_t)od * od * L[l].out_ch);
	for (int y = 0; y < od; y++)
		for (int x = 0; x < od; x++)
			for (int o = 0; o < L[l].out_ch; o++) {
				const int8_t *w = r->w[l] + (size_t)o * fanin(l);
				int matches = 0;
				for (int ky = 0; ky < k; ky++)
					for (int kx = 0; kx < k; kx++)
						for (int c = 0; c < ic; c++)
							matches +=
								w[(ky * k + kx) * ic + c] ==
								in[((y + ky) * id + x + kx) * ic +
								   c];
				int v = l == 8 ? matches : (r->t[l][o] < matches ? 1 : -1);
				out[(y * od + x) * L[l].out_ch + o] = v;
			}
	if (!L[l].pool)
		return out;
	int pd = od / 2, ch = L[l].out_ch;
	int *pooled = malloc(sizeof(int) * (size_t)pd * pd * ch);
	for (int y = 0; y < pd; y++)
		for (int x = 0; x < pd; x++)
			for (int c = 0; c < ch; c++) {
				int v = -1;
				for (int dy = 0; dy < 2; dy++)
					for (int dx = 0; dx < 2; dx++)
						if (out[((2 * y + dy) * od + 2 * x + dx) * ch + c] >
						    v)
							v = out[((2 * y + dy) * od + 2 * x + dx) *
									ch +
								c];
				pooled[(y * pd + x) * ch + c] = v;
			}
	free(out);
	return pooled;
}

int cnv_ref_classify(const struct cnv_ref *r, const uint8_t *img, enum cnv_layout layout,
		     uint16_t *scores)
{
	/* Section 5: q = clamp((512 p - 65025) div 510, -128, 127), HWC. */
	int q[32 * 32 * 3];
	for (int y = 0; y < 32; y++)
		for (int x = 0; x < 32; x++)
			for (int c = 0; c < 3; c++) {
				int p = layout == CNV_CHW ? img[c * 1024 + y * 32 + x]
							  : img[(y * 32 + x) * 3 + c];
				int v = floordiv(512 * p - 65025, 510);
				q[(y * 32 + x) * 3 + c] = v < -128 ? -128 : v > 127 ? 127 : v;
			}
	/* Layer 0: A = sum w * q, out = +1 iff thr < 2 A (thr in 1/256, x = q / 128). */
	int *a = malloc(sizeof(int) * 30 * 30 * 64);
	for (int y = 0; y < 30; y++)
		for (int x = 0; x < 30; x++)
			for (int o = 0; o < 64; o++) {
				int64_t acc = 0;
				for (int ky = 0; ky < 3; ky++)
					for (int kx = 0; kx < 3; kx++)
						for (int c = 0; c < 3; c++)
							acc += r->w[0][o * 27 + (ky * 3 + kx) * 3 +
								       c] *
							       q[((y + ky) * 32 + x + kx) * 3 + c];
				a[(y * 30 + x) * 64 + o] = r->t[0][o] < 2 * acc ? 1 : -1;
			}
	for (int l = 1; l < 9; l++) {
		int *next = binary_layer(r, l, a);
		free(a);
		a = next;
	}
	int best = 0, bestv = 0;
	for (int c = 0; c < 10; c++) {
		scores[c] = (uint16_t)a[c];
		if (a[c] > bestv) {
			best = c;
			bestv = a[c];
		}
	}
	free(a);
	return best;
}

static int write_words(const char *path, const uint64_t *v, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint8_t b[8];
		for (int j = 0; j < 8; j++)
			b[j] = (uint8_t)(v[i] >> 8 * j);
		fwrite(b, 1, 8, f);
	}
	return fclose(f) ? -1 : 0;
}

/* Section 3: word nf * SF + sf of PE p's file holds row nf * PE + p, columns sf * SIMD + j at bit
 * j; layer 8's rows 10..63 are padding filled with 1 bits. */
int cnv_ref_write_bnnpynq(const struct cnv_model *m, const char *dir)
{
	char path[4096];
	for (int l = 0; l < 9; l++) {
		int nf = L[l].file_rows / L[l].pe, sf = fanin(l) / L[l].simd;
		uint64_t *w = calloc((size_t)nf * sf, 8);
		uint64_t *t = calloc((size_t)nf, 8);
		for (int p = 0; p < L[l].pe; p++) {
			for (int f = 0; f < nf; f++) {
				int row = f * L[l].pe + p;
				for (int s = 0; s < sf; s++) {
					uint64_t v = 0;
					for (int j = 0; j < L[l].simd; j++) {
						int bit =
							row >= L[l].out_ch ||
							cnv_model_weight(
								m, (unsigned)l, (unsigned)row,
								(unsigned)(s * L[l].simd + j)) > 0;
						v |= (uint64_t)bit << j;
					}
					w[f * sf + s] = v;
				}
				t[f] = (uint64_t)cnv_model_threshold(m, (unsigned)l, (unsigned)row);
			}
			snprintf(path, sizeof(path), "%s/%d-%d-weights.bin", dir, l, p);
			int rc = write_words(path, w, (size_t)nf * sf);
			snprintf(path, sizeof(path), "%s/%d-%d-thres.bin", dir, l, p);
			if (!rc && l < 8)
				rc = write_words(path, t, (size_t)nf);
			if (rc) {
				free(w);
				free(t);
				return -1;
			}
		}
		free(w);
		free(t);
	}
	snprintf(path, sizeof(path), "%s/classes.txt", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs("Airplane\nAutomobile\nBird\nCat\nDeer\nDog\nFrog\nHorse\nShip\nTruck\n", f);
	return fclose(f) ? -1 : 0;
}

int cnv_ref_tmpdir(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/ory-cnv-test.XXXXXX");
	return mkdtemp(buf) ? 0 : -1;
}

void cnv_ref_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[4096];
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

uint8_t *cnv_ref_random_images(size_t n, uint64_t seed)
{
	static const uint8_t edge[] = {0, 1, 127, 128, 254, 255};
	uint8_t *img = malloc(n * CNV_IMAGE_BYTES);
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < CNV_IMAGE_BYTES; j++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			img[i * CNV_IMAGE_BYTES + j] =
				i % 5 == 4 ? edge[(s >> 20) % 6] : (uint8_t)(s >> 24);
		}
	return img;
}

void cnv_ref_chw_to_hwc(const uint8_t *chw, uint8_t *hwc)
{
	for (int c = 0; c < 3; c++)
		for (int i = 0; i < 1024; i++)
			hwc[i * 3 + c] = chw[c * 1024 + i];
}

const char *cnv_ref_shared_dir(void)
{
	static const char dir[] = ORY_SHARED_DIR "/data/cnv";
	struct stat st;
	return stat(ORY_SHARED_DIR "/data/cnv/cnvW1A1", &st) == 0 && S_ISDIR(st.st_mode) ? dir
											 : NULL;
}

