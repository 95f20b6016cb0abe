/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Benchmark of health and policy together (not a test): a simulated year of
 * a primary losing 25 % of its probes at random, with the documented
 * defaults, counting the false failovers; then the time from a silent
 * blackhole to the failover, and from its end to the failback, over many
 * trials. Prints one line of JSON, then a table.
 *
 * The simulated prober is tests/engine-sim.c (see engine-sim.h), shared
 * with tests/test-engine.c, with the schedule of src/pf-prober.c: rounds
 * every interval, or every fast interval after a failed round, overlapping;
 * a round finishes at start + RTT when answered, else at start + timeout;
 * each probe lost independently.
 *
 *   bench-engine [--years N] [--trials N] [--seed N] [--wait-all] [--verbose]
 */
#include "config.h"

#include "engine-sim.h"

static gboolean verbose;
/* Sim.wait_all for every simulation. */
static gboolean wait_all;

static void
print_switch (const char *line)
{
  g_printerr ("%s\n", line);
}

/* sim_new() with the options of the command line. */
static Sim *
bench_sim_new (guint32 seed,
               double  primary_loss)
{
  Sim *sim = sim_new (seed, primary_loss);

  sim->wait_all = wait_all;
  sim->log_switch = verbose ? print_switch : NULL;

  return sim;
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
      g_autoptr(Sim) sim = bench_sim_new (seed + 1 + trial, loss);
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

  g_array_sort (out->detect, sim_compare_gint64);
  g_array_sort (out->failback, sim_compare_gint64);
}

static double
pct_s (const GArray *values,
       guint         p)
{
  return values->len == 0 ? -1 : sim_percentile (values, p) / 1e6;
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
  sim = bench_sim_new ((guint32) seed, 0.25);
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
