/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Data used by one backup uplink, in billing cycles: a pure module, no main
 * loop, no I/O but its JSON form; every wall-clock time comes in as an
 * argument (µs since the epoch) and cycles follow the local time of the
 * GTimeZone given to the constructor.
 *
 * The daemon samples the kernel counters (rx_bytes, tx_bytes) of the uplink's
 * IP interface every few seconds and passes them with the interface's ifindex
 * to pf_usage_sample(). Deltas are accumulated across:
 *  - a counter reset (a counter lower than before, not a 32-bit wrap): the new
 *    value counts, as the interface restarted counting from 0;
 *  - a 32-bit wrap (previous value < 2^32, new value lower and
 *    2^32 - previous + new < 2^31): the wrapped difference counts;
 *  - a re-created interface (another ifindex): its counters started at 0 and
 *    count fully;
 *  - a daemon restart: the first sample after pf_usage_new() only sets the
 *    baseline; the first one after pf_usage_new_from_json() counts the
 *    difference from the saved baseline when the ifindex is the same and both
 *    counters are at least the saved ones (nothing lost, even what happened
 *    after the last save), and otherwise (a reboot: another ifindex or lower
 *    counters) only sets the baseline.
 * Each of rx and tx is judged on its own; the total is their sum.
 *
 * ModemManager bearer totals (Bearer.Stats, where the modem gives them)
 * would be another source of the same deltas; they are not used: the
 * interface counters exist for every modem kind, HiLink sticks included.
 *
 * Monitoring traffic (the daemon's probes and standby tests over the uplink)
 * is also in the interface counters; pf_usage_add_monitoring() records how
 * much of the total it was. It never adds to the total.
 *
 * Cycles start at 00:00 local time, either monthly on a reset day (the last
 * day of a shorter month when the month has no such day: day 31 gives Feb 28
 * or 29 and Apr 30) or every period_days days from a start date (prepaid
 * plans). A cycle is [start, end): its length in hours follows DST.
 *
 * Every call that takes a time first brings the cycle up to date (see
 * pf_usage_update()). When the time is past the current cycle's end, that
 * cycle goes to the history and the counts start again at 0: the delta of the
 * sample that crosses a boundary counts in the new cycle (it cannot be
 * split), and cycles skipped while the daemon was not running leave no entry.
 * A time at most a day before the cycle's start (the wall clock stepped back
 * a little) stays in the current cycle, in its first day. When the time is
 * further back (the cycle was started on a wrong clock) or within the cycle
 * but the plan gives it other bounds (a new reset day), the cycle is moved to
 * the one that holds the time, its counts kept and each day's bytes moved to
 * the same date (or the nearest day of the new cycle).
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define PF_USAGE_MAX_THRESHOLDS 8
#define PF_USAGE_MAX_HISTORY    24

typedef struct {
  /* Monthly cycles, when start is NULL: the day of the month (1..31). */
  guint      reset_day;
  /* Custom cycles: the first cycle starts at 00:00 local on the calendar day
   * of @start (g_date_time_get_ymd() in its own time zone; its time of day is
   * ignored) and each lasts period_days (1..366) local days. Borrowed: the
   * constructors keep the date only. */
  GDateTime *start;
  guint      period_days;
  /* The plan's size; 0: unknown or unlimited (no percent, no thresholds,
   * never capped). */
  guint64    plan_bytes;
  /* Alert thresholds in percent of plan_bytes (1..100, any order, duplicates
   * ignored); n_thresholds 0 gives the defaults 50, 80, 95, 100. */
  guint      thresholds[PF_USAGE_MAX_THRESHOLDS];
  guint      n_thresholds;
} PfUsagePlan;

/* A finished cycle, as kept in the history. */
typedef struct {
  gint64  start_us;
  gint64  end_us;
  guint64 used;        /* bytes, monitoring included */
  guint64 monitoring;  /* bytes, the part of @used that was monitoring */
} PfUsageCycle;

typedef struct _PfUsage PfUsage;

/* FALSE with PF_ERROR_INVALID_CONFIG when @plan is not usable (reset day or
 * period out of range, too many thresholds or one out of range). */
gboolean       pf_usage_plan_check      (const PfUsagePlan  *plan,
                                         GError            **error);

/* No cycle and no baseline until the first call that passes a time. @plan must
 * pass pf_usage_plan_check(); @tz is referenced. */
PfUsage       *pf_usage_new             (const PfUsagePlan *plan,
                                         GTimeZone         *tz);
void           pf_usage_free            (PfUsage *usage);

/* Bring the cycle up to date with @now_us (see above); no sample needed, e.g.
 * while the uplink's interface is absent. Returns TRUE when a cycle ended
 * (went to the history). */
gboolean       pf_usage_update          (PfUsage *usage,
                                         gint64   now_us);

/* One reading of the interface counters. The bytes counted go to the cycle
 * and to the bucket of the local day of @now_us. Returns the bytes counted by
 * this sample (0 when it only set the baseline). */
guint64        pf_usage_sample          (PfUsage *usage,
                                         gint64   now_us,
                                         guint    ifindex,
                                         guint64  rx_bytes,
                                         guint64  tx_bytes);

/* @bytes of the traffic counted (or about to be counted) by the samples were
 * monitoring. */
void           pf_usage_add_monitoring  (PfUsage *usage,
                                         gint64   now_us,
                                         guint64  bytes);

/* Manual correction: the current cycle's total is @bytes (what the carrier
 * says). Thresholds at or below it not yet reported become reported (see
 * pf_usage_take_crossed()); those above it are re-armed. The per-day buckets
 * stay as measured. */
void           pf_usage_set_used        (PfUsage *usage,
                                         gint64   now_us,
                                         guint64  bytes);

/* Start the current cycle's count again at 0: total, monitoring and per-day
 * buckets; every threshold re-armed. The baseline is kept. */
void           pf_usage_reset           (PfUsage *usage,
                                         gint64   now_us);

/* The highest threshold (percent) newly crossed since the last call, 0 if
 * none; then forgets them. A threshold is reported once per cycle: when one
 * sample jumps over several, only the highest is returned and the lower ones
 * are not reported later. A new cycle forgets what was not taken. */
guint          pf_usage_take_crossed    (PfUsage *usage);

guint64        pf_usage_get_used        (const PfUsage *usage);
/* Never more than pf_usage_get_used(). */
guint64        pf_usage_get_monitoring  (const PfUsage *usage);
/* The current cycle's bounds, [start, end), µs; both 0 before the first time. */
gint64         pf_usage_get_cycle_start (const PfUsage *usage);
gint64         pf_usage_get_cycle_end   (const PfUsage *usage);
/* Used in percent of the plan (may exceed 100), -1 without a plan size. */
double         pf_usage_get_percent     (const PfUsage *usage);
/* The member "reported": [percent, ...] of @builder's current object, the
 * thresholds already reported in this cycle (as in pf_usage_to_json()). */
void           pf_usage_add_reported_json (const PfUsage *usage,
                                           JsonBuilder   *builder);
/* TRUE when a plan size is set and used reached it; what to do (notify,
 * restrict, block) is the daemon's business. */
gboolean       pf_usage_is_capped       (const PfUsage *usage);
/* Bytes counted per local day of the current cycle, one entry per day of the
 * WHOLE cycle (28..31 for monthly cycles, period_days for custom ones), day 0
 * being the cycle's first day; days still to come are 0. *n_days is 0 before
 * the first time. Owned by @usage, valid until the next call that changes it. */
const guint64 *pf_usage_get_days        (const PfUsage *usage,
                                         guint         *n_days);
/* Finished cycles, oldest first, at most PF_USAGE_MAX_HISTORY. Owned by @usage. */
const PfUsageCycle *pf_usage_get_history (const PfUsage *usage,
                                          guint         *n_cycles);

/* The cycle's total at this pace: used divided by the elapsed fraction of the
 * cycle (@now_us clamped to the cycle; nothing elapsed gives used). Does not
 * move the cycle. */
guint64        pf_usage_projected       (const PfUsage *usage,
                                         gint64         now_us);

/* One JSON object (times in µs since the epoch, bytes as integers):
 *   {
 *     "format": 1,
 *     "cycle_start": 1772319600000000, "cycle_end": 1774994400000000,
 *                                   (both 0: no cycle yet)
 *     "used": 123456, "monitoring": 789,
 *     "days": [ 1000, 0, ... ],     (one per day of the cycle)
 *     "reported": [ 50, 80 ],       (thresholds already reported this cycle)
 *     "baseline": { "ifindex": 7, "rx": 1000, "tx": 2000 },   (or null)
 *     "history": [ { "start": µs, "end": µs, "used": n, "monitoring": n }, ... ]
 *   }
 */
void           pf_usage_to_json         (const PfUsage *usage,
                                         JsonBuilder   *builder);

/* The counterpart of pf_usage_to_json() under @plan (which may have changed
 * since). A node that is not such an object gives NULL and an error (the
 * caller warns and starts afresh with pf_usage_new()). */
PfUsage       *pf_usage_new_from_json   (const PfUsagePlan  *plan,
                                         GTimeZone          *tz,
                                         JsonNode           *node,
                                         GError            **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfUsage, pf_usage_free)

G_END_DECLS
