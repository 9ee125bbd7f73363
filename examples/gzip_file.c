/* SPDX-License-Identifier: MIT */
/* gzip_file.c - the smallest embedding of liboctoray: compress IN to OUT with every device.
 * Build against an installed library: cc gzip_file.c $(pkg-config --cflags --libs octoray) */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <octoray/octoray.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s IN OUT.gz\n", argv[0]);
		return 1;
	}
	int in = open(argv[1], O_RDONLY);
	int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || out < 0) {
		perror(in < 0 ? argv[1] : argv[2]);
		return 1;
	}

	struct ory_runtime_opts ro;
	ory_runtime_opts_init(&ro); /* every accelerator, else every core; 1 MiB chunks */
	struct ory_runtime *rt;
	char err[256];
	int rc = ory_runtime_create(&ro, &rt, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "octoray: %s\n", err);
		return 1;
	}

	struct ory_gzip_opts go;
	ory_gzip_opts_init(&go);
	go.level = 1;
	struct ory_job_stats st = { .struct_size = sizeof(st) };
	rc = ory_gzip_fd(rt, in, out, &go, &st);
	if (rc < 0)
		fprintf(stderr, "octoray: %s\n", ory_runtime_errmsg(rt));
	else
		printf("%llu -> %llu bytes in %.3f s on %u devices\n",
		       (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
		       st.seconds, ory_runtime_device_count(rt));
	ory_runtime_destroy(rt);
	close(in);
	return rc < 0 || close(out) < 0;
}
