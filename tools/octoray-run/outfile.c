/* SPDX-License-Identifier: MIT */
/* outfile.c - write an output file under a temporary name, then sync and rename it into place:
 * a crash, an error or a signal never leaves a partial file under the real name. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* The temporary file a signal handler must remove; the handler only reads it. */
static volatile sig_atomic_t tmp_live;
static char tmp_path[4096];

static void on_signal(int sig)
{
	if (tmp_live)
		unlink(tmp_path); /* async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig);
}

void outfile_install_signal_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static void track(const char *path)
{
	/* Block the handled signals while the path changes so the handler never sees half. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	if (path) {
		snprintf(tmp_path, sizeof(tmp_path), "%s", path);
		tmp_live = 1;
	} else {
		tmp_live = 0;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

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
	int n = snprintf(o->tmp, sizeof(o->tmp), "%s/.%s.XXXXXX", dirname(dir), basename(base));
	if (n >= (int)sizeof(o->tmp))
		return -ENAMETOOLONG;
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0)
		return -errno;
	track(o->tmp);
	return 0;
}

void outfile_abort(struct outfile *o)
{
	if (o->fd >= 0) {
		close(o->fd);
		unlink(o->tmp);
		o->fd = -1;
	}
	track(NULL);
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

int outfile_commit(struct outfile *o, const struct stat *src, bool force)
{
	int rc = 0;
	if (src) {
		/* Owner first: fchown may clear set-id bits that fchmod then restores. Failing to
		 * keep the owner (not root) or the times is not worth losing the output over. */
		if (fchown(o->fd, src->st_uid, src->st_gid) < 0 && errno != EPERM)
			rc = -errno;
		if (!rc && fchmod(o->fd, src->st_mode & 07777) < 0)
			rc = -errno;
		struct timespec ts[2] = { src->st_atim, src->st_mtim };
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
		track(NULL);
		return rc;
	}
	track(NULL);
	return sync_dir(o->path);
}
