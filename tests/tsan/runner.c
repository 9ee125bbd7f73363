/* SPDX-License-Identifier: MIT */
/* runner.c - the in-process runner of the Criterion stand-in (see criterion/criterion.h):
 * runs every registered test in order, prints Criterion's kind of summary, exits non-zero on a
 * failure. TSan itself aborts the process on a data race (halt_on_error=1). */
#include <criterion/criterion.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>

#define MAX_TESTS 256
#define MAX_SUITES 64

static struct shim_test *tests[MAX_TESTS];
static struct shim_suite *suites[MAX_SUITES];
static int ntests, nsuites;
static jmp_buf abort_test;
static bool failed;

void shim_register_test(struct shim_test *t)
{
	if (ntests < MAX_TESTS)
		tests[ntests++] = t;
}

void shim_register_suite(struct shim_suite *s)
{
	if (nsuites < MAX_SUITES)
		suites[nsuites++] = s;
}

void shim_fail(bool fatal, const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "[----] %s:%d: Assertion Failed: %s\n[----]   ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failed = true;
	if (fatal)
		longjmp(abort_test, 1);
}

void shim_skip(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "[SKIP] ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	longjmp(abort_test, 2);
}

static struct shim_suite *suite_of(const char *name)
{
	for (int i = 0; i < nsuites; i++)
		if (!strcmp(suites[i]->name, name))
			return suites[i];
	return NULL;
}

/* 0 passed, 1 failed, 2 skipped. Alone in its frame so that longjmp clobbers nothing. */
static int run_one(struct shim_test *t)
{
	failed = false;
	int jumped = setjmp(abort_test);
	if (!jumped)
		t->fn();
	return jumped == 2 ? 2 : failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *filter = argc > 2 && !strcmp(argv[1], "--filter") ? argv[2] : "*";
	int run = 0, passed = 0, failing = 0, skipped = 0;
	for (int i = 0; i < ntests; i++) {
		struct shim_test *t = tests[i];
		char full[256];
		snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
		if (t->disabled || fnmatch(filter, full, FNM_EXTMATCH))
			continue;
		struct shim_suite *s = suite_of(t->suite);
		fprintf(stderr, "[RUN ] %s\n", full);
		if (s && s->init)
			s->init();
		int r = run_one(t);
		if (s && s->fini)
			s->fini();
		if (r == 2) {
			skipped++;
			continue;
		}
		run++;
		if (r) {
			failing++;
			fprintf(stderr, "[FAIL] %s\n", full);
		} else {
			passed++;
			fprintf(stderr, "[PASS] %s\n", full);
		}
	}
	printf("[====] Synthesis (TSan stand-in runner): Tested: %d | Passing: %d | Failing: %d | "
	       "Skipped: %d\n",
	       run, passed, failing, skipped);
	return failing ? 1 : 0;
}
