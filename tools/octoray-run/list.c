/* SPDX-License-Identifier: MIT */
/*
 * list.c - gzip -l: per file the compressed and uncompressed sizes, the ratio and the name
 * (-v adds the method, CRC-32 and date; -q drops the header), then a totals line when several
 * files were named. The numbers are gzip 1.12's: it decompresses to count, because the
 * trailer's ISIZE is the length modulo 4 GiB. Like gzip, a file of several members shows the
 * whole compressed size but the last member's length and CRC, and the ratio counts the first
 * member's header and trailer as overhead.
 *
 * Decompression here is zlib's, on this thread: -l needs each member's own length and CRC,
 * which ory_gunzip_fd does not report. Our own files say more about themselves (-v: their
 * chunk index; an index at the end is not "the last member").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "gzip.h"

#define IN_SIZE (256u << 10)
#define OUT_SIZE (256u << 10)
#define WIDTH 19 /* gzip's: the digits of the largest off_t */

/* What one file holds, as gzip -l shows it. */
struct scan {
	uint64_t in;          /* compressed bytes, the whole file */
	uint64_t out;         /* uncompressed bytes of the last member */
	uint32_t crc;         /* CRC-32 of the last member */
	struct gz_header hdr; /* the first member's */
	bool garbage;         /* non-zero bytes after the last member */
	const char *error;    /* gzip's words, or NULL */
};

struct input {
	int fd;
	uint8_t *buf;
	z_stream z;
	bool eof;
	uint64_t *count;
};

/* Keep what is unread at the front of the buffer and read more behind it. */
static int refill(struct input *in)
{
	memmove(in->buf, in->z.next_in, in->z.avail_in);
	in->z.next_in = in->buf;
	while (!in->eof && in->z.avail_in < IN_SIZE) {
		ssize_t n = read(in->fd, in->buf + in->z.avail_in, IN_SIZE - in->z.avail_in);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			in->eof = true;
		in->z.avail_in += (uInt)n;
		*in->count += (uint64_t)n;
		if (n > 0)
			break; /* a pipe: go on with what came */
	}
	return 0;
}

static const char *zlib_error(const z_stream *z)
{
	if (z->msg && !strcmp(z->msg, "incorrect data check"))
		return "invalid compressed data--crc error";
	if (z->msg && !strcmp(z->msg, "incorrect length check"))
		return "invalid compressed data--length error";
	return "invalid compressed data--format violated";
}

/* After a member: 1 if another one follows, 0 at the end (zero padding, or garbage noted). */
static int next_member(struct input *in, struct scan *s)
{
	while (in->z.avail_in < 2 && !in->eof) {
		int rc = refill(in);
		if (rc < 0)
			return rc;
	}
	if (in->z.avail_in == 0)
		return 0;
	if (in->z.next_in[0] == 0x1f && (in->z.avail_in == 1 || in->z.next_in[1] == 0x8b))
		return 1;
	for (;;) {
		for (uInt i = 0; i < in->z.avail_in; i++)
			if (in->z.next_in[i]) {
				s->garbage = true;
				return 0;
			}
		in->z.avail_in = 0;
		if (in->eof)
			return 0;
		int rc = refill(in);
		if (rc < 0)
			return rc;
	}
}

/* Read fd to its end, member by member. 0, or a negative errno for a read error. */
static int scan(int fd, struct scan *s)
{
	static uint8_t out[OUT_SIZE];
	struct input in = { .fd = fd, .count = &s->in };
	memset(s, 0, sizeof(*s));
	if (!(in.buf = malloc(IN_SIZE)))
		return -ENOMEM;
	in.z.next_in = in.buf;
	int rc = refill(&in), hdr = 0;
	while (rc == 0 && (hdr = gz_header_parse(in.buf, in.z.avail_in, &s->hdr)) == 0 && !in.eof &&
	       in.z.avail_in < IN_SIZE)
		rc = refill(&in);
	if (rc == 0 && hdr < 0)
		s->error = "not in gzip format";
	else if (rc == 0 && hdr == 0)
		s->error = in.eof ? "unexpected end of file"
				  : "corrupted input -- file name too large";
	if (rc < 0 || s->error || inflateInit2(&in.z, 16 + MAX_WBITS) != Z_OK)
		goto out;
	for (bool more = true; more && rc == 0 && !s->error;) {
		int zrc = Z_OK;
		uint64_t member_out = 0;
		while (zrc != Z_STREAM_END) {
			if (in.z.avail_in == 0) {
				if (in.eof) {
					s->error = "unexpected end of file";
					break;
				}
				if ((rc = refill(&in)) < 0)
					break;
				continue;
			}
			in.z.next_out = out;
			in.z.avail_out = OUT_SIZE;
			zrc = inflate(&in.z, Z_NO_FLUSH);
			member_out += OUT_SIZE - in.z.avail_out;
			if (zrc == Z_BUF_ERROR && in.eof && in.z.avail_in == 0) {
				s->error = "unexpected end of file";
				break;
			}
			if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
				s->error = zlib_error(&in.z);
				break;
			}
		}
		if (zrc != Z_STREAM_END)
			break;
		s->out = member_out;
		s->crc = (uint32_t)in.z.adler; /* a gzip stream's CRC-32, in zlib's words */
		rc = next_member(&in, s);
		more = rc == 1;
		if (more) {
			rc = 0;
			inflateReset(&in.z);
		}
	}
	inflateEnd(&in.z);
out:
	free(in.buf);
	return rc < 0 ? rc : 0;
}

static void ratio(int64_t num, int64_t den)
{
	printf("%5.1f%%", den == 0 ? 0 : 100.0 * (double)num / (double)den);
}

void gz_list(struct gz_cli *c, int fd, const char *in_name, const char *out_name,
	     const struct stat *st)
{
	struct scan s;
	c->listing.header_bytes = 0; /* gzip's totals use the last file's, even a failed one's */
	int rc = scan(fd, &s);
	if (rc < 0) {
		msg("%s: read error: %s", in_name, strerror(-rc));
		return gz_note(c, EXIT_ERR);
	}
	if (s.error) {
		msg("%s: %s", in_name, s.error);
		return gz_note(c, EXIT_ERR);
	}
	if (s.garbage)
		gz_warn(c, "%s: decompression OK, trailing garbage ignored", in_name);
	/* Our files (docs/format.md) carry a chunk index. When it is at the end, the last member
	 * is an empty index member: gzip shows 0 bytes and CRC 0 there; the data's are shown. */
	struct ory_gzip_info info = { .struct_size = sizeof(info) };
	char why[160] = "";
	int irc = S_ISREG(st->st_mode) ? ory_gzip_info(fd, &info, why, sizeof(why)) : 0;
	if (irc == 0 && info.indexed && info.index_at_end) {
		s.out = info.size;
		s.crc = info.crc32;
	}

	char name[4096];
	snprintf(name, sizeof(name), "%s", out_name);
	if (c->no_name == 0 && s.hdr.has_name) { /* -N: the stored name, in the file's directory */
		const char *stored = strrchr(s.hdr.name, '/');
		stored = stored ? stored + 1 : s.hdr.name;
		char *base = strrchr(name, '/');
		base = base ? base + 1 : name;
		snprintf(base, sizeof(name) - (size_t)(base - name), "%s", stored);
	}
	time_t when = S_ISREG(st->st_mode) ? st->st_mtim.tv_sec : 0;
	if (c->no_time == 0 && s.hdr.mtime)
		when = (time_t)s.hdr.mtime;

	if (!c->listing.shown_header) {
		c->listing.shown_header = true;
		if (c->verbose)
			printf("method  crc     date  time  ");
		if (!c->quiet)
			printf("%*s %*s  ratio uncompressed_name\n", WIDTH, "compressed", WIDTH,
			       "uncompressed");
	}
	if (c->verbose) {
		static const char month[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
						   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
		struct tm tm;
		printf("%5s %08lx ", "defla", (unsigned long)s.crc);
		if (localtime_r(&when, &tm))
			printf("%s%3d %02d:%02d ", month[tm.tm_mon], tm.tm_mday, tm.tm_hour,
			       tm.tm_min);
		else
			printf("??? ?? ??:?? ");
	}
	uint64_t overhead = s.hdr.len + 8;
	printf("%*llu %*llu ", WIDTH, (unsigned long long)s.in, WIDTH, (unsigned long long)s.out);
	ratio((int64_t)s.out - ((int64_t)s.in - (int64_t)overhead), (int64_t)s.out);
	printf(" %s\n", name);
	if (c->verbose && irc < 0)
		printf("%*s(chunk index damaged: %s)\n", 28, "", irc == -EBADMSG ? why : strerror(-irc));
	else if (c->verbose && info.indexed)
		printf("%*s(%llu chunks of %u KiB, index %s: parallel -d, --range)\n", 28, "",
		       (unsigned long long)info.chunks, info.chunk_size >> 10,
		       info.index_at_end ? "at the end" : "in the header");
	c->listing.in += s.in;
	c->listing.out += s.out;
	c->listing.header_bytes = overhead;
}

void gz_list_totals(struct gz_cli *c, int nargs)
{
	struct gz_listing *l = &c->listing;
	if (c->quiet || nargs < 2 || !l->in || !l->out)
		return;
	if (c->verbose)
		printf("%28s", "");
	printf("%*llu %*llu ", WIDTH, (unsigned long long)l->in, WIDTH, (unsigned long long)l->out);
	ratio((int64_t)l->out - ((int64_t)l->in - (int64_t)l->header_bytes), (int64_t)l->out);
	printf(" (totals)\n");
}
