/* SPDX-License-Identifier: MIT */
/* gen_xclbin.c - writes hardware-free xclbins whose kernels, arguments and memory banks mirror
 * the real designs (Vitis gzip_hbm, FINN CNV), so XRT's noop shim runs the backend's real host
 * path. Build-time tool; usage: gen-xclbin [--omit mcix] [--drop KERNEL] gzip|cnv OUT. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xclbin.h>

struct arg {
	const char *name;
	int buffer; /* 1: global pointer (8 bytes), 0: 32-bit scalar */
};

struct kernel {
	const char *name;
	unsigned nargs;
	struct arg args[8];
	unsigned ninst;
	const char *inst[4];
	int bank[4]; /* memory bank of every buffer argument, per instance */
};

/* The tables read best one kernel per block. */
/* clang-format off */
#define BUF(n) { n, 1 }
#define U32(n) { n, 0 }

/* Argument order and banks from the sources named in docs/xrt.md: CU k of each compress kernel
 * has all its buffers on HBM[k-1]. */
static const struct kernel gzip_kernels[] = {
	{ "xilLz77Compress", 8,
	  { BUF("in"), BUF("out"), BUF("compressd_size"), BUF("in_block_size"),
	    BUF("dyn_ltree_freq"), BUF("dyn_dtree_freq"), U32("block_size_in_kb"),
	    U32("input_size") },
	  2, { "xilLz77Compress_1", "xilLz77Compress_2" }, { 0, 1 } },
	{ "xilHuffmanKernel", 8,
	  { BUF("in"), BUF("dyn_ltree_freq"), BUF("dyn_dtree_freq"), BUF("out"),
	    BUF("in_block_size"), BUF("compressd_size"), U32("block_size_in_kb"),
	    U32("input_size") },
	  2, { "xilHuffmanKernel_1", "xilHuffmanKernel_2" }, { 0, 1 } },
};

/* FINN names the DMA kernels after their dataflow partitions; instances are idma0/odma0. */
static const struct kernel cnv_kernels[] = {
	{ "StreamingDataflowPartition_0", 2, { BUF("addr"), U32("numReps") }, 1, { "idma0" }, { 0 } },
	{ "StreamingDataflowPartition_2", 2, { BUF("addr"), U32("numReps") }, 1, { "odma0" }, { 0 } },
};
/* clang-format on */

struct design {
	const char *name;
	const struct kernel *k;
	unsigned nk;
	unsigned nbanks;
};

static const struct design designs[] = {
	{"gzip", gzip_kernels, 2, 2},
	{"cnv", cnv_kernels, 2, 1},
};

/* A growing text buffer for the EMBEDDED_METADATA XML. */
struct text {
	char *s;
	size_t len, cap;
	int oom;
};

static void __attribute__((format(printf, 2, 3))) put(struct text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0 || t->oom)
			return;
		if (t->s && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap * 2 + (size_t)n + 256;
		char *s = realloc(t->s, cap);
		if (!s) {
			t->oom = 1;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
}

static size_t align8(size_t x)
{
	return (x + 7) & ~(size_t)7;
}

static int kept(const struct kernel *k, const char *drop)
{
	return !drop || strcmp(k->name, drop);
}

/* The kernel XML XRT parses for argument offsets/sizes and instance names. */
static void put_kernel_xml(struct text *x, const struct kernel *k, unsigned first_cu)
{
	put(x,
	    "    <kernel name=\"%s\" language=\"c\" vlnv=\"xilinx.com:hls:%s:1.0\" "
	    "preferredWorkGroupSizeMultiple=\"0\" workGroupSize=\"1\" interrupt=\"true\" "
	    "hwControlProtocol=\"ap_ctrl_hs\">\n",
	    k->name, k->name);
	put(x, "     <port name=\"S_AXI_CONTROL\" mode=\"slave\" range=\"0x1000\" dataWidth=\"32\" "
	       "portType=\"addressable\" base=\"0x0\"/>\n");
	for (unsigned a = 0; a < k->nargs; a++)
		if (k->args[a].buffer)
			put(x,
			    "     <port name=\"M_AXI_GMEM%u\" mode=\"master\" range=\"0xFFFFFFFF\" "
			    "dataWidth=\"512\" portType=\"addressable\" base=\"0x0\"/>\n",
			    a);
	unsigned off = 0x10; /* HLS register map: pointers take 12 bytes, scalars 8 */
	for (unsigned a = 0; a < k->nargs; a++) {
		const struct arg *g = &k->args[a];
		char port[32];
		if (g->buffer)
			snprintf(port, sizeof(port), "M_AXI_GMEM%u", a);
		else
			snprintf(port, sizeof(port), "S_AXI_CONTROL");
		put(x,
		    "     <arg name=\"%s\" addressQualifier=\"%d\" id=\"%u\" port=\"%s\" "
		    "size=\"0x%x\" offset=\"0x%X\" hostOffset=\"0x0\" hostSize=\"0x%x\" "
		    "type=\"%s\"/>\n",
		    g->name, g->buffer, a, port, g->buffer ? 8 : 4, off, g->buffer ? 8 : 4,
		    g->buffer ? "void*" : "uint");
		off += g->buffer ? 0xC : 0x8;
	}
	for (unsigned n = 0; n < k->ninst; n++)
		put(x,
		    "     <instance name=\"%s\">\n      <addrRemap base=\"0x%X\" range=\"0x10000\" "
		    "port=\"S_AXI_CONTROL\"/>\n     </instance>\n",
		    k->inst[n], 0x1800000u + (first_cu + n) * 0x10000u);
	put(x, "    </kernel>\n");
}

static int write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t n = fwrite(buf, 1, len, f);
	if (fclose(f) != 0 || n != len) {
		perror(path);
		return -1;
	}
	return 0;
}

static int generate(const struct design *d, const char *omit, const char *drop, const char *out)
{
	unsigned ncu = 0, nconn = 0;
	for (unsigned i = 0; i < d->nk; i++) {
		if (!kept(&d->k[i], drop))
			continue;
		ncu += d->k[i].ninst;
		for (unsigned a = 0; a < d->k[i].nargs; a++)
			nconn += (unsigned)d->k[i].args[a].buffer * d->k[i].ninst;
	}
	if (!ncu) {
		fprintf(stderr, "gen-xclbin: no kernel left in design %s\n", d->name);
		return -1;
	}

	size_t mt_len = sizeof(struct mem_topology) + (d->nbanks - 1) * sizeof(struct mem_data);
	size_t ip_len = sizeof(struct ip_layout) + (ncu - 1) * sizeof(struct ip_data);
	size_t cn_len =
		sizeof(struct connectivity) + (nconn ? nconn - 1 : 0) * sizeof(struct connection);
	struct mem_topology *mt = calloc(1, mt_len);
	struct ip_layout *ip = calloc(1, ip_len);
	struct connectivity *cn = calloc(1, cn_len);
	struct text x = {0};
	unsigned char *file = NULL;
	int rc = -1;
	if (!mt || !ip || !cn)
		goto out;

	/* HBM pseudo-channels of 256 MiB, as on the U50 */
	mt->m_count = (int32_t)d->nbanks;
	for (unsigned b = 0; b < d->nbanks; b++) {
		struct mem_data *m = &mt->m_mem_data[b];
		m->m_type = MEM_HBM;
		m->m_used = 1;
		m->m_size = 256 * 1024; /* KiB */
		m->m_base_address = (uint64_t)b << 28;
		snprintf((char *)m->m_tag, sizeof(m->m_tag), "HBM[%u]", b);
	}

	put(&x,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<project name=\"%s\">\n"
	    " <platform vendor=\"xilinx\" boardid=\"u50\" name=\"noop\" featureRomTime=\"0\">\n"
	    "  <version major=\"1\" minor=\"0\"/>\n"
	    "  <device name=\"fpgaDevice\" fpgaDevice=\"virtexuplus:xcu50:fsvh2104:-2:e\" "
	    "addrWidth=\"0\">\n"
	    "   <core name=\"OCL_REGION_0\" target=\"hw\" type=\"clc_region\" clockFreq=\"0MHz\" "
	    "numComputeUnits=\"%u\">\n",
	    d->name, ncu);
	/* IP_LAYOUT must be sorted by base address: CUs are numbered in table order. */
	ip->m_count = (int32_t)ncu;
	cn->m_count = (int32_t)nconn;
	unsigned cu = 0, c = 0;
	for (unsigned i = 0; i < d->nk; i++) {
		const struct kernel *k = &d->k[i];
		if (!kept(k, drop))
			continue;
		put_kernel_xml(&x, k, cu);
		for (unsigned n = 0; n < k->ninst; n++, cu++) {
			struct ip_data *p = &ip->m_ip_data[cu];
			p->m_type = IP_KERNEL;
			p->properties = (AP_CTRL_HS << IP_CONTROL_SHIFT) | IP_INT_ENABLE_MASK |
					(cu << IP_INTERRUPT_ID_SHIFT);
			p->m_base_address = 0x1800000u + cu * 0x10000u;
			snprintf((char *)p->m_name, sizeof(p->m_name), "%s:%s", k->name,
				 k->inst[n]);
			for (unsigned a = 0; a < k->nargs; a++)
				if (k->args[a].buffer)
					cn->m_connection[c++] = (struct connection){
						(int32_t)a, (int32_t)cu, k->bank[n]};
		}
	}
	put(&x, "   </core>\n  </device>\n </platform>\n</project>\n");
	if (x.oom)
		goto out;

	struct {
		uint32_t kind;
		const char *name;
		const void *data;
		size_t len;
		char letter;
	} sec[] = {
		{MEM_TOPOLOGY, "mem_topology", mt, mt_len, 'm'},
		{IP_LAYOUT, "ip_layout", ip, ip_len, 'i'},
		{CONNECTIVITY, "connectivity", cn, cn_len, 'c'},
		{EMBEDDED_METADATA, "metadata", x.s, x.len, 'x'},
	};
	unsigned nsec = 0, nall = sizeof(sec) / sizeof(sec[0]);
	for (unsigned i = 0; i < nall; i++)
		if (!strchr(omit, sec[i].letter))
			sec[nsec++] = sec[i];

	size_t off[4], total = align8(sizeof(struct axlf) +
				      (nall - 1) * sizeof(struct axlf_section_header));
	for (unsigned i = 0; i < nsec; i++) {
		off[i] = total;
		total = align8(total + sec[i].len);
	}
	file = calloc(1, total);
	if (!file)
		goto out;
	struct axlf *top = (struct axlf *)file;
	memcpy(top->m_magic, "xclbin2", 8);
	top->m_signature_length = -1;
	memset(top->reserved, 0xff, sizeof(top->reserved));
	memset(top->m_keyBlock, 0xff, sizeof(top->m_keyBlock));
	top->m_header.m_length = total;
	top->m_header.m_versionMajor = 2;
	top->m_header.m_versionMinor = 13;
	top->m_header.m_mode = XCLBIN_FLAT;
	snprintf((char *)top->m_header.m_platformVBNV, sizeof(top->m_header.m_platformVBNV),
		 "xilinx_u50_gen3x16_xdma_201920_3");
	/* Reproducible builds: the uuid is a hash of what the file contains, no clock. */
	uint64_t h = 0xcbf29ce484222325ull;
	const char *parts[] = {d->name, omit, drop ? drop : ""};
	for (unsigned p = 0; p < 3; p++)
		for (const char *s = parts[p]; *s; s++)
			h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	for (unsigned i = 0; i < 16; i++)
		top->m_header.uuid[i] = (unsigned char)(h >> (8 * (i % 8))) ^ (unsigned char)i;
	top->m_uniqueId = h;
	top->m_header.m_numSections = nsec;
	for (unsigned i = 0; i < nsec; i++) {
		struct axlf_section_header *s = &top->m_sections[i];
		s->m_sectionKind = sec[i].kind;
		snprintf(s->m_sectionName, sizeof(s->m_sectionName), "%s", sec[i].name);
		s->m_sectionOffset = off[i];
		s->m_sectionSize = sec[i].len;
		memcpy(file + off[i], sec[i].data, sec[i].len);
	}
	rc = write_file(out, file, total);
out:
	if (rc && !file)
		fprintf(stderr, "gen-xclbin: out of memory\n");
	free(file);
	free(x.s);
	free(mt);
	free(ip);
	free(cn);
	return rc;
}

int main(int argc, char **argv)
{
	const char *omit = "", *drop = NULL;
	int i = 1;
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--omit"))
			omit = argv[i + 1];
		else if (!strcmp(argv[i], "--drop"))
			drop = argv[i + 1];
		else
			break;
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: gen-xclbin [--omit mcix] [--drop KERNEL] gzip|cnv OUT\n"
				"  --omit: leave out sections (m MEM_TOPOLOGY, c CONNECTIVITY,\n"
				"          i IP_LAYOUT, x EMBEDDED_METADATA)\n"
				"  --drop: leave out one kernel and its compute units\n");
		return 2;
	}
	for (size_t d = 0; d < sizeof(designs) / sizeof(designs[0]); d++)
		if (!strcmp(argv[i], designs[d].name))
			return generate(&designs[d], omit, drop, argv[i + 1]) ? 1 : 0;
	fprintf(stderr, "gen-xclbin: unknown design '%s' (gzip, cnv)\n", argv[i]);
	return 2;
}
