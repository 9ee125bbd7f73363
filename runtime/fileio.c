/* SPDX-License-Identifier: MIT */
/* fileio.c - whole-buffer reads and writes for the small files around a job (models, weight
 * files, xclbins, configs): the EINTR and short-transfer loop once, not in every reader, and
 * the one check that a path names a regular file of bounded size before anything reads it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

int ory_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

int ory_write_full(int fd, const void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

int ory_open_regular(const char *path, uint64_t max, uint64_t *size, char *why, size_t why_len)
{
	/* O_NONBLOCK: opening a FIFO for reading would wait for a writer; it is refused below
	 * anyway, and on a regular file the flag changes nothing. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int rc = -errno;
		snprintf(why, why_len, "%s: %s", path, strerror(-rc));
		return rc;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(why, why_len, "%s: %s", path, strerror(-rc));
	} else if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		snprintf(why, why_len, "%s: is a directory", path);
	} else if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(why, why_len, "%s: not a regular file", path);
	} else if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
		snprintf(why, why_len, "%s: %llu bytes, more than the %llu this file can have",
			 path, (unsigned long long)st.st_size, (unsigned long long)max);
	}
	if (rc) {
		close(fd);
		return rc;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int ory_read_small_file(const char *path, size_t max, char **buf, size_t *len, char *why,
			size_t why_len)
{
	uint64_t size;
	int fd = ory_open_regular(path, max, &size, why, why_len);
	if (fd < 0)
		return fd;
	/* One byte more for the NUL that text readers want. */
	char *b = malloc((size_t)size + 1);
	int rc = b ? ory_pread_full(fd, b, (size_t)size, 0) : -ENOMEM;
	close(fd);
	if (rc < 0) {
		snprintf(why, why_len, "%s: %s", path,
			 rc == -EIO ? "file shrank while being read" : strerror(-rc));
		free(b);
		return rc;
	}
	b[size] = '\0';
	*buf = b;
	*len = (size_t)size;
	return 0;
}
