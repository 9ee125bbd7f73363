/* SPDX-License-Identifier: MIT */
/*
 * args.c - the text after "xrt:" in a device spec.
 *
 *   args    = [cards] ['?' option ('&' option)*]
 *   cards   = item (',' item)*
 *   item    = N | N-M | [DDDD:]BB:DD.F        card index, range of indices, or PCI address
 *   option  = key '=' value
 *
 * Card indices count the cards found, in PCI order; under XCL_EMULATION_MODE=noop they are XRT
 * device indices and any index exists, so "xrt:0-3" is a host with four cards. Without a card
 * list: the config's [xrt] cards, else every card found (noop: card 0).
 *
 * Options: config=FILE (an INI file; default $ORY_XRT_CONFIG, else built-in U50 defaults),
 * app=gzip|cnv (the design the cards run; default $ORY_XRT_APP, which `octoray-run cnv` sets),
 * xclbin=FILE (that app's xclbin; default $ORY_XRT_XCLBIN, which --xclbin sets), verify=0|1 (gzip:
 * inflate every block the card returns),
 * model=kernel|none|garbage|corrupt (noop only: what runs in place of the kernels), and any
 * config key as section.key=value (gzip.slots=1). Values cannot contain '&' or '+'.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xrt_internal.h"

/* A PCI address "DDDD:BB:DD.F" or "BB:DD.F"; 0 or -EINVAL. */
static int parse_bdf(const char *s, unsigned *dom, unsigned *bus, unsigned *dev, unsigned *fn)
{
	int used = 0;
	if (sscanf(s, "%x:%x:%x.%x%n", dom, bus, dev, fn, &used) == 4 && !s[used])
		return 0;
	*dom = 0;
	used = 0;
	if (sscanf(s, "%x:%x.%x%n", bus, dev, fn, &used) == 3 && !s[used])
		return 0;
	return -EINVAL;
}

static int parse_item(const char *s, struct xrt_sel *sel)
{
	if (strchr(s, ':')) {
		unsigned dom, bus, dev, fn;
		if (sel->n == XRT_MAX_CARDS || parse_bdf(s, &dom, &bus, &dev, &fn) < 0)
			return -EINVAL;
		sel->item[sel->n].bdf = true;
		sel->item[sel->n].domain = dom;
		sel->item[sel->n].bus = bus;
		sel->item[sel->n].dev = dev;
		sel->item[sel->n].func = fn;
		sel->n++;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long lo = strtoul(s, &end, 10), hi = lo;
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	if (*end == '-') {
		const char *h = end + 1;
		hi = strtoul(h, &end, 10);
		if (errno || end == h || *h == '-' || hi < lo)
			return -EINVAL;
	}
	if (*end || hi >= 1024)
		return -EINVAL;
	for (unsigned long i = lo; i <= hi; i++) {
		if (sel->n == XRT_MAX_CARDS)
			return -EINVAL;
		sel->item[sel->n].bdf = false;
		sel->item[sel->n].index = (unsigned)i;
		sel->n++;
	}
	return 0;
}

static bool same_card(const struct xrt_sel *sel, unsigned i, unsigned j)
{
	if (sel->item[i].bdf != sel->item[j].bdf)
		return false;
	if (!sel->item[i].bdf)
		return sel->item[i].index == sel->item[j].index;
	return sel->item[i].domain == sel->item[j].domain && sel->item[i].bus == sel->item[j].bus &&
	       sel->item[i].dev == sel->item[j].dev && sel->item[i].func == sel->item[j].func;
}

/* "0,1", "0-3", "0000:3b:00.1": into sel; -EINVAL when malformed or a card repeats. */
int xrt_parse_cards(const char *list, struct xrt_sel *sel)
{
	char buf[256];
	memset(sel, 0, sizeof(*sel));
	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", list);
	char *save = NULL;
	for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save))
		if (parse_item(it, sel) < 0)
			return -EINVAL;
	for (unsigned i = 0; i < sel->n; i++)
		for (unsigned j = 0; j < i; j++)
			if (same_card(sel, i, j))
				return -EINVAL;
	return 0;
}

/* One spec option into cfg. Shorthands name keys of the config's sections. */
static int apply_option(struct xrt_cfg *cfg, const char *key, const char *value, char *why,
			size_t why_len)
{
	static const struct {
		const char *key, *section, *name;
	} shorthand[] = {
		{"verify", "gzip", "verify"},
		{"app", "xrt", "app"},
		{"model", "xrt", "model"},
		{"root", "xrt", "root"},
	};
	/* The xclbin of the app the cards run (app= is applied before every other option). */
	if (!strcmp(key, "xclbin"))
		return xrt_cfg_set(cfg, cfg->app, "xclbin", value, NULL, why, why_len);
	for (size_t i = 0; i < ORY_ARRAY_SIZE(shorthand); i++)
		if (!strcmp(key, shorthand[i].key))
			return xrt_cfg_set(cfg, shorthand[i].section, shorthand[i].name, value,
					   NULL, why, why_len);
	const char *dot = strchr(key, '.');
	if (!dot || dot == key) {
		snprintf(why, why_len, "unknown option '%s'", key);
		return -EINVAL;
	}
	char section[16];
	if ((size_t)(dot - key) >= sizeof(section)) {
		snprintf(why, why_len, "unknown option '%s'", key);
		return -EINVAL;
	}
	snprintf(section, sizeof(section), "%.*s", (int)(dot - key), key);
	return xrt_cfg_set(cfg, section, dot + 1, value, NULL, why, why_len);
}

/* Defaults, then the config file, then the spec's options; the card list into sel. Logs why
 * and returns -EINVAL (malformed) or -ENOENT (config file missing). */
int xrt_parse(const struct ory_topo *t, const char *args, struct xrt_cfg *cfg, struct xrt_sel *sel)
{
	char why[512] = "";
	int rc = 0;
	char *copy = strdup(args ? args : "");
	if (!copy)
		return -ENOMEM;
	char *opts = strchr(copy, '?');
	if (opts)
		*opts++ = '\0';

	xrt_cfg_defaults(cfg);
	/* The config file first, wherever config= sits among the options. */
	const char *file = getenv("ORY_XRT_CONFIG");
	char *save = NULL, *o;
	char *opts_copy = opts ? strdup(opts) : NULL;
	if (opts && !opts_copy) {
		free(copy);
		return -ENOMEM;
	}
	const char *app = NULL;
	for (o = opts_copy ? strtok_r(opts_copy, "&", &save) : NULL; o;
	     o = strtok_r(NULL, "&", &save)) {
		if (!strncmp(o, "config=", 7))
			file = o + 7;
		else if (!strncmp(o, "app=", 4))
			app = o + 4;
	}
	if (file && file[0])
		rc = xrt_cfg_load(file, cfg, why, sizeof(why));
	/* What the command line says (octoray-run cnv sets the app, --xclbin the file) comes
	 * after the config file and before the spec's own options. */
	const char *env_app = getenv("ORY_XRT_APP");
	if (!rc && !app && env_app && env_app[0])
		app = env_app;
	if (!rc && app)
		rc = xrt_cfg_set(cfg, "xrt", "app", app, NULL, why, sizeof(why));
	const char *env_xclbin = getenv("ORY_XRT_XCLBIN");
	if (!rc && env_xclbin && env_xclbin[0])
		rc = xrt_cfg_set(cfg, cfg->app, "xclbin", env_xclbin, NULL, why, sizeof(why));

	for (o = opts && !rc ? strtok_r(opts, "&", &save) : NULL; o && !rc;
	     o = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(o, '=');
		if (!eq || eq == o) {
			snprintf(why, sizeof(why), "option '%s' is not key=value", o);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		if (strcmp(o, "config") && strcmp(o, "app"))
			rc = apply_option(cfg, o, eq + 1, why, sizeof(why));
	}

	if (!rc) {
		const char *list = copy[0] ? copy : cfg->cards;
		if (xrt_parse_cards(list, sel) < 0) {
			snprintf(why, sizeof(why),
				 "bad card list '%s' (use 0,1 or 0-3 or a PCI address)", list);
			rc = -EINVAL;
		}
	}
	if (rc)
		xrt_log(t, ORY_LOG_WARN, "xrt: %s", why);
	free(opts_copy);
	free(copy);
	return rc;
}
