/* SPDX-License-Identifier: MIT */
/* gzip_cmd.c - `octoray-run gzip`: gzip/pigz's command line on top of liboctoray (the options;
 * gzip_file.c handles each input). Exit status as gzip's: 0 ok, 1 if any file failed, else 2 if
 * any warning. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gzip.h"

static void gzip_usage(FILE *f)
{
	fprintf(f,
		"usage: %s gzip [OPTIONS] [FILE...]\n"
		"Compress FILEs to FILE.gz (removing FILE once FILE.gz is complete and synced),\n"
		"or standard input to standard output when no FILE (or '-') is given.\n"
		"\n"
		"  -c, --stdout         write to standard output, keep input files\n"
		"  -d, --decompress     decompress\n"
		"  -t, --test           test compressed files\n"
		"  -l, --list           list compressed sizes, sizes, ratios and names (-v: the\n"
		"                       CRC and date too), as gzip -l\n"
		"  -f, --force          overwrite outputs; compress links, .gz files, to a tty\n"
		"  -k, --keep           keep input files\n"
		"  -o, --output FILE    write to FILE (one input only; the input is kept)\n"
		"  -r, --recursive      walk into directories (symlinks only with -f)\n"
		"  -1 .. -9             level: 1-3 ISA-L, 4-9 libdeflate (default 6)\n"
		"      --fast, --best   -1, -9\n"
		"  -b, --blocksize KiB  chunk size (default 1024, 32 .. 65536)\n"
		"  -i, --independent    independent chunks with an index, decodable in parallel\n"
		"                       and at any offset (the default)\n"
		"      --primed         prime each chunk at levels 1-3 with the 32 KiB before it\n"
		"                       (pigz's way: a little smaller, no index)\n"
		"  -n, --no-name        compressing: store no name and time; -d: restore neither\n"
		"                       (the default of -d)\n"
		"  -N, --name           compressing: store the name and time (the default);\n"
		"                       -d: name the output as stored, give it the stored time\n"
		"  -T, --no-time        do not store (or with -N restore) the time (also -m)\n"
		"  -M, --time           store (or with -d restore) the time\n"
		"  -S, --suffix SUF     suffix instead of .gz\n"
		"      --range OFF:LEN  with -d and -c or -o: only bytes OFF .. OFF+LEN-1 of the\n"
		"                       original (K, M, G: KiB, MiB, GiB), inflating only the\n"
		"                       chunks that hold them (our indexed files)\n"
		"      --synchronous    accepted: outputs are always synced before the input goes\n"
		"  -R, --rsyncable      content-defined chunks: an edit of the input changes the\n"
		"                       output only near it (rsync, deduplication); indexed\n"
		CLI_DEVICE_HELP
		"  -v, --verbose        per-file ratio, devices used, MB/s\n"
		"      --stats-json FILE\n"
		"                       what -v says, as JSON in FILE when the run ends ('-':\n"
		"                       standard error)\n"
		"      --progress       progress meter on stderr even for short runs\n"
		"  -q, --quiet          no warnings\n"
		"  -V, --version\n"
		"  -h, --help\n",
		prog);
}

/* "OFFSET:LENGTH", each a number with an optional K, M or G (powers of 1024). */
static int parse_range(const char *arg, uint64_t *off, uint64_t *len)
{
	uint64_t v[2];
	const char *p = arg;
	for (int i = 0; i < 2; i++) {
		char *end;
		if (*p < '0' || *p > '9')
			return -1;
		errno = 0;
		unsigned long long n = strtoull(p, &end, 10);
		int shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
		if (shift)
			end++;
		if (errno || (shift && n > UINT64_MAX >> shift))
			return -1;
		v[i] = (uint64_t)n << shift;
		if (i == 0 && *end != ':')
			return -1;
		if (i == 1 && *end)
			return -1;
		p = end + 1;
	}
	*off = v[0];
	*len = v[1];
	return 0;
}

int cmd_gzip(int argc, char **argv)
{
	struct gz_cli c = {
		.dev = { .spec = "all", .chunk_kib = 1024 }, .level = 6, .suffix = ".gz",
		.no_name = -1, .no_time = -1, .independent = true,
	};
	enum { OPT_FAST = 256, OPT_BEST, OPT_PROGRESS, OPT_SYNCHRONOUS, OPT_STATS_JSON,
	       OPT_PRIMED, OPT_RANGE };
	const char *stats_json = NULL;
	static const struct option longs[] = {
		{ "stdout", no_argument, NULL, 'c' },      { "to-stdout", no_argument, NULL, 'c' },
		{ "decompress", no_argument, NULL, 'd' },  { "uncompress", no_argument, NULL, 'd' },
		{ "test", no_argument, NULL, 't' },        { "force", no_argument, NULL, 'f' },
		{ "list", no_argument, NULL, 'l' },        { "recursive", no_argument, NULL, 'r' },
		{ "keep", no_argument, NULL, 'k' },        { "output", required_argument, NULL, 'o' },
		{ "fast", no_argument, NULL, OPT_FAST },   { "best", no_argument, NULL, OPT_BEST },
		{ "blocksize", required_argument, NULL, 'b' },
		{ "independent", no_argument, NULL, 'i' }, { "no-name", no_argument, NULL, 'n' },
		{ "primed", no_argument, NULL, OPT_PRIMED },
		{ "range", required_argument, NULL, OPT_RANGE },
		{ "name", no_argument, NULL, 'N' },        { "no-time", no_argument, NULL, 'T' },
		{ "time", no_argument, NULL, 'M' },
		{ "suffix", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },     { "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "synchronous", no_argument, NULL, OPT_SYNCHRONOUS },
		{ "stats-json", required_argument, NULL, OPT_STATS_JSON },
		{ "rsyncable", no_argument, NULL, 'R' },  { "version", no_argument, NULL, 'V' },
		CLI_DEVICE_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
	};
	int ch;
	optind = 1;
	opterr = 0;
	const char *shorts = "cdtlfko:r123456789b:inNmMTS:p:vqRVh";
	while ((ch = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		char *end;
		int dev = cli_device_option(&c.dev, ch, optarg);
		if (dev < 0)
			return EXIT_ERR;
		if (dev > 0)
			continue;
		switch (ch) {
		case 'c': c.to_stdout = true; break;
		case 'd': c.decompress = true; break;
		case 't': c.test = true; break;
		case 'l': c.list = true; break;
		case 'f': c.force = true; break;
		case 'k': c.keep = true; break;
		case 'o': c.output = optarg; break;
		case 'r': c.recursive = true; break;
		case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8':
		case '9': c.level = ch - '0'; break;
		case OPT_FAST: c.level = 1; break;
		case OPT_BEST: c.level = 9; break;
		case 'b':
			errno = 0;
			c.dev.chunk_kib = strtoul(optarg, &end, 10);
			if (errno || *end || c.dev.chunk_kib < 32 || c.dev.chunk_kib > 65536) {
				msg("invalid block size '%s' (KiB, 32 .. 65536)", optarg);
				return EXIT_ERR;
			}
			break;
		case 'i': c.independent = true; break;
		case OPT_PRIMED: c.independent = false; break;
		case OPT_RANGE:
			if (parse_range(optarg, &c.range_off, &c.range_len) < 0) {
				msg("invalid range '%s' (OFFSET:LENGTH in bytes, K, M or G)", optarg);
				return EXIT_ERR;
			}
			c.has_range = true;
			break;
		case 'n': c.no_name = c.no_time = 1; break;
		case 'N': c.no_name = c.no_time = 0; break;
		case 'm': case 'T': c.no_time = 1; break; /* gzip's -m, pigz's -m and -T */
		case 'M': c.no_time = 0; break;
		case 'S':
			if (strchr(optarg, '/')) {
				msg("suffix contains '/'");
				return EXIT_ERR;
			}
			/* gzip's limit: its name buffers keep 30 bytes for the suffix */
			if (!optarg[0] || strlen(optarg) > 30) {
				msg("invalid suffix '%s'", optarg);
				return EXIT_ERR;
			}
			c.suffix = optarg;
			break;
		case 'v': c.verbose = true; c.quiet = false; break;
		case 'q': c.quiet = true; c.verbose = false; break;
		case OPT_PROGRESS: c.progress = true; break;
		case OPT_SYNCHRONOUS: break; /* what outfile_commit always does */
		case OPT_STATS_JSON: stats_json = optarg; break;
		case 'R': c.rsyncable = true; break;
		case 'V': printf("octoray-run %s\n", ory_version()); return EXIT_OK;
		case 'h': gzip_usage(stdout); return EXIT_OK;
		default:
			if (optopt && optopt < 256)
				msg("gzip: invalid option -- '%c' (see %s gzip --help)", optopt, prog);
			else
				msg("gzip: invalid option '%s' (see %s gzip --help)", argv[optind - 1],
				    prog);
			return EXIT_ERR;
		}
	}
	if (c.rsyncable && !c.independent) {
		msg("--rsyncable needs independent chunks: not with --primed");
		return EXIT_ERR;
	}
	int nfiles = argc - optind;
	if (c.output && (nfiles > 1 || c.to_stdout || c.test || c.list || c.recursive)) {
		msg("-o takes exactly one input and excludes -c, -t, -l and -r");
		return EXIT_ERR;
	}
	if (c.has_range && (!c.decompress || c.test || c.list || c.recursive ||
			    (!c.to_stdout && !c.output) || nfiles != 1)) {
		msg("--range takes -d, one FILE and -c or -o");
		return EXIT_ERR;
	}
	if (c.list && stats_json) {
		msg("--stats-json does not apply to -l");
		return EXIT_ERR;
	}
	if (c.list) /* as gzip: a test that reports */
		c.test = true;
	if (c.test)
		c.decompress = true;
	/* gzip's defaults: compressing stores the name and time, -d restores neither */
	if (c.no_name < 0)
		c.no_name = c.decompress;
	if (c.no_time < 0)
		c.no_time = c.decompress;
	if (stats_json && !(c.json = stats_json_open(stats_json)))
		return EXIT_ERR;
	if (!c.list && cli_open_runtime(&c.dev, c.verbose, c.quiet, &c.rt) < 0)
		return EXIT_ERR;
	signals_install();

	if (nfiles == 0)
		gz_do_stdin(&c);
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "-"))
			gz_do_stdin(&c);
		else
			gz_do_file(&c, argv[i]);
	}
	if (c.list)
		gz_list_totals(&c, nfiles);
	if (c.json && stats_json_close(c.json, &c) < 0)
		c.status = EXIT_ERR;
	ory_runtime_destroy(c.rt);
	return c.status;
}
