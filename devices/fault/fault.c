/* SPDX-License-Identifier: MIT */
/*
 * fault.c - a test device that wraps another kind and misbehaves on purpose:
 *
 *   fault:INNER[:ARGS][?key=value,...]     e.g. fault:cpu:2?fail=0.1,hang=0.01,seed=7
 *
 *   fail=P      the chunk comes back with -EIO
 *   hang=P      the chunk never comes back (until the runtime aborts the device)
 *   corrupt=P   the chunk comes back "successful" with a damaged byte
 *   truncate=P  the chunk comes back "successful" with half its output
 *   slow=P      the chunk comes back right, but only after slow_ms (default 200)
 *   die_after=N after N chunks, every submit fails with -ENODEV, for good
 *   seed=S      seeds the schedule (default 1)
 *
 * A chunk's fate is a hash of (seed, device, chunk, submission count), so a schedule is
 * repeatable up to which device happens to take which chunk.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../runtime/rt.h"

#define MAX_INFLIGHT 16

enum fate { FATE_OK, FATE_FAIL, FATE_HANG, FATE_CORRUPT, FATE_TRUNCATE, FATE_SLOW };

struct fault_opts {
	double fail, hang, corrupt, truncate, slow;
	unsigned slow_ms;
	long long die_after; /* -1: never */
	unsigned long long seed;
};

struct fault_dev {
	const struct ory_device_ops *inner_ops;
	void *inner;
	struct fault_opts o;
	unsigned index;
	uint64_t submitted;
	struct {
		struct ory_chunk *c;
		enum fate fate;
	} running[MAX_INFLIGHT];
	unsigned nrunning;      /* on the inner device */
	struct ory_chunk *hung[MAX_INFLIGHT];
	unsigned nhung;
	_Atomic uint32_t aborted; /* futex word: abort() sets it, a hung reap waits on it */
};

/* Split "INNER[:ARGS][?OPTS]" into the inner kind, its args and our options. */
static int parse(const char *args, char *kind, size_t klen, char *inner_args, size_t alen,
		 struct fault_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->die_after = -1;
	o->seed = 1;
	o->slow_ms = 200;
	if (!args || !*args)
		return -EINVAL;
	const char *q = strchr(args, '?');
	size_t head = q ? (size_t)(q - args) : strlen(args);
	const char *colon = memchr(args, ':', head);
	size_t kn = colon ? (size_t)(colon - args) : head;
	if (kn == 0 || kn >= klen)
		return -EINVAL;
	memcpy(kind, args, kn);
	kind[kn] = '\0';
	inner_args[0] = '\0';
	if (colon) {
		size_t an = head - kn - 1;
		if (an >= alen)
			return -EINVAL;
		memcpy(inner_args, colon + 1, an);
		inner_args[an] = '\0';
	}
	if (!q)
		return 0;
	char buf[256];
	if (snprintf(buf, sizeof(buf), "%s", q + 1) >= (int)sizeof(buf))
		return -EINVAL;
	char *save = NULL;
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '='), *end;
		if (!eq)
			return -EINVAL;
		*eq++ = '\0';
		double v = strtod(eq, &end);
		if (*end || end == eq || !(v >= 0)) /* !(v >= 0): NaN too */
			return -EINVAL;
		/* Counts are whole and fit their types: a double beyond an integer's range does
		 * not convert to an error but to undefined behaviour. */
		if ((!strcmp(kv, "slow_ms") || !strcmp(kv, "die_after") || !strcmp(kv, "seed")) &&
		    (v >= 9e15 || v != (double)(long long)v))
			return -EINVAL;
		if (!strcmp(kv, "slow_ms") && v > 3600000) /* an hour */
			return -EINVAL;
		if (!strcmp(kv, "fail"))
			o->fail = v;
		else if (!strcmp(kv, "hang"))
			o->hang = v;
		else if (!strcmp(kv, "corrupt"))
			o->corrupt = v;
		else if (!strcmp(kv, "truncate"))
			o->truncate = v;
		else if (!strcmp(kv, "slow"))
			o->slow = v;
		else if (!strcmp(kv, "slow_ms"))
			o->slow_ms = (unsigned)v;
		else if (!strcmp(kv, "die_after"))
			o->die_after = (long long)v;
		else if (!strcmp(kv, "seed"))
			o->seed = (unsigned long long)v;
		else
			return -EINVAL;
	}
	if (o->fail + o->hang + o->corrupt + o->truncate + o->slow > 1.0)
		return -EINVAL;
	return 0;
}

static const struct ory_device_ops *inner_kind(const char *kind)
{
	const struct ory_device_ops *k = ory_device_kind(kind, strlen(kind));
	return k && strcmp(kind, "fault") ? k : NULL; /* no faults of faults */
}

static int fault_probe(const struct ory_topo *t, const char *args, struct ory_device_desc *d,
		       unsigned max)
{
	char kind[32], iargs[128];
	struct fault_opts o;
	if (parse(args, kind, sizeof(kind), iargs, sizeof(iargs), &o) < 0)
		return -EINVAL;
	const struct ory_device_ops *k = inner_kind(kind);
	if (!k)
		return -EINVAL;
	return k->probe(t, iargs[0] ? iargs : NULL, d, max);
}

static int fault_open(const struct ory_device_desc *desc, void **dev)
{
	char kind[32], iargs[128];
	struct fault_dev *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	int rc = parse(desc->args, kind, sizeof(kind), iargs, sizeof(iargs), &f->o);
	f->inner_ops = rc ? NULL : inner_kind(kind);
	if (!f->inner_ops) {
		free(f);
		return -EINVAL;
	}
	struct ory_device_desc inner = *desc;
	inner.args = iargs[0] ? iargs : NULL;
	f->index = desc->index;
	rc = f->inner_ops->open(&inner, &f->inner);
	if (rc < 0) {
		free(f);
		return rc;
	}
	*dev = f;
	return 0;
}

static void fault_close(void *dev)
{
	struct fault_dev *f = dev;
	f->inner_ops->close(f->inner);
	free(f);
}

static unsigned fault_max_inflight(void *dev)
{
	struct fault_dev *f = dev;
	unsigned n = f->inner_ops->max_inflight ? f->inner_ops->max_inflight(f->inner) : 1;
	return n < MAX_INFLIGHT ? n : MAX_INFLIGHT;
}

static int fault_attach(void *dev, const struct ory_app *app, size_t chunk_size)
{
	struct fault_dev *f = dev;
	return f->inner_ops->attach(f->inner, app, chunk_size);
}

static void fault_detach(void *dev, const struct ory_app *app)
{
	struct fault_dev *f = dev;
	if (f->inner_ops->detach)
		f->inner_ops->detach(f->inner, app);
}

/* Back in service after a quarantine: hung chunks were returned by the abort that ended them. */
static int fault_recover(void *dev)
{
	struct fault_dev *f = dev;
	f->nrunning = f->nhung = 0;
	atomic_store(&f->aborted, 0);
	return f->inner_ops->recover ? f->inner_ops->recover(f->inner) : 0;
}

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static enum fate pick(struct fault_dev *f, const struct ory_chunk *c)
{
	uint64_t h = mix(f->o.seed * 0x9e3779b97f4a7c15ull ^ mix(f->index + 1) ^
			 mix(c->seq * 31 + f->submitted));
	double r = (double)(h >> 11) / 9007199254740992.0; /* [0, 1) */
	const double p[] = { f->o.hang, f->o.fail, f->o.corrupt, f->o.truncate, f->o.slow };
	const enum fate fates[] = { FATE_HANG, FATE_FAIL, FATE_CORRUPT, FATE_TRUNCATE, FATE_SLOW };
	for (int i = 0; i < 5; i++) {
		if (r < p[i])
			return fates[i];
		r -= p[i];
	}
	return FATE_OK;
}

static int fault_submit(void *dev, struct ory_chunk *c)
{
	struct fault_dev *f = dev;
	f->submitted++;
	if (f->o.die_after >= 0 && f->submitted > (uint64_t)f->o.die_after)
		return -ENODEV;
	enum fate fate = pick(f, c);
	if (fate == FATE_HANG) {
		f->hung[f->nhung++] = c;
		return 0;
	}
	int rc = f->inner_ops->submit(f->inner, c);
	if (rc == 0) {
		f->running[f->nrunning].c = c;
		f->running[f->nrunning].fate = fate;
		f->nrunning++;
	}
	return rc;
}

/* A hung chunk, once the runtime gave up on us (aborted). */
static struct ory_chunk *hung_one(struct fault_dev *f)
{
	struct ory_chunk *c = f->hung[--f->nhung];
	c->status = -ECANCELED;
	return c;
}

static struct ory_chunk *apply_fate(struct fault_dev *f, struct ory_chunk *c);

static struct ory_chunk *fault_reap(void *dev)
{
	struct fault_dev *f = dev;
	if (f->nrunning == 0) {
		/* Only hung chunks left: wait for the runtime to give up on us. */
		while (!atomic_load(&f->aborted))
			syscall(SYS_futex, &f->aborted, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
		return hung_one(f);
	}
	return apply_fate(f, f->inner_ops->reap(f->inner));
}

/* As reap, also back (NULL) once *work != seen: the inner device's own reap_or_work when it
 * has one, and with only hung chunks here, a wait on both words. */
static struct ory_chunk *fault_reap_or_work(void *dev, _Atomic uint32_t *work, uint32_t seen)
{
	struct fault_dev *f = dev;
	if (f->nrunning == 0) {
		while (!atomic_load(&f->aborted)) {
			if (atomic_load_explicit(work, memory_order_acquire) != seen)
				return NULL;
			if (ory_futex_wait2(&f->aborted, 0, work, seen, NULL) == -ENOSYS)
				return fault_reap(dev);
		}
		return hung_one(f);
	}
	struct ory_chunk *c = f->inner_ops->reap_or_work
				      ? f->inner_ops->reap_or_work(f->inner, work, seen)
				      : f->inner_ops->reap(f->inner);
	return c ? apply_fate(f, c) : NULL;
}

/* What the chunk the inner device returned becomes: its fate, decided at submit. */
static struct ory_chunk *apply_fate(struct fault_dev *f, struct ory_chunk *c)
{
	enum fate fate = FATE_OK;
	for (unsigned i = 0; i < f->nrunning; i++) {
		if (f->running[i].c == c) {
			fate = f->running[i].fate;
			f->running[i] = f->running[--f->nrunning];
			break;
		}
	}
	if (c->status)
		return c;
	switch (fate) {
	case FATE_FAIL:
		c->status = -EIO;
		break;
	case FATE_CORRUPT:
		if (c->out_len) /* a third in: never the end's padding bits, which inflaters skip */
			c->out[c->out_len / 3] ^= 0xa5;
		break;
	case FATE_TRUNCATE:
		c->out_len /= 2;
		break;
	case FATE_SLOW: {
		struct timespec ts = { f->o.slow_ms / 1000, (long)(f->o.slow_ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		break;
	}
	default:
		break;
	}
	return c;
}

static void fault_abort(void *dev)
{
	struct fault_dev *f = dev;
	atomic_store(&f->aborted, 1);
	syscall(SYS_futex, &f->aborted, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	if (f->inner_ops->abort)
		f->inner_ops->abort(f->inner);
}

static uint64_t fault_expected_ns(void *dev, size_t bytes)
{
	struct fault_dev *f = dev;
	return f->inner_ops->expected_ns ? f->inner_ops->expected_ns(f->inner, bytes) : 0;
}

static int fault_map_input(void *dev, void *base, size_t len)
{
	struct fault_dev *f = dev;
	return f->inner_ops->map_input ? f->inner_ops->map_input(f->inner, base, len) : 0;
}

const struct ory_device_ops ory_fault_device_ops = {
	.kind = "fault",
	.priority = -1, /* never picked by "all" */
	.trusted = false,
	.probe = fault_probe,
	.open = fault_open,
	.close = fault_close,
	.max_inflight = fault_max_inflight,
	.attach = fault_attach,
	.detach = fault_detach,
	.recover = fault_recover,
	.submit = fault_submit,
	.reap = fault_reap,
	.reap_or_work = fault_reap_or_work,
	.abort = fault_abort,
	.expected_ns = fault_expected_ns,
	.map_input = fault_map_input,
};
