/* SPDX-License-Identifier: MIT */
/* signals.c - what a signal does to a run: a fatal one removes the temporary output before the
 * process dies of it, one the parent ignored stays ignored (nohup, `trap '' INT`), and SIGBUS,
 * a mapped input cut short under us, ends the run with a line naming that input. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* gzip's list: each of these kills the process by default, leaving a partial output. */
static const int fatal_signals[] = { SIGINT, SIGHUP, SIGPIPE, SIGTERM, SIGXCPU, SIGXFSZ };

/* Read by the handlers only; changed with the handled signals blocked, so a handler never sees
 * a half-written path. */
static sigset_t handled;
static volatile sig_atomic_t tmp_live, input_live;
static char tmp_path[4096];
static char bus_line[4096 + 128]; /* the whole SIGBUS message, built before it is needed */
static size_t bus_len;

static void on_fatal(int sig)
{
	if (tmp_live)
		unlink(tmp_path); /* async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig); /* blocked until we return, then delivered with the default action */
}

/* The process cannot go on after SIGBUS (the faulting access would repeat), so exit from here,
 * with write(2) and _exit(2), both async-signal-safe. Outside a job it dies of the signal. */
static void on_bus(int sig)
{
	if (tmp_live)
		unlink(tmp_path);
	if (input_live) {
		ssize_t n = write(STDERR_FILENO, bus_line, bus_len);
		(void)n;
		_exit(EXIT_ERR);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void signals_install(void)
{
	sigemptyset(&handled);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		struct sigaction old;
		if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaddset(&handled, fatal_signals[i]);
	}
	sigaddset(&handled, SIGBUS);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_mask = handled; /* one handler at a time: the temporary file is removed once */
	for (int sig = 1; sig < NSIG; sig++) {
		if (!sigismember(&handled, sig))
			continue;
		sa.sa_handler = sig == SIGBUS ? on_bus : on_fatal;
		sigaction(sig, &sa, NULL);
	}
}

static void block(sigset_t *old)
{
	sigset_t all = handled;
	sigaddset(&all, SIGBUS); /* before signals_install too */
	sigprocmask(SIG_BLOCK, &all, old);
}

void signals_track_output(const char *path)
{
	sigset_t old;
	block(&old);
	if (path)
		snprintf(tmp_path, sizeof(tmp_path), "%s", path);
	tmp_live = path != NULL;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

void signals_track_input(const char *name)
{
	sigset_t old;
	block(&old);
	if (name) {
		int n = snprintf(bus_line, sizeof(bus_line),
				 "%s: %s: file changed size while being read\n", prog, name);
		bus_len = n < (int)sizeof(bus_line) ? (size_t)n : sizeof(bus_line) - 1;
	}
	input_live = name != NULL;
	sigprocmask(SIG_SETMASK, &old, NULL);
}
