/* SPDX-License-Identifier: MIT */
/*
 * module.c - device kinds that live in a shared object of their own (the XRT device), loaded
 * the first time a device spec needs one (module.h says why and what crosses the boundary).
 *
 * The kinds table (devices.c) holds a stand-in for each such kind: its name, priority and
 * trust, and a probe that loads the module. Loading copies the module's other ops into the
 * stand-in, so a device opened afterwards calls the module directly and has exactly the
 * optional ops the module has. The stand-in's probe is never rewritten; every other op is
 * written once, under the lock, before `ready` is set (release), and nothing reads them before
 * a probe of that kind returned, which read `ready` (acquire) or took the lock first.
 *
 * Where the module is: only $ORY_MODULE_DIR when it is set; else in octoray/ next to this
 * library (installed) or beside it (the build tree), found with dladdr; else in the configured
 * libdir's octoray/ (a static library inside a program, whose own place says nothing). A
 * module file that exists but does not load is an error, not a reason to look further. It is
 * never unloaded: devices hold its ops, and XRT cannot be unloaded.
 *
 * Under "all", a module is loaded only when its hardware may be there (xrt: a Xilinx PCI
 * function, or XRT's noop shim asked for); one that cannot be loaded is then logged and "all"
 * goes on without it, as without cards.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"
#include "module.h"

#ifdef ORY_WITH_XRT

#define XILINX_VENDOR 0x10ee

extern const struct ory_app ory_cnv_app;

struct module {
	struct ory_device_ops *stub;
	const char *file;
	const char *entry;
	/* Under "all": may its hardware be present? */
	bool (*wanted)(const struct ory_topo *t);
	const struct ory_device_ops *ops; /* the module's, once loaded */
	_Atomic bool ready;
};

static int xrt_stub_probe(const struct ory_topo *t, const char *args, struct ory_device_desc *descs,
			  unsigned max);

struct ory_device_ops ory_xrt_device_ops = {
	.kind = "xrt",
	.priority = 10,
	.probe = xrt_stub_probe,
};

static bool xrt_wanted(const struct ory_topo *t)
{
	const char *mode = getenv("XCL_EMULATION_MODE");
	if (mode && !strcmp(mode, "noop"))
		return true;
	/* The topology lists PCI functions only on a host with a Xilinx one (topology.c). */
	for (unsigned i = 0; i < ory_topo_pci_count(t); i++) {
		struct ory_pci_info p;
		if (ory_topo_pci(t, i, &p) == 0 && p.vendor_id == XILINX_VENDOR)
			return true;
	}
	return false;
}

static struct module modules[] = {
	{.stub = &ory_xrt_device_ops,
	 .file = "liboctoray-xrt.so",
	 .entry = ORY_XRT_MODULE_INIT,
	 .wanted = xrt_wanted},
};

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static struct module *find(const struct ory_device_ops *stub)
{
	for (size_t i = 0; i < ORY_ARRAY_SIZE(modules); i++)
		if (modules[i].stub == stub)
			return &modules[i];
	return NULL;
}

/* The directories to look in, NUL-separated into buf; their count. */
static unsigned module_dirs(char *buf, size_t len, const char **dirs, unsigned max)
{
	unsigned n = 0;
	size_t used = 0;
	const char *env = secure_getenv("ORY_MODULE_DIR");
	Dl_info self;
	char here[PATH_MAX] = "";

	if (env && env[0]) {
		dirs[n++] = env;
		return n;
	}
	if (dladdr((void *)ory_module_load, &self) && self.dli_fname &&
	    strchr(self.dli_fname, '/')) {
		snprintf(here, sizeof(here), "%s", self.dli_fname);
		*strrchr(here, '/') = '\0';
	}
	const char *cand[3][2] = {
		{here, "/octoray"},
		{here, ""},
		{ORY_MODULE_INSTALL_DIR, ""},
	};
	for (unsigned i = 0; i < 3 && n < max; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", cand[i][0], cand[i][1]);
		if (!cand[i][0][0] || w < 0 || (size_t)w >= len - used)
			continue;
		bool seen = false; /* an installed library's octoray/ is the configured one */
		for (unsigned j = 0; j < n; j++)
			seen |= !strcmp(dirs[j], buf + used);
		if (seen)
			continue;
		dirs[n++] = buf + used;
		used += (size_t)w + 1;
	}
	return n;
}

static const struct ory_module_host *host_table(void)
{
	static struct ory_module_host host;
	host = (struct ory_module_host){
		.struct_size = sizeof(host),
		.abi = ORY_MODULE_ABI,
		.version = ory_version(),
		.vlog = ory_device_vlog,
		.topo_core_count = ory_topo_core_count,
		.topo_core_numa = ory_topo_core_numa,
		.topo_pci_count = ory_topo_pci_count,
		.topo_pci = ory_topo_pci,
		.strerror = ory_strerror,
		.cnv_app = &ory_cnv_app,
	};
	return &host;
}

/* Under the lock: find, open and initialise m's shared object, and fill its stand-in. */
static int load(struct module *m, char *why, size_t why_len)
{
	char buf[3 * PATH_MAX], path[PATH_MAX + 64], sub[512] = "";
	const char *dirs[3];
	unsigned ndirs = module_dirs(buf, sizeof(buf), dirs, 3);
	unsigned i = 0;

	for (; i < ndirs; i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], m->file);
		if (access(path, F_OK) == 0)
			break;
	}
	if (i == ndirs) {
		const char *env = secure_getenv("ORY_MODULE_DIR");
		char list[sizeof(buf)] = "";
		for (unsigned j = 0; j < ndirs; j++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 j ? (j + 1 == ndirs ? " or " : ", ") : "", dirs[j]);
		snprintf(why, why_len, "%s device: its module %s is not in %s%s", m->stub->kind,
			 m->file, list, env && env[0] ? " (ORY_MODULE_DIR)" : "");
		return -ENODEV;
	}
	/* RTLD_NOW: a library the module needs that is missing (XRT's) fails here, by name. */
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		size_t n = strlen(path);
		if (e && !strncmp(e, path, n) && !strncmp(e + n, ": ", 2))
			e += n + 2; /* dlerror names the module itself only sometimes */
		snprintf(why, why_len, "%s device: cannot load its module %s: %s", m->stub->kind,
			 path, e ? e : "unknown error");
		return -ENODEV;
	}
	ory_module_init_fn init = (ory_module_init_fn)dlsym(h, m->entry);
	const struct ory_device_ops *ops = NULL;
	int rc = init ? init(host_table(), &ops, sub, sizeof(sub)) : -ENOEXEC;
	if (!init)
		snprintf(sub, sizeof(sub), "no %s: not an Octoray module", m->entry);
	else if (!rc && (!ops || strcmp(ops->kind, m->stub->kind) ||
			 ops->priority != m->stub->priority || ops->trusted != m->stub->trusted)) {
		snprintf(sub, sizeof(sub), "its ops are not those of the %s device", m->stub->kind);
		rc = -ENOEXEC;
	}
	if (rc < 0) {
		/* Never closed: its constructors ran, and the libraries it pulled in (XRT) may not
		 * survive being unloaded. */
		snprintf(why, why_len, "%s device: module %s: %s", m->stub->kind, path, sub);
		return -ENODEV;
	}
	_Static_assert(sizeof(struct ory_device_ops) == 15 * sizeof(void *),
		       "struct ory_device_ops changed: copy its new member below");
	struct ory_device_ops *s = m->stub;
	s->open = ops->open;
	s->close = ops->close;
	s->max_inflight = ops->max_inflight;
	s->attach = ops->attach;
	s->detach = ops->detach;
	s->recover = ops->recover;
	s->submit = ops->submit;
	s->reap = ops->reap;
	s->abort = ops->abort;
	s->expected_ns = ops->expected_ns;
	s->map_input = ops->map_input;
	s->reap_or_work = ops->reap_or_work;
	m->ops = ops;
	atomic_store_explicit(&m->ready, true, memory_order_release);
	return 0;
}

int ory_module_load(const struct ory_device_ops *kind, char *why, size_t why_len)
{
	struct module *m = find(kind);
	if (!m || atomic_load_explicit(&m->ready, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&load_lock);
	int rc = atomic_load_explicit(&m->ready, memory_order_relaxed) ? 0 : load(m, why, why_len);
	pthread_mutex_unlock(&load_lock);
	return rc;
}

static int stub_probe(struct module *m, const struct ory_topo *t, const char *args,
		      struct ory_device_desc *descs, unsigned max)
{
	if (!atomic_load_explicit(&m->ready, memory_order_acquire)) {
		/* Not loaded by the spec parser: "all" (or a kind inside fault:), which asked for
		 * nothing in particular. */
		char why[1024];
		if (!args && !m->wanted(t)) {
			ory_device_log(t, ORY_LOG_INFO,
				       "%s: no card found: its module is not loaded",
				       m->stub->kind);
			return -ENODEV;
		}
		if (ory_module_load(m->stub, why, sizeof(why)) < 0) {
			ory_device_log(t, ORY_LOG_WARN, "%s", why);
			return -ENODEV;
		}
	}
	return m->ops->probe(t, args, descs, max);
}

static int xrt_stub_probe(const struct ory_topo *t, const char *args, struct ory_device_desc *descs,
			  unsigned max)
{
	return stub_probe(&modules[0], t, args, descs, max);
}

#else

int ory_module_load(const struct ory_device_ops *kind, char *why, size_t why_len)
{
	(void)kind;
	(void)why;
	(void)why_len;
	return 0;
}

#endif /* ORY_WITH_XRT */
