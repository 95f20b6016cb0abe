/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "pf-error.h"
#include "pf-usage.h"

#define HOUR_US (G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)
#define DAY_US  (24 * HOUR_US)
#define WRAP_32 (G_GUINT64_CONSTANT (1) << 32)

typedef struct {
  GTimeZone *paris;
  GTimeZone *utc;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->paris = g_time_zone_new_identifier ("Europe/Paris");
  g_assert_nonnull (f->paris);
  f->utc = g_time_zone_new_utc ();
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_time_zone_unref (f->paris);
  g_time_zone_unref (f->utc);
}

/* Local time in @tz, µs since the epoch. */
static gint64
at (GTimeZone *tz, int year, int month, int day, int hour, int minute)
{
  g_autoptr(GDateTime) dt = g_date_time_new (tz, year, month, day, hour, minute, 0);

  g_assert_nonnull (dt);
  return g_date_time_to_unix (dt) * G_USEC_PER_SEC;
}

static PfUsagePlan
monthly (guint reset_day, guint64 plan_bytes)
{
  PfUsagePlan plan = { .reset_day = reset_day, .plan_bytes = plan_bytes };

  return plan;
}

static char *
to_string (const PfUsage *usage)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  pf_usage_to_json (usage, builder);
  root = json_builder_get_root (builder);
  g_assert_nonnull (root);
  return json_to_string (root, FALSE);
}

static PfUsage *
from_string (const PfUsagePlan *plan, GTimeZone *tz, const char *text, GError **error)
{
  g_autoptr(GError) parse_error = NULL;
  g_autoptr(JsonNode) node = json_from_string (text, &parse_error);

  g_assert_no_error (parse_error);
  return pf_usage_new_from_json (plan, tz, node, error);
}

static PfUsage *
reload (const PfUsage *usage, const PfUsagePlan *plan, GTimeZone *tz)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = to_string (usage);
  PfUsage *loaded = from_string (plan, tz, text, &error);

  g_assert_no_error (error);
  g_assert_nonnull (loaded);
  return loaded;
}

static guint64
days_sum (const PfUsage *usage)
{
  guint n;
  const guint64 *days = pf_usage_get_days (usage, &n);
  guint64 sum = 0;

  for (guint i = 0; i < n; i++)
    sum += days[i];
  return sum;
}

static void
assert_cycle (const PfUsage *usage, GTimeZone *tz,
              int sy, int sm, int sd, int ey, int em, int ed)
{
  g_autoptr(GDate) start = g_date_new_dmy (sd, sm, sy);
  g_autoptr(GDate) end = g_date_new_dmy (ed, em, ey);
  guint n_days;

  g_assert_cmpint (pf_usage_get_cycle_start (usage), ==, at (tz, sy, sm, sd, 0, 0));
  g_assert_cmpint (pf_usage_get_cycle_end (usage), ==, at (tz, ey, em, ed, 0, 0));
  pf_usage_get_days (usage, &n_days);
  g_assert_cmpuint (n_days, ==, g_date_days_between (start, end));
}

/* Counters */

static void
test_first_sample (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  gint64 t = at (f->utc, 2026, 5, 10, 12, 0);

  g_assert_cmpint (pf_usage_get_cycle_start (usage), ==, 0);
  g_assert_cmpuint (pf_usage_sample (usage, t, 3, 1000, 2000), ==, 0);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 0);
  g_assert_cmpuint (pf_usage_sample (usage, t + 5 * G_USEC_PER_SEC, 3, 1500, 2600), ==, 1100);
  g_assert_cmpuint (pf_usage_sample (usage, t + 10 * G_USEC_PER_SEC, 3, 1500, 2600), ==, 0);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 1100);
  g_assert_cmpuint (days_sum (usage), ==, 1100);
  g_assert_cmpfloat (pf_usage_get_percent (usage), ==, -1);
  g_assert_false (pf_usage_is_capped (usage));
  assert_cycle (usage, f->utc, 2026, 5, 1, 2026, 6, 1);
}

static void
test_counter_reset (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  gint64 t = at (f->utc, 2026, 5, 10, 12, 0);
  guint64 big = G_GUINT64_CONSTANT (5000000000);   /* a 64-bit counter past 2^32 */

  pf_usage_sample (usage, t, 3, 10000, 20000);
  /* rx restarted from 0 and counted 300 since; tx went on */
  g_assert_cmpuint (pf_usage_sample (usage, t + 1, 3, 300, 20500), ==, 300 + 500);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 800);

  /* a 64-bit counter that drops is a reset, never a wrap */
  pf_usage_sample (usage, t + 2, 3, big, 20500);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 800 + big - 300);
  g_assert_cmpuint (pf_usage_sample (usage, t + 3, 3, 1000000000, 20500), ==, 1000000000);
}

static void
test_wrap32 (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  gint64 t = at (f->utc, 2026, 5, 10, 12, 0);

  pf_usage_sample (usage, t, 3, WRAP_32 - 1000, 4294967000);
  g_assert_cmpuint (pf_usage_sample (usage, t + 1, 3, 500, 4294967100), ==, 1500 + 100);

  /* a drop that would be a wrap of 2^31 or more is a reset */
  pf_usage_sample (usage, t + 2, 3, 3000000000, 0);
  g_assert_cmpuint (pf_usage_sample (usage, t + 3, 3, 1000000000, 0), ==, 1000000000);

  /* the limit: a wrapped delta of 2^31 - 1 is a wrap, 2^31 a reset */
  pf_usage_sample (usage, t + 4, 3, WRAP_32 - (1u << 30), 0);
  g_assert_cmpuint (pf_usage_sample (usage, t + 5, 3, (1u << 30) - 1, 0), ==, (1u << 31) - 1);
  pf_usage_sample (usage, t + 6, 3, WRAP_32 - (1u << 30), 0);
  g_assert_cmpuint (pf_usage_sample (usage, t + 7, 3, 1u << 30, 0), ==, 1u << 30);
}

static void
test_ifindex_change (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  gint64 t = at (f->utc, 2026, 5, 10, 12, 0);

  pf_usage_sample (usage, t, 3, 5000, 6000);
  g_assert_cmpuint (pf_usage_sample (usage, t + 1, 3, 5100, 6100), ==, 200);
  /* re-created interface: its counters started at 0, even when higher */
  g_assert_cmpuint (pf_usage_sample (usage, t + 2, 4, 100, 200), ==, 300);
  g_assert_cmpuint (pf_usage_sample (usage, t + 3, 4, 150, 260), ==, 110);
  g_assert_cmpuint (pf_usage_sample (usage, t + 4, 5, 9000, 9000), ==, 18000);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 200 + 300 + 110 + 18000);
}

/* Restarts */

static void
test_restart_same_ifindex (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->paris);
  g_autoptr(PfUsage) continuous = pf_usage_new (&plan, f->paris);
  g_autoptr(PfUsage) restarted = NULL;
  gint64 t = at (f->paris, 2026, 5, 10, 12, 0);

  pf_usage_sample (usage, t, 7, 1000, 1000);
  pf_usage_sample (usage, t + HOUR_US, 7, 5000, 3000);
  pf_usage_sample (continuous, t, 7, 1000, 1000);
  pf_usage_sample (continuous, t + HOUR_US, 7, 5000, 3000);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 6000);

  restarted = reload (usage, &plan, f->paris);
  g_assert_cmpuint (pf_usage_get_used (restarted), ==, 6000);
  /* the daemon was down while the interface counted on: all of it counts */
  g_assert_cmpuint (pf_usage_sample (restarted, t + 2 * HOUR_US, 7, 9000, 4000), ==, 5000);
  pf_usage_sample (continuous, t + 2 * HOUR_US, 7, 9000, 4000);
  g_assert_cmpuint (pf_usage_get_used (restarted), ==, pf_usage_get_used (continuous));
  g_assert_cmpuint (pf_usage_get_used (restarted), ==, 11000);
  /* then the usual rules again */
  g_assert_cmpuint (pf_usage_sample (restarted, t + 3 * HOUR_US, 7, 100, 4000), ==, 100);
}

static void
test_restart_reboot (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->paris);
  g_autofree char *saved = NULL;
  gint64 t = at (f->paris, 2026, 5, 10, 12, 0);
  struct {
    guint   ifindex;
    guint64 rx, tx;
  } after_boot[] = {
    { 9, 100, 50 },        /* another ifindex */
    { 7, 200, 100 },       /* the same ifindex, lower counters */
    { 7, 9000, 100 },      /* the same ifindex, one counter lower */
  };

  pf_usage_sample (usage, t, 7, 1000, 1000);
  pf_usage_sample (usage, t + HOUR_US, 7, 5000, 3000);
  saved = to_string (usage);

  for (guint i = 0; i < G_N_ELEMENTS (after_boot); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PfUsage) booted = from_string (&plan, f->paris, saved, &error);
      guint ifindex = after_boot[i].ifindex;

      g_assert_no_error (error);
      g_assert_cmpuint (pf_usage_sample (booted, t + DAY_US, ifindex,
                                         after_boot[i].rx, after_boot[i].tx), ==, 0);
      g_assert_cmpuint (pf_usage_get_used (booted), ==, 6000);
      g_assert_cmpuint (pf_usage_sample (booted, t + DAY_US + 1, ifindex,
                                         after_boot[i].rx + 300, after_boot[i].tx + 7), ==, 307);
      g_assert_cmpuint (pf_usage_get_used (booted), ==, 6307);
    }
}

static void
test_restart_crash (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->paris);
  g_autoptr(PfUsage) restored = NULL;
  g_autoptr(PfUsage) rebooted = NULL;
  g_autofree char *saved = NULL;
  gint64 t = at (f->paris, 2026, 5, 10, 12, 0);

  pf_usage_sample (usage, t, 7, 1000, 1000);
  pf_usage_sample (usage, t + 10, 7, 2000, 1500);
  pf_usage_add_monitoring (usage, t + 10, 100);
  saved = to_string (usage);                          /* the last save: 1500 */
  pf_usage_sample (usage, t + 20, 7, 4000, 2000);
  pf_usage_add_monitoring (usage, t + 20, 50);
  pf_usage_sample (usage, t + 30, 7, 6000, 2500);     /* 6500, then the crash */
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 6500);

  /* the daemon restarts from the older save, the interface still there:
   * the counters give back what the save missed */
  restored = from_string (&plan, f->paris, saved, NULL);
  g_assert_cmpuint (pf_usage_get_used (restored), ==, 1500);
  g_assert_cmpuint (pf_usage_get_monitoring (restored), ==, 100);
  pf_usage_sample (restored, t + 40, 7, 7000, 3000);
  pf_usage_sample (usage, t + 40, 7, 7000, 3000);
  g_assert_cmpuint (pf_usage_get_used (restored), ==, pf_usage_get_used (usage));
  g_assert_cmpuint (pf_usage_get_used (restored), ==, 8000);
  /* the monitoring recorded after the save is lost */
  g_assert_cmpuint (pf_usage_get_monitoring (restored), ==, 100);

  /* the host rebooted: what happened after the save is lost */
  rebooted = from_string (&plan, f->paris, saved, NULL);
  g_assert_cmpuint (pf_usage_sample (rebooted, t + 40, 8, 4000, 100), ==, 0);
  g_assert_cmpuint (pf_usage_get_used (rebooted), ==, 1500);
  pf_usage_sample (rebooted, t + 50, 8, 4500, 100);
  g_assert_cmpuint (pf_usage_get_used (rebooted), ==, 2000);
}

/* Cycles */

typedef struct {
  guint reset_day;
  int   y, m, d, h, min;      /* the sample, local time */
  int   sy, sm, sd;           /* the cycle it falls in */
  int   ey, em, ed;
} CycleCase;

static const CycleCase reset_day_cases[] = {
  { 31, 2026, 2, 15, 12, 0,   2026, 1, 31,  2026, 2, 28 },
  { 31, 2026, 2, 27, 23, 59,  2026, 1, 31,  2026, 2, 28 },
  { 31, 2026, 2, 28, 0, 0,    2026, 2, 28,  2026, 3, 31 },
  { 31, 2026, 3, 30, 23, 59,  2026, 2, 28,  2026, 3, 31 },
  { 31, 2028, 2, 15, 12, 0,   2028, 1, 31,  2028, 2, 29 },
  { 31, 2028, 2, 28, 12, 0,   2028, 1, 31,  2028, 2, 29 },
  { 31, 2028, 2, 29, 0, 0,    2028, 2, 29,  2028, 3, 31 },
  { 31, 2026, 4, 15, 12, 0,   2026, 3, 31,  2026, 4, 30 },
  { 31, 2026, 4, 30, 0, 0,    2026, 4, 30,  2026, 5, 31 },
  { 31, 2026, 5, 30, 12, 0,   2026, 4, 30,  2026, 5, 31 },
  { 31, 2027, 1, 15, 12, 0,   2026, 12, 31, 2027, 1, 31 },
  { 30, 2026, 2, 10, 12, 0,   2026, 1, 30,  2026, 2, 28 },
  { 30, 2026, 3, 1, 12, 0,    2026, 2, 28,  2026, 3, 30 },
  { 30, 2028, 2, 28, 12, 0,   2028, 1, 30,  2028, 2, 29 },
  { 30, 2028, 2, 29, 12, 0,   2028, 2, 29,  2028, 3, 30 },
  { 29, 2026, 2, 28, 0, 0,    2026, 2, 28,  2026, 3, 29 },
  { 29, 2026, 2, 27, 12, 0,   2026, 1, 29,  2026, 2, 28 },
  { 29, 2028, 2, 28, 12, 0,   2028, 1, 29,  2028, 2, 29 },
  { 29, 2028, 2, 29, 0, 0,    2028, 2, 29,  2028, 3, 29 },
  { 1,  2026, 12, 31, 23, 59, 2026, 12, 1,  2027, 1, 1 },
  { 1,  2027, 1, 1, 0, 0,     2027, 1, 1,   2027, 2, 1 },
  { 15, 2027, 1, 10, 12, 0,   2026, 12, 15, 2027, 1, 15 },
};

static void
test_reset_day (Fixture *f, gconstpointer data)
{
  GTimeZone *zones[] = { f->utc, f->paris };

  for (guint z = 0; z < G_N_ELEMENTS (zones); z++)
    for (guint i = 0; i < G_N_ELEMENTS (reset_day_cases); i++)
      {
        const CycleCase *c = &reset_day_cases[i];
        PfUsagePlan plan = monthly (c->reset_day, 0);
        g_autoptr(PfUsage) usage = pf_usage_new (&plan, zones[z]);

        g_test_message ("case %u in %s", i, g_time_zone_get_identifier (zones[z]));
        g_assert_false (pf_usage_update (usage, at (zones[z], c->y, c->m, c->d, c->h, c->min)));
        assert_cycle (usage, zones[z], c->sy, c->sm, c->sd, c->ey, c->em, c->ed);
      }
}

/* One cycle after the other through a year with reset day 31. */
static void
test_reset_day_chain (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (31, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  static const int expected[][2] = {   /* month, day of each start in 2028 */
    { 1, 31 }, { 2, 29 }, { 3, 31 }, { 4, 30 }, { 5, 31 }, { 6, 30 },
    { 7, 31 }, { 8, 31 }, { 9, 30 }, { 10, 31 }, { 11, 30 }, { 12, 31 },
  };

  pf_usage_update (usage, at (f->utc, 2028, 1, 31, 0, 0));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_assert_cmpint (pf_usage_get_cycle_start (usage), ==,
                       at (f->utc, 2028, expected[i][0], expected[i][1], 0, 0));
      g_assert_true (pf_usage_update (usage, pf_usage_get_cycle_end (usage)));
    }
  g_assert_cmpint (pf_usage_get_cycle_start (usage), ==, at (f->utc, 2029, 1, 31, 0, 0));
}

static void
test_dst_cycles (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->paris);
  g_autoptr(PfUsage) on_change = NULL;
  guint n_days;

  /* March 2026: summer time from the 29th, the cycle is an hour short */
  pf_usage_update (usage, at (f->paris, 2026, 3, 15, 12, 0));
  g_assert_cmpint (pf_usage_get_cycle_start (usage), ==, G_GINT64_CONSTANT (1772319600000000));
  g_assert_cmpint (pf_usage_get_cycle_end (usage), ==, G_GINT64_CONSTANT (1774994400000000));
  g_assert_cmpint (pf_usage_get_cycle_end (usage) - pf_usage_get_cycle_start (usage), ==,
                   (31 * 24 - 1) * HOUR_US);
  pf_usage_get_days (usage, &n_days);
  g_assert_cmpuint (n_days, ==, 31);

  /* October 2026: winter time from the 25th, an hour long */
  pf_usage_update (usage, at (f->paris, 2026, 10, 15, 12, 0));
  g_assert_cmpint (pf_usage_get_cycle_start (usage), ==, G_GINT64_CONSTANT (1790805600000000));
  g_assert_cmpint (pf_usage_get_cycle_end (usage), ==, G_GINT64_CONSTANT (1793487600000000));
  g_assert_cmpint (pf_usage_get_cycle_end (usage) - pf_usage_get_cycle_start (usage), ==,
                   (31 * 24 + 1) * HOUR_US);
  pf_usage_get_days (usage, &n_days);
  g_assert_cmpuint (n_days, ==, 31);

  /* boundaries on the change days themselves, at local midnight */
  plan = monthly (29, 0);
  on_change = pf_usage_new (&plan, f->paris);
  pf_usage_update (on_change, at (f->paris, 2026, 3, 29, 12, 0));
  /* 2026-03-29T00:00+01:00 */
  g_assert_cmpint (pf_usage_get_cycle_start (on_change), ==, G_GINT64_CONSTANT (1774738800000000));
  g_assert_cmpint (pf_usage_get_cycle_end (on_change) - pf_usage_get_cycle_start (on_change), ==,
                   31 * DAY_US - HOUR_US);
  g_assert_true (pf_usage_update (on_change, at (f->paris, 2026, 4, 29, 0, 0)));
  g_assert_cmpint (pf_usage_get_cycle_end (on_change) - pf_usage_get_cycle_start (on_change), ==,
                   30 * DAY_US);
}

static void
test_days_dst (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) paris = pf_usage_new (&plan, f->paris);
  g_autoptr(PfUsage) utc = pf_usage_new (&plan, f->utc);
  /* UTC times: 2026-03-28T23:30Z = 00:30 CET on the 29th (a 23-hour day),
   * 2026-03-29T21:30Z = 23:30 CEST, 2026-03-29T22:30Z = 00:30 CEST on the 30th */
  const gint64 march[] = {
    at (f->utc, 2026, 3, 28, 23, 30),
    at (f->utc, 2026, 3, 29, 21, 30),
    at (f->utc, 2026, 3, 29, 22, 30),
  };
  const gint64 october[] = {
    at (f->utc, 2026, 10, 24, 22, 30),   /* 00:30 CEST on the 25th, a 25-hour day */
    at (f->utc, 2026, 10, 25, 0, 30),    /* 02:30 CEST */
    at (f->utc, 2026, 10, 25, 1, 30),    /* 02:30 CET, again */
    at (f->utc, 2026, 10, 25, 22, 30),   /* 23:30 CET */
    at (f->utc, 2026, 10, 25, 23, 30),   /* 00:30 CET on the 26th */
  };
  const guint64 *days;
  guint n_days;
  guint64 counter = 0;

  pf_usage_sample (paris, at (f->paris, 2026, 3, 1, 0, 0), 2, 0, 0);
  pf_usage_sample (utc, at (f->utc, 2026, 3, 1, 0, 0), 2, 0, 0);
  for (guint i = 0; i < G_N_ELEMENTS (march); i++)
    {
      counter += 10 << i;   /* 10, 20, 40 */
      pf_usage_sample (paris, march[i], 2, counter, 0);
      pf_usage_sample (utc, march[i], 2, counter, 0);
    }

  days = pf_usage_get_days (paris, &n_days);
  g_assert_cmpuint (n_days, ==, 31);
  g_assert_cmpuint (days[27], ==, 0);
  g_assert_cmpuint (days[28], ==, 10 + 20);   /* the 29th */
  g_assert_cmpuint (days[29], ==, 40);        /* the 30th */
  g_assert_cmpuint (days[30], ==, 0);         /* still to come */
  days = pf_usage_get_days (utc, &n_days);
  g_assert_cmpuint (days[27], ==, 10);
  g_assert_cmpuint (days[28], ==, 20 + 40);
  g_assert_cmpuint (days[29], ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (october); i++)
    {
      counter += 1000 << i;   /* 1000, 2000, 4000, 8000, 16000 */
      pf_usage_sample (paris, october[i], 2, counter, 0);
    }
  days = pf_usage_get_days (paris, &n_days);
  g_assert_cmpuint (n_days, ==, 31);
  /* the sample that opened the October cycle counted the gap in its day */
  g_assert_cmpuint (days[23], ==, 0);
  g_assert_cmpuint (days[24], ==, 1000 + 2000 + 4000 + 8000);
  g_assert_cmpuint (days[25], ==, 16000);
  g_assert_cmpuint (pf_usage_get_used (paris), ==, days_sum (paris));
}

static void
test_custom_period (Fixture *f, gconstpointer data)
{
  g_autoptr(GDateTime) start = g_date_time_new (f->paris, 2026, 11, 5, 0, 0, 0);
  /* 23:30 UTC is already the 6th in Paris: the date is the GDateTime's own */
  g_autoptr(GDateTime) start_utc = g_date_time_new_utc (2026, 11, 5, 23, 30, 0);
  PfUsagePlan plan = { .start = start, .period_days = 30 };
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->paris);
  g_autoptr(PfUsage) before = pf_usage_new (&plan, f->paris);
  g_autoptr(PfUsage) other_zone = NULL;
  g_autoptr(PfUsage) daily = NULL;

  pf_usage_update (usage, at (f->paris, 2026, 11, 5, 0, 0));
  assert_cycle (usage, f->paris, 2026, 11, 5, 2026, 12, 5);
  g_assert_false (pf_usage_update (usage, at (f->paris, 2026, 12, 4, 23, 59)));
  g_assert_true (pf_usage_update (usage, at (f->paris, 2026, 12, 5, 0, 0)));
  assert_cycle (usage, f->paris, 2026, 12, 5, 2027, 1, 4);
  g_assert_true (pf_usage_update (usage, at (f->paris, 2027, 3, 20, 12, 0)));
  assert_cycle (usage, f->paris, 2027, 3, 5, 2027, 4, 4);   /* 4 periods later, DST inside */
  g_assert_cmpint (pf_usage_get_cycle_end (usage) - pf_usage_get_cycle_start (usage), ==,
                   30 * DAY_US - HOUR_US);

  /* before the start date, the periods go on backwards; DST ends inside */
  pf_usage_update (before, at (f->paris, 2026, 11, 4, 23, 59));
  assert_cycle (before, f->paris, 2026, 10, 6, 2026, 11, 5);
  g_assert_cmpint (pf_usage_get_cycle_end (before) - pf_usage_get_cycle_start (before), ==,
                   30 * DAY_US + HOUR_US);

  plan.start = start_utc;
  other_zone = pf_usage_new (&plan, f->paris);
  pf_usage_update (other_zone, at (f->paris, 2026, 11, 20, 0, 0));
  assert_cycle (other_zone, f->paris, 2026, 11, 5, 2026, 12, 5);

  plan.start = start;
  plan.period_days = 1;
  daily = pf_usage_new (&plan, f->paris);
  pf_usage_update (daily, at (f->paris, 2026, 11, 20, 13, 0));
  assert_cycle (daily, f->paris, 2026, 11, 20, 2026, 11, 21);
}

static void
test_rollover (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  const PfUsageCycle *history;
  const guint64 *days;
  guint n, n_days;

  pf_usage_sample (usage, at (f->utc, 2026, 1, 10, 0, 0), 2, 0, 0);
  pf_usage_sample (usage, at (f->utc, 2026, 1, 20, 0, 0), 2, 600, 400);
  pf_usage_add_monitoring (usage, at (f->utc, 2026, 1, 20, 0, 0), 100);
  history = pf_usage_get_history (usage, &n);
  g_assert_cmpuint (n, ==, 0);

  /* the sample crossing the boundary counts in the new cycle */
  g_assert_cmpuint (pf_usage_sample (usage, at (f->utc, 2026, 2, 1, 0, 0), 2, 900, 600), ==, 500);
  history = pf_usage_get_history (usage, &n);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpint (history[0].start_us, ==, at (f->utc, 2026, 1, 1, 0, 0));
  g_assert_cmpint (history[0].end_us, ==, at (f->utc, 2026, 2, 1, 0, 0));
  g_assert_cmpuint (history[0].used, ==, 1000);
  g_assert_cmpuint (history[0].monitoring, ==, 100);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 500);
  g_assert_cmpuint (pf_usage_get_monitoring (usage), ==, 0);
  days = pf_usage_get_days (usage, &n_days);
  g_assert_cmpuint (n_days, ==, 28);
  g_assert_cmpuint (days[0], ==, 500);
  g_assert_cmpuint (days_sum (usage), ==, 500);

  /* without samples; the cycles skipped leave no entry */
  g_assert_false (pf_usage_update (usage, at (f->utc, 2026, 2, 28, 23, 59)));
  g_assert_true (pf_usage_update (usage, at (f->utc, 2026, 6, 3, 0, 0)));
  g_assert_false (pf_usage_update (usage, at (f->utc, 2026, 6, 3, 0, 1)));
  history = pf_usage_get_history (usage, &n);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpint (history[1].start_us, ==, at (f->utc, 2026, 2, 1, 0, 0));
  g_assert_cmpuint (history[1].used, ==, 500);
  assert_cycle (usage, f->utc, 2026, 6, 1, 2026, 7, 1);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 0);
}

static void
test_history_capped (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  const PfUsageCycle *history;
  guint64 counter = 0;
  guint n;

  pf_usage_sample (usage, at (f->utc, 2026, 1, 2, 0, 0), 2, 0, 0);
  for (guint i = 0; i < 30; i++)
    {
      counter += (i + 1) * 100;
      pf_usage_sample (usage, at (f->utc, 2026 + i / 12, i % 12 + 1, 10, 0, 0), 2, counter, 0);
    }

  /* cycles 0..28 are finished, the 24 newest kept */
  history = pf_usage_get_history (usage, &n);
  g_assert_cmpuint (n, ==, PF_USAGE_MAX_HISTORY);
  g_assert_cmpuint (n, ==, 24);
  for (guint i = 0; i < n; i++)
    {
      guint cycle = i + 5;

      g_assert_cmpint (history[i].start_us, ==,
                       at (f->utc, 2026 + cycle / 12, cycle % 12 + 1, 1, 0, 0));
      g_assert_cmpuint (history[i].used, ==, (cycle + 1) * 100);
    }
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 3000);
}

/* Thresholds */

static void
test_thresholds (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 1000);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  gint64 t = at (f->utc, 2026, 5, 10, 12, 0);
  gint64 june = at (f->utc, 2026, 6, 10, 12, 0);

  pf_usage_sample (usage, t, 2, 0, 0);
  pf_usage_sample (usage, t + 1, 2, 499, 0);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 0);
  pf_usage_sample (usage, t + 2, 2, 499, 1);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 50);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 0);
  pf_usage_sample (usage, t + 3, 2, 789, 1);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 0);
  g_assert_cmpfloat_with_epsilon (pf_usage_get_percent (usage), 79.0, 1e-9);
  /* over 80 and 95 at once: the highest */
  pf_usage_sample (usage, t + 4, 2, 959, 1);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 95);
  pf_usage_sample (usage, t + 5, 2, 980, 1);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 0);
  g_assert_false (pf_usage_is_capped (usage));
  pf_usage_sample (usage, t + 6, 2, 999, 1);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 100);
  g_assert_true (pf_usage_is_capped (usage));
  g_assert_cmpfloat_with_epsilon (pf_usage_get_percent (usage), 100.0, 1e-9);
  pf_usage_sample (usage, t + 7, 2, 1999, 1);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 0);
  g_assert_cmpfloat_with_epsilon (pf_usage_get_percent (usage), 200.0, 1e-9);

  /* re-armed in the next cycle */
  pf_usage_sample (usage, june, 2, 2499, 1);
  g_assert_false (pf_usage_is_capped (usage));
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 50);
  pf_usage_sample (usage, june + 1, 2, 2599, 1);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 0);

  /* and after a reset */
  pf_usage_reset (usage, june + 2);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 0);
  g_assert_cmpuint (days_sum (usage), ==, 0);
  pf_usage_sample (usage, june + 3, 2, 3199, 1);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 600);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 50);
}

static void
test_thresholds_custom (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = { .reset_day = 1, .plan_bytes = 3, .thresholds = { 90, 10, 10 }, .n_thresholds = 3 };
  PfUsagePlan none = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  g_autoptr(PfUsage) unlimited = pf_usage_new (&none, f->utc);
  gint64 t = at (f->utc, 2026, 5, 10, 12, 0);

  /* 10 % of 3 bytes is 0.3: one byte reaches it; 90 % needs all three */
  pf_usage_sample (usage, t, 2, 0, 0);
  pf_usage_sample (usage, t + 1, 2, 1, 0);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 10);
  pf_usage_sample (usage, t + 2, 2, 2, 0);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 0);
  pf_usage_sample (usage, t + 3, 2, 3, 0);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 90);
  g_assert_true (pf_usage_is_capped (usage));

  pf_usage_sample (unlimited, t, 2, 0, 0);
  pf_usage_sample (unlimited, t + 1, 2, G_GUINT64_CONSTANT (1) << 40, 0);
  g_assert_cmpuint (pf_usage_take_crossed (unlimited), ==, 0);
  g_assert_false (pf_usage_is_capped (unlimited));
  g_assert_cmpfloat (pf_usage_get_percent (unlimited), ==, -1);
}

static void
test_set_used (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 1000);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  gint64 t = at (f->utc, 2026, 5, 10, 12, 0);

  pf_usage_sample (usage, t, 2, 0, 0);
  pf_usage_sample (usage, t + 1, 2, 600, 0);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 50);

  pf_usage_set_used (usage, t + 2, 900);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 900);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 80);
  /* the days stay as measured */
  g_assert_cmpuint (days_sum (usage), ==, 600);

  /* lower: 50 and 80 re-armed, reported again when reached */
  pf_usage_set_used (usage, t + 3, 400);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 0);
  pf_usage_sample (usage, t + 4, 2, 750, 0);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 550);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 50);
  pf_usage_sample (usage, t + 5, 2, 1050, 0);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 80);

  /* a correction down before the crossing was taken forgets it */
  pf_usage_set_used (usage, t + 6, 960);
  pf_usage_set_used (usage, t + 7, 100);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 0);

  pf_usage_set_used (usage, t + 8, 2000);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 100);
  g_assert_true (pf_usage_is_capped (usage));
}

static void
test_projection (Fixture *f, gconstpointer data)
{
  g_autoptr(GDateTime) start = g_date_time_new_utc (2026, 1, 1, 0, 0, 0);
  PfUsagePlan plan = { .start = start, .period_days = 30 };
  PfUsagePlan paris_plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  g_autoptr(PfUsage) paris = pf_usage_new (&paris_plan, f->paris);
  gint64 t0 = at (f->utc, 2026, 1, 1, 0, 0);

  g_assert_cmpuint (pf_usage_projected (usage, t0), ==, 0);   /* no cycle yet */
  pf_usage_set_used (usage, t0, 100);
  g_assert_cmpuint (pf_usage_projected (usage, t0), ==, 100);
  g_assert_cmpuint (pf_usage_projected (usage, t0 - DAY_US), ==, 100);
  g_assert_cmpuint (pf_usage_projected (usage, t0 + 10 * DAY_US), ==, 300);
  g_assert_cmpuint (pf_usage_projected (usage, t0 + 15 * DAY_US), ==, 200);
  g_assert_cmpuint (pf_usage_projected (usage, t0 + 30 * DAY_US), ==, 100);
  g_assert_cmpuint (pf_usage_projected (usage, t0 + 40 * DAY_US), ==, 100);
  /* projecting does not move the cycle */
  g_assert_cmpint (pf_usage_get_cycle_start (usage), ==, t0);

  /* March in Paris lasts 743 hours: at 74.3 hours, a tenth */
  pf_usage_set_used (paris, at (f->paris, 2026, 3, 2, 0, 0), 1000);
  g_assert_cmpuint (pf_usage_projected (paris, pf_usage_get_cycle_start (paris) + 743 * HOUR_US / 10),
                    ==, 10000);
}

static void
test_monitoring (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  gint64 t = at (f->utc, 2026, 5, 10, 12, 0);
  const PfUsageCycle *history;
  guint n;

  pf_usage_sample (usage, t, 2, 0, 0);
  pf_usage_sample (usage, t + 1, 2, 600, 400);
  pf_usage_add_monitoring (usage, t + 2, 150);
  pf_usage_add_monitoring (usage, t + 3, 50);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 1000);
  g_assert_cmpuint (pf_usage_get_monitoring (usage), ==, 200);

  pf_usage_reset (usage, t + 4);
  g_assert_cmpuint (pf_usage_get_monitoring (usage), ==, 0);

  /* never more than the total, in the history too */
  pf_usage_sample (usage, t + 5, 2, 700, 400);
  pf_usage_add_monitoring (usage, t + 6, 500);
  g_assert_cmpuint (pf_usage_get_monitoring (usage), ==, 100);
  pf_usage_add_monitoring (usage, at (f->utc, 2026, 6, 1, 0, 0), 30);
  history = pf_usage_get_history (usage, &n);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpuint (history[0].used, ==, 100);
  g_assert_cmpuint (history[0].monitoring, ==, 100);
  /* monitoring in the new cycle, before the samples count it */
  g_assert_cmpuint (pf_usage_get_monitoring (usage), ==, 0);
  pf_usage_sample (usage, at (f->utc, 2026, 6, 1, 0, 1), 2, 800, 400);
  g_assert_cmpuint (pf_usage_get_monitoring (usage), ==, 30);
}

static void
test_clock_back (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 0);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  const guint64 *days;
  guint n, n_days;

  /* a small step back across the boundary stays in the cycle */
  pf_usage_sample (usage, at (f->utc, 2026, 3, 1, 0, 0) + 5 * G_USEC_PER_SEC, 2, 0, 0);
  pf_usage_sample (usage, at (f->utc, 2026, 2, 28, 23, 59), 2, 100, 0);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 100);
  assert_cycle (usage, f->utc, 2026, 3, 1, 2026, 4, 1);
  days = pf_usage_get_days (usage, &n_days);
  g_assert_cmpuint (days[0], ==, 100);
  pf_usage_get_history (usage, &n);
  g_assert_cmpuint (n, ==, 0);

  /* a cycle started on a clock years ahead follows the clock back, counts kept */
  pf_usage_sample (usage, at (f->utc, 2026, 3, 5, 0, 0), 2, 300, 0);
  pf_usage_sample (usage, at (f->utc, 2025, 7, 20, 12, 0), 2, 400, 0);
  assert_cycle (usage, f->utc, 2025, 7, 1, 2025, 8, 1);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 400);
  days = pf_usage_get_days (usage, &n_days);
  g_assert_cmpuint (days[30], ==, 300);   /* March's days, past the new cycle's end */
  g_assert_cmpuint (days[19], ==, 100);
  pf_usage_get_history (usage, &n);
  g_assert_cmpuint (n, ==, 0);
}

/* Persistence */

static void
assert_same (const PfUsage *a, const PfUsage *b)
{
  const guint64 *days_a, *days_b;
  const PfUsageCycle *history_a, *history_b;
  guint n_a, n_b;

  g_assert_cmpuint (pf_usage_get_used (a), ==, pf_usage_get_used (b));
  g_assert_cmpuint (pf_usage_get_monitoring (a), ==, pf_usage_get_monitoring (b));
  g_assert_cmpint (pf_usage_get_cycle_start (a), ==, pf_usage_get_cycle_start (b));
  g_assert_cmpint (pf_usage_get_cycle_end (a), ==, pf_usage_get_cycle_end (b));
  g_assert_cmpfloat (pf_usage_get_percent (a), ==, pf_usage_get_percent (b));
  days_a = pf_usage_get_days (a, &n_a);
  days_b = pf_usage_get_days (b, &n_b);
  g_assert_cmpmem (days_a, n_a * sizeof (guint64), days_b, n_b * sizeof (guint64));
  history_a = pf_usage_get_history (a, &n_a);
  history_b = pf_usage_get_history (b, &n_b);
  g_assert_cmpmem (history_a, n_a * sizeof (PfUsageCycle), history_b, n_b * sizeof (PfUsageCycle));
}

static void
test_json_round_trip (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 1000);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->paris);
  g_autoptr(PfUsage) fresh = pf_usage_new (&plan, f->paris);
  g_autoptr(PfUsage) loaded = NULL;
  g_autoptr(PfUsage) loaded_fresh = NULL;
  g_autofree char *text = NULL;
  g_autofree char *again = NULL;
  g_autofree char *fresh_text = NULL;
  g_autofree char *fresh_again = NULL;
  guint n;

  pf_usage_sample (usage, at (f->paris, 2026, 1, 5, 10, 0), 5, 0, 0);
  pf_usage_sample (usage, at (f->paris, 2026, 1, 6, 10, 0), 5, 300, 0);
  pf_usage_sample (usage, at (f->paris, 2026, 2, 6, 10, 0), 5, 500, 0);
  pf_usage_add_monitoring (usage, at (f->paris, 2026, 2, 6, 10, 0), 20);
  pf_usage_sample (usage, at (f->paris, 2026, 3, 2, 10, 0), 5, 700, 100);
  pf_usage_sample (usage, at (f->paris, 2026, 3, 30, 10, 0), 5, 1000, 400);
  pf_usage_add_monitoring (usage, at (f->paris, 2026, 3, 30, 10, 0), 40);
  g_assert_cmpuint (pf_usage_get_used (usage), ==, 900);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 80);
  pf_usage_get_history (usage, &n);
  g_assert_cmpuint (n, ==, 2);

  text = to_string (usage);
  loaded = reload (usage, &plan, f->paris);
  assert_same (usage, loaded);
  again = to_string (loaded);
  g_assert_cmpstr (again, ==, text);

  /* the thresholds reported stay reported, the next one comes once */
  pf_usage_sample (usage, at (f->paris, 2026, 3, 30, 11, 0), 5, 1060, 400);
  pf_usage_sample (loaded, at (f->paris, 2026, 3, 30, 11, 0), 5, 1060, 400);
  g_assert_cmpuint (pf_usage_take_crossed (loaded), ==, 95);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 95);
  assert_same (usage, loaded);

  /* nothing yet */
  fresh_text = to_string (fresh);
  loaded_fresh = reload (fresh, &plan, f->paris);
  fresh_again = to_string (loaded_fresh);
  g_assert_cmpstr (fresh_again, ==, fresh_text);
  g_assert_cmpuint (pf_usage_sample (loaded_fresh, at (f->paris, 2026, 3, 30, 11, 0), 5, 10, 10), ==, 0);
}

static void
test_json_stale_cycle (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 1000);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->paris);
  g_autoptr(PfUsage) loaded = NULL;
  const PfUsageCycle *history;
  guint n;

  pf_usage_sample (usage, at (f->paris, 2026, 1, 5, 10, 0), 5, 0, 0);
  pf_usage_sample (usage, at (f->paris, 2026, 1, 6, 10, 0), 5, 700, 0);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 50);
  loaded = reload (usage, &plan, f->paris);

  /* next start in March: January goes to the history; the delta since the
   * saved baseline counts in March */
  g_assert_cmpuint (pf_usage_sample (loaded, at (f->paris, 2026, 3, 3, 10, 0), 5, 1300, 0), ==, 600);
  history = pf_usage_get_history (loaded, &n);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpint (history[0].start_us, ==, at (f->paris, 2026, 1, 1, 0, 0));
  g_assert_cmpint (history[0].end_us, ==, at (f->paris, 2026, 2, 1, 0, 0));
  g_assert_cmpuint (history[0].used, ==, 700);
  assert_cycle (loaded, f->paris, 2026, 3, 1, 2026, 4, 1);
  g_assert_cmpuint (pf_usage_get_used (loaded), ==, 600);
  g_assert_cmpuint (pf_usage_take_crossed (loaded), ==, 50);
}

static void
test_json_plan_changed (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 1000);
  PfUsagePlan new_plan = { .reset_day = 15, .plan_bytes = 1000,
                           .thresholds = { 60, 80 }, .n_thresholds = 2 };
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  g_autoptr(PfUsage) loaded = NULL;
  g_autofree char *text = NULL;
  const guint64 *days;
  guint n, n_days;

  pf_usage_sample (usage, at (f->utc, 2026, 3, 2, 10, 0), 5, 0, 0);
  pf_usage_sample (usage, at (f->utc, 2026, 3, 10, 10, 0), 5, 550, 0);
  pf_usage_sample (usage, at (f->utc, 2026, 3, 20, 10, 0), 5, 850, 0);
  g_assert_cmpuint (pf_usage_take_crossed (usage), ==, 80);
  text = to_string (usage);
  loaded = from_string (&new_plan, f->utc, text, NULL);
  g_assert_nonnull (loaded);

  /* the cycle takes the new bounds, its counts kept */
  pf_usage_sample (loaded, at (f->utc, 2026, 3, 20, 11, 0), 5, 900, 0);
  assert_cycle (loaded, f->utc, 2026, 3, 15, 2026, 4, 15);
  g_assert_cmpuint (pf_usage_get_used (loaded), ==, 900);
  days = pf_usage_get_days (loaded, &n_days);
  g_assert_cmpuint (days[0], ==, 550);          /* the 10th, before the new start */
  g_assert_cmpuint (days[5], ==, 300 + 50);     /* the 20th */
  g_assert_cmpuint (days_sum (loaded), ==, 900);
  pf_usage_get_history (loaded, &n);
  g_assert_cmpuint (n, ==, 0);
  /* 80 was reported and still is; 60 is new (50 is no longer configured) */
  g_assert_cmpuint (pf_usage_take_crossed (loaded), ==, 60);
  pf_usage_sample (loaded, at (f->utc, 2026, 3, 20, 12, 0), 5, 901, 0);
  g_assert_cmpuint (pf_usage_take_crossed (loaded), ==, 0);
}

/* A saved state with one member replaced (@value NULL: removed). */
static PfUsage *
load_altered (Fixture *f, const PfUsagePlan *plan, const char *base,
              const char *member, const char *value, GError **error)
{
  g_autoptr(JsonNode) root = json_from_string (base, NULL);
  JsonObject *object = json_node_get_object (root);
  JsonObject *target = object;
  g_auto(GStrv) path = g_strsplit (member, ".", 2);

  if (path[1] != NULL)
    {
      target = json_object_get_object_member (object, path[0]);
      member = path[1];
    }
  if (value == NULL)
    json_object_remove_member (target, member);
  else
    json_object_set_member (target, member, json_from_string (value, NULL));
  return pf_usage_new_from_json (plan, f->utc, root, error);
}

static void
test_json_corrupt (Fixture *f, gconstpointer data)
{
  PfUsagePlan plan = monthly (1, 1000);
  g_autoptr(PfUsage) usage = pf_usage_new (&plan, f->utc);
  g_autoptr(PfUsage) control = NULL;
  g_autofree char *base = NULL;
  g_autoptr(GError) error = NULL;
  static const struct {
    const char *member;
    const char *value;
  } bad[] = {
    { "format", NULL },
    { "format", "2" },
    { "format", "\"1\"" },
    { "used", NULL },
    { "used", "-5" },
    { "used", "\"12\"" },
    { "used", "1.5" },
    { "used", "null" },
    { "monitoring", "[]" },
    { "cycle_start", NULL },
    { "cycle_start", "1e30" },
    { "cycle_start", "9223372036854775807" },
    { "cycle_end", "1772319600000000" },     /* before the start */
    { "days", NULL },
    { "days", "{}" },
    { "days", "[1, -1]" },
    { "days", "[1, \"x\"]" },
    { "reported", "[150]" },
    { "reported", "50" },
    { "baseline", "[1]" },
    { "baseline", "{ \"ifindex\": 3, \"rx\": 1 }" },
    { "baseline.ifindex", "-1" },
    { "baseline.rx", "true" },
    { "history", NULL },
    { "history", "[5]" },
    { "history", "[{ \"start\": 10, \"end\": 5, \"used\": 1, \"monitoring\": 0 }]" },
    { "history", "[{ \"start\": 1, \"end\": 5, \"used\": 1 }]" },
  };
  const char *not_objects[] = { "[1, 2]", "42", "\"usage\"", "null" };

  pf_usage_sample (usage, at (f->utc, 2026, 3, 2, 10, 0), 5, 0, 0);
  pf_usage_sample (usage, at (f->utc, 2026, 3, 10, 10, 0), 5, 550, 0);
  pf_usage_update (usage, at (f->utc, 2026, 4, 10, 10, 0));
  base = to_string (usage);

  /* the untouched state and harmless changes load */
  control = load_altered (f, &plan, base, "monitoring", "0", &error);
  g_assert_no_error (error);
  g_assert_nonnull (control);
  g_clear_pointer (&control, pf_usage_free);
  control = load_altered (f, &plan, base, "baseline", "null", &error);
  g_assert_no_error (error);
  g_clear_pointer (&control, pf_usage_free);
  control = load_altered (f, &plan, base, "reported", "[50, 99]", &error);
  g_assert_no_error (error);
  g_clear_pointer (&control, pf_usage_free);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(PfUsage) loaded = NULL;

      g_test_message ("%s: %s", bad[i].member, bad[i].value ? bad[i].value : "(removed)");
      loaded = load_altered (f, &plan, base, bad[i].member, bad[i].value, &local_error);
      g_assert_null (loaded);
      g_assert_error (local_error, PF_ERROR, PF_ERROR_FAILED);
      g_assert_true (g_str_has_prefix (local_error->message, "Usage state: "));
    }

  for (guint i = 0; i < G_N_ELEMENTS (not_objects); i++)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(PfUsage) loaded = from_string (&plan, f->utc, not_objects[i], &local_error);

      g_assert_null (loaded);
      g_assert_error (local_error, PF_ERROR, PF_ERROR_FAILED);
    }
}

static void
test_plan_check (void)
{
  g_autoptr(GDateTime) start = g_date_time_new_utc (2026, 11, 5, 0, 0, 0);
  struct {
    PfUsagePlan plan;
    gboolean    ok;
  } cases[] = {
    { { .reset_day = 1 }, TRUE },
    { { .reset_day = 31 }, TRUE },
    { { .reset_day = 0 }, FALSE },
    { { .reset_day = 32 }, FALSE },
    { { .start = start, .period_days = 30 }, TRUE },
    { { .start = start, .period_days = 366 }, TRUE },
    { { .start = start, .period_days = 0 }, FALSE },
    { { .start = start, .period_days = 367 }, FALSE },
    { { .reset_day = 1, .thresholds = { 1, 100 }, .n_thresholds = 2 }, TRUE },
    { { .reset_day = 1, .thresholds = { 50, 0 }, .n_thresholds = 2 }, FALSE },
    { { .reset_day = 1, .thresholds = { 101 }, .n_thresholds = 1 }, FALSE },
    { { .reset_day = 1, .n_thresholds = PF_USAGE_MAX_THRESHOLDS + 1 }, FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      gboolean ok = pf_usage_plan_check (&cases[i].plan, &error);

      g_test_message ("case %u", i);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (ok)
        g_assert_no_error (error);
      else
        g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG);
    }
}

int
main (int argc, char **argv)
{
  const struct {
    const char *path;
    void      (*func) (Fixture *, gconstpointer);
  } tests[] = {
    { "/usage/counters/first-sample", test_first_sample },
    { "/usage/counters/reset", test_counter_reset },
    { "/usage/counters/wrap32", test_wrap32 },
    { "/usage/counters/ifindex", test_ifindex_change },
    { "/usage/restart/same-ifindex", test_restart_same_ifindex },
    { "/usage/restart/reboot", test_restart_reboot },
    { "/usage/restart/crash", test_restart_crash },
    { "/usage/cycle/reset-day", test_reset_day },
    { "/usage/cycle/reset-day-chain", test_reset_day_chain },
    { "/usage/cycle/dst", test_dst_cycles },
    { "/usage/cycle/days-dst", test_days_dst },
    { "/usage/cycle/custom-period", test_custom_period },
    { "/usage/cycle/rollover", test_rollover },
    { "/usage/cycle/history-capped", test_history_capped },
    { "/usage/cycle/clock-back", test_clock_back },
    { "/usage/thresholds/defaults", test_thresholds },
    { "/usage/thresholds/custom", test_thresholds_custom },
    { "/usage/set-used", test_set_used },
    { "/usage/projection", test_projection },
    { "/usage/monitoring", test_monitoring },
    { "/usage/json/round-trip", test_json_round_trip },
    { "/usage/json/stale-cycle", test_json_stale_cycle },
    { "/usage/json/plan-changed", test_json_plan_changed },
    { "/usage/json/corrupt", test_json_corrupt },
  };

  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (tests); i++)
    g_test_add (tests[i].path, Fixture, NULL, fixture_set_up, tests[i].func, fixture_tear_down);
  g_test_add_func ("/usage/plan-check", test_plan_check);
  return g_test_run ();
}
