/* SPDX-License-Identifier: MIT */
/* cnv_model.c - the in-memory model: topology, canonical parameters, the kernel layouts derived
 * from them, synthetic models and introspection. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cnv_internal.h"

/* in_dim, out_dim, k, pool, in_ch, out_ch, fanin, words, pe, simd, file_rows */
const struct cnv_topo cnv_topo[CNV_LAYERS] = {
	{32, 30, 3, 0, 3, 64, 27, 1, 16, 3, 64},
	{30, 28, 3, 1, 64, 64, 576, 9, 32, 32, 64},
	{14, 12, 3, 0, 64, 128, 576, 9, 16, 32, 128},
	{12, 10, 3, 1, 128, 128, 1152, 18, 16, 32, 128},
	{5, 3, 3, 0, 128, 256, 1152, 18, 4, 32, 256},
	{3, 1, 3, 0, 256, 256, 2304, 36, 1, 32, 256},
	{1, 1, 1, 0, 256, 512, 256, 4, 1, 4, 512},
	{1, 1, 1, 0, 512, 512, 512, 8, 1, 8, 512},
	{1, 1, 1, 0, 512, 10, 512, 8, 4, 1, 64},
};

/* Reach of the layer-0 accumulator sum w * u: 27 taps of 0..255. */
#define L0_ACC_MAX (27 * 255)

int cnv_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int cnv_layer_shape(unsigned layer, struct cnv_layer_shape *out)
{
	if (layer >= CNV_LAYERS || !out)
		return -EINVAL;
	const struct cnv_topo *t = &cnv_topo[layer];
	*out = (struct cnv_layer_shape){
		.in_dim = t->in_dim,
		.in_ch = t->in_ch,
		.out_dim = t->out_dim,
		.out_ch = t->out_ch,
		.k = t->k,
		.fanin = t->fanin,
		.pool = t->pool,
		.thresholds = layer < CNV_LAYERS - 1,
	};
	return 0;
}

static void *zalloc64(size_t n)
{
	size_t sz = (n + 63) / 64 * 64;
	void *p = aligned_alloc(64, sz ? sz : 64);
	if (p)
		memset(p, 0, sz ? sz : 64);
	return p;
}

void cnv_model_free(struct cnv_model *m)
{
	if (!m)
		return;
	for (int l = 0; l < CNV_LAYERS; l++) {
		free(m->w[l]);
		free(m->wk[l]);
		if (l < CNV_LAYERS - 1) {
			free(m->thr[l]);
			free(m->tk[l]);
		}
	}
	free(m->w0);
	free(m->w0p);
	free(m->w0m);
	free(m->t0);
	free(m->t0s);
	free(m);
}

struct cnv_model *cnv_model_alloc(void)
{
	static _Atomic uint64_t next_id = 1;
	struct cnv_model *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
	for (int l = 0; l < CNV_LAYERS; l++) {
		const struct cnv_topo *t = &cnv_topo[l];
		m->w[l] = zalloc64((size_t)t->out_ch * t->words * sizeof(uint64_t));
		if (!m->w[l])
			goto fail;
		if (l < CNV_LAYERS - 1) {
			m->thr[l] = zalloc64((size_t)t->out_ch * sizeof(int32_t));
			if (!m->thr[l])
				goto fail;
		}
	}
	return m;
fail:
	cnv_model_free(m);
	return NULL;
}

/* The hardware keeps layer-0 thresholds in ap_fixed<24,16> (24-bit raw) and the others in
 * ap_int<16>; a value outside would wrap there, so it is refused rather than guessed at. */
int cnv_model_check_thresholds(const struct cnv_model *m, const char *what, char *err,
			       size_t errlen)
{
	for (int l = 0; l < CNV_LAYERS - 1; l++) {
		int32_t lo = l == 0 ? -(1 << 23) : -32768, hi = l == 0 ? (1 << 23) - 1 : 32767;
		for (unsigned r = 0; r < cnv_topo[l].out_ch; r++)
			if (m->thr[l][r] < lo || m->thr[l][r] > hi)
				return cnv_err(err, errlen, -ERANGE,
					       "%s: layer %d threshold %u = %ld outside %ld..%ld",
					       what, l, r, (long)m->thr[l][r], (long)lo, (long)hi);
	}
	return 0;
}

static int64_t floor_div2(int64_t x)
{
	return x >= 0 ? x / 2 : -((-x + 1) / 2);
}

static int prepare_l0(struct cnv_model *m)
{
	m->w0 = zalloc64(4 * CNV_L0_GROUPS * 16 * 4);
	m->w0p = zalloc64(4 * CNV_L0_TAPS / 2 * 16 * 2);
	m->w0m = zalloc64(CNV_L0_TAPS * 64 * sizeof(uint16_t));
	m->t0 = zalloc64(64 * sizeof(int32_t));
	m->t0s = zalloc64(64 * sizeof(int16_t));
	if (!m->w0 || !m->w0p || !m->w0m || !m->t0 || !m->t0s)
		return -ENOMEM;
	for (int ch = 0; ch < 64; ch++) {
		int b = ch / 16, c = ch % 16, wsum = 0;
		for (int j = 0; j < CNV_L0_TAPS; j++) {
			int col = cnv_l0_tap_col(j), w = 0;
			if (col >= 0) {
				w = (m->w[0][ch] >> col & 1) ? 1 : -1;
				wsum += w;
			}
			m->w0[((b * CNV_L0_GROUPS + j / 4) * 16 + c) * 4 + j % 4] = (int8_t)w;
			m->w0p[((b * (CNV_L0_TAPS / 2) + j / 2) * 16 + c) * 2 + j % 2] = (int8_t)w;
			m->w0m[j * 64 + ch] = w > 0 ? 0xffff : 0;
		}
		int64_t t = floor_div2((int64_t)m->thr[0][ch] + 256 * (int64_t)wsum);
		if (t < -L0_ACC_MAX - 1)
			t = -L0_ACC_MAX - 1;
		if (t > L0_ACC_MAX)
			t = L0_ACC_MAX;
		m->t0[ch] = (int32_t)t;
		m->t0s[ch] = (int16_t)t;
	}
	return 0;
}

int cnv_model_prepare(struct cnv_model *m)
{
	int rc = prepare_l0(m);
	if (rc)
		return rc;
	for (int l = 1; l < CNV_LAYERS; l++) {
		const struct cnv_topo *t = &cnv_topo[l];
		unsigned groups = (t->out_ch + 7) / 8;
		m->wk[l] = zalloc64((size_t)groups * t->words * 8 * sizeof(uint64_t));
		if (!m->wk[l])
			return -ENOMEM;
		for (unsigned r = 0; r < t->out_ch; r++)
			for (unsigned w = 0; w < t->words; w++)
				m->wk[l][((r / 8) * t->words + w) * 8 + r % 8] =
					m->w[l][r * t->words + w];
		if (l == CNV_LAYERS - 1)
			break;
		m->tk[l] = zalloc64((size_t)groups * 8 * sizeof(int64_t));
		if (!m->tk[l])
			return -ENOMEM;
		for (unsigned r = 0; r < t->out_ch; r++) {
			/* fires when thr < fanin - m, i.e. m < fanin - thr */
			int64_t v = (int64_t)t->fanin - m->thr[l][r];
			m->tk[l][r] = v < 0 ? 0 : v > t->fanin + 1 ? t->fanin + 1 : v;
		}
	}
	return 0;
}

/* splitmix64: tiny, seedable, and the same sequence everywhere. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int32_t rand_range(uint64_t *s, int32_t lo, int32_t hi)
{
	return lo + (int32_t)(next_rand(s) % (uint64_t)(hi - lo + 1));
}

/* One channel in 16 gets a threshold no accumulator reaches (or always exceeds), including the
 * extremes of the hardware types, so the clamping of out-of-reach thresholds is exercised. */
static int32_t synthetic_threshold(uint64_t *s, int layer)
{
	const struct cnv_topo *t = &cnv_topo[layer];
	if (next_rand(s) % 16 == 0) {
		static const int32_t l0[] = {-(1 << 23), (1 << 23) - 1, -14000, 14000};
		int32_t bin[] = {-32768, 32767, -1, t->fanin, t->fanin - 1, 0};
		uint64_t pick = next_rand(s);
		return layer == 0 ? l0[pick % 4] : bin[pick % 6];
	}
	if (layer == 0)
		return rand_range(s, -900, 900); /* 2A has a spread of about 770 on random images */
	int32_t spread = 2;
	while (spread * spread < t->fanin)
		spread++;
	return rand_range(s, t->fanin / 2 - spread, t->fanin / 2 + spread);
}

int cnv_model_synthetic(uint64_t seed, struct cnv_model **out)
{
	struct cnv_model *m = cnv_model_alloc();
	if (!m)
		return -ENOMEM;
	uint64_t s = seed;
	for (int l = 0; l < CNV_LAYERS; l++) {
		const struct cnv_topo *t = &cnv_topo[l];
		for (unsigned r = 0; r < t->out_ch; r++) {
			for (unsigned w = 0; w < t->words; w++) {
				unsigned bits = t->fanin - 64 * w;
				uint64_t v = next_rand(&s);
				m->w[l][r * t->words + w] =
					bits >= 64 ? v : v & ((1ull << bits) - 1);
			}
			if (l < CNV_LAYERS - 1)
				m->thr[l][r] = synthetic_threshold(&s, l);
		}
	}
	int rc = cnv_model_prepare(m);
	if (rc) {
		cnv_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int cnv_model_weight(const struct cnv_model *m, unsigned layer, unsigned row, unsigned col)
{
	if (!m || layer >= CNV_LAYERS)
		return 0;
	const struct cnv_topo *t = &cnv_topo[layer];
	if (row >= t->out_ch || col >= t->fanin)
		return 0;
	return (m->w[layer][row * t->words + col / 64] >> (col % 64) & 1) ? 1 : -1;
}

int64_t cnv_model_threshold(const struct cnv_model *m, unsigned layer, unsigned row)
{
	if (!m || layer >= CNV_LAYERS - 1 || row >= cnv_topo[layer].out_ch)
		return 0;
	return m->thr[layer][row];
}
