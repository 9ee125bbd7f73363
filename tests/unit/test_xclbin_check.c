/* SPDX-License-Identifier: MIT */
/* test_xclbin_check.c - the xclbin pre-check (devices/xrt/xclbin.c): every index and bound XRT
 * trusts is checked before XRT sees the file, so a damaged xclbin is a one-line error and not a
 * crash inside XRT, and "all" goes on with CPU workers. */
#include <criterion/criterion.h>

#ifdef ORY_WITH_XRT
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <experimental/xrt_ini.h>
#include <xclbin.h>

#include "devices/xrt/xrt_internal.h"
#include "xrt_noop.h"

static char *dir;
static uint8_t *orig;
static size_t orig_len;

static void setup(void)
{
	xrt_noop_env();
	dir = tu_mkdtemp();
	orig = tu_read_file(GZ_XCLBIN, &orig_len);
	cr_assert(orig && orig_len > sizeof(struct axlf), "cannot read %s", GZ_XCLBIN);
}

static void teardown(void)
{
	xrt_rt_destroy();
	tu_rmtree(dir);
	free(dir);
	free(orig);
}

TestSuite(xclbin_check, .init = setup, .fini = teardown, .timeout = 600);

/* Where section `kind` of the test xclbin starts and how long it is. */
static size_t section(const uint8_t *x, uint32_t kind, size_t *len)
{
	const struct axlf *top = (const struct axlf *)x;
	for (uint32_t i = 0; i < top->m_header.m_numSections; i++)
		if (top->m_sections[i].m_sectionKind == kind) {
			*len = top->m_sections[i].m_sectionSize;
			return top->m_sections[i].m_sectionOffset;
		}
	cr_assert_fail("the test xclbin has no section %u", kind);
	return 0;
}

/* The test xclbin with `len` bytes at `off` replaced, written as NAME; its path. */
static const char *damaged(const char *name, size_t off, const void *bytes, size_t len)
{
	uint8_t *x = malloc(orig_len);
	memcpy(x, orig, orig_len);
	memcpy(x + off, bytes, len);
	const char *path = tu_path(dir, name);
	cr_assert_eq(tu_write_file(path, x, orig_len), 0);
	free(x);
	return path;
}

static void expect_refused(const char *path, const char *text)
{
	struct xrt_xclbin xb;
	char why[512] = "";
	int rc = xrt_xclbin_read(path, &xb, why, sizeof(why));
	cr_expect_eq(rc, -EINVAL, "%s: %d (%s)", path, rc, why);
	cr_expect(strstr(why, path), "the message does not name the file: %s", why);
	cr_expect(strstr(why, text), "message '%s' lacks '%s'", why, text);
	cr_expect_null(strchr(why, '\n'), "not one line: %s", why);
}

Test(xclbin_check, a_connection_to_ip_1000_is_refused_naming_the_file_and_the_field)
{
	size_t len, cn = section(orig, CONNECTIVITY, &len);
	int32_t v = 1000;
	const char *p = damaged("ip1000.xclbin",
				cn + offsetof(struct connectivity, m_connection) +
					offsetof(struct connection, m_ip_layout_index),
				&v, sizeof(v));
	expect_refused(p, "CONNECTIVITY connection 0: ip_layout_index 1000");
}

Test(xclbin_check, a_connection_to_bank_1000_is_refused)
{
	size_t len, cn = section(orig, CONNECTIVITY, &len);
	int32_t v = 1000;
	const char *p = damaged("mem1000.xclbin",
				cn + offsetof(struct connectivity, m_connection) + 12 +
					offsetof(struct connection, mem_data_index),
				&v, sizeof(v));
	expect_refused(p, "CONNECTIVITY connection 1: mem_data_index 1000");
}

Test(xclbin_check, a_negative_argument_index_is_refused)
{
	size_t len, cn = section(orig, CONNECTIVITY, &len);
	int32_t v = -5;
	const char *p = damaged("arg.xclbin", cn + offsetof(struct connectivity, m_connection), &v,
				sizeof(v));
	expect_refused(
		p,
		"CONNECTIVITY connection 0: arg_index -5, kernel xilLz77Compress has 8 arguments");
}

Test(xclbin_check, an_argument_one_past_the_kernels_last_is_refused)
{
	/* xilLz77Compress has 8 arguments (EMBEDDED_METADATA); XRT crashed opening it. */
	size_t len, cn = section(orig, CONNECTIVITY, &len);
	int32_t v = 8;
	const char *p = damaged("arg8.xclbin", cn + offsetof(struct connectivity, m_connection), &v,
				sizeof(v));
	expect_refused(p, "CONNECTIVITY connection 0: arg_index 8, kernel xilLz77Compress has 8 "
			  "arguments");
}

Test(xclbin_check, a_section_reaching_past_the_end_of_the_file_is_refused)
{
	uint64_t v = orig_len;
	const char *p = damaged("far.xclbin",
				offsetof(struct axlf, m_sections) +
					offsetof(struct axlf_section_header, m_sectionOffset),
				&v, sizeof(v));
	expect_refused(p, "section 0 (");
}

Test(xclbin_check, an_ip_name_without_its_nul_is_refused)
{
	size_t len, ip = section(orig, IP_LAYOUT, &len);
	char name[64];
	memset(name, 'k', sizeof(name));
	const char *p = damaged("name.xclbin",
				ip + offsetof(struct ip_layout, m_ip_data) +
					offsetof(struct ip_data, m_name),
				name, sizeof(name));
	expect_refused(p, "IP_LAYOUT entry 0: name not NUL-terminated");
}

Test(xclbin_check, a_header_length_other_than_the_file_size_is_refused)
{
	uint64_t v = orig_len * 2;
	const char *p =
		damaged("length.xclbin",
			offsetof(struct axlf, m_header) + offsetof(struct axlf_header, m_length),
			&v, sizeof(v));
	expect_refused(p, "header length");
}

/* The runtime's default spec with a damaged xclbin (octoray-run --xclbin FILE): the card is
 * left out with the reason logged, the job runs on CPU workers. */
Test(xclbin_check, all_goes_on_with_cpu_workers_when_the_xclbin_is_damaged)
{
	size_t len, cn = section(orig, CONNECTIVITY, &len);
	int32_t v = 1000;
	const char *p = damaged("all.xclbin",
				cn + offsetof(struct connectivity, m_connection) +
					offsetof(struct connection, m_ip_layout_index),
				&v, sizeof(v));
	setenv("ORY_XRT_XCLBIN", p, 1);
	xrt_rt_make("all", 0, 0);
	for (unsigned i = 0; i < ory_runtime_device_count(xrt_rt); i++) {
		struct ory_device_info d = {.struct_size = sizeof(d)};
		ory_runtime_device_info(xrt_rt, i, &d);
		cr_expect_str_eq(d.kind, "cpu");
	}
	cr_expect(xrt_log_has("ip_layout_index 1000"), "log:\n%s", xrt_logbuf);
	size_t gz_len, n = 1 << 20;
	uint8_t *in = tu_text(n, 7);
	uint8_t *gz = xrt_gzip(in, n, &gz_len, NULL);
	xrt_expect_member(gz, gz_len, in, n);
	free(gz);
	free(in);
}

/* ---- the mutation sweep ---------------------------------------------------------------- */

/* What the device does with an xclbin once the pre-check passed it: open the card, load the
 * file, open every compute unit and ask for the bank of each argument. */
static bool through_xrt(const char *path)
{
	bool loaded = false;
	struct xrt_xclbin xb;
	char why[512];
	if (xrt_xclbin_read(path, &xb, why, sizeof(why)) < 0)
		return false;
	xrtDeviceHandle d = xrtDeviceOpen(0);
	if (d && xrtDeviceLoadXclbinFile(d, path) == 0) {
		loaded = true;
		xuid_t uuid;
		xrtDeviceGetXclbinUUID(d, uuid);
		for (int i = 0; i < xb.ip->m_count; i++) {
			char name[80], open_as[160];
			snprintf(name, sizeof(name), "%.*s", 64,
				 (const char *)xb.ip->m_ip_data[i].m_name);
			char *colon = strchr(name, ':');
			if (xb.ip->m_ip_data[i].m_type != IP_KERNEL || !colon)
				continue;
			*colon = '\0';
			snprintf(open_as, sizeof(open_as), "%s:{%s}", name, colon + 1);
			xrtKernelHandle k = xrtPLKernelOpen(d, uuid, open_as);
			if (!k)
				continue;
			for (int a = 0; a < 6; a++)
				xrtKernelArgGroupId(k, a);
			xrtKernelClose(k);
		}
	}
	if (d)
		xrtDeviceClose(d);
	xrt_xclbin_free(&xb);
	return loaded;
}

/* Mutant m: byte spots[m / NVAL] set to vals[m % NVAL]. */
static const uint8_t vals[] = {0x00, 0x01, 0x08, 0x3f, 0x80, 0xff};
#define NVAL (sizeof(vals) / sizeof(vals[0]))

static void write_mutant(const size_t *spots, size_t m, const char *path)
{
	uint8_t *x = malloc(orig_len);
	memcpy(x, orig, orig_len);
	x[spots[m / NVAL]] = vals[m % NVAL];
	tu_write_file(path, x, orig_len);
	free(x);
}

Test(xclbin_check, no_mutant_of_the_test_xclbin_crashes_xrt)
{
	/* Every byte of the axlf header's fields after the key block, of the section headers and
	 * of the three tables. */
	size_t *spots = malloc(orig_len * sizeof(*spots)), n = 0;
	const struct axlf *top = (const struct axlf *)orig;
	size_t hdr_end = offsetof(struct axlf, m_sections) +
			 top->m_header.m_numSections * sizeof(struct axlf_section_header);
	for (size_t i = offsetof(struct axlf, m_header); i < hdr_end; i++)
		spots[n++] = i;
	const uint32_t kinds[] = {IP_LAYOUT, CONNECTIVITY, MEM_TOPOLOGY};
	for (size_t k = 0; k < 3; k++) {
		size_t len, off = section(orig, kinds[k], &len);
		for (size_t i = off; i < off + len; i++)
			spots[n++] = i;
	}
	size_t total = n * NVAL;

	/* Children run the mutants in order and publish which one they are on; one that dies
	 * names its mutant, and the next child goes on after it. */
	/* at[0]: the mutant a child is on; at[1]: mutants XRT loaded */
	volatile size_t *at = mmap(NULL, 2 * sizeof(size_t), PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq((void *)at, MAP_FAILED);
	const char *path = tu_path(dir, "mutant.xclbin");
	unsigned crashes = 0;
	char first[256] = "";
	for (size_t next = 0; next < total;) {
		*at = next;
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			xrtIniStringSet("Runtime.runtime_log", "null"); /* as card.c does */
			for (size_t m = next; m < total; m++) {
				*at = m;
				write_mutant(spots, m, path);
				at[1] += through_xrt(path);
			}
			*at = total;
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		if (*at >= total)
			break;
		crashes++;
		if (!first[0])
			snprintf(first, sizeof(first), "byte 0x%zx = 0x%02x: %s", spots[*at / NVAL],
				 vals[*at % NVAL],
				 WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exit");
		fprintf(stderr, "xclbin mutant crashed XRT: byte 0x%zx = 0x%02x (%s)\n",
			spots[*at / NVAL], vals[*at % NVAL],
			WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exit");
		next = *at + 1;
	}
	cr_expect_eq(crashes, 0, "%u of %zu mutants crashed XRT; first: %s", crashes, total, first);
	/* Harmless damage (a name, a base address) must still reach XRT and load. */
	cr_expect_gt(at[1], total / 4, "only %zu of %zu mutants loaded", at[1], total);
	cr_log_info("%zu mutants, %zu loaded by XRT", total, at[1]);
	munmap((void *)at, 2 * sizeof(size_t));
	free(spots);
}

#else
Test(xclbin_check, needs_the_xrt_device)
{
	cr_skip_test("built without ORY_WITH_XRT");
}
#endif
