/* SPDX-License-Identifier: MIT */
/* cli.h - helpers of the end-to-end tests: run octoray-run and system tools in a scratch dir. */
#ifndef ORY_TEST_CLI_H
#define ORY_TEST_CLI_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* Each test's scratch directory: suites make it before a test (.init = cli_scratch_make, or
 * from their own setup) and remove it after (cli_scratch_remove). */
static char *dir;

static inline void cli_scratch_make(void)
{
	dir = tu_mkdtemp();
	cr_assert_not_null(dir);
}

static inline void cli_scratch_remove(void)
{
	if (dir)
		tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* Run octoray-run with the NULL-terminated arguments; stdin from in (NULL: /dev/null),
 * stdout/stderr into dir/out and dir/err. Returns the exit status. */
static inline int cli_run(const char *dir, const char *in, ...)
{
	char *argv[64] = { ORY_CLI };
	int n = 1;
	va_list ap;
	va_start(ap, in);
	for (char *a; n < 63 && (a = va_arg(ap, char *));)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	char out[4096], err[4096];
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	return tu_run(argv, in, out, err);
}

/* stderr of the last cli_run in dir (caller frees). */
static inline char *cli_err(const char *dir)
{
	return tu_slurp(tu_path(dir, "err"));
}

#define expect_err_contains(dir, text)                                                        \
	do {                                                                                  \
		char *e_ = cli_err(dir);                                                      \
		cr_expect(strstr(e_, text), "stderr '%s' lacks '%s'", e_, text);              \
		free(e_);                                                                     \
	} while (0)

/* The stderr must be one line: an error names a file and a reason, once. */
#define expect_one_line(dir)                                                                  \
	do {                                                                                  \
		char *e_ = cli_err(dir);                                                      \
		char *nl_ = strchr(e_, '\n');                                                 \
		cr_expect(nl_ && !nl_[1], "stderr is not one line: '%s'", e_);                \
		free(e_);                                                                     \
	} while (0)

/* Start octoray-run with argv (argv[0] = ORY_CLI) in the background: stdin from in_fd (-1:
 * inherited), stderr into dir/err. */
static inline pid_t cli_spawn(int in_fd, char *const argv[])
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	posix_spawn_file_actions_addopen(&fa, 2, tu_path(dir, "err"), O_WRONLY | O_CREAT | O_TRUNC,
					 0644);
	pid_t pid;
	cr_assert_eq(posix_spawn(&pid, ORY_CLI, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* Exit status of a cli_spawn'ed process, or 128 + the signal that killed it. */
static inline int cli_wait(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Wait (up to 5 s) until a job's temporary output shows in `where`: the job is running. */
static inline void cli_wait_for_temp(const char *where)
{
	for (int i = 0; i < 1000 && tu_count_hidden(where) == 0; i++)
		usleep(5000);
	cr_assert_eq(tu_count_hidden(where), 1, "no temporary output appeared: the job never ran");
}

static inline bool files_equal(const char *a, const char *b)
{
	size_t na, nb;
	uint8_t *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
	bool eq = x && y && na == nb && !memcmp(x, y, na);
	free(x);
	free(y);
	return eq;
}

#endif
