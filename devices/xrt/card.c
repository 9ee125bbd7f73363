/* SPDX-License-Identifier: MIT */
/* card.c - the cards this process has open. A card carries one xclbin and several engines
 * (Octoray devices); it is opened and loaded when its first engine opens and closed with its
 * last, and an engine belongs to one device at a time, across runtimes. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <experimental/xrt_ini.h>

#include "xrt_internal.h"

struct xrt_card {
	char location[32];
	char xclbin[PATH_MAX];
	xrtDeviceHandle dev;
	xuid_t uuid;
	unsigned refs;
	uint32_t claimed; /* engines in use, one bit each */
};

#define MAX_OPEN_CARDS 64

/* Devices open one at a time per runtime, but runtimes may be created on different threads. */
static pthread_mutex_t cards_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xrt_card *cards[MAX_OPEN_CARDS];

/* XRT logs to the console (stderr, with a banner) by default, and the library must not write
 * there: its log goes to "null" before XRT's first use, which is the only time XRT reads the
 * setting. Someone who pointed XRT at settings of their own (XRT_INI_PATH) keeps them. What
 * XRT says is lost; our own messages say what failed. */
static void quiet_xrt(void)
{
	if (!getenv("XRT_INI_PATH"))
		xrtIniStringSet("Runtime.runtime_log", "null");
}

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

static int card_open(const struct ory_topo *t, const struct xrt_card_id *id, const char *xclbin,
		     const struct xrt_xclbin *xb, struct xrt_card *c)
{
	xrt_card_location(id, c->location, sizeof(c->location));
	snprintf(c->xclbin, sizeof(c->xclbin), "%s", xclbin);
	pthread_once(&quiet_once, quiet_xrt);
	c->dev = id->noop ? xrtDeviceOpen(id->noop_index) : xrtDeviceOpenByBDF(id->bdf);
	if (!c->dev) {
		xrt_log(t, ORY_LOG_WARN, "xrt: cannot open card %s",
			c->location);
		return -ENODEV;
	}
	/* XRT reads the file itself: a card's xclbin is tens of MB of bitstream. */
	int rc = xrtDeviceLoadXclbinFile(c->dev, xclbin);
	if (rc == 0)
		rc = xrtDeviceGetXclbinUUID(c->dev, c->uuid);
	if (rc) {
		xrt_log(t, ORY_LOG_WARN, "xrt: card %s: cannot load %s (%d)", c->location, xclbin,
			rc);
		xrtDeviceClose(c->dev);
		return -EIO;
	}
	if (memcmp(c->uuid, xb->uuid, sizeof(c->uuid)))
		xrt_log(t, ORY_LOG_WARN, "xrt: card %s reports another xclbin uuid than %s",
			c->location, xclbin);
	xrt_log(t, ORY_LOG_INFO, "xrt: card %s: loaded %s", c->location, xclbin);
	return 0;
}

int xrt_card_get(const struct ory_topo *t, const struct xrt_card_id *id, const char *xclbin,
		 const struct xrt_xclbin *xb, unsigned unit, struct xrt_card **out)
{
	char loc[32];
	xrt_card_location(id, loc, sizeof(loc));
	int rc = 0, slot = -1;

	pthread_mutex_lock(&cards_lock);
	struct xrt_card *c = NULL;
	for (int i = 0; i < MAX_OPEN_CARDS; i++) {
		if (cards[i] && !strcmp(cards[i]->location, loc))
			c = cards[i];
		else if (!cards[i] && slot < 0)
			slot = i;
	}
	if (c) {
		if (strcmp(c->xclbin, xclbin)) {
			xrt_log(t, ORY_LOG_WARN,
				"xrt: card %s already runs %s; it cannot also load %s", loc,
				c->xclbin, xclbin);
			rc = -EBUSY;
		} else if (c->claimed & (1u << unit)) {
			xrt_log(t, ORY_LOG_WARN, "xrt: engine %u of card %s is already in use",
				unit, loc);
			rc = -EBUSY;
		}
	} else if (slot < 0) {
		rc = -EMFILE;
	} else if (!(c = calloc(1, sizeof(*c)))) {
		rc = -ENOMEM;
	} else if ((rc = card_open(t, id, xclbin, xb, c)) < 0) {
		free(c);
	} else {
		cards[slot] = c;
	}
	if (!rc) {
		c->refs++;
		c->claimed |= 1u << unit;
		*out = c;
	}
	pthread_mutex_unlock(&cards_lock);
	return rc;
}

void xrt_card_put(struct xrt_card *c, unsigned unit)
{
	if (!c)
		return;
	pthread_mutex_lock(&cards_lock);
	c->claimed &= ~(1u << unit);
	if (--c->refs == 0) {
		for (int i = 0; i < MAX_OPEN_CARDS; i++)
			if (cards[i] == c)
				cards[i] = NULL;
		xrtDeviceClose(c->dev);
		free(c);
	}
	pthread_mutex_unlock(&cards_lock);
}

xrtDeviceHandle xrt_card_handle(const struct xrt_card *c)
{
	return c->dev;
}

const uint8_t *xrt_card_uuid(const struct xrt_card *c)
{
	return c->uuid;
}

int xrt_run_wait(xrtRunHandle r, unsigned timeout_ms)
{
	enum ert_cmd_state st = xrtRunWaitFor(r, timeout_ms);
	if (st == ERT_CMD_STATE_COMPLETED)
		return 0;
	if (st == ERT_CMD_STATE_NEW || st == ERT_CMD_STATE_QUEUED ||
	    st == ERT_CMD_STATE_SUBMITTED || st == ERT_CMD_STATE_RUNNING)
		return -ETIMEDOUT;
	return -EIO;
}
