/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Data used by one backup uplink, in billing cycles. Pure: no main loop, no
 * clock, no I/O but the JSON form; see pf-usage.h for the rules.
 *
 * A cycle is kept both as its bounds in µs and as the local calendar date of
 * its start, from which the per-day buckets are indexed: local dates, not
 * 24-hour slices, so a 23- or 25-hour DST day is one bucket.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-usage"

#include <string.h>

#include "pf-error.h"
#include "pf-usage.h"

#define PF_USAGE_FORMAT 1
#define PF_USAGE_MAX_PERIOD_DAYS 366
/* 9999-12-31T23:59:59Z, the last second a GDateTime can hold */
#define PF_USAGE_MAX_TIME_US (G_GINT64_CONSTANT (253402300799) * G_USEC_PER_SEC)
/* how far before the cycle's start the clock may step back and stay in it */
#define PF_USAGE_STEP_BACK_US (G_GINT64_CONSTANT (24 * 3600) * G_USEC_PER_SEC)
#define WRAP_32 (G_GUINT64_CONSTANT (1) << 32)

static const guint default_thresholds[] = { 50, 80, 95, 100 };

struct _PfUsage {
  GTimeZone *tz;
  guint      reset_day;      /* 1..31, or 0 for custom cycles */
  GDate      first_start;    /* custom cycles: the first cycle's first day */
  guint      period_days;
  guint64    plan_bytes;
  guint      thresholds[PF_USAGE_MAX_THRESHOLDS];   /* ascending, distinct */
  guint      n_thresholds;

  gboolean   has_cycle;
  gint64     start_us;
  gint64     end_us;
  GDate      start_date;     /* local date of start_us */
  GArray    *days;           /* guint64, one per local day of the cycle */
  guint64    used;
  guint64    monitoring;
  guint      reported;       /* bit i: thresholds[i] reported in this cycle */
  guint      pending;        /* bit i: reported, not yet taken */

  gboolean   has_baseline;
  gboolean   restored;       /* the baseline comes from the JSON, no sample yet */
  guint      base_ifindex;
  guint64    base_rx;
  guint64    base_tx;

  GArray    *history;        /* PfUsageCycle, oldest first */
};

static gboolean
time_valid (gint64 time_us)
{
  return time_us >= 0 && time_us <= PF_USAGE_MAX_TIME_US;
}

static void
local_date (const PfUsage *usage,
            gint64         time_us,
            GDate         *date)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = g_date_time_to_timezone (utc, usage->tz);
  gint year, month, day;

  g_date_time_get_ymd (local, &year, &month, &day);
  g_date_clear (date, 1);
  g_date_set_dmy (date, day, month, year);
}

/* 00:00 local on @date (moved forward by GLib where midnight does not exist). */
static gint64
midnight_us (const PfUsage *usage,
             const GDate   *date)
{
  g_autoptr(GDateTime) local = g_date_time_new (usage->tz,
                                                g_date_get_year (date),
                                                g_date_get_month (date),
                                                g_date_get_day (date),
                                                0, 0, 0);

  return g_date_time_to_unix (local) * G_USEC_PER_SEC;
}

static gint64
days_between (const GDate *from,
              const GDate *to)
{
  return (gint64) g_date_get_julian (to) - (gint64) g_date_get_julian (from);
}

static void
add_days (GDate  *date,
          gint64  n)
{
  if (n >= 0)
    g_date_add_days (date, (guint) n);
  else
    g_date_subtract_days (date, (guint) -n);
}

/* The reset day of a month, or its last day when it is shorter. */
static void
monthly_start (const PfUsage *usage,
               GDateYear      year,
               GDateMonth     month,
               GDate         *date)
{
  guint8 last = g_date_get_days_in_month (month, year);

  g_date_clear (date, 1);
  g_date_set_dmy (date, MIN (usage->reset_day, last), month, year);
}

static void
next_month (GDateYear  *year,
            GDateMonth *month,
            gint        step)
{
  gint index = (gint) *year * 12 + (gint) *month - 1 + step;

  *year = index / 12;
  *month = index % 12 + 1;
}

/* The first and the day after the last local day of the cycle holding @today. */
static void
cycle_dates (const PfUsage *usage,
             const GDate   *today,
             GDate         *start,
             GDate         *end)
{
  if (usage->reset_day != 0)
    {
      GDateYear year = g_date_get_year (today);
      GDateMonth month = g_date_get_month (today);

      monthly_start (usage, year, month, start);
      if (g_date_compare (today, start) < 0)
        {
          next_month (&year, &month, -1);
          monthly_start (usage, year, month, start);
        }
      next_month (&year, &month, 1);
      monthly_start (usage, year, month, end);
    }
  else
    {
      gint64 period = usage->period_days;
      gint64 diff = days_between (&usage->first_start, today);
      gint64 k = diff >= 0 ? diff / period : -((-diff + period - 1) / period);

      *start = usage->first_start;
      add_days (start, k * period);
      *end = *start;
      g_date_add_days (end, usage->period_days);
    }
}

static guint
cycle_n_days (const PfUsage *usage)
{
  GDate end;

  local_date (usage, usage->end_us, &end);
  return (guint) CLAMP (days_between (&usage->start_date, &end), 1, PF_USAGE_MAX_PERIOD_DAYS);
}

/* Set the bounds; the per-day buckets start empty. */
static void
set_cycle (PfUsage *usage,
           gint64   start_us,
           gint64   end_us)
{
  usage->has_cycle = TRUE;
  usage->start_us = start_us;
  usage->end_us = end_us;
  local_date (usage, start_us, &usage->start_date);
  g_array_set_size (usage->days, 0);
  g_array_set_size (usage->days, cycle_n_days (usage));
}

static guint
day_index (const PfUsage *usage,
           const GDate   *date)
{
  gint64 index = days_between (&usage->start_date, date);

  return (guint) CLAMP (index, 0, (gint64) usage->days->len - 1);
}

static void
clear_counts (PfUsage *usage)
{
  usage->used = 0;
  usage->monitoring = 0;
  usage->reported = 0;
  usage->pending = 0;
  memset (usage->days->data, 0, sizeof (guint64) * usage->days->len);
}

static void
push_history (PfUsage *usage)
{
  PfUsageCycle cycle = {
    .start_us = usage->start_us,
    .end_us = usage->end_us,
    .used = usage->used,
    .monitoring = MIN (usage->monitoring, usage->used),
  };

  g_array_append_val (usage->history, cycle);
  if (usage->history->len > PF_USAGE_MAX_HISTORY)
    g_array_remove_range (usage->history, 0, usage->history->len - PF_USAGE_MAX_HISTORY);
}

/* Move the cycle to other bounds keeping its counts; each day's bytes go to
 * the same date in the new cycle, or to its nearest day. */
static void
move_cycle (PfUsage *usage,
            gint64   start_us,
            gint64   end_us)
{
  g_autoptr(GArray) old_days = g_array_copy (usage->days);
  GDate old_start = usage->start_date;

  set_cycle (usage, start_us, end_us);
  for (guint i = 0; i < old_days->len; i++)
    {
      GDate date = old_start;

      g_date_add_days (&date, i);
      g_array_index (usage->days, guint64, day_index (usage, &date)) +=
        g_array_index (old_days, guint64, i);
    }
}

/* pf_usage_update(), giving the local date of @now_us. */
static gboolean
advance (PfUsage *usage,
         gint64   now_us,
         GDate   *today)
{
  GDate start, end;
  gint64 start_us, end_us;

  local_date (usage, now_us, today);
  cycle_dates (usage, today, &start, &end);
  start_us = midnight_us (usage, &start);
  end_us = midnight_us (usage, &end);

  if (!usage->has_cycle)
    {
      set_cycle (usage, start_us, end_us);
      return FALSE;
    }
  if (start_us == usage->start_us && end_us == usage->end_us)
    return FALSE;
  if (now_us >= usage->end_us)
    {
      push_history (usage);
      set_cycle (usage, start_us, end_us);
      clear_counts (usage);
      return TRUE;
    }
  /* the clock stepped back a little: stay */
  if (now_us < usage->start_us && usage->start_us - now_us <= PF_USAGE_STEP_BACK_US)
    return FALSE;
  move_cycle (usage, start_us, end_us);
  return FALSE;
}

/* Bytes for @percent of the plan, rounded up: used >= it iff
 * used * 100 >= plan * percent, without overflow. */
static guint64
threshold_bytes (guint64 plan_bytes,
                 guint   percent)
{
  return plan_bytes / 100 * percent + (plan_bytes % 100 * percent + 99) / 100;
}

/* Report the thresholds reached and not yet reported; with @rearm, forget
 * those above the total. */
static void
judge_thresholds (PfUsage  *usage,
                  gboolean  rearm)
{
  if (usage->plan_bytes == 0)
    return;

  for (guint i = 0; i < usage->n_thresholds; i++)
    {
      guint bit = 1u << i;

      if (usage->used >= threshold_bytes (usage->plan_bytes, usage->thresholds[i]))
        {
          if ((usage->reported & bit) == 0)
            usage->pending |= bit;
          usage->reported |= bit;
        }
      else if (rearm)
        {
          usage->reported &= ~bit;
          usage->pending &= ~bit;
        }
    }
}

gboolean
pf_usage_plan_check (const PfUsagePlan  *plan,
                     GError            **error)
{
  g_return_val_if_fail (plan != NULL, FALSE);

  if (plan->start == NULL && (plan->reset_day < 1 || plan->reset_day > 31))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "Reset day %u is not between 1 and 31", plan->reset_day);
      return FALSE;
    }
  if (plan->start != NULL &&
      (plan->period_days < 1 || plan->period_days > PF_USAGE_MAX_PERIOD_DAYS))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "Period of %u days is not between 1 and %u",
                   plan->period_days, PF_USAGE_MAX_PERIOD_DAYS);
      return FALSE;
    }
  if (plan->n_thresholds > PF_USAGE_MAX_THRESHOLDS)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "%u thresholds, at most %u", plan->n_thresholds, PF_USAGE_MAX_THRESHOLDS);
      return FALSE;
    }
  for (guint i = 0; i < plan->n_thresholds; i++)
    if (plan->thresholds[i] < 1 || plan->thresholds[i] > 100)
      {
        g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                     "Threshold %u %% is not between 1 and 100", plan->thresholds[i]);
        return FALSE;
      }
  return TRUE;
}

/* Insert @percent in the ascending list, once. */
static void
add_threshold (PfUsage *usage,
               guint    percent)
{
  guint i = 0;

  while (i < usage->n_thresholds && usage->thresholds[i] < percent)
    i++;
  if (i < usage->n_thresholds && usage->thresholds[i] == percent)
    return;
  memmove (&usage->thresholds[i + 1], &usage->thresholds[i],
           sizeof (guint) * (usage->n_thresholds - i));
  usage->thresholds[i] = percent;
  usage->n_thresholds++;
}

PfUsage *
pf_usage_new (const PfUsagePlan *plan,
              GTimeZone         *tz)
{
  PfUsage *usage;
  const guint *thresholds;
  guint n_thresholds;

  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (tz != NULL, NULL);
  g_return_val_if_fail (pf_usage_plan_check (plan, NULL), NULL);

  usage = g_new0 (PfUsage, 1);
  usage->tz = g_time_zone_ref (tz);
  usage->plan_bytes = plan->plan_bytes;
  g_date_clear (&usage->first_start, 1);
  g_date_clear (&usage->start_date, 1);
  if (plan->start != NULL)
    {
      gint year, month, day;

      g_date_time_get_ymd (plan->start, &year, &month, &day);
      g_date_set_dmy (&usage->first_start, day, month, year);
      usage->period_days = plan->period_days;
    }
  else
    {
      usage->reset_day = plan->reset_day;
    }

  thresholds = plan->thresholds;
  n_thresholds = plan->n_thresholds;
  if (n_thresholds == 0)
    {
      thresholds = default_thresholds;
      n_thresholds = G_N_ELEMENTS (default_thresholds);
    }
  for (guint i = 0; i < n_thresholds; i++)
    add_threshold (usage, thresholds[i]);

  usage->days = g_array_new (FALSE, TRUE, sizeof (guint64));
  usage->history = g_array_new (FALSE, TRUE, sizeof (PfUsageCycle));
  return usage;
}

void
pf_usage_free (PfUsage *usage)
{
  if (usage == NULL)
    return;

  g_time_zone_unref (usage->tz);
  g_array_unref (usage->days);
  g_array_unref (usage->history);
  g_free (usage);
}

gboolean
pf_usage_update (PfUsage *usage,
                 gint64   now_us)
{
  GDate today;

  g_return_val_if_fail (usage != NULL, FALSE);
  g_return_val_if_fail (time_valid (now_us), FALSE);

  return advance (usage, now_us, &today);
}

/* What one counter counted since @old, see pf-usage.h. */
static guint64
counter_delta (guint64 old,
               guint64 now)
{
  if (now >= old)
    return now - old;
  if (old < WRAP_32 && WRAP_32 - old + now < WRAP_32 / 2)
    return WRAP_32 - old + now;
  return now;
}

guint64
pf_usage_sample (PfUsage *usage,
                 gint64   now_us,
                 guint    ifindex,
                 guint64  rx_bytes,
                 guint64  tx_bytes)
{
  GDate today;
  guint64 delta = 0;

  g_return_val_if_fail (usage != NULL, 0);
  g_return_val_if_fail (time_valid (now_us), 0);

  advance (usage, now_us, &today);

  if (!usage->has_baseline)
    {
      /* no baseline: this sample is one */
    }
  else if (usage->restored)
    {
      /* after a restart, only counters that went on from the saved ones */
      if (ifindex == usage->base_ifindex &&
          rx_bytes >= usage->base_rx && tx_bytes >= usage->base_tx)
        delta = (rx_bytes - usage->base_rx) + (tx_bytes - usage->base_tx);
    }
  else if (ifindex != usage->base_ifindex)
    {
      /* re-created: its counters started at 0 */
      delta = rx_bytes + tx_bytes;
    }
  else
    {
      delta = counter_delta (usage->base_rx, rx_bytes) + counter_delta (usage->base_tx, tx_bytes);
    }

  usage->has_baseline = TRUE;
  usage->restored = FALSE;
  usage->base_ifindex = ifindex;
  usage->base_rx = rx_bytes;
  usage->base_tx = tx_bytes;

  if (delta > 0)
    {
      usage->used += delta;
      g_array_index (usage->days, guint64, day_index (usage, &today)) += delta;
      judge_thresholds (usage, FALSE);
    }
  return delta;
}

void
pf_usage_add_monitoring (PfUsage *usage,
                         gint64   now_us,
                         guint64  bytes)
{
  GDate today;

  g_return_if_fail (usage != NULL);
  g_return_if_fail (time_valid (now_us));

  advance (usage, now_us, &today);
  usage->monitoring += bytes;
}

void
pf_usage_set_used (PfUsage *usage,
                   gint64   now_us,
                   guint64  bytes)
{
  GDate today;

  g_return_if_fail (usage != NULL);
  g_return_if_fail (time_valid (now_us));

  advance (usage, now_us, &today);
  usage->used = bytes;
  judge_thresholds (usage, TRUE);
}

void
pf_usage_reset (PfUsage *usage,
                gint64   now_us)
{
  GDate today;

  g_return_if_fail (usage != NULL);
  g_return_if_fail (time_valid (now_us));

  advance (usage, now_us, &today);
  clear_counts (usage);
}

guint
pf_usage_take_crossed (PfUsage *usage)
{
  guint percent = 0;

  g_return_val_if_fail (usage != NULL, 0);

  for (guint i = 0; i < usage->n_thresholds; i++)
    if (usage->pending & (1u << i))
      percent = usage->thresholds[i];
  usage->pending = 0;
  return percent;
}

guint64
pf_usage_get_used (const PfUsage *usage)
{
  g_return_val_if_fail (usage != NULL, 0);
  return usage->used;
}

guint64
pf_usage_get_monitoring (const PfUsage *usage)
{
  g_return_val_if_fail (usage != NULL, 0);
  return MIN (usage->monitoring, usage->used);
}

gint64
pf_usage_get_cycle_start (const PfUsage *usage)
{
  g_return_val_if_fail (usage != NULL, 0);
  return usage->has_cycle ? usage->start_us : 0;
}

gint64
pf_usage_get_cycle_end (const PfUsage *usage)
{
  g_return_val_if_fail (usage != NULL, 0);
  return usage->has_cycle ? usage->end_us : 0;
}

double
pf_usage_get_percent (const PfUsage *usage)
{
  g_return_val_if_fail (usage != NULL, -1);

  if (usage->plan_bytes == 0)
    return -1;
  return 100.0 * (double) usage->used / (double) usage->plan_bytes;
}

void
pf_usage_add_reported_json (const PfUsage *usage,
                            JsonBuilder   *builder)
{
  g_return_if_fail (usage != NULL);

  json_builder_set_member_name (builder, "reported");
  json_builder_begin_array (builder);
  for (guint i = 0; i < usage->n_thresholds; i++)
    if (usage->reported & (1u << i))
      json_builder_add_int_value (builder, usage->thresholds[i]);
  json_builder_end_array (builder);
}

gboolean
pf_usage_is_capped (const PfUsage *usage)
{
  g_return_val_if_fail (usage != NULL, FALSE);
  return usage->plan_bytes > 0 && usage->used >= usage->plan_bytes;
}

const guint64 *
pf_usage_get_days (const PfUsage *usage,
                   guint         *n_days)
{
  g_return_val_if_fail (usage != NULL, NULL);
  g_return_val_if_fail (n_days != NULL, NULL);

  *n_days = usage->days->len;
  return (const guint64 *) usage->days->data;
}

const PfUsageCycle *
pf_usage_get_history (const PfUsage *usage,
                      guint         *n_cycles)
{
  g_return_val_if_fail (usage != NULL, NULL);
  g_return_val_if_fail (n_cycles != NULL, NULL);

  *n_cycles = usage->history->len;
  return (const PfUsageCycle *) usage->history->data;
}

guint64
pf_usage_projected (const PfUsage *usage,
                    gint64         now_us)
{
  gint64 elapsed;
  double projected;

  g_return_val_if_fail (usage != NULL, 0);

  if (!usage->has_cycle)
    return usage->used;
  elapsed = CLAMP (now_us, usage->start_us, usage->end_us) - usage->start_us;
  if (elapsed == 0)
    return usage->used;
  projected = (double) usage->used * (double) (usage->end_us - usage->start_us) / (double) elapsed;
  if (projected >= (double) G_MAXUINT64)
    return G_MAXUINT64;
  return (guint64) projected;
}

/* JSON */

static void
add_member_int (JsonBuilder *builder,
                const char  *name,
                guint64      value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, (gint64) MIN (value, (guint64) G_MAXINT64));
}

void
pf_usage_to_json (const PfUsage *usage,
                  JsonBuilder   *builder)
{
  g_return_if_fail (usage != NULL);
  g_return_if_fail (JSON_IS_BUILDER (builder));

  json_builder_begin_object (builder);
  add_member_int (builder, "format", PF_USAGE_FORMAT);
  add_member_int (builder, "cycle_start", pf_usage_get_cycle_start (usage));
  add_member_int (builder, "cycle_end", pf_usage_get_cycle_end (usage));
  add_member_int (builder, "used", usage->used);
  add_member_int (builder, "monitoring", usage->monitoring);

  json_builder_set_member_name (builder, "days");
  json_builder_begin_array (builder);
  for (guint i = 0; i < usage->days->len; i++)
    json_builder_add_int_value (builder, g_array_index (usage->days, guint64, i));
  json_builder_end_array (builder);

  pf_usage_add_reported_json (usage, builder);

  json_builder_set_member_name (builder, "baseline");
  if (usage->has_baseline)
    {
      json_builder_begin_object (builder);
      add_member_int (builder, "ifindex", usage->base_ifindex);
      add_member_int (builder, "rx", usage->base_rx);
      add_member_int (builder, "tx", usage->base_tx);
      json_builder_end_object (builder);
    }
  else
    {
      json_builder_add_null_value (builder);
    }

  json_builder_set_member_name (builder, "history");
  json_builder_begin_array (builder);
  for (guint i = 0; i < usage->history->len; i++)
    {
      const PfUsageCycle *cycle = &g_array_index (usage->history, PfUsageCycle, i);

      json_builder_begin_object (builder);
      add_member_int (builder, "start", cycle->start_us);
      add_member_int (builder, "end", cycle->end_us);
      add_member_int (builder, "used", cycle->used);
      add_member_int (builder, "monitoring", cycle->monitoring);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
}

static gboolean
node_uint (JsonNode    *node,
           const char  *what,
           guint64      max,
           guint64     *value,
           GError     **error)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64 ||
      json_node_get_int (node) < 0 || (guint64) json_node_get_int (node) > max)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_FAILED,
                   "%s is not an integer between 0 and %" G_GUINT64_FORMAT, what, max);
      return FALSE;
    }
  *value = (guint64) json_node_get_int (node);
  return TRUE;
}

static gboolean
member_uint (JsonObject  *object,
             const char  *name,
             guint64      max,
             guint64     *value,
             GError     **error)
{
  g_autofree char *what = g_strdup_printf ("\"%s\"", name);

  return node_uint (json_object_get_member (object, name), what, max, value, error);
}

static gboolean
member_time (JsonObject  *object,
             const char  *name,
             gint64      *value,
             GError     **error)
{
  guint64 time_us;

  if (!member_uint (object, name, PF_USAGE_MAX_TIME_US, &time_us, error))
    return FALSE;
  *value = (gint64) time_us;
  return TRUE;
}

typedef gboolean (*LoadElement) (PfUsage   *usage,
                                 guint      index,
                                 JsonNode  *node,
                                 GError   **error);

/* Each element of the array member @name; an error when it is not an array. */
static gboolean
load_array (PfUsage      *usage,
            JsonObject   *object,
            const char   *name,
            LoadElement   load,
            GError      **error)
{
  JsonNode *node = json_object_get_member (object, name);
  JsonArray *array;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_FAILED, "\"%s\" is not an array", name);
      return FALSE;
    }
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    if (!load (usage, i, json_array_get_element (array, i), error))
      return FALSE;
  return TRUE;
}

static gboolean
check_bounds (gint64       start_us,
              gint64       end_us,
              const char  *what,
              GError     **error)
{
  if (end_us <= start_us)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_FAILED,
                   "%s ends (%" G_GINT64_FORMAT ") before it starts (%" G_GINT64_FORMAT ")",
                   what, end_us, start_us);
      return FALSE;
    }
  return TRUE;
}

static gboolean
load_day (PfUsage   *usage,
          guint      index,
          JsonNode  *node,
          GError   **error)
{
  guint64 bytes;

  if (!usage->has_cycle)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_FAILED, "\"days\" without a cycle");
      return FALSE;
    }
  if (!node_uint (node, "A day", G_MAXINT64, &bytes, error))
    return FALSE;
  /* more days than the cycle has (another time zone) go to its last one */
  g_array_index (usage->days, guint64, MIN (index, usage->days->len - 1)) += bytes;
  return TRUE;
}

static gboolean
load_cycle (PfUsage     *usage,
            JsonObject  *root,
            GError     **error)
{
  gint64 start_us, end_us;

  if (!member_time (root, "cycle_start", &start_us, error) ||
      !member_time (root, "cycle_end", &end_us, error) ||
      !member_uint (root, "used", G_MAXINT64, &usage->used, error) ||
      !member_uint (root, "monitoring", G_MAXINT64, &usage->monitoring, error))
    return FALSE;
  if (start_us != 0 || end_us != 0)
    {
      if (!check_bounds (start_us, end_us, "The cycle", error))
        return FALSE;
      set_cycle (usage, start_us, end_us);
    }
  return load_array (usage, root, "days", load_day, error);
}

static gboolean
load_reported (PfUsage   *usage,
               guint      index,
               JsonNode  *node,
               GError   **error)
{
  guint64 percent;

  if (!node_uint (node, "A reported threshold", 100, &percent, error))
    return FALSE;
  /* thresholds no longer configured are forgotten */
  for (guint i = 0; i < usage->n_thresholds; i++)
    if (usage->thresholds[i] == percent)
      usage->reported |= 1u << i;
  return TRUE;
}

static gboolean
load_baseline (PfUsage     *usage,
               JsonObject  *root,
               GError     **error)
{
  JsonNode *node = json_object_get_member (root, "baseline");
  JsonObject *baseline;
  guint64 ifindex;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_FAILED, "\"baseline\" is not an object");
      return FALSE;
    }
  baseline = json_node_get_object (node);
  if (!member_uint (baseline, "ifindex", G_MAXUINT, &ifindex, error) ||
      !member_uint (baseline, "rx", G_MAXINT64, &usage->base_rx, error) ||
      !member_uint (baseline, "tx", G_MAXINT64, &usage->base_tx, error))
    {
      g_prefix_error (error, "Baseline: ");
      return FALSE;
    }
  usage->base_ifindex = (guint) ifindex;
  usage->has_baseline = TRUE;
  usage->restored = TRUE;
  return TRUE;
}

static gboolean
load_past_cycle (PfUsage   *usage,
                 guint      index,
                 JsonNode  *node,
                 GError   **error)
{
  JsonObject *object;
  PfUsageCycle cycle;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_FAILED, "History entry %u is not an object", index);
      return FALSE;
    }
  object = json_node_get_object (node);
  if (!member_time (object, "start", &cycle.start_us, error) ||
      !member_time (object, "end", &cycle.end_us, error) ||
      !member_uint (object, "used", G_MAXINT64, &cycle.used, error) ||
      !member_uint (object, "monitoring", G_MAXINT64, &cycle.monitoring, error) ||
      !check_bounds (cycle.start_us, cycle.end_us, "The cycle", error))
    {
      g_prefix_error (error, "History entry %u: ", index);
      return FALSE;
    }
  g_array_append_val (usage->history, cycle);
  if (usage->history->len > PF_USAGE_MAX_HISTORY)
    g_array_remove_index (usage->history, 0);
  return TRUE;
}

PfUsage *
pf_usage_new_from_json (const PfUsagePlan  *plan,
                        GTimeZone          *tz,
                        JsonNode           *node,
                        GError            **error)
{
  g_autoptr(PfUsage) usage = NULL;
  JsonObject *root;
  guint64 format;

  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (tz != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!pf_usage_plan_check (plan, error))
    return NULL;
  usage = pf_usage_new (plan, tz);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_FAILED, "Usage state: not a JSON object");
      return NULL;
    }
  root = json_node_get_object (node);
  if (!member_uint (root, "format", G_MAXINT64, &format, error))
    {
      g_prefix_error (error, "Usage state: ");
      return NULL;
    }
  if (format != PF_USAGE_FORMAT)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_FAILED,
                   "Usage state: unknown format %" G_GUINT64_FORMAT, format);
      return NULL;
    }
  if (!load_cycle (usage, root, error) ||
      !load_array (usage, root, "reported", load_reported, error) ||
      !load_baseline (usage, root, error) ||
      !load_array (usage, root, "history", load_past_cycle, error))
    {
      g_prefix_error (error, "Usage state: ");
      return NULL;
    }
  return g_steal_pointer (&usage);
}
