/* SPDX-License-Identifier: MIT */
/* test_cli_docs.c - the man page and the bash completion (issue 14): the page has no groff or
 * man warning, names every option each command's --help lists, and is installed with the
 * completion, which completes commands, options, device kinds and file names. */
#include "cli.h"

TestSuite(cli_docs, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 60);

#define PAGE ORY_SOURCE_DIR "/man/octoray-run.1"
#define COMPLETION ORY_SOURCE_DIR "/completion/octoray-run.bash"

Test(cli_docs, the_man_page_renders_without_a_warning)
{
	cr_expect_eq(tu_sh("groff -t -ww -man -z '%s' 2>'%s/groff.err'", PAGE, dir), 0);
	char *e = tu_slurp(tu_path(dir, "groff.err"));
	cr_expect_str_eq(e, "", "groff: %s", e);
	free(e);
	/* man also checks that tables and lines fit the terminal */
	for (int width = 60; width <= 120; width += 60) {
		cr_expect_eq(tu_sh("MANWIDTH=%d man --warnings -l '%s' >/dev/null 2>'%s/man.err'",
				   width, PAGE, dir),
			     0);
		e = tu_slurp(tu_path(dir, "man.err"));
		cr_expect_str_eq(e, "", "man at %d columns: %s", width, e);
		free(e);
	}
}

Test(cli_docs, every_option_of_every_help_is_in_the_man_page)
{
	/* Options are the -x and --word tokens of the help lines that start with an option;
	 * the page is compared as rendered text, where \- is a plain '-'. */
	static const char *const script =
		"import re, subprocess, sys\n"
		"cli, page = sys.argv[1], sys.argv[2]\n"
		"text = subprocess.run(['groff', '-t', '-man', '-Tascii', '-P-cbou', page],\n"
		"                      capture_output=True, text=True, check=True).stdout\n"
		"text = re.sub(r'-\\n\\s*', '-', text)  # a word hyphenated at a line end\n"
		"missing = []\n"
		"for cmd in (['gzip'], ['cnv'], ['devices'], []):\n"
		"    out = subprocess.run([cli] + cmd + ['--help'], capture_output=True,\n"
		"                         text=True, check=True).stdout\n"
		"    opts = set()\n"
		"    for line in out.splitlines():\n"
		"        m = re.match(r'\\s+(-[^ ].*?)(\\s{2,}|$)', line)\n"
		"        if m:\n"
		"            opts |= set(re.findall(r'(?<![\\w-])(--?[A-Za-z0-9][\\w-]*)',\n"
		"                                   m.group(1)))\n"
		"    for o in sorted(opts):\n"
		"        if not re.search(r'(?<![\\w-])' + re.escape(o) + r'(?![\\w-])', text):\n"
		"            missing.append(' '.join(cmd + [o]))\n"
		"    if not cmd:\n"
		"        for c in ('gzip', 'cnv', 'devices', 'version'):\n"
		"            if 'THE ' + c.upper() + ' COMMAND' not in text:\n"
		"                missing.append('section for ' + c)\n"
		"if missing:\n"
		"    sys.exit('not in the man page: ' + ', '.join(missing))\n";
	cr_assert_eq(tu_write_file(tu_path(dir, "opts.py"), script, strlen(script)), 0);
	int rc = tu_sh("/usr/bin/python3 '%s/opts.py' '%s' '%s' 2>'%s/py.err'", dir, ORY_CLI, PAGE,
		       dir);
	cr_expect_eq(rc, 0, "%s", tu_slurp(tu_path(dir, "py.err")));
}

Test(cli_docs, install_puts_the_page_and_the_completion_in_place)
{
	int rc = tu_sh("cmake --install '%s' --prefix '%s/prefix' >'%s/install.log' 2>&1",
		       ORY_BUILD_DIR, dir, dir);
	cr_assert_eq(rc, 0, "cmake --install: %s", tu_slurp(tu_path(dir, "install.log")));
	cr_expect(tu_exists(tu_path(dir, "prefix/share/man/man1/octoray-run.1")));
	cr_expect(tu_exists(tu_path(dir, "prefix/share/bash-completion/completions/octoray-run")));
}

/* Complete `words` (the last one being completed) in a bash that has only sourced the
 * completion, in dir/w; COMPREPLY sorted, one per line, into dir/reply. */
static char *complete(const char *words)
{
	int rc = tu_sh("cd '%s/w' && bash --norc --noprofile -c '"
		       "source \"%s\" && COMP_WORDS=(%s) && "
		       "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _octoray_run; "
		       "printf \"%%s\\n\" \"${COMPREPLY[@]}\" | sort' > ../reply 2>../reply.err",
		       dir, COMPLETION, words);
	cr_expect_eq(rc, 0, "%s: %s", words, tu_slurp(tu_path(dir, "reply.err")));
	return tu_slurp(tu_path(dir, "reply"));
}

#define expect_completion(words, want)                                                        \
	do {                                                                                  \
		char *got_ = complete(words);                                                 \
		cr_expect_str_eq(got_, want, "completing %s: '%s'", words, got_);             \
		free(got_);                                                                   \
	} while (0)

Test(cli_docs, bash_completes_commands_options_devices_and_files)
{
	cr_assert_eq(tu_sh("mkdir '%s/w' && cd '%s/w' && touch a.gz b.txt c.TGZ && mkdir sub", dir,
			   dir),
		     0);
	expect_completion("octoray-run \"\"", "--help\n--version\ncnv\ndevices\ngzip\nversion\n");
	expect_completion("octoray-run de", "devices\n");
	expect_completion("octoray-run gzip --st", "--stats-json\n--stdout\n");
	expect_completion("octoray-run gzip --no-", "--no-name\n--no-time\n--no-verify\n");
	expect_completion("octoray-run cnv --fo", "--force\n--format\n");
	expect_completion("octoray-run cnv --format j", "json\n");
	expect_completion("octoray-run gzip --devices s", "sim:\n");
	expect_completion("octoray-run gzip --devices cpu:2+f",
			  "cpu:2+fault:cpu:\ncpu:2+fault:sim:\n");
	expect_completion("octoray-run gzip --fallback \"\"", "cpu\nnone\n");
	expect_completion("octoray-run gzip -k \"\"", "a.gz\nb.txt\nc.TGZ\nsub\n");
	expect_completion("octoray-run gzip -kd \"\"", "a.gz\nc.TGZ\nsub\n");
	expect_completion("octoray-run gzip --list \"\"", "a.gz\nc.TGZ\nsub\n");
	expect_completion("octoray-run devices -", "--devices\n--help\n-h\n");
}
