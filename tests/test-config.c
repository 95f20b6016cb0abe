/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Tests of the configuration parser: the shipped example, defaults,
 * normalisation, and every refusal with its exact message (FILE:LINE, group,
 * key, reason).
 */
#include "config.h"

#include <string.h>

#include "pf-config.h"
#include "pf-error.h"

/* Lines 1-4 of many cases: a valid primary. */
#define PRIMARY \
  "[uplink wan]\n" \
  "role=primary\n" \
  "interface=vmbr0\n" \
  "targets=icmp:192.0.2.1\n"

static char *
example_path (void)
{
  const char *srcdir = g_getenv ("PF_SOURCE_DIR");
  g_autofree char *testdir = NULL;

  if (srcdir != NULL && *srcdir != '\0')
    return g_build_filename (srcdir, "data", "pvefailover.conf", NULL);
  testdir = g_path_get_dirname (__FILE__);
  return g_build_filename (testdir, "..", "data", "pvefailover.conf", NULL);
}

static PfConfig *
load_ok (const char *text)
{
  g_autoptr(GError) error = NULL;
  PfConfig *config = pf_config_load_data ("test.conf", text, -1, &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

static const PfUplinkConfig *
uplink_at (const PfConfig *config,
           guint           i)
{
  g_assert_cmpuint (i, <, config->uplinks->len);
  return g_ptr_array_index (config->uplinks, i);
}

static const PfProbeTarget *
target_at (const PfUplinkConfig *uplink,
           guint                 i)
{
  g_assert_cmpuint (i, <, uplink->targets->len);
  return g_ptr_array_index (uplink->targets, i);
}

/* ------------------------------------------------------------------------ */

static void
test_example (void)
{
  g_autofree char *path = example_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(PfConfig) config = NULL;
  g_autofree char *summary = NULL;
  const PfUplinkConfig *primary;
  const PfUplinkConfig *lte;

  config = pf_config_load (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (config);
  g_assert_cmpstr (config->path, ==, path);

  g_assert_cmpuint (config->uplinks->len, ==, 2);
  primary = pf_config_get_primary (config);
  g_assert_true (primary == uplink_at (config, 0));
  g_assert_cmpstr (primary->name, ==, "primary");
  g_assert_cmpint (primary->role, ==, PF_ROLE_PRIMARY);
  g_assert_cmpuint (primary->priority, ==, 0);
  g_assert_cmpstr (primary->interface, ==, "vmbr0");
  g_assert_null (primary->connection);
  g_assert_cmpuint (primary->targets->len, ==, 3);
  g_assert_cmpint (target_at (primary, 0)->kind, ==, PF_PROBE_ICMP);
  g_assert_cmpstr (target_at (primary, 0)->address, ==, "1.1.1.1");
  g_assert_cmpstr (target_at (primary, 1)->address, ==, "8.8.8.8");
  g_assert_cmpint (target_at (primary, 2)->kind, ==, PF_PROBE_DNS);
  g_assert_cmpstr (target_at (primary, 2)->address, ==, "9.9.9.9");
  g_assert_cmpuint (target_at (primary, 2)->port, ==, 53);
  g_assert_cmpstr (target_at (primary, 2)->qname, ==, "example.org");
  g_assert_cmpuint (primary->quorum, ==, 1);

  lte = pf_config_find_uplink (config, "lte");
  g_assert_true (lte == uplink_at (config, 1));
  g_assert_cmpint (lte->role, ==, PF_ROLE_BACKUP);
  g_assert_cmpuint (lte->priority, ==, 100);
  g_assert_cmpstr (lte->interface, ==, "enx001e101f0000");
  g_assert_cmpstr (lte->connection, ==, "lte");
  g_assert_cmpstr (lte->management, ==, "192.168.8.1");
  g_assert_null (lte->gateway);
  g_assert_cmpint (lte->standby, ==, PF_STANDBY_HOT);
  g_assert_cmpuint (lte->standby_test_interval_s, ==, 30 * 60);
  g_assert_cmpuint (lte->table, ==, PF_DEFAULT_TABLE_BASE);
  g_assert_cmpuint (lte->activate_timeout_ms, ==, 30000);
  /* Inherited from the primary. */
  g_assert_cmpuint (lte->targets->len, ==, 3);
  g_assert_cmpstr (target_at (lte, 2)->spec, ==, "dns:9.9.9.9/example.org");

  g_assert_null (pf_config_find_uplink (config, "nope"));

  g_assert_cmpuint (config->allowed->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (config->allowed, 0), ==, "192.168.2.29/32");
  g_assert_cmpstr (g_ptr_array_index (config->allowed, 1), ==, "192.168.2.33/32");
  g_assert_cmpuint (config->allowed6->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (config->allowed6, 0), ==, "2001:db8:2::29/128");
  g_assert_false (config->nat66);

  g_assert_cmphex (config->probe_mark, ==, PF_DEFAULT_PROBE_MARK);
  g_assert_cmpuint (config->rule_priority, ==, PF_DEFAULT_RULE_PRIORITY);
  g_assert_cmphex (config->ct_mark_mask, ==, PF_DEFAULT_CT_MARK_MASK);
  g_assert_cmpint (config->on_stop, ==, PF_ON_STOP_RESTORE);

  summary = pf_config_describe (config);
  g_assert_nonnull (strstr (summary, "uplink primary: primary, interface vmbr0\n"));
  g_assert_nonnull (strstr (summary, "uplink lte: backup (priority 100), interface "
                                     "enx001e101f0000, connection \"lte\"\n"));
  g_assert_nonnull (strstr (summary, "guests allowed on a backup: 192.168.2.29/32, "
                                     "192.168.2.33/32, 2001:db8:2::29/128; IPv6 blocked (no nat66)\n"));
}

/* Every key of the example, uncommented, must be accepted with the value it
 * documents as the default: the comments and the parser agree. */
static void
test_example_defaults_documented (void)
{
  g_autofree char *path = example_path ();
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) uncommented = g_string_new (NULL);
  g_autoptr(PfConfig) plain = NULL;
  g_autoptr(PfConfig) config = NULL;
  g_auto(GStrv) lines = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  g_assert_no_error (error);

  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];

      /* "#key=value" with no space after '#' is a documented default;
       * keys without a default value ("#connection=") stay commented. */
      if (line[0] == '#' && g_ascii_islower (line[1]) && strchr (line, '=') != NULL &&
          !g_str_has_suffix (line, "=") && strchr (line, ' ') == NULL)
        g_string_append (uncommented, line + 1);
      else
        g_string_append (uncommented, line);
      g_string_append_c (uncommented, '\n');
    }

  /* The primary's backup-only keys are not in its group: parse both. */
  plain = pf_config_load_data ("plain", text, -1, &error);
  g_assert_no_error (error);
  config = pf_config_load_data ("uncommented", uncommented->str, -1, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < config->uplinks->len; i++)
    {
      const PfUplinkConfig *a = uplink_at (plain, i);
      const PfUplinkConfig *b = uplink_at (config, i);

      g_assert_cmpuint (a->priority, ==, b->priority);
      g_assert_cmpuint (a->quorum, ==, b->quorum);
      g_assert_cmpuint (a->interval_ms, ==, b->interval_ms);
      g_assert_cmpuint (a->fast_interval_ms, ==, b->fast_interval_ms);
      g_assert_cmpuint (a->timeout_ms, ==, b->timeout_ms);
      g_assert_cmpuint (a->down_rounds, ==, b->down_rounds);
      g_assert_cmpuint (a->up_rounds, ==, b->up_rounds);
      g_assert_cmpuint (a->up_min_ms, ==, b->up_min_ms);
      g_assert_cmpuint (a->failback_hold_ms, ==, b->failback_hold_ms);
      g_assert_cmpuint (a->degraded_loss, ==, b->degraded_loss);
      g_assert_cmpint (a->standby, ==, b->standby);
      g_assert_cmpuint (a->standby_test_interval_s, ==, b->standby_test_interval_s);
      g_assert_cmpuint (a->table, ==, b->table);
      g_assert_cmpuint (a->activate_timeout_ms, ==, b->activate_timeout_ms);
      g_assert_cmpuint (a->billing_day, ==, b->billing_day);
      g_assert_cmpmem (a->usage_alerts, a->n_usage_alerts * sizeof (guint),
                       b->usage_alerts, b->n_usage_alerts * sizeof (guint));
      g_assert_cmpint (a->cap_action, ==, b->cap_action);
    }
  g_assert_cmpstr (plain->language, ==, config->language);
  g_assert_cmpint (plain->nat66, ==, config->nat66);
  g_assert_cmphex (plain->probe_mark, ==, config->probe_mark);
  g_assert_cmpuint (plain->rule_priority, ==, config->rule_priority);
  g_assert_cmphex (plain->ct_mark_mask, ==, config->ct_mark_mask);
  g_assert_cmpint (plain->on_stop, ==, config->on_stop);
  g_assert_cmpint (plain->dns_mode, ==, config->dns_mode);
}

static void
test_defaults (void)
{
  g_autoptr(PfConfig) config = load_ok (PRIMARY
                                        "[uplink lte]\n"
                                        "connection=lte\n");
  const PfUplinkConfig *wan = uplink_at (config, 0);
  const PfUplinkConfig *lte = uplink_at (config, 1);

  g_assert_cmpstr (config->path, ==, "test.conf");
  g_assert_cmpuint (config->allowed->len, ==, 0);
  g_assert_cmphex (config->probe_mark, ==, 0x70f0);
  g_assert_cmpuint (config->rule_priority, ==, 10000);
  g_assert_cmphex (config->ct_mark_mask, ==, 0x00ff0000);
  g_assert_cmpint (config->on_stop, ==, PF_ON_STOP_RESTORE);

  g_assert_cmpstr (wan->name, ==, "wan");
  g_assert_cmpuint (wan->priority, ==, 0);
  g_assert_cmpuint (wan->quorum, ==, 1);
  g_assert_cmpuint (wan->interval_ms, ==, 500);
  g_assert_cmpuint (wan->fast_interval_ms, ==, 100);
  g_assert_cmpuint (wan->timeout_ms, ==, 400);
  g_assert_cmpuint (wan->down_rounds, ==, 5);
  g_assert_cmpuint (wan->up_rounds, ==, 10);
  g_assert_cmpuint (wan->up_min_ms, ==, 5000);
  g_assert_cmpuint (wan->failback_hold_ms, ==, 60000);
  g_assert_cmpuint (wan->degraded_loss, ==, 20);
  g_assert_cmpuint (wan->table, ==, 0);

  g_assert_cmpstr (lte->name, ==, "lte");
  g_assert_cmpint (lte->role, ==, PF_ROLE_BACKUP);
  g_assert_cmpuint (lte->priority, ==, 100);
  g_assert_null (lte->interface);
  g_assert_cmpstr (lte->connection, ==, "lte");
  g_assert_cmpint (lte->standby, ==, PF_STANDBY_HOT);
  g_assert_cmpuint (lte->standby_test_interval_s, ==, 1800);
  g_assert_null (lte->management);
  g_assert_null (lte->gateway);
  g_assert_cmpuint (lte->table, ==, 7100);
  g_assert_cmpuint (lte->activate_timeout_ms, ==, 30000);
  g_assert_cmpuint (lte->interval_ms, ==, 500);
  g_assert_cmpuint (lte->targets->len, ==, 1);
  g_assert_cmpstr (target_at (lte, 0)->spec, ==, "icmp:192.0.2.1");
  /* A copy, not the primary's target. */
  g_assert_true (target_at (lte, 0) != target_at (wan, 0));
}

static void
test_values (void)
{
  g_autoptr(PfConfig) config = load_ok (
    "# comment\n"
    "  # indented comment\n"
    "\n"
    "[daemon]\n"
    "probe-mark = 4096\n"
    "rule-priority=32000\n"
    "conntrack-mark-mask=0xF0000000\n"
    "on-stop=keep\n"
    "[uplink wan]\n"
    "role=primary\n"
    "priority=0\n"
    "interface=eth0\n"
    "targets=icmp:192.0.2.1,tcp:192.0.2.2:443 ;dns:[2001:DB8::53]:5353/example.org\t"
    "https://check.example.net:8443/ok?x=1 http://198.51.100.80 icmp:2001:db8::0001\n"
    "quorum=6\n"
    "interval=1.5s\n"
    "fast-interval=250ms\n"
    "timeout=2\n"
    "down-rounds=1\n"
    "up-rounds=1000\n"
    "up-time=0\n"
    "failback-hold=2min\n"
    "degraded-loss=100\n"
    "[uplink lte]\n"
    "interface=wwan0\n"
    "priority=1\n"
    "targets=tcp:198.51.100.1:80\n"
    "standby=cold\n"
    "standby-test-interval=0\n"
    "management=192.168.8.1\n"
    "gateway=192.168.8.1\n"
    "gateway6=FE80::0001\n"
    "table=200\n"
    "activate-timeout=1min30s\n"
    "[guests]\n"
    "allow=192.168.2.29, 192.168.2.0/24;10.0.0.0/8 192.168.2.29/32 0.0.0.0/0 "
    "2001:DB8:10::29 2001:db8:10::/64 2001:db8:10:0::29/128 ::/0 2001:db8:11::/48\n"
    "nat66=true\n");
  const PfUplinkConfig *wan = uplink_at (config, 0);
  const PfUplinkConfig *lte = uplink_at (config, 1);
  const PfProbeTarget *t;
  g_autofree char *summary = NULL;

  g_assert_cmphex (config->probe_mark, ==, 4096);
  g_assert_cmpuint (config->rule_priority, ==, 32000);
  g_assert_cmphex (config->ct_mark_mask, ==, 0xf0000000);
  g_assert_cmpint (config->on_stop, ==, PF_ON_STOP_KEEP);

  g_assert_cmpstr (wan->interface, ==, "eth0");
  g_assert_cmpuint (wan->targets->len, ==, 6);
  t = target_at (wan, 1);
  g_assert_cmpint (t->kind, ==, PF_PROBE_TCP);
  g_assert_cmpstr (t->address, ==, "192.0.2.2");
  g_assert_cmpuint (t->port, ==, 443);
  t = target_at (wan, 2);
  g_assert_cmpint (t->kind, ==, PF_PROBE_DNS);
  g_assert_cmpstr (t->spec, ==, "dns:[2001:DB8::53]:5353/example.org");
  g_assert_cmpstr (t->address, ==, "2001:db8::53");
  g_assert_cmpuint (t->port, ==, 5353);
  g_assert_cmpstr (t->qname, ==, "example.org");
  t = target_at (wan, 3);
  g_assert_cmpint (t->kind, ==, PF_PROBE_HTTPS);
  g_assert_cmpstr (t->address, ==, "check.example.net");
  g_assert_cmpuint (t->port, ==, 8443);
  g_assert_cmpstr (t->path, ==, "/ok?x=1");
  t = target_at (wan, 4);
  g_assert_cmpint (t->kind, ==, PF_PROBE_HTTP);
  g_assert_cmpstr (t->address, ==, "198.51.100.80");
  g_assert_cmpuint (t->port, ==, 80);
  g_assert_cmpstr (t->path, ==, "/");
  t = target_at (wan, 5);
  g_assert_cmpint (t->kind, ==, PF_PROBE_ICMP);
  g_assert_cmpstr (t->address, ==, "2001:db8::1");
  g_assert_cmpuint (wan->quorum, ==, 6);
  g_assert_cmpuint (wan->interval_ms, ==, 1500);
  g_assert_cmpuint (wan->fast_interval_ms, ==, 250);
  g_assert_cmpuint (wan->timeout_ms, ==, 2000);
  g_assert_cmpuint (wan->down_rounds, ==, 1);
  g_assert_cmpuint (wan->up_rounds, ==, 1000);
  g_assert_cmpuint (wan->up_min_ms, ==, 0);
  g_assert_cmpuint (wan->failback_hold_ms, ==, 120000);
  g_assert_cmpuint (wan->degraded_loss, ==, 100);

  g_assert_cmpuint (lte->priority, ==, 1);
  g_assert_cmpuint (lte->targets->len, ==, 1);
  g_assert_cmpint (lte->standby, ==, PF_STANDBY_COLD);
  g_assert_cmpuint (lte->standby_test_interval_s, ==, 0);
  g_assert_cmpstr (lte->management, ==, "192.168.8.1");
  g_assert_cmpstr (lte->gateway, ==, "192.168.8.1");
  g_assert_cmpstr (lte->gateway6, ==, "fe80::1");
  g_assert_cmpuint (lte->table, ==, 200);
  g_assert_cmpuint (lte->activate_timeout_ms, ==, 90000);

  /* Normalised to /N, duplicates dropped, file order kept. */
  g_assert_cmpuint (config->allowed->len, ==, 4);
  g_assert_cmpstr (g_ptr_array_index (config->allowed, 0), ==, "192.168.2.29/32");
  g_assert_cmpstr (g_ptr_array_index (config->allowed, 1), ==, "192.168.2.0/24");
  g_assert_cmpstr (g_ptr_array_index (config->allowed, 2), ==, "10.0.0.0/8");
  g_assert_cmpstr (g_ptr_array_index (config->allowed, 3), ==, "0.0.0.0/0");
  /* IPv6 guests apart, normalised the same way. */
  g_assert_cmpuint (config->allowed6->len, ==, 4);
  g_assert_cmpstr (g_ptr_array_index (config->allowed6, 0), ==, "2001:db8:10::29/128");
  g_assert_cmpstr (g_ptr_array_index (config->allowed6, 1), ==, "2001:db8:10::/64");
  g_assert_cmpstr (g_ptr_array_index (config->allowed6, 2), ==, "::/0");
  g_assert_cmpstr (g_ptr_array_index (config->allowed6, 3), ==, "2001:db8:11::/48");
  g_assert_true (config->nat66);

  summary = pf_config_describe (config);
  g_assert_nonnull (strstr (summary, ", gateway 192.168.8.1, gateway6 fe80::1, "));
  g_assert_nonnull (strstr (summary, "0.0.0.0/0, 2001:db8:10::29/128, 2001:db8:10::/64, ::/0, "
                                     "2001:db8:11::/48; IPv6 with NAT66\n"));
}

/* Primary first, then by priority whatever the file order; default tables
 * follow the priority order. */
static void
test_order_and_tables (void)
{
  g_autoptr(PfConfig) config = load_ok (
    "[uplink slow]\n"
    "interface=eth3\n"
    "priority=30\n"
    "[uplink wifi]\n"
    "interface=wlan0\n"
    "priority=20\n"
    "table=7300\n"
    "[uplink lte]\n"
    "interface=wwan0\n"
    "priority=10\n"
    "[guests]\n"
    "allow=\n"
    "[uplink wan]\n"
    "role=primary\n"
    "interface=vmbr0\n"
    "targets=icmp:192.0.2.1 icmp:192.0.2.2\n");

  g_assert_cmpuint (config->uplinks->len, ==, 4);
  g_assert_cmpstr (uplink_at (config, 0)->name, ==, "wan");
  g_assert_cmpstr (uplink_at (config, 1)->name, ==, "lte");
  g_assert_cmpstr (uplink_at (config, 2)->name, ==, "wifi");
  g_assert_cmpstr (uplink_at (config, 3)->name, ==, "slow");
  g_assert_cmpuint (uplink_at (config, 1)->table, ==, 7100);
  g_assert_cmpuint (uplink_at (config, 2)->table, ==, 7300);
  g_assert_cmpuint (uplink_at (config, 3)->table, ==, 7102);
  g_assert_cmpuint (config->allowed->len, ==, 0);
  g_assert_cmpuint (config->allowed6->len, ==, 0);
  g_assert_false (config->nat66);
}

static void
test_crlf (void)
{
  g_autoptr(PfConfig) config = load_ok ("[uplink wan]\r\n"
                                        "role = primary\r\n"
                                        "interface=vmbr0   \r\n"
                                        "targets=icmp:192.0.2.1\r\n");

  g_assert_cmpstr (uplink_at (config, 0)->interface, ==, "vmbr0");
}

static void
test_missing_file (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PfConfig) config = pf_config_load ("/nonexistent/pvefailover.conf", &error);

  g_assert_null (config);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_true (g_str_has_prefix (error->message, "cannot read the configuration: "));
  g_assert_nonnull (strstr (error->message, "/nonexistent/pvefailover.conf"));
}

static void
test_describe (void)
{
  g_autoptr(PfConfig) config = load_ok (PRIMARY
                                        "[uplink lte]\n"
                                        "interface=wwan0\n"
                                        "standby=cold\n"
                                        "management=192.168.8.1\n"
                                        "plan=2GB\n"
                                        "billing-day=5\n"
                                        "usage-alerts=80;100\n"
                                        "cap-action=block\n"
                                        "[notify telegram]\n"
                                        "token-file=/etc/pvefailover/token\n"
                                        "chat-id=42\n"
                                        "[guests]\n"
                                        "allow=192.168.2.29\n");
  g_autofree char *summary = pf_config_describe (config);

  g_assert_cmpstr (summary, ==,
    "configuration test.conf\n"
    "uplink wan: primary, interface vmbr0\n"
    "  targets (1 of 1 must answer): icmp:192.0.2.1\n"
    "  probes every 500ms (100ms after a failed round), timeout 400ms\n"
    "  down after 5 failed rounds; up after 10 good rounds and 5s; degraded above 20% loss; "
    "failback hold 1min\n"
    "uplink lte: backup (priority 100), interface wwan0\n"
    "  targets (1 of 1 must answer): icmp:192.0.2.1\n"
    "  probes every 500ms (100ms after a failed round), timeout 400ms\n"
    "  down after 5 failed rounds; up after 10 good rounds and 5s; degraded above 20% loss; "
    "failback hold 1min\n"
    "  cold standby, standby test every 30min, activation limit 30s, routing table 7100, "
    "management 192.168.8.1\n"
    "  plan 2.00 GB per cycle, cycle starts on day 5, alerts at 80%, 100%, at the cap: block\n"
    "guests allowed on a backup: 192.168.2.29/32\n"
    "daemon: probe mark 0x70f0, ip rule priority 10000-10002, conntrack mark mask 0x00ff0000, "
    "on stop restore\n"
    "notify telegram: telegram chat 42, token from /etc/pvefailover/token, at most 6 messages a minute, in en\n"
    "hooks: " PF_DEFAULT_HOOKS_DIR " (timeout 30 s)\n");
}

/* All errors of a stage are reported, sorted by line. */
static void
test_several_errors (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PfConfig) config = pf_config_load_data ("test.conf",
                                                    PRIMARY
                                                    "[uplink lte]\n"
                                                    "standby=warm\n"
                                                    "interface=a/b\n"
                                                    "[daemon]\n"
                                                    "on-stop=never\n",
                                                    -1, &error);

  g_assert_null (config);
  g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG);
  g_assert_cmpstr (error->message, ==,
    "test.conf:6: [uplink lte] key \"standby\": invalid value \"warm\" (expected hot or cold)\n"
    "test.conf:7: [uplink lte] key \"interface\": invalid value \"a/b\" (expected a Linux "
    "interface name: 1 to 15 characters, no '/', ':' or white space)\n"
    "test.conf:9: [daemon] key \"on-stop\": invalid value \"never\" (expected restore or keep)");
}

static void
test_nul_byte (void)
{
  static const char data[] = PRIMARY "x\0y\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(PfConfig) config = pf_config_load_data ("test.conf", data, sizeof data - 1, &error);

  g_assert_null (config);
  g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG);
  g_assert_cmpstr (error->message, ==, "test.conf: contains a NUL byte: not a text file");
}

static void
test_plan_and_notifiers (void)
{
  g_autoptr(PfConfig) config = load_ok (
    PRIMARY
    "[daemon]\nlanguage=fr\n"
    "[uplink lte]\ninterface=wwan0\nplan=1.5GB\nbilling-day=31\nusage-alerts=80%, 100%\ncap-action=restrict\n"
    "[uplink sat]\ninterface=eth9\npriority=200\nbilling-start=2026-11-05\nbilling-period=30d\n"
    "[notify telegram]\ntoken-file=/etc/pvefailover/telegram.token\nchat-id=-100123\ntopic-id=7\n"
    "[notify ntfy]\ntype=webhook\nurl=https://ntfy.example/pve\nheader=Authorization: Bearer x\nrate-limit=2\n"
    "[hooks]\ndirectory=/srv/hooks\ntimeout=5s\n");
  const PfUplinkConfig *lte = pf_config_find_uplink (config, "lte");
  const PfUplinkConfig *sat = pf_config_find_uplink (config, "sat");
  const PfNotifierConfig *tg, *hook;

  g_assert_cmpuint (lte->plan_bytes, ==, 1500000000);
  g_assert_cmpuint (lte->billing_day, ==, 31);
  g_assert_null (lte->billing_start);
  g_assert_cmpuint (lte->n_usage_alerts, ==, 2);
  g_assert_cmpuint (lte->usage_alerts[0], ==, 80);
  g_assert_cmpuint (lte->usage_alerts[1], ==, 100);
  g_assert_cmpint (lte->cap_action, ==, PF_CAP_RESTRICT);
  /* Defaults */
  g_assert_cmpuint (sat->plan_bytes, ==, 0);
  g_assert_cmpstr (sat->billing_start, ==, "2026-11-05");
  g_assert_cmpuint (sat->billing_period_days, ==, 30);
  g_assert_cmpuint (sat->n_usage_alerts, ==, 4);
  g_assert_cmpuint (sat->usage_alerts[3], ==, 100);
  g_assert_cmpint (sat->cap_action, ==, PF_CAP_NOTIFY);

  g_assert_cmpstr (config->language, ==, "fr");
  g_assert_cmpuint (config->notifiers->len, ==, 2);
  tg = g_ptr_array_index (config->notifiers, 0);
  hook = g_ptr_array_index (config->notifiers, 1);
  g_assert_cmpint (tg->kind, ==, PF_NOTIFIER_TELEGRAM);
  g_assert_cmpstr (tg->chat_id, ==, "-100123");
  g_assert_cmpint (tg->topic_id, ==, 7);
  g_assert_cmpuint (tg->rate_limit, ==, PF_DEFAULT_NOTIFY_RATE_LIMIT);
  g_assert_cmpint (hook->kind, ==, PF_NOTIFIER_WEBHOOK);
  g_assert_cmpstr (hook->header, ==, "Authorization: Bearer x");
  g_assert_cmpuint (hook->rate_limit, ==, 2);
  g_assert_cmpstr (config->hooks_dir, ==, "/srv/hooks");
  g_assert_cmpuint (config->hook_timeout_ms, ==, 5000);
}

static void
test_forwards_and_remote_access (void)
{
  g_autoptr(PfConfig) config = load_ok (
    PRIMARY
    "[uplink lte]\ninterface=wwan0\n"
    "[forward ha]\nto=192.168.2.10:8123\n"
    "[forward pbs]\nto=[fd00::7]\nport=8007\nproto=udp\ninterfaces=wg0, tailscale*\nwhen=failover\nmasquerade=false\n"
    "[remote-access wireguard]\ninterface=wg0\nprobe=10.99.0.2\nout-of-band=lte\nfwmark=0x5100\n"
    "endpoint=vpn.example.org:51820\npeer-key=q0ZsXvSFQ3kGG7vMUdh4ZFWDD6PJmqLdO0cHbRR4yXI=\ninterval=30s\n"
    "[remote-access zt]\ntype=zerotier\nnetwork=8056c2e21c84a027\nprobe=fd80:56c2::1\n");
  const PfForwardConfig *ha, *pbs;
  const PfRemoteAccessConfig *wg, *zt;
  g_autofree char *summary = NULL;

  g_assert_cmpuint (config->forwards->len, ==, 2);
  ha = g_ptr_array_index (config->forwards, 0);
  pbs = g_ptr_array_index (config->forwards, 1);
  g_assert_cmpstr (ha->proto, ==, "tcp");
  g_assert_cmpuint (ha->port, ==, 8123);
  g_assert_cmpstr (ha->to_address, ==, "192.168.2.10");
  g_assert_cmpuint (ha->to_port, ==, 8123);
  g_assert_cmpstr (ha->interfaces[0], ==, "zt*");
  g_assert_cmpstr (ha->interfaces[1], ==, "wg*");
  g_assert_null (ha->interfaces[2]);
  g_assert_cmpint (ha->when, ==, PF_FORWARD_ALWAYS);
  g_assert_true (ha->masquerade);
  g_assert_cmpstr (pbs->proto, ==, "udp");
  g_assert_cmpstr (pbs->to_address, ==, "fd00::7");
  g_assert_cmpuint (pbs->port, ==, 8007);
  g_assert_cmpuint (pbs->to_port, ==, 8007);
  g_assert_cmpstr (pbs->interfaces[1], ==, "tailscale*");
  g_assert_cmpint (pbs->when, ==, PF_FORWARD_FAILOVER);
  g_assert_false (pbs->masquerade);

  g_assert_cmpuint (config->remote_access->len, ==, 2);
  wg = g_ptr_array_index (config->remote_access, 0);
  zt = g_ptr_array_index (config->remote_access, 1);
  g_assert_cmpint (wg->kind, ==, PF_REMOTE_WIREGUARD);
  g_assert_cmpstr (wg->interface, ==, "wg0");
  g_assert_cmpstr (wg->probe, ==, "10.99.0.2");
  g_assert_cmpstr (wg->out_of_band, ==, "lte");
  g_assert_cmphex (wg->fwmark, ==, 0x5100);
  g_assert_cmpstr (wg->endpoint, ==, "vpn.example.org:51820");
  g_assert_cmpuint (wg->interval_ms, ==, 30000);
  g_assert_cmpuint (wg->timeout_ms, ==, PF_DEFAULT_REMOTE_TIMEOUT_MS);
  g_assert_cmpint (zt->kind, ==, PF_REMOTE_ZEROTIER);
  g_assert_null (zt->interface);
  g_assert_cmpstr (zt->probe, ==, "fd80:56c2::1");
  g_assert_cmpstr (zt->api, ==, PF_DEFAULT_ZEROTIER_API);
  g_assert_cmpstr (zt->token_file, ==, PF_DEFAULT_ZEROTIER_TOKEN);
  g_assert_cmpuint (zt->interval_ms, ==, PF_DEFAULT_REMOTE_INTERVAL_MS);

  summary = pf_config_describe (config);
  g_assert_nonnull (strstr (summary, "forward ha: tcp port 8123 on zt* wg* to 192.168.2.10:8123, always, masqueraded\n"));
  g_assert_nonnull (strstr (summary, "forward pbs: udp port 8007 on wg0 tailscale* to [fd00::7]:8007, only while failed over\n"));
  g_assert_nonnull (strstr (summary, "remote access wireguard: wireguard on wg0, probe 10.99.0.2 every 30 s, "
                                     "out of band through lte (fwmark 0x5100), endpoint vpn.example.org:51820\n"));
}

static void
test_tunnel_over_backup (void)
{
  g_autoptr(PfConfig) config = load_ok (
    PRIMARY
    "[uplink lte]\ninterface=wwan0\npriority=10\n"
    "[uplink tunnel]\nconnection=wg-vps\nvia=lte\nserver=203.0.113.10\npriority=5\n");
  const PfUplinkConfig *tunnel = pf_config_find_uplink (config, "tunnel");
  g_autofree char *summary = pf_config_describe (config);

  g_assert_cmpstr (tunnel->via, ==, "lte");
  g_assert_cmpstr (tunnel->server, ==, "203.0.113.10");
  /* Brought up when needed, tested then. */
  g_assert_cmpint (tunnel->standby, ==, PF_STANDBY_COLD);
  g_assert_cmpuint (tunnel->standby_test_interval_s, ==, 0);
  g_assert_null (pf_config_find_uplink (config, "lte")->via);
  g_assert_nonnull (strstr (summary, "  a tunnel over lte to 203.0.113.10, brought up and tested when needed\n"));
}

static void
test_size (void)
{
  static const struct { const char *text; guint64 bytes; } good[] = {
    { "0", 0 }, { "900", 900 }, { "10GB", G_GUINT64_CONSTANT (10000000000) }, { "500 MB", 500000000 },
    { "1.5GB", 1500000000 }, { "2GiB", G_GUINT64_CONSTANT (2147483648) }, { "4kb", 4000 },
  };
  static const char *const bad[] = { "", "GB", "-1GB", "1.5", "10 GO", "1e9", "99999999999TB" };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      guint64 bytes = 1;

      g_assert_true (pf_parse_size (good[i].text, &bytes, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (bytes, ==, good[i].bytes);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      guint64 bytes;

      g_assert_false (pf_parse_size (bad[i], &bytes, &error));
      g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG);
    }
  {
    g_autofree char *a = pf_format_size (950);
    g_autofree char *b = pf_format_size (1234567);
    g_autofree char *c = pf_format_size (G_GUINT64_CONSTANT (10000000000));

    g_assert_cmpstr (a, ==, "950 B");
    g_assert_cmpstr (b, ==, "1.23 MB");
    g_assert_cmpstr (c, ==, "10.0 GB");
  }
}

/* ------------------------------------------------------------------------ */
/* Refusals: one file each, the exact first message. */

typedef struct {
  const char *name;
  const char *path;   /* NULL: test.conf */
  const char *text;
  const char *message;
} ErrorCase;

static const ErrorCase error_cases[] = {
  /* The example of the documentation, at its line. */
  { "standby", "pvefailover.conf",
    PRIMARY "\n\n\n\n\n"
    "[uplink lte]\n"
    "interface=enx001e101f0000\n"
    "standby=warm\n",
    "pvefailover.conf:12: [uplink lte] key \"standby\": invalid value \"warm\" (expected hot or cold)" },

  /* Modem telemetry (backups) */
  { "modem-source", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\nmodem=qmi\n",
    "test.conf:7: [uplink lte] key \"modem\": invalid value \"qmi\" (expected auto, modemmanager, hilink or none)" },
  { "modem-hilink-needs-address", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\nmodem=hilink\n",
    "test.conf:7: [uplink lte] key \"modem\": modem=hilink needs management= or modem-api= (where the stick's API answers)" },
  { "modem-api", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\nmodem-api=ftp://192.168.8.1/\n",
    "test.conf:7: [uplink lte] key \"modem-api\": invalid value \"ftp://192.168.8.1/\" (expected an http:// or https:// URL)" },
  { "signal-alert", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\nsignal-alert=-20\n",
    "test.conf:7: [uplink lte] key \"signal-alert\": invalid value \"-20\" (expected an RSRP level in dBm from -140 to -44)" },
  { "modem-on-primary", NULL,
    PRIMARY "modem=hilink\n",
    "test.conf:5: [uplink wan] key \"modem\": only valid for a backup uplink (this one has role=primary)" },

  /* Data plan (backups) */
  { "plan-size", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\nplan=10 GO\n",
    "test.conf:7: [uplink lte] key \"plan\": invalid value \"10 GO\" (expected a size such as 10GB, 500MB or 2GiB)" },
  { "billing-day", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\nbilling-day=32\n",
    "test.conf:7: [uplink lte] key \"billing-day\": invalid value \"32\" (expected a number from 1 to 31)" },
  { "billing-start-date", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\nbilling-start=2027-02-29\nbilling-period=30d\n",
    "test.conf:7: [uplink lte] key \"billing-start\": invalid value \"2027-02-29\" (expected a date such as 2026-11-05)" },
  { "billing-start-needs-period", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\nbilling-start=2026-11-05\n",
    "test.conf:7: [uplink lte] key \"billing-start\": billing-start needs billing-period= (such as 30d)" },
  { "billing-period-days", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\nbilling-start=2026-11-05\nbilling-period=36h\n",
    "test.conf:8: [uplink lte] key \"billing-period\": invalid value \"36h\" (expected whole days from 1d to 366d, such as 30d)" },
  { "billing-day-and-start", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\nbilling-start=2026-11-05\nbilling-period=30d\nbilling-day=5\n",
    "test.conf:9: [uplink lte] key \"billing-day\": billing-day and billing-start exclude each other "
    "(monthly on a day, or periods from a date)" },
  { "usage-alerts-order", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\nusage-alerts=80;50\n",
    "test.conf:7: [uplink lte] key \"usage-alerts\": invalid value \"80;50\" (expected up to 8 ascending "
    "percents from 1 to 100, such as 50;80;95;100, or none)" },
  { "cap-action-needs-plan", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\ncap-action=block\n",
    "test.conf:7: [uplink lte] key \"cap-action\": cap-action=block needs plan= (the plan's size)" },
  { "plan-on-primary", NULL,
    PRIMARY "plan=10GB\n",
    "test.conf:5: [uplink wan] key \"plan\": only valid for a backup uplink (this one has role=primary)" },

  /* Notifiers and hooks */
  { "notify-needs-type", NULL,
    PRIMARY "[notify phone]\nurl=https://ntfy.example/pve\n",
    "test.conf:5: [notify phone]: type= is needed (telegram or webhook)" },
  { "notify-telegram-needs-token", NULL,
    PRIMARY "[notify telegram]\nchat-id=42\n",
    "test.conf:5: [notify telegram]: a Telegram notifier needs token-file= (the bot token's file) and chat-id=" },
  { "notify-chat-id", NULL,
    PRIMARY "[notify telegram]\ntoken-file=/etc/pvefailover/token\nchat-id=me\n",
    "test.conf:7: [notify telegram] key \"chat-id\": invalid value \"me\" (expected a numeric chat id or @channelname)" },
  { "notify-url", NULL,
    PRIMARY "[notify webhook]\nurl=ftp://example.org/\n",
    "test.conf:6: [notify webhook] key \"url\": invalid value \"ftp://example.org/\" (expected an http:// or https:// URL)" },
  { "notify-header-secret-not-echoed", NULL,
    PRIMARY "[notify webhook]\nurl=https://example.org/\nheader=Bearer s3cret\n",
    "test.conf:7: [notify webhook] key \"header\": invalid value \"…\" (expected a header such as "
    "\"Authorization: Bearer TOKEN\")" },
  { "notify-mixed-keys", NULL,
    PRIMARY "[notify webhook]\nurl=https://example.org/\nchat-id=42\n",
    "test.conf:5: [notify webhook]: token-file=, chat-id=, topic-id= and api-url= are for type=telegram" },
  { "notify-unknown-key", NULL,
    PRIMARY "[notify webhook]\nurl=https://example.org/\ntoken=abc\n",
    "test.conf:7: [notify webhook] key \"token\": unknown key" },
  { "hooks-timeout", NULL,
    PRIMARY "[hooks]\ntimeout=2h\n",
    "test.conf:6: [hooks] key \"timeout\": invalid value \"2h\" (expected a duration from 1s to 1h)" },
  { "language", NULL,
    PRIMARY "[daemon]\nlanguage=de\n",
    "test.conf:6: [daemon] key \"language\": invalid value \"de\" (expected en or fr)" },

  { "forward-needs-to", NULL,
    PRIMARY "[forward ha]\nport=8123\n",
    "test.conf:5: [forward ha]: to= is needed (the service inside, e.g. to=192.168.2.10:8123)" },
  { "forward-needs-port", NULL,
    PRIMARY "[forward ha]\nto=192.168.2.10\n",
    "test.conf:5: [forward ha]: no port: give to=ADDRESS:PORT, port=, or both" },
  { "forward-to", NULL,
    PRIMARY "[forward ha]\nto=homeassistant:8123\n",
    "test.conf:6: [forward ha] key \"to\": invalid value \"homeassistant:8123\" (expected ADDRESS:PORT or "
    "[IPv6]:PORT of the service inside)" },
  { "forward-proto", NULL,
    PRIMARY "[forward ha]\nto=192.168.2.10:8123\nproto=sctp\n",
    "test.conf:7: [forward ha] key \"proto\": invalid value \"sctp\" (expected tcp or udp)" },
  { "forward-interfaces", NULL,
    PRIMARY "[forward ha]\nto=192.168.2.10:8123\ninterfaces=wg0 *\n",
    "test.conf:7: [forward ha] key \"interfaces\": invalid value \"*\" (expected an interface name, or a "
    "prefix ending in '*')" },
  { "forward-when", NULL,
    PRIMARY "[forward ha]\nto=192.168.2.10:8123\nwhen=sometimes\n",
    "test.conf:7: [forward ha] key \"when\": invalid value \"sometimes\" (expected always or failover)" },
  { "forward-name", NULL,
    PRIMARY "[forward Home Assistant]\nto=192.168.2.10:8123\n",
    "test.conf:5: invalid forward name \"Home Assistant\" in [forward Home Assistant] (expected 1 to 32 of "
    "a-z, 0-9, '_' and '-')" },
  { "remote-needs-type", NULL,
    PRIMARY "[remote-access vpn]\ninterface=wg0\nprobe=10.99.0.2\n",
    "test.conf:5: [remote-access vpn]: type= is needed (wireguard or zerotier)" },
  { "remote-needs-probe", NULL,
    PRIMARY "[remote-access wireguard]\ninterface=wg0\n",
    "test.conf:5: [remote-access wireguard]: probe= is needed: the address of a peer across the tunnel, "
    "pinged through it" },
  { "remote-mark-alone", NULL,
    PRIMARY "[remote-access wireguard]\ninterface=wg0\nprobe=10.99.0.2\nfwmark=0x5100\n",
    "test.conf:5: [remote-access wireguard]: out-of-band= and fwmark= go together: the tunnel's packets "
    "carry the interface's fwmark, and that mark is routed through the backup" },
  { "remote-out-of-band-primary", NULL,
    PRIMARY "[remote-access wireguard]\ninterface=wg0\nprobe=10.99.0.2\nfwmark=0x5100\nout-of-band=wan\n",
    "test.conf:9: [remote-access wireguard] key \"out-of-band\": \"wan\" is not a backup uplink" },
  { "remote-probe-mark", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\n"
    "[remote-access wireguard]\ninterface=wg0\nprobe=10.99.0.2\nfwmark=0x70f0\nout-of-band=lte\n",
    "test.conf:10: [remote-access wireguard] key \"fwmark\": 0x70f0 is the daemon's probe mark ([daemon] probe-mark)" },
  { "remote-peer-key", NULL,
    PRIMARY "[remote-access wireguard]\ninterface=wg0\nprobe=10.99.0.2\npeer-key=abc\n",
    "test.conf:8: [remote-access wireguard] key \"peer-key\": invalid value \"abc\" (expected a WireGuard "
    "public key (44 characters of base64))" },
  { "remote-endpoint-alone", NULL,
    PRIMARY "[remote-access wireguard]\ninterface=wg0\nprobe=10.99.0.2\nendpoint=vpn.example.org:51820\n",
    "test.conf:5: [remote-access wireguard]: endpoint= and peer-key= go together (which peer's endpoint to set again)" },
  { "remote-endpoint", NULL,
    PRIMARY "[remote-access wireguard]\ninterface=wg0\nprobe=10.99.0.2\nendpoint=vpn.example.org\n",
    "test.conf:8: [remote-access wireguard] key \"endpoint\": invalid value \"vpn.example.org\" (expected "
    "HOST:PORT, e.g. vpn.example.org:51820)" },
  { "remote-zerotier-network", NULL,
    PRIMARY "[remote-access zerotier]\nnetwork=8056C2E21C84A027\nprobe=10.147.17.1\n",
    "test.conf:6: [remote-access zerotier] key \"network\": invalid value \"8056C2E21C84A027\" (expected "
    "a ZeroTier network id, 16 lowercase hex digits)" },
  { "remote-zerotier-mixed", NULL,
    PRIMARY "[remote-access zerotier]\nnetwork=8056c2e21c84a027\nprobe=10.147.17.1\nendpoint=a.example:1\n",
    "test.conf:5: [remote-access zerotier]: out-of-band=, fwmark=, endpoint= and peer-key= are for type=wireguard" },

  { "via-needs-server", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\n[uplink tunnel]\nconnection=wg-vps\nvia=lte\npriority=5\n",
    "test.conf:9: [uplink tunnel] key \"via\": via= and server= go together: the tunnel rides the uplink "
    "named by via=, and its far end (server=) is routed through that uplink" },
  { "via-needs-connection", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\n[uplink tunnel]\ninterface=wg0\nvia=lte\nserver=203.0.113.10\npriority=5\n",
    "test.conf:9: [uplink tunnel] key \"via\": a tunnel over another uplink needs connection= (its "
    "NetworkManager connection)" },
  { "via-hot", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\n[uplink tunnel]\nconnection=t\nvia=lte\nserver=203.0.113.10\nstandby=hot\npriority=5\n",
    "test.conf:11: [uplink tunnel] key \"standby\": a tunnel over another uplink is brought up when needed: standby=cold" },
  { "via-standby-test", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\n[uplink tunnel]\nconnection=t\nvia=lte\nserver=203.0.113.10\n"
    "standby-test-interval=1h\npriority=5\n",
    "test.conf:11: [uplink tunnel] key \"standby-test-interval\": a tunnel over another uplink has no standby "
    "test of its own: the uplink that carries it is tested, the tunnel when it is brought up (set 0)" },
  { "via-primary", NULL,
    PRIMARY "[uplink tunnel]\nconnection=t\nvia=wan\nserver=203.0.113.10\n",
    "test.conf:7: [uplink tunnel] key \"via\": \"wan\" is not another backup uplink" },
  { "via-chain", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\n[uplink t1]\nconnection=t1\nvia=lte\nserver=203.0.113.10\npriority=5\n"
    "[uplink t2]\nconnection=t2\nvia=t1\nserver=203.0.113.11\npriority=6\n",
    "test.conf:14: [uplink t2] key \"via\": \"t1\" is itself a tunnel (via=lte): a tunnel rides a link" },
  { "server-address", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\n[uplink tunnel]\nconnection=t\nvia=lte\nserver=vps.example.org\n",
    "test.conf:10: [uplink tunnel] key \"server\": invalid value \"vps.example.org\" (expected an IPv4 or IPv6 address)" },

  /* Syntax */
  { "unknown-group", NULL,
    PRIMARY "[probes]\nx=1\n",
    "test.conf:5: unknown group [probes] (expected [daemon], [guests], [hooks], [uplink NAME], [notify NAME], [forward NAME] or [remote-access NAME])" },
  { "unknown-key", NULL,
    PRIMARY "colour=blue\n",
    "test.conf:5: [uplink wan] key \"colour\": unknown key" },
  { "unknown-key-daemon", NULL,
    "[daemon]\nmark=1\n" PRIMARY,
    "test.conf:2: [daemon] key \"mark\": unknown key" },
  { "unknown-key-guests", NULL,
    PRIMARY "[guests]\ndeny=192.168.2.1\n",
    "test.conf:6: [guests] key \"deny\": unknown key" },
  { "locale-key", NULL,
    PRIMARY "interface[fr]=vmbr1\n",
    "test.conf:5: invalid key name \"interface[fr]\"" },
  { "invalid-line", NULL,
    PRIMARY "garbage\n",
    "test.conf:5: invalid line \"garbage\" (expected [group], key=value or a # comment)" },
  { "invalid-group-line", NULL,
    PRIMARY "[uplink lte] x\n",
    "test.conf:5: invalid line \"[uplink lte] x\" (expected [group], key=value or a # comment)" },
  { "empty-group-name", NULL,
    PRIMARY "[]\n",
    "test.conf:5: invalid group name in \"[]\"" },
  { "key-outside-group", NULL,
    "interval=1s\n" PRIMARY,
    "test.conf:1: key \"interval\" outside any [group]" },
  { "duplicate-key", NULL,
    PRIMARY "interface=eth0\n",
    "test.conf:5: [uplink wan] key \"interface\": duplicate key (first at line 3)" },
  { "duplicate-uplink-group", NULL,
    PRIMARY "[uplink lte]\ninterface=eth1\n[uplink lte]\nconnection=lte\n",
    "test.conf:7: duplicate group [uplink lte] (first at line 5)" },
  { "duplicate-daemon-group", NULL,
    "[daemon]\n" PRIMARY "[daemon]\non-stop=keep\n",
    "test.conf:6: duplicate group [daemon] (first at line 1)" },
  { "invalid-utf8", NULL,
    PRIMARY "connection=\xff\xfe\n",
    "test.conf:5: line is not valid UTF-8" },
  { "uplink-name", NULL,
    PRIMARY "[uplink LTE]\ninterface=eth1\n",
    "test.conf:5: invalid uplink name \"LTE\" in [uplink LTE] (expected 1 to 32 of a-z, 0-9, "
    "'_' and '-')" },
  { "uplink-name-long", NULL,
    PRIMARY "[uplink abcdefghijklmnopqrstuvwxyz0123456]\ninterface=eth1\n",
    "test.conf:5: invalid uplink name \"abcdefghijklmnopqrstuvwxyz0123456\" in "
    "[uplink abcdefghijklmnopqrstuvwxyz0123456] (expected 1 to 32 of a-z, 0-9, '_' and '-')" },
  { "uplink-no-name", NULL,
    PRIMARY "[uplink]\ninterface=eth1\n",
    "test.conf:5: [uplink] needs a name, e.g. [uplink lte]" },

  /* Empty values */
  { "empty-value", NULL,
    PRIMARY "connection=\n",
    "test.conf:5: [uplink wan] key \"connection\": empty value" },
  { "empty-value-blank", NULL,
    "[uplink wan]\nrole=primary\ninterface=vmbr0\ntargets=   \n",
    "test.conf:4: [uplink wan] key \"targets\": empty value" },
  { "empty-value-daemon", NULL,
    "[daemon]\nprobe-mark=\n" PRIMARY,
    "test.conf:2: [daemon] key \"probe-mark\": empty value" },

  /* Numbers */
  { "number", NULL,
    PRIMARY "down-rounds=five\n",
    "test.conf:5: [uplink wan] key \"down-rounds\": invalid value \"five\" (expected a number "
    "from 1 to 1000)" },
  { "number-range", NULL,
    PRIMARY "up-rounds=0\n",
    "test.conf:5: [uplink wan] key \"up-rounds\": invalid value \"0\" (expected a number "
    "from 1 to 1000)" },
  { "number-sign", NULL,
    PRIMARY "degraded-loss=-1\n",
    "test.conf:5: [uplink wan] key \"degraded-loss\": invalid value \"-1\" (expected a number "
    "from 0 to 100)" },
  { "backup-priority", NULL,
    PRIMARY "[uplink lte]\ninterface=eth1\npriority=2000\n",
    "test.conf:7: [uplink lte] key \"priority\": invalid value \"2000\" (expected a number "
    "from 1 to 1000)" },
  { "backup-priority-zero", NULL,
    PRIMARY "[uplink lte]\ninterface=eth1\npriority=0\n",
    "test.conf:7: [uplink lte] key \"priority\": invalid value \"0\" (expected a number "
    "from 1 to 1000)" },
  { "primary-priority", NULL,
    PRIMARY "priority=5\n",
    "test.conf:5: [uplink wan] key \"priority\": invalid value \"5\" (expected 0: the primary's "
    "priority is always 0)" },
  { "probe-mark", NULL,
    "[daemon]\nprobe-mark=0\n" PRIMARY,
    "test.conf:2: [daemon] key \"probe-mark\": invalid value \"0\" (expected a nonzero 32-bit "
    "mark, decimal or 0x hexadecimal)" },
  { "probe-mark-big", NULL,
    "[daemon]\nprobe-mark=0x100000000\n" PRIMARY,
    "test.conf:2: [daemon] key \"probe-mark\": invalid value \"0x100000000\" (expected a "
    "nonzero 32-bit mark, decimal or 0x hexadecimal)" },
  { "rule-priority", NULL,
    "[daemon]\nrule-priority=32001\n" PRIMARY,
    "test.conf:2: [daemon] key \"rule-priority\": invalid value \"32001\" (expected a number "
    "from 1 to 32000)" },
  { "ct-mask-holes", NULL,
    "[daemon]\nconntrack-mark-mask=0x00f0f000\n" PRIMARY,
    "test.conf:2: [daemon] key \"conntrack-mark-mask\": invalid value \"0x00f0f000\" (expected "
    "a nonzero mask of contiguous bits such as 0x00ff0000)" },
  { "ct-mask-narrow", NULL,
    "[daemon]\nconntrack-mark-mask=0x10000\n" PRIMARY "[uplink lte]\ninterface=eth1\n",
    "test.conf:2: [daemon] key \"conntrack-mark-mask\": 0x00010000 is 1 bit wide, too narrow "
    "for 2 uplinks" },
  { "probe-mark-overlap", NULL,
    "[daemon]\nprobe-mark=0x10000\n" PRIMARY,
    "test.conf:2: [daemon] key \"probe-mark\": 0x10000 overlaps conntrack-mark-mask 0x00ff0000" },
  { "table", NULL,
    PRIMARY "[uplink lte]\ninterface=eth1\ntable=254\n",
    "test.conf:7: [uplink lte] key \"table\": invalid value \"254\" (expected a routing table "
    "number from 1 to 2147483647, not 253, 254 or 255 (default, main, local))" },

  /* Bool-like and enumerations */
  { "on-stop", NULL,
    "[daemon]\non-stop=yes\n" PRIMARY,
    "test.conf:2: [daemon] key \"on-stop\": invalid value \"yes\" (expected restore or keep)" },
  { "role", NULL,
    "[uplink wan]\nrole=master\ninterface=vmbr0\ntargets=icmp:192.0.2.1\n",
    "test.conf:2: [uplink wan] key \"role\": invalid value \"master\" (expected primary or "
    "backup)" },
  { "standby-case", NULL,
    PRIMARY "[uplink lte]\ninterface=eth1\nstandby=Hot\n",
    "test.conf:7: [uplink lte] key \"standby\": invalid value \"Hot\" (expected hot or cold)" },

  /* Durations */
  { "duration", NULL,
    PRIMARY "interval=fast\n",
    "test.conf:5: [uplink wan] key \"interval\": invalid duration \"fast\" (expected e.g. "
    "250ms, 1.5s, 2min or 1h; a plain number is seconds)" },
  { "duration-range", NULL,
    PRIMARY "interval=50ms\n",
    "test.conf:5: [uplink wan] key \"interval\": invalid value \"50ms\" (expected a duration "
    "from 100ms to 1h)" },
  { "timeout-range", NULL,
    PRIMARY "timeout=31s\n",
    "test.conf:5: [uplink wan] key \"timeout\": invalid value \"31s\" (expected a duration "
    "from 50ms to 30s)" },
  { "failback-hold-range", NULL,
    PRIMARY "failback-hold=25h\n",
    "test.conf:5: [uplink wan] key \"failback-hold\": invalid value \"25h\" (expected a "
    "duration from 0 to 1d)" },
  { "fast-interval", NULL,
    PRIMARY "interval=1s\nfast-interval=2s\n",
    "test.conf:6: [uplink wan] key \"fast-interval\": invalid value \"2s\" (expected a "
    "duration from 50ms to the interval, 1s)" },
  { "standby-test-interval", NULL,
    PRIMARY "[uplink lte]\ninterface=eth1\nstandby-test-interval=30s\n",
    "test.conf:7: [uplink lte] key \"standby-test-interval\": invalid value \"30s\" (expected "
    "0 or a duration from 1min to 7d)" },

  /* Addresses */
  { "management", NULL,
    PRIMARY "[uplink lte]\ninterface=eth1\nmanagement=192.168.8\n",
    "test.conf:7: [uplink lte] key \"management\": invalid value \"192.168.8\" (expected an "
    "IPv4 or IPv6 address)" },
  { "gateway-ipv6", NULL,
    PRIMARY "[uplink lte]\ninterface=eth1\ngateway=2001:db8::1\n",
    "test.conf:7: [uplink lte] key \"gateway\": invalid value \"2001:db8::1\" (expected an "
    "IPv4 address)" },
  { "gateway6-ipv4", NULL,
    PRIMARY "[uplink lte]\ninterface=eth1\ngateway6=192.168.8.1\n",
    "test.conf:7: [uplink lte] key \"gateway6\": invalid value \"192.168.8.1\" (expected an "
    "IPv6 address)" },
  { "gateway6-primary", NULL,
    PRIMARY "gateway6=2001:db8::1\n",
    "test.conf:5: [uplink wan] key \"gateway6\": only valid for a backup uplink (this one "
    "has role=primary)" },

  /* Interface names */
  { "interface-slash", NULL,
    "[uplink wan]\nrole=primary\ninterface=br/0\ntargets=icmp:192.0.2.1\n",
    "test.conf:3: [uplink wan] key \"interface\": invalid value \"br/0\" (expected a Linux "
    "interface name: 1 to 15 characters, no '/', ':' or white space)" },
  { "interface-long", NULL,
    "[uplink wan]\nrole=primary\ninterface=enx001e101f00000\ntargets=icmp:192.0.2.1\n",
    "test.conf:3: [uplink wan] key \"interface\": invalid value \"enx001e101f00000\" (expected "
    "a Linux interface name: 1 to 15 characters, no '/', ':' or white space)" },
  { "interface-space", NULL,
    "[uplink wan]\nrole=primary\ninterface=eth 0\ntargets=icmp:192.0.2.1\n",
    "test.conf:3: [uplink wan] key \"interface\": invalid value \"eth 0\" (expected a Linux "
    "interface name: 1 to 15 characters, no '/', ':' or white space)" },

  /* Targets */
  { "target-kind", NULL,
    "[uplink wan]\nrole=primary\ninterface=vmbr0\ntargets=ping:192.0.2.1\n",
    "test.conf:4: [uplink wan] key \"targets\": invalid target \"ping:192.0.2.1\" (expected "
    "icmp:ADDR, tcp:ADDR:PORT, dns:ADDR[:PORT]/NAME, http://HOST[:PORT]/PATH or "
    "https://HOST[:PORT]/PATH)" },
  { "target-icmp-name", NULL,
    "[uplink wan]\nrole=primary\ninterface=vmbr0\ntargets=icmp:192.0.2.1 icmp:example.org\n",
    "test.conf:4: [uplink wan] key \"targets\": invalid target \"icmp:example.org\" (expected "
    "icmp:ADDR with an IPv4 or IPv6 address)" },
  { "target-tcp-port", NULL,
    "[uplink wan]\nrole=primary\ninterface=vmbr0\ntargets=tcp:192.0.2.1\n",
    "test.conf:4: [uplink wan] key \"targets\": invalid target \"tcp:192.0.2.1\" (expected "
    "tcp:ADDR:PORT with an IPv4 address or [IPv6] and a port from 1 to 65535)" },
  { "target-tcp-port-range", NULL,
    "[uplink wan]\nrole=primary\ninterface=vmbr0\ntargets=tcp:192.0.2.1:65536\n",
    "test.conf:4: [uplink wan] key \"targets\": invalid target \"tcp:192.0.2.1:65536\" "
    "(expected tcp:ADDR:PORT with an IPv4 address or [IPv6] and a port from 1 to 65535)" },
  { "target-dns-server", NULL,
    "[uplink wan]\nrole=primary\ninterface=vmbr0\ntargets=dns:dns.example/example.org\n",
    "test.conf:4: [uplink wan] key \"targets\": invalid target \"dns:dns.example/example.org\" "
    "(expected dns:ADDR[:PORT]/NAME with an IPv4 address or [IPv6] and a DNS name)" },
  { "target-http-user", NULL,
    "[uplink wan]\nrole=primary\ninterface=vmbr0\ntargets=http://u@192.0.2.1/\n",
    "test.conf:4: [uplink wan] key \"targets\": invalid target \"http://u@192.0.2.1/\" "
    "(expected http://HOST[:PORT]/PATH)" },
  { "target-twice", NULL,
    "[uplink wan]\nrole=primary\ninterface=vmbr0\ntargets=icmp:192.0.2.1;icmp:192.0.2.1\n",
    "test.conf:4: [uplink wan] key \"targets\": target \"icmp:192.0.2.1\" is listed twice" },
  { "targets-separators-only", NULL,
    "[uplink wan]\nrole=primary\ninterface=vmbr0\ntargets=;,\n",
    "test.conf:4: [uplink wan] key \"targets\": invalid value \";,\" (expected a list of probe "
    "targets)" },
  { "no-targets", NULL,
    "[uplink wan]\nrole=primary\ninterface=vmbr0\n",
    "test.conf:1: [uplink wan]: no probe targets (set targets=)" },
  { "quorum", NULL,
    PRIMARY "quorum=2\n",
    "test.conf:5: [uplink wan] key \"quorum\": invalid value \"2\" (expected a number from 1 "
    "to 1, the number of targets)" },
  { "quorum-inherited", NULL,
    PRIMARY "[uplink lte]\ninterface=eth1\nquorum=3\n",
    "test.conf:7: [uplink lte] key \"quorum\": invalid value \"3\" (expected a number from 1 "
    "to 1, the number of targets)" },

  /* Roles */
  { "backup-only-on-primary", NULL,
    PRIMARY "standby=cold\n",
    "test.conf:5: [uplink wan] key \"standby\": only valid for a backup uplink (this one has "
    "role=primary)" },
  { "backup-only-before-role", NULL,
    "[uplink wan]\ntable=7100\nrole=primary\ninterface=vmbr0\ntargets=icmp:192.0.2.1\n",
    "test.conf:2: [uplink wan] key \"table\": only valid for a backup uplink (this one has "
    "role=primary)" },
  { "management-on-primary", NULL,
    PRIMARY "management=192.168.2.254\n",
    "test.conf:5: [uplink wan] key \"management\": only valid for a backup uplink (this one "
    "has role=primary)" },
  { "primary-interface", NULL,
    "[uplink wan]\nrole=primary\nconnection=wired\ntargets=icmp:192.0.2.1\n",
    "test.conf:1: [uplink wan]: the primary uplink needs interface=" },
  { "backup-interface", NULL,
    PRIMARY "[uplink lte]\nstandby=cold\n",
    "test.conf:5: [uplink lte]: a backup uplink needs interface= or connection=" },
  { "no-uplinks", NULL,
    "[guests]\nallow=192.168.2.29\n",
    "test.conf: no uplinks (add an [uplink NAME] group with role=primary)" },
  { "empty-file", NULL,
    "",
    "test.conf: no uplinks (add an [uplink NAME] group with role=primary)" },
  { "no-primary", NULL,
    "[uplink lte]\ninterface=eth1\ntargets=icmp:192.0.2.1\n",
    "test.conf: no primary uplink (set role=primary in one [uplink NAME] group)" },
  { "two-primaries", NULL,
    PRIMARY "[uplink box2]\nrole=primary\ninterface=eth1\ntargets=icmp:192.0.2.1\n",
    "test.conf:6: [uplink box2] key \"role\": a second primary uplink (uplink \"wan\" at line 1 "
    "is the primary)" },

  /* Values two uplinks may not share */
  { "duplicate-priority", NULL,
    PRIMARY "[uplink a]\ninterface=eth1\npriority=50\n[uplink b]\ninterface=eth2\npriority=50\n",
    "test.conf:10: [uplink b] key \"priority\": priority 50 is already used by uplink \"a\" "
    "(line 7)" },
  { "duplicate-default-priority", NULL,
    PRIMARY "[uplink a]\ninterface=eth1\n[uplink b]\ninterface=eth2\n",
    "test.conf:7: [uplink b] key \"priority\": priority 100 (the default) is already used by "
    "uplink \"a\" (line 5)" },
  { "duplicate-table", NULL,
    PRIMARY "[uplink a]\ninterface=eth1\npriority=1\ntable=200\n"
    "[uplink b]\ninterface=eth2\npriority=2\ntable=200\n",
    "test.conf:12: [uplink b] key \"table\": table 200 is already used by uplink \"a\" (line 8)" },
  { "duplicate-default-table", NULL,
    PRIMARY "[uplink a]\ninterface=eth1\npriority=1\ntable=7101\n"
    "[uplink b]\ninterface=eth2\npriority=2\n",
    "test.conf:9: [uplink b] key \"table\": table 7101 (the default) is already used by uplink "
    "\"a\" (line 8)" },
  { "duplicate-interface", NULL,
    PRIMARY "[uplink lte]\ninterface=vmbr0\n",
    "test.conf:6: [uplink lte] key \"interface\": interface vmbr0 is already used by uplink "
    "\"wan\" (line 3)" },
  { "duplicate-connection", NULL,
    PRIMARY "[uplink a]\nconnection=lte\npriority=1\n[uplink b]\nconnection=lte\npriority=2\n",
    "test.conf:9: [uplink b] key \"connection\": connection \"lte\" is already used by uplink "
    "\"a\" (line 6)" },

  /* Guests */
  { "guest-host-bits", NULL,
    PRIMARY "[guests]\nallow=192.168.2.29 192.168.2.1/24\n",
    "test.conf:6: [guests] key \"allow\": invalid network \"192.168.2.1/24\" (host bits set; "
    "did you mean 192.168.2.0/24?)" },
  { "guest-address", NULL,
    PRIMARY "[guests]\nallow=192.168.2.300\n",
    "test.conf:6: [guests] key \"allow\": invalid network \"192.168.2.300\" (expected an IPv4 or "
    "IPv6 address or network such as 192.168.2.29, 192.168.2.0/24 or 2001:db8:2::/64)" },
  { "guest-prefix", NULL,
    PRIMARY "[guests]\nallow=192.168.2.0/33\n",
    "test.conf:6: [guests] key \"allow\": invalid network \"192.168.2.0/33\" (expected an IPv4 or "
    "IPv6 address or network such as 192.168.2.29, 192.168.2.0/24 or 2001:db8:2::/64)" },
  { "guest-ipv6-prefix", NULL,
    PRIMARY "[guests]\nallow=2001:db8::/129\n",
    "test.conf:6: [guests] key \"allow\": invalid network \"2001:db8::/129\" (expected an IPv4 or "
    "IPv6 address or network such as 192.168.2.29, 192.168.2.0/24 or 2001:db8:2::/64)" },
  { "guest-ipv6-address", NULL,
    PRIMARY "[guests]\nallow=2001:db8::g\n",
    "test.conf:6: [guests] key \"allow\": invalid network \"2001:db8::g\" (expected an IPv4 or "
    "IPv6 address or network such as 192.168.2.29, 192.168.2.0/24 or 2001:db8:2::/64)" },
  { "guest-ipv6-host-bits", NULL,
    PRIMARY "[guests]\nallow=2001:db8:10::29/61\n",
    "test.conf:6: [guests] key \"allow\": invalid network \"2001:db8:10::29/61\" (host bits set; "
    "did you mean 2001:db8:10::/61?)" },
  { "guest-nat66", NULL,
    PRIMARY "[guests]\nnat66=on\n",
    "test.conf:6: [guests] key \"nat66\": invalid value \"on\" (expected true or false)" },
};

static void
test_error_case (gconstpointer data)
{
  const ErrorCase *tc = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PfConfig) config = NULL;

  config = pf_config_load_data (tc->path != NULL ? tc->path : "test.conf", tc->text, -1, &error);
  g_assert_null (config);
  g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG);
  g_assert_cmpstr (error->message, ==, tc->message);
}

/* ------------------------------------------------------------------------ */
/* Durations and targets alone */

static void
test_duration (void)
{
  static const struct { const char *text; guint ms; } good[] = {
    { "250ms", 250 }, { "1s", 1000 }, { "1.5s", 1500 }, { "2min", 120000 },
    { "1h", 3600000 }, { "30", 30000 }, { "0", 0 }, { "0.25", 250 }, { "1.5", 1500 },
    { "1min30s", 90000 }, { " 2 min ", 120000 }, { "1d", 86400000 }, { "2m", 120000 },
    { "1sec", 1000 }, { "5msec", 5 }, { "1h 30min", 5400000 },
    { "4294967295ms", G_MAXUINT }, { "49d", 49u * 86400000u },
  };
  static const struct { const char *text; const char *message; } bad[] = {
    { "", "invalid duration \"\" (expected e.g. 250ms, 1.5s, 2min or 1h; a plain number is seconds)" },
    { "abc", "invalid duration \"abc\" (expected e.g. 250ms, 1.5s, 2min or 1h; a plain number is seconds)" },
    { "1x", "invalid duration \"1x\" (expected e.g. 250ms, 1.5s, 2min or 1h; a plain number is seconds)" },
    { "-1s", "invalid duration \"-1s\" (expected e.g. 250ms, 1.5s, 2min or 1h; a plain number is seconds)" },
    { "1min 30", "invalid duration \"1min 30\" (expected e.g. 250ms, 1.5s, 2min or 1h; a plain number is seconds)" },
    { "30 1s", "invalid duration \"30 1s\" (expected e.g. 250ms, 1.5s, 2min or 1h; a plain number is seconds)" },
    { "s", "invalid duration \"s\" (expected e.g. 250ms, 1.5s, 2min or 1h; a plain number is seconds)" },
    { ".s", "invalid duration \".s\" (expected e.g. 250ms, 1.5s, 2min or 1h; a plain number is seconds)" },
    { "1..5s", "invalid duration \"1..5s\" (expected e.g. 250ms, 1.5s, 2min or 1h; a plain number is seconds)" },
    { "1,5s", "invalid duration \"1,5s\" (expected e.g. 250ms, 1.5s, 2min or 1h; a plain number is seconds)" },
    { "4294967296ms", "invalid duration \"4294967296ms\" (too long)" },
    { "50d", "invalid duration \"50d\" (too long)" },
    { "99999999999999999999s", "invalid duration \"99999999999999999999s\" (too long)" },
    { "0.0001s", "invalid duration \"0.0001s\" (finer than a millisecond)" },
    { "0.5ms", "invalid duration \"0.5ms\" (finer than a millisecond)" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      guint ms = 12345;

      g_test_message ("duration \"%s\"", good[i].text);
      g_assert_true (pf_parse_duration_ms (good[i].text, &ms, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (ms, ==, good[i].ms);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      guint ms = 12345;

      g_test_message ("duration \"%s\"", bad[i].text);
      g_assert_false (pf_parse_duration_ms (bad[i].text, &ms, &error));
      g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG);
      g_assert_cmpstr (error->message, ==, bad[i].message);
      g_assert_cmpuint (ms, ==, 12345);
    }
}

static void
test_format_duration (void)
{
  static const struct { guint ms; const char *text; } cases[] = {
    { 0, "0" }, { 1, "1ms" }, { 250, "250ms" }, { 1000, "1s" }, { 1500, "1.5s" },
    { 1250, "1250ms" }, { 30000, "30s" }, { 90000, "90s" }, { 120000, "2min" },
    { 5400000, "90min" }, { 3600000, "1h" }, { 86400000, "1d" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = pf_format_duration_ms (cases[i].ms);
      guint back = 0;

      g_assert_cmpstr (text, ==, cases[i].text);
      g_assert_true (pf_parse_duration_ms (text, &back, NULL));
      g_assert_cmpuint (back, ==, cases[i].ms);
    }
}

static void
test_target_parse (void)
{
  static const struct {
    const char *spec;
    PfProbeKind kind;
    const char *address;
    guint16 port;
    const char *path;
    const char *qname;
  } good[] = {
    { "icmp:198.51.100.10", PF_PROBE_ICMP, "198.51.100.10", 0, NULL, NULL },
    { "icmp:[2001:db8::1]", PF_PROBE_ICMP, "2001:db8::1", 0, NULL, NULL },
    { "tcp:198.51.100.10:443", PF_PROBE_TCP, "198.51.100.10", 443, NULL, NULL },
    { "tcp:[2001:db8::1]:22", PF_PROBE_TCP, "2001:db8::1", 22, NULL, NULL },
    { "dns:198.51.100.53/example.org", PF_PROBE_DNS, "198.51.100.53", 53, NULL, "example.org" },
    { "dns:198.51.100.53", PF_PROBE_DNS, "198.51.100.53", 53, NULL, "." },
    { "dns:198.51.100.53:5300/.", PF_PROBE_DNS, "198.51.100.53", 5300, NULL, "." },
    { "dns:2001:db8::53/example.org.", PF_PROBE_DNS, "2001:db8::53", 53, NULL, "example.org." },
    { "dns:[2001:db8::53]/example.org", PF_PROBE_DNS, "2001:db8::53", 53, NULL, "example.org" },
    { "dns:[2001:db8:100::53]:5353/.", PF_PROBE_DNS, "2001:db8:100::53", 5353, NULL, "." },
    { "tcp:[2001:DB8:100::10]:443", PF_PROBE_TCP, "2001:db8:100::10", 443, NULL, NULL },
    { "icmp:2001:db8:100::10", PF_PROBE_ICMP, "2001:db8:100::10", 0, NULL, NULL },
    { "http://[2001:db8:100::80]/health", PF_PROBE_HTTP, "2001:db8:100::80", 80, "/health", NULL },
    { "http://[2001:db8:100::80]:8080/", PF_PROBE_HTTP, "2001:db8:100::80", 8080, "/", NULL },
    { "http://198.51.100.80/health", PF_PROBE_HTTP, "198.51.100.80", 80, "/health", NULL },
    { "https://198.51.100.80:8443/ok", PF_PROBE_HTTPS, "198.51.100.80", 8443, "/ok", NULL },
    { "https://[2001:db8::80]/", PF_PROBE_HTTPS, "2001:db8::80", 443, "/", NULL },
    { "http://Check.Example.net", PF_PROBE_HTTP, "check.example.net", 80, "/", NULL },
    { "http://192.0.2.1/a%20b?q=1", PF_PROBE_HTTP, "192.0.2.1", 80, "/a%20b?q=1", NULL },
  };
  static const char * const bad[] = {
    "icmp:", "icmp:1.2.3", "icmp:256.1.1.1", "tcp:198.51.100.10:", "tcp:198.51.100.10:0",
    "tcp:2001:db8::1:22", "tcp:[198.51.100.10]:22", "dns:198.51.100.53/bad name",
    "dns:198.51.100.53/", "dns:/example.org", "http://", "http:///path", "https://bad_host!/",
    "http://192.0.2.1:0/", "http://192.0.2.1:99999/", "ftp://192.0.2.1/", "198.51.100.10",
    "icmp:[198.51.100.10]", "icmp:[2001:db8::1", "tcp:[2001:db8::1]", "tcp:[2001:db8::1]443",
    "tcp:[2001:db8::1:443", "dns:[2001:db8::53/example.org", "dns:[198.51.100.53]/example.org",
    "http://[2001:db8::80/", "http://2001:db8::80/",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PfProbeTarget) target = NULL;

      g_test_message ("target \"%s\"", good[i].spec);
      target = pf_probe_target_parse (good[i].spec, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (target->spec, ==, good[i].spec);
      g_assert_cmpint (target->kind, ==, good[i].kind);
      g_assert_cmpstr (target->address, ==, good[i].address);
      g_assert_cmpuint (target->port, ==, good[i].port);
      g_assert_cmpstr (target->path, ==, good[i].path);
      g_assert_cmpstr (target->qname, ==, good[i].qname);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PfProbeTarget) target = NULL;

      g_test_message ("target \"%s\"", bad[i]);
      target = pf_probe_target_parse (bad[i], &error);
      g_assert_null (target);
      g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG);
      g_assert_true (g_str_has_prefix (error->message, "invalid target \""));
    }

  g_assert_cmpstr (pf_probe_kind_to_string (PF_PROBE_HTTPS), ==, "https");
  g_assert_cmpstr (pf_standby_to_string (PF_STANDBY_COLD), ==, "cold");
  g_assert_cmpstr (pf_role_to_string (PF_ROLE_PRIMARY), ==, "primary");
  g_assert_cmpstr (pf_on_stop_to_string (PF_ON_STOP_KEEP), ==, "keep");
}

/* ------------------------------------------------------------------------ */
/* DNS during failover: [daemon] dns= and a backup's dns= */

static void
test_dns (void)
{
  g_autoptr(PfConfig) defaults = load_ok (PRIMARY "[uplink lte]\ninterface=wwan0\n");
  g_autoptr(PfConfig) config = load_ok ("[daemon]\n"
                                        "dns=resolv.conf\n"
                                        PRIMARY
                                        "[uplink lte]\n"
                                        "interface=wwan0\n"
                                        "dns=192.168.8.1, 2001:DB8::0053;9.9.9.9\n");
  g_autofree char *summary = pf_config_describe (config);
  const PfUplinkConfig *lte = uplink_at (config, 1);

  g_assert_cmpint (defaults->dns_mode, ==, PF_DNS_MODE_AUTO);
  g_assert_null (uplink_at (defaults, 1)->dns);
  g_assert_null (uplink_at (defaults, 0)->dns);

  g_assert_cmpint (config->dns_mode, ==, PF_DNS_MODE_RESOLV_CONF);
  g_assert_cmpuint (g_strv_length (lte->dns), ==, 3);
  g_assert_cmpstr (lte->dns[0], ==, "192.168.8.1");
  g_assert_cmpstr (lte->dns[1], ==, "2001:db8::53");
  g_assert_cmpstr (lte->dns[2], ==, "9.9.9.9");
  g_assert_nonnull (strstr (summary, ", routing table 7100, resolvers 192.168.8.1, 2001:db8::53, 9.9.9.9\n"));
  g_assert_nonnull (strstr (summary, "\ndns: resolv.conf\n"));

  for (guint mode = PF_DNS_MODE_AUTO; mode <= PF_DNS_MODE_OFF; mode++)
    {
      g_autofree char *text = g_strdup_printf ("[daemon]\ndns=%s\n" PRIMARY, pf_dns_mode_to_string (mode));
      g_autoptr(PfConfig) c = load_ok (text);

      g_assert_cmpint (c->dns_mode, ==, mode);
    }
}

static const ErrorCase dns_error_cases[] = {
  { "dns-mode", NULL,
    "[daemon]\ndns=dnsmasq\n" PRIMARY,
    "test.conf:2: [daemon] key \"dns\": invalid value \"dnsmasq\" (expected auto, networkmanager, resolv.conf or off)" },
  { "dns-address", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\ndns=192.168.8.1;dns.google\n",
    "test.conf:7: [uplink lte] key \"dns\": invalid value \"dns.google\" (expected an IPv4 or IPv6 resolver address)" },
  { "dns-too-many", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\ndns=192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4\n",
    "test.conf:7: [uplink lte] key \"dns\": invalid value \"192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4\" "
    "(expected 1 to 3 resolver addresses such as 192.168.8.1;9.9.9.9)" },
  { "dns-twice", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\ndns=2001:db8::53 2001:DB8:0::53\n",
    "test.conf:7: [uplink lte] key \"dns\": resolver 2001:db8::53 is listed twice" },
  { "dns-empty", NULL,
    PRIMARY "[uplink lte]\ninterface=wwan0\ndns=;\n",
    "test.conf:7: [uplink lte] key \"dns\": invalid value \";\" (expected 1 to 3 resolver addresses such as "
    "192.168.8.1;9.9.9.9)" },
  { "dns-on-primary", NULL,
    PRIMARY "dns=192.168.2.254\n",
    "test.conf:5: [uplink wan] key \"dns\": only valid for a backup uplink (this one has role=primary)" },
};

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/config/example", test_example);
  g_test_add_func ("/config/example/defaults-documented", test_example_defaults_documented);
  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/values", test_values);
  g_test_add_func ("/config/order-and-tables", test_order_and_tables);
  g_test_add_func ("/config/crlf", test_crlf);
  g_test_add_func ("/config/missing-file", test_missing_file);
  g_test_add_func ("/config/describe", test_describe);
  g_test_add_func ("/config/several-errors", test_several_errors);
  g_test_add_func ("/config/nul-byte", test_nul_byte);
  g_test_add_func ("/config/duration", test_duration);
  g_test_add_func ("/config/format-duration", test_format_duration);
  g_test_add_func ("/config/target", test_target_parse);
  g_test_add_func ("/config/plan-and-notifiers", test_plan_and_notifiers);
  g_test_add_func ("/config/size", test_size);
  g_test_add_func ("/config/tunnel-over-backup", test_tunnel_over_backup);
  g_test_add_func ("/config/forwards-and-remote-access", test_forwards_and_remote_access);

  for (gsize i = 0; i < G_N_ELEMENTS (error_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/config/error/%s", error_cases[i].name);

      g_test_add_data_func (path, &error_cases[i], test_error_case);
    }
  g_test_add_func ("/config/dns", test_dns);
  for (gsize i = 0; i < G_N_ELEMENTS (dns_error_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/config/error/%s", dns_error_cases[i].name);

      g_test_add_data_func (path, &dns_error_cases[i], test_error_case);
    }

  return g_test_run ();
}
