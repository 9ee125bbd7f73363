/* SPDX-License-Identifier: MIT */
/* outfile.c - write an output file under a temporary name, then sync and rename it into place:
 * a crash, an error or a signal never leaves a partial file under the real name. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int outfile_open(struct outfile *o, const char *path, bool force)
{
	struct stat st;
	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (snprintf(o->path, sizeof(o->path), "%s", path) >= (int)sizeof(o->path))
		return -ENAMETOOLONG;
	if (!force && lstat(path, &st) == 0)
		return -EEXIST;

	char dir[4096], base[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	const char *d = dirname(dir), *b = basename(base);
	/* ".NAME.XXXXXX" says whose it is; a NAME near NAME_MAX gets a short name instead, still
	 * in the output's directory so the rename stays within one file system. */
	long name_max = pathconf(d, _PC_NAME_MAX);
	if (name_max <= 0)
		name_max = NAME_MAX;
	int n;
	if (strlen(b) + 8 <= (size_t)name_max)
		n = snprintf(o->tmp, sizeof(o->tmp), "%s/.%s.XXXXXX", d, b);
	else
		n = snprintf(o->tmp, sizeof(o->tmp), "%s/.octoray-run.XXXXXX", d);
	if (n >= (int)sizeof(o->tmp))
		return -ENAMETOOLONG;
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0)
		return -errno;
	signals_track_output(o->tmp);
	return 0;
}

void outfile_abort(struct outfile *o)
{
	if (o->fd >= 0) {
		close(o->fd);
		unlink(o->tmp);
		o->fd = -1;
	}
	signals_track_output(NULL);
}

static int sync_dir(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int outfile_commit(struct outfile *o, const struct stat *src, const struct timespec *mtime,
		   bool force)
{
	int rc = 0;
	if (src) {
		/* Owner first: fchown may clear bits that fchmod then sets. As gzip, the set-id and
		 * sticky bits are not carried over: a compressed copy is not a program. Failing to
		 * keep the owner (not root) or the times is not worth losing the output over. */
		if (fchown(o->fd, src->st_uid, src->st_gid) < 0 && errno != EPERM)
			rc = -errno;
		if (!rc && fchmod(o->fd, src->st_mode & 0777) < 0)
			rc = -errno;
		struct timespec ts[2] = { src->st_atim, mtime ? *mtime : src->st_mtim };
		if (!rc)
			futimens(o->fd, ts);
	} else {
		/* mkostemp made it 0600: give a new file the mode open(2) would have */
		mode_t mask = umask(0);
		umask(mask);
		if (fchmod(o->fd, 0666 & ~mask) < 0)
			rc = -errno;
	}
	if (!rc && fsync(o->fd) < 0)
		rc = -errno;
	if (!rc && close(o->fd) < 0)
		rc = -errno;
	else if (rc)
		close(o->fd);
	o->fd = -1;
	if (!rc) {
		rc = renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->path, force ? 0 : RENAME_NOREPLACE);
		if (rc < 0 && errno == EINVAL && !force) {
			/* No RENAME_NOREPLACE on this file system: check, then rename. */
			struct stat st;
			rc = lstat(o->path, &st) == 0 ? (errno = EEXIST, -1)
						       : rename(o->tmp, o->path);
		}
		rc = rc < 0 ? -errno : 0;
	}
	if (rc) {
		unlink(o->tmp);
		signals_track_output(NULL);
		return rc;
	}
	signals_track_output(NULL);
	return sync_dir(o->path);
}
