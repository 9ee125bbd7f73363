/* SPDX-License-Identifier: MIT */
/* cli.h - what the files of octoray-run share. */
#ifndef ORY_CLI_H
#define ORY_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "octoray/octoray.h"

/* gzip's exit codes. */
enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_WARN = 2 };

extern const char *prog;

/* "octoray-run: " + message + newline on stderr. */
void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last message msg() printed since msg_forget() (without prefix and newline), or "". */
const char *msg_last(void);
void msg_forget(void);

int cmd_gzip(int argc, char **argv);
int cmd_cnv(int argc, char **argv);

/* common.c: device options every command takes. */
struct cli_devices {
	const char *spec;      /* --devices */
	size_t chunk_kib;      /* 0: the runtime's default */
	int verify;            /* enum ory_verify */
	bool no_fallback;
	unsigned watchdog_ms;
	bool mmap;             /* --mmap: ory_runtime_opts.map_files */
};
enum { CLI_OPT_DEVICES = 300, CLI_OPT_VERIFY, CLI_OPT_NO_VERIFY, CLI_OPT_FALLBACK,
       CLI_OPT_WATCHDOG, CLI_OPT_XCLBIN, CLI_OPT_MMAP };
#define CLI_DEVICE_LONG_OPTIONS                                                               \
	{ "devices", required_argument, NULL, CLI_OPT_DEVICES },                              \
	{ "processes", required_argument, NULL, 'p' },                                       \
	{ "verify", no_argument, NULL, CLI_OPT_VERIFY },                                     \
	{ "no-verify", no_argument, NULL, CLI_OPT_NO_VERIFY },                               \
	{ "fallback", required_argument, NULL, CLI_OPT_FALLBACK },                           \
	{ "watchdog", required_argument, NULL, CLI_OPT_WATCHDOG },                           \
	{ "xclbin", required_argument, NULL, CLI_OPT_XCLBIN },                               \
	{ "mmap", no_argument, NULL, CLI_OPT_MMAP }
#define CLI_DEVICE_HELP                                                                       \
	"      --devices SPEC   all (default) | cpu | cpu:N | xrt:CARDS[?opts] |\n"             \
	"                       sim:N[?opts] (simulated U50s), fault:KIND[:N]?... (testing);\n"  \
	"                       several joined with '+' (README: the spec table)\n"         \
	"  -p, --processes N    same as --devices cpu:N\n"                                       \
	"      --verify         check every chunk before writing it (default: all but CPU)\n"    \
	"      --no-verify      check no chunk\n"                                                \
	"      --fallback MODE  cpu (default): CPU workers finish the job when no other\n"       \
	"                       device is left; none: fail the job then\n"                       \
	"      --watchdog MS    a chunk on a card running longer than MS is run elsewhere\n"     \
	"                       (default: 10x its usual time, at least 1 s)\n"                   \
	"      --xclbin FILE    the design Alveo cards load (default: from configs/u50.ini)\n"    \
	"      --mmap           CPU workers read input files in place through a mapping,\n"    \
	"                       not copied into the chunk buffers (see the manual page)\n"
/* 1: opt was a device option (consumed), 0: not one, -1: bad value (message printed). */
int cli_device_option(struct cli_devices *d, int opt, const char *arg);
/* Create the runtime; prints the reason and returns -1 on failure. */
int cli_open_runtime(const struct cli_devices *d, bool verbose, bool quiet, struct ory_runtime **rt);
/* Remember every device's counters now (before a job), so that cli_device_info and the
 * report give what the job added. */
void cli_devices_mark(struct ory_runtime *rt);
/* ory_runtime_device_info with the counters since the last cli_devices_mark. */
int cli_device_info(struct ory_runtime *rt, unsigned i, struct ory_device_info *d);
/* " name=chunks(...)" for every device that did something since the mark, on stderr. */
void cli_device_report(struct ory_runtime *rt);

/* Write all of buf to fd (retrying short writes and EINTR); 0 or -errno. */
int cli_write_all(int fd, const void *buf, size_t len);

/* stdfds.c: standard descriptors the parent closed. */
/* First thing in main: a closed 0, 1 or 2 gets a placeholder that fails every read and write
 * with EBADF, so no file the CLI or the library opens takes its number. */
void stdfds_guard(void);
/* Was fd (0, 1 or 2) closed when the CLI started? */
bool stdfd_closed(int fd);
/* Flush and close stdout; on failure print why and return EXIT_ERR, else status. */
int stdout_finish(int status);

/* signals.c: a fatal signal (SIGINT, SIGHUP, SIGPIPE, SIGTERM, SIGXCPU, SIGXFSZ) removes the
 * temporary output before the process dies of it; one the parent ignored stays ignored (nohup).
 * SIGBUS while an input is read (a mapped file cut short) removes the temporary output, names
 * the input and exits 1. */
void signals_install(void);
/* The temporary file a signal must remove (NULL: none). */
void signals_track_output(const char *tmp_path);
/* The input being read, for SIGBUS's message (NULL: none). */
void signals_track_input(const char *name);

/* outfile.c: an output file written under a temporary name in its directory, then synced and
 * renamed into place, so a reader never sees a partial file under the real name. The temporary
 * name is ".NAME.XXXXXX", or ".octoray-run.XXXXXX" when that would exceed NAME_MAX. */
struct outfile {
	char path[4096];
	char tmp[4096];
	int fd;
};
/* -EEXIST when path exists and !force; else 0 or a negative errno. */
int outfile_open(struct outfile *o, const char *path, bool force);
/* Give the file src's owner, permissions (as gzip: not the set-id and sticky bits) and times
 * (mtime: src's, or *mtime when not NULL), sync it, rename it into place and sync the
 * directory. 0 or a negative errno (the temporary file is removed then). */
int outfile_commit(struct outfile *o, const struct stat *src, const struct timespec *mtime,
		   bool force);
void outfile_abort(struct outfile *o);

/* progress.c: a one-line meter on stderr (a tty), at most 4 updates a second. */
struct progress {
	bool enabled;       /* caller's choice: --progress, or a tty and not -q */
	bool forced;        /* show from the start rather than after a second */
	uint64_t total;     /* input bytes if known, else 0 */
	uint64_t t0_ns, last_ns;
	bool shown;
};
void progress_start(struct progress *p, uint64_t total);
void progress_update(void *p, uint64_t bytes_in, uint64_t bytes_out);
void progress_end(struct progress *p);
uint64_t mono_ns(void);

#endif /* ORY_CLI_H */
