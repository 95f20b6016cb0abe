/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Golden-file tests of the rendered nftables table. Each case renders a spec
 * and compares the text with tests/golden/NAME.nft byte for byte; set
 * PF_UPDATE_GOLDEN=1 to rewrite the files after an intended change (and read
 * the diff). As root, each golden script is also checked by libnftables in
 * dry-run mode (nft --check), inside a network namespace of the test's own.
 */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare() */
#endif

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "pf-error.h"
#include "pf-firewall.h"

#define PROBE_MARK 0x70f0
#define CT_MASK    0x00ff0000

static gboolean have_netns = FALSE;

static const char * const allowed_guests[] = {
  "192.168.10.20",
  "192.168.10.32/28",
  NULL,
};

static const char * const no_guests[] = { NULL };

static const char * const allowed_guests6[] = {
  "2001:db8:10::29",
  "2001:db8:10:1::/64",
  NULL,
};

typedef struct {
  const char             *golden;
  const PfFirewallUplink *uplinks;
  guint                   n_uplinks;
  const char * const     *allowed;
  const char * const     *allowed6;
  gboolean                nat66;
  const PfFirewallForward *forwards;
  guint                   n_forwards;
  const PfFirewallOutOfBand *out_of_band;
  guint                   n_out_of_band;
  const PfFirewallTunnel *tunnels;
  guint                   n_tunnels;
} GoldenCase;

static const PfFirewallUplink standby_one_backup[] = {
  { "primary", "vmbr0", FALSE, TRUE, NULL, 0x00010000 },
  { "lte", "enx0c5b8f279a64", TRUE, FALSE, "192.168.8.1", 0x00020000 },
};

static const PfFirewallUplink failed_over[] = {
  { "primary", "vmbr0", FALSE, FALSE, NULL, 0x00010000 },
  { "lte", "enx0c5b8f279a64", TRUE, TRUE, "192.168.8.1", 0x00020000 },
};

static const PfFirewallUplink two_backups_one_active[] = {
  { "primary", "vmbr0", FALSE, FALSE, NULL, 0x00010000 },
  { "lte", "wwan0", TRUE, TRUE, NULL, 0x00020000 },
  { "hilink", "enx0c5b8f279a64", TRUE, FALSE, "192.168.8.0/24", 0x00030000 },
};

static const PfFirewallUplink no_management[] = {
  { "primary", "eno1", FALSE, TRUE, NULL, 0x00010000 },
  { "lte", "wwan0", TRUE, FALSE, NULL, 0x00020000 },
};

/* Plans used up: lte carries traffic but only for the host (restrict);
 * sat is blocked while active (block). */
static const PfFirewallUplink capped[] = {
  { "primary", "vmbr0", FALSE, FALSE, NULL, 0x00010000 },
  { "lte", "enx0c5b8f279a64", TRUE, TRUE, "192.168.8.1", 0x00020000, PF_FIREWALL_LIMIT_GUESTS },
  { "sat", "eth9", TRUE, TRUE, NULL, 0x00030000, PF_FIREWALL_LIMIT_ALL },
};

/* Remote access: Home Assistant and PBS reachable from the VPNs, PBS only
 * while failed over (not in this spec), one IPv6 service; a WireGuard tunnel
 * that always rides the backup. */
static const char * const vpn_interfaces[] = { "zt*", "wg*", NULL };
static const char * const wg0_only[] = { "wg0", NULL };

static const PfFirewallForward forwards[] = {
  { "ha", "tcp", 8123, "192.168.2.10", 8123, vpn_interfaces, TRUE },
  { "nginx", "tcp", 81, "192.168.2.11", 80, wg0_only, FALSE },
  { "dns6", "udp", 53, "fd00::53", 53, wg0_only, TRUE },
};

static const PfFirewallOutOfBand out_of_band[] = {
  { "wireguard", "enx0c5b8f279a64", 0x5100 },
};

/* Over sat, whose plan is used up with cap-action=block: not let through. */
static const PfFirewallOutOfBand out_of_band_blocked[] = {
  { "wireguard", "eth9", 0x5100 },
};

/* A tunnel uplink riding lte is active: its server passes lte's block. */
static const PfFirewallUplink tunnel_active[] = {
  { "primary", "vmbr0", FALSE, FALSE, NULL, 0x00010000 },
  { "lte", "enx0c5b8f279a64", TRUE, FALSE, "192.168.8.1", 0x00020000 },
  { "tunnel", "vxtun0", TRUE, TRUE, NULL, 0x00030000 },
};

static const PfFirewallTunnel tunnels[] = {
  { "tunnel", "enx0c5b8f279a64", "198.51.100.100" },
};

static const GoldenCase golden_cases[] = {
  { "remote-access-standby", standby_one_backup, G_N_ELEMENTS (standby_one_backup), allowed_guests, NULL, FALSE,
    forwards, G_N_ELEMENTS (forwards), out_of_band, G_N_ELEMENTS (out_of_band) },
  { "remote-access-plan-blocked", capped, G_N_ELEMENTS (capped), allowed_guests, NULL, FALSE,
    forwards, 1, out_of_band_blocked, G_N_ELEMENTS (out_of_band_blocked) },
  { "tunnel-over-backup", tunnel_active, G_N_ELEMENTS (tunnel_active), allowed_guests, NULL, FALSE,
    NULL, 0, NULL, 0, tunnels, G_N_ELEMENTS (tunnels) },
  { "standby-one-backup", standby_one_backup, G_N_ELEMENTS (standby_one_backup), allowed_guests },
  { "failed-over", failed_over, G_N_ELEMENTS (failed_over), allowed_guests },
  { "two-backups-one-active", two_backups_one_active, G_N_ELEMENTS (two_backups_one_active), allowed_guests },
  { "no-allowed-guests", failed_over, G_N_ELEMENTS (failed_over), no_guests },
  { "no-management", no_management, G_N_ELEMENTS (no_management), allowed_guests },
  { "plans-used-up", capped, G_N_ELEMENTS (capped), allowed_guests },
  /* IPv6 guests stay on the primary unless NAT66 is asked for. */
  { "ipv6-guests-no-nat66", failed_over, G_N_ELEMENTS (failed_over), allowed_guests, allowed_guests6 },
  { "ipv6-guests-nat66", failed_over, G_N_ELEMENTS (failed_over), allowed_guests, allowed_guests6, TRUE },
  { "ipv6-guests-standby", standby_one_backup, G_N_ELEMENTS (standby_one_backup), no_guests,
    allowed_guests6, TRUE },
};

static void
spec_init (PfFirewallSpec   *spec,
           const GoldenCase *gc)
{
  *spec = (PfFirewallSpec) {
    .uplinks = gc->uplinks,
    .n_uplinks = gc->n_uplinks,
    .allowed = gc->allowed,
    .probe_mark = PROBE_MARK,
    .ct_mark_mask = CT_MASK,
    .allowed6 = gc->allowed6,
    .nat66 = gc->nat66,
    .forwards = gc->forwards,
    .n_forwards = gc->n_forwards,
    .out_of_band = gc->out_of_band,
    .n_out_of_band = gc->n_out_of_band,
    .tunnels = gc->tunnels,
    .n_tunnels = gc->n_tunnels,
  };
}

static char *
golden_path (const char *name)
{
  g_autofree char *file = g_strconcat (name, ".nft", NULL);

  return g_test_build_filename (G_TEST_DIST, "golden", file, NULL);
}

static void
test_golden (gconstpointer data)
{
  const GoldenCase *gc = data;
  g_autofree char *path = golden_path (gc->golden);
  g_autofree char *expected = NULL;
  g_autofree char *rendered = NULL;
  g_autofree char *again = NULL;
  g_autoptr(GError) error = NULL;
  PfFirewallSpec spec;

  spec_init (&spec, gc);
  rendered = pf_firewall_render (&spec);
  g_assert_nonnull (rendered);

  /* Pure: the same spec gives the same text. */
  again = pf_firewall_render (&spec);
  g_assert_cmpstr (rendered, ==, again);

  if (g_strcmp0 (g_getenv ("PF_UPDATE_GOLDEN"), "1") == 0)
    {
      g_file_set_contents (path, rendered, -1, &error);
      g_assert_no_error (error);
      g_test_message ("rewrote %s", path);
    }

  g_file_get_contents (path, &expected, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (rendered, ==, expected);
}

static void
test_golden_check (gconstpointer data)
{
  const GoldenCase *gc = data;
  g_autofree char *path = golden_path (gc->golden);
  g_autofree char *script = NULL;
  g_autoptr(GError) error = NULL;

  if (!have_netns)
    {
      g_test_skip ("needs root (a network namespace) for libnftables");
      return;
    }

  g_file_get_contents (path, &script, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (pf_firewall_check (script, &error));
  g_assert_no_error (error);

  /* In our own namespace we may also apply it, twice: the replace idiom
   * must work whether or not the table exists. */
  g_assert_true (pf_firewall_apply (script, &error));
  g_assert_no_error (error);
  g_assert_true (pf_firewall_apply (script, &error));
  g_assert_no_error (error);
  g_assert_true (pf_firewall_remove (&error));
  g_assert_no_error (error);
}

static void
test_check_reports_error (void)
{
  g_autoptr(GError) error = NULL;

  if (!have_netns)
    {
      g_test_skip ("needs root (a network namespace) for libnftables");
      return;
    }

  g_assert_false (pf_firewall_check ("table inet pvefailover { chain c { bogus } }", &error));
  g_assert_error (error, PF_ERROR, PF_ERROR_SYSTEM);
  /* libnftables' own message, with its location, is in the error. */
  g_assert_nonnull (strstr (error->message, "syntax error"));
  g_assert_nonnull (strstr (error->message, "bogus"));
}

static void
test_remove_absent (void)
{
  g_autoptr(GError) error = NULL;

  if (!have_netns)
    {
      g_test_skip ("needs root (a network namespace) for libnftables");
      return;
    }

  g_assert_true (pf_firewall_remove (&error));
  g_assert_no_error (error);
  g_assert_true (pf_firewall_remove (&error));
  g_assert_no_error (error);
}

static void
test_ipv6_management (void)
{
  const PfFirewallUplink uplinks[] = {
    { "primary", "eno1", FALSE, TRUE, NULL, 0x00010000 },
    { "lte", "wwan0", TRUE, FALSE, "fe80::1", 0x00020000 },
  };
  PfFirewallSpec spec = {
    .uplinks = uplinks, .n_uplinks = G_N_ELEMENTS (uplinks), .allowed = no_guests,
    .probe_mark = PROBE_MARK, .ct_mark_mask = CT_MASK,
  };
  g_autofree char *text = pf_firewall_render (&spec);

  g_assert_nonnull (text);
  g_assert_nonnull (strstr (text, "oifname \"wwan0\" ip6 daddr fe80::1 accept"));
  g_assert_nonnull (strstr (text, "iifname \"wwan0\" ip6 saddr fe80::1 accept"));
}

/* Without nat66 no rule lets IPv6 guests out through a backup; with it,
 * exactly the allowed ones, masqueraded. */
static void
test_nat66 (void)
{
  PfFirewallSpec spec = {
    .uplinks = failed_over, .n_uplinks = G_N_ELEMENTS (failed_over), .allowed = allowed_guests,
    .probe_mark = PROBE_MARK, .ct_mark_mask = CT_MASK, .allowed6 = allowed_guests6,
  };
  g_autofree char *off = pf_firewall_render (&spec);
  g_autofree char *on = NULL;

  g_assert_nonnull (off);
  g_assert_nonnull (strstr (off, "elements = { 2001:db8:10::29,"));
  g_assert_null (strstr (off, "@allowed6"));
  g_assert_null (strstr (off, "ip6 saddr"));

  spec.nat66 = TRUE;
  on = pf_firewall_render (&spec);
  g_assert_nonnull (on);
  g_assert_nonnull (strstr (on, "oifname \"enx0c5b8f279a64\" ip6 saddr @allowed6 accept"));
  g_assert_nonnull (strstr (on, "oifname \"enx0c5b8f279a64\" ip6 saddr @allowed6 masquerade"));
}

static void
test_no_mask (void)
{
  PfFirewallSpec spec = {
    .uplinks = no_management, .n_uplinks = G_N_ELEMENTS (no_management), .allowed = no_guests,
    .probe_mark = PROBE_MARK, .ct_mark_mask = 0,
  };
  PfFirewallUplink unmarked[G_N_ELEMENTS (no_management)];
  g_autofree char *text = NULL;

  /* Without mask bits the daemon does not tag flows at all. */
  memcpy (unmarked, no_management, sizeof unmarked);
  for (guint i = 0; i < G_N_ELEMENTS (unmarked); i++)
    unmarked[i].ct_mark = 0;
  spec.uplinks = unmarked;
  text = pf_firewall_render (&spec);
  g_assert_nonnull (text);
  g_assert_null (strstr (text, "ct mark set"));
}

static void
test_validate (void)
{
  static const struct {
    const char *ifname;
    const char *management;
    const char *allowed;
    guint32     ct_mark;
    const char *message;
  } bad[] = {
    { "wwan\"0", NULL, NULL, 0x00020000, "invalid interface name" },
    { "wwan*", NULL, NULL, 0x00020000, "invalid interface name" },
    { "", NULL, NULL, 0x00020000, "invalid interface name" },
    { "a-very-long-ifname", NULL, NULL, 0x00020000, "invalid interface name" },
    { "wwan0", "192.168.8.1; flush ruleset", NULL, 0x00020000, "management address" },
    { "wwan0", NULL, "192.168.10.20/24", 0x00020000, "allowed guest" },
    { "wwan0", NULL, "fd00::1", 0x00020000, "not an IPv4" },
    { "wwan0", NULL, NULL, 0x01000000, "outside the mask" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      const PfFirewallUplink uplinks[] = {
        { "lte", bad[i].ifname, TRUE, FALSE, bad[i].management, bad[i].ct_mark },
      };
      const char *allowed[] = { bad[i].allowed, NULL };
      PfFirewallSpec spec = {
        .uplinks = uplinks, .n_uplinks = 1, .allowed = allowed,
        .probe_mark = PROBE_MARK, .ct_mark_mask = CT_MASK,
      };
      g_autoptr(GError) error = NULL;

      g_assert_false (pf_firewall_spec_validate (&spec, &error));
      g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS);
      g_assert_nonnull (strstr (error->message, bad[i].message));
    }

  /* IPv6 guests go in allowed6, and only there. */
  {
    static const char * const bad6[][2] = {
      { "192.168.10.20", "not an IPv6" },
      { "2001:db8:10::29/64", "allowed guest" },
      { "2001:db8:10::/129", "allowed guest" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (bad6); i++)
      {
        const char *allowed6[] = { bad6[i][0], NULL };
        PfFirewallSpec spec = {
          .uplinks = failed_over, .n_uplinks = G_N_ELEMENTS (failed_over), .allowed = no_guests,
          .probe_mark = PROBE_MARK, .ct_mark_mask = CT_MASK, .allowed6 = allowed6, .nat66 = TRUE,
        };
        g_autoptr(GError) error = NULL;

        g_assert_false (pf_firewall_spec_validate (&spec, &error));
        g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS);
        g_assert_nonnull (strstr (error->message, bad6[i][1]));
      }
  }

  /* The golden specs are valid. */
  for (guint i = 0; i < G_N_ELEMENTS (golden_cases); i++)
    {
      g_autoptr(GError) error = NULL;
      PfFirewallSpec spec;

      spec_init (&spec, &golden_cases[i]);
      g_assert_true (pf_firewall_spec_validate (&spec, &error));
      g_assert_no_error (error);
    }
}

static void
test_render_invalid (void)
{
  if (g_test_subprocess ())
    {
      const PfFirewallUplink uplinks[] = {
        { "lte", "wwan\"0", TRUE, FALSE, NULL, 0 },
      };
      PfFirewallSpec spec = {
        .uplinks = uplinks, .n_uplinks = 1, .allowed = no_guests,
        .probe_mark = PROBE_MARK, .ct_mark_mask = CT_MASK,
      };
      g_assert_null (pf_firewall_render (&spec));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*invalid interface name*");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  /* libnftables checks need CAP_NET_ADMIN; do them in a namespace of our
   * own so that nothing here can reach the machine's ruleset. */
  if (geteuid () == 0 && !g_test_subprocess ())
    {
      if (unshare (CLONE_NEWNET) == 0)
        have_netns = TRUE;
      else
        g_printerr ("unshare(CLONE_NEWNET): %s\n", g_strerror (errno));
    }

  for (guint i = 0; i < G_N_ELEMENTS (golden_cases); i++)
    {
      g_autofree char *render_path = g_strdup_printf ("/firewall/golden/%s", golden_cases[i].golden);
      g_autofree char *check_path = g_strdup_printf ("/firewall/check/%s", golden_cases[i].golden);

      g_test_add_data_func (render_path, &golden_cases[i], test_golden);
      g_test_add_data_func (check_path, &golden_cases[i], test_golden_check);
    }
  g_test_add_func ("/firewall/ipv6-management", test_ipv6_management);
  g_test_add_func ("/firewall/nat66", test_nat66);
  g_test_add_func ("/firewall/no-mask", test_no_mask);
  g_test_add_func ("/firewall/validate", test_validate);
  g_test_add_func ("/firewall/render-invalid", test_render_invalid);
  g_test_add_func ("/firewall/check-reports-error", test_check_reports_error);
  g_test_add_func ("/firewall/remove-absent", test_remove_absent);

  return g_test_run ();
}
