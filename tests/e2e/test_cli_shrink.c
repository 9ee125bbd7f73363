/* SPDX-License-Identifier: MIT */
/* test_cli_shrink.c - an input that changes while it is compressed (issue 15): not deleted, and
 * gzip's warning. */
#include <signal.h>
#include <sys/stat.h>

#include "cli.h"

TestSuite(cli_shrink, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 60);

/* Item 9: an input we did not read whole is not deleted. A slow simulated card keeps the job
 * going while the file is cut short. */
Test(cli_shrink, an_input_that_shrinks_while_compressed_is_kept_with_gzips_warning)
{
	const char *in = tu_path(dir, "big");
	uint8_t *data = tu_random(48 << 20, 12);
	cr_assert_eq(tu_write_file(in, data, 48 << 20), 0);
	free(data);
	char *argv[] = { ORY_CLI, "gzip", "--devices", "sim:1?mbps=40,latency_us=0", "-b", "1024",
			 (char *)in, NULL };
	pid_t pid = cli_spawn(-1, argv);
	cli_wait_for_temp(dir);
	usleep(200000);
	cr_assert_eq(truncate(in, 1 << 20), 0);
	int st = cli_wait(pid);
	cr_expect_eq(st, 2, "status %d: %s", st, cli_err(dir));
	expect_err_contains(dir, "big: file size changed while zipping");
	cr_expect(tu_exists(in), "the input was deleted though it was not read whole");
	/* as gzip, what was read is still written out, complete */
	cr_expect_eq(tu_sh("gzip -t '%s.gz'", in), 0, "big.gz is not a valid gzip file");
	cr_expect_eq(tu_count_hidden(dir), 0);
}
