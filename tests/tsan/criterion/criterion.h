/* SPDX-License-Identifier: MIT */
/*
 * criterion.h (stand-in) - just enough of Criterion's API to run our concurrency tests under
 * ThreadSanitizer, in one process, one test after another. Criterion itself cannot start under
 * TSan (its inheritable arena collides with TSan's shadow memory: Snaipe/Criterion#274), so
 * the TSan build compiles the same test files against this header instead.
 */
#ifndef ORY_TSAN_CRITERION_SHIM_H
#define ORY_TSAN_CRITERION_SHIM_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct shim_suite {
	const char *name;
	void (*init)(void);
	void (*fini)(void);
	double timeout;
};

struct shim_test {
	const char *suite;
	const char *name;
	void (*fn)(void);
	double timeout;
	bool disabled;
};

void shim_register_test(struct shim_test *t);
void shim_register_suite(struct shim_suite *s);
void shim_fail(bool fatal, const char *file, int line, const char *expr, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void shim_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define Test(suite, name, ...)                                                                \
	static void suite##_##name(void);                                                     \
	static struct shim_test shim_t_##suite##_##name = { #suite, #name, suite##_##name,   \
							    __VA_ARGS__ };                    \
	__attribute__((constructor)) static void shim_reg_##suite##_##name(void)              \
	{                                                                                     \
		shim_register_test(&shim_t_##suite##_##name);                                 \
	}                                                                                     \
	static void suite##_##name(void)

#define TestSuite(suite, ...)                                                                 \
	static struct shim_suite shim_s_##suite = { #suite, __VA_ARGS__ };                   \
	__attribute__((constructor)) static void shim_regs_##suite(void)                      \
	{                                                                                     \
		shim_register_suite(&shim_s_##suite);                                         \
	}

#define SHIM_CHECK(fatal, cond, text, ...)                                                    \
	do {                                                                                  \
		if (!(cond))                                                                  \
			shim_fail(fatal, __FILE__, __LINE__, text, __VA_ARGS__);              \
	} while (0)

#define cr_assert(c, ...) SHIM_CHECK(true, (c), #c, "" __VA_ARGS__)
#define cr_expect(c, ...) SHIM_CHECK(false, (c), #c, "" __VA_ARGS__)
#define cr_assert_not(c, ...) SHIM_CHECK(true, !(c), "!" #c, "" __VA_ARGS__)
#define cr_expect_not(c, ...) SHIM_CHECK(false, !(c), "!" #c, "" __VA_ARGS__)
#define SHIM_CMP(fatal, a, op, b, ...) SHIM_CHECK(fatal, (a)op(b), #a " " #op " " #b, "" __VA_ARGS__)
#define cr_assert_eq(a, b, ...) SHIM_CMP(true, a, ==, b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) SHIM_CMP(false, a, ==, b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) SHIM_CMP(true, a, !=, b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) SHIM_CMP(false, a, !=, b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) SHIM_CMP(true, a, <, b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) SHIM_CMP(false, a, <, b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) SHIM_CMP(true, a, <=, b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) SHIM_CMP(false, a, <=, b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) SHIM_CMP(true, a, >, b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) SHIM_CMP(false, a, >, b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) SHIM_CMP(true, a, >=, b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) SHIM_CMP(false, a, >=, b, __VA_ARGS__)
#define cr_assert_null(p, ...) SHIM_CMP(true, (const void *)(p), ==, NULL, __VA_ARGS__)
#define cr_expect_null(p, ...) SHIM_CMP(false, (const void *)(p), ==, NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) SHIM_CMP(true, (const void *)(p), !=, NULL, __VA_ARGS__)
#define cr_expect_not_null(p, ...) SHIM_CMP(false, (const void *)(p), !=, NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) SHIM_CHECK(true, !strcmp(a, b), #a " == " #b, "" __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) SHIM_CHECK(false, !strcmp(a, b), #a " == " #b, "" __VA_ARGS__)
#define cr_skip_test(...) shim_skip("" __VA_ARGS__)
#define cr_assert_fail(...) SHIM_CHECK(true, 0, "fail", "" __VA_ARGS__)
#define cr_log_info(...) (fprintf(stderr, "[INFO] " __VA_ARGS__), fputc('\n', stderr))
#define cr_log_warn(...) (fprintf(stderr, "[WARN] " __VA_ARGS__), fputc('\n', stderr))

#endif
