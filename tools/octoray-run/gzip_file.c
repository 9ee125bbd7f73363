/* SPDX-License-Identifier: MIT */
/* gzip_file.c - one input of `octoray-run gzip`: the checks gzip makes before touching a file,
 * the output's name, the job, and removing the input only once the output is safe. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gzip.h"

static void do_stdin(struct gz_cli *c)
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
	gz_result_output(c, c->test ? NULL : out_name);
	int rc = gz_run_job(c, STDIN_FILENO, out_fd, NULL, &in_st, &st, &garbage);
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
		return gz_job_error(c, "stdin", out_name, rc);
	if (garbage)
		gz_warn(c, "%s: decompression OK, trailing garbage ignored", "stdin");
	if (c->verbose && !c->test)
		gz_report(c, "stdin", &st);
}

void gz_do_stdin(struct gz_cli *c)
{
	struct gz_result r;
	struct gz_result *up = gz_result_begin(c, &r, "stdin");
	do_stdin(c);
	gz_result_end(c, &r, up);
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
	int flags = O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
	int fd = open(path, flags);
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
	return now.st_mtim.tv_sec != st->st_mtim.tv_sec ||
	       now.st_mtim.tv_nsec != st->st_mtim.tv_nsec;
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

/* One input that is not a directory, lstat/stat'ed into *st: the checks, its job, and
 * removing it once the output is safe. */
static void do_input(struct gz_cli *c, const char *path, const struct stat *st_in)
{
	bool reading = c->decompress || c->test;
	struct stat st = *st_in;
	/* In place: the input is replaced by the output, so gzip's refusals apply. An input that
	 * is only read may be anything readable, through a symlink too. */
	if (!gz_reads_only(c) && refused(c, path, &st))
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

	int in_fd = open_input(c, path, &st, gz_follows_links(c));
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
	gz_result_output(c, c->test ? NULL : out_name);

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

	struct ory_job_stats js;
	bool garbage;
	int rc = gz_run_job(c, in_fd, out_fd, path, &st, &js, &garbage);
	int changed = rc == 0 && !reading ? changed_while_read(in_fd, &st, js.bytes_in) : 0;
	close(in_fd);
	if (rc < 0) {
		if (to_file)
			outfile_abort(&of);
		return gz_job_error(c, path, out_name, rc);
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
			const char *verb = c->keep || c->output ? "created" : "replaced with";
			if (to_file)
				fprintf(stderr, " -- %s %s", verb, out_path);
			fputc('\n', stderr);
			gz_report(c, path, &js);
		}
	}
}

/* -d of a name that does not exist: gzip's FILE.gz (or .z, -z, .Z). A heap copy, or NULL
 * after a message. */
static char *compressed_twin(struct gz_cli *c, const char *arg, int err)
{
	char *found = malloc(PATH_MAX);
	if (err == ENOENT && c->decompress && !gz_suffix_of(c, arg) && found &&
	    gz_find_compressed(c, arg, found, PATH_MAX))
		return found;
	free(found);
	if (err == ENOENT && c->decompress && !gz_suffix_of(c, arg))
		msg("%s%s: %s", arg, c->suffix, strerror(ENOENT));
	else
		msg("%s: %s", arg, strerror(err));
	gz_note(c, EXIT_ERR);
	return NULL;
}

/* What is at `arg`: a directory goes to -r, anything else to do_input. This is the frame -r
 * recurses through, so it keeps little on the stack. */
static void handle(struct gz_cli *c, const char *arg)
{
	const char *path = arg;
	char *found = NULL;
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (!(found = compressed_twin(c, arg, errno)))
			return;
		path = found;
		if (lstat(path, &st) < 0) {
			msg("%s: %s", path, strerror(errno));
			gz_note(c, EXIT_ERR);
			goto out;
		}
	}
	if (S_ISLNK(st.st_mode)) {
		if (!gz_follows_links(c)) { /* gzip's words: it opens with O_NOFOLLOW */
			msg("%s: %s", path, strerror(ELOOP));
			gz_note(c, EXIT_ERR);
			goto out;
		}
		if (stat(path, &st) < 0) {
			msg("%s: %s", path, strerror(errno));
			gz_note(c, EXIT_ERR);
			goto out;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		do_input(c, path, &st);
	} else if (c->recursive) {
		c->cur->walked = true;
		gz_do_dir(c, path, &st);
	} else {
		gz_warn(c, "%s is a directory -- ignored", path);
	}
out:
	free(found);
}

void gz_do_file(struct gz_cli *c, const char *arg)
{
	struct gz_result r;
	struct gz_result *up = gz_result_begin(c, &r, arg);
	handle(c, arg);
	gz_result_end(c, &r, up);
}
