/* SPDX-License-Identifier: MIT */
/* suffix.c - gzip's idea of a compressed file's name: the -S suffix and .gz, .z, .taz, .tgz,
 * -gz, -z, _z, in any case (so .Z and .GZ too), and the name each one decompresses to. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "gzip.h"

static const char *const builtin[] = { ".gz", ".z", ".taz", ".tgz", "-gz", "-z", "_z" };

/* Does name (of length n) end in suffix s, case aside, with something before it that is not
 * a '/'? ".gz" alone, or "dir/.gz", has no suffix. */
static bool ends_in(const char *name, size_t n, const char *s)
{
	size_t m = strlen(s);
	return n > m && name[n - m - 1] != '/' && !strcasecmp(name + n - m, s);
}

const char *gz_suffix_of(const struct gz_cli *c, const char *name)
{
	size_t n = strlen(name);
	/* gzip tries -S first, unless it is the tail of a built-in one (-S z): then last, so that
	 * "a.gz" still loses ".gz" rather than "z" */
	bool tail_of_builtin = false;
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		size_t bl = strlen(builtin[i]), sl = strlen(c->suffix);
		if (sl < bl && !strcasecmp(builtin[i] + bl - sl, c->suffix))
			tail_of_builtin = true;
	}
	if (!tail_of_builtin && ends_in(name, n, c->suffix))
		return name + n - strlen(c->suffix);
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (ends_in(name, n, builtin[i]))
			return name + n - strlen(builtin[i]);
	if (tail_of_builtin && ends_in(name, n, c->suffix))
		return name + n - strlen(c->suffix);
	return NULL;
}

bool gz_plain_name(const struct gz_cli *c, const char *name, char *out, size_t len)
{
	const char *s = gz_suffix_of(c, name);
	if (!s)
		return false;
	bool tar = !strcasecmp(s, ".tgz") || !strcasecmp(s, ".taz");
	return snprintf(out, len, "%.*s%s", (int)(s - name), name, tar ? ".tar" : "") < (int)len;
}

/* The suffixes gzip -d tries, in its order, on a name that does not exist. */
static const char *const tried[] = { ".gz", ".z", "-z", ".Z" };

bool gz_find_compressed(const struct gz_cli *c, const char *name, char *out, size_t len)
{
	if (gz_suffix_of(c, name))
		return false;
	for (int i = -1; i < (int)(sizeof(tried) / sizeof(tried[0])); i++) {
		const char *s = i < 0 ? c->suffix : tried[i];
		if (i >= 0 && !strcmp(s, c->suffix))
			continue;
		if (snprintf(out, len, "%s%s", name, s) >= (int)len)
			return false;
		struct stat st;
		if (lstat(out, &st) == 0 || errno != ENOENT)
			return true;
	}
	return false;
}
