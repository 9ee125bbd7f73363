/* SPDX-License-Identifier: MIT */
/*
 * cnv_orym.c - the .orym model file: a compact, checksummed copy of the canonical parameters.
 *
 * Layout (all integers little-endian):
 *   0   8  magic "ORYMODEL"
 *   8   2  format version (1; a newer one is refused with -ENOTSUP)
 *   10  2  header size (48)
 *   12  4  flags (0)
 *   16 16  model name, NUL-padded ("cnv-w1a1")
 *   32  4  layer count (9)
 *   36  4  payload length: every byte after the header
 *   40  4  CRC-32 (zlib crc32) of the payload
 *   44  4  reserved (0)
 *   48     payload: the layer table, 9 x 16 bytes {u16 in_dim, in_ch, out_dim, out_ch; u8 k,
 *          pool; u16 fanin, words, threshold bytes per row (4, or 0 for layer 8)}, then per
 *          layer its out_ch x words weight words (row r's column c at bit c % 64 of word
 *          r * words + c / 64, 1 = +1, unused bits 0) followed by out_ch int32 thresholds in
 *          the BNN-PYNQ file's units. Layer 8 keeps its 10 real rows, not the 64 padded ones.
 * The table must match the built-in topology: the kernels are specialised to CNV.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "cnv_internal.h"
#include "../../runtime/internal.h"

#define ORYM_MAGIC     "ORYMODEL"
#define ORYM_VERSION   1
#define ORYM_HEADER    48
#define ORYM_LAYER_ENT 16
#define ORYM_NAME      "cnv-w1a1"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static size_t payload_size(void)
{
	size_t n = CNV_LAYERS * ORYM_LAYER_ENT;
	for (int l = 0; l < CNV_LAYERS; l++)
		n += (size_t)cnv_topo[l].out_ch *
		     (cnv_topo[l].words * 8 + (l < CNV_LAYERS - 1) * 4);
	return n;
}

static void put_layer_entry(uint8_t *p, int l)
{
	const struct cnv_topo *t = &cnv_topo[l];
	put16(p, t->in_dim);
	put16(p + 2, t->in_ch);
	put16(p + 4, t->out_dim);
	put16(p + 6, t->out_ch);
	p[8] = t->k;
	p[9] = t->pool;
	put16(p + 10, t->fanin);
	put16(p + 12, t->words);
	put16(p + 14, l < CNV_LAYERS - 1 ? 4 : 0);
}

int cnv_model_to_orym(const struct cnv_model *m, void **buf, size_t *len)
{
	if (!m || !buf || !len)
		return -EINVAL;
	size_t plen = payload_size(), total = ORYM_HEADER + plen;
	uint8_t *b = calloc(1, total);
	if (!b)
		return -ENOMEM;
	memcpy(b, ORYM_MAGIC, 8);
	put16(b + 8, ORYM_VERSION);
	put16(b + 10, ORYM_HEADER);
	memcpy(b + 16, ORYM_NAME, sizeof(ORYM_NAME) - 1);
	put32(b + 32, CNV_LAYERS);
	put32(b + 36, (uint32_t)plen);
	uint8_t *p = b + ORYM_HEADER;
	for (int l = 0; l < CNV_LAYERS; l++, p += ORYM_LAYER_ENT)
		put_layer_entry(p, l);
	for (int l = 0; l < CNV_LAYERS; l++) {
		const struct cnv_topo *t = &cnv_topo[l];
		for (size_t i = 0; i < (size_t)t->out_ch * t->words; i++, p += 8)
			put64(p, m->w[l][i]);
		for (unsigned r = 0; l < CNV_LAYERS - 1 && r < t->out_ch; r++, p += 4)
			put32(p, (uint32_t)m->thr[l][r]);
	}
	put32(b + 40, (uint32_t)crc32(0, b + ORYM_HEADER, (uInt)plen));
	*buf = b;
	*len = total;
	return 0;
}

int cnv_model_save(const struct cnv_model *m, const char *path)
{
	if (!m || !path)
		return -EINVAL;
	void *buf;
	size_t len;
	int rc = cnv_model_to_orym(m, &buf, &len);
	if (rc)
		return rc;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		free(buf);
		return rc;
	}
	rc = ory_write_full(fd, buf, len);
	if (close(fd) < 0 && !rc)
		rc = -errno;
	free(buf);
	return rc;
}

static int parse(const uint8_t *b, size_t len, struct cnv_model *m, const char *what, char *err,
		 size_t errlen)
{
	if (len < ORYM_HEADER || memcmp(b, ORYM_MAGIC, 8))
		return cnv_err(err, errlen, -EINVAL, "%s: not an .orym model file", what);
	if (get16(b + 8) != ORYM_VERSION)
		return cnv_err(err, errlen, get16(b + 8) > ORYM_VERSION ? -ENOTSUP : -EINVAL,
			       "%s: format version %u, this build reads %d", what, get16(b + 8),
			       ORYM_VERSION);
	size_t plen = get32(b + 36);
	if (get16(b + 10) != ORYM_HEADER || plen != len - ORYM_HEADER)
		return cnv_err(err, errlen, -EINVAL,
			       "%s: %zu bytes, header says %zu (truncated or padded)", what, len,
			       (size_t)ORYM_HEADER + plen);
	const uint8_t *p = b + ORYM_HEADER;
	if ((uint32_t)crc32(0, p, (uInt)plen) != get32(b + 40))
		return cnv_err(err, errlen, -EBADMSG, "%s: CRC-32 mismatch, the file is corrupt",
			       what);
	if (get32(b + 32) != CNV_LAYERS || plen != payload_size())
		return cnv_err(err, errlen, -EINVAL, "%s: not the CNV-W1A1 topology", what);
	for (int l = 0; l < CNV_LAYERS; l++, p += ORYM_LAYER_ENT) {
		uint8_t want[ORYM_LAYER_ENT];
		put_layer_entry(want, l);
		if (memcmp(p, want, ORYM_LAYER_ENT))
			return cnv_err(err, errlen, -EINVAL,
				       "%s: layer %d differs from the CNV-W1A1 topology", what, l);
	}
	for (int l = 0; l < CNV_LAYERS; l++) {
		const struct cnv_topo *t = &cnv_topo[l];
		unsigned tail = t->fanin % 64;
		for (unsigned r = 0; r < t->out_ch; r++)
			for (unsigned w = 0; w < t->words; w++, p += 8) {
				uint64_t v = get64(p);
				if (tail && w == t->words - 1u && v >> tail)
					return cnv_err(
						err, errlen, -EINVAL,
						"%s: layer %d row %u has bits past its fan-in",
						what, l, r);
				m->w[l][r * t->words + w] = v;
			}
		for (unsigned r = 0; l < CNV_LAYERS - 1 && r < t->out_ch; r++, p += 4)
			m->thr[l][r] = (int32_t)get32(p);
	}
	return cnv_model_check_thresholds(m, what, err, errlen);
}

static int load_mem_named(const void *buf, size_t len, const char *what, struct cnv_model **out,
			  char *err, size_t errlen)
{
	if (!buf || !out)
		return cnv_err(err, errlen, -EINVAL, "%s: no buffer or output given", what);
	struct cnv_model *m = cnv_model_alloc();
	if (!m)
		return cnv_err(err, errlen, -ENOMEM, "%s: out of memory", what);
	int rc = parse(buf, len, m, what, err, errlen);
	if (!rc && (rc = cnv_model_prepare(m)))
		cnv_err(err, errlen, rc, "%s: out of memory", what);
	if (rc) {
		cnv_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int cnv_model_load_mem(const void *buf, size_t len, struct cnv_model **out, char *err,
		       size_t errlen)
{
	return load_mem_named(buf, len, "model", out, err, errlen);
}

int cnv_model_load_default(struct cnv_model **out, char *err, size_t errlen)
{
	const void *buf;
	size_t len;
	cnv_default_model(&buf, &len);
	return load_mem_named(buf, len, "built-in model", out, err, errlen);
}

int cnv_model_load_file(const char *path, struct cnv_model **out, char *err, size_t errlen)
{
	if (!path)
		return cnv_err(err, errlen, -EINVAL, "no path given");
	/* A real model is about 200 KB; anything far bigger is not one and is not read. */
	char *buf;
	size_t len;
	int rc = ory_read_small_file(path, 64 << 20, &buf, &len, err, errlen);
	if (rc < 0)
		return rc == -EFBIG ? cnv_err(err, errlen, -EINVAL, "%s: not an .orym model file",
					      path)
				    : rc;
	rc = load_mem_named(buf, len, path, out, err, errlen);
	free(buf);
	return rc;
}
