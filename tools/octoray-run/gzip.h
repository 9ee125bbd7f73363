/* SPDX-License-Identifier: MIT */
/* gzip.h - what the files of `octoray-run gzip` share: the options and the run's state. */
#ifndef ORY_CLI_GZIP_H
#define ORY_CLI_GZIP_H

#include <string.h>

#include "cli.h"

/* What happened to one input, for --stats-json. */
struct gz_result {
	const char *name;           /* as named, "stdin" for standard input */
	char *output;               /* the output's name ("stdout"), or NULL; owned */
	int status;                 /* EXIT_OK, EXIT_WARN or EXIT_ERR for this input */
	char *message;              /* what was said about it first, or NULL; owned */
	bool ran;                   /* a job ran: stats are its */
	bool compressed;            /* that job compressed: the devices' counters are its */
	bool walked;                /* a directory -r went through */
	struct ory_job_stats stats; /* seconds measured by the CLI for -d and -t */
};

struct stats_json;

struct gz_cli {
	struct cli_devices dev;
	int level;
	bool to_stdout, decompress, test, force, keep, verbose, quiet, progress, independent;
	bool rsyncable;
	bool recursive, list;
	bool has_range;          /* --range: bytes [range_off, range_off + range_len) of -d */
	uint64_t range_off, range_len;
	int no_name, no_time; /* -n/-N, -T/-M: 1 or 0 once gzip's defaults are applied */
	const char *output;
	const char *suffix;
	struct ory_runtime *rt; /* NULL for -l, which needs no device */
	int status;
	struct gz_listing {     /* -l's totals */
		uint64_t in, out, header_bytes;
		bool shown_header;
	} listing;
	struct gz_result *cur;   /* the input being handled (-r: the innermost) */
	struct stats_json *json; /* --stats-json, or NULL */
};

/* Are inputs only read (-c, -t, -l, -o), not replaced by the output? */
static inline bool gz_reads_only(const struct gz_cli *c)
{
	return c->to_stdout || c->test || c->output;
}

/* May a symlink be followed to an input or a directory? As gzip: with -f, or when the input
 * is only read. */
static inline bool gz_follows_links(const struct gz_cli *c)
{
	return c->force || gz_reads_only(c);
}

/* gzip_job.c: the job and what is said about it. */
/* Raise the exit status (and the current input's) to severity (EXIT_WARN or EXIT_ERR); the
 * message just printed becomes the input's. */
void gz_note(struct gz_cli *c, int severity);
/* A warning: printed unless -q; status 2. */
void gz_warn(struct gz_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Start the record of input `name` (valid until gz_result_end); returns the enclosing one. */
struct gz_result *gz_result_begin(struct gz_cli *c, struct gz_result *r, const char *name);
/* The current input's output name (NULL: none). */
static inline void gz_result_output(struct gz_cli *c, const char *name)
{
	if (c->cur && name && !c->cur->output)
		c->cur->output = strdup(name);
}
/* Hand the record to --stats-json and make `up` current again. */
void gz_result_end(struct gz_cli *c, struct gz_result *r, struct gz_result *up);
/* Compress (or -d, -t) in_fd to out_fd (-1: test); st: the input's status (NULL: unknown).
 * Returns the library's code; *stats and *garbage (trailing garbage) say what it found. */
int gz_run_job(struct gz_cli *c, int in_fd, int out_fd, const char *name, const struct stat *st,
	       struct ory_job_stats *stats, bool *garbage);
/* One line about a failed job, naming the side that failed; status 1. */
void gz_job_error(struct gz_cli *c, const char *in_name, const char *out_name, int rc);
/* What -v and --stats-json say of a job either way: MB/s of the uncompressed side and the
 * ratio compressed / uncompressed. */
void gz_rates(const struct ory_job_stats *st, bool compressed, double *mb_per_s, double *ratio);
/* -v's line about a job (-c or -d): MB/s of the uncompressed side, ratio, bytes, seconds,
 * chunks per device. */
void gz_report(struct gz_cli *c, const char *name, const struct ory_job_stats *st);

/* stats_json.c: --stats-json FILE. */
/* Check FILE can be written ('-': standard error); NULL after a message. */
struct stats_json *stats_json_open(const char *path);
/* Add one input's record; rt's device counters are those of its job (if one ran). */
void stats_json_add(struct stats_json *j, const struct gz_result *r, struct ory_runtime *rt);
/* Write the document (with the run's options and exit status) and free j. 0, or -1 after a
 * message. */
int stats_json_close(struct stats_json *j, const struct gz_cli *c);

/* suffix.c: where name's compressed suffix (-S, .gz, .z, .tgz, ... in any case) starts, or
 * NULL. */
const char *gz_suffix_of(const struct gz_cli *c, const char *name);
/* name without its compressed suffix (.tgz and .taz become .tar) into out; false when name has
 * no such suffix or out is too small. */
bool gz_plain_name(const struct gz_cli *c, const char *name, char *out, size_t len);
/* For -d of a name that does not exist: the first of name + -S, .gz, .z, -z, .Z that does (or
 * that lstat cannot tell), into out. False when none does, or name has a suffix already. */
bool gz_find_compressed(const struct gz_cli *c, const char *name, char *out, size_t len);

/* gzhdr.c: a gzip member header. */
struct gz_header {
	uint32_t mtime;
	bool has_name;
	char name[1024]; /* FNAME, cut at 1 KiB as gzip does */
	size_t len;      /* bytes up to the deflate data */
};
/* Parse the header at buf[0..n): 1 done, 0 more bytes needed, -1 not a gzip header. */
int gz_header_parse(const uint8_t *buf, size_t n, struct gz_header *h);

/* list.c: -l of one input (read to its end), then the totals line. */
void gz_list(struct gz_cli *c, int fd, const char *in_name, const char *out_name,
	     const struct stat *st);
void gz_list_totals(struct gz_cli *c, int nargs);

/* recurse.c: -r on a directory (st: what lstat/stat said about it). */
void gz_do_dir(struct gz_cli *c, const char *path, const struct stat *st);

/* gzip_file.c: one input. */
void gz_do_stdin(struct gz_cli *c);
void gz_do_file(struct gz_cli *c, const char *path);

#endif /* ORY_CLI_GZIP_H */
