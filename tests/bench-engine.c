/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Benchmark of health and policy together (not a test): a simulated year of
 * a primary losing 25 % of its probes at random, with the documented
 * defaults, counting the false failovers; then the time from a silent
 * blackhole to the failover, and from its end to the failback, over many
 * trials. Prints one line of JSON, then a table.
 *
 * The simulated prober is the one of tests/test-engine.c (see there), with
 * the schedule of src/pf-prober.c: rounds every interval, or every fast
 * interval after a failed round, overlapping; a round finishes at start +
 * RTT when answered, else at start + timeout; each probe lost independently.
 *
 *   bench-engine [--years N] [--trials N] [--seed N] [--wait-all] [--verbose]
 */
#include "config.h"

#include "pf-health.h"
#include "pf-policy.h"

static gboolean verbose;
/* A round waits for every probe (finishing at the timeout when one is lost)
 * instead of finishing at its answers. */
static gboolean wait_all;

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
  guint       run;          /* failed rounds in a row so far, in finish order */
  guint64     runs[8];      /* runs of failed rounds by length, 7 = 7 or more */
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
  gint64 max = 0;
  SimRound *round;

  g_assert (uplink->n_inflight < MAX_INFLIGHT);

  for (guint t = 0; t < sim->params.targets; t++)
    {
      gboolean lost = g_rand_int (sim->rand) < uplink->loss_threshold;
      gint64 rtt = uplink->rtt_base_us +
                   g_rand_int_range (sim->rand, 0, (gint32) uplink->rtt_spread_us + 1);

      if (lost || rtt >= sim->params.timeout_us || sim_in_outage (uplink, start, start + rtt))
        continue;
      answered++;
      sum += rtt;
      max = MAX (max, rtt);
    }

  round = &uplink->inflight[uplink->n_inflight++];
  round->answered = answered;
  round->rtt_us = answered > 0 ? sum / answered : -1;
  if (wait_all)
    round->finish_us = start + (answered == sim->params.targets ? max : sim->params.timeout_us);
  else
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
  g_assert (decision.reason != NULL);
  sim->recheck_at_us = decision.recheck_at_us;

  if (decision.changed)
    {
      SimSwitch sw = { sim->now_us, from, decision.active };

      g_array_append_val (sim->switches, sw);
      if (decision.active > from)
        sim->failovers++;
      else
        sim->failbacks++;
      if (verbose)
        g_printerr ("%.3f s: %s -> %s: %s\n", sim->now_us / 1e6,
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
    {
      uplink->failed_rounds++;
      uplink->run++;
    }
  else if (uplink->run > 0)
    {
      uplink->runs[MIN (uplink->run, G_N_ELEMENTS (uplink->runs) - 1)]++;
      uplink->run = 0;
    }

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

/* ---- benchmark ---- */

typedef struct {
  GArray *detect;    /* blackhole start -> failover, µs */
  GArray *failback;  /* blackhole end -> failback, µs */
  guint   missed;    /* trials without the expected switch */
} Trials;

static void
run_trials (guint32  seed,
            guint    n,
            double   loss,
            Trials  *out)
{
  g_autoptr(GRand) when = g_rand_new_with_seed (seed);

  out->detect = g_array_new (FALSE, FALSE, sizeof (gint64));
  out->failback = g_array_new (FALSE, FALSE, sizeof (gint64));

  for (guint trial = 0; trial < n; trial++)
    {
      g_autoptr(Sim) sim = sim_new (seed + 1 + trial, loss);
      gint64 start = 30 * SEC + (gint64) g_rand_int_range (when, 0, 60 * 1000 * 1000);
      gint64 end = start + 120 * SEC;
      gint64 us;

      sim_add_outage (sim, 0, start, end);
      if (!sim_run (sim, end, TRUE))
        {
          out->missed++;
          continue;
        }
      us = g_array_index (sim->switches, SimSwitch, 0).at_us - start;
      g_array_append_val (out->detect, us);

      if (!sim_run (sim, end + 10 * 60 * SEC, TRUE) ||
          g_array_index (sim->switches, SimSwitch, 1).to != 0)
        {
          out->missed++;
          continue;
        }
      us = g_array_index (sim->switches, SimSwitch, 1).at_us - end;
      g_array_append_val (out->failback, us);
    }

  g_array_sort (out->detect, compare_gint64);
  g_array_sort (out->failback, compare_gint64);
}

static double
pct_s (const GArray *values,
       guint         p)
{
  return values->len == 0 ? -1 : percentile (values, p) / 1e6;
}

int
main (int    argc,
      char **argv)
{
  gint years = 1;
  gint trials = 1000;
  gint seed = 1;
  const GOptionEntry entries[] = {
    { "years", 'y', 0, G_OPTION_ARG_INT, &years, "Simulated years of 25 % loss (1)", "N" },
    { "trials", 't', 0, G_OPTION_ARG_INT, &trials, "Blackhole trials (1000)", "N" },
    { "seed", 's', 0, G_OPTION_ARG_INT, &seed, "PRNG seed (1)", "N" },
    { "wait-all", 'w', 0, G_OPTION_ARG_NONE, &wait_all, "Rounds wait for every probe or the timeout", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Print every switch on stderr", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- simulate health and policy");
  g_autoptr(GError) error = NULL;
  g_autoptr(Sim) sim = NULL;
  const SimParams *p = &sim_defaults;
  Trials clean = { 0 }, lossy = { 0 };
  gint64 t0, year_us;
  double seconds, trial_seconds;
  SimUplink *primary;
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("bench-engine: %s\n", error->message);
      return 2;
    }
  if (years < 1 || trials < 1)
    {
      g_printerr ("bench-engine: --years and --trials must be at least 1\n");
      return 2;
    }

  /* a year (or more) of 25 % random loss on the primary */
  t0 = g_get_monotonic_time ();
  year_us = (gint64) years * 365 * 24 * 3600 * SEC;
  sim = sim_new ((guint32) seed, 0.25);
  sim_run (sim, year_us, FALSE);
  seconds = (g_get_monotonic_time () - t0) / 1e6;
  primary = &sim->uplinks[0];

  /* blackholes of 120 s at a random time, on a clean and a lossy primary */
  t0 = g_get_monotonic_time ();
  run_trials ((guint32) seed * 7919u, (guint) trials, 0.0, &clean);
  run_trials ((guint32) seed * 104729u, (guint) trials, 0.25, &lossy);
  trial_seconds = (g_get_monotonic_time () - t0) / 1e6;

  /* One line of JSON; numbers in the C locale whatever the environment. */
  g_print ("{\"engine_years\":%d,\"false_failovers\":%u,\"rounds\":%" G_GUINT64_FORMAT,
           years, sim->failovers, primary->rounds);
  g_print (",\"seconds\":%s", g_ascii_formatd (buf, sizeof buf, "%.2f", seconds));
  g_print (",\"false_failbacks\":%u,\"failed_rounds\":%" G_GUINT64_FORMAT
           ",\"backup_rounds\":%" G_GUINT64_FORMAT,
           sim->failbacks, primary->failed_rounds, sim->uplinks[1].rounds);
  g_print (",\"blackhole_trials\":%d", trials);
  g_print (",\"blackhole_p50_s\":%s", g_ascii_formatd (buf, sizeof buf, "%.3f", pct_s (clean.detect, 50)));
  g_print (",\"blackhole_p95_s\":%s", g_ascii_formatd (buf, sizeof buf, "%.3f", pct_s (clean.detect, 95)));
  g_print (",\"blackhole_max_s\":%s", g_ascii_formatd (buf, sizeof buf, "%.3f", pct_s (clean.detect, 100)));
  g_print (",\"blackhole_loss25_p95_s\":%s", g_ascii_formatd (buf, sizeof buf, "%.3f", pct_s (lossy.detect, 95)));
  g_print (",\"failback_after_end_p50_s\":%s", g_ascii_formatd (buf, sizeof buf, "%.3f", pct_s (clean.failback, 50)));
  g_print (",\"failback_after_end_p95_s\":%s", g_ascii_formatd (buf, sizeof buf, "%.3f", pct_s (clean.failback, 95)));
  g_print (",\"missed_trials\":%u}\n", clean.missed + lossy.missed);

  g_print ("\n");
  g_print ("Defaults: interval %" G_GINT64_FORMAT " ms, fast %" G_GINT64_FORMAT " ms, timeout %"
           G_GINT64_FORMAT " ms, %u targets, quorum %u,\n"
           "          down %u rounds, up %u rounds and %.1f s, window %u, degraded %u %%, hold %.0f s\n\n",
           p->interval_us / MS, p->fast_interval_us / MS, p->timeout_us / MS, p->targets, p->quorum,
           p->health.down_rounds, p->health.up_rounds, p->health.up_min_us / 1e6,
           p->health.window, p->health.degraded_loss, p->failback_hold_us / 1e6);

  g_print ("%-44s %16s\n", "Random loss 25 % per probe on the primary", "");
  g_print ("  %-42s %16d\n", "simulated years", years);
  g_print ("  %-42s %16" G_GUINT64_FORMAT "\n", "primary rounds", primary->rounds);
  g_print ("  %-42s %16" G_GUINT64_FORMAT "\n", "backup rounds", sim->uplinks[1].rounds);
  g_print ("  %-42s %16" G_GUINT64_FORMAT "  (%.2f %%)\n", "failed rounds (no target answered)",
           primary->failed_rounds, 100.0 * primary->failed_rounds / MAX (primary->rounds, 1));
  for (guint len = 1; len < G_N_ELEMENTS (primary->runs); len++)
    {
      g_autofree char *label = g_strdup_printf ("runs of %u%s failed rounds", len,
                                                len == G_N_ELEMENTS (primary->runs) - 1 ? "+" : "");

      g_print ("  %-42s %16" G_GUINT64_FORMAT "%s\n", label, primary->runs[len],
               len >= p->health.down_rounds ? "  (down)" : "");
    }
  g_print ("  %-42s %16u\n", "false failovers", sim->failovers);
  g_print ("  %-42s %16u\n", "failbacks", sim->failbacks);
  g_print ("  %-42s %16.2f\n", "wall-clock seconds", seconds);
  g_print ("\n");

  g_print ("%-44s %8s %8s %8s\n", "Silent blackhole of 120 s at a random time", "p50", "p95", "max");
  g_print ("  %-42s %7.3fs %7.3fs %7.3fs\n", "to failover, clean primary",
           pct_s (clean.detect, 50), pct_s (clean.detect, 95), pct_s (clean.detect, 100));
  g_print ("  %-42s %7.3fs %7.3fs %7.3fs\n", "to failover, primary at 25 % loss",
           pct_s (lossy.detect, 50), pct_s (lossy.detect, 95), pct_s (lossy.detect, 100));
  g_print ("  %-42s %7.3fs %7.3fs %7.3fs\n", "end to failback, clean primary",
           pct_s (clean.failback, 50), pct_s (clean.failback, 95), pct_s (clean.failback, 100));
  g_print ("  %-42s %7.3fs %7.3fs %7.3fs\n", "end to failback, primary at 25 % loss",
           pct_s (lossy.failback, 50), pct_s (lossy.failback, 95), pct_s (lossy.failback, 100));
  g_print ("  %-42s %8d x 2, %u missed, %.2f s\n", "trials", trials,
           clean.missed + lossy.missed, trial_seconds);

  g_array_unref (clean.detect);
  g_array_unref (clean.failback);
  g_array_unref (lossy.detect);
  g_array_unref (lossy.failback);

  return 0;
}
