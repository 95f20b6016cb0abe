/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The actuators against a real kernel: routing rules and tables over
 * rtnetlink, the nftables table, conntrack flushing by mark. The test moves
 * into a network namespace of its own before anything else, so it never
 * touches the machine's network; inside, three veth pairs stand for the
 * uplinks:
 *
 *   pfp0 10.200.0.1/24  "primary", main table default via 10.200.0.254
 *   pfa0 10.201.0.1/24  fd01::1/64  backup "lte",    table 7100, gw 10.201.0.254
 *   pfb0 10.202.0.1/24  fd02::1/64  backup "hilink", table 7101, gw 10.202.0.254
 *
 * What the kernel holds is read back with iproute2, nft and conntrack, not
 * with the libraries under test. Needs root; exits 77 only without it.
 */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare() */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "netns-util.h"
#include "pf-conntrack.h"
#include "pf-error.h"
#include "pf-firewall.h"
#include "pf-routing.h"

#define PROBE_MARK  0x70f0
#define RULE_PRIO   10000
#define TABLE_LTE   7100
#define TABLE_HL    7101
#define CT_MASK     0x00ff0000
#define CT_PRIMARY  0x00010000
#define CT_LTE      0x00020000
#define CT_HILINK   0x00030000
#define FOREIGN_CT  0x00000005  /* set by somebody else's table: must survive */

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static JsonNode *
run_json (const char *cmdline)
{
  g_autofree char *out = pf_test_run ("%s", cmdline);
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (out, &error);

  g_assert_no_error (error);
  g_assert_nonnull (node);
  return node;
}

static const char *
member_string (JsonObject *obj,
               const char *name)
{
  return json_object_has_member (obj, name) ? json_object_get_string_member (obj, name) : NULL;
}

/* The IPv4 rules with a priority in [lo, hi], one line each, as in
 * "10000 fwmark 0x70f0 lookup 7100". */
static char *
rules_text (guint lo,
            guint hi)
{
  g_autoptr(JsonNode) root = run_json ("ip -4 -j rule show");
  JsonArray *rules = json_node_get_array (root);
  g_autoptr(GString) s = g_string_new (NULL);

  for (guint i = 0; i < json_array_get_length (rules); i++)
    {
      JsonObject *r = json_array_get_object_element (rules, i);
      gint64 prio = json_object_get_int_member (r, "priority");
      const char *fwmark = member_string (r, "fwmark");

      if (prio < lo || prio > hi)
        continue;
      g_string_append_printf (s, "%" G_GINT64_FORMAT, prio);
      if (fwmark != NULL)
        g_string_append_printf (s, " fwmark %s", fwmark);
      g_string_append_printf (s, " lookup %s", member_string (r, "table"));
      if (json_object_has_member (r, "suppress_prefixlen"))
        g_string_append_printf (s, " suppress %" G_GINT64_FORMAT,
                                json_object_get_int_member (r, "suppress_prefixlen"));
      g_string_append_c (s, '\n');
    }
  return g_string_free (g_steal_pointer (&s), FALSE);
}

/* The IPv4 routes of a table, one line each, as in
 * "default via 10.201.0.254 dev pfa0 onlink". */
static char *
routes_text (guint table)
{
  g_autofree char *cmd = g_strdup_printf ("ip -4 -j route show table %u", table);
  g_autoptr(JsonNode) root = run_json (cmd);
  JsonArray *routes = json_node_get_array (root);
  g_autoptr(GString) s = g_string_new (NULL);

  for (guint i = 0; i < json_array_get_length (routes); i++)
    {
      JsonObject *r = json_array_get_object_element (routes, i);
      const char *gw = member_string (r, "gateway");
      gboolean onlink = FALSE;

      if (json_object_has_member (r, "flags"))
        {
          JsonArray *flags = json_object_get_array_member (r, "flags");

          for (guint j = 0; j < json_array_get_length (flags); j++)
            onlink |= g_str_equal (json_array_get_string_element (flags, j), "onlink");
        }
      g_string_append (s, member_string (r, "dst"));
      if (gw != NULL)
        g_string_append_printf (s, " via %s", gw);
      g_string_append_printf (s, " dev %s%s\n", member_string (r, "dev"), onlink ? " onlink" : "");
    }
  return g_string_free (g_steal_pointer (&s), FALSE);
}

/* "dev pfa0 via 10.201.0.254" for `ip route get ARGS`. */
static char *
route_get (const char *args)
{
  g_autofree char *cmd = g_strdup_printf ("ip -4 -j route get %s", args);
  g_autoptr(JsonNode) root = run_json (cmd);
  JsonObject *r = json_array_get_object_element (json_node_get_array (root), 0);
  const char *gw = member_string (r, "gateway");

  return g_strdup_printf ("dev %s%s%s", member_string (r, "dev"),
                          gw != NULL ? " via " : "", gw != NULL ? gw : "");
}

static void
assert_route_get (const char *args,
                  const char *expected)
{
  g_autofree char *got = route_get (args);

  g_assert_cmpstr (got, ==, expected);
}

/* The rule and IPv4 route changes the kernel makes. */
static int
change_monitor_open (void)
{
  static const int groups[] = { RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV4_RULE };

  return pf_test_monitor_open (groups, G_N_ELEMENTS (groups));
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                  */

typedef struct {
  PfRouting       *routing;
  PfRoutingBackup  backups[2];
  PfRoutingSpec    spec;
  int              monitor;
} RoutingFixture;

static void
routing_setup (RoutingFixture *fx,
               gconstpointer   data)
{
  g_autoptr(GError) error = NULL;

  fx->routing = pf_routing_new (&error);
  g_assert_no_error (error);
  fx->backups[0] = (PfRoutingBackup) { "lte", TABLE_LTE, (int) if_nametoindex ("pfa0"), "10.201.0.254" };
  fx->backups[1] = (PfRoutingBackup) { "hilink", TABLE_HL, (int) if_nametoindex ("pfb0"), "10.202.0.254" };
  g_assert_cmpint (fx->backups[0].ifindex, >, 0);
  g_assert_cmpint (fx->backups[1].ifindex, >, 0);
  fx->spec = (PfRoutingSpec) {
    .backups = fx->backups,
    .n_backups = G_N_ELEMENTS (fx->backups),
    .probe_mark = PROBE_MARK,
    .rule_priority = RULE_PRIO,
    .active_table = 0,
  };
  fx->monitor = change_monitor_open ();

  /* Somebody else's rules and routes, around and next to ours. */
  g_free (pf_test_run ("ip rule add priority %u lookup 7200", RULE_PRIO - 1));
  g_free (pf_test_run ("ip rule add priority %u lookup 7200", RULE_PRIO + 3));
  g_free (pf_test_run ("ip route add 192.0.2.0/24 via 10.200.0.254 table 7200"));
}

static void
routing_teardown (RoutingFixture *fx,
                  gconstpointer   data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *foreign_rules = NULL;
  g_autofree char *foreign_routes = NULL;

  pf_routing_remove (fx->routing, &fx->spec, &error);
  g_assert_no_error (error);

  /* Only ours went. */
  foreign_rules = rules_text (RULE_PRIO - 1, RULE_PRIO + 3);
  g_assert_cmpstr (foreign_rules, ==, "9999 lookup 7200\n10003 lookup 7200\n");
  foreign_routes = routes_text (7200);
  g_assert_cmpstr (foreign_routes, ==, "192.0.2.0/24 via 10.200.0.254 dev pfp0\n");

  g_free (pf_test_run ("ip rule del priority %u", RULE_PRIO - 1));
  g_free (pf_test_run ("ip rule del priority %u", RULE_PRIO + 3));
  g_free (pf_test_run ("ip route flush table 7200"));
  close (fx->monitor);
  pf_routing_free (fx->routing);
}

static void
assert_standby_state (void)
{
  g_autofree char *rules = rules_text (RULE_PRIO, RULE_PRIO + 2);
  g_autofree char *lte = routes_text (TABLE_LTE);
  g_autofree char *hl = routes_text (TABLE_HL);

  g_assert_cmpstr (rules, ==,
                   "10000 fwmark 0x70f0 lookup 7100\n"
                   "10000 fwmark 0x70f0 lookup 7101\n");
  g_assert_cmpstr (lte, ==, "default via 10.201.0.254 dev pfa0 onlink\n");
  g_assert_cmpstr (hl, ==, "default via 10.202.0.254 dev pfb0 onlink\n");
}

/* Applying the same spec again changes no rule and no route at all. */
static void
assert_reapply_changes_nothing (RoutingFixture *fx)
{
  g_autoptr(GError) error = NULL;
  guint n_rules, n_routes;

  pf_test_monitor_drain (fx->monitor, &n_rules, &n_routes);
  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
  pf_test_monitor_drain (fx->monitor, &n_rules, &n_routes);
  g_assert_cmpuint (n_rules, ==, 0);
  g_assert_cmpuint (n_routes, ==, 0);
}

static void
test_routing_apply (RoutingFixture *fx,
                    gconstpointer   data)
{
  g_autoptr(GError) error = NULL;
  struct {
    const char *args;
    const char *expected;
  } lookups[] = {
    /* Unmarked traffic follows the main table: the primary. */
    { "198.51.100.1", "dev pfp0 via 10.200.0.254" },
    /* The probes' mark finds the backups' tables... */
    { "198.51.100.1 mark 0x70f0", "dev pfa0 via 10.201.0.254" },
    /* ...and a probe bound to a device gets that device's table. */
    { "198.51.100.1 mark 0x70f0 oif pfb0", "dev pfb0 via 10.202.0.254" },
    { "198.51.100.1 mark 0x70f0 oif pfp0", "dev pfp0 via 10.200.0.254" },
  };

  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
  assert_standby_state ();
  g_assert_cmpuint (pf_routing_get_active_table (fx->routing, RULE_PRIO, &error), ==, 0);
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (lookups); i++)
    assert_route_get (lookups[i].args, lookups[i].expected);

  assert_reapply_changes_nothing (fx);
  assert_standby_state ();
}

static void
test_routing_switch (RoutingFixture *fx,
                     gconstpointer   data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *rules = NULL;
  guint n_rules, n_routes;

  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);

  /* Fail over to lte. */
  fx->spec.active_table = TABLE_LTE;
  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
  rules = rules_text (RULE_PRIO, RULE_PRIO + 2);
  g_assert_cmpstr (rules, ==,
                   "10000 fwmark 0x70f0 lookup 7100\n"
                   "10000 fwmark 0x70f0 lookup 7101\n"
                   "10001 lookup main suppress 0\n"
                   "10002 lookup 7100\n");
  g_assert_cmpuint (pf_routing_get_active_table (fx->routing, RULE_PRIO, &error), ==, TABLE_LTE);
  g_assert_no_error (error);

  /* Everything goes out through lte, except what the main table holds more
   * precisely than a default route; a probe bound to the primary still
   * goes through the primary. */
  assert_route_get ("198.51.100.1", "dev pfa0 via 10.201.0.254");
  assert_route_get ("10.200.0.7", "dev pfp0");
  assert_route_get ("198.51.100.1 mark 0x70f0 oif pfp0", "dev pfp0 via 10.200.0.254");

  /* Idempotent while failed over too. */
  assert_reapply_changes_nothing (fx);

  /* Switch to hilink: one rule added, one deleted, nothing else. */
  fx->spec.active_table = TABLE_HL;
  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
  pf_test_monitor_drain (fx->monitor, &n_rules, &n_routes);
  g_assert_cmpuint (n_rules, ==, 2);
  g_assert_cmpuint (n_routes, ==, 0);
  g_clear_pointer (&rules, g_free);
  rules = rules_text (RULE_PRIO, RULE_PRIO + 2);
  g_assert_cmpstr (rules, ==,
                   "10000 fwmark 0x70f0 lookup 7100\n"
                   "10000 fwmark 0x70f0 lookup 7101\n"
                   "10001 lookup main suppress 0\n"
                   "10002 lookup 7101\n");
  g_assert_cmpuint (pf_routing_get_active_table (fx->routing, RULE_PRIO, &error), ==, TABLE_HL);
  g_assert_no_error (error);
  assert_route_get ("198.51.100.1", "dev pfb0 via 10.202.0.254");

  /* Fail back: the switch rules go, the tables stay. */
  fx->spec.active_table = 0;
  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
  assert_standby_state ();
  g_assert_cmpuint (pf_routing_get_active_table (fx->routing, RULE_PRIO, &error), ==, 0);
  g_assert_no_error (error);
  assert_route_get ("198.51.100.1", "dev pfp0 via 10.200.0.254");
}

static void
test_routing_reconcile (RoutingFixture *fx,
                        gconstpointer   data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *rules = NULL;
  g_autofree char *routes = NULL;

  /* What a crash or an admin might leave behind: a stale switch to a
   * table we no longer use, a rule with extra selectors at our priority,
   * one of ours already there, a mask of somebody else's, a different
   * gateway and an extra route in our table. */
  g_free (pf_test_run ("ip rule add priority %u lookup 7300", RULE_PRIO + 2));
  g_free (pf_test_run ("ip rule add priority %u iif pfb0 lookup 7100", RULE_PRIO + 1));
  g_free (pf_test_run ("ip rule add priority %u fwmark 0x70f0 lookup 7100", RULE_PRIO));
  g_free (pf_test_run ("ip rule add priority %u fwmark 0x70f0/0xff lookup 7101", RULE_PRIO));
  g_free (pf_test_run ("ip route add default via 10.201.0.9 dev pfa0 table %u", TABLE_LTE));
  g_free (pf_test_run ("ip route add 10.99.0.0/16 dev pfa0 table %u", TABLE_LTE));

  g_assert_cmpuint (pf_routing_get_active_table (fx->routing, RULE_PRIO, &error), ==, 7300);
  g_assert_no_error (error);

  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
  assert_standby_state ();

  /* A changed gateway replaces the route. */
  fx->backups[0].gateway = "10.201.0.253";
  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
  routes = routes_text (TABLE_LTE);
  g_assert_cmpstr (routes, ==, "default via 10.201.0.253 dev pfa0 onlink\n");
  g_clear_pointer (&routes, g_free);

  /* A backup whose interface is gone: its table is emptied, its probe
   * rule stays (it costs nothing and keeps the probes off the main table). */
  fx->backups[1].ifindex = 0;
  fx->backups[1].gateway = NULL;
  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
  routes = routes_text (TABLE_HL);
  g_assert_cmpstr (routes, ==, "");
  rules = rules_text (RULE_PRIO, RULE_PRIO + 2);
  g_assert_cmpstr (rules, ==,
                   "10000 fwmark 0x70f0 lookup 7100\n"
                   "10000 fwmark 0x70f0 lookup 7101\n");

  /* Bad input is refused before anything changes. */
  fx->backups[0].gateway = "10.201.0.0/24";
  g_assert_false (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  fx->backups[0].gateway = "10.201.0.253";
  fx->backups[1].table = TABLE_LTE;
  g_assert_false (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  fx->backups[1].table = TABLE_HL;
}

static void
test_routing_remove (RoutingFixture *fx,
                     gconstpointer   data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *rules = NULL;
  g_autofree char *lte = NULL;
  g_autofree char *hl = NULL;

  fx->spec.active_table = TABLE_LTE;
  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);

  g_assert_true (pf_routing_remove (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
  rules = rules_text (RULE_PRIO, RULE_PRIO + 2);
  g_assert_cmpstr (rules, ==, "");
  lte = routes_text (TABLE_LTE);
  g_assert_cmpstr (lte, ==, "");
  hl = routes_text (TABLE_HL);
  g_assert_cmpstr (hl, ==, "");
  g_assert_cmpuint (pf_routing_get_active_table (fx->routing, RULE_PRIO, &error), ==, 0);
  g_assert_no_error (error);

  /* Twice is fine. */
  g_assert_true (pf_routing_remove (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
}

static void
test_routing_link_down (RoutingFixture *fx,
                        gconstpointer   data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *rules = NULL;

  /* The kernel refuses a route through a link that is down: the error says
   * so, and the rules are still made right. */
  g_free (pf_test_run ("ip link set pfb0 down"));
  fx->spec.active_table = TABLE_LTE;
  g_assert_false (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_error (error, PF_ERROR, PF_ERROR_SYSTEM);
  g_assert_nonnull (strstr (error->message, "hilink"));
  g_test_message ("expected: %s", error->message);
  g_clear_error (&error);
  rules = rules_text (RULE_PRIO, RULE_PRIO + 2);
  g_assert_cmpstr (rules, ==,
                   "10000 fwmark 0x70f0 lookup 7100\n"
                   "10000 fwmark 0x70f0 lookup 7101\n"
                   "10001 lookup main suppress 0\n"
                   "10002 lookup 7100\n");
  g_free (pf_test_run ("ip link set pfb0 up"));
  g_assert_true (pf_routing_apply (fx->routing, &fx->spec, &error));
  g_assert_no_error (error);
}

/* ------------------------------------------------------------------------ */
/* Firewall                                                                 */

static const char * const test_allowed[] = { "10.210.0.20", "10.210.0.32/28", NULL };

static char *
render (gboolean lte_active,
        gboolean hilink_active)
{
  const PfFirewallUplink uplinks[] = {
    { "primary", "pfp0", FALSE, !lte_active && !hilink_active, NULL, CT_PRIMARY },
    { "lte", "pfa0", TRUE, lte_active, "10.201.0.250", CT_LTE },
    { "hilink", "pfb0", TRUE, hilink_active, NULL, CT_HILINK },
  };
  const PfFirewallSpec spec = {
    .uplinks = uplinks,
    .n_uplinks = G_N_ELEMENTS (uplinks),
    .allowed = test_allowed,
    .probe_mark = PROBE_MARK,
    .ct_mark_mask = CT_MASK,
  };
  char *script = pf_firewall_render (&spec);

  g_assert_nonnull (script);
  return script;
}

static char *
nft_tables (void)
{
  return pf_test_run ("nft list tables");
}

static void
test_firewall (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *standby = render (FALSE, FALSE);
  g_autofree char *failed_over = render (TRUE, FALSE);
  g_autofree char *listed = NULL;
  g_autofree char *tables = NULL;
  g_autofree char *broken = NULL;
  g_auto(GStrv) parts = NULL;
  g_autoptr(JsonNode) json = NULL;

  g_free (pf_test_run ("nft add table inet pftest"));

  g_assert_true (pf_firewall_apply (standby, &error));
  g_assert_no_error (error);
  listed = pf_test_run ("nft list table inet pvefailover");
  g_assert_nonnull (strstr (listed, "oifname \"pfa0\" ip daddr 10.201.0.250 accept comment \"lte (backup, standby): modem management\""));
  g_assert_nonnull (strstr (listed, "oifname \"pfa0\" drop"));
  g_assert_nonnull (strstr (listed, "oifname \"pfb0\" drop"));
  g_assert_null (strstr (listed, "masquerade"));
  g_assert_nonnull (strstr (listed, "elements = { 10.210.0.20, 10.210.0.32/28 }"));
  g_clear_pointer (&listed, g_free);

  /* The JSON listing parses too (what `nft -j` consumers read). */
  json = run_json ("nft -j list table inet pvefailover");
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json));

  /* Replace: the table is rebuilt, not appended to. */
  g_assert_true (pf_firewall_apply (failed_over, &error));
  g_assert_no_error (error);
  listed = pf_test_run ("nft list table inet pvefailover");
  g_assert_nonnull (strstr (listed, "oifname \"pfa0\" ip saddr @allowed masquerade"));
  g_assert_null (strstr (listed, "oifname \"pfa0\" drop comment \"lte (backup, standby): blocked\""));
  g_assert_null (strstr (listed, "10.201.0.250"));
  g_assert_nonnull (strstr (listed, "oifname \"pfb0\" drop comment \"hilink (backup, standby): blocked\""));
  g_clear_pointer (&listed, g_free);

  /* Applying the same text twice leaves exactly one copy of each rule. */
  g_assert_true (pf_firewall_apply (failed_over, &error));
  g_assert_no_error (error);
  listed = pf_test_run ("nft list table inet pvefailover");
  parts = g_strsplit (listed, "masquerade", -1);
  g_assert_cmpuint (g_strv_length (parts), ==, 2);
  g_clear_pointer (&listed, g_free);

  /* A script that fails leaves the previous table as it was: one transaction. */
  broken = g_strconcat (standby, "add rule inet pvefailover output oifname \"pfa0\" bogus\n", NULL);
  g_assert_false (pf_firewall_apply (broken, &error));
  g_assert_error (error, PF_ERROR, PF_ERROR_SYSTEM);
  g_test_message ("expected: %s", error->message);
  g_assert_nonnull (strstr (error->message, "bogus"));
  g_clear_error (&error);
  listed = pf_test_run ("nft list table inet pvefailover");
  g_assert_nonnull (strstr (listed, "oifname \"pfa0\" ip saddr @allowed masquerade"));
  g_clear_pointer (&listed, g_free);

  /* Remove, twice; somebody else's table stays. */
  g_assert_true (pf_firewall_remove (&error));
  g_assert_no_error (error);
  g_assert_true (pf_firewall_remove (&error));
  g_assert_no_error (error);
  tables = nft_tables ();
  g_assert_cmpstr (tables, ==, "table inet pftest\n");

  g_free (pf_test_run ("nft delete table inet pftest"));
}

/* ------------------------------------------------------------------------ */
/* Conntrack                                                                */

static void
send_udp (const char *address,
          guint16     port,
          guint       n_flows)
{
  for (guint i = 0; i < n_flows; i++)
    {
      struct sockaddr_storage ss = { 0 };
      socklen_t len;
      int family;
      int fd;

      if (strchr (address, ':') != NULL)
        {
          struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;

          family = sin6->sin6_family = AF_INET6;
          sin6->sin6_port = htons (port + i);
          g_assert_cmpint (inet_pton (AF_INET6, address, &sin6->sin6_addr), ==, 1);
          len = sizeof *sin6;
        }
      else
        {
          struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

          family = sin->sin_family = AF_INET;
          sin->sin_port = htons (port + i);
          g_assert_cmpint (inet_pton (AF_INET, address, &sin->sin_addr), ==, 1);
          len = sizeof *sin;
        }
      fd = socket (family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      g_assert_cmpint (fd, >=, 0);
      g_assert_cmpint (sendto (fd, "x", 1, 0, (struct sockaddr *) &ss, len), ==, 1);
      close (fd);
    }
}

/* Entries whose whole ct mark is @mark, per `conntrack -L`, both families. */
static guint
conntrack_list_count (guint32 mark)
{
  g_autofree char *needle = g_strdup_printf (" mark=%u ", mark);
  guint n = 0;

  for (guint f = 0; f < 2; f++)
    {
      g_autofree char *out = pf_test_run ("conntrack -L -f %s", f == 0 ? "ipv4" : "ipv6");
      g_auto(GStrv) lines = g_strsplit (out, "\n", -1);

      for (guint i = 0; lines[i] != NULL; i++)
        n += strstr (lines[i], needle) != NULL;
    }
  return n;
}

static guint
count_mark (guint32 mark)
{
  g_autoptr(GError) error = NULL;
  guint n = G_MAXUINT;

  g_assert_true (pf_conntrack_count_mark (mark, CT_MASK, &n, &error));
  g_assert_no_error (error);
  return n;
}

static void
test_conntrack (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *script = render (TRUE, TRUE);  /* no standby block: every flow leaves */
  guint n = G_MAXUINT;

  g_free (pf_test_run ("conntrack -F"));
  g_free (pf_test_run ("conntrack -F -f ipv6"));
  g_assert_true (pf_firewall_apply (script, &error));
  g_assert_no_error (error);
  /* Somebody else's bits in the ct mark, set before ours. */
  g_free (pf_test_run ("nft add table inet pftest"));
  g_free (pf_test_run ("nft add chain inet pftest out { type filter hook output priority -100 ; }"));
  g_free (pf_test_run ("nft add rule inet pftest out ct state new ct mark set 0x%08x", FOREIGN_CT));

  send_udp ("10.200.0.2", 5000, 3);
  send_udp ("10.201.0.2", 6000, 2);
  send_udp ("fd01::2", 6000, 1);
  send_udp ("10.202.0.2", 7000, 1);
  send_udp ("fd02::2", 7000, 1);

  /* The firewall tagged each flow with its uplink, keeping the other bits. */
  g_assert_cmpuint (conntrack_list_count (CT_PRIMARY | FOREIGN_CT), ==, 3);
  g_assert_cmpuint (conntrack_list_count (CT_LTE | FOREIGN_CT), ==, 3);
  g_assert_cmpuint (conntrack_list_count (CT_HILINK | FOREIGN_CT), ==, 2);
  g_assert_cmpuint (count_mark (CT_PRIMARY), ==, 3);
  g_assert_cmpuint (count_mark (CT_LTE), ==, 3);
  g_assert_cmpuint (count_mark (CT_HILINK), ==, 2);
  g_assert_cmpuint (count_mark (0x00040000), ==, 0);

  /* Flush lte's flows, IPv4 and IPv6, in the kernel. */
  g_assert_true (pf_conntrack_flush_mark (CT_LTE, CT_MASK, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpuint (conntrack_list_count (CT_LTE | FOREIGN_CT), ==, 0);
  g_assert_cmpuint (conntrack_list_count (CT_PRIMARY | FOREIGN_CT), ==, 3);
  g_assert_cmpuint (conntrack_list_count (CT_HILINK | FOREIGN_CT), ==, 2);
  g_assert_cmpuint (count_mark (CT_LTE), ==, 0);

  /* The one-by-one path gives the same result. */
  g_setenv ("PF_CONNTRACK_DELETE_EACH", "1", TRUE);
  g_assert_true (pf_conntrack_flush_mark (CT_HILINK, CT_MASK, &n, &error));
  g_unsetenv ("PF_CONNTRACK_DELETE_EACH");
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpuint (conntrack_list_count (CT_HILINK | FOREIGN_CT), ==, 0);
  g_assert_cmpuint (conntrack_list_count (CT_PRIMARY | FOREIGN_CT), ==, 3);

  /* Nothing left to flush is not an error. */
  g_assert_true (pf_conntrack_flush_mark (CT_LTE, CT_MASK, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 0);
  g_assert_true (pf_conntrack_flush_mark (CT_LTE, CT_MASK, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_mark (CT_PRIMARY), ==, 3);

  g_free (pf_test_run ("nft delete table inet pftest"));
  g_assert_true (pf_firewall_remove (&error));
  g_assert_no_error (error);
}

/* ------------------------------------------------------------------------ */
/* A guest behind the host: forwarded flows                                 */

/* The guest lives in a child process with a network namespace of its own,
 * linked to ours by pfg0 (10.210.0.1, here) / pfg1 (there). It has an
 * allowed address, 10.210.0.20, and one that is not, 10.210.0.99. */
typedef struct {
  char    op;    /* 'c' configure, 'a' send from the allowed address, 'n' from the other, 'q' quit */
  guint16 port;
} GuestCmd;

typedef struct {
  GPid pid;
  int  cmd_fd;
  int  ack_fd;
} Guest;

static void
send_udp_from (const char *source,
               const char *address,
               guint16     port)
{
  struct sockaddr_in src = { .sin_family = AF_INET };
  struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons (port) };
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (inet_pton (AF_INET, source, &src.sin_addr), ==, 1);
  g_assert_cmpint (inet_pton (AF_INET, address, &dst.sin_addr), ==, 1);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &src, sizeof src), ==, 0);
  g_assert_cmpint (sendto (fd, "x", 1, 0, (struct sockaddr *) &dst, sizeof dst), ==, 1);
  close (fd);
}

static void
guest_main (int cmd_fd,
            int ack_fd)
{
  GuestCmd cmd;
  char ack = 'k';

  g_assert_cmpint (unshare (CLONE_NEWNET), ==, 0);
  g_assert_cmpint (write (ack_fd, &ack, 1), ==, 1);
  while (read (cmd_fd, &cmd, sizeof cmd) == sizeof cmd && cmd.op != 'q')
    {
      switch (cmd.op)
        {
        case 'c':
          g_free (pf_test_run ("ip link set lo up"));
          g_free (pf_test_run ("ip addr add 10.210.0.20/24 dev pfg1"));
          g_free (pf_test_run ("ip addr add 10.210.0.99/24 dev pfg1"));
          g_free (pf_test_run ("ip link set pfg1 up"));
          g_free (pf_test_run ("ip route add default via 10.210.0.1"));
          g_free (pf_test_run ("ip neigh replace 10.210.0.1 lladdr %s dev pfg1 nud permanent",
                       g_getenv ("PF_TEST_PFG0_MAC")));
          break;
        case 'a':
          send_udp_from ("10.210.0.20", "198.51.100.9", cmd.port);
          break;
        case 'n':
          send_udp_from ("10.210.0.99", "198.51.100.9", cmd.port);
          break;
        default:
          g_assert_not_reached ();
        }
      g_assert_cmpint (write (ack_fd, &ack, 1), ==, 1);
    }
  _exit (0);
}

static void
guest_do (Guest   *guest,
          char     op,
          guint16  port)
{
  GuestCmd cmd = { op, port };
  char ack = 0;

  g_assert_cmpint (write (guest->cmd_fd, &cmd, sizeof cmd), ==, sizeof cmd);
  g_assert_cmpint (read (guest->ack_fd, &ack, 1), ==, 1);
}

static void
guest_start (Guest *guest)
{
  int cmd_pipe[2], ack_pipe[2];
  g_autofree char *link = NULL;
  g_autoptr(JsonNode) json = NULL;
  char ack = 0;

  g_assert_cmpint (pipe (cmd_pipe), ==, 0);
  g_assert_cmpint (pipe (ack_pipe), ==, 0);
  g_free (pf_test_run ("ip link add pfg0 type veth peer name pfg1"));
  json = run_json ("ip -j link show pfg0");
  g_setenv ("PF_TEST_PFG0_MAC",
            json_object_get_string_member (json_array_get_object_element (json_node_get_array (json), 0),
                                           "address"), TRUE);

  guest->pid = fork ();
  g_assert_cmpint (guest->pid, >=, 0);
  if (guest->pid == 0)
    {
      close (cmd_pipe[1]);
      close (ack_pipe[0]);
      guest_main (cmd_pipe[0], ack_pipe[1]);
    }
  close (cmd_pipe[0]);
  close (ack_pipe[1]);
  guest->cmd_fd = cmd_pipe[1];
  guest->ack_fd = ack_pipe[0];
  g_assert_cmpint (read (guest->ack_fd, &ack, 1), ==, 1);

  g_free (pf_test_run ("ip link set pfg1 netns %d", (int) guest->pid));
  g_free (pf_test_run ("ip addr add 10.210.0.1/24 dev pfg0"));
  g_free (pf_test_run ("ip link set pfg0 up"));
  g_free (pf_test_run ("sysctl -q -w net.ipv4.ip_forward=1"));
  guest_do (guest, 'c', 0);
}

static void
guest_stop (Guest *guest)
{
  GuestCmd quit = { 'q', 0 };
  int status = 0;

  /* Delete the pair while the guest's namespace still holds its end: once
   * the guest exits, the kernel removes the pair by itself at a time of its
   * choosing, and deleting it then may or may not find it. */
  g_free (pf_test_run ("ip link del pfg0"));
  g_assert_cmpint (write (guest->cmd_fd, &quit, sizeof quit), ==, sizeof quit);
  g_assert_cmpint (waitpid (guest->pid, &status, 0), ==, guest->pid);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  close (guest->cmd_fd);
  close (guest->ack_fd);
  g_free (pf_test_run ("sysctl -q -w net.ipv4.ip_forward=0"));
}

/* The `conntrack -L` line of the flow to 198.51.100.9:PORT, or NULL. */
static char *
conntrack_find (guint16 port)
{
  g_autofree char *out = pf_test_run ("conntrack -L -f ipv4 -d 198.51.100.9");
  g_autofree char *needle = g_strdup_printf (" dport=%u ", port);
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (strstr (lines[i], needle) != NULL)
        return g_strdup (lines[i]);
    }
  return NULL;
}

static void
test_forwarded (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *standby = render (FALSE, FALSE);
  g_autofree char *failed_over = render (TRUE, FALSE);
  g_autoptr(PfRouting) routing = pf_routing_new (&error);
  g_autofree char *mark_primary = g_strdup_printf (" mark=%u ", CT_PRIMARY);
  g_autofree char *mark_lte = g_strdup_printf (" mark=%u ", CT_LTE);
  g_autofree char *line = NULL;
  PfRoutingBackup backups[] = {
    { "lte", TABLE_LTE, (int) if_nametoindex ("pfa0"), "10.201.0.254" },
    { "hilink", TABLE_HL, (int) if_nametoindex ("pfb0"), "10.202.0.254" },
  };
  PfRoutingSpec spec = {
    .backups = backups, .n_backups = G_N_ELEMENTS (backups),
    .probe_mark = PROBE_MARK, .rule_priority = RULE_PRIO, .active_table = 0,
  };
  Guest guest = { 0 };
  guint n = 0;

  g_assert_no_error (error);
  g_free (pf_test_run ("conntrack -F"));
  guest_start (&guest);

  /* Standby: guests leave through the primary, tagged with its mark. */
  g_assert_true (pf_firewall_apply (standby, &error));
  g_assert_no_error (error);
  g_assert_true (pf_routing_apply (routing, &spec, &error));
  g_assert_no_error (error);
  guest_do (&guest, 'a', 9000);
  guest_do (&guest, 'n', 9001);
  line = conntrack_find (9000);
  g_assert_nonnull (line);
  g_assert_nonnull (strstr (line, mark_primary));
  g_clear_pointer (&line, g_free);
  line = conntrack_find (9001);
  g_assert_nonnull (line);
  g_assert_nonnull (strstr (line, mark_primary));
  g_clear_pointer (&line, g_free);

  /* Fail over to lte, as the daemon does it: routes, firewall, then flush
   * the flows that left through the primary. */
  spec.active_table = TABLE_LTE;
  g_assert_true (pf_routing_apply (routing, &spec, &error));
  g_assert_no_error (error);
  g_assert_true (pf_firewall_apply (failed_over, &error));
  g_assert_no_error (error);
  g_assert_true (pf_conntrack_flush_mark (CT_PRIMARY, CT_MASK, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, >=, 2);
  line = conntrack_find (9000);
  g_assert_null (line);

  /* The allowed guest leaves through lte, masqueraded and tagged... */
  guest_do (&guest, 'a', 9002);
  line = conntrack_find (9002);
  g_assert_nonnull (line);
  g_test_message ("%s", line);
  g_assert_nonnull (strstr (line, mark_lte));
  g_assert_nonnull (strstr (line, "src=198.51.100.9 dst=10.201.0.1 "));
  g_clear_pointer (&line, g_free);
  /* ...the other one does not leave at all. */
  guest_do (&guest, 'n', 9003);
  line = conntrack_find (9003);
  g_assert_null (line);

  guest_stop (&guest);
  g_assert_true (pf_routing_remove (routing, &spec, &error));
  g_assert_no_error (error);
  g_assert_true (pf_firewall_remove (&error));
  g_assert_no_error (error);
}

/* ------------------------------------------------------------------------ */

static gboolean
lab_setup (void)
{
  static const char * const commands[] = {
    "ip link set lo up",
    "ip link add pfp0 type veth peer name pfp1",
    "ip link add pfa0 type veth peer name pfa1",
    "ip link add pfb0 type veth peer name pfb1",
    "ip addr add 10.200.0.1/24 dev pfp0",
    "ip addr add 10.201.0.1/24 dev pfa0",
    "ip addr add 10.202.0.1/24 dev pfb0",
    "ip addr add fd01::1/64 dev pfa0 nodad",
    "ip addr add fd02::1/64 dev pfb0 nodad",
    "ip link set pfp1 up",
    "ip link set pfa1 up",
    "ip link set pfb1 up",
    "ip link set pfp0 up",
    "ip link set pfa0 up",
    "ip link set pfb0 up",
    "ip route add default via 10.200.0.254 dev pfp0",
    /* The far ends answer nothing; static neighbours let packets leave. */
    "ip neigh replace 10.200.0.2 lladdr 02:00:00:00:00:02 dev pfp0 nud permanent",
    "ip neigh replace 10.200.0.254 lladdr 02:00:00:00:00:fe dev pfp0 nud permanent",
    "ip neigh replace 10.201.0.2 lladdr 02:00:00:00:01:02 dev pfa0 nud permanent",
    "ip neigh replace 10.201.0.254 lladdr 02:00:00:00:01:fe dev pfa0 nud permanent",
    "ip neigh replace 10.202.0.254 lladdr 02:00:00:00:02:fe dev pfb0 nud permanent",
    "ip neigh replace 10.202.0.2 lladdr 02:00:00:00:02:02 dev pfb0 nud permanent",
    "ip neigh replace fd01::2 lladdr 02:00:00:00:01:02 dev pfa0 nud permanent",
    "ip neigh replace fd02::2 lladdr 02:00:00:00:02:02 dev pfb0 nud permanent",
  };

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_free (pf_test_run ("%s", commands[i]));
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  if (geteuid () != 0)
    {
      g_printerr ("test-actuators: needs root (network namespace, rtnetlink, nftables, ctnetlink)\n");
      return 77;
    }
  /* Before anything else: all that follows happens in a namespace of ours,
   * which the kernel deletes when the test exits. */
  if (unshare (CLONE_NEWNET) != 0)
    {
      g_printerr ("test-actuators: unshare(CLONE_NEWNET): %s\n", g_strerror (errno));
      return 1;
    }
  lab_setup ();

#define ADD_ROUTING(path, func) \
  g_test_add ("/actuators/routing/" path, RoutingFixture, NULL, routing_setup, func, routing_teardown)

  ADD_ROUTING ("apply", test_routing_apply);
  ADD_ROUTING ("switch", test_routing_switch);
  ADD_ROUTING ("reconcile", test_routing_reconcile);
  ADD_ROUTING ("remove", test_routing_remove);
  ADD_ROUTING ("link-down", test_routing_link_down);
  g_test_add_func ("/actuators/firewall", test_firewall);
  g_test_add_func ("/actuators/conntrack", test_conntrack);
  g_test_add_func ("/actuators/forwarded", test_forwarded);

#undef ADD_ROUTING

  return g_test_run ();
}
