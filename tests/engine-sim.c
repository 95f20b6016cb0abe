/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The simulated prober of the engine tests and benchmark: see engine-sim.h.
 */
#include "config.h"

#include "engine-sim.h"

const SimParams sim_defaults = {
  .interval_us = 500 * MS,
  .fast_interval_us = 100 * MS,
  .timeout_us = 400 * MS,
  .targets = 3,
  .quorum = 1,
  .failback_hold_us = 60 * SEC,
  .health = HEALTH_DEFAULTS,
};

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

static void
sim_log_test_message (const char *line)
{
  g_test_message ("%s", line);
}

Sim *
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
  sim->log_switch = sim_log_test_message;

  return sim;
}

void
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

void
sim_add_outage (Sim    *sim,
                guint   index,
                gint64  start_us,
                gint64  end_us)
{
  SimOutage outage = { start_us, end_us };

  g_array_append_val (sim->uplinks[index].outages, outage);
}

void
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
  gint64 max = 0;
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
      max = MAX (max, rtt);
    }

  round = &uplink->inflight[uplink->n_inflight++];
  round->answered = answered;
  round->rtt_us = answered > 0 ? sum / answered : -1;
  if (sim->wait_all)
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
      if (sim->log_switch != NULL)
        {
          g_autofree char *line = g_strdup_printf ("%.3f s: %s -> %s: %s", sim->now_us / 1e6,
                                                   sim->uplinks[from].name,
                                                   sim->uplinks[decision.active].name,
                                                   decision.reason);

          sim->log_switch (line);
        }

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

gboolean
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

int
sim_compare_gint64 (gconstpointer a,
                    gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

gint64
sim_percentile (const GArray *values,
                guint         p)
{
  guint rank = (values->len * p + 99) / 100;

  return g_array_index (values, gint64, MAX (rank, 1) - 1);
}
