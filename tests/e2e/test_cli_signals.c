/* SPDX-License-Identifier: MIT */
/* test_cli_signals.c - signals during a run (issue 15): one the parent ignored stays ignored
 * (nohup), and the fatal ones gzip handles (SIGXFSZ, SIGBUS) leave no temporary output. */
#include <signal.h>
#include <sys/stat.h>

#include "cli.h"

TestSuite(cli_signals, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 60);

/* Item 4: nohup, or a script that ignores SIGINT, must protect the run. */
static void ignored_signal_stays_ignored(int sig)
{
	const char *fifo = tu_path(dir, "fifo");
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	char out[4096];
	snprintf(out, sizeof(out), "%s/o.gz", dir);
	int w = open(fifo, O_RDWR | O_CLOEXEC);
	int r = open(fifo, O_RDONLY | O_CLOEXEC);
	char *argv[] = { ORY_CLI, "gzip", "-o", out, NULL };
	signal(sig, SIG_IGN); /* what nohup (SIGHUP) or `trap '' INT` hands down */
	pid_t pid = cli_spawn(r, argv);
	signal(sig, SIG_DFL);
	close(r);
	uint8_t *data = tu_text(3 << 20, 11);
	cr_assert_eq(write(w, data, 2 << 20), 2 << 20);
	cli_wait_for_temp(dir);
	kill(pid, sig);
	usleep(100000);
	int early;
	if (waitpid(pid, &early, WNOHANG) == pid) {
		close(w);
		free(data);
		cr_assert_fail("an ignored signal %d stopped the run: %s %d", sig,
			       WIFSIGNALED(early) ? "killed by" : "exit", WIFSIGNALED(early) ?
			       WTERMSIG(early) : WEXITSTATUS(early));
	}
	cr_assert_eq(write(w, data + (2 << 20), 1 << 20), 1 << 20);
	close(w);
	int st = cli_wait(pid);
	cr_expect_eq(st, 0, "an ignored signal %d stopped the run: status %d", sig, st);
	tu_write_file(tu_path(dir, "want"), data, 3 << 20);
	cr_expect_eq(tu_sh("gunzip -c '%s' | cmp -s - '%s/want'", out, dir), 0, "output wrong");
	free(data);
}

Test(cli_signals, an_ignored_sighup_stays_ignored_under_nohup)
{
	ignored_signal_stays_ignored(SIGHUP);
}

Test(cli_signals, an_ignored_sigint_stays_ignored)
{
	ignored_signal_stays_ignored(SIGINT);
}

/* Item 9, mmap: a file truncated under a mapping raises SIGBUS; the CLI must clean up and say
 * which file. */
Test(cli_signals, sigbus_mid_job_removes_the_output_and_names_the_input)
{
	const char *in = tu_path(dir, "big");
	uint8_t *data = tu_random(32 << 20, 13);
	cr_assert_eq(tu_write_file(in, data, 32 << 20), 0);
	char *argv[] = { ORY_CLI, "gzip", "--devices", "sim:1?mbps=20,latency_us=0", (char *)in,
			 NULL };
	pid_t pid = cli_spawn(-1, argv);
	cli_wait_for_temp(dir);
	/* A real SIGBUS comes from reading the input: wait until the job reads (its header is
	 * out), not merely until the output exists (a SIGBUS before the job is no input's). */
	for (int i = 0; i < 1000 && tu_sh("find '%s' -maxdepth 1 -name '.*' -type f -size +0c | "
					  "grep -q .", dir) != 0; i++)
		usleep(5000);
	kill(pid, SIGBUS);
	int st = cli_wait(pid);
	cr_expect_eq(st, 1, "status %d", st);
	expect_err_contains(dir, "big: file changed size while being read");
	expect_one_line(dir);
	cr_expect_eq(tu_count_hidden(dir), 0, "the temporary output was left behind");
	cr_expect_not(tu_exists(tu_path(dir, "big.gz")));
	size_t n;
	uint8_t *back = tu_read_file(in, &n);
	cr_expect(n == (32u << 20) && !memcmp(back, data, n), "input damaged");
	free(back);
	free(data);
}

/* A file size limit: the temporary output must go. The runtime writes through io_uring, whose
 * writes past the limit fail with EFBIG rather than raise SIGXFSZ (as write(2) does, and as
 * GNU gzip dies of), so either way is an end without output: a one-line error and status 1,
 * or the signal. */
Test(cli_signals, a_file_size_limit_removes_the_temporary_output)
{
	uint8_t *data = tu_random(3 << 20, 14);
	tu_write_file(tu_path(dir, "in"), data, 3 << 20);
	free(data);
	int rc = tu_sh("cd '%s' && ulimit -f 512 && exec '%s' gzip in 2>err", dir, ORY_CLI);
	cr_expect(rc == 1 || rc == 128 + SIGXFSZ, "status %d", rc);
	if (rc == 1) {
		expect_err_contains(dir, "in.gz: write error: File too large");
		expect_one_line(dir);
	}
	cr_expect_eq(tu_count_hidden(dir), 0, "the temporary output was left behind");
	cr_expect(tu_exists(tu_path(dir, "in")));
	cr_expect_not(tu_exists(tu_path(dir, "in.gz")));
}
