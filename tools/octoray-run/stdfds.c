/* SPDX-License-Identifier: MIT */
/* stdfds.c - standard descriptors the parent closed (`cmd <&-`). Left closed, the first files
 * the CLI or the library opens (an eventfd, an io_uring, the input) would take their numbers
 * and be read or written as stdin or stdout. So /dev/null holds each closed slot, opened the
 * wrong way round so every read or write through it still fails with EBADF, and the CLI,
 * which remembers, says "Bad file descriptor" before using one, as gzip does. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static bool closed[3];

void stdfds_guard(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* open() takes the lowest free number: fd, since those below are open */
		int nfd = open("/dev/null", fd == STDIN_FILENO ? O_WRONLY : O_RDONLY);
		if (nfd != fd) /* no /dev/null: nothing safe left to do, nowhere to say it */
			_exit(EXIT_ERR);
		closed[fd] = true;
	}
}

bool stdfd_closed(int fd)
{
	return fd >= 0 && fd < 3 && closed[fd];
}

int stdout_finish(int status)
{
	/* Help, the version, device lists and -l go through stdio: a full disk or a closed stdout
	 * shows only here. */
	bool earlier = ferror(stdout);
	errno = 0;
	bool now = fclose(stdout) != 0;
	if (!earlier && !now)
		return status;
	if (now && errno)
		msg("stdout: write error: %s", strerror(errno));
	else /* failed in an earlier write, whose errno is gone */
		msg("stdout: write error");
	return EXIT_ERR;
}
