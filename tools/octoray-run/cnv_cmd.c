/* SPDX-License-Identifier: MIT */
/* cnv_cmd.c - `octoray-run cnv`: classify CIFAR-10 images with CNV-W1A1 on every device, one
 * line per image in input order, then the accuracy when the input carries labels. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define CIFAR_RECORD 3073u
#define CNV_BATCH_MAX (64u * 1024 * 1024 / CIFAR_RECORD)
#include "ppm.h"

struct cnv_cli {
	struct cli_devices dev;
	struct ory_cnv_opts o;
	bool raw, verbose, quiet, force;
	const char *output;
	struct ory_runtime *rt;
	struct ory_cnv_result res;
	int out_fd;
	FILE *summary; /* where the accuracy goes: stdout for text, stderr for CSV/JSON */
};

static void cnv_usage(FILE *f)
{
	fprintf(f,
		"usage: %s cnv [OPTIONS] INPUT...\n"
		"Classify 32x32 RGB images with CNV-W1A1 (binarized CIFAR-10 network, bit-exact with\n"
		"BNN-PYNQ). INPUT is a CIFAR-10 binary batch (label + R,G,B planes per record), a raw\n"
		"uint8 NHWC file (--raw, FINN's format), a P6 PPM image (32x32, maxval 255), or '-'.\n"
		"\n"
		"      --model FILE     .orym model (default: the built-in CNV-W1A1)\n"
		"      --weights DIR    a BNN-PYNQ cnvW1A1 parameter folder instead\n"
		"      --raw            inputs are raw NHWC uint8 images, 3072 bytes each\n"
		"      --batch N        images per chunk (default 256, at most 21845)\n"
		"      --format FMT     text (default) | csv | json (JSON Lines) | none\n"
		"  -o, --output FILE    write the lines to FILE instead of stdout\n"
		"  -f, --force          overwrite FILE\n"
		"  -v, --verbose        scores on each line, images/s, confusion matrix\n"
		"  -q, --quiet          no warnings\n" CLI_DEVICE_HELP
		"  -h, --help\n"
		"With labels (CIFAR-10 input) a last line gives the accuracy: on stdout for text,\n"
		"on stderr for csv and json.\n",
		prog);
}

static bool is_ppm(const char *path)
{
	size_t n = strlen(path);
	return n > 4 && !strcasecmp(path + n - 4, ".ppm");
}

/* Append the pixels of one 32x32 P6 PPM (maxval 255) to fd; -1 with a message on bad input. */
static int add_ppm(const char *path, int fd)
{
	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		msg("%s: %s", path, strerror(errno));
		return -1;
	}
	static uint8_t b[PPM_FILE_MAX];
	long len = ppm_read_all(in, b, sizeof(b));
	int err = errno;
	close(in);
	if (len < 0 && err != EFBIG) {
		msg("%s: read error: %s", path, strerror(err));
		return -1;
	}
	long off = len < 0 ? -1 : ppm_cnv_pixels(b, (size_t)len);
	if (off < 0) {
		msg("%s: not a 32x32 P6 PPM image with maxval 255", path);
		return -1;
	}
	if (write(fd, b + off, PPM_CNV_PIXELS) != PPM_CNV_PIXELS) {
		msg("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Classify one input (an fd); returns 0 or -1 after printing the error. */
static int classify(struct cnv_cli *c, int fd, const char *name, enum ory_cnv_input input)
{
	c->o.input = input;
	c->o.first_index = c->res.images;
	int rc = ory_cnv_fd(c->rt, fd, c->out_fd, &c->o, &c->res);
	c->o.header = false; /* one CSV header for the whole run */
	if (rc == 0)
		return 0;
	const char *why = ory_runtime_errmsg(c->rt);
	enum ory_error_origin origin = ory_runtime_error_origin(c->rt);
	if (origin == ORY_ORIGIN_INPUT)
		msg("%s: %s", name, why[0] ? why : ory_strerror(rc));
	else if (origin == ORY_ORIGIN_OUTPUT)
		msg("%s: %s", c->output ? c->output : "stdout", why[0] ? why : ory_strerror(rc));
	else
		msg("%s", why[0] ? why : ory_strerror(rc));
	return -1;
}

/* Consecutive PPM images become one job over an in-memory file of raw images. */
static int classify_ppms(struct cnv_cli *c, char **paths, int n)
{
	int fd = memfd_create("octoray-ppm", MFD_CLOEXEC);
	if (fd < 0) {
		msg("memfd_create: %s", strerror(errno));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++)
		rc = add_ppm(paths[i], fd);
	if (rc == 0) {
		lseek(fd, 0, SEEK_SET);
		rc = classify(c, fd, n == 1 ? paths[0] : "PPM images", ORY_CNV_RAW);
	}
	close(fd);
	return rc;
}

static int classify_file(struct cnv_cli *c, const char *path)
{
	if (!strcmp(path, "-"))
		return classify(c, STDIN_FILENO, "stdin", c->raw ? ORY_CNV_RAW : ORY_CNV_CIFAR);
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		msg("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		msg("%s: is a directory", path);
		close(fd);
		return -1;
	}
	int rc = classify(c, fd, path, c->raw ? ORY_CNV_RAW : ORY_CNV_CIFAR);
	close(fd);
	return rc;
}

static void summary(struct cnv_cli *c)
{
	const struct ory_cnv_result *r = &c->res;
	if (r->labelled)
		fprintf(c->summary, "accuracy %.2f%% (%llu of %llu)\n",
			100.0 * (double)r->correct / (double)r->labelled,
			(unsigned long long)r->correct, (unsigned long long)r->labelled);
	if (!c->verbose)
		return;
	if (r->labelled) {
		fprintf(c->summary, "confusion (rows: label, columns: predicted)\n%10s", "");
		for (unsigned p = 0; p < 10; p++)
			fprintf(c->summary, " %5.5s", ory_cnv_class_name(p));
		fputc('\n', c->summary);
		for (unsigned l = 0; l < 10; l++) {
			fprintf(c->summary, "%10s", ory_cnv_class_name(l));
			for (unsigned p = 0; p < 10; p++)
				fprintf(c->summary, " %5llu", (unsigned long long)r->confusion[l][p]);
			fputc('\n', c->summary);
		}
	}
	fprintf(stderr, "%llu images in %.3f s: %.0f images/s,", (unsigned long long)r->images,
		r->seconds, r->seconds > 0 ? (double)r->images / r->seconds : 0);
	cli_device_report(c->rt);
	fputc('\n', stderr);
}

int cmd_cnv(int argc, char **argv)
{
	struct cnv_cli c = { .dev = { .spec = "all" }, .out_fd = STDOUT_FILENO };
	ory_cnv_opts_init(&c.o);
	enum { OPT_MODEL = 256, OPT_WEIGHTS, OPT_RAW, OPT_BATCH, OPT_FORMAT };
	static const struct option longs[] = {
		{ "model", required_argument, NULL, OPT_MODEL },
		{ "weights", required_argument, NULL, OPT_WEIGHTS },
		{ "raw", no_argument, NULL, OPT_RAW },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		CLI_DEVICE_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "o:fvqp:h", longs, NULL)) != -1) {
		char *end;
		int dev = cli_device_option(&c.dev, ch, optarg);
		if (dev < 0)
			return EXIT_ERR;
		if (dev > 0)
			continue;
		switch (ch) {
		case OPT_MODEL: c.o.model_path = optarg; break;
		case OPT_WEIGHTS: c.o.weights_dir = optarg; break;
		case OPT_RAW: c.raw = true; break;
		case OPT_BATCH:
			errno = 0;
			c.o.batch = (unsigned)strtoul(optarg, &end, 10);
			/* a batch is a chunk, and chunks are at most 64 MiB */
			if (errno || *end || c.o.batch < 1 || c.o.batch > CNV_BATCH_MAX) {
				msg("invalid batch '%s' (1 .. %u images)", optarg, CNV_BATCH_MAX);
				return EXIT_ERR;
			}
			break;
		case OPT_FORMAT:
			if (!strcmp(optarg, "text"))
				c.o.format = ORY_CNV_TEXT;
			else if (!strcmp(optarg, "csv"))
				c.o.format = ORY_CNV_CSV;
			else if (!strcmp(optarg, "json"))
				c.o.format = ORY_CNV_JSON;
			else if (!strcmp(optarg, "none"))
				c.o.format = ORY_CNV_NONE;
			else {
				msg("--format takes text, csv, json or none, not '%s'", optarg);
				return EXIT_ERR;
			}
			break;
		case 'o': c.output = optarg; break;
		case 'f': c.force = true; break;
		case 'v': c.verbose = true; c.quiet = false; break;
		case 'q': c.quiet = true; c.verbose = false; break;
		case 'h': cnv_usage(stdout); return EXIT_OK;
		default:
			msg("cnv: invalid option '%s' (see %s cnv --help)", argv[optind - 1], prog);
			return EXIT_ERR;
		}
	}
	if (optind == argc) {
		msg("cnv: no INPUT (see %s cnv --help)", prog);
		return EXIT_ERR;
	}
	if (c.o.model_path && c.o.weights_dir) {
		msg("cnv: --model and --weights exclude each other");
		return EXIT_ERR;
	}
	c.o.scores = c.verbose;
	c.summary = c.o.format == ORY_CNV_TEXT && !c.output ? stdout : stderr;
	c.res.struct_size = sizeof(c.res);
	setenv("ORY_XRT_APP", "cnv", 0); /* cards found by --devices all load the CNV design */
	/* The runtime's buffers hold a batch of CIFAR-10 records (the larger kind), and no more
	 * than the default 1 MiB when the batch is smaller. */
	size_t kib = ((size_t)c.o.batch * CIFAR_RECORD + 1023) / 1024;
	c.dev.chunk_kib = kib > 1024 ? kib : 1024;
	if (cli_open_runtime(&c.dev, c.verbose, c.quiet, &c.rt) < 0)
		return EXIT_ERR;
	signals_install();
	struct outfile of;
	if (c.output) {
		int rc = outfile_open(&of, c.output, c.force);
		if (rc < 0) {
			msg(rc == -EEXIST ? "%s already exists; not overwritten" : "%s: %s", c.output,
			    ory_strerror(rc));
			ory_runtime_destroy(c.rt);
			return EXIT_ERR;
		}
		c.out_fd = of.fd;
	}

	int rc = 0;
	for (int i = optind; i < argc && rc == 0;) {
		int j = i;
		while (j < argc && is_ppm(argv[j]))
			j++;
		if (j > i) {
			rc = classify_ppms(&c, argv + i, j - i);
			i = j;
		} else {
			rc = classify_file(&c, argv[i++]);
		}
	}
	if (c.output) {
		if (rc == 0 && (rc = outfile_commit(&of, NULL, NULL, c.force)) < 0)
			msg("%s: %s", c.output, ory_strerror(rc));
		else if (rc)
			outfile_abort(&of);
	}
	if (rc == 0) {
		fflush(stdout);
		summary(&c);
	}
	ory_runtime_destroy(c.rt);
	return rc ? EXIT_ERR : EXIT_OK;
}
