/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Health and policy together, driven by the simulated prober of
 * tests/engine-sim.c with a seeded PRNG: a day of random loss, blackholes,
 * a flapping primary, recovery.
 */
#include "config.h"

#include "engine-sim.h"

/* ---- tests ---- */

static void
test_start (void)
{
  g_autoptr(Sim) sim = sim_new (1, 0.0);

  sim_run (sim, 10 * SEC, FALSE);
  g_assert_cmpint (pf_health_get_state (sim->uplinks[0].health), ==, PF_HEALTH_UP);
  g_assert_cmpint (pf_health_get_state (sim->uplinks[1].health), ==, PF_HEALTH_UP);
  /* up after 11 rounds 500 ms apart */
  g_assert_cmpint (pf_health_get_since (sim->uplinks[0].health), >=, 5 * SEC);
  g_assert_cmpint (pf_health_get_since (sim->uplinks[0].health), <, 5100 * MS);
  g_assert_cmpuint (sim->switches->len, ==, 0);
}

static void
test_start_primary_slow (void)
{
  /* the backup proves itself first: no failover while the primary is unknown */
  g_autoptr(Sim) sim = sim_new (2, 0.0);

  sim->uplinks[0].next_start_us = 2 * SEC;
  sim_run (sim, 60 * SEC, FALSE);
  g_assert_cmpuint (sim->switches->len, ==, 0);
}

static void
test_day_random_loss (void)
{
  g_autoptr(Sim) sim = sim_new (20240601, 0.25);
  double loss;

  sim_run (sim, 24 * 3600 * SEC, FALSE);

  g_test_message ("primary: %" G_GUINT64_FORMAT " rounds, %" G_GUINT64_FORMAT " failed",
                  sim->uplinks[0].rounds, sim->uplinks[0].failed_rounds);
  g_assert_cmpuint (sim->failovers, ==, 0);
  g_assert_cmpuint (sim->failbacks, ==, 0);
  /* the loss was real: ~ 0.25^3 of the rounds failed */
  g_assert_cmpuint (sim->uplinks[0].rounds, >=, 24 * 3600 * 2 * 99 / 100);
  g_assert_cmpuint (sim->uplinks[0].failed_rounds, >, sim->uplinks[0].rounds / 100);
  g_assert_cmpuint (sim->uplinks[0].failed_rounds, <, sim->uplinks[0].rounds / 40);
  loss = pf_health_get_loss (sim->uplinks[0].health);
  g_assert_cmpfloat (loss, >, 0);
  g_assert_cmpfloat (loss, <, 60);
}

static void
test_blackhole (void)
{
  const SimParams *p = &sim_defaults;
  /* The worst case: the blackhole starts just after a round's answers came
   * back; the next round, an interval later, fails at its timeout; then
   * down_rounds - 1 fast rounds, the first a fast interval after that
   * failure, the others a fast interval apart; the last one fails at its
   * timeout. 1.7 s with the defaults. */
  const gint64 bound = p->interval_us + p->timeout_us +
                       (p->health.down_rounds - 1) * p->fast_interval_us + p->timeout_us;
  g_autoptr(GArray) latencies = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GRand) when = g_rand_new_with_seed (4242);

  g_assert_cmpint (bound, <=, 2 * SEC);

  for (guint trial = 0; trial < 100; trial++)
    {
      g_autoptr(Sim) sim = sim_new (1000 + trial, 0.0);
      gint64 start = 30 * SEC + (gint64) g_rand_int_range (when, 0, 60 * 1000 * 1000);
      gint64 latency;

      sim_add_outage (sim, 0, start, G_MAXINT64);
      g_assert_true (sim_run (sim, start + 10 * SEC, TRUE));

      latency = g_array_index (sim->switches, SimSwitch, 0).at_us - start;
      g_assert_cmpuint (g_array_index (sim->switches, SimSwitch, 0).to, ==, 1);
      g_assert_cmpint (latency, >, 0);
      g_assert_cmpint (latency, <=, bound);
      g_array_append_val (latencies, latency);
    }

  g_array_sort (latencies, sim_compare_gint64);
  g_test_message ("blackhole to failover: p50 %.3f s, p95 %.3f s, max %.3f s",
                  sim_percentile (latencies, 50) / 1e6, sim_percentile (latencies, 95) / 1e6,
                  sim_percentile (latencies, 100) / 1e6);
  g_assert_cmpint (sim_percentile (latencies, 95), <=, 2 * SEC);
}

static void
test_blackhole_with_loss (void)
{
  /* the same blackhole on a primary already losing 25 %: still fast */
  g_autoptr(GArray) latencies = g_array_new (FALSE, FALSE, sizeof (gint64));

  for (guint trial = 0; trial < 100; trial++)
    {
      g_autoptr(Sim) sim = sim_new (5000 + trial, 0.25);
      gint64 start = 60 * SEC + trial * 777 * MS;
      gint64 latency;

      sim_add_outage (sim, 0, start, G_MAXINT64);
      g_assert_true (sim_run (sim, start + 10 * SEC, TRUE));
      g_assert_cmpuint (sim->failovers, ==, 1);
      latency = g_array_index (sim->switches, SimSwitch, 0).at_us - start;
      g_array_append_val (latencies, latency);
    }

  g_array_sort (latencies, sim_compare_gint64);
  g_test_message ("blackhole at 25 %% loss: p50 %.3f s, p95 %.3f s",
                  sim_percentile (latencies, 50) / 1e6, sim_percentile (latencies, 95) / 1e6);
  g_assert_cmpint (sim_percentile (latencies, 95), <=, 2 * SEC);
}

/* The primary is down @down_s then up @up_s, again and again, from 60 s
 * on for an hour. */
static Sim *
sim_flapping (guint32 seed,
              gint64  down_us,
              gint64  up_us)
{
  Sim *sim = sim_new (seed, 0.0);

  for (gint64 t = 60 * SEC; t < 3660 * SEC; t += down_us + up_us)
    sim_add_outage (sim, 0, t, t + down_us);
  sim_run (sim, 3660 * SEC, FALSE);

  return sim;
}

static void
test_flapping (void)
{
  g_autoptr(Sim) sim = sim_flapping (7, 20 * SEC, 20 * SEC);

  /* up 20 s never lasts the 60 s hold: over once, never back */
  g_assert_cmpuint (sim->failovers, ==, 1);
  g_assert_cmpuint (sim->failbacks, ==, 0);
  g_assert_cmpuint (pf_policy_get_active (sim->policy), ==, 1);
}

static void
test_flapping_slow (void)
{
  g_autoptr(Sim) sim = sim_flapping (8, 20 * SEC, 90 * SEC);
  gint64 last_failover = -1;

  /* up 90 s is longer than the hold: back and forth, but never two
   * failovers within a hold */
  g_assert_cmpuint (sim->failovers, >, 1);
  g_assert_cmpuint (sim->failbacks, >, 1);
  for (guint i = 0; i < sim->switches->len; i++)
    {
      const SimSwitch *sw = &g_array_index (sim->switches, SimSwitch, i);

      if (sw->to < sw->from)
        continue;
      if (last_failover >= 0)
        g_assert_cmpint (sw->at_us - last_failover, >=, sim_defaults.failback_hold_us);
      last_failover = sw->at_us;
    }
  /* one failover per cycle of 110 s over the hour */
  g_assert_cmpuint (sim->failovers, <=, 3600 / 110 + 1);
}

static void
test_flapping_cold (void)
{
  /* A cold backup whose bring-up takes 15 s, and a primary down 10 s / up
   * 20 s: the primary is up again before the backup has proven itself, yet
   * the hold still applies. */
  g_autoptr(Sim) sim = sim_new (9, 0.0);

  sim_make_cold (sim, 1, 15 * SEC);
  for (gint64 t = 60 * SEC; t < 3660 * SEC; t += 30 * SEC)
    sim_add_outage (sim, 0, t, t + 10 * SEC);
  sim_run (sim, 3660 * SEC, FALSE);

  g_assert_cmpuint (sim->failovers, ==, 1);
  g_assert_cmpuint (sim->failbacks, ==, 0);
}

static void
test_recovery (void)
{
  const SimParams *p = &sim_defaults;

  for (guint trial = 0; trial < 20; trial++)
    {
      g_autoptr(Sim) sim = sim_new (300 + trial, 0.0);
      gint64 start = 30 * SEC + trial * 1234 * MS;
      gint64 end = start + 120 * SEC;
      const SimSwitch *sw;

      if (trial % 2)
        sim_make_cold (sim, 1, 2 * SEC);
      sim_add_outage (sim, 0, start, end);
      g_assert_true (sim_run (sim, end, TRUE));
      g_assert_cmpuint (sim->failovers, ==, 1);

      g_assert_true (sim_run (sim, end + 5 * 60 * SEC, TRUE));
      g_assert_cmpuint (sim->failbacks, ==, 1);
      sw = &g_array_index (sim->switches, SimSwitch, 1);
      g_assert_cmpuint (sw->to, ==, 0);

      /* Good (degraded at first: the window still holds lost rounds) once
       * its good rounds span up_min, and back a hold later, not before.
       * The first good round starts at most an interval after the end;
       * one more round is needed when the RTTs made the span of the first
       * up_rounds a little short of up_min. */
      g_assert_cmpint (sw->at_us, >=, end + p->health.up_min_us + p->failback_hold_us);
      g_assert_cmpint (sw->at_us, <=, end + 2 * p->interval_us + p->health.up_min_us + 50 * MS +
                                      p->failback_hold_us);
      g_assert_cmpint (pf_health_get_state (sim->uplinks[0].health), ==, PF_HEALTH_UP);
      g_test_message ("blackhole of 120 s: failback %.3f s after its end", (sw->at_us - end) / 1e6);

      /* and it stays there */
      g_assert_false (sim_run (sim, end + 10 * 60 * SEC, TRUE));
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/engine/start", test_start);
  g_test_add_func ("/engine/start-primary-slow", test_start_primary_slow);
  g_test_add_func ("/engine/day-random-loss", test_day_random_loss);
  g_test_add_func ("/engine/blackhole", test_blackhole);
  g_test_add_func ("/engine/blackhole-with-loss", test_blackhole_with_loss);
  g_test_add_func ("/engine/flapping", test_flapping);
  g_test_add_func ("/engine/flapping-slow", test_flapping_slow);
  g_test_add_func ("/engine/flapping-cold", test_flapping_cold);
  g_test_add_func ("/engine/recovery", test_recovery);

  return g_test_run ();
}
