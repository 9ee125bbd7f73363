/* SPDX-License-Identifier: MIT */
/* fuzz.h - what the libFuzzer harnesses share: the fuzzer's bytes as a file, a scratch
 * directory per process, and a check that aborts (libFuzzer's crash) with its reason. */
#ifndef ORY_FUZZ_H
#define ORY_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "octoray/octoray.h"

/* A finding: print why and abort, which libFuzzer reports with the input. */
#define FZ_CHECK(cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz check failed: %s: ", #cond);                         \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The bytes as an anonymous file at offset 0 (the caller closes it). */
static inline int fz_memfd(const uint8_t *d, size_t n)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	FZ_CHECK(fd >= 0, "memfd_create");
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, d + done, n - done);
		FZ_CHECK(w > 0, "memfd write");
		done += (size_t)w;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* This process's scratch directory, removed when it exits. */
static char fz_dir[64];

static inline void fz_rmdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fz_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", fz_dir);
}

static inline const char *fz_scratch(void)
{
	if (!fz_dir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(fz_dir, sizeof(fz_dir), "%.40s/ory-fuzz.XXXXXX", t && *t ? t : "/tmp");
		FZ_CHECK(mkdtemp(fz_dir), "mkdtemp %s", fz_dir);
		atexit(fz_rmdir);
	}
	return fz_dir;
}

/* "scratch/name", holding the bytes; valid until the next call. */
static inline const char *fz_file(const char *name, const uint8_t *d, size_t n)
{
	static char path[160];
	snprintf(path, sizeof(path), "%s/%s", fz_scratch(), name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FZ_CHECK(fd >= 0, "open %s", path);
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, d + done, n - done);
		FZ_CHECK(w > 0, "write %s", path);
		done += (size_t)w;
	}
	close(fd);
	return path;
}

/* A runtime (the harness keeps it for the whole run); aborts when it cannot be made. */
static inline struct ory_runtime *fz_runtime(const char *devices, size_t chunk, unsigned tries)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	if (chunk)
		o.chunk_size = chunk;
	if (tries)
		o.max_tries = tries;
	struct ory_runtime *rt;
	char err[256];
	int rc = ory_runtime_create(&o, &rt, err, sizeof(err));
	FZ_CHECK(rc == 0, "runtime '%s': %s", devices, err);
	return rt;
}

/* A one-line message that names what failed. */
static inline void fz_check_message(const char *msg)
{
	FZ_CHECK(msg[0] && !strchr(msg, '\n'), "message '%s' is empty or not one line", msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
