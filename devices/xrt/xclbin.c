/* SPDX-License-Identifier: MIT */
/* xclbin.c - reads the few sections of an xclbin (struct axlf) that say which compute units it
 * holds and where their arguments live, so a wrong file is refused with a clear reason before
 * XRT sees it (XRT's own messages go to stderr, and some of its failures are fatal). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xclbin.h>

#include "xrt_internal.h"

/* Metadata sections are kilobytes; anything above this is not one. */
#define SECTION_MAX ((uint64_t)16 << 20)

/* Section `kind` into a fresh buffer of at least `min` bytes; -ENOENT when absent. */
static int load_section(int fd, uint64_t flen, const struct axlf_section_header *sh, unsigned nsec,
			uint32_t kind, size_t min, void **out, size_t *out_len)
{
	for (unsigned i = 0; i < nsec; i++) {
		if (sh[i].m_sectionKind != kind)
			continue;
		uint64_t off = sh[i].m_sectionOffset, len = sh[i].m_sectionSize;
		if (len < min || len > SECTION_MAX || off > flen || len > flen - off)
			return -EINVAL;
		void *buf = malloc(len);
		if (!buf)
			return -ENOMEM;
		int rc = ory_pread_full(fd, buf, len, off);
		if (rc < 0) {
			free(buf);
			return rc;
		}
		*out = buf;
		*out_len = len;
		return 0;
	}
	return -ENOENT;
}

/* Does a section of `len` bytes hold the `count` entries of `esize` its header claims? */
static bool fits(int32_t count, size_t hdr, size_t esize, size_t len)
{
	return count >= 0 && (size_t)count <= (len - hdr) / esize;
}

int xrt_xclbin_read(const char *path, struct xrt_xclbin *xb, char *why, size_t why_len)
{
	memset(xb, 0, sizeof(*xb));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		snprintf(why, why_len, "xclbin %s: %s", path, strerror(-rc));
		return rc;
	}
	struct axlf top;
	struct axlf_section_header *sh = NULL;
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (!rc && (uint64_t)st.st_size < sizeof(top))
		rc = -EINVAL;
	if (!rc)
		rc = ory_pread_full(fd, &top, sizeof(top), 0);
	unsigned nsec = top.m_header.m_numSections;
	if (!rc &&
	    (memcmp(top.m_magic, "xclbin2", 8) || nsec == 0 || nsec > XCLBIN_MAX_NUM_SECTION ||
	     offsetof(struct axlf, m_sections) + (uint64_t)nsec * sizeof(*sh) >
		     (uint64_t)st.st_size))
		rc = -EINVAL;
	if (!rc && !(sh = malloc(nsec * sizeof(*sh))))
		rc = -ENOMEM;
	if (!rc)
		rc = ory_pread_full(fd, sh, nsec * sizeof(*sh), offsetof(struct axlf, m_sections));
	if (rc) {
		snprintf(why, why_len, "xclbin %s: %s", path,
			 rc == -EINVAL ? "not an xclbin (bad axlf header)" : strerror(-rc));
		goto out;
	}
	memcpy(xb->uuid, top.m_header.uuid, sizeof(xb->uuid));

	uint64_t flen = (uint64_t)st.st_size;
	struct {
		uint32_t kind;
		const char *name;
		size_t hdr, esize;
		void **data;
		size_t *len;
	} want[] = {
		{IP_LAYOUT, "IP_LAYOUT", offsetof(struct ip_layout, m_ip_data),
		 sizeof(struct ip_data), (void **)&xb->ip, &xb->ip_len},
		{CONNECTIVITY, "CONNECTIVITY", offsetof(struct connectivity, m_connection),
		 sizeof(struct connection), (void **)&xb->cn, &xb->cn_len},
		{MEM_TOPOLOGY, "MEM_TOPOLOGY", offsetof(struct mem_topology, m_mem_data),
		 sizeof(struct mem_data), (void **)&xb->mt, &xb->mt_len},
	};
	for (size_t i = 0; i < ORY_ARRAY_SIZE(want) && !rc; i++) {
		rc = load_section(fd, flen, sh, nsec, want[i].kind, want[i].hdr, want[i].data,
				  want[i].len);
		/* The count is the first 32-bit field of each of the three sections. */
		if (!rc &&
		    !fits(*(int32_t *)*want[i].data, want[i].hdr, want[i].esize, *want[i].len))
			rc = -EINVAL;
		if (rc)
			snprintf(why, why_len, "xclbin %s: %s section %s", path, want[i].name,
				 rc == -ENOENT	 ? "missing"
				 : rc == -EINVAL ? "malformed"
						 : strerror(-rc));
	}
out:
	free(sh);
	close(fd);
	if (rc)
		xrt_xclbin_free(xb);
	return rc;
}

void xrt_xclbin_free(struct xrt_xclbin *xb)
{
	free(xb->ip);
	free(xb->cn);
	free(xb->mt);
	memset(xb, 0, sizeof(*xb));
}

int xrt_xclbin_find_cu(const struct xrt_xclbin *xb, const char *kernel, const char *instance)
{
	char want[sizeof(xb->ip->m_ip_data[0].m_name) + 1];
	snprintf(want, sizeof(want), "%s:%s", kernel, instance);
	for (int i = 0; i < xb->ip->m_count; i++) {
		const struct ip_data *d = &xb->ip->m_ip_data[i];
		if (d->m_type == IP_KERNEL &&
		    !strncmp((const char *)d->m_name, want, sizeof(d->m_name)))
			return i;
	}
	return -1;
}

int xrt_xclbin_find_instance(const struct xrt_xclbin *xb, const char *instance, char *kernel,
			     size_t kernel_len)
{
	for (int i = 0; i < xb->ip->m_count; i++) {
		const struct ip_data *d = &xb->ip->m_ip_data[i];
		char name[sizeof(d->m_name) + 1];
		snprintf(name, sizeof(name), "%.*s", (int)sizeof(d->m_name),
			 (const char *)d->m_name);
		char *colon = strchr(name, ':');
		if (d->m_type != IP_KERNEL || !colon || strcmp(colon + 1, instance))
			continue;
		*colon = '\0';
		if (strlen(name) >= kernel_len)
			return -1;
		snprintf(kernel, kernel_len, "%s", name);
		return i;
	}
	return -1;
}

void xrt_xclbin_cu_list(const struct xrt_xclbin *xb, char *buf, size_t len)
{
	size_t pos = 0;
	buf[0] = '\0';
	for (int i = 0; i < xb->ip->m_count && pos < len; i++) {
		const struct ip_data *d = &xb->ip->m_ip_data[i];
		if (d->m_type != IP_KERNEL)
			continue;
		int n = snprintf(buf + pos, len - pos, "%s%.*s", pos ? ", " : "",
				 (int)sizeof(d->m_name), (const char *)d->m_name);
		if (n < 0)
			break;
		pos += (size_t)n;
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}

const char *xrt_xclbin_bank_tag(const struct xrt_xclbin *xb, int cu, int arg)
{
	for (int i = 0; i < xb->cn->m_count; i++) {
		const struct connection *c = &xb->cn->m_connection[i];
		if (c->m_ip_layout_index != cu || c->arg_index != arg)
			continue;
		if (c->mem_data_index < 0 || c->mem_data_index >= xb->mt->m_count)
			return "?";
		/* m_tag is NUL-terminated by the format; make sure of it before printing. */
		const struct mem_data *m = &xb->mt->m_mem_data[c->mem_data_index];
		return memchr(m->m_tag, 0, sizeof(m->m_tag)) ? (const char *)m->m_tag : "?";
	}
	return "?";
}
