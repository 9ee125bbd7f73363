/* SPDX-License-Identifier: MIT */
/* test_hostile_files.c - config and model files that are not what they seem: INI lines that
 * libinih would split into settings of their own, NUL bytes, and FIFOs or devices named as a
 * config, a model, a weight file or an xclbin (they must be refused at once, not read forever). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octoray/octoray.h"
#include "util.h"

static char *dir;
static char logbuf[16384];
static size_t loglen;
static pthread_mutex_t loglock = PTHREAD_MUTEX_INITIALIZER;

static void setup(void)
{
	dir = tu_mkdtemp();
	unsetenv("ORY_XRT_CONFIG");
	unsetenv("ORY_SIM_CONFIG");
	unsetenv("XCL_EMULATION_MODE");
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

/* A hang is the failure this file guards against: a short timeout turns it into one. */
TestSuite(hostile_files, .init = setup, .fini = teardown, .timeout = 20);

static void keep_log(void *arg, enum ory_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	pthread_mutex_lock(&loglock);
	int n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "%s\n", msg);
	if (n > 0 && (size_t)n < sizeof(logbuf) - loglen)
		loglen += (size_t)n;
	pthread_mutex_unlock(&loglock);
}

/* Create (and destroy) a runtime for `devices`; its code. *kinds gets the device kinds. */
static int create(const char *devices, char *kinds, size_t kinds_len)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	o.log = keep_log;
	o.log_level = ORY_LOG_DEBUG;
	struct ory_runtime *rt;
	char err[256];
	int rc = ory_runtime_create(&o, &rt, err, sizeof(err));
	if (rc < 0)
		return rc;
	if (kinds) {
		kinds[0] = '\0';
		for (unsigned i = 0; i < ory_runtime_device_count(rt); i++) {
			struct ory_device_info d = {.struct_size = sizeof(d)};
			ory_runtime_device_info(rt, i, &d);
			size_t n = strlen(kinds);
			snprintf(kinds + n, kinds_len - n, "%s ", d.kind);
		}
	}
	ory_runtime_destroy(rt);
	return rc;
}

static void expect_log(const char *text)
{
	cr_expect(strstr(logbuf, text), "log lacks '%s':\n%s", text, logbuf);
}

/* The config file `text` (len bytes), written as dir/cfg.ini; its path. */
static const char *config(const char *text, size_t len)
{
	const char *path = tu_path(dir, "cfg.ini");
	cr_assert_eq(tu_write_file(path, text, len), 0);
	return path;
}

/* "<head>; <pad x's><tail>\n" where the comment line is 199 characters before the tail. */
static const char *config_with_long_comment(const char *head, const char *tail)
{
	char text[1024];
	int n = snprintf(text, sizeof(text), "%s; ", head);
	memset(text + n, 'x', 197);
	n += 197;
	n += snprintf(text + n, sizeof(text) - (size_t)n, "%s\n", tail);
	return config(text, (size_t)n);
}

static void expect_spec_refused(const char *spec_fmt, const char *path, const char *text)
{
	char spec[4200];
	snprintf(spec, sizeof(spec), spec_fmt, path);
	cr_expect_eq(create(spec, NULL, 0), -EINVAL, "%s was accepted", spec);
	char want[4300];
	snprintf(want, sizeof(want), "%s%s", path, text);
	expect_log(want);
}

Test(hostile_files, a_sim_comment_over_200_characters_cannot_set_a_key)
{
	const char *p = config_with_long_comment("[sim]\n", "mbps = 1");
	expect_spec_refused("sim:1?config=%s", p, ":2: line too long");
}

Test(hostile_files, an_xrt_comment_over_200_characters_cannot_set_a_key)
{
	const char *p = config_with_long_comment("[gzip]\n", "engines = 1");
	expect_spec_refused("xrt:0?config=%s", p, ":2: line too long");
}

Test(hostile_files, the_tail_of_a_long_xrt_line_cannot_continue_the_previous_key)
{
	/* With a leading space, inih took the tail for a continuation of xclbin. */
	const char *p = config_with_long_comment("[gzip]\nxclbin = good.xclbin\n", " evil.xclbin");
	expect_spec_refused("xrt:0?config=%s", p, ":3: line too long");
}

Test(hostile_files, a_line_of_198_characters_is_read_whole)
{
	char text[256] = "[sim]\nlatency_us = ";
	size_t n = strlen(text), line = n - 6;
	memset(text + n, '0', 198 - line - 1);
	n += 198 - line - 1;
	text[n++] = '7';
	text[n++] = '\n';
	const char *p = config(text, n);
	char spec[4200];
	snprintf(spec, sizeof(spec), "sim:1?config=%s", p);
	cr_expect_eq(create(spec, NULL, 0), 0, "log:\n%s", logbuf);
}

Test(hostile_files, a_nul_byte_in_a_config_is_refused)
{
	static const char text[] = "[sim]\nmbps = 1\n\0mbps = nonsense\n";
	const char *p = config(text, sizeof(text) - 1);
	expect_spec_refused("sim:1?config=%s", p, ":3: NUL byte");
}

static const char *fifo(const char *name)
{
	const char *p = tu_path(dir, name);
	cr_assert_eq(mkfifo(p, 0600), 0);
	return p;
}

Test(hostile_files, a_fifo_as_sim_config_is_refused_at_once)
{
	expect_spec_refused("sim:1?config=%s", fifo("cfg"), ": not a regular file");
}

Test(hostile_files, dev_zero_as_sim_config_is_refused_at_once)
{
	expect_spec_refused("sim:1?config=%s", "/dev/zero", ": not a regular file");
}

#ifdef ORY_WITH_XRT
Test(hostile_files, a_fifo_as_xrt_config_is_refused_at_once)
{
	expect_spec_refused("xrt:0?config=%s", fifo("cfg"), ": not a regular file");
}

Test(hostile_files, dev_zero_as_xrt_config_leaves_the_default_devices_on_the_cpu)
{
	/* Emulated cards, so that "all" loads the XRT device, which then reads its config. */
	setenv("XCL_EMULATION_MODE", "noop", 1);
	setenv("ORY_XRT_CONFIG", "/dev/zero", 1);
	char kinds[4096];
	cr_assert_eq(create("all", kinds, sizeof(kinds)), 0, "log:\n%s", logbuf);
	cr_expect(!strstr(kinds, "xrt"), "devices: %s", kinds);
	expect_log("/dev/zero: not a regular file");
}

Test(hostile_files, a_fifo_as_xclbin_is_refused_at_once)
{
	if (!ORY_XRT_NOOP_ROOT[0])
		cr_skip_test("XRT's libxrt_noop.so.2 was not found at configure time");
	setenv("XILINX_XRT", ORY_XRT_NOOP_ROOT, 1);
	setenv("XCL_EMULATION_MODE", "noop", 1);
	const char *p = fifo("x.xclbin");
	char spec[4200];
	snprintf(spec, sizeof(spec), "xrt:0?xclbin=%s", p);
	cr_expect_eq(create(spec, NULL, 0), -ENODEV);
	char want[4300];
	snprintf(want, sizeof(want), "%s: not a regular file", p);
	expect_log(want);
}
#endif

/* Classify one blank image with the model options given; the code, and the message in err. */
static int classify_with(const char *model, const char *weights, char *err, size_t len)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = "cpu:1";
	struct ory_runtime *rt;
	cr_assert_eq(ory_runtime_create(&o, &rt, NULL, 0), 0);
	struct ory_cnv_opts c;
	ory_cnv_opts_init(&c);
	c.model_path = model;
	c.weights_dir = weights;
	c.input = ORY_CNV_RAW;
	uint8_t img[3072] = {0}, cls;
	int rc = ory_cnv_classify(rt, img, 1, &c, &cls, NULL, NULL);
	snprintf(err, len, "%s", ory_runtime_errmsg(rt));
	ory_runtime_destroy(rt);
	return rc;
}

Test(hostile_files, a_fifo_as_model_is_refused_at_once)
{
	const char *p = fifo("m.orym");
	char err[512], want[4300];
	cr_expect_eq(classify_with(p, NULL, err, sizeof(err)), -EINVAL, "%s", err);
	snprintf(want, sizeof(want), "%s: not a regular file", p);
	cr_expect(strstr(err, want), "%s", err);
}

Test(hostile_files, a_fifo_in_the_weights_folder_is_refused_at_once)
{
	const char *p = fifo("0-0-weights.bin");
	char err[512], want[4300];
	cr_expect_eq(classify_with(NULL, dir, err, sizeof(err)), -EINVAL, "%s", err);
	snprintf(want, sizeof(want), "%s: not a regular file", p);
	cr_expect(strstr(err, want), "%s", err);
}
