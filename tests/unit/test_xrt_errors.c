/* SPDX-License-Identifier: MIT */
/* test_xrt_errors.c - the XRT device when things are wrong: missing or wrong xclbins, no XRT
 * root, malformed specs, cards that return garbage or nothing. Each failure must be a clear
 * message and a clean exit (XRT aborts or crashes on several of these if handled badly), and
 * work must go on on the CPU where it can. */
#include <criterion/criterion.h>

#ifdef ORY_WITH_XRT
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xrt_noop.h"

#define MiB ((size_t)1 << 20)

TestSuite(xrt_errors, .init = xrt_noop_env, .fini = xrt_rt_destroy, .timeout = 120);

static void expect_create_fails(const char *devices, int want_rc, const char *log_text)
{
	char err[256] = "";
	int rc = xrt_rt_try(devices, 0, 0, err, sizeof(err));
	cr_expect_eq(rc, want_rc, "'%s': %d (%s), want %d", devices, rc, err, want_rc);
	cr_expect(xrt_log_has(log_text), "'%s': log lacks '%s':\n%s", devices, log_text,
		  xrt_logbuf);
}

Test(xrt_errors, a_missing_xclbin_is_named_in_the_log)
{
	expect_create_fails("xrt:0?xclbin=/nonexistent/gzip.xclbin", -ENODEV,
			    "xclbin /nonexistent/gzip.xclbin: No such file or directory");
}

Test(xrt_errors, a_file_that_is_not_an_xclbin_is_refused)
{
	expect_create_fails("xrt:0?xclbin=" ORY_SOURCE_DIR "/configs/u50.ini", -ENODEV,
			    "not an xclbin");
}

Test(xrt_errors, an_xclbin_without_the_huffman_kernel_is_refused_before_xrt_sees_it)
{
	expect_create_fails("xrt:0?xclbin=" ORY_XCLBIN_DIR "/gzip-no-huffman.xclbin", -ENODEV,
			    "has no compute unit xilHuffmanKernel_1 for gzip engine 0 (it has: "
			    "xilLz77Compress:xilLz77Compress_1, xilLz77Compress:xilLz77Compress_2)");
}

Test(xrt_errors, the_cnv_xclbin_is_not_a_gzip_design)
{
	expect_create_fails("xrt:0?xclbin=" ORY_XCLBIN_DIR "/cnv.xclbin", -ENODEV,
			    "no compute unit xilLz77Compress_1");
}

/* XRT refuses to open the kernel of an xclbin without EMBEDDED_METADATA: open fails after
 * the card was opened and loaded, and everything must be released (the test process would
 * crash at exit otherwise, and the card could not be opened again). */
Test(xrt_errors, a_kernel_xrt_cannot_open_fails_open_and_releases_the_card)
{
	expect_create_fails("xrt:0?xclbin=" ORY_XCLBIN_DIR "/gzip-no-metadata.xclbin", -EIO,
			    "XRT cannot open compute unit xilLz77Compress:{xilLz77Compress_1}");
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN, 0, 0);
	size_t gz_len, len = MiB;
	uint8_t *in = tu_text(len, 1);
	uint8_t *gz = xrt_gzip(in, len, &gz_len, NULL);
	xrt_expect_member(gz, gz_len, in, len);
	free(gz);
	free(in);
}

/* The library never writes to stderr, and XRT's own messages are its: an xclbin XRT refuses
 * (it prints an error, after a banner, by default) leaves stderr empty. */
Test(xrt_errors, xrt_writes_nothing_to_stderr)
{
	char *dir = tu_mkdtemp();
	const char *err_path = tu_path(dir, "stderr");
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		char err[256];
		xrt_rt_try("xrt:0?xclbin=" ORY_XCLBIN_DIR "/gzip-no-metadata.xclbin", 0, 0, err,
			   sizeof(err));
		xrt_rt_destroy();
		_exit(xrt_log_has("XRT cannot open compute unit") ? 0 : 3);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child failed: %d", st);
	char *text = tu_slurp(err_path);
	cr_expect_str_empty(text, "stderr:\n%s", text);
	free(text);
	tu_rmtree(dir);
	free(dir);
}

Test(xrt_errors, unset_xilinx_xrt_under_noop_is_a_clear_error_not_an_abort)
{
	unsetenv("XILINX_XRT");
	expect_create_fails("xrt:0?xclbin=" GZ_XCLBIN, -ENODEV,
			    "XCL_EMULATION_MODE=noop needs XILINX_XRT");
}

Test(xrt_errors, an_xrt_root_without_the_shim_is_refused_before_xrt_aborts)
{
	setenv("XILINX_XRT", ORY_XCLBIN_DIR, 1);
	expect_create_fails("xrt:0?xclbin=" GZ_XCLBIN, -ENODEV, "has no lib/libxrt_noop.so.2");
}

Test(xrt_errors, without_a_card_xrt_is_never_called)
{
	/* No emulation, no XILINX_XRT, no card on this host: XRT would abort if called. */
	unsetenv("XCL_EMULATION_MODE");
	unsetenv("XILINX_XRT");
	expect_create_fails("xrt:0?xclbin=" GZ_XCLBIN, -ENODEV, "no Xilinx card found");
}

Test(xrt_errors, malformed_specs_are_rejected_with_the_reason)
{
	expect_create_fails("xrt:0,0?xclbin=" GZ_XCLBIN, -EINVAL, "bad card list '0,0'");
	expect_create_fails("xrt:zero?xclbin=" GZ_XCLBIN, -EINVAL, "bad card list 'zero'");
	expect_create_fails("xrt:0?xclbin=" GZ_XCLBIN "&colour=blue", -EINVAL,
			    "unknown option 'colour'");
	expect_create_fails("xrt:0?gzip.slots=9", -EINVAL, "bad value '9' for gzip.slots");
	expect_create_fails("xrt:0?model=perfect", -EINVAL, "bad value 'perfect' for xrt.model");
	expect_create_fails("xrt:0?config=/nonexistent.ini", -EINVAL, "config /nonexistent.ini");
}

Test(xrt_errors, a_test_model_outside_noop_is_refused)
{
	unsetenv("XCL_EMULATION_MODE");
	expect_create_fails("xrt:0?model=garbage", -EINVAL, "model= needs XCL_EMULATION_MODE=noop");
}

Test(xrt_errors, without_a_configured_xclbin_the_spec_says_where_to_set_it)
{
	expect_create_fails("xrt:0", -ENODEV, "no gzip xclbin configured");
}

Test(xrt_errors, an_engine_belongs_to_one_device_and_a_card_to_one_xclbin)
{
	expect_create_fails("xrt:0?xclbin=" GZ_XCLBIN "+xrt:0?xclbin=" GZ_XCLBIN, -EBUSY,
			    "engine 0 of card noop:0 is already in use");
	char *dir = tu_mkdtemp();
	cr_assert_eq(symlink(GZ_XCLBIN, tu_path(dir, "other.xclbin")), 0);
	char spec[1024];
	snprintf(spec, sizeof(spec), "xrt:0?xclbin=%s&gzip.engines=1+xrt:0?xclbin=%s", GZ_XCLBIN,
		 tu_path(dir, "other.xclbin"));
	expect_create_fails(spec, -EBUSY, "it cannot also load");
	tu_rmtree(dir);
	free(dir);
}

/* "all" takes every kind that finds hardware; a kind that cannot work is skipped, with its
 * reason logged, and the job runs on CPU workers. */
static void expect_all_runs_on_cpu(const char *log_text)
{
	xrt_rt_make("all", 0, 0);
	for (unsigned i = 0; i < ory_runtime_device_count(xrt_rt); i++) {
		struct ory_device_info d = { .struct_size = sizeof(d) };
		ory_runtime_device_info(xrt_rt, i, &d);
		cr_expect_str_eq(d.kind, "cpu");
	}
	cr_expect(xrt_log_has(log_text), "log lacks '%s':\n%s", log_text, xrt_logbuf);
	size_t gz_len, len = 2 * MiB;
	uint8_t *in = tu_text(len, 2);
	uint8_t *gz = xrt_gzip(in, len, &gz_len, NULL);
	xrt_expect_member(gz, gz_len, in, len);
	free(gz);
	free(in);
}

Test(xrt_errors, all_goes_on_with_cpu_workers_when_the_xclbin_is_missing)
{
	char *dir = tu_mkdtemp();
	const char text[] = "[gzip]\nxclbin = missing.xclbin\n";
	cr_assert_eq(tu_write_file(tu_path(dir, "cfg.ini"), text, sizeof(text) - 1), 0);
	setenv("ORY_XRT_CONFIG", tu_path(dir, "cfg.ini"), 1);
	expect_all_runs_on_cpu("missing.xclbin: No such file or directory");
	tu_rmtree(dir);
	free(dir);
}

Test(xrt_errors, all_goes_on_with_cpu_workers_when_xilinx_xrt_is_unset)
{
	char *dir = tu_mkdtemp();
	char text[1024];
	int n = snprintf(text, sizeof(text), "[gzip]\nxclbin = %s\n", GZ_XCLBIN);
	cr_assert_eq(tu_write_file(tu_path(dir, "cfg.ini"), text, (size_t)n), 0);
	setenv("ORY_XRT_CONFIG", tu_path(dir, "cfg.ini"), 1);
	unsetenv("XILINX_XRT");
	expect_all_runs_on_cpu("XCL_EMULATION_MODE=noop needs XILINX_XRT");
	tu_rmtree(dir);
	free(dir);
}

/* A card whose output is wrong: every chunk it returns is rejected and redone on the CPU.
 * The runtime retries a chunk on any device, so the card, idle again within a millisecond,
 * keeps taking it back while the CPU is busy; each time costs a try. Hence one engine, two
 * chunks and max_tries 100 (test_engine.c does the same for its flaky devices). The CPU may
 * also take both chunks before the card takes one: the job is repeated until the card got
 * one, and every job must come out right. */
static void expect_redone_on_cpu(const char *devices, const char *log_text)
{
	size_t gz_len, len = MiB + MiB / 2;
	uint8_t *in = tu_text(len, 3);
	xrt_rt_make(devices, 0, 100);
	uint64_t failures = 0;
	for (int job = 0; job < 20 && !failures; job++) {
		/* the counters add up over the runtime's life: this job's are the differences */
		struct ory_device_info xrt0 = xrt_dev_info("xrt0"), cpu0 = xrt_dev_info("cpu0");
		struct ory_job_stats st = { .struct_size = sizeof(st) };
		uint8_t *gz = xrt_gzip(in, len, &gz_len, &st);
		xrt_expect_member(gz, gz_len, in, len);
		free(gz);
		struct ory_device_info xrt = xrt_dev_info("xrt0"), cpu = xrt_dev_info("cpu0");
		cr_expect_eq(xrt.chunks - xrt0.chunks, 0, "the bad card's output was committed");
		cr_expect_eq(cpu.chunks - cpu0.chunks, 2, "job %d", job);
		cr_expect_eq(st.retries, xrt.failures - xrt0.failures);
		failures = xrt.failures;
	}
	cr_expect_geq(failures, 1, "the card never got a chunk in 20 jobs");
	cr_expect(xrt_log_has(log_text), "log lacks '%s':\n%s", log_text, xrt_logbuf);
	free(in);
}

Test(xrt_errors, garbage_from_the_card_is_caught_and_redone_on_the_cpu)
{
	expect_redone_on_cpu("xrt:0?xclbin=" GZ_XCLBIN "&gzip.engines=1&model=garbage+cpu:1",
			     "card output rejected: block 0 of 1 (");
	cr_expect(xrt_log_has("bytes) has an impossible size (size 42949672"), "log:\n%s",
		  xrt_logbuf);
}

/* Deterministic where the retries above are not: with only the card (and no fallback), the
 * job fails and says where and why. */
Test(xrt_errors, a_kernel_that_wrote_nothing_fails_the_job_when_no_other_device_can_help)
{
	size_t len = MiB, cap;
	uint8_t *in = tu_text(len, 5);
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN "&model=none", 0, 0);
	uint8_t *out = malloc(cap = ory_gzip_bound(xrt_rt, len));
	int rc = ory_gzip_buf(xrt_rt, in, len, out, cap, &len, NULL, NULL);
	cr_expect_lt(rc, 0, "%d", rc);
	cr_expect_eq(ory_runtime_error_origin(xrt_rt), ORY_ORIGIN_DEVICE);
	/* both engines fail: the chunk runs out of tries, or the engines are quarantined */
	const char *m = ory_runtime_errmsg(xrt_rt);
	cr_expect(strstr(m, "chunk 0 failed 4 times, last on xrt") ||
			  strstr(m, "no healthy device left (last: xrt"),
		  "%s", m);
	cr_expect(xrt_log_has("chunk 0: card output rejected: block 0 of 1 (1048576 bytes) is "
			      "empty: the kernel wrote no size"),
		  "log:\n%s", xrt_logbuf);
	free(out);
	free(in);
}

Test(xrt_errors, damaged_blocks_are_caught_by_verify_and_redone_on_the_cpu)
{
	/* Sizes and block headers look right: only inflating the block shows the damage (as
	 * wrong data, too much data, or no valid deflate at all, depending on the bit hit). */
	expect_redone_on_cpu("xrt:0?xclbin=" GZ_XCLBIN "&gzip.engines=1&model=corrupt&verify=1"
			     "+cpu:1",
			     "card output rejected: block 0 of 1 (");
	cr_expect(xrt_log_has("inflate"), "log:\n%s", xrt_logbuf);
}

Test(xrt_errors, chunks_larger_than_the_card_buffers_go_to_the_cpu)
{
	size_t gz_len, len = 17 * MiB;
	uint8_t *in = tu_text(len, 4);
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN "+cpu:1", 16 * MiB, 0);
	uint8_t *gz = xrt_gzip(in, len, &gz_len, NULL);
	xrt_expect_member(gz, gz_len, in, len);
	cr_expect_eq(xrt_dev_info("cpu0").chunks, 2);
	cr_expect(xrt_log_has("xrt0: chunks of 16384 KiB exceed its 8192 KiB buffers"), "log:\n%s",
		  xrt_logbuf);
	free(gz);
	free(in);
}

#else
Test(xrt_errors, needs_the_xrt_device)
{
	cr_skip_test("built without ORY_WITH_XRT");
}
#endif
