/* SPDX-License-Identifier: MIT */
/* gnu.h - run GNU gzip (the reference) and octoray-run gzip side by side on copies of the same
 * files, and compare what each did: exit status, messages and the files left behind. */
#ifndef ORY_TEST_GNU_H
#define ORY_TEST_GNU_H

#include "cli.h"

/* Each comparison gets fresh directories: gnuN and oryN. */
static unsigned side_seq;

struct side {
	int rc;
	char *err;   /* stderr: blank lines dropped, "gzip: " made "octoray-run: " */
	char *out;   /* stdout */
	char *files; /* "path type mode" of every file left in the directory, sorted */
};

/* Drop blank lines (GNU starts some messages with one) and give both tools one name. */
static inline char *side_normalize(const char *err)
{
	char *res = calloc(1, strlen(err) * 2 + 16);
	char *o = res;
	for (const char *p = err; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n) {
			if (!strncmp(p, "gzip: ", 6)) {
				o += sprintf(o, "octoray-run: ");
				p += 6;
				n -= 6;
			}
			memcpy(o, p, n);
			o += n;
			*o++ = '\n';
		}
		p += n + (nl ? 1 : 0);
	}
	*o = 0;
	return res;
}

/* In dir/sub: run `setup` (sh), then `tool args` with stdin from /dev/null. tool is "gzip" or
 * "ory" (octoray-run gzip). A run that hangs is stopped after 20 s (status 124). */
static inline void side_run(const char *sub, const char *setup, const char *tool,
			    const char *args, struct side *s)
{
	char cmd[8192];
	const char *prog = !strcmp(tool, "ory") ? "'" ORY_CLI "' gzip" : "gzip";
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s/%s' && cd '%s/%s' && { %s; } >/dev/null 2>&1 </dev/null; "
		 "timeout 20 %s %s </dev/null >'../%s.out' 2>'../%s.err'; echo $? >'../%s.rc'; "
		 "find . -mindepth 1 -printf '%%P %%y %%m\\n' | sort >'../%s.files'",
		 dir, sub, dir, sub, setup, prog, args, sub, sub, sub, sub);
	tu_sh("%s", cmd);
	char name[64];
	snprintf(name, sizeof(name), "%s.rc", sub);
	char *rc = tu_slurp(tu_path(dir, name));
	s->rc = atoi(rc);
	free(rc);
	snprintf(name, sizeof(name), "%s.err", sub);
	char *err = tu_slurp(tu_path(dir, name));
	s->err = side_normalize(err);
	free(err);
	snprintf(name, sizeof(name), "%s.out", sub);
	s->out = tu_slurp(tu_path(dir, name));
	snprintf(name, sizeof(name), "%s.files", sub);
	s->files = tu_slurp(tu_path(dir, name));
}

static inline void side_free(struct side *s)
{
	free(s->err);
	free(s->out);
	free(s->files);
}

/* What side_compare compares. The _SET variants sort the lines first: with -r, gzip goes
 * through a directory in readdir's order, octoray-run in name order. */
enum {
	SAME_STATUS = 1,
	SAME_MESSAGES = 2,
	SAME_FILES = 4,
	SAME_STDOUT = 8,
	SAME_MESSAGE_SET = 16,
	SAME_STDOUT_SET = 32,
};

static inline int side_line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* text's lines, sorted (caller frees). */
static inline char *side_sorted(const char *text)
{
	char *copy = strdup(text), *res = calloc(1, strlen(text) + 2), *save = NULL;
	char **lines = calloc(strlen(text) + 1, sizeof(*lines));
	size_t n = 0;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	qsort(lines, n, sizeof(*lines), side_line_cmp);
	for (size_t i = 0; i < n; i++)
		strcat(strcat(res, lines[i]), "\n");
	free(lines);
	free(copy);
	return res;
}

/* The same setup and arguments for both tools, in fresh directories (gnuN, oryN): what `same`
 * asks must be GNU gzip's. `what` names the case in failure messages. */
static inline void side_compare(const char *what, const char *setup, const char *args,
				unsigned same)
{
	char g[32], o[32];
	snprintf(g, sizeof(g), "gnu%u", side_seq);
	snprintf(o, sizeof(o), "ory%u", side_seq++);
	struct side gs, os;
	side_run(g, setup, "gzip", args, &gs);
	side_run(o, setup, "ory", args, &os);
	if (same & SAME_STATUS)
		cr_expect_eq(os.rc, gs.rc, "%s: exit %d, gzip's %d (stderr: %s)", what, os.rc,
			     gs.rc, os.err);
	if (same & SAME_MESSAGES)
		cr_expect_str_eq(os.err, gs.err, "%s: messages differ from gzip's", what);
	if (same & SAME_FILES)
		cr_expect_str_eq(os.files, gs.files, "%s: files left differ from gzip's", what);
	if (same & SAME_STDOUT)
		cr_expect_str_eq(os.out, gs.out, "%s: stdout differs from gzip's", what);
	if (same & (SAME_MESSAGE_SET | SAME_STDOUT_SET)) {
		bool err = same & SAME_MESSAGE_SET;
		char *o = side_sorted(err ? os.err : os.out);
		char *g = side_sorted(err ? gs.err : gs.out);
		cr_expect_str_eq(o, g, "%s: %s lines differ from gzip's", what,
				 err ? "stderr" : "stdout");
		free(o);
		free(g);
	}
	side_free(&gs);
	side_free(&os);
}

/* Exit status, messages and the files left must be gzip's. */
#define expect_like_gnu(what, setup, args)                                                    \
	side_compare(what, setup, args, SAME_STATUS | SAME_MESSAGES | SAME_FILES)

#endif
