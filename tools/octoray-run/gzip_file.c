/* SPDX-License-Identifier: MIT */
/* gzip_file.c - one input of `octoray-run gzip`: the checks gzip makes before touching a file,
 * the output's name, the job, and removing the input only once the output is safe. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gzip.h"

void gz_note(struct gz_cli *c, int severity)
{
	if (severity == EXIT_ERR)
		c->status = EXIT_ERR;
	else if (severity == EXIT_WARN && c->status == EXIT_OK)
		c->status = EXIT_WARN;
}

void gz_warn(struct gz_cli *c, const char *fmt, ...)
{
	if (!c->quiet) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "%s: ", prog);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	gz_note(c, EXIT_WARN);
}

/* One line about the failed job, naming the side that failed. */
static void job_error(struct gz_cli *c, const char *in_name, const char *out_name, int rc)
{
	const char *why = ory_runtime_errmsg(c->rt);
	if (!why[0])
		why = ory_strerror(rc);
	const char *who = ory_runtime_error_origin(c->rt) == ORY_ORIGIN_OUTPUT ? out_name : in_name;
	msg("%s: %s", who, why);
	gz_note(c, EXIT_ERR);
}

static void report(struct gz_cli *c, const char *name, const struct ory_job_stats *st)
{
	double ratio = st->bytes_in ? (double)st->bytes_out / (double)st->bytes_in : 0;
	fprintf(stderr, "%s: %.1f MB/s, ratio %.4f (%llu -> %llu bytes), %.3f s, %u device%s:",
		name, st->seconds > 0 ? (double)st->bytes_in / st->seconds / 1e6 : 0, ratio,
		(unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out, st->seconds,
		ory_runtime_device_count(c->rt), ory_runtime_device_count(c->rt) == 1 ? "" : "s");
	cli_device_report(c->rt);
	if (st->retries)
		fprintf(stderr, ", %llu retries", (unsigned long long)st->retries);
	fputc('\n', stderr);
}

/* Run the job for one input: in_fd -> out_fd (-1 for a test). Returns the library's code. */
static int run_job(struct gz_cli *c, int in_fd, int out_fd, const char *name,
		   const struct stat *st, struct ory_job_stats *stats, bool *garbage)
{
	struct progress prog_meter = {
		.enabled = c->progress || (!c->quiet && isatty(STDERR_FILENO)),
		.forced = c->progress,
	};
	progress_start(&prog_meter, st && S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0);
	signals_track_input(name ? name : "stdin");
	int rc;
	*garbage = false;
	stats->struct_size = sizeof(*stats);
	if (c->decompress || c->test) {
		struct ory_gunzip_opts o;
		ory_gunzip_opts_init(&o);
		o.progress = progress_update;
		o.progress_arg = &prog_meter;
		struct ory_gunzip_result res = { .struct_size = sizeof(res) };
		rc = ory_gunzip_fd(c->rt, in_fd, out_fd, &o, &res);
		*garbage = res.trailing_garbage;
		stats->bytes_in = res.bytes_in;
		stats->bytes_out = res.bytes_out;
	} else {
		struct ory_gzip_opts o;
		ory_gzip_opts_init(&o);
		o.level = c->level;
		o.independent = c->independent;
		char base[4096];
		if (name && !c->no_name) {
			snprintf(base, sizeof(base), "%s", name);
			o.name = basename(base);
		}
		/* as gzip since 1.10: a pipe or device has no time worth keeping */
		if (!c->no_time && st && S_ISREG(st->st_mode))
			o.mtime = (uint32_t)st->st_mtim.tv_sec;
		o.progress = progress_update;
		o.progress_arg = &prog_meter;
		rc = ory_gzip_fd(c->rt, in_fd, out_fd, &o, stats);
	}
	signals_track_input(NULL);
	progress_end(&prog_meter);
	return rc;
}

void gz_do_stdin(struct gz_cli *c)
{
	bool reading = c->decompress || c->test;
	if (stdfd_closed(STDIN_FILENO)) {
		msg("standard input: %s", strerror(EBADF));
		return gz_note(c, EXIT_ERR);
	}
	if (!c->test && !c->output && stdfd_closed(STDOUT_FILENO)) {
		msg("stdout: %s", strerror(EBADF));
		return gz_note(c, EXIT_ERR);
	}
	if (c->list) { /* gzip's name for standard input here */
		struct stat st;
		if (fstat(STDIN_FILENO, &st) < 0)
			memset(&st, 0, sizeof(st));
		return gz_list(c, STDIN_FILENO, "stdin", "stdout", &st);
	}
	if (reading && !c->force && isatty(STDIN_FILENO)) {
		msg("compressed data not read from a terminal. Use -f to force decompression.");
		gz_note(c, EXIT_ERR);
		return;
	}
	struct outfile of;
	int out_fd = c->test ? -1 : STDOUT_FILENO;
	const char *out_name = "stdout";
	if (c->output && !c->test) {
		int rc = outfile_open(&of, c->output, c->force);
		if (rc < 0) {
			msg(rc == -EEXIST ? "%s already exists;\tnot overwritten" : "%s: %s",
			    c->output, ory_strerror(rc));
			gz_note(c, rc == -EEXIST ? EXIT_WARN : EXIT_ERR);
			return;
		}
		out_fd = of.fd;
		out_name = c->output;
	} else if (!reading && !c->force && isatty(STDOUT_FILENO)) {
		msg("compressed data not written to a terminal. Use -f to force compression.");
		gz_note(c, EXIT_ERR);
		return;
	}
	struct ory_job_stats st = { .struct_size = sizeof(st) };
	struct stat in_st;
	bool garbage;
	if (fstat(STDIN_FILENO, &in_st) < 0)
		memset(&in_st, 0, sizeof(in_st));
	int rc = run_job(c, STDIN_FILENO, out_fd, NULL, &in_st, &st, &garbage);
	if (rc == 0 && c->output && !c->test) {
		rc = outfile_commit(&of, NULL, NULL, c->force);
		if (rc < 0) {
			msg("%s: %s", c->output, ory_strerror(rc));
			gz_note(c, EXIT_ERR);
			return;
		}
	} else if (c->output && !c->test) {
		outfile_abort(&of);
	}
	if (rc < 0)
		return job_error(c, "stdin", out_name, rc);
	if (garbage)
		gz_warn(c, "%s: decompression OK, trailing garbage ignored", "stdin");
	if (c->verbose && !reading)
		report(c, "stdin", &st);
}

/* Would gzip refuse to replace this file? Then say why, in gzip's words, and return true. */
static bool refused(struct gz_cli *c, const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode)) { /* even with -f: a device node or FIFO is not deleted */
		gz_warn(c, "%s is not a directory or a regular file - ignored", path);
		return true;
	}
	/* Even with -f, as gzip: the output would not carry the bits (see outfile_commit). */
	if (st->st_mode & S_ISUID) {
		gz_warn(c, "%s is set-user-ID on execution - ignored", path);
		return true;
	}
	if (st->st_mode & S_ISGID) {
		gz_warn(c, "%s is set-group-ID on execution - ignored", path);
		return true;
	}
	if (c->force)
		return false;
	if (st->st_mode & S_ISVTX) {
		gz_warn(c, "%s has the sticky bit set - file ignored", path);
		return true;
	}
	if (st->st_nlink > 1) { /* replacing one name would silently break the link */
		gz_warn(c, "%s has %lu other link%s -- file ignored", path,
			(unsigned long)st->st_nlink - 1, st->st_nlink > 2 ? "s" : "");
		return true;
	}
	return false;
}

/* The runtime reads pipes through io_uring, which waits with poll(): a FIFO no writer ever
 * opened never polls as hung up, so its end of file would never come (GNU gzip, reading it
 * directly, sees an empty file). Opening and closing a write end of the same FIFO, through
 * /proc/self/fd so that it cannot be another file, turns an absent writer into a departed one. */
static void fifo_mark_writer_seen(int fd)
{
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	int w = open(self, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (w >= 0)
		close(w);
}

/* Open the file lstat/stat described as *st: through a symlink only when `follow`, and only if
 * it is still that file, so nothing swapped in after the checks is read or deleted. Returns the
 * descriptor, or -1 after a message. */
static int open_input(struct gz_cli *c, const char *path, const struct stat *st, bool follow)
{
	/* O_NONBLOCK: a FIFO without a writer opens (and reads as empty) instead of blocking */
	int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0) {
		msg("%s: %s", path, strerror(errno));
		gz_note(c, EXIT_ERR);
		return -1;
	}
	struct stat now;
	if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		msg("%s: file changed while being opened -- ignored", path);
		gz_note(c, EXIT_ERR);
		close(fd);
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	if (S_ISFIFO(now.st_mode))
		fifo_mark_writer_seen(fd);
	return fd;
}

/* Did the file change while the job read it? 2: its size at open, the bytes read and its size
 * now are not all equal (it shrank or grew); 1: same size but rewritten (mtime moved); 0: no. */
static int changed_while_read(int fd, const struct stat *st, uint64_t bytes_in)
{
	if (!S_ISREG(st->st_mode))
		return 0;
	struct stat now;
	if (fstat(fd, &now) < 0 || bytes_in != (uint64_t)st->st_size || now.st_size != st->st_size)
		return 2;
	return now.st_mtim.tv_sec != st->st_mtim.tv_sec || now.st_mtim.tv_nsec != st->st_mtim.tv_nsec;
}

/* -N and -M on -d: the name (unless -n) and time (unless -T) the first header stores. The name
 * replaces out_path's last component, keeping its directory: only the stored name's own last
 * component counts, so a header cannot send the output elsewhere. Returns the time to give the
 * output, or NULL to keep the input's. */
static struct timespec *stored_name_and_time(const struct gz_cli *c, int fd, char *out_path,
					     size_t len, struct timespec *t)
{
	uint8_t buf[8192]; /* gzip reads at most 1 KiB of name; an extra field may push it out */
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	struct gz_header h;
	if (n <= 0 || gz_header_parse(buf, (size_t)n, &h) != 1)
		return NULL; /* the job will say what is wrong with it */
	const char *stored = strrchr(h.name, '/');
	stored = stored ? stored + 1 : h.name;
	if (!c->no_name && h.has_name && *stored && strcmp(stored, ".") && strcmp(stored, "..")) {
		char *base = strrchr(out_path, '/');
		base = base ? base + 1 : out_path;
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%.*s%s", (int)(base - out_path), out_path, stored);
		snprintf(out_path, len, "%s", tmp);
	}
	if (c->no_time || !h.mtime)
		return NULL;
	t->tv_sec = (time_t)h.mtime;
	t->tv_nsec = 0;
	return t;
}

/* The output's name, by gzip's rules, into out: -o's, the input's without its suffix (-d), or
 * with one (compressing); for -t and -l the name -l shows. False when the file is skipped:
 * said (unless -q or -r, or always with -v) and, for an unknown suffix, a warning. */
static bool output_name(struct gz_cli *c, const char *path, bool reading, char *out, size_t len)
{
	bool say = c->verbose || (!c->recursive && !c->quiet);
	if (c->output) {
		snprintf(out, len, "%s", c->output);
		return true;
	}
	if (reading) {
		if (gz_plain_name(c, path, out, len))
			return true;
		if (c->test && !c->recursive) { /* nothing is written: any name is fine */
			snprintf(out, len, "%s", path);
			return true;
		}
		if (say)
			gz_warn(c, "%s: unknown suffix -- ignored", path);
		return false;
	}
	const char *sfx = gz_suffix_of(c, path);
	if (sfx && !c->force) { /* not a warning, in gzip */
		if (say)
			msg("%s already has %s suffix -- unchanged", path, sfx);
		return false;
	}
	if (snprintf(out, len, "%s%s", path, c->suffix) >= (int)len) {
		msg("%s: file name too long", path);
		gz_note(c, EXIT_ERR);
		return false;
	}
	return true;
}

void gz_do_file(struct gz_cli *c, const char *arg)
{
	const char *path = arg;
	char found[4096];
	bool reading = c->decompress || c->test;
	/* In place: the input is replaced by the output, so gzip's refusals apply. An input that
	 * is only read may be anything readable, through a symlink too. */
	bool in_place = !gz_reads_only(c);
	bool follow = gz_follows_links(c);
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno != ENOENT || !c->decompress || gz_suffix_of(c, arg)) {
			msg("%s: %s", path, strerror(errno));
			return gz_note(c, EXIT_ERR);
		}
		/* gzip -d FILE means FILE.gz (or .z, -z, .Z) when FILE does not exist */
		if (!gz_find_compressed(c, arg, found, sizeof(found))) {
			msg("%s%s: %s", arg, c->suffix, strerror(ENOENT));
			return gz_note(c, EXIT_ERR);
		}
		path = found;
		if (lstat(path, &st) < 0) {
			msg("%s: %s", path, strerror(errno));
			return gz_note(c, EXIT_ERR);
		}
	}
	if (S_ISLNK(st.st_mode)) {
		if (!follow) { /* gzip's words: it opens with O_NOFOLLOW */
			msg("%s: %s", path, strerror(ELOOP));
			return gz_note(c, EXIT_ERR);
		}
		if (stat(path, &st) < 0) {
			msg("%s: %s", path, strerror(errno));
			return gz_note(c, EXIT_ERR);
		}
	}
	if (S_ISDIR(st.st_mode)) {
		if (c->recursive)
			return gz_do_dir(c, path, &st);
		return gz_warn(c, "%s is a directory -- ignored", path);
	}
	if (in_place && refused(c, path, &st))
		return;

	char out_path[4096];
	const char *out_name = "stdout";
	bool to_file = !c->to_stdout && !c->test;
	if (c->to_stdout && !c->test && stdfd_closed(STDOUT_FILENO)) {
		msg("stdout: %s", strerror(EBADF));
		return gz_note(c, EXIT_ERR);
	}
	if ((to_file || c->test) && !output_name(c, path, reading, out_path, sizeof(out_path)))
		return;
	if (to_file)
		out_name = out_path;
	else if (!reading && !c->force && isatty(STDOUT_FILENO)) {
		msg("compressed data not written to a terminal. Use -f to force compression.");
		return gz_note(c, EXIT_ERR);
	}

	int in_fd = open_input(c, path, &st, follow);
	if (in_fd < 0)
		return;
	if (c->list) {
		gz_list(c, in_fd, path, out_path, &st);
		close(in_fd);
		return;
	}
	struct timespec stored_time, *restore = NULL;
	if (reading && to_file && !c->output && (!c->no_name || !c->no_time))
		restore = stored_name_and_time(c, in_fd, out_path, sizeof(out_path), &stored_time);

	struct outfile of;
	int out_fd = c->test ? -1 : STDOUT_FILENO;
	if (to_file) {
		int rc = outfile_open(&of, out_path, c->force);
		if (rc < 0) {
			close(in_fd);
			if (rc == -EEXIST) {
				msg("%s already exists;\tnot overwritten", out_path);
				return gz_note(c, EXIT_WARN);
			}
			msg("%s: %s", out_path, ory_strerror(rc));
			return gz_note(c, EXIT_ERR);
		}
		out_fd = of.fd;
	}

	struct ory_job_stats js = { .struct_size = sizeof(js) };
	bool garbage;
	int rc = run_job(c, in_fd, out_fd, path, &st, &js, &garbage);
	int changed = rc == 0 && !reading ? changed_while_read(in_fd, &st, js.bytes_in) : 0;
	close(in_fd);
	if (rc < 0) {
		if (to_file)
			outfile_abort(&of);
		return job_error(c, path, out_name, rc);
	}
	if (changed) /* as gzip, the output stays: it is what was read */
		gz_warn(c, changed > 1 ? "%s: file size changed while zipping"
				       : "%s: file changed while zipping", path);
	if (to_file) {
		rc = outfile_commit(&of, &st, restore, c->force);
		if (rc < 0) {
			msg("%s: %s", out_path, ory_strerror(rc));
			return gz_note(c, EXIT_ERR);
		}
		/* Only now, with the output complete, synced and in place, may the input go; not
		 * if what was read is not the whole file (gzip deletes it all the same). */
		if (!c->keep && !c->output && !changed && unlink(path) < 0) {
			msg("%s: cannot remove: %s", path, strerror(errno));
			gz_note(c, EXIT_WARN);
		}
	}
	if (garbage)
		gz_warn(c, "%s: decompression OK, trailing garbage ignored", path);
	if (c->verbose) {
		if (c->test) {
			fprintf(stderr, "%s:\t OK\n", path);
		} else {
			uint64_t plain = reading ? js.bytes_out : js.bytes_in;
			uint64_t packed = reading ? js.bytes_in : js.bytes_out;
			double saved = plain ? 100.0 * (1.0 - (double)packed / (double)plain) : 0;
			fprintf(stderr, "%s:\t%5.1f%%", path, saved);
			if (to_file)
				fprintf(stderr, " -- %s %s", c->keep || c->output ? "created" : "replaced with",
					out_path);
			fputc('\n', stderr);
			if (!reading)
				report(c, path, &js);
		}
	}
}

