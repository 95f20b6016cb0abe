/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "pvefailover-modem"

#include "config.h"

#include <math.h>

#include "pf-modem-health.h"

/* The problems tracked, each with its own start time and alert state. */
/* In order of precedence: the first present is the reason given. */
typedef enum {
  PROBLEM_GONE,
  PROBLEM_SIM,
  PROBLEM_FAILED,
  PROBLEM_UNREGISTERED,
  PROBLEM_WEAK_SIGNAL,
  N_PROBLEMS
} Problem;

typedef struct {
  gboolean active;    /* the condition holds now */
  gint64  since_us;   /* since when, when active */
  char   *text;       /* description of the current condition */
  gboolean alerted;
} ProblemState;

struct _PfModemHealth
{
  PfModemHealthParams params;
  PfModemInfo        *info;
  ProblemState        problems[N_PROBLEMS];
  char               *broken;
  GPtrArray          *alerts;
};

void
pf_modem_alert_free (PfModemAlert *alert)
{
  if (alert == NULL)
    return;
  g_free (alert->text);
  g_free (alert);
}

PfModemHealth *
pf_modem_health_new (const PfModemHealthParams *params)
{
  PfModemHealth *health = g_new0 (PfModemHealth, 1);

  g_return_val_if_fail (params != NULL, NULL);
  health->params = *params;
  health->alerts = g_ptr_array_new_with_free_func ((GDestroyNotify) pf_modem_alert_free);
  return health;
}

void
pf_modem_health_free (PfModemHealth *health)
{
  if (health == NULL)
    return;
  for (guint i = 0; i < N_PROBLEMS; i++)
    g_free (health->problems[i].text);
  pf_modem_info_free (health->info);
  g_free (health->broken);
  g_ptr_array_unref (health->alerts);
  g_free (health);
}

static void
raise_alert (PfModemHealth *health,
             gboolean       cleared,
             const char    *text)
{
  PfModemAlert *alert = g_new0 (PfModemAlert, 1);

  alert->cleared = cleared;
  alert->text = g_strdup (text);
  g_ptr_array_add (health->alerts, alert);
}

/* Describe the condition of @problem in @info, or NULL when absent. */
static char *
condition (PfModemHealth     *health,
           Problem            problem,
           const PfModemInfo *info)
{
  switch (problem)
    {
    case PROBLEM_GONE:
      if (info->present)
        return NULL;
      return g_strdup_printf ("modem gone%s%s", *info->error ? ": " : "", info->error);
    case PROBLEM_FAILED:
      /* A modem failed because of its SIM is the SIM problem. */
      if (g_strcmp0 (info->state, "failed") != 0 || !info->present ||
          g_str_has_prefix (info->failed_reason, "sim-"))
        return NULL;
      return g_strdup_printf ("modem failed%s%s", *info->failed_reason ? ": " : "", info->failed_reason);
    case PROBLEM_SIM:
      if (!info->present)
        return NULL;
      if (g_strcmp0 (info->sim_state, "missing") == 0 ||
          g_strcmp0 (info->failed_reason, "sim-missing") == 0)
        return g_strdup ("SIM missing");
      if (g_strcmp0 (info->sim_state, "locked") == 0 || g_strcmp0 (info->state, "locked") == 0)
        return g_strdup ("SIM locked (PIN required)");
      if (g_strcmp0 (info->sim_state, "error") == 0 ||
          g_strcmp0 (info->failed_reason, "sim-error") == 0)
        return g_strdup ("SIM error");
      return NULL;
    case PROBLEM_UNREGISTERED:
      /* "unknown" is no information, not a problem. */
      if (!info->present || g_strcmp0 (info->registration, "home") == 0 ||
          g_strcmp0 (info->registration, "roaming") == 0 ||
          g_strcmp0 (info->registration, "unknown") == 0 || *info->registration == '\0')
        return NULL;
      return g_strdup_printf ("not registered (%s)", info->registration);
    case PROBLEM_WEAK_SIGNAL:
      if (!info->present || isnan (info->rsrp) || info->rsrp >= health->params.signal_alert_dbm)
        return NULL;
      return g_strdup_printf ("signal weak: RSRP %.0f dBm below %d dBm", info->rsrp,
                              health->params.signal_alert_dbm);
    case N_PROBLEMS:
    default:
      return NULL;
    }
}

/* How long a problem must last before it counts. */
static gint64
delay_of (PfModemHealth *health,
          Problem        problem)
{
  switch (problem)
    {
    case PROBLEM_UNREGISTERED:
      return health->params.registration_grace_us;
    case PROBLEM_WEAK_SIGNAL:
      return health->params.signal_alert_us;
    case PROBLEM_GONE:
    case PROBLEM_FAILED:
    case PROBLEM_SIM:
    case N_PROBLEMS:
    default:
      return 0;
    }
}

static char *
format_duration (gint64 us)
{
  gint64 s = us / G_USEC_PER_SEC;

  if (s >= 60)
    return g_strdup_printf ("%" G_GINT64_FORMAT " min", s / 60);
  return g_strdup_printf ("%" G_GINT64_FORMAT " s", s);
}

gint64
pf_modem_health_update (PfModemHealth     *health,
                        gint64             now_us,
                        const PfModemInfo *info)
{
  gint64 next = 0;

  g_return_val_if_fail (health != NULL, 0);

  if (info != NULL)
    {
      pf_modem_info_free (health->info);
      health->info = pf_modem_info_copy (info);
    }
  if (health->info == NULL)
    return 0;

  g_clear_pointer (&health->broken, g_free);
  for (Problem p = 0; p < N_PROBLEMS; p++)
    {
      ProblemState *ps = &health->problems[p];
      g_autofree char *text = condition (health, p, health->info);
      gint64 delay = delay_of (health, p);

      if (text == NULL)
        {
          if (ps->alerted)
            {
              g_autofree char *msg = g_strdup_printf ("cleared: %s", ps->text);
              raise_alert (health, TRUE, msg);
            }
          ps->active = FALSE;
          ps->alerted = FALSE;
          g_clear_pointer (&ps->text, g_free);
          continue;
        }

      if (!ps->active)
        {
          ps->active = TRUE;
          ps->since_us = now_us;
        }
      g_free (ps->text);
      ps->text = g_steal_pointer (&text);

      if (now_us - ps->since_us < delay)
        {
          gint64 due = ps->since_us + delay;
          next = next == 0 ? due : MIN (next, due);
          continue;
        }

      if (!ps->alerted)
        {
          g_autofree char *lasting = delay > 0 ? format_duration (now_us - ps->since_us) : NULL;
          g_autofree char *msg = lasting ? g_strdup_printf ("%s for %s", ps->text, lasting)
                                         : g_strdup (ps->text);
          raise_alert (health, FALSE, msg);
          ps->alerted = TRUE;
        }
      /* A weak signal is worth an alert, not a reason to refuse the backup. */
      if (p != PROBLEM_WEAK_SIGNAL && health->broken == NULL)
        health->broken = g_strdup (ps->text);
    }
  return next;
}

void
pf_modem_health_reset (PfModemHealth *health)
{
  g_return_if_fail (health != NULL);

  for (guint i = 0; i < N_PROBLEMS; i++)
    {
      g_clear_pointer (&health->problems[i].text, g_free);
      health->problems[i].active = FALSE;
      health->problems[i].alerted = FALSE;
    }
  g_clear_pointer (&health->info, pf_modem_info_free);
  g_clear_pointer (&health->broken, g_free);
  g_ptr_array_set_size (health->alerts, 0);
}

const char *
pf_modem_health_get_broken (const PfModemHealth *health)
{
  g_return_val_if_fail (health != NULL, NULL);
  return health->broken;
}

GPtrArray *
pf_modem_health_take_alerts (PfModemHealth *health)
{
  GPtrArray *alerts;

  g_return_val_if_fail (health != NULL, NULL);
  alerts = g_steal_pointer (&health->alerts);
  health->alerts = g_ptr_array_new_with_free_func ((GDestroyNotify) pf_modem_alert_free);
  return alerts;
}
