/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Health and policy together, driven by a simulated prober with a seeded
 * PRNG; shared by tests/test-engine.c and tests/bench-engine.c.
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
#pragma once

#include "pf-health.h"
#include "pf-policy.h"

#include "health-defaults.h"

#define MAX_INFLIGHT 16

/* The prober's and the policy's parameters. */
typedef struct {
  gint64 interval_us;
  gint64 fast_interval_us;
  gint64 timeout_us;
  guint  targets;
  guint  quorum;
  gint64 failback_hold_us;
  PfHealthParams health;
} SimParams;

/* The documented defaults. */
extern const SimParams sim_defaults;

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

/* Told of each switch, as one line without a newline. */
typedef void (*SimLogFunc) (const char *line);

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

  /* A round waits for every probe (finishing at the timeout when one is
   * lost) instead of finishing at its answers. FALSE unless set. */
  gboolean   wait_all;
  /* g_test_message() unless set; NULL for silence. */
  SimLogFunc log_switch;
} Sim;

/* Primary with @primary_loss, backup healthy; both probed from 0. */
Sim      *sim_new            (guint32 seed,
                              double  primary_loss);
void      sim_free           (Sim *sim);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Sim, sim_free)

void      sim_add_outage     (Sim    *sim,
                              guint   index,
                              gint64  start_us,
                              gint64  end_us);
/* A cold backup: idle (unknown, not probed) until it is made active, then
 * probed once its connection is up @bring_up_us later. */
void      sim_make_cold      (Sim    *sim,
                              guint   index,
                              gint64  bring_up_us);

/* Runs until @until_us, or until the first switch when @stop_on_switch.
 * Returns whether it stopped on a switch. */
gboolean  sim_run            (Sim      *sim,
                              gint64    until_us,
                              gboolean  stop_on_switch);

/* For g_array_sort() of gint64 values. */
int       sim_compare_gint64 (gconstpointer a,
                              gconstpointer b);
/* Nearest-rank percentile of sorted @values (gint64). */
gint64    sim_percentile     (const GArray *values,
                              guint         p);
