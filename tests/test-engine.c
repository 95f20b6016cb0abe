/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Health and policy together, driven by a simulated prober with a seeded
 * PRNG: a day of random loss, blackholes, a flapping primary, recovery.
 *
 * The prober is simulated as src/pf-prober.c schedules it: a round sends
 * one probe to each target at once; a round starts every interval, or every
 * fast interval while pf_health_wants_fast(); rounds overlap (a fast round
 * starts while earlier ones still wait). When wants_fast changes after a
 * round, the next round is one new interval from then. A round finishes at
 * start + its mean RTT when at least quorum targets answered, else at
 * start + timeout.
 * Each probe is lost independently with the uplink's loss probability, and
 * always when its round trip crosses an outage (a silent blackhole).
 * The policy is asked again whenever a health state changes and at the
 * recheck time it asked for, as the daemon does.
 */
#include "config.h"

#include "pf-health.h"
#include "pf-policy.h"

#define MS  ((gint64) 1000)
#define SEC ((gint64) G_USEC_PER_SEC)
#define MAX_INFLIGHT 16

/* The documented defaults. */
typedef struct {
  gint64 interval_us;
  gint64 fast_interval_us;
  gint64 timeout_us;
  guint  targets;
  guint  quorum;
  gint64 failback_hold_us;
  PfHealthParams health;
} SimParams;

static const SimParams sim_defaults = {
  .interval_us = 500 * MS,
  .fast_interval_us = 100 * MS,
  .timeout_us = 400 * MS,
  .targets = 3,
  .quorum = 1,
  .failback_hold_us = 60 * SEC,
  .health = {
    .down_rounds = 5,
    .up_rounds = 10,
    .up_min_us = 5 * SEC,
    .window = 20,
    .degraded_loss = 20,
  },
};

typedef struct {
  gint64 start_us;
  gint64 end_us;
} SimOutage;

typedef struct {
  gint64 finish_us;
  guint  answered;
  gint64 rtt_us;
} SimRound;

typedef struct {
  const char *name;
  PfHealth   *health;

  /* the network behind it */
  guint64     loss_threshold;  /* a probe is lost when g_rand_int() < this */
  gint64      rtt_base_us;
  gint64      rtt_spread_us;
  GArray     *outages;         /* SimOutage, sorted, disjoint */
  guint       outage_cursor;

  /* cold standby: probed only while active, from bring_up_us after */
  gboolean    probe_when_active_only;
  gint64      bring_up_us;

  /* the prober */
  gboolean    probing;
  gboolean    fast;
  gint64      next_start_us;
  SimRound    inflight[MAX_INFLIGHT];
  guint       n_inflight;

  guint64     rounds;
  guint64     failed_rounds;
} SimUplink;

typedef struct {
  gint64 at_us;
  guint  from;
  guint  to;
} SimSwitch;

typedef struct {
  SimParams  params;
  GRand     *rand;
  SimUplink  uplinks[2];
  guint      n_uplinks;
  PfPolicy  *policy;
  gint64     now_us;
  gint64     recheck_at_us;
  GArray    *switches;  /* SimSwitch */
  guint      failovers;
  guint      failbacks;
} Sim;

static void
sim_uplink_init (SimUplink   *uplink,
                 const Sim   *sim,
                 const char  *name,
                 double       loss,
                 gint64       rtt_base_us,
                 gint64       rtt_spread_us)
{
  uplink->name = name;
  uplink->health = pf_health_new (&sim->params.health);
  uplink->loss_threshold = (guint64) (loss * 4294967296.0);
  uplink->rtt_base_us = rtt_base_us;
  uplink->rtt_spread_us = rtt_spread_us;
  uplink->outages = g_array_new (FALSE, FALSE, sizeof (SimOutage));
  uplink->probing = TRUE;
}

/* Primary with @primary_loss, backup healthy; both probed from 0. */
static Sim *
sim_new (guint32 seed,
         double  primary_loss)
{
  Sim *sim = g_new0 (Sim, 1);

  sim->params = sim_defaults;
  sim->rand = g_rand_new_with_seed (seed);
  sim->n_uplinks = 2;
  sim_uplink_init (&sim->uplinks[0], sim, "primary", primary_loss, 8 * MS, 6 * MS);
  sim_uplink_init (&sim->uplinks[1], sim, "lte", 0.0, 35 * MS, 40 * MS);
  sim->policy = pf_policy_new (0);
  sim->switches = g_array_new (FALSE, FALSE, sizeof (SimSwitch));
  /* the two probers do not start in the same microsecond */
  sim->uplinks[1].next_start_us = 7 * MS;

  return sim;
}

static void
sim_free (Sim *sim)
{
  for (guint i = 0; i < sim->n_uplinks; i++)
    {
      pf_health_free (sim->uplinks[i].health);
      g_array_unref (sim->uplinks[i].outages);
    }
  pf_policy_free (sim->policy);
  g_array_unref (sim->switches);
  g_rand_free (sim->rand);
  g_free (sim);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Sim, sim_free)

static void
sim_add_outage (Sim    *sim,
                guint   index,
                gint64  start_us,
                gint64  end_us)
{
  SimOutage outage = { start_us, end_us };

  g_array_append_val (sim->uplinks[index].outages, outage);
}

/* A cold backup: idle (unknown, not probed) until it is made active, then
 * probed once its connection is up @bring_up_us later. */
static void
sim_make_cold (Sim    *sim,
               guint   index,
               gint64  bring_up_us)
{
  SimUplink *uplink = &sim->uplinks[index];

  uplink->probe_when_active_only = TRUE;
  uplink->bring_up_us = bring_up_us;
  uplink->probing = FALSE;
}

static gboolean
sim_in_outage (SimUplink *uplink,
               gint64     from_us,
               gint64     to_us)
{
  /* probes of one uplink start in time order: outages over are over */
  while (uplink->outage_cursor < uplink->outages->len &&
         g_array_index (uplink->outages, SimOutage, uplink->outage_cursor).end_us <= from_us)
    uplink->outage_cursor++;

  return uplink->outage_cursor < uplink->outages->len &&
         g_array_index (uplink->outages, SimOutage, uplink->outage_cursor).start_us <= to_us;
}

static void
sim_start_round (Sim       *sim,
                 SimUplink *uplink)
{
  gint64 start = sim->now_us;
  gint64 sum = 0;
  guint answered = 0;
  SimRound *round;

  g_assert_cmpuint (uplink->n_inflight, <, MAX_INFLIGHT);

  for (guint t = 0; t < sim->params.targets; t++)
    {
      gboolean lost = g_rand_int (sim->rand) < uplink->loss_threshold;
      gint64 rtt = uplink->rtt_base_us +
                   g_rand_int_range (sim->rand, 0, (gint32) uplink->rtt_spread_us + 1);

      if (lost || rtt >= sim->params.timeout_us || sim_in_outage (uplink, start, start + rtt))
        continue;
      answered++;
      sum += rtt;
    }

  round = &uplink->inflight[uplink->n_inflight++];
  round->answered = answered;
  round->rtt_us = answered > 0 ? sum / answered : -1;
  round->finish_us = start + (answered >= sim->params.quorum ? round->rtt_us : sim->params.timeout_us);

  uplink->rounds++;
  uplink->next_start_us = start + (uplink->fast ? sim->params.fast_interval_us : sim->params.interval_us);
}

static void
sim_set_probing (Sim       *sim,
                 SimUplink *uplink,
                 gboolean   probing)
{
  if (!uplink->probe_when_active_only || uplink->probing == probing)
    return;

  /* brought up: proven from scratch; brought down: forgotten */
  pf_health_reset (uplink->health);
  uplink->probing = probing;
  uplink->fast = FALSE;
  uplink->n_inflight = 0;
  uplink->next_start_us = sim->now_us + uplink->bring_up_us;
}

static void
sim_decide (Sim *sim)
{
  PfPolicyUplink uplinks[G_N_ELEMENTS (sim->uplinks)] = { 0 };
  PfDecision decision = { 0 };
  guint from = pf_policy_get_active (sim->policy);

  for (guint i = 0; i < sim->n_uplinks; i++)
    {
      uplinks[i].name = sim->uplinks[i].name;
      uplinks[i].state = pf_health_get_state (sim->uplinks[i].health);
      uplinks[i].state_since_us = pf_health_get_since (sim->uplinks[i].health);
      uplinks[i].failback_hold_us = sim->params.failback_hold_us;
      uplinks[i].usable = TRUE;
      uplinks[i].health_reason = pf_health_get_reason (sim->uplinks[i].health);
    }

  pf_policy_decide (sim->policy, sim->now_us, uplinks, sim->n_uplinks, PF_MODE_AUTO, 0, &decision);
  g_assert_nonnull (decision.reason);
  sim->recheck_at_us = decision.recheck_at_us;

  if (decision.changed)
    {
      SimSwitch sw = { sim->now_us, from, decision.active };

      g_array_append_val (sim->switches, sw);
      if (decision.active > from)
        sim->failovers++;
      else
        sim->failbacks++;
      g_test_message ("%.3f s: %s -> %s: %s", sim->now_us / 1e6,
                      sim->uplinks[from].name, sim->uplinks[decision.active].name, decision.reason);

      sim_set_probing (sim, &sim->uplinks[from], FALSE);
      sim_set_probing (sim, &sim->uplinks[decision.active], TRUE);
    }

  pf_decision_clear (&decision);
}

static void
sim_finish_round (Sim       *sim,
                  SimUplink *uplink,
                  guint      index)
{
  SimRound round = uplink->inflight[index];
  gboolean changed;
  gboolean fast;

  uplink->inflight[index] = uplink->inflight[--uplink->n_inflight];
  if (round.answered < sim->params.quorum)
    uplink->failed_rounds++;

  changed = pf_health_add_round (uplink->health, sim->now_us, round.answered,
                                 sim->params.targets, sim->params.quorum, round.rtt_us);

  /* pf_prober_set_fast(): on a change, the next round is one new
   * interval from now */
  fast = pf_health_wants_fast (uplink->health);
  if (fast != uplink->fast)
    {
      uplink->fast = fast;
      uplink->next_start_us = sim->now_us +
                              (fast ? sim->params.fast_interval_us : sim->params.interval_us);
    }

  if (changed)
    sim_decide (sim);
}

/* Runs until @until_us, or until the first switch when @stop_on_switch.
 * Returns whether it stopped on a switch. */
static gboolean
sim_run (Sim      *sim,
         gint64    until_us,
         gboolean  stop_on_switch)
{
  guint switches = sim->switches->len;

  if (sim->now_us == 0)
    sim_decide (sim);

  for (;;)
    {
      gint64 next = G_MAXINT64;
      SimUplink *uplink = NULL;
      gint finishing = -1;
      gboolean recheck = FALSE;

      /* finishes first, then rechecks, then starts, uplink 0 first */
      for (guint i = 0; i < sim->n_uplinks; i++)
        for (guint r = 0; r < sim->uplinks[i].n_inflight; r++)
          if (sim->uplinks[i].inflight[r].finish_us < next)
            {
              next = sim->uplinks[i].inflight[r].finish_us;
              uplink = &sim->uplinks[i];
              finishing = r;
            }
      if (sim->recheck_at_us > 0 && sim->recheck_at_us < next)
        {
          next = sim->recheck_at_us;
          recheck = TRUE;
          uplink = NULL;
        }
      for (guint i = 0; i < sim->n_uplinks; i++)
        if (sim->uplinks[i].probing && sim->uplinks[i].next_start_us < next)
          {
            next = sim->uplinks[i].next_start_us;
            uplink = &sim->uplinks[i];
            finishing = -1;
            recheck = FALSE;
          }

      if (next > until_us)
        {
          sim->now_us = until_us;
          return FALSE;
        }
      sim->now_us = next;

      if (recheck)
        {
          sim->recheck_at_us = 0;
          sim_decide (sim);
        }
      else if (finishing >= 0)
        {
          sim_finish_round (sim, uplink, finishing);
        }
      else
        {
          sim_start_round (sim, uplink);
        }

      if (stop_on_switch && sim->switches->len > switches)
        return TRUE;
    }
}

static int
compare_gint64 (gconstpointer a,
                gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @values. */
static gint64
percentile (const GArray *values,
            guint         p)
{
  guint rank = (values->len * p + 99) / 100;

  return g_array_index (values, gint64, MAX (rank, 1) - 1);
}

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

  g_array_sort (latencies, compare_gint64);
  g_test_message ("blackhole to failover: p50 %.3f s, p95 %.3f s, max %.3f s",
                  percentile (latencies, 50) / 1e6, percentile (latencies, 95) / 1e6,
                  percentile (latencies, 100) / 1e6);
  g_assert_cmpint (percentile (latencies, 95), <=, 2 * SEC);
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

  g_array_sort (latencies, compare_gint64);
  g_test_message ("blackhole at 25 %% loss: p50 %.3f s, p95 %.3f s",
                  percentile (latencies, 50) / 1e6, percentile (latencies, 95) / 1e6);
  g_assert_cmpint (percentile (latencies, 95), <=, 2 * SEC);
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
