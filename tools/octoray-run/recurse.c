/* SPDX-License-Identifier: MIT */
/* recurse.c - gzip -r: each entry of a directory handled as if it had been named, depth first.
 * Entries go in name order (gzip takes readdir's, which differs between runs and file
 * systems). As for files, a symlink is not followed without -f (or -c, -t, -l); when it is, a
 * directory met again through a link is skipped, so a link cycle cannot recurse forever. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gzip.h"

/* The directories being walked, innermost first. */
struct walk {
	dev_t dev;
	ino_t ino;
	const struct walk *up;
};
static const struct walk *walking;

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of the directory at fd (. and .. aside), sorted, into *names (caller frees);
 * false after a message. */
static bool entries(struct gz_cli *c, const char *path, int fd, char ***out, size_t *count)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		msg("%s: %s", path, strerror(errno));
		close(fd);
		return false;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	for (errno = 0; (e = readdir(d)); errno = 0) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));
			if (!more)
				break;
			names = more;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	if (errno) { /* a read error or no memory: what was read is still walked */
		msg("%s: %s", path, strerror(errno));
		gz_note(c, EXIT_ERR);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	*out = names;
	*count = n;
	return true;
}

void gz_do_dir(struct gz_cli *c, const char *path, const struct stat *st)
{
	for (const struct walk *w = walking; w; w = w->up) {
		if (w->dev == st->st_dev && w->ino == st->st_ino)
			return gz_warn(c, "%s: directory already being walked -- ignored", path);
	}
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
			      (gz_follows_links(c) ? 0 : O_NOFOLLOW));
	struct stat now;
	if (fd < 0 || fstat(fd, &now) < 0) {
		msg("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return gz_note(c, EXIT_ERR);
	}
	if (now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		msg("%s: directory changed while being opened -- ignored", path);
		close(fd);
		return gz_note(c, EXIT_ERR);
	}
	size_t n = 0;
	char **names = NULL;
	if (!entries(c, path, fd, &names, &n))
		return gz_note(c, EXIT_ERR);
	struct walk here = { st->st_dev, st->st_ino, walking };
	walking = &here;
	size_t len = strlen(path);
	bool slash = len && path[len - 1] == '/';
	char *child = malloc(PATH_MAX); /* on the heap: a deep tree recurses through here */
	for (size_t i = 0; i < n; i++) {
		if (!child || snprintf(child, PATH_MAX, "%s%s%s", path, slash ? "" : "/",
				       names[i]) >= PATH_MAX) {
			msg("%s/%s: %s", path, names[i],
			    child ? "pathname too long" : strerror(ENOMEM));
			gz_note(c, EXIT_ERR);
		} else {
			gz_do_file(c, child);
		}
		free(names[i]);
	}
	walking = here.up;
	free(child);
	free(names);
}
