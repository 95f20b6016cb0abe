/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The routing switch for IPv6, against a real kernel: the same rules as for
 * IPv4 at the same priorities, each backup's IPv6 default route in its
 * table, none for a backup without IPv6. The test moves into a network
 * namespace of its own first; inside, three veth pairs stand for the
 * uplinks:
 *
 *   pfp0 2001:db8:1::1/64  "primary", main table default via 2001:db8:1::fe
 *   pfa0 2001:db8:a::1/64  backup "lte",    table 7100, gw6 2001:db8:a::fe
 *   pfb0 10.202.0.1/24     backup "hilink", table 7101, IPv4 only
 *
 * What the kernel holds is read back with iproute2. Needs root; exits 77
 * only without it.
 */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare() */
#endif

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns-util.h"
#include "pf-routing.h"

#define PROBE_MARK 0x70f0
#define RULE_PRIO  10000
#define TABLE_LTE  7100
#define TABLE_HL   7101
#define TARGET6    "2001:db8:100::10"

/* `ip -6 rule` lines with a priority within P..P+2, without "from all". */
static char *
rules6 (void)
{
  g_autofree char *out = pf_test_run ("ip -6 rule show");
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);
  GString *s = g_string_new (NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      guint64 prio = g_ascii_strtoull (lines[i], NULL, 10);
      const char *rest = strstr (lines[i], "from all ");

      if (prio < RULE_PRIO || prio > RULE_PRIO + 2 || rest == NULL)
        continue;
      g_string_append_printf (s, "%" G_GUINT64_FORMAT " %s\n", prio, rest + strlen ("from all "));
    }
  return g_string_free (s, FALSE);
}

/* The routes of a table for one family, e.g. "default via X dev pfa0 proto static metric 1024 onlink pref medium". */
static char *
routes (const char *family,
        guint       table)
{
  return pf_test_run ("ip %s route show table %u", family, table);
}

/* "dev pfa0 via 2001:db8:a::fe" of `ip -6 route get ARGS`. */
static void
assert_route6 (const char *args,
               const char *expected)
{
  g_autofree char *out = pf_test_run ("ip -6 route get %s", args);
  g_auto(GStrv) words = g_strsplit_set (g_strstrip (out), " \t\n", -1);
  const char *dev = NULL;
  const char *via = NULL;
  g_autofree char *got = NULL;

  for (guint i = 0; words[i] != NULL && words[i + 1] != NULL; i++)
    {
      if (g_str_equal (words[i], "dev") && dev == NULL)
        dev = words[i + 1];
      else if (g_str_equal (words[i], "via") && via == NULL)
        via = words[i + 1];
    }
  got = g_strdup_printf ("dev %s%s%s", dev, via != NULL ? " via " : "", via != NULL ? via : "");
  g_assert_cmpstr (got, ==, expected);
}

/* Every IPv6 rule and route change, queued before the kernel acks. */
static int
monitor6_open (void)
{
  static const int groups[] = { RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV6_RULE };

  return pf_test_monitor_open (groups, G_N_ELEMENTS (groups));
}

static guint
monitor6_drain (int fd)
{
  guint rules = 0;
  guint routes = 0;

  pf_test_monitor_drain (fd, &rules, &routes);
  return rules + routes;
}

typedef struct {
  PfRouting       *routing;
  PfRoutingBackup  backups[2];
  PfRoutingSpec    spec;
  int              monitor;
} Fixture;

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fx->routing = pf_routing_new (&error);
  g_assert_no_error (error);
  fx->backups[0] = (PfRoutingBackup) {
    "lte", TABLE_LTE, (int) if_nametoindex ("pfa0"), NULL, "2001:db8:a::fe",
  };
  fx->backups[1] = (PfRoutingBackup) {
    "hilink", TABLE_HL, (int) if_nametoindex ("pfb0"), "10.202.0.254", NULL,
  };
  fx->spec = (PfRoutingSpec) {
    .backups = fx->backups,
    .n_backups = G_N_ELEMENTS (fx->backups),
    .probe_mark = PROBE_MARK,
    .rule_priority = RULE_PRIO,
  };
  fx->monitor = monitor6_open ();
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *rules = NULL;
  g_autofree char *lte = NULL;

  g_assert_true (pf_routing_remove (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
  rules = rules6 ();
  g_assert_cmpstr (rules, ==, "");
  lte = routes ("-6", TABLE_LTE);
  g_assert_cmpstr (lte, ==, "");
  close (fx->monitor);
  pf_routing_free (fx->routing);
}

static void
apply (Fixture *fx,
       guint    active_table)
{
  g_autoptr(GError) error = NULL;

  fx->spec.active_table = active_table;
  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
}

static void
assert_standby (void)
{
  g_autofree char *rules = rules6 ();
  g_autofree char *lte = routes ("-6", TABLE_LTE);
  g_autofree char *hl6 = routes ("-6", TABLE_HL);
  g_autofree char *hl4 = routes ("-4", TABLE_HL);

  g_assert_cmpstr (rules, ==,
                   "10000 fwmark 0x70f0 lookup 7100\n"
                   "10000 fwmark 0x70f0 lookup 7101\n");
  g_assert_cmpstr (lte, ==, "default via 2001:db8:a::fe dev pfa0 proto static metric 1024 onlink pref medium\n");
  /* hilink has no IPv6: no IPv6 route, its IPv4 one all the same. */
  g_assert_cmpstr (hl6, ==, "");
  g_assert_cmpstr (hl4, ==, "default via 10.202.0.254 dev pfb0 proto static onlink \n");
}

static void
test_apply (Fixture       *fx,
            gconstpointer  data)
{
  apply (fx, 0);
  assert_standby ();

  /* Unmarked: the primary. Marked: the backup's table; bound to the
   * primary: the primary all the same. */
  assert_route6 (TARGET6, "dev pfp0 via 2001:db8:1::fe");
  assert_route6 (TARGET6 " mark 0x70f0", "dev pfa0 via 2001:db8:a::fe");
  assert_route6 (TARGET6 " mark 0x70f0 oif pfp0", "dev pfp0 via 2001:db8:1::fe");
  assert_route6 (TARGET6 " mark 0x70f0 oif pfa0", "dev pfa0 via 2001:db8:a::fe");

  /* Applying again changes nothing. */
  monitor6_drain (fx->monitor);
  apply (fx, 0);
  g_assert_cmpuint (monitor6_drain (fx->monitor), ==, 0);
}

static void
test_switch (Fixture       *fx,
             gconstpointer  data)
{
  g_autofree char *rules = NULL;
  g_autoptr(GError) error = NULL;

  apply (fx, 0);
  apply (fx, TABLE_LTE);
  rules = rules6 ();
  g_assert_cmpstr (rules, ==,
                   "10000 fwmark 0x70f0 lookup 7100\n"
                   "10000 fwmark 0x70f0 lookup 7101\n"
                   "10001 lookup main suppress_prefixlength 0\n"
                   "10002 lookup 7100\n");
  assert_route6 (TARGET6, "dev pfa0 via 2001:db8:a::fe");
  assert_route6 ("2001:db8:1::7", "dev pfp0");
  assert_route6 (TARGET6 " mark 0x70f0 oif pfp0", "dev pfp0 via 2001:db8:1::fe");
  g_assert_cmpuint (pf_routing_get_active_table (fx->routing, RULE_PRIO, &error), ==, TABLE_LTE);
  g_assert_no_error (error);

  monitor6_drain (fx->monitor);
  apply (fx, TABLE_LTE);
  g_assert_cmpuint (monitor6_drain (fx->monitor), ==, 0);

  /* To a backup without IPv6: IPv6 finds no route in its table and keeps
   * to the main table. */
  apply (fx, TABLE_HL);
  assert_route6 (TARGET6, "dev pfp0 via 2001:db8:1::fe");

  apply (fx, 0);
  assert_standby ();
  g_assert_cmpuint (pf_routing_get_active_table (fx->routing, RULE_PRIO, &error), ==, 0);
  g_assert_no_error (error);
}

/* Whatever was left (a crash, an admin, a gateway that moved) is put right;
 * a restarted daemon finds the switch from the IPv6 rule alone. */
static void
test_reconcile (Fixture       *fx,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *lte = NULL;

  g_free (pf_test_run ("ip -6 rule add priority %u lookup %u", RULE_PRIO + 2, TABLE_HL));
  g_free (pf_test_run ("ip -6 route add default via 2001:db8:a::fd dev pfa0 table %u", TABLE_LTE));
  g_free (pf_test_run ("ip -6 route add 2001:db8:77::/48 via 2001:db8:a::fd dev pfa0 table %u", TABLE_HL));
  g_assert_cmpuint (pf_routing_get_active_table (fx->routing, RULE_PRIO, &error), ==, TABLE_HL);
  g_assert_no_error (error);

  apply (fx, 0);
  assert_standby ();

  fx->backups[0].gateway6 = "fe80::1";
  apply (fx, 0);
  lte = routes ("-6", TABLE_LTE);
  g_assert_cmpstr (lte, ==, "default via fe80::1 dev pfa0 proto static metric 1024 onlink pref medium\n");

  /* The IPv6 gateway is gone (the backup lost its IPv6): so is the route. */
  fx->backups[0].gateway6 = NULL;
  apply (fx, 0);
  g_clear_pointer (&lte, g_free);
  lte = routes ("-6", TABLE_LTE);
  g_assert_cmpstr (lte, ==, "");
  fx->backups[0].gateway6 = "2001:db8:a::fe";
}

static void
test_invalid_gateway (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fx->backups[0].gateway6 = "10.201.0.254";
  g_assert_false (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_nonnull (strstr (error->message, "invalid IPv6 gateway"));
  g_clear_error (&error);
  fx->backups[0].gateway6 = "2001:db8:a::/64";
  g_assert_false (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_nonnull (strstr (error->message, "not an address"));
  fx->backups[0].gateway6 = "2001:db8:a::fe";
}

static void
setup_namespace (void)
{
  static const char * const commands[] = {
    "ip link set lo up",
    "ip link add pfp0 type veth peer name pfp1",
    "ip link add pfa0 type veth peer name pfa1",
    "ip link add pfb0 type veth peer name pfb1",
    "ip -6 addr add 2001:db8:1::1/64 dev pfp0 nodad",
    "ip -6 addr add 2001:db8:a::1/64 dev pfa0 nodad",
    "ip addr add 10.202.0.1/24 dev pfb0",
    "ip link set pfp0 up",
    "ip link set pfp1 up",
    "ip link set pfa0 up",
    "ip link set pfa1 up",
    "ip link set pfb0 up",
    "ip link set pfb1 up",
    "ip -6 route add default via 2001:db8:1::fe dev pfp0",
  };

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_free (pf_test_run ("%s", commands[i]));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  if (geteuid () != 0)
    {
      g_print ("1..0 # SKIP needs root for a network namespace\n");
      return 77;
    }
  if (unshare (CLONE_NEWNET) != 0)
    g_error ("unshare(CLONE_NEWNET): %s", g_strerror (errno));
  setup_namespace ();

  g_test_add ("/routing6/apply", Fixture, NULL, fixture_setup, test_apply, fixture_teardown);
  g_test_add ("/routing6/switch", Fixture, NULL, fixture_setup, test_switch, fixture_teardown);
  g_test_add ("/routing6/reconcile", Fixture, NULL, fixture_setup, test_reconcile, fixture_teardown);
  g_test_add ("/routing6/invalid-gateway", Fixture, NULL, fixture_setup, test_invalid_gateway,
              fixture_teardown);

  return g_test_run ();
}
