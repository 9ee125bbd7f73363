/* SPDX-License-Identifier: MIT */
/*
 * sim.c - a simulated Alveo U50 running the Vitis gzip kernel: it takes the time a card would
 * (PCIe DMA in, kernel, DMA out, per-chunk latency) and returns valid but cheap deflate
 * (non-final stored blocks), so the runtime can be measured with eight "cards" on two cores.
 *
 *   sim[:N][?key=value,...]      e.g. sim:8?mbps=350,latency_us=100    (configs/sim-u50.ini)
 *
 * Timing model. A card has three engines that work at once: host-to-card DMA, the kernel, and
 * card-to-host DMA (PCIe is full duplex). A chunk goes through them in order and each engine
 * takes one chunk at a time, so with two chunks in flight (double buffering, as the Vitis host
 * code does) the card copies one chunk while it compresses the other, and its throughput is
 * that of its slowest engine. A chunk submitted at t finishes at
 *     in = max(t, dma_in_free) + len/dma;  k = max(in, kernel_free) + len/mbps;
 *     out = max(k, dma_out_free) + len*ratio/dma;  done = out + latency
 * where `ratio` is the compressed size a real kernel would send back (the stored blocks we
 * write are not what a card would DMA) and `latency` the fixed cost of a kernel call (launch,
 * completion interrupt), which overlaps the other chunk's work. Deadlines are absolute, so a
 * late wakeup does not push back the chunks behind it; the worker sleeps, never spins, and
 * with a slot free it sleeps on the runtime's "new work" word too (reap_or_work), as a card's
 * host thread would wait for either its completion interrupt or a chunk to start.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <isa-l/crc.h>

#include "../../runtime/rt.h"
#include "../../apps/gzip/gzip_internal.h"

#define SIM_MAX_SLOTS  16
#define SIM_CONFIG_ENV "ORY_SIM_CONFIG"

/* One card's settings. Defaults match configs/sim-u50.ini. */
struct sim_cfg {
	double mbps;	   /* kernel throughput, MB/s of input (10^6 B/s); 0: infinite */
	double dma_mbps;   /* PCIe bandwidth each way, MB/s; 0: infinite */
	double latency_us; /* fixed time per kernel call */
	double ratio;	   /* compressed/input bytes, for the DMA back to the host */
	unsigned slots;	   /* chunks in flight */
};

struct sim_dev {
	struct sim_cfg cfg;
	/* When each engine is next free (CLOCK_MONOTONIC ns); only the worker thread uses them */
	uint64_t dma_in_free, kernel_free, dma_out_free;
	struct {
		struct ory_chunk *c;
		uint64_t due;
	} q[SIM_MAX_SLOTS];
	unsigned n;
	/* futex word: abort() sets it and wakes a reap sleeping towards its deadline */
	_Atomic uint32_t aborted;
};

static void sim_defaults(struct sim_cfg *c)
{
	c->mbps = 350;	     /* the seed's measured single-U50 figure (348 MB/s) */
	c->dma_mbps = 12000; /* PCIe Gen3 x16: 15.75 GB/s raw, ~12 GB/s after protocol */
	c->latency_us = 50;
	c->ratio = 0.35;
	c->slots = 2;
}

/* key=value into c; -ENOENT for an unknown key, -EINVAL for a bad value. */
static int sim_set(struct sim_cfg *c, const char *key, const char *v)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (errno || end == v || *end || x != x) /* x != x: NaN */
		return -EINVAL;
	if (!strcmp(key, "mbps")) {
		if (x < 0 || x > 1e9)
			return -EINVAL;
		c->mbps = x;
	} else if (!strcmp(key, "dma_mbps")) {
		if (x < 0 || x > 1e9)
			return -EINVAL;
		c->dma_mbps = x;
	} else if (!strcmp(key, "latency_us")) {
		if (x < 0 || x > 1e8)
			return -EINVAL;
		c->latency_us = x;
	} else if (!strcmp(key, "ratio")) {
		if (x <= 0 || x > 2)
			return -EINVAL;
		c->ratio = x;
	} else if (!strcmp(key, "slots")) {
		if (x < 1 || x > SIM_MAX_SLOTS || x != (unsigned)x)
			return -EINVAL;
		c->slots = (unsigned)x;
	} else {
		return -ENOENT;
	}
	return 0;
}

struct ini_ctx {
	struct sim_cfg *cfg;
	char why[160];
};

static int on_ini(void *arg, const char *section, const char *key, const char *value)
{
	struct ini_ctx *x = arg;
	if (x->why[0])
		return 0;
	int rc = strcmp(section, "sim") ? -ENOENT : sim_set(x->cfg, key, value);
	if (rc == 0)
		return 1;
	snprintf(x->why, sizeof(x->why),
		 rc == -ENOENT ? "unknown key '%s' in [%s]" : "bad value for %s in [%s]", key,
		 section);
	return 0;
}

static int sim_load(const char *path, struct sim_cfg *c, char *why, size_t len)
{
	struct ini_ctx x = {.cfg = c};
	char err[PATH_MAX + 96];
	int line = ory_ini_parse_file(path, on_ini, &x, err, sizeof(err));
	if (line == 0)
		return 0;
	if (line < 0)
		snprintf(why, len, "config %.200s", err);
	else
		snprintf(why, len, "config %.200s:%d: %s", path, line,
			 x.why[0] ? x.why : "syntax error");
	return line == -ENOMEM ? -ENOMEM : -EINVAL;
}

/* "[N][?key=value,...]": the device count and the settings (built-in defaults, then the INI
 * file named by config= or $ORY_SIM_CONFIG, then the other keys). why says what is wrong. */
static int sim_parse(const char *args, unsigned *count, struct sim_cfg *c, char *why, size_t len)
{
	sim_defaults(c);
	*count = 1;
	why[0] = '\0';
	if (!args)
		args = "";
	const char *q = strchr(args, '?');
	size_t head = q ? (size_t)(q - args) : strlen(args);
	if (head) {
		char *end;
		errno = 0;
		unsigned long n = strtoul(args, &end, 10);
		if (errno || end != args + head || args[0] == '-' || n < 1 || n > ORY_MAX_DEVICES) {
			snprintf(why, len, "'%.*s' is not a device count (1..%d)", (int)head, args,
				 ORY_MAX_DEVICES);
			return -EINVAL;
		}
		*count = (unsigned)n;
	}
	char opts[512];
	if (snprintf(opts, sizeof(opts), "%s", q ? q + 1 : "") >= (int)sizeof(opts)) {
		snprintf(why, len, "options too long");
		return -EINVAL;
	}
	/* The file first, wherever config= stands, so that keys in the spec override it. */
	const char *file = getenv(SIM_CONFIG_ENV);
	for (char *s = strstr(opts, "config="); s; s = strstr(s + 1, "config="))
		if (s == opts || s[-1] == ',')
			file = s + 7;
	char path[PATH_MAX];
	if (file && *file) {
		snprintf(path, sizeof(path), "%.*s", (int)strcspn(file, ","), file);
		int rc = sim_load(path, c, why, len);
		if (rc < 0)
			return rc;
	}
	char *save = NULL;
	for (char *kv = strtok_r(opts, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq) {
			snprintf(why, len, "'%s' is not key=value", kv);
			return -EINVAL;
		}
		*eq++ = '\0';
		if (!strcmp(kv, "config"))
			continue;
		int rc = sim_set(c, kv, eq);
		if (rc < 0) {
			snprintf(why, len, rc == -ENOENT ? "unknown key '%s'" : "bad value for %s",
				 kv);
			return -EINVAL;
		}
	}
	return 0;
}

static int sim_probe(const struct ory_topo *t, const char *args, struct ory_device_desc *d,
		     unsigned max)
{
	struct sim_cfg c;
	unsigned n;
	char why[256];
	if (sim_parse(args, &n, &c, why, sizeof(why)) < 0) {
		ory_device_log(t, ORY_LOG_WARN, "sim: %s", why);
		return -EINVAL;
	}
	if (n > max) {
		ory_device_log(t, ORY_LOG_WARN, "sim: at most %u devices in one spec item", max);
		return -EINVAL;
	}
	for (unsigned i = 0; i < n; i++) {
		d[i].core = -1; /* a card's worker mostly sleeps: let the scheduler place it */
		d[i].numa_node = -1;
		d[i].index = i;
		snprintf(d[i].location, sizeof(d[i].location), "simulated U50 %u", i);
	}
	return (int)n;
}

static int sim_open(const struct ory_device_desc *desc, void **dev)
{
	struct sim_dev *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	unsigned n;
	char why[256];
	int rc = sim_parse(desc->args, &n, &s->cfg, why, sizeof(why));
	if (rc < 0) {
		ory_device_log(desc->topo, ORY_LOG_WARN, "sim: %s", why);
		free(s);
		return rc;
	}
	*dev = s;
	return 0;
}

static void sim_close(void *dev)
{
	free(dev);
}

static unsigned sim_max_inflight(void *dev)
{
	return ((struct sim_dev *)dev)->cfg.slots;
}

static int sim_attach(void *dev, const struct ory_app *app, size_t chunk_size)
{
	(void)dev;
	(void)chunk_size;
	/* On the worker thread, which sleeps until each chunk is due where a card would raise an
	 * interrupt: without the default 50 us of timer slack on each wake-up. */
	(void)prctl(PR_SET_TIMERSLACK, 1UL);
	return app == &ory_gzip_app ? 0 : -ENOTSUP; /* the card's design is the gzip kernel */
}

/* After an abort (a hang, or the end): the card starts idle again. */
static int sim_recover(void *dev)
{
	struct sim_dev *s = dev;
	s->dma_in_free = s->kernel_free = s->dma_out_free = 0;
	s->n = 0;
	atomic_store_explicit(&s->aborted, 0, memory_order_relaxed);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Time to move `bytes` at `mbps` (MB/s = 1000 bytes per microsecond); 0 when mbps is 0. */
static uint64_t span_ns(double bytes, double mbps)
{
	return mbps > 0 ? (uint64_t)(bytes * 1000.0 / mbps) : 0;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static int sim_submit(void *dev, struct ory_chunk *c)
{
	struct sim_dev *s = dev;
	const struct sim_cfg *g = &s->cfg;
	if (s->n == g->slots)
		return -EBUSY; /* the runtime keeps at most max_inflight on us */
	double len = (double)c->in_len;
	s->dma_in_free = max_u64(now_ns(), s->dma_in_free) + span_ns(len, g->dma_mbps);
	s->kernel_free = max_u64(s->dma_in_free, s->kernel_free) + span_ns(len, g->mbps);
	s->dma_out_free =
		max_u64(s->kernel_free, s->dma_out_free) + span_ns(len * g->ratio, g->dma_mbps);
	s->q[s->n].c = c;
	s->q[s->n].due = s->dma_out_free + (uint64_t)(g->latency_us * 1000.0);
	s->n++;
	/* The output is made now, while the card "works", so its CPU cost hides in the
	 * modelled time instead of adding to it. */
	if (gzip_chunk_bound(c->in_len) - 8 > c->out_cap) {
		c->status = -EOVERFLOW;
	} else {
		/* One stored block at a time, its CRC while the block is still in L1/L2 */
		uint32_t crc = 0;
		size_t done = 0, out = 0;
		do {
			size_t n = ORY_MIN(c->in_len - done, (size_t)65535);
			out += gzip_store(c->in + done, n, c->out + out);
			crc = crc32_gzip_refl(crc, c->in + done, n);
			done += n;
		} while (done < c->in_len);
		c->out_len = out;
		gzip_chunk_end(c);
		c->check = crc;
		c->status = 0;
	}
	return 0;
}

/* Sleep until `due` (CLOCK_MONOTONIC) or an abort. A futex wait with an absolute timeout is
 * clock_nanosleep(TIMER_ABSTIME) that abort() can also end. */
static void sleep_until(struct sim_dev *s, uint64_t due)
{
	struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
	while (!atomic_load_explicit(&s->aborted, memory_order_acquire) && now_ns() < due)
		syscall(SYS_futex, &s->aborted, FUTEX_WAIT_BITSET_PRIVATE, 0, &ts, NULL,
			FUTEX_BITSET_MATCH_ANY);
}

static unsigned first_due(const struct sim_dev *s)
{
	unsigned first = 0;
	for (unsigned i = 1; i < s->n; i++)
		if (s->q[i].due < s->q[first].due)
			first = i;
	return first;
}

/* Chunk i off the card: -ECANCELED if an abort ended its wait early. */
static struct ory_chunk *take(struct sim_dev *s, unsigned i)
{
	struct ory_chunk *c = s->q[i].c;
	if (atomic_load_explicit(&s->aborted, memory_order_acquire) && now_ns() < s->q[i].due)
		c->status = -ECANCELED;
	s->q[i] = s->q[--s->n];
	return c;
}

static struct ory_chunk *sim_reap(void *dev)
{
	struct sim_dev *s = dev;
	unsigned first = first_due(s);
	sleep_until(s, s->q[first].due);
	return take(s, first);
}

/* As reap, but also back (NULL) once *work != seen: asleep on both words until the deadline;
 * on a kernel without futex_waitv, as reap. */
static struct ory_chunk *sim_reap_or_work(void *dev, _Atomic uint32_t *work, uint32_t seen)
{
	struct sim_dev *s = dev;
	unsigned first = first_due(s);
	uint64_t due = s->q[first].due;
	struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
	while (!atomic_load_explicit(&s->aborted, memory_order_acquire) && now_ns() < due) {
		if (atomic_load_explicit(work, memory_order_acquire) != seen)
			return NULL;
		if (ory_futex_wait2(work, seen, &s->aborted, 0, &ts) == -ENOSYS)
			sleep_until(s, due);
	}
	return take(s, first);
}

static void sim_abort(void *dev)
{
	struct sim_dev *s = dev;
	atomic_store_explicit(&s->aborted, 1, memory_order_release);
	syscall(SYS_futex, &s->aborted, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* One chunk through an idle card: what the watchdog expects before it has seen any. */
static uint64_t sim_expected_ns(void *dev, size_t bytes)
{
	const struct sim_cfg *g = &((struct sim_dev *)dev)->cfg;
	double len = (double)bytes;
	return span_ns(len, g->dma_mbps) + span_ns(len, g->mbps) +
	       span_ns(len * g->ratio, g->dma_mbps) + (uint64_t)(g->latency_us * 1000.0);
}

const struct ory_device_ops ory_sim_device_ops = {
	.kind = "sim",
	.priority = -1, /* never picked by "all": it is not real hardware */
	.trusted = false,
	.probe = sim_probe,
	.open = sim_open,
	.close = sim_close,
	.max_inflight = sim_max_inflight,
	.attach = sim_attach,
	.recover = sim_recover,
	.submit = sim_submit,
	.reap = sim_reap,
	.reap_or_work = sim_reap_or_work,
	.abort = sim_abort,
	.expected_ns = sim_expected_ns,
};
