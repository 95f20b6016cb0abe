/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <math.h>

#include "pf-modem-health.h"

#define SEC G_USEC_PER_SEC

static const PfModemHealthParams params = {
  .signal_alert_dbm = -115,
  .signal_alert_us = 300 * SEC,
  .registration_grace_us = 120 * SEC,
};

static PfModemInfo *
good_modem (void)
{
  PfModemInfo *info = pf_modem_info_new ();

  info->present = TRUE;
  g_free (info->state);
  info->state = g_strdup ("registered");
  g_free (info->registration);
  info->registration = g_strdup ("home");
  g_free (info->sim_state);
  info->sim_state = g_strdup ("ok");
  info->rsrp = -95;
  return info;
}

static void
set_string (char **field, const char *value)
{
  g_free (*field);
  *field = g_strdup (value);
}

/* The texts of the pending alerts, "+text" for a problem, "-text" when cleared,
 * joined with "|". */
static char *
take_alerts (PfModemHealth *health)
{
  g_autoptr(GPtrArray) alerts = pf_modem_health_take_alerts (health);
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; i < alerts->len; i++)
    {
      PfModemAlert *a = g_ptr_array_index (alerts, i);
      g_string_append_printf (out, "%s%c%s", i ? "|" : "", a->cleared ? '-' : '+', a->text);
    }
  return g_strdup (out->str);
}

static void
test_good (void)
{
  g_autoptr(PfModemHealth) health = pf_modem_health_new (&params);
  g_autoptr(PfModemInfo) info = good_modem ();
  g_autofree char *alerts = NULL;

  g_assert_cmpint (pf_modem_health_update (health, 1 * SEC, info), ==, 0);
  g_assert_null (pf_modem_health_get_broken (health));
  alerts = take_alerts (health);
  g_assert_cmpstr (alerts, ==, "");
}

static void
test_gone_and_back (void)
{
  g_autoptr(PfModemHealth) health = pf_modem_health_new (&params);
  g_autoptr(PfModemInfo) info = good_modem ();
  g_autofree char *a1 = NULL;
  g_autofree char *a2 = NULL;
  g_autofree char *a3 = NULL;

  pf_modem_health_update (health, 1 * SEC, info);
  info->present = FALSE;
  set_string (&info->error, "modem unplugged");
  pf_modem_health_update (health, 2 * SEC, info);
  g_assert_cmpstr (pf_modem_health_get_broken (health), ==, "modem gone: modem unplugged");
  a1 = take_alerts (health);
  g_assert_cmpstr (a1, ==, "+modem gone: modem unplugged");

  /* Still gone: no second alert. */
  pf_modem_health_update (health, 3 * SEC, info);
  a2 = take_alerts (health);
  g_assert_cmpstr (a2, ==, "");

  info->present = TRUE;
  set_string (&info->error, "");
  pf_modem_health_update (health, 4 * SEC, info);
  g_assert_null (pf_modem_health_get_broken (health));
  a3 = take_alerts (health);
  g_assert_cmpstr (a3, ==, "-cleared: modem gone: modem unplugged");
}

static void
test_sim (void)
{
  struct { const char *sim_state; const char *state; const char *broken; } cases[] = {
    { "missing", "failed", "SIM missing" },
    { "", "failed", "SIM missing" },  /* failed_reason sim-missing, see below */
    { "locked", "locked", "SIM locked (PIN required)" },
    { "ok", "locked", "SIM locked (PIN required)" },
    { "error", "failed", "SIM error" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(PfModemHealth) health = pf_modem_health_new (&params);
      g_autoptr(PfModemInfo) info = good_modem ();
      g_autoptr(GPtrArray) alerts = NULL;

      set_string (&info->sim_state, cases[i].sim_state);
      set_string (&info->state, cases[i].state);
      if (g_strcmp0 (cases[i].state, "failed") == 0)
        set_string (&info->failed_reason, g_strcmp0 (cases[i].sim_state, "error") == 0 ? "sim-error" : "sim-missing");
      pf_modem_health_update (health, 1 * SEC, info);
      /* A modem failed because of its SIM is a SIM problem, one alert. */
      g_assert_cmpstr (pf_modem_health_get_broken (health), ==, cases[i].broken);
      alerts = pf_modem_health_take_alerts (health);
      g_assert_cmpuint (alerts->len, ==, 1);
    }
}

static void
test_failed (void)
{
  g_autoptr(PfModemHealth) health = pf_modem_health_new (&params);
  g_autoptr(PfModemInfo) info = good_modem ();

  set_string (&info->state, "failed");
  set_string (&info->failed_reason, "unknown-capabilities");
  pf_modem_health_update (health, 1 * SEC, info);
  g_assert_cmpstr (pf_modem_health_get_broken (health), ==, "modem failed: unknown-capabilities");
}

static void
test_registration_grace (void)
{
  g_autoptr(PfModemHealth) health = pf_modem_health_new (&params);
  g_autoptr(PfModemInfo) info = good_modem ();
  g_autofree char *a1 = NULL;
  g_autofree char *a2 = NULL;
  gint64 next;

  pf_modem_health_update (health, 10 * SEC, info);
  set_string (&info->registration, "searching");
  next = pf_modem_health_update (health, 20 * SEC, info);
  /* Within the grace: usable, and called back when it ends. */
  g_assert_null (pf_modem_health_get_broken (health));
  g_assert_cmpint (next, ==, 140 * SEC);
  a1 = take_alerts (health);
  g_assert_cmpstr (a1, ==, "");

  next = pf_modem_health_update (health, 140 * SEC, NULL);
  g_assert_cmpint (next, ==, 0);
  g_assert_cmpstr (pf_modem_health_get_broken (health), ==, "not registered (searching)");
  a2 = take_alerts (health);
  g_assert_cmpstr (a2, ==, "+not registered (searching) for 2 min");

  /* "unknown" tells nothing: not a problem. */
  set_string (&info->registration, "unknown");
  pf_modem_health_update (health, 150 * SEC, info);
  g_assert_null (pf_modem_health_get_broken (health));
}

static void
test_short_registration_loss (void)
{
  g_autoptr(PfModemHealth) health = pf_modem_health_new (&params);
  g_autoptr(PfModemInfo) info = good_modem ();
  g_autofree char *alerts = NULL;

  set_string (&info->registration, "searching");
  pf_modem_health_update (health, 1 * SEC, info);
  set_string (&info->registration, "roaming");
  pf_modem_health_update (health, 60 * SEC, info);
  set_string (&info->registration, "searching");
  pf_modem_health_update (health, 100 * SEC, info);
  /* The grace starts again at each loss. */
  pf_modem_health_update (health, 200 * SEC, NULL);
  g_assert_null (pf_modem_health_get_broken (health));
  alerts = take_alerts (health);
  g_assert_cmpstr (alerts, ==, "");
}

static void
test_weak_signal (void)
{
  g_autoptr(PfModemHealth) health = pf_modem_health_new (&params);
  g_autoptr(PfModemInfo) info = good_modem ();
  g_autofree char *a1 = NULL;
  g_autofree char *a2 = NULL;
  gint64 next;

  info->rsrp = -121;
  next = pf_modem_health_update (health, 0, info);
  g_assert_cmpint (next, ==, 300 * SEC);
  pf_modem_health_update (health, 300 * SEC, NULL);
  /* An alert, but still usable. */
  g_assert_null (pf_modem_health_get_broken (health));
  a1 = take_alerts (health);
  g_assert_cmpstr (a1, ==, "+signal weak: RSRP -121 dBm below -115 dBm for 5 min");

  info->rsrp = NAN;   /* unknown is not weak */
  pf_modem_health_update (health, 310 * SEC, info);
  a2 = take_alerts (health);
  g_assert_cmpstr (a2, ==, "-cleared: signal weak: RSRP -121 dBm below -115 dBm");
}

static void
test_reset (void)
{
  g_autoptr(PfModemHealth) health = pf_modem_health_new (&params);
  g_autoptr(PfModemInfo) info = good_modem ();
  g_autofree char *alerts = NULL;

  info->present = FALSE;
  pf_modem_health_update (health, 1 * SEC, info);
  g_assert_nonnull (pf_modem_health_get_broken (health));
  /* No longer watched: no verdict, and no alert either way. */
  pf_modem_health_reset (health);
  g_assert_null (pf_modem_health_get_broken (health));
  g_assert_cmpint (pf_modem_health_update (health, 2 * SEC, NULL), ==, 0);
  alerts = take_alerts (health);
  g_assert_cmpstr (alerts, ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/modem-health/good", test_good);
  g_test_add_func ("/modem-health/gone-and-back", test_gone_and_back);
  g_test_add_func ("/modem-health/sim", test_sim);
  g_test_add_func ("/modem-health/failed", test_failed);
  g_test_add_func ("/modem-health/registration-grace", test_registration_grace);
  g_test_add_func ("/modem-health/short-registration-loss", test_short_registration_loss);
  g_test_add_func ("/modem-health/weak-signal", test_weak_signal);
  g_test_add_func ("/modem-health/reset", test_reset);
  return g_test_run ();
}
