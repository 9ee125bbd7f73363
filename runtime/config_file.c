/* SPDX-License-Identifier: MIT */
/*
 * config_file.c - INI files for the devices (sim, xrt), read so that libinih cannot misread
 * them: the file is read whole (a regular file of bounded size, never a FIFO or /dev/zero) and
 * every line checked before inih parses the text.
 *
 * libinih reads a line into a fixed buffer (INI_MAX_LINE, 200 in Debian's build) and parses
 * what does not fit as a line of its own: "; <197 characters>engines = 1" would set engines,
 * and with a leading space the tail continues the previous key. A NUL byte ends the text that
 * ini_parse_string sees, silently dropping the rest. Both are refused here with the line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "internal.h"

/* Biggest config we read: ours are a few KiB. */
#define INI_FILE_MAX ((size_t)1 << 20)

int ory_ini_parse_file(const char *path, ory_ini_handler handler, void *arg, char *why,
		       size_t why_len)
{
	char *text;
	size_t len;
	int rc = ory_read_small_file(path, INI_FILE_MAX, &text, &len, why, why_len);
	if (rc < 0)
		return rc;
	unsigned line = 1;
	for (size_t start = 0, i = 0; i <= len && rc == 0; i++) {
		if (i < len && text[i] == '\0') {
			snprintf(why, why_len, "%s:%u: NUL byte in a text file", path, line);
			rc = -EINVAL;
		} else if (i - start > ORY_INI_LINE_MAX) {
			snprintf(why, why_len, "%s:%u: line too long (more than %d characters)",
				 path, line, ORY_INI_LINE_MAX);
			rc = -EINVAL;
		} else if (i == len || text[i] == '\n') {
			start = i + 1;
			line++;
		}
	}
	if (rc == 0) {
		rc = ini_parse_string(text, handler, arg);
		if (rc < 0) {
			snprintf(why, why_len, "%s: out of memory", path);
			rc = -ENOMEM;
		}
	}
	free(text);
	return rc;
}
