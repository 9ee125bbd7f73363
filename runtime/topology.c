/* SPDX-License-Identifier: MIT */
/* topology.c - the host as hwloc sees it: physical cores, NUMA nodes, PCI functions and their
 * locality, plus the binding masks worker threads and chunk buffers are placed with. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#define XILINX_VENDOR 0x10ee

/* Is there a Xilinx function on the PCI bus? The sysfs vendor attribute is cached by the
 * kernel, unlike the config space hwloc reads for every function: in a VM each of those reads
 * traps to the hypervisor, and PCI discovery was a third of octoray-run's start-up (7-20 ms).
 * True when sysfs cannot tell, so hwloc decides. */
static bool pci_has_xilinx(void)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	if (!d)
		return true;
	bool found = false;
	for (struct dirent *e; !found && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", e->d_name);
		FILE *f = fopen(path, "r");
		unsigned vendor = 0;
		if (!f)
			continue;
		found = fscanf(f, "%x", &vendor) == 1 && vendor == XILINX_VENDOR;
		fclose(f);
	}
	closedir(d);
	return found;
}

int ory_topo_load(struct ory_topo *t)
{
	memset(t, 0, sizeof(*t));
	if (hwloc_topology_init(&t->topo) < 0)
		return -ENOMEM;
	/* Keep every PCI function when there is a card to find: cards are what we look for, and
	 * hwloc's "important" filter is a guess about classes we would rather make ourselves.
	 * Without one, skip I/O discovery altogether (hwloc's default). */
	if (pci_has_xilinx()) {
		hwloc_topology_set_type_filter(t->topo, HWLOC_OBJ_PCI_DEVICE,
					       HWLOC_TYPE_FILTER_KEEP_ALL);
		hwloc_topology_set_type_filter(t->topo, HWLOC_OBJ_BRIDGE,
					       HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
	}
	/* hwloc's x86 backend would bind the calling thread to each CPU in turn to read CPUID:
	 * the caller's thread (an appliance's) is not ours to move, and sysfs says what we use. */
	hwloc_topology_set_flags(t->topo, HWLOC_TOPOLOGY_FLAG_DONT_CHANGE_BINDING);
	if (hwloc_topology_load(t->topo) < 0) {
		hwloc_topology_destroy(t->topo);
		t->topo = NULL;
		return -ENODEV;
	}

	int n = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_CORE);
	hwloc_obj_type_t unit = HWLOC_OBJ_CORE;
	if (n <= 0) { /* some VMs expose PUs only */
		unit = HWLOC_OBJ_PU;
		n = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_PU);
	}
	if (n <= 0)
		n = 0;
	t->cores = calloc(n ? (size_t)n : 1, sizeof(*t->cores));
	if (!t->cores) {
		ory_topo_free(t);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		t->cores[i] = hwloc_get_obj_by_type(t->topo, unit, (unsigned)i);
	t->ncores = (unsigned)n;

	unsigned npci = 0;
	for (hwloc_obj_t o = NULL; (o = hwloc_get_next_pcidev(t->topo, o));)
		npci++;
	t->pci = calloc(npci ? npci : 1, sizeof(*t->pci));
	if (!t->pci) {
		ory_topo_free(t);
		return -ENOMEM;
	}
	for (hwloc_obj_t o = NULL; (o = hwloc_get_next_pcidev(t->topo, o));) {
		struct ory_pci_info *p = &t->pci[t->npci++];
		p->domain = o->attr->pcidev.domain;
		p->bus = o->attr->pcidev.bus;
		p->dev = o->attr->pcidev.dev;
		p->func = o->attr->pcidev.func;
		p->vendor_id = o->attr->pcidev.vendor_id;
		p->device_id = o->attr->pcidev.device_id;
		p->numa_node = -1;
		hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(t->topo, o);
		if (anc && anc->nodeset && hwloc_bitmap_weight(anc->nodeset) == 1)
			p->numa_node = hwloc_bitmap_first(anc->nodeset);
	}
	return 0;
}

int ory_topo_restrict(struct ory_topo *t, const char *list)
{
	hwloc_bitmap_t want = hwloc_bitmap_alloc();
	if (!want)
		return -ENOMEM;
	int rc = hwloc_bitmap_list_sscanf(want, list);
	unsigned n = 0;
	for (unsigned i = 0; rc == 0 && i < t->ncores; i++)
		if (hwloc_bitmap_intersects(t->cores[i]->cpuset, want))
			t->cores[n++] = t->cores[i];
	hwloc_bitmap_free(want);
	if (rc < 0 || n == 0)
		return -EINVAL;
	t->ncores = n;
	return 0;
}

void ory_topo_free(struct ory_topo *t)
{
	free(t->cores);
	free(t->pci);
	if (t->topo)
		hwloc_topology_destroy(t->topo);
	memset(t, 0, sizeof(*t));
}

unsigned ory_topo_core_count(const struct ory_topo *t)
{
	return t->ncores;
}

int ory_topo_core_numa(const struct ory_topo *t, unsigned core)
{
	if (core >= t->ncores || !t->cores[core]->nodeset)
		return -1;
	hwloc_const_bitmap_t ns = t->cores[core]->nodeset;
	return hwloc_bitmap_weight(ns) == 1 ? hwloc_bitmap_first(ns) : -1;
}

unsigned ory_topo_pci_count(const struct ory_topo *t)
{
	return t->npci;
}

int ory_topo_pci(const struct ory_topo *t, unsigned i, struct ory_pci_info *out)
{
	if (i >= t->npci)
		return -EINVAL;
	*out = t->pci[i];
	return 0;
}

hwloc_bitmap_t ory_topo_device_cpuset(const struct ory_topo *t, const struct ory_device_desc *d)
{
	hwloc_const_bitmap_t set = hwloc_topology_get_topology_cpuset(t->topo);

	if (d->core >= 0 && t->ncores) {
		set = t->cores[(unsigned)d->core % t->ncores]->cpuset;
	} else if (d->numa_node >= 0) {
		hwloc_obj_t node = hwloc_get_numanode_obj_by_os_index(t->topo, (unsigned)d->numa_node);
		if (node && node->cpuset && !hwloc_bitmap_iszero(node->cpuset))
			set = node->cpuset;
	}
	return hwloc_bitmap_dup(set);
}

hwloc_bitmap_t ory_topo_nodeset(const struct ory_topo *t, hwloc_const_bitmap_t cpuset)
{
	hwloc_bitmap_t ns = hwloc_bitmap_alloc();
	if (ns)
		hwloc_cpuset_to_nodeset(t->topo, cpuset, ns);
	return ns;
}

/* snprintf into buf at *pos, tracking the length the whole text needs. */
static void put(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(*pos < len ? buf + *pos : NULL, *pos < len ? len - *pos : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += (size_t)n;
}

size_t ory_topo_describe(const struct ory_topo *t, char *buf, size_t len)
{
	size_t pos = 0;
	char set[128];
	int nnodes = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_NUMANODE);
	int npus = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_PU);

	if (len)
		buf[0] = '\0';
	put(buf, len, &pos, "machine: %d PUs, %u cores, %d NUMA node%s\n", npus, t->ncores,
	    nnodes, nnodes == 1 ? "" : "s");
	for (int i = 0; i < nnodes; i++) {
		hwloc_obj_t n = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
		hwloc_bitmap_list_snprintf(set, sizeof(set), n->cpuset);
		put(buf, len, &pos, "numa %u: cpus %s, %llu MiB\n", n->os_index, set,
		    (unsigned long long)(n->attr->numanode.local_memory >> 20));
	}
	for (unsigned i = 0; i < t->ncores; i++) {
		hwloc_bitmap_list_snprintf(set, sizeof(set), t->cores[i]->cpuset);
		put(buf, len, &pos, "core %u: cpus %s, numa %d\n", i, set, ory_topo_core_numa(t, i));
	}
	for (unsigned i = 0; i < t->npci; i++) {
		const struct ory_pci_info *p = &t->pci[i];
		put(buf, len, &pos, "pci %04x:%02x:%02x.%x: %04x:%04x, numa %d%s\n", p->domain,
		    p->bus, p->dev, p->func, p->vendor_id, p->device_id, p->numa_node,
		    p->vendor_id == XILINX_VENDOR ? " (Xilinx card)" : "");
	}
	return pos;
}
