/* SPDX-License-Identifier: MIT */
/* xclbin.c - reads the few sections of an xclbin (struct axlf) that say which compute units it
 * holds and where their arguments live, so a wrong file is refused with a clear reason before
 * XRT sees it, and checks every index and bound XRT trusts (it indexes its tables with them
 * unchecked and crashes on a damaged file): the header's length, every section's place in the
 * file, the tables' counts, the connections' argument, IP and bank indices, the types XRT looks
 * up, and the strings it prints. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xclbin.h>

#include "xrt_internal.h"

/* Metadata sections are kilobytes; anything above this is not one. A whole xclbin is tens of
 * MB of bitstream; XRT reads it into memory, so a file far larger is not one either. */
#define SECTION_MAX ((uint64_t)16 << 20)
#define XCLBIN_MAX  ((uint64_t)1 << 30)
/* Arguments a compute unit may have when the file has no metadata to say (XRT then opens no
 * kernel); otherwise the metadata's own count bounds arg_index. */
#define ARG_INDEX_MAX 64

/* Why a file is refused: "xclbin PATH: WHAT", one line. */
static int bad(char *why, size_t why_len, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad(char *why, size_t why_len, const char *path, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* names from the file (kernels, sections) may hold any byte: one line still */
	for (char *c = what; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	snprintf(why, why_len, "xclbin %s: %s", path, what);
	return -EINVAL;
}

/* Section `kind` into a fresh buffer of at least `min` bytes; -ENOENT when absent. Its bounds
 * were checked with every other section's. */
static int load_section(int fd, const struct axlf_section_header *sh, unsigned nsec, uint32_t kind,
			size_t min, void **out, size_t *out_len)
{
	for (unsigned i = 0; i < nsec; i++) {
		if (sh[i].m_sectionKind != kind)
			continue;
		uint64_t off = sh[i].m_sectionOffset, len = sh[i].m_sectionSize;
		if (len < min || len > SECTION_MAX)
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

/* A table section: a 32-bit count, then `count` entries of `esize` from byte `hdr`, loaded
 * and its count checked against its size. -ENOENT (no message) when there is none. */
static int load_table(int fd, const struct axlf_section_header *sh, unsigned nsec, uint32_t kind,
		      const char *name, size_t hdr, size_t esize, void **out, size_t *len,
		      const char *path, char *why, size_t why_len)
{
	int rc = load_section(fd, sh, nsec, kind, hdr, out, len);
	if (rc == -ENOENT)
		return rc;
	if (rc == -EINVAL)
		return bad(why, why_len, path, "%s section malformed (too short or too long)",
			   name);
	if (rc < 0) {
		snprintf(why, why_len, "xclbin %s: %s section: %s", path, name, strerror(-rc));
		return rc;
	}
	int32_t count = *(int32_t *)*out;
	if (count < 0 || (size_t)count > (*len - hdr) / esize) {
		rc = bad(why, why_len, path, "%s count %d does not fit its %zu bytes", name, count,
			 *len);
		free(*out);
		*out = NULL;
	}
	return rc;
}

static bool has_nul(const void *s, size_t len)
{
	return memchr(s, 0, len) != NULL;
}

/* Every section within the file, and at most one of each kind we check: XRT would read the
 * first one, which must be the one checked. */
static int check_sections(const struct axlf_section_header *sh, unsigned nsec, uint64_t flen,
			  const char *path, char *why, size_t why_len)
{
	for (unsigned i = 0; i < nsec; i++) {
		uint64_t off = sh[i].m_sectionOffset, len = sh[i].m_sectionSize;
		if (off > flen || len > flen - off)
			return bad(why, why_len, path,
				   "section %u (kind %u) at %llu + %llu bytes reaches past the end "
				   "of the file (%llu bytes)",
				   i, sh[i].m_sectionKind, (unsigned long long)off,
				   (unsigned long long)len, (unsigned long long)flen);
		uint32_t k = sh[i].m_sectionKind;
		if (k != IP_LAYOUT && k != CONNECTIVITY && k != MEM_TOPOLOGY &&
		    k != ASK_GROUP_TOPOLOGY && k != ASK_GROUP_CONNECTIVITY)
			continue;
		for (unsigned j = 0; j < i; j++)
			if (sh[j].m_sectionKind == k)
				return bad(why, why_len, path,
					   "two sections of kind %u (%u and %u)", k, j, i);
	}
	return 0;
}

static int check_mem(const struct mem_topology *mt, const char *name, const char *path, char *why,
		     size_t why_len)
{
	for (int i = 0; i < mt->m_count; i++) {
		const struct mem_data *m = &mt->m_mem_data[i];
		if (m->m_type > MEM_PS_KERNEL)
			return bad(why, why_len, path, "%s entry %d: memory type %u unknown", name,
				   i, m->m_type);
		if (!has_nul(m->m_tag, sizeof(m->m_tag)))
			return bad(why, why_len, path, "%s entry %d: tag not NUL-terminated", name,
				   i);
	}
	return 0;
}

static int check_ip(const struct ip_layout *ip, int nmem, const char *path, char *why,
		    size_t why_len)
{
	for (int i = 0; i < ip->m_count; i++) {
		const struct ip_data *d = &ip->m_ip_data[i];
		if (d->m_type > IP_PS_KERNEL)
			return bad(why, why_len, path, "IP_LAYOUT entry %d: type %u unknown", i,
				   d->m_type);
		if (!has_nul(d->m_name, sizeof(d->m_name)))
			return bad(why, why_len, path,
				   "IP_LAYOUT entry %d: name not NUL-terminated", i);
		unsigned ctrl = (d->properties & IP_CONTROL_MASK) >> IP_CONTROL_SHIFT;
		if ((d->m_type == IP_KERNEL || d->m_type == IP_PS_KERNEL) && ctrl > FAST_ADAPTER)
			return bad(why, why_len, path,
				   "IP_LAYOUT entry %d: control protocol %u unknown", i, ctrl);
		if ((d->m_type == IP_MEM_DDR4 || d->m_type == IP_MEM_HBM) &&
		    d->indices.m_index >= nmem)
			return bad(why, why_len, path,
				   "IP_LAYOUT entry %d: memory index %u, MEM_TOPOLOGY has %d", i,
				   d->indices.m_index, nmem);
	}
	return 0;
}

/* The EMBEDDED_METADATA XML, which declares each kernel's arguments. */
struct xml {
	const char *text; /* NULL: the file has none */
	size_t len;
};

/* How many arguments (<arg> elements) the XML declares for kernel `name`; -1 if it has no such
 * kernel. XRT indexes the kernel's argument list with CONNECTIVITY's arg_index unchecked (one
 * past the end crashed it in xrtPLKernelOpen). */
static int kernel_args(const struct xml *x, const char *name)
{
	char tag[96];
	int n = snprintf(tag, sizeof(tag), "<kernel name=\"%s\"", name);
	const char *k = memmem(x->text, x->len, tag, (size_t)n);
	if (!k)
		return -1;
	const char *end = x->text + x->len;
	const char *close = memmem(k, (size_t)(end - k), "</kernel>", 9);
	if (close)
		end = close;
	int args = 0;
	for (const char *a = k; (a = memmem(a, (size_t)(end - a), "<arg ", 5)); a += 5)
		args++;
	return args;
}

/* Every connection names a kernel of IP_LAYOUT, an argument that kernel has, and a bank of
 * MEM_TOPOLOGY (or of the group topology, for the group connectivity). */
static int check_connections(const struct connectivity *cn, const char *name,
			     const struct ip_layout *ip, int nmem, const struct xml *x,
			     const char *path, char *why, size_t why_len)
{
	for (int i = 0; i < cn->m_count; i++) {
		const struct connection *c = &cn->m_connection[i];
		if (c->m_ip_layout_index < 0 || c->m_ip_layout_index >= ip->m_count)
			return bad(why, why_len, path,
				   "%s connection %d: ip_layout_index %d, IP_LAYOUT has %d", name,
				   i, c->m_ip_layout_index, ip->m_count);
		const struct ip_data *d = &ip->m_ip_data[c->m_ip_layout_index];
		if (d->m_type != IP_KERNEL && d->m_type != IP_PS_KERNEL)
			return bad(why, why_len, path,
				   "%s connection %d: ip_layout_index %d is not a kernel", name, i,
				   c->m_ip_layout_index);
		/* Without metadata XRT opens no kernel, and never reads the argument lists. */
		char kernel[sizeof(d->m_name)];
		snprintf(kernel, sizeof(kernel), "%s", (const char *)d->m_name);
		kernel[strcspn(kernel, ":")] = '\0';
		int nargs = x->text ? kernel_args(x, kernel) : ARG_INDEX_MAX;
		if (nargs < 0)
			return bad(why, why_len, path,
				   "%s connection %d: kernel %s is not in EMBEDDED_METADATA", name,
				   i, kernel);
		if (c->arg_index < 0 || c->arg_index >= nargs)
			return bad(why, why_len, path,
				   "%s connection %d: arg_index %d, kernel %s has %d arguments",
				   name, i, c->arg_index, kernel, nargs);
		if (c->mem_data_index < 0 || c->mem_data_index >= nmem)
			return bad(why, why_len, path,
				   "%s connection %d: mem_data_index %d, its topology has %d", name,
				   i, c->mem_data_index, nmem);
	}
	return 0;
}

/* The group sections, when present, have the layouts of MEM_TOPOLOGY and CONNECTIVITY. */
static int check_groups(int fd, const struct axlf_section_header *sh, unsigned nsec,
			const struct ip_layout *ip, const struct xml *x, const char *path,
			char *why, size_t why_len)
{
	struct mem_topology *gt = NULL;
	struct connectivity *gc = NULL;
	size_t len;
	int ngroups = 0;
	int rc = load_table(fd, sh, nsec, ASK_GROUP_TOPOLOGY, "GROUP_TOPOLOGY",
			    offsetof(struct mem_topology, m_mem_data), sizeof(struct mem_data),
			    (void **)&gt, &len, path, why, why_len);
	if (rc == 0) {
		rc = check_mem(gt, "GROUP_TOPOLOGY", path, why, why_len);
		ngroups = gt->m_count;
	}
	if (rc == 0 || rc == -ENOENT)
		rc = load_table(fd, sh, nsec, ASK_GROUP_CONNECTIVITY, "GROUP_CONNECTIVITY",
				offsetof(struct connectivity, m_connection),
				sizeof(struct connection), (void **)&gc, &len, path, why, why_len);
	if (rc == 0)
		rc = check_connections(gc, "GROUP_CONNECTIVITY", ip, ngroups, x, path, why,
				       why_len);
	free(gt);
	free(gc);
	return rc == -ENOENT ? 0 : rc;
}

int xrt_xclbin_read(const char *path, struct xrt_xclbin *xb, char *why, size_t why_len)
{
	memset(xb, 0, sizeof(*xb));
	char err[PATH_MAX + 96];
	uint64_t flen;
	int fd = ory_open_regular(path, XCLBIN_MAX, &flen, err, sizeof(err));
	if (fd < 0) {
		snprintf(why, why_len, "xclbin %s", err);
		return fd;
	}
	struct axlf top;
	struct axlf_section_header *sh = NULL;
	int rc = flen < sizeof(top) ? -EINVAL : ory_pread_full(fd, &top, sizeof(top), 0);
	unsigned nsec = rc ? 0 : top.m_header.m_numSections;
	if (!rc &&
	    (memcmp(top.m_magic, "xclbin2", 8) || nsec == 0 || nsec > XCLBIN_MAX_NUM_SECTION ||
	     offsetof(struct axlf, m_sections) + (uint64_t)nsec * sizeof(*sh) > flen))
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
	/* XRT copies m_length bytes from its copy of the file. */
	if (top.m_header.m_length != flen) {
		rc = bad(why, why_len, path, "header length %llu, the file has %llu bytes",
			 (unsigned long long)top.m_header.m_length, (unsigned long long)flen);
		goto out;
	}
	if ((rc = check_sections(sh, nsec, flen, path, why, why_len)) < 0)
		goto out;
	memcpy(xb->uuid, top.m_header.uuid, sizeof(xb->uuid));

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
		rc = load_table(fd, sh, nsec, want[i].kind, want[i].name, want[i].hdr,
				want[i].esize, want[i].data, want[i].len, path, why, why_len);
		if (rc == -ENOENT)
			rc = bad(why, why_len, path, "%s section missing", want[i].name);
	}
	if (!rc)
		rc = check_mem(xb->mt, "MEM_TOPOLOGY", path, why, why_len);
	if (!rc)
		rc = check_ip(xb->ip, xb->mt->m_count, path, why, why_len);
	struct xml x = {NULL, 0};
	char *text = NULL;
	if (!rc) {
		rc = load_section(fd, sh, nsec, EMBEDDED_METADATA, 0, (void **)&text, &x.len);
		if (rc == 0)
			x.text = text;
		else if (rc == -ENOENT)
			rc = 0;
		else
			bad(why, why_len, path, "EMBEDDED_METADATA section unreadable (%s)",
			    strerror(-rc));
	}
	if (!rc)
		rc = check_connections(xb->cn, "CONNECTIVITY", xb->ip, xb->mt->m_count, &x, path,
				       why, why_len);
	if (!rc)
		rc = check_groups(fd, sh, nsec, xb->ip, &x, path, why, why_len);
	free(text);
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
