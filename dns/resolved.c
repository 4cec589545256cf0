/* resolved: systemd-resolved's per-link settings for the TUN link, over D-Bus (sd-bus, org.freedesktop.resolve1
 * Manager): SetLinkDNS (servers of both families), SetLinkDomains (the pushed search domains plus "~." as a
 * routing domain, so every query may go to the tunnel's servers), SetLinkDefaultRoute(true). RevertLink
 * undoes all of it. resolved forgets a link's settings when the link goes away, so after a crash (the TUN link
 * died with the process) there is nothing left to revert. The bus is the system bus
 * ($DBUS_SYSTEM_BUS_ADDRESS when set, as sd-bus reads it: the tests run resolved on a private bus). */
#include <errno.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include "dns/dns.h"

#define RESOLVE1_DEST "org.freedesktop.resolve1"
#define RESOLVE1_PATH "/org/freedesktop/resolve1"
#define RESOLVE1_MANAGER "org.freedesktop.resolve1.Manager"
#define RESOLVED_TIMEOUT_US (5u * 1000000u)

static int bus_open(sd_bus **bus, struct sl_err *e)
{
	int ret = sd_bus_open_system(bus);

	if (ret < 0)
		return sl_errf(e, ret, "dns: resolved: system bus: %s", strerror(-ret));
	return 0;
}

/* Sends a built call and waits for the answer; the bus error's text on failure. */
static int call(sd_bus *bus, sd_bus_message *m, const char *what, struct sl_err *e)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	int ret = sd_bus_call(bus, m, RESOLVED_TIMEOUT_US, &err, NULL);

	if (ret < 0)
		sl_errf(e, ret, "dns: resolved: %s: %s", what, err.message ? err.message : strerror(-ret));
	sd_bus_error_free(&err);
	return ret < 0 ? ret : 0;
}

static int new_call(sd_bus *bus, sd_bus_message **m, const char *method, int ifindex)
{
	int ret = sd_bus_message_new_method_call(bus, m, RESOLVE1_DEST, RESOLVE1_PATH, RESOLVE1_MANAGER, method);

	if (ret >= 0)
		ret = sd_bus_message_append(*m, "i", (int32_t)ifindex);
	return ret;
}

/* SetLinkDNS(i ifindex, a(iay) addresses) */
static int set_dns(sd_bus *bus, int ifindex, const struct dns_config *dc, struct sl_err *e)
{
	sd_bus_message *m = NULL;
	int ret = new_call(bus, &m, "SetLinkDNS", ifindex);

	if (ret >= 0)
		ret = sd_bus_message_open_container(m, 'a', "(iay)");
	for (unsigned i = 0; i < dc->n_servers && ret >= 0; i++) {
		const struct sl_ipaddr *a = &dc->servers[i];
		ret = sd_bus_message_open_container(m, 'r', "iay");
		if (ret >= 0)
			ret = sd_bus_message_append(m, "i", (int32_t)a->family);
		if (ret >= 0)
			ret = sd_bus_message_append_array(m, 'y', a->family == AF_INET ? (const void *)&a->v4
									     : (const void *)&a->v6,
							  a->family == AF_INET ? 4 : 16);
		if (ret >= 0)
			ret = sd_bus_message_close_container(m);
	}
	if (ret >= 0)
		ret = sd_bus_message_close_container(m);
	ret = ret < 0 ? sl_errf(e, ret, "dns: resolved: build SetLinkDNS: %s", strerror(-ret))
		      : call(bus, m, "SetLinkDNS", e);
	sd_bus_message_unref(m);
	return ret;
}

/* SetLinkDomains(i ifindex, a(sb) domains): (name, routing-only) */
static int set_domains(sd_bus *bus, int ifindex, const struct dns_config *dc, struct sl_err *e)
{
	sd_bus_message *m = NULL;
	int ret = new_call(bus, &m, "SetLinkDomains", ifindex);

	if (ret >= 0)
		ret = sd_bus_message_open_container(m, 'a', "(sb)");
	for (unsigned i = 0; i < dc->n_domains && ret >= 0; i++)
		ret = sd_bus_message_append(m, "(sb)", dc->domains[i], 0);
	if (ret >= 0)
		ret = sd_bus_message_append(m, "(sb)", ".", 1); /* "~.": every query may use this link */
	if (ret >= 0)
		ret = sd_bus_message_close_container(m);
	ret = ret < 0 ? sl_errf(e, ret, "dns: resolved: build SetLinkDomains: %s", strerror(-ret))
		      : call(bus, m, "SetLinkDomains", e);
	sd_bus_message_unref(m);
	return ret;
}

static int simple(sd_bus *bus, const char *method, int ifindex, int with_bool, struct sl_err *e)
{
	sd_bus_message *m = NULL;
	int ret = new_call(bus, &m, method, ifindex);

	if (ret >= 0 && with_bool >= 0)
		ret = sd_bus_message_append(m, "b", with_bool);
	ret = ret < 0 ? sl_errf(e, ret, "dns: resolved: build %s: %s", method, strerror(-ret)) : call(bus, m, method, e);
	sd_bus_message_unref(m);
	return ret;
}

static int resolved_apply(const struct dns_target *t, const struct dns_config *dc, struct sl_err *e)
{
	sd_bus *bus = NULL;
	int ret;

	if (t->ifindex <= 0)
		return sl_errf(e, -ENODEV, "dns: resolved: no link %s", t->ifname);
	ret = bus_open(&bus, e);
	if (!ret)
		ret = set_dns(bus, t->ifindex, dc, e);
	if (!ret)
		ret = set_domains(bus, t->ifindex, dc, e);
	if (!ret)
		ret = simple(bus, "SetLinkDefaultRoute", t->ifindex, 1, e);
	sd_bus_flush_close_unref(bus);
	return ret;
}

static int resolved_revert(const struct dns_target *t, struct sl_err *e)
{
	sd_bus *bus = NULL;
	int ret;

	if (t->ifindex <= 0)
		return 0; /* the link is gone, and with it what resolved knew about it */
	ret = bus_open(&bus, e);
	if (!ret)
		ret = simple(bus, "RevertLink", t->ifindex, -1, e);
	sd_bus_flush_close_unref(bus);
	return ret ? ret : 1;
}

bool dns_resolved_answers(void)
{
	sd_bus *bus = NULL;
	sd_bus_error err = SD_BUS_ERROR_NULL;
	int ret;

	if (sd_bus_open_system(&bus) < 0)
		return false;
	sd_bus_set_method_call_timeout(bus, RESOLVED_TIMEOUT_US); /* not sd-bus's 25 s default */
	ret = sd_bus_call_method(bus, RESOLVE1_DEST, RESOLVE1_PATH, "org.freedesktop.DBus.Peer", "Ping", &err, NULL,
				 "");
	sd_bus_error_free(&err);
	sd_bus_flush_close_unref(bus);
	return ret >= 0;
}

const struct dns_backend_ops dns_resolved_ops = {
	.name = "resolved",
	.apply = resolved_apply,
	.revert = resolved_revert,
};
