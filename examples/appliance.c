/* SPDX-License-Identifier: MIT */
/*
 * appliance.c - liboctoray inside a storage appliance: client threads compress objects
 * asynchronously, one event loop thread takes the completions of all of them.
 *
 * Each client thread makes objects of mixed sizes (4 KiB to 4 MiB, mostly small; half
 * text-like, half random bytes), submits each with ory_submit() into its own completion queue
 * and goes on with the next one. The event loop waits with epoll on every queue's eventfd,
 * takes finished requests with ory_queue_poll(), decompresses each object again
 * (ory_gunzip_buf) and compares it with the original. Prints one line (objects, bytes, and
 * MB/s of the whole: making, compressing and checking) and exits 1 on any mismatch or error.
 *
 *   appliance [OBJECTS_PER_CLIENT [DEVICES]]      e.g. appliance 32 cpu:2
 *
 * Build against an installed library:
 *   cc appliance.c -o appliance $(pkg-config --cflags --libs octoray) -lpthread
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <octoray/octoray.h>

#define CLIENTS	   3
#define INFLIGHT   8 /* objects a client has submitted and not yet seen verified: bounds memory */
#define OBJECT_MAX ((size_t)4 << 20)

struct client {
	pthread_t thread;
	struct ory_queue *q;
	sem_t room; /* INFLIGHT slots; the event loop gives one back per object */
	unsigned index;
	unsigned objects;	  /* to make */
	_Atomic unsigned refused; /* submissions refused: they never complete */
};

/* One object in flight. The request is caller memory that the runtime owns from ory_submit
 * until the event loop takes it back from the queue: so are `data` and `gz`. */
struct object {
	struct ory_request req;
	struct client *owner;
	uint8_t *data;
	size_t len;
	uint8_t *gz;
};

static struct ory_runtime *rt;
static struct ory_gzip_opts gzip_opts; /* read (copied) by ory_submit: one for all requests */

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Text-like bytes compress well, random ones not at all: an appliance sees both. */
static void fill(uint8_t *p, size_t len, uint64_t seed, bool text)
{
	static const char *const words[] = {"chunk ", "device ", "order ", "octoray ", "data ",
					    "the ",   "of ",	 "gzip ",  "queue ",   "card "};
	for (size_t i = 0; i < len;) {
		uint64_t r = next_random(&seed);
		if (!text) {
			for (int b = 0; b < 8 && i < len; b++)
				p[i++] = (uint8_t)(r >> (8 * b));
			continue;
		}
		for (const char *w = words[r % 10]; *w && i < len; w++)
			p[i++] = (uint8_t)*w;
	}
}

static struct object *make_object(struct client *c, unsigned n)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull * (c->index * 1000003u + n + 1);
	struct object *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	/* 4 KiB to 2 MiB in ten steps, plus up to as much again: 4 KiB to 4 MiB, mostly small */
	size_t base = OBJECT_MAX / 2 >> (next_random(&seed) % 10);
	o->len = base + next_random(&seed) % base;
	o->owner = c;
	o->data = malloc(o->len);
	size_t cap = ory_gzip_bound(rt, o->len);
	o->gz = malloc(cap);
	if (!o->data || !o->gz) {
		free(o->data);
		free(o->gz);
		free(o);
		return NULL;
	}
	fill(o->data, o->len, seed, n % 2 == 0);

	ory_request_init(&o->req, ORY_OP_DEFLATE);
	o->req.in = o->data;
	o->req.in_len = o->len;
	o->req.out = o->gz;
	o->req.out_cap = cap;
	o->req.gzip = &gzip_opts;
	o->req.cookie = o;
	return o;
}

static void free_object(struct object *o)
{
	free(o->data);
	free(o->gz);
	free(o);
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	for (unsigned n = 0; n < c->objects; n++) {
		sem_wait(&c->room);
		struct object *o = make_object(c, n);
		int rc = o ? ory_submit(rt, c->q, &o->req) : -ENOMEM;
		/* -EAGAIN: the runtime holds max_requests already; room comes with completions. */
		while (rc == -EAGAIN) {
			usleep(1000);
			rc = ory_submit(rt, c->q, &o->req);
		}
		if (rc < 0) {
			fprintf(stderr, "appliance: client %u, object %u: %s%s%s\n", c->index, n,
				ory_strerror(rc), o ? ": " : "", o ? o->req.errmsg : "");
			if (o)
				free_object(o);
			atomic_fetch_add(&c->refused, 1);
			sem_post(&c->room);
		}
	}
	return NULL;
}

/* The event loop's verdict on one completed object: 0 when it round-trips. */
static int check(struct object *o, uint8_t *back, uint64_t *bytes_out)
{
	const struct ory_request *r = &o->req;
	if (r->status < 0) {
		fprintf(stderr, "appliance: object of %zu bytes: %s\n", o->len, r->errmsg);
		return -1;
	}
	size_t n = 0;
	/* One byte of room beyond the original: output that is too long shows as -ENOSPC. */
	int rc = ory_gunzip_buf(rt, o->gz, r->bytes_out, back, o->len + 1, &n, NULL, NULL);
	if (rc < 0 || n != o->len || memcmp(back, o->data, n)) {
		fprintf(stderr, "appliance: object of %zu bytes does not round-trip: %s\n", o->len,
			rc < 0 ? ory_runtime_errmsg(rt) : "different bytes");
		return -1;
	}
	*bytes_out += r->bytes_out;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned per_client = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 32;
	struct ory_runtime_opts ro;
	ory_runtime_opts_init(&ro);
	ro.devices = argc > 2 ? argv[2] : NULL; /* NULL: every accelerator, else every core */
	char err[256];
	int rc = ory_runtime_create(&ro, &rt, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "appliance: %s\n", err);
		return 1;
	}
	ory_gzip_opts_init(&gzip_opts);
	gzip_opts.level = 1; /* ISA-L: what an appliance that stores data as it comes wants */

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct client clients[CLIENTS];
	for (unsigned i = 0; i < CLIENTS; i++) {
		struct client *c = &clients[i];
		*c = (struct client){.index = i, .objects = per_client};
		sem_init(&c->room, 0, INFLIGHT);
		if (ory_queue_create(rt, &c->q) < 0) {
			fprintf(stderr, "appliance: cannot create a completion queue\n");
			return 1;
		}
		/* Level-triggered: the eventfd is readable until a poll finds the queue empty. */
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		epoll_ctl(ep, EPOLL_CTL_ADD, ory_queue_fd(c->q), &ev);
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < CLIENTS; i++)
		pthread_create(&clients[i].thread, NULL, client_main, &clients[i]);

	/* The event loop (here, the main thread): each object completes exactly once, so it
	 * ends when every object that was submitted has come back. */
	uint8_t *back = malloc(OBJECT_MAX + 1);
	uint64_t objects = 0, bytes_in = 0, bytes_out = 0;
	unsigned errors = 0, refused = 0;
	while (objects + refused < (uint64_t)CLIENTS * per_client) {
		struct epoll_event evs[CLIENTS];
		int n = epoll_wait(ep, evs, CLIENTS, 100);
		for (int e = 0; e < n; e++) {
			struct client *c = evs[e].data.ptr;
			struct ory_request *done[16];
			int got;
			while ((got = ory_queue_poll(c->q, done, 16, 0)) > 0) {
				for (int k = 0; k < got; k++) {
					struct object *o = done[k]->cookie;
					errors += check(o, back, &bytes_out) < 0;
					objects++;
					bytes_in += o->len;
					free_object(o);
					sem_post(&c->room);
				}
			}
		}
		/* Refused submissions never complete: count them as they are known. */
		refused = 0;
		for (unsigned i = 0; i < CLIENTS; i++)
			refused += atomic_load(&clients[i].refused);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	for (unsigned i = 0; i < CLIENTS; i++) {
		pthread_join(clients[i].thread, NULL);
		ory_queue_destroy(clients[i].q);
		sem_destroy(&clients[i].room);
	}
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("appliance: %llu objects, %.1f MB in, %.1f MB out, %.1f MB/s, %u errors\n",
	       (unsigned long long)objects, (double)bytes_in / 1e6, (double)bytes_out / 1e6,
	       (double)bytes_in / 1e6 / s, errors + refused);
	free(back);
	close(ep);
	ory_runtime_destroy(rt);
	return errors || refused ? 1 : 0;
}
