/* SPDX-License-Identifier: MIT */
/* test_errors.c - ory_strerror over every int, including those no errno has. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>

#include "octoray/octoray.h"

Test(errors, every_code_has_text_even_int_min)
{
	/* -INT_MIN overflows: UBSan (scripts/test) reports it when negated naively. */
	cr_expect_str_eq(ory_strerror(INT_MIN), "Unknown error");
	cr_expect_str_eq(ory_strerror(INT_MIN + 1), "Unknown error");
	cr_expect_str_eq(ory_strerror(INT_MAX), "Unknown error");
	cr_expect_str_eq(ory_strerror(0), "Success");
	cr_expect_str_eq(ory_strerror(-ENOENT), "No such file or directory");
}
