/* test_ids: the per-interface mark, routing table and rule priorities (netcfg/ids.c, DESIGN 9, 10.6): a pure
 * function of the name — the same on every call and in every process — inside the reserved ranges, and
 * different for the names a host would run side by side. */
#include <stdio.h>
#include <string.h>
#include "netcfg/netcfg.h"
#include "tests/unit/check.h"

static void check_in_range(const struct sl_ids *id)
{
	CHECK((id->mark & SL_MARK_MASK) == SL_MARK_BASE);
	CHECK(id->mark != 0);
	CHECK((id->table & SL_MARK_MASK) == SL_TABLE_BASE);
	CHECK(id->table != 0 && (id->table < 253 || id->table > 255));
	CHECK(id->prio >= SL_RULE_PRIO_MIN && id->prio + SL_RULE_PRIO_PER_IFACE - 1 <= SL_RULE_PRIO_MAX);
	CHECK((id->prio - SL_RULE_PRIO_MIN) % SL_RULE_PRIO_PER_IFACE == 0); /* blocks never overlap */
	CHECK(SL_RULE_PRIO_MAX < 32766);                                     /* before the main table's rule */
}

static void test_deterministic(void)
{
	struct sl_ids a, b;

	sl_ids_for("sl0", &a);
	sl_ids_for("sl0", &b);
	CHECK(!memcmp(&a, &b, sizeof(a)));
	/* fixed for ever: a daemon of a newer build must find what an older one (crashed) left */
	CHECK_EQ_INT(a.mark, 0x51909556);
	CHECK_EQ_INT(a.table, 0x51909556);
	CHECK_EQ_INT(a.prio, 23400);
}

static void test_distinct(void)
{
	static const char *names[] = {"sl0", "sl1", "sl2", "sl9", "gw0", "gw1", "wan-vpn", "office", "tun0",
				      "sluice-a", "sluice-b", "x"};
	enum { N = sizeof(names) / sizeof(names[0]) };
	struct sl_ids id[N];

	for (int i = 0; i < N; i++) {
		sl_ids_for(names[i], &id[i]);
		check_in_range(&id[i]);
	}
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++) {
			if (id[i].mark == id[j].mark || id[i].table == id[j].table || id[i].prio == id[j].prio)
				fprintf(stderr, "collision: %s %s\n", names[i], names[j]);
			CHECK(id[i].mark != id[j].mark);
			CHECK(id[i].table != id[j].table);
			CHECK(id[i].prio != id[j].prio);
		}
}

int main(void)
{
	test_distinct();
	test_deterministic();
	return check_done("test_ids");
}
