/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Unit tests of the policy (pf-policy.c): which uplink is active, and why,
 * for each rule, with explicit times.
 */
#include "config.h"

#include "pf-policy.h"

#define SEC ((gint64) G_USEC_PER_SEC)
#define HOLD (60 * SEC)

#define DOWN_REASON "5/5 rounds lost, 0 of 3 targets answered"
#define UP_REASON "11 good rounds in 5.0 s, loss 0 %, rtt 1.2 ms"

enum { PRIMARY, LTE, WISP, N_UPLINKS };

typedef struct {
  PfPolicy       *policy;
  PfPolicyUplink  uplinks[N_UPLINKS];
  guint           n_uplinks;
  PfDecision      decision;
} Fixture;

static void
set_state (Fixture       *fixture,
           guint          index,
           PfHealthState  state,
           gint64         since,
           const char    *reason)
{
  fixture->uplinks[index].state = state;
  fixture->uplinks[index].state_since_us = since;
  fixture->uplinks[index].health_reason = reason;
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  user_data)
{
  static const char *names[N_UPLINKS] = { "primary", "lte", "wisp" };

  /* user_data: how many uplinks, 2 unless told */
  fixture->n_uplinks = user_data != NULL ? GPOINTER_TO_UINT (user_data) : 2;
  fixture->policy = pf_policy_new (PRIMARY);
  for (guint i = 0; i < N_UPLINKS; i++)
    {
      fixture->uplinks[i].name = names[i];
      fixture->uplinks[i].failback_hold_us = HOLD;
      fixture->uplinks[i].usable = TRUE;
      set_state (fixture, i, PF_HEALTH_UP, 1 * SEC, UP_REASON);
    }
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  user_data)
{
  pf_decision_clear (&fixture->decision);
  g_clear_pointer (&fixture->policy, pf_policy_free);
}

static const PfDecision *
decide_mode (Fixture *fixture,
             gint64   now,
             PfMode   mode,
             guint    force_index)
{
  pf_decision_clear (&fixture->decision);
  pf_policy_decide (fixture->policy, now, fixture->uplinks, fixture->n_uplinks,
                    mode, force_index, &fixture->decision);
  g_assert_nonnull (fixture->decision.reason);
  g_assert_cmpuint (fixture->decision.active, ==, pf_policy_get_active (fixture->policy));
  return &fixture->decision;
}

static const PfDecision *
decide (Fixture *fixture,
        gint64   now)
{
  return decide_mode (fixture, now, PF_MODE_AUTO, 0);
}

static void
assert_decision (const PfDecision *decision,
                 guint             active,
                 gboolean          changed,
                 gint64            recheck_at_us,
                 const char       *reason)
{
  g_assert_cmpuint (decision->active, ==, active);
  g_assert_cmpint (decision->changed, ==, changed);
  g_assert_cmpint (decision->recheck_at_us, ==, recheck_at_us);
  g_assert_cmpstr (decision->reason, ==, reason);
}

static void
test_stay_on_primary (Fixture       *fixture,
                      gconstpointer  user_data)
{
  assert_decision (decide (fixture, 10 * SEC), PRIMARY, FALSE, 0, "primary up: " UP_REASON);
  /* a backup being good is no reason to move */
  assert_decision (decide (fixture, 11 * SEC), PRIMARY, FALSE, 0, "primary up: " UP_REASON);

  /* degraded is still good */
  set_state (fixture, PRIMARY, PF_HEALTH_DEGRADED, 12 * SEC, "loss 26 % over 20 rounds, rtt 1.2 ms");
  assert_decision (decide (fixture, 12 * SEC), PRIMARY, FALSE, 0,
                   "primary degraded: loss 26 % over 20 rounds, rtt 1.2 ms");
}

static void
test_failover (Fixture       *fixture,
               gconstpointer  user_data)
{
  decide (fixture, 10 * SEC);

  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  assert_decision (decide (fixture, 20 * SEC), LTE, TRUE, 0, "primary down: " DOWN_REASON "; lte up");
  /* nothing new: no change, the reason still explains */
  assert_decision (decide (fixture, 21 * SEC), LTE, FALSE, 0,
                   "primary down: " DOWN_REASON "; staying on lte (up)");

  /* link loss reads the same way */
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 22 * SEC, "carrier lost");
  assert_decision (decide (fixture, 22 * SEC), LTE, FALSE, 0,
                   "primary down: carrier lost; staying on lte (up)");
  /* link back: unknown is not good enough to go back */
  set_state (fixture, PRIMARY, PF_HEALTH_UNKNOWN, 23 * SEC, "carrier back");
  assert_decision (decide (fixture, 23 * SEC), LTE, FALSE, 0,
                   "primary unknown: carrier back; staying on lte (up)");
}

static void
test_failback_after_hold (Fixture       *fixture,
                          gconstpointer  user_data)
{
  const gint64 up_at = 100 * SEC;

  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  assert_decision (decide (fixture, 20 * SEC), LTE, TRUE, 0, "primary down: " DOWN_REASON "; lte up");

  set_state (fixture, PRIMARY, PF_HEALTH_UP, up_at, UP_REASON);
  assert_decision (decide (fixture, up_at), LTE, FALSE, up_at + HOLD,
                   "primary up for 0.0 s (hold 60 s); staying on lte");
  assert_decision (decide (fixture, up_at + 10 * SEC), LTE, FALSE, up_at + HOLD,
                   "primary up for 10 s (hold 60 s); staying on lte");
  /* degraded keeps counting */
  set_state (fixture, PRIMARY, PF_HEALTH_DEGRADED, up_at + 20 * SEC, "loss 26 % over 20 rounds");
  assert_decision (decide (fixture, up_at + HOLD - 1), LTE, FALSE, up_at + HOLD,
                   "primary up for 59 s (hold 60 s); staying on lte");

  /* at the hold's expiry, and not before */
  assert_decision (decide (fixture, up_at + HOLD), PRIMARY, TRUE, 0, "primary up for 60 s (hold 60 s)");
  assert_decision (decide (fixture, up_at + HOLD + 1), PRIMARY, FALSE, 0,
                   "primary degraded: loss 26 % over 20 rounds");
}

static void
test_failback_hold_restarts (Fixture       *fixture,
                             gconstpointer  user_data)
{
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  decide (fixture, 20 * SEC);

  set_state (fixture, PRIMARY, PF_HEALTH_UP, 30 * SEC, UP_REASON);
  assert_decision (decide (fixture, 30 * SEC), LTE, FALSE, 90 * SEC,
                   "primary up for 0.0 s (hold 60 s); staying on lte");

  /* down again before the hold expired: the hold starts again later */
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 80 * SEC, DOWN_REASON);
  assert_decision (decide (fixture, 80 * SEC), LTE, FALSE, 0,
                   "primary down: " DOWN_REASON "; staying on lte (up)");
  set_state (fixture, PRIMARY, PF_HEALTH_UP, 100 * SEC, UP_REASON);
  assert_decision (decide (fixture, 100 * SEC), LTE, FALSE, 160 * SEC,
                   "primary up for 0.0 s (hold 60 s); staying on lte");
  assert_decision (decide (fixture, 150 * SEC), LTE, FALSE, 160 * SEC,
                   "primary up for 50 s (hold 60 s); staying on lte");
  assert_decision (decide (fixture, 160 * SEC), PRIMARY, TRUE, 0, "primary up for 60 s (hold 60 s)");
}

static void
test_failback_hold_from_state_since (Fixture       *fixture,
                                     gconstpointer  user_data)
{
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  decide (fixture, 20 * SEC);

  /* the policy first hears of it 30 s after it went up: the hold counts
   * from when it went up */
  set_state (fixture, PRIMARY, PF_HEALTH_UP, 100 * SEC, UP_REASON);
  assert_decision (decide (fixture, 130 * SEC), LTE, FALSE, 160 * SEC,
                   "primary up for 30 s (hold 60 s); staying on lte");
  assert_decision (decide (fixture, 161 * SEC), PRIMARY, TRUE, 0, "primary up for 61 s (hold 60 s)");
}

static void
test_failback_hold_per_uplink (Fixture       *fixture,
                               gconstpointer  user_data)
{
  fixture->uplinks[PRIMARY].failback_hold_us = 0;
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  decide (fixture, 20 * SEC);
  /* no hold: back as soon as it is up */
  set_state (fixture, PRIMARY, PF_HEALTH_UP, 30 * SEC, UP_REASON);
  assert_decision (decide (fixture, 30 * SEC), PRIMARY, TRUE, 0, "primary up for 0.0 s (hold 0.0 s)");
}

static void
test_backup_down_goes_back_at_once (Fixture       *fixture,
                                    gconstpointer  user_data)
{
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  decide (fixture, 20 * SEC);
  set_state (fixture, PRIMARY, PF_HEALTH_UP, 30 * SEC, UP_REASON);
  decide (fixture, 30 * SEC);

  /* the active backup fails: the good primary is taken without its hold */
  set_state (fixture, LTE, PF_HEALTH_DOWN, 40 * SEC, DOWN_REASON);
  assert_decision (decide (fixture, 40 * SEC), PRIMARY, TRUE, 0, "lte down: " DOWN_REASON "; primary up");
}

static void
test_cold_backup_unknown (Fixture       *fixture,
                          gconstpointer  user_data)
{
  /* a cold backup is not probed: its state is unknown */
  set_state (fixture, LTE, PF_HEALTH_UNKNOWN, 0, "no probe round yet");
  assert_decision (decide (fixture, 10 * SEC), PRIMARY, FALSE, 0, "primary up: " UP_REASON);

  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  assert_decision (decide (fixture, 20 * SEC), LTE, TRUE, 0, "primary down: " DOWN_REASON "; lte unknown");

  /* while the backup proves itself, the primary coming back waits for
   * its hold like always */
  set_state (fixture, PRIMARY, PF_HEALTH_UP, 25 * SEC, UP_REASON);
  assert_decision (decide (fixture, 25 * SEC), LTE, FALSE, 85 * SEC,
                   "primary up for 0.0 s (hold 60 s); staying on lte");
  set_state (fixture, LTE, PF_HEALTH_UP, 27 * SEC, UP_REASON);
  assert_decision (decide (fixture, 27 * SEC), LTE, FALSE, 85 * SEC,
                   "primary up for 2.0 s (hold 60 s); staying on lte");
  assert_decision (decide (fixture, 85 * SEC), PRIMARY, TRUE, 0, "primary up for 60 s (hold 60 s)");
}

static void
test_cold_backup_fails (Fixture       *fixture,
                        gconstpointer  user_data)
{
  set_state (fixture, LTE, PF_HEALTH_UNKNOWN, 0, "no probe round yet");
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  decide (fixture, 20 * SEC);

  /* the backup turns out dead too: nothing better, stay */
  set_state (fixture, LTE, PF_HEALTH_DOWN, 22 * SEC, DOWN_REASON);
  assert_decision (decide (fixture, 22 * SEC), LTE, FALSE, 0,
                   "lte down: " DOWN_REASON "; no other uplink is usable, staying on lte");

  /* the primary's link comes back (unknown): better than a down backup */
  set_state (fixture, PRIMARY, PF_HEALTH_UNKNOWN, 23 * SEC, "carrier back");
  assert_decision (decide (fixture, 23 * SEC), PRIMARY, TRUE, 0,
                   "lte down: " DOWN_REASON "; primary unknown");
}

static void
test_start_unknown (Fixture       *fixture,
                    gconstpointer  user_data)
{
  /* at start everything is unknown; the backup may be proven first: the
   * primary is not left while it proves itself */
  set_state (fixture, PRIMARY, PF_HEALTH_UNKNOWN, 0, "no probe round yet");
  set_state (fixture, LTE, PF_HEALTH_UNKNOWN, 0, "no probe round yet");
  assert_decision (decide (fixture, 1 * SEC), PRIMARY, FALSE, 0, "primary unknown: no probe round yet");
  set_state (fixture, LTE, PF_HEALTH_UP, 5 * SEC, UP_REASON);
  assert_decision (decide (fixture, 5 * SEC), PRIMARY, FALSE, 0, "primary unknown: no probe round yet");
  set_state (fixture, PRIMARY, PF_HEALTH_UP, 5 * SEC, UP_REASON);
  assert_decision (decide (fixture, 5 * SEC), PRIMARY, FALSE, 0, "primary up: " UP_REASON);

  /* a primary dead at start goes down within seconds, then it is left */
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 7 * SEC, DOWN_REASON);
  assert_decision (decide (fixture, 7 * SEC), LTE, TRUE, 0, "primary down: " DOWN_REASON "; lte up");
}

static void
test_restart_on_backup (Fixture       *fixture,
                        gconstpointer  user_data)
{
  /* restarted while failed over: the backup is restored as active */
  g_autoptr(PfPolicy) policy = pf_policy_new (LTE);

  pf_policy_free (fixture->policy);
  fixture->policy = g_steal_pointer (&policy);
  g_assert_cmpuint (pf_policy_get_active (fixture->policy), ==, LTE);

  set_state (fixture, PRIMARY, PF_HEALTH_UP, 5 * SEC, UP_REASON);
  set_state (fixture, LTE, PF_HEALTH_UNKNOWN, 0, "no probe round yet");
  assert_decision (decide (fixture, 5 * SEC), LTE, FALSE, 65 * SEC,
                   "primary up for 0.0 s (hold 60 s); staying on lte");
  set_state (fixture, LTE, PF_HEALTH_UP, 6 * SEC, UP_REASON);
  assert_decision (decide (fixture, 6 * SEC), LTE, FALSE, 65 * SEC,
                   "primary up for 1.0 s (hold 60 s); staying on lte");
  assert_decision (decide (fixture, 65 * SEC), PRIMARY, TRUE, 0, "primary up for 60 s (hold 60 s)");
}

static void
test_unusable (Fixture       *fixture,
               gconstpointer  user_data)
{
  /* three uplinks: an unusable backup is skipped */
  fixture->uplinks[LTE].usable = FALSE;
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  assert_decision (decide (fixture, 20 * SEC), WISP, TRUE, 0, "primary down: " DOWN_REASON "; wisp up");

  /* the active one becomes unusable: left at once */
  fixture->uplinks[LTE].usable = TRUE;
  fixture->uplinks[WISP].usable = FALSE;
  assert_decision (decide (fixture, 21 * SEC), LTE, TRUE, 0, "wisp unusable: " UP_REASON "; lte up");

  /* an unusable primary is not good even when up */
  fixture->uplinks[PRIMARY].usable = FALSE;
  set_state (fixture, PRIMARY, PF_HEALTH_UP, 30 * SEC, UP_REASON);
  assert_decision (decide (fixture, 100 * SEC), LTE, FALSE, 0,
                   "primary unusable: " UP_REASON "; staying on lte (up)");
  /* usable again: the hold counts from then */
  fixture->uplinks[PRIMARY].usable = TRUE;
  assert_decision (decide (fixture, 110 * SEC), LTE, FALSE, 170 * SEC,
                   "primary up for 0.0 s (hold 60 s); staying on lte");
}

static void
test_nothing_usable (Fixture       *fixture,
                     gconstpointer  user_data)
{
  set_state (fixture, LTE, PF_HEALTH_DOWN, 5 * SEC, DOWN_REASON);
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  assert_decision (decide (fixture, 20 * SEC), PRIMARY, FALSE, 0,
                   "primary down: " DOWN_REASON "; no other uplink is usable, staying on primary");
}

static void
test_three_uplinks (Fixture       *fixture,
                    gconstpointer  user_data)
{
  /* both primary and lte fail: wisp */
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 10 * SEC, DOWN_REASON);
  set_state (fixture, LTE, PF_HEALTH_DOWN, 10 * SEC, DOWN_REASON);
  assert_decision (decide (fixture, 10 * SEC), WISP, TRUE, 0, "primary down: " DOWN_REASON "; wisp up");

  /* both come back, lte first: lte after its hold, then the primary after its own */
  set_state (fixture, LTE, PF_HEALTH_UP, 20 * SEC, UP_REASON);
  set_state (fixture, PRIMARY, PF_HEALTH_UP, 50 * SEC, UP_REASON);
  assert_decision (decide (fixture, 50 * SEC), WISP, FALSE, 80 * SEC,
                   "primary up for 0.0 s (hold 60 s); staying on wisp");
  assert_decision (decide (fixture, 80 * SEC), LTE, TRUE, 110 * SEC, "lte up for 60 s (hold 60 s)");
  assert_decision (decide (fixture, 100 * SEC), LTE, FALSE, 110 * SEC,
                   "primary up for 50 s (hold 60 s); staying on lte");
  assert_decision (decide (fixture, 110 * SEC), PRIMARY, TRUE, 0, "primary up for 60 s (hold 60 s)");

  /* primary down again: lte is preferred to wisp */
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 120 * SEC, DOWN_REASON);
  assert_decision (decide (fixture, 120 * SEC), LTE, TRUE, 0, "primary down: " DOWN_REASON "; lte up");
}

static void
test_force (Fixture       *fixture,
            gconstpointer  user_data)
{
  assert_decision (decide_mode (fixture, 10 * SEC, PF_MODE_FORCE, LTE), LTE, TRUE, 0,
                   "forced to lte by the administrator (lte is up)");
  /* even a down uplink, and a down primary does not matter */
  set_state (fixture, LTE, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  assert_decision (decide_mode (fixture, 20 * SEC, PF_MODE_FORCE, LTE), LTE, FALSE, 0,
                   "forced to lte by the administrator (lte is down)");
  fixture->uplinks[LTE].usable = FALSE;
  assert_decision (decide_mode (fixture, 21 * SEC, PF_MODE_FORCE, LTE), LTE, FALSE, 0,
                   "forced to lte by the administrator (lte is unusable)");
  /* no such uplink: nothing moves */
  assert_decision (decide_mode (fixture, 22 * SEC, PF_MODE_FORCE, 7), LTE, FALSE, 0,
                   "forced to uplink #7, which does not exist: staying on lte");

  /* back to auto: lte is unusable, primary up */
  assert_decision (decide (fixture, 23 * SEC), PRIMARY, TRUE, 0, "lte unusable: " DOWN_REASON "; primary up");
}

static void
test_force_then_auto_uses_hold (Fixture       *fixture,
                                gconstpointer  user_data)
{
  /* forced to the backup then back to auto: the primary has been up
   * all along, it is taken back at once */
  decide_mode (fixture, 100 * SEC, PF_MODE_FORCE, LTE);
  assert_decision (decide (fixture, 101 * SEC), PRIMARY, TRUE, 0, "primary up for 100 s (hold 60 s)");
}

static void
test_maintenance (Fixture       *fixture,
                  gconstpointer  user_data)
{
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  assert_decision (decide_mode (fixture, 20 * SEC, PF_MODE_MAINTENANCE, 0), PRIMARY, FALSE, 0,
                   "maintenance mode: staying on primary");

  /* also when on a backup */
  decide (fixture, 21 * SEC);
  g_assert_cmpuint (fixture->decision.active, ==, LTE);
  set_state (fixture, PRIMARY, PF_HEALTH_UP, 30 * SEC, UP_REASON);
  assert_decision (decide_mode (fixture, 200 * SEC, PF_MODE_MAINTENANCE, PRIMARY), LTE, FALSE, 0,
                   "maintenance mode: staying on lte");
  /* the good time went on counting during maintenance */
  assert_decision (decide (fixture, 201 * SEC), PRIMARY, TRUE, 0, "primary up for 171 s (hold 60 s)");
}

static void
test_uplinks_shrank (Fixture       *fixture,
                     gconstpointer  user_data)
{
  /* a reload removed the active uplink */
  decide (fixture, 10 * SEC);
  decide_mode (fixture, 11 * SEC, PF_MODE_FORCE, WISP);
  fixture->n_uplinks = 2;
  assert_decision (decide_mode (fixture, 12 * SEC, PF_MODE_MAINTENANCE, 0), PRIMARY, TRUE, 0,
                   "uplink #2 is gone, on primary; maintenance mode: staying on uplink #2");
  decide_mode (fixture, 13 * SEC, PF_MODE_FORCE, WISP);
  fixture->n_uplinks = 3;
  decide_mode (fixture, 14 * SEC, PF_MODE_FORCE, WISP);
  fixture->n_uplinks = 2;
  assert_decision (decide (fixture, 15 * SEC), PRIMARY, TRUE, 0, "uplink #2 is gone; primary up");
}

static void
test_changed (Fixture       *fixture,
              gconstpointer  user_data)
{
  set_state (fixture, PRIMARY, PF_HEALTH_DOWN, 20 * SEC, DOWN_REASON);
  g_assert_true (decide (fixture, 20 * SEC)->changed);
  g_assert_false (decide (fixture, 20 * SEC)->changed);
  g_assert_false (decide (fixture, 21 * SEC)->changed);
  g_assert_true (decide_mode (fixture, 22 * SEC, PF_MODE_FORCE, PRIMARY)->changed);
  g_assert_false (decide_mode (fixture, 23 * SEC, PF_MODE_FORCE, PRIMARY)->changed);
  g_assert_true (decide (fixture, 24 * SEC)->changed);
  g_assert_cmpuint (fixture->decision.active, ==, LTE);
}

static void
test_mode_strings (void)
{
  static const PfMode modes[] = { PF_MODE_AUTO, PF_MODE_FORCE, PF_MODE_MAINTENANCE };
  PfMode mode = PF_MODE_FORCE;

  g_assert_cmpstr (pf_mode_to_string (PF_MODE_AUTO), ==, "auto");
  g_assert_cmpstr (pf_mode_to_string (PF_MODE_FORCE), ==, "force");
  g_assert_cmpstr (pf_mode_to_string (PF_MODE_MAINTENANCE), ==, "maintenance");

  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_assert_true (pf_mode_from_string (pf_mode_to_string (modes[i]), &mode));
      g_assert_cmpint (mode, ==, modes[i]);
    }
  g_assert_true (pf_mode_from_string ("Auto", &mode));
  g_assert_cmpint (mode, ==, PF_MODE_AUTO);
  mode = PF_MODE_FORCE;
  g_assert_false (pf_mode_from_string ("", &mode));
  g_assert_false (pf_mode_from_string ("automatic", &mode));
  g_assert_cmpint (mode, ==, PF_MODE_FORCE);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/policy/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
#define ADD3(path, func) \
  g_test_add ("/policy/" path, Fixture, GUINT_TO_POINTER (3), fixture_setup, func, fixture_teardown)

  ADD ("stay", test_stay_on_primary);
  ADD ("failover", test_failover);
  ADD ("failback/after-hold", test_failback_after_hold);
  ADD ("failback/hold-restarts", test_failback_hold_restarts);
  ADD ("failback/hold-from-state-since", test_failback_hold_from_state_since);
  ADD ("failback/hold-per-uplink", test_failback_hold_per_uplink);
  ADD ("failback/backup-down", test_backup_down_goes_back_at_once);
  ADD ("cold/unknown-chosen", test_cold_backup_unknown);
  ADD ("cold/fails-too", test_cold_backup_fails);
  ADD ("start/unknown", test_start_unknown);
  ADD ("start/on-backup", test_restart_on_backup);
  ADD3 ("unusable", test_unusable);
  ADD ("nothing-usable", test_nothing_usable);
  ADD3 ("three-uplinks", test_three_uplinks);
  ADD ("force", test_force);
  ADD ("force/then-auto", test_force_then_auto_uses_hold);
  ADD ("maintenance", test_maintenance);
  ADD3 ("uplinks-shrank", test_uplinks_shrank);
  ADD ("changed", test_changed);
  g_test_add_func ("/policy/mode-strings", test_mode_strings);

#undef ADD
#undef ADD3

  return g_test_run ();
}
