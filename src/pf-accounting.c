/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Data usage of the backup uplinks, sampled from the kernel counters of
 * their interfaces (see pf-accounting.h and pf-usage.h).
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-usage"

#include <math.h>
#include <stdio.h>

#include "pf-accounting.h"
#include "pf-error.h"
#include "pf-usage.h"

typedef struct {
  PfUplink *uplink;      /* borrowed */
  PfUsage  *usage;
  gboolean  capped;
} Account;

struct _PfAccounting
{
  GObject     parent_instance;

  GArray     *accounts;  /* Account, one per backup */
  GTimeZone  *tz;
  guint       sample_id;
  gint64      saved_us;  /* monotonic: when "save" was last emitted */
  gboolean    dirty;     /* counted something since */
};

enum { SIGNAL_THRESHOLD, SIGNAL_CAPPED, SIGNAL_SAVE, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PfAccounting, pf_accounting, G_TYPE_OBJECT)

static void
account_clear (Account *account)
{
  g_clear_pointer (&account->usage, pf_usage_free);
}

/* The plan of @config; @start receives the custom start day (freed by the
 * caller) as PfUsagePlan borrows it. */
static void
plan_from_config (const PfUplinkConfig *config,
                  GTimeZone            *tz,
                  PfUsagePlan          *plan,
                  GDateTime           **start)
{
  *plan = (PfUsagePlan) {
    .reset_day = config->billing_day,
    .period_days = config->billing_period_days,
    .plan_bytes = config->plan_bytes,
    .n_thresholds = 0,
  };
  *start = NULL;
  if (config->billing_start != NULL)
    {
      guint y, m, d;

      if (sscanf (config->billing_start, "%u-%u-%u", &y, &m, &d) == 3)
        *start = g_date_time_new (tz, (gint) y, (gint) m, (gint) d, 0, 0, 0);
      plan->start = *start;
    }
  /* usage-alerts=none leaves the list empty, which PfUsage reads as its
   * defaults: check_limits() then reports none of them. */
  for (guint i = 0; i < config->n_usage_alerts; i++)
    plan->thresholds[plan->n_thresholds++] = config->usage_alerts[i];
}

static PfUsage *
account_usage_new (const PfUplinkConfig *config,
                   GTimeZone            *tz,
                   JsonObject           *saved)
{
  g_autoptr(GDateTime) start = NULL;
  g_autoptr(GError) error = NULL;
  PfUsagePlan plan;
  PfUsage *usage = NULL;

  plan_from_config (config, tz, &plan, &start);
  if (saved != NULL && json_object_has_member (saved, config->name))
    {
      usage = pf_usage_new_from_json (&plan, tz, json_object_get_member (saved, config->name), &error);
      if (usage == NULL)
        g_warning ("%s: the saved data usage cannot be read, counting from now: %s",
                   config->name, error->message);
    }
  return usage != NULL ? usage : pf_usage_new (&plan, tz);
}

/* Kernel counters of @ifname in this network namespace. */
static gboolean
read_counters (const char *ifname,
               guint      *ifindex,
               guint64    *rx,
               guint64    *tx)
{
  static const char *const names[] = { "ifindex", "statistics/rx_bytes", "statistics/tx_bytes" };
  guint64 values[G_N_ELEMENTS (names)];

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename ("/sys/class/net", ifname, names[i], NULL);
      g_autofree char *text = NULL;
      char *end;

      if (!g_file_get_contents (path, &text, NULL, NULL))
        return FALSE;
      values[i] = g_ascii_strtoull (text, &end, 10);
      if (end == text)
        return FALSE;
    }
  *ifindex = (guint) values[0];
  *rx = values[1];
  *tx = values[2];
  return TRUE;
}

static void
publish (Account *account)
{
  PfDBusUplink1 *sk = pf_uplink_get_skeleton (account->uplink);
  PfUsage *usage = account->usage;
  double percent = pf_usage_get_percent (usage);

  g_object_freeze_notify (G_OBJECT (sk));
  pf_dbus_uplink1_set_usage_bytes (sk, pf_usage_get_used (usage));
  pf_dbus_uplink1_set_usage_monitoring_bytes (sk, pf_usage_get_monitoring (usage));
  pf_dbus_uplink1_set_plan_bytes (sk, pf_uplink_get_config (account->uplink)->plan_bytes);
  pf_dbus_uplink1_set_cycle_start (sk, (guint64) MAX (pf_usage_get_cycle_start (usage), 0));
  pf_dbus_uplink1_set_cycle_end (sk, (guint64) MAX (pf_usage_get_cycle_end (usage), 0));
  pf_dbus_uplink1_set_capped (sk, account->capped);
  pf_uplink_set_double_property (account->uplink, "UsagePercent", percent < 0 ? NAN : percent);
  g_object_thaw_notify (G_OBJECT (sk));
}

/* "8.01 GB of 10.0 GB" */
static char *
describe_used (const PfUplinkConfig *config,
               PfUsage              *usage)
{
  g_autofree char *used = pf_format_size (pf_usage_get_used (usage));
  g_autofree char *plan = pf_format_size (config->plan_bytes);

  return g_strdup_printf ("%s of %s", used, plan);
}

/* Thresholds and the cap after the counts changed. */
static void
check_limits (PfAccounting *self,
              Account      *account)
{
  const PfUplinkConfig *config = pf_uplink_get_config (account->uplink);
  guint percent = pf_usage_take_crossed (account->usage);
  gboolean capped = pf_usage_is_capped (account->usage);

  if (percent > 0 && config->n_usage_alerts > 0)
    {
      g_autofree char *used = describe_used (config, account->usage);
      g_autofree char *text = g_strdup_printf ("%u %% of the plan used (%s)", percent, used);

      g_signal_emit (self, signals[SIGNAL_THRESHOLD], 0, account->uplink, percent, text);
    }
  if (capped != account->capped)
    {
      g_autofree char *used = describe_used (config, account->usage);
      g_autofree char *text = NULL;

      account->capped = capped;
      if (capped)
        text = g_strdup_printf ("plan used up (%s): %s", used,
                                config->cap_action == PF_CAP_BLOCK ? "nothing may use it now" :
                                config->cap_action == PF_CAP_RESTRICT ? "only the host may use it now" :
                                "nothing blocked (cap-action=notify)");
      else
        text = g_strdup_printf ("plan no longer used up (%s)", used);
      g_signal_emit (self, signals[SIGNAL_CAPPED], 0, account->uplink, capped, text);
    }
}

static void
sample_account (PfAccounting *self,
                Account      *account,
                gint64        now_us)
{
  const char *ifname = pf_uplink_get_ifname (account->uplink);
  guint64 monitoring = pf_uplink_take_monitoring_bytes (account->uplink);
  guint ifindex;
  guint64 rx, tx;

  if (ifname != NULL && read_counters (ifname, &ifindex, &rx, &tx))
    {
      if (pf_usage_sample (account->usage, now_us, ifindex, rx, tx) > 0)
        self->dirty = TRUE;
    }
  else if (pf_usage_update (account->usage, now_us))
    self->dirty = TRUE;
  if (monitoring > 0)
    pf_usage_add_monitoring (account->usage, now_us, monitoring);
  check_limits (self, account);
  publish (account);
}

void
pf_accounting_sample (PfAccounting *self)
{
  gint64 now_us = g_get_real_time ();

  g_return_if_fail (PF_IS_ACCOUNTING (self));

  for (guint i = 0; i < self->accounts->len; i++)
    sample_account (self, &g_array_index (self->accounts, Account, i), now_us);
}

static gboolean
on_sample (gpointer user_data)
{
  PfAccounting *self = user_data;
  gint64 now = g_get_monotonic_time ();

  pf_accounting_sample (self);
  if (self->dirty && now - self->saved_us >= PF_ACCOUNTING_SAVE_MS * 1000LL)
    {
      self->saved_us = now;
      self->dirty = FALSE;
      g_signal_emit (self, signals[SIGNAL_SAVE], 0);
    }
  return G_SOURCE_CONTINUE;
}

void
pf_accounting_start (PfAccounting *self)
{
  g_return_if_fail (PF_IS_ACCOUNTING (self));

  if (self->sample_id != 0)
    return;
  self->saved_us = g_get_monotonic_time ();
  pf_accounting_sample (self);
  self->sample_id = g_timeout_add (PF_ACCOUNTING_SAMPLE_MS, on_sample, self);
}

void
pf_accounting_to_json (PfAccounting *self,
                       JsonBuilder  *builder)
{
  g_return_if_fail (PF_IS_ACCOUNTING (self));

  json_builder_begin_object (builder);
  for (guint i = 0; i < self->accounts->len; i++)
    {
      Account *account = &g_array_index (self->accounts, Account, i);

      json_builder_set_member_name (builder, pf_uplink_get_name (account->uplink));
      pf_usage_to_json (account->usage, builder);
    }
  json_builder_end_object (builder);
  self->dirty = FALSE;
}

static Account *
find_account (PfAccounting  *self,
              const char    *name,
              GError       **error)
{
  for (guint i = 0; i < self->accounts->len; i++)
    {
      Account *account = &g_array_index (self->accounts, Account, i);

      if (g_str_equal (pf_uplink_get_name (account->uplink), name))
        return account;
    }
  g_set_error (error, PF_ERROR, PF_ERROR_NOT_FOUND, "No backup uplink named \"%s\"", name);
  return NULL;
}

/* The account of @uplink, NULL when it is not counted (the primary). */
static Account *
account_of (PfAccounting *self,
            PfUplink     *uplink)
{
  for (guint i = 0; i < self->accounts->len; i++)
    {
      Account *account = &g_array_index (self->accounts, Account, i);

      if (account->uplink == uplink)
        return account;
    }
  return NULL;
}

gboolean
pf_accounting_is_capped (PfAccounting *self,
                         PfUplink     *uplink)
{
  Account *account;

  g_return_val_if_fail (PF_IS_ACCOUNTING (self), FALSE);

  account = account_of (self, uplink);
  return account != NULL && account->capped;
}

/* After a correction: save soon, report what it crossed, show it. */
static void
corrected (PfAccounting *self,
           Account      *account)
{
  self->dirty = TRUE;
  check_limits (self, account);
  publish (account);
}

gboolean
pf_accounting_set_used (PfAccounting  *self,
                        const char    *name,
                        guint64        bytes,
                        GError       **error)
{
  Account *account = find_account (self, name, error);
  g_autofree char *size = pf_format_size (bytes);

  if (account == NULL)
    return FALSE;
  pf_accounting_sample (self);   /* what was counted so far belongs to the old figure */
  pf_usage_set_used (account->usage, g_get_real_time (), bytes);
  g_message ("%s: data used this cycle set to %s", name, size);
  corrected (self, account);
  return TRUE;
}

gboolean
pf_accounting_reset (PfAccounting  *self,
                     const char    *name,
                     GError       **error)
{
  Account *account = find_account (self, name, error);

  if (account == NULL)
    return FALSE;
  pf_accounting_sample (self);
  pf_usage_reset (account->usage, g_get_real_time ());
  g_message ("%s: data used this cycle reset to 0", name);
  corrected (self, account);
  return TRUE;
}

static void
add_uint_array (JsonBuilder *b,
                const char  *member,
                const guint *values,
                guint        n)
{
  json_builder_set_member_name (b, member);
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    json_builder_add_int_value (b, values[i]);
  json_builder_end_array (b);
}

char *
pf_accounting_describe (PfAccounting  *self,
                        const char    *name,
                        GError       **error)
{
  Account *account = find_account (self, name, error);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  const PfUplinkConfig *config;
  const PfUsageCycle *history;
  const guint64 *days;
  guint n_days, n_history;
  double percent;

  if (account == NULL)
    return NULL;
  config = pf_uplink_get_config (account->uplink);
  pf_accounting_sample (self);
  percent = pf_usage_get_percent (account->usage);
  days = pf_usage_get_days (account->usage, &n_days);
  history = pf_usage_get_history (account->usage, &n_history);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "uplink");
  json_builder_add_string_value (b, config->name);
  json_builder_set_member_name (b, "plan");
  json_builder_add_int_value (b, (gint64) config->plan_bytes);
  json_builder_set_member_name (b, "cycle_start");
  json_builder_add_int_value (b, pf_usage_get_cycle_start (account->usage));
  json_builder_set_member_name (b, "cycle_end");
  json_builder_add_int_value (b, pf_usage_get_cycle_end (account->usage));
  json_builder_set_member_name (b, "used");
  json_builder_add_int_value (b, (gint64) pf_usage_get_used (account->usage));
  json_builder_set_member_name (b, "monitoring");
  json_builder_add_int_value (b, (gint64) pf_usage_get_monitoring (account->usage));
  json_builder_set_member_name (b, "percent");
  if (percent < 0)
    json_builder_add_null_value (b);
  else
    json_builder_add_double_value (b, round (percent * 10) / 10);
  json_builder_set_member_name (b, "projected");
  json_builder_add_int_value (b, (gint64) pf_usage_projected (account->usage, g_get_real_time ()));
  json_builder_set_member_name (b, "capped");
  json_builder_add_boolean_value (b, account->capped);
  json_builder_set_member_name (b, "cap_action");
  json_builder_add_string_value (b, pf_cap_action_to_string (config->cap_action));
  add_uint_array (b, "thresholds", config->usage_alerts, config->n_usage_alerts);
  pf_usage_add_reported_json (account->usage, b);
  json_builder_set_member_name (b, "days");
  json_builder_begin_array (b);
  for (guint i = 0; i < n_days; i++)
    json_builder_add_int_value (b, (gint64) days[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "history");
  json_builder_begin_array (b);
  for (guint i = 0; i < n_history; i++)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "start");
      json_builder_add_int_value (b, history[i].start_us);
      json_builder_set_member_name (b, "end");
      json_builder_add_int_value (b, history[i].end_us);
      json_builder_set_member_name (b, "used");
      json_builder_add_int_value (b, (gint64) history[i].used);
      json_builder_set_member_name (b, "monitoring");
      json_builder_add_int_value (b, (gint64) history[i].monitoring);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static void
add_env (GStrvBuilder *env,
         const char   *name,
         guint64       value)
{
  g_autofree char *pair = g_strdup_printf ("%s=%" G_GUINT64_FORMAT, name, value);

  g_strv_builder_add (env, pair);
}

GStrv
pf_accounting_environment (PfAccounting *self,
                           PfUplink     *uplink)
{
  g_autoptr(GStrvBuilder) env = g_strv_builder_new ();
  Account *account;
  double percent;

  g_return_val_if_fail (PF_IS_ACCOUNTING (self), NULL);

  account = account_of (self, uplink);
  if (account == NULL)
    return NULL;
  percent = pf_usage_get_percent (account->usage);
  add_env (env, "PVEFAILOVER_USAGE_BYTES", pf_usage_get_used (account->usage));
  add_env (env, "PVEFAILOVER_PLAN_BYTES", pf_uplink_get_config (uplink)->plan_bytes);
  if (percent >= 0)
    add_env (env, "PVEFAILOVER_USAGE_PERCENT", (guint64) round (percent));
  else
    g_strv_builder_add (env, "PVEFAILOVER_USAGE_PERCENT=");  /* no plan size */
  return g_strv_builder_end (env);
}

static void
pf_accounting_finalize (GObject *object)
{
  PfAccounting *self = PF_ACCOUNTING (object);

  g_clear_handle_id (&self->sample_id, g_source_remove);
  g_array_unref (self->accounts);
  g_time_zone_unref (self->tz);

  G_OBJECT_CLASS (pf_accounting_parent_class)->finalize (object);
}

static void
pf_accounting_class_init (PfAccountingClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = pf_accounting_finalize;

  signals[SIGNAL_THRESHOLD] =
    g_signal_new ("threshold", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, PF_TYPE_UPLINK, G_TYPE_UINT, G_TYPE_STRING);
  signals[SIGNAL_CAPPED] =
    g_signal_new ("capped", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, PF_TYPE_UPLINK, G_TYPE_BOOLEAN, G_TYPE_STRING);
  signals[SIGNAL_SAVE] =
    g_signal_new ("save", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
pf_accounting_init (PfAccounting *self)
{
  self->accounts = g_array_new (FALSE, TRUE, sizeof (Account));
  g_array_set_clear_func (self->accounts, (GDestroyNotify) account_clear);
  self->tz = g_time_zone_new_local ();
}

PfAccounting *
pf_accounting_new (GPtrArray  *uplinks,
                   JsonObject *saved)
{
  PfAccounting *self = g_object_new (PF_TYPE_ACCOUNTING, NULL);

  for (guint i = 0; i < uplinks->len; i++)
    {
      PfUplink *uplink = g_ptr_array_index (uplinks, i);
      Account account = { uplink, NULL, FALSE };

      if (!pf_uplink_is_backup (uplink))
        {
          pf_uplink_set_double_property (uplink, "UsagePercent", NAN);
          continue;
        }
      account.usage = account_usage_new (pf_uplink_get_config (uplink), self->tz, saved);
      /* A plan used up before a restart is still used up: no new event. */
      account.capped = pf_usage_is_capped (account.usage);
      g_array_append_val (self->accounts, account);
    }
  return self;
}
