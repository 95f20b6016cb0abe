/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Unit tests of the health of one uplink (pf-health.c): state transitions,
 * window numbers and reasons, with explicit times.
 */
#include "config.h"

#include "pf-health.h"

#include "health-defaults.h"

static const PfHealthParams default_params = HEALTH_DEFAULTS;

typedef struct {
  PfHealth *health;
  gint64    now;      /* time of the next round */
  gint64    step;     /* between rounds */
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  user_data)
{
  fixture->health = pf_health_new (&default_params);
  fixture->now = 1000 * SEC;
  fixture->step = 500 * MS;
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_clear_pointer (&fixture->health, pf_health_free);
}

/* One round of 3 targets, quorum 1. Returns what pf_health_add_round() did. */
static gboolean
round_answered (Fixture *fixture,
                guint    answered,
                gint64   rtt_us)
{
  gboolean changed = pf_health_add_round (fixture->health, fixture->now, answered, 3, 1,
                                          answered > 0 ? rtt_us : -1);

  fixture->now += fixture->step;
  return changed;
}

static gboolean
round_good (Fixture *fixture)
{
  return round_answered (fixture, 3, 1200);
}

static gboolean
round_lost (Fixture *fixture)
{
  return round_answered (fixture, 0, -1);
}

/* Brings a fresh fixture to up with the least rounds: 11 at 500 ms. */
static void
make_up (Fixture *fixture)
{
  for (guint i = 0; i < 11; i++)
    round_good (fixture);
  g_assert_cmpint (pf_health_get_state (fixture->health), ==, PF_HEALTH_UP);
}

/* As new: unknown, no numbers, nothing asked. */
static void
assert_pristine (const PfHealth *health)
{
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UNKNOWN);
  g_assert_cmpint (pf_health_get_since (health), ==, 0);
  g_assert_cmpfloat (pf_health_get_loss (health), ==, -1);
  g_assert_cmpfloat (pf_health_get_rtt_ms (health), ==, -1);
  g_assert_cmpfloat (pf_health_get_jitter_ms (health), ==, -1);
  g_assert_false (pf_health_wants_fast (health));
  g_assert_cmpstr (pf_health_get_reason (health), ==, "no probe round yet");
}

static void
test_initial (Fixture       *fixture,
              gconstpointer  user_data)
{
  assert_pristine (fixture->health);
}

static void
test_down_after_rounds (Fixture       *fixture,
                        gconstpointer  user_data)
{
  PfHealth *health = fixture->health;
  gint64 fifth;

  make_up (fixture);

  /* 4 lost rounds, a good one: the count starts again (the lost probes
   * make it degraded on the way: 12 of 45) */
  for (guint i = 0; i < 4; i++)
    {
      round_lost (fixture);
      g_assert_cmpint (pf_health_get_state (health), !=, PF_HEALTH_DOWN);
      g_assert_true (pf_health_wants_fast (health));
    }
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DEGRADED);
  round_good (fixture);
  g_assert_false (pf_health_wants_fast (health));

  fixture->step = 100 * MS;
  for (guint i = 0; i < 4; i++)
    g_assert_false (round_lost (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DEGRADED);
  g_assert_true (pf_health_wants_fast (health));

  fifth = fixture->now;
  g_assert_true (round_lost (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DOWN);
  g_assert_cmpint (pf_health_get_since (health), ==, fifth);
  g_assert_cmpstr (pf_health_get_reason (health), ==, "5/5 rounds lost, 0 of 3 targets answered");
  /* down: back to the normal rate */
  g_assert_false (pf_health_wants_fast (health));

  /* more lost rounds change nothing */
  g_assert_false (round_lost (fixture));
  g_assert_cmpint (pf_health_get_since (health), ==, fifth);
  g_assert_cmpstr (pf_health_get_reason (health), ==, "5/5 rounds lost, 0 of 3 targets answered");
}

static void
test_down_from_unknown (Fixture       *fixture,
                        gconstpointer  user_data)
{
  for (guint i = 0; i < 4; i++)
    g_assert_false (round_lost (fixture));
  g_assert_cmpint (pf_health_get_state (fixture->health), ==, PF_HEALTH_UNKNOWN);
  g_assert_true (round_lost (fixture));
  g_assert_cmpint (pf_health_get_state (fixture->health), ==, PF_HEALTH_DOWN);
}

static void
test_quorum (Fixture       *fixture,
             gconstpointer  user_data)
{
  PfHealth *health = fixture->health;

  /* 1 of 3 answering is a failed round when 2 are needed */
  for (guint i = 0; i < 5; i++)
    pf_health_add_round (health, fixture->now + i * 100 * MS, 1, 3, 2, 20 * MS);
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DOWN);
  g_assert_cmpstr (pf_health_get_reason (health), ==,
                   "5/5 rounds lost, 1 of 3 targets answered (quorum 2)");
  /* answered probes still count for the loss: 10 of 15 lost */
  g_assert_cmpfloat_with_epsilon (pf_health_get_loss (health), 100.0 * 10 / 15, 1e-9);
  g_assert_cmpfloat_with_epsilon (pf_health_get_rtt_ms (health), 20.0, 1e-9);
}

static void
test_up_needs_rounds_and_time (Fixture       *fixture,
                               gconstpointer  user_data)
{
  PfHealth *health = fixture->health;
  gint64 eleventh;

  /* at 500 ms, the 10th good round is only 4.5 s after the first */
  for (guint i = 0; i < 10; i++)
    g_assert_false (round_good (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UNKNOWN);

  eleventh = fixture->now;
  g_assert_true (round_good (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UP);
  g_assert_cmpint (pf_health_get_since (health), ==, eleventh);
  g_assert_cmpstr (pf_health_get_reason (health), ==,
                   "11 good rounds in 5.0 s, loss 0 %, rtt 1.2 ms");
}

static void
test_up_needs_rounds (Fixture       *fixture,
                      gconstpointer  user_data)
{
  PfHealth *health = fixture->health;

  /* rounds 1 s apart: time is not the limit, the 10th round is */
  fixture->step = SEC;
  for (guint i = 0; i < 9; i++)
    g_assert_false (round_good (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UNKNOWN);
  g_assert_true (round_good (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UP);
  g_assert_cmpstr (pf_health_get_reason (health), ==,
                   "10 good rounds in 9.0 s, loss 0 %, rtt 1.2 ms");
}

static void
test_up_after_down (Fixture       *fixture,
                    gconstpointer  user_data)
{
  PfHealth *health = fixture->health;

  make_up (fixture);
  for (guint i = 0; i < 20; i++)
    round_lost (fixture);
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DOWN);

  /* a lost round in the middle starts the count again */
  for (guint i = 0; i < 9; i++)
    g_assert_false (round_good (fixture));
  g_assert_false (round_lost (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DOWN);
  /* a good round while down does not ask for fast probing, a lost one neither */
  g_assert_false (pf_health_wants_fast (health));

  fixture->step = SEC;
  for (guint i = 0; i < 9; i++)
    g_assert_false (round_good (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DOWN);
  g_assert_true (round_good (fixture));
  /* the window still holds one lost round of 20: 3 of 60 probes */
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UP);
  g_assert_cmpstr (pf_health_get_reason (health), ==,
                   "10 good rounds in 9.0 s, loss 5 %, rtt 1.2 ms");
}

static void
test_up_into_degraded (Fixture       *fixture,
                       gconstpointer  user_data)
{
  PfHealth *health = fixture->health;

  for (guint i = 0; i < 10; i++)
    round_lost (fixture);
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DOWN);

  /* up after 11 good rounds, but 9 lost rounds are still in the window */
  for (guint i = 0; i < 11; i++)
    round_good (fixture);
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DEGRADED);
  g_assert_cmpstr (pf_health_get_reason (health), ==,
                   "11 good rounds in 5.0 s, but loss 45 % over 20 rounds, rtt 1.2 ms");

  /* they leave the window: 3 lost rounds = 15 % */
  for (guint i = 0; i < 5; i++)
    round_good (fixture);
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DEGRADED);
  g_assert_true (round_good (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UP);
  g_assert_cmpstr (pf_health_get_reason (health), ==, "loss back to 15 % over 20 rounds, rtt 1.2 ms");
}

static void
test_degraded (Fixture       *fixture,
               gconstpointer  user_data)
{
  PfHealth *health = fixture->health;
  gint64 since;

  make_up (fixture);

  /* one lost probe in every round: after k rounds, k of 3 x min (20, 11 + k)
   * probes are lost: 7 of 54 = 13 %, 9 of 60 = 15 %, 11 of 60 = 18 %, 12 of 60 = 20 % */
  for (guint i = 0; i < 11; i++)
    g_assert_false (round_answered (fixture, 2, 1200));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UP);
  since = fixture->now;
  g_assert_true (round_answered (fixture, 2, 1200));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DEGRADED);
  g_assert_cmpint (pf_health_get_since (health), ==, since);
  g_assert_cmpfloat_with_epsilon (pf_health_get_loss (health), 20.0, 1e-9);
  g_assert_cmpstr (pf_health_get_reason (health), ==, "loss 20 % over 20 rounds, rtt 1.2 ms");
  /* degraded rounds succeed: no fast probing */
  g_assert_false (pf_health_wants_fast (health));

  /* more loss: still degraded, still the same since */
  for (guint i = 0; i < 8; i++)
    g_assert_false (round_answered (fixture, 2, 1200));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DEGRADED);
  g_assert_cmpint (pf_health_get_since (health), ==, since);
  g_assert_cmpfloat_with_epsilon (pf_health_get_loss (health), 100.0 / 3, 1e-9);

  /* clean rounds push the loss under 20 % again: 11 of 60 */
  for (guint i = 0; i < 8; i++)
    g_assert_false (round_good (fixture));
  g_assert_true (round_good (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UP);
  g_assert_cmpstr (pf_health_get_reason (health), ==, "loss back to 18 % over 20 rounds, rtt 1.2 ms");

  /* degraded goes down by failed rounds, like up */
  for (guint i = 0; i < 12; i++)
    round_answered (fixture, 1, 1200);
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DEGRADED);
  for (guint i = 0; i < 5; i++)
    round_lost (fixture);
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DOWN);
}

static void
test_degraded_disabled (Fixture       *fixture,
                        gconstpointer  user_data)
{
  PfHealthParams params = default_params;
  g_autoptr(PfHealth) health = NULL;

  params.degraded_loss = 0;
  health = pf_health_new (&params);
  for (guint i = 0; i < 11; i++)
    pf_health_add_round (health, i * 500 * MS, 1, 3, 1, 1000);
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UP);
}

static void
test_numbers (Fixture       *fixture,
              gconstpointer  user_data)
{
  PfHealth *health = fixture->health;

  round_answered (fixture, 3, 10 * MS);
  g_assert_cmpfloat (pf_health_get_loss (health), ==, 0);
  g_assert_cmpfloat_with_epsilon (pf_health_get_rtt_ms (health), 10.0, 1e-9);
  /* one RTT: no jitter yet */
  g_assert_cmpfloat (pf_health_get_jitter_ms (health), ==, -1);

  round_answered (fixture, 3, 12 * MS);
  round_answered (fixture, 2, 11 * MS);
  round_answered (fixture, 0, -1);
  round_answered (fixture, 3, 15 * MS);

  /* 4 of 15 probes lost */
  g_assert_cmpfloat_with_epsilon (pf_health_get_loss (health), 100.0 * 4 / 15, 1e-9);
  /* (10 + 12 + 11 + 15) / 4 */
  g_assert_cmpfloat_with_epsilon (pf_health_get_rtt_ms (health), 12.0, 1e-9);
  /* (2 + 1 + 4) / 3: the lost round is skipped */
  g_assert_cmpfloat_with_epsilon (pf_health_get_jitter_ms (health), 7.0 / 3, 1e-9);
}

static void
test_window (Fixture       *fixture,
             gconstpointer  user_data)
{
  PfHealth *health = fixture->health;

  /* 20 lost rounds then 20 good ones: the window forgets the lost ones */
  for (guint i = 0; i < 20; i++)
    round_lost (fixture);
  g_assert_cmpfloat (pf_health_get_loss (health), ==, 100);
  g_assert_cmpfloat (pf_health_get_rtt_ms (health), ==, -1);

  for (guint i = 0; i < 5; i++)
    round_answered (fixture, 3, 30 * MS);
  g_assert_cmpfloat_with_epsilon (pf_health_get_loss (health), 75, 1e-9);
  for (guint i = 0; i < 15; i++)
    round_answered (fixture, 3, (i % 2 ? 2 : 4) * MS);
  g_assert_cmpfloat (pf_health_get_loss (health), ==, 0);
  /* 5 x 30 ms + 7 x 2 ms + 8 x 4 ms over 20 rounds */
  g_assert_cmpfloat_with_epsilon (pf_health_get_rtt_ms (health), (150.0 + 14 + 32) / 20, 1e-9);
  /* 30 -> 30 x4 (0), 30 -> 4 (26), then 14 steps of 2 */
  g_assert_cmpfloat_with_epsilon (pf_health_get_jitter_ms (health), (26.0 + 14 * 2) / 19, 1e-9);

  /* one more: the oldest 30 ms round leaves */
  round_answered (fixture, 3, 4 * MS);
  g_assert_cmpfloat_with_epsilon (pf_health_get_rtt_ms (health), (120.0 + 14 + 36) / 20, 1e-9);
}

static void
test_link_loss (Fixture       *fixture,
                gconstpointer  user_data)
{
  PfHealth *health = fixture->health;
  gint64 lost_at, back_at;

  make_up (fixture);
  round_lost (fixture);
  g_assert_true (pf_health_wants_fast (health));

  lost_at = fixture->now;
  g_assert_true (pf_health_set_link (health, lost_at, FALSE, "carrier lost"));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DOWN);
  g_assert_cmpint (pf_health_get_since (health), ==, lost_at);
  g_assert_cmpstr (pf_health_get_reason (health), ==, "carrier lost");
  g_assert_false (pf_health_wants_fast (health));
  /* told twice: nothing new */
  g_assert_false (pf_health_set_link (health, lost_at + SEC, FALSE, "carrier lost"));
  g_assert_cmpint (pf_health_get_since (health), ==, lost_at);

  /* rounds without a link do not bring it up, however good */
  for (guint i = 0; i < 30; i++)
    g_assert_false (round_good (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DOWN);
  g_assert_cmpstr (pf_health_get_reason (health), ==, "carrier lost");

  back_at = fixture->now;
  g_assert_true (pf_health_set_link (health, back_at, TRUE, "carrier back"));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UNKNOWN);
  g_assert_cmpint (pf_health_get_since (health), ==, back_at);
  g_assert_cmpstr (pf_health_get_reason (health), ==, "carrier back");
  g_assert_false (pf_health_set_link (health, back_at, TRUE, NULL));

  /* proven again from scratch */
  for (guint i = 0; i < 10; i++)
    g_assert_false (round_good (fixture));
  g_assert_true (round_good (fixture));
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_UP);

  /* no reason given */
  g_assert_true (pf_health_set_link (health, fixture->now, FALSE, NULL));
  g_assert_cmpstr (pf_health_get_reason (health), ==, "link lost");
}

static void
test_link_loss_while_down (Fixture       *fixture,
                           gconstpointer  user_data)
{
  PfHealth *health = fixture->health;
  gint64 since;

  for (guint i = 0; i < 5; i++)
    round_lost (fixture);
  since = pf_health_get_since (health);
  g_assert_cmpint (pf_health_get_state (health), ==, PF_HEALTH_DOWN);

  /* already down: the state stays, the reason says why now */
  g_assert_false (pf_health_set_link (health, fixture->now, FALSE, "carrier lost"));
  g_assert_cmpint (pf_health_get_since (health), ==, since);
  g_assert_cmpstr (pf_health_get_reason (health), ==, "carrier lost");
}

static void
test_reset (Fixture       *fixture,
            gconstpointer  user_data)
{
  PfHealth *health = fixture->health;

  make_up (fixture);
  pf_health_set_link (health, fixture->now, FALSE, "carrier lost");
  pf_health_reset (health);
  assert_pristine (health);

  /* the link is assumed back: rounds prove it again */
  make_up (fixture);
}

static void
test_state_to_string (void)
{
  g_assert_cmpstr (pf_health_state_to_string (PF_HEALTH_UNKNOWN), ==, "unknown");
  g_assert_cmpstr (pf_health_state_to_string (PF_HEALTH_UP), ==, "up");
  g_assert_cmpstr (pf_health_state_to_string (PF_HEALTH_DEGRADED), ==, "degraded");
  g_assert_cmpstr (pf_health_state_to_string (PF_HEALTH_DOWN), ==, "down");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/health/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("initial", test_initial);
  ADD ("down/after-rounds", test_down_after_rounds);
  ADD ("down/from-unknown", test_down_from_unknown);
  ADD ("down/quorum", test_quorum);
  ADD ("up/rounds-and-time", test_up_needs_rounds_and_time);
  ADD ("up/rounds", test_up_needs_rounds);
  ADD ("up/after-down", test_up_after_down);
  ADD ("up/into-degraded", test_up_into_degraded);
  ADD ("degraded/loss", test_degraded);
  ADD ("degraded/disabled", test_degraded_disabled);
  ADD ("window/numbers", test_numbers);
  ADD ("window/sliding", test_window);
  ADD ("link/loss", test_link_loss);
  ADD ("link/loss-while-down", test_link_loss_while_down);
  ADD ("reset", test_reset);
  g_test_add_func ("/health/state-to-string", test_state_to_string);

#undef ADD

  return g_test_run ();
}
