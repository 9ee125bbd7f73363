/* SPDX-License-Identifier: MIT */
/* ppm.c - P6 PPM headers per netpbm's ppm(5), and reading a whole (small) image file. */
#include <errno.h>
#include <unistd.h>

#include "ppm.h"

static int is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skip whitespace and comments; false at the end of the data. */
static int skip_space(const uint8_t *b, size_t len, size_t *i)
{
	while (*i < len && (is_space(b[*i]) || b[*i] == '#')) {
		if (b[*i] == '#')
			while (*i < len && b[*i] != '\n' && b[*i] != '\r')
				(*i)++;
		else
			(*i)++;
	}
	return *i < len;
}

/* A decimal number that must follow whitespace; -1 if none or absurdly long. */
static long number(const uint8_t *b, size_t len, size_t *i)
{
	size_t start = *i;
	if (!skip_space(b, len, i) || *i == start || b[*i] < '0' || b[*i] > '9')
		return -1;
	long v = 0;
	for (; *i < len && b[*i] >= '0' && b[*i] <= '9'; (*i)++) {
		v = v * 10 + (b[*i] - '0');
		if (v > 65535) /* no valid PPM dimension or maxval is larger */
			return -1;
	}
	return v;
}

long ppm_header(const uint8_t *b, size_t len, unsigned *width, unsigned *height, unsigned *maxval)
{
	size_t i = 2;
	if (len < 2 || b[0] != 'P' || b[1] != '6')
		return -1;
	long w = number(b, len, &i);
	long h = w < 0 ? -1 : number(b, len, &i);
	long m = h < 0 ? -1 : number(b, len, &i);
	/* MAXVAL ends with exactly one whitespace byte; a comment there ends at its newline. */
	if (m < 0 || i >= len)
		return -1;
	if (b[i] == '#') {
		while (i < len && b[i] != '\n' && b[i] != '\r')
			i++;
		if (i >= len)
			return -1;
	} else if (!is_space(b[i])) {
		return -1;
	}
	*width = (unsigned)w;
	*height = (unsigned)h;
	*maxval = (unsigned)m;
	return (long)i + 1;
}

long ppm_cnv_pixels(const uint8_t *b, size_t len)
{
	unsigned w, h, m;
	long off = ppm_header(b, len, &w, &h, &m);
	if (off < 0 || w != 32 || h != 32 || m != 255 || len - (size_t)off != PPM_CNV_PIXELS)
		return -1;
	return off;
}

long ppm_read_all(int fd, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		uint8_t extra;
		/* One byte past a full buffer tells a longer file from one that fits exactly. */
		ssize_t r = n < cap ? read(fd, buf + n, cap - n) : read(fd, &extra, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return (long)n;
		if (n == cap) {
			errno = EFBIG;
			return -1;
		}
		n += (size_t)r;
	}
}
