/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Which uplink carries traffic. Pure: no I/O, no clock; the caller passes
 * the time and what it knows about each uplink, ordered by preference.
 *
 * In auto mode:
 *  - A good uplink (up or degraded, and usable) that is active stays active
 *    until a more preferred uplink has been good for its failback hold.
 *  - An active uplink whose state is still unknown (start-up, a cold backup
 *    just brought up) is given the time to prove itself: it is left only for
 *    a more preferred uplink that passed its hold, or once it turns down.
 *    Its rounds settle that within a few seconds either way, and this is
 *    what keeps a flapping primary from pulling traffic back while the
 *    backup is still being probed.
 *  - An active uplink that is down or unusable is left at once for the most
 *    preferred good uplink, else for the most preferred usable one that is
 *    not down (a cold backup not probed yet), else it stays.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-policy"

#include <string.h>

#include "pf-policy.h"

typedef struct {
  gboolean seen;          /* by an earlier decide() */
  gboolean usable;        /* at the last decide() */
  gboolean good;          /* at the last decide() */
  gint64   good_since_us; /* valid while good */
  gint64   last_bad_us;   /* last decide() that saw it not good */
} PfPolicySlot;

struct _PfPolicy {
  guint   active;
  GArray *slots;  /* PfPolicySlot, per uplink index */
};

PfPolicy *
pf_policy_new (guint initial_active)
{
  PfPolicy *policy = g_new0 (PfPolicy, 1);

  policy->active = initial_active;
  policy->slots = g_array_new (FALSE, TRUE, sizeof (PfPolicySlot));

  return policy;
}

void
pf_policy_free (PfPolicy *policy)
{
  if (policy == NULL)
    return;

  g_array_unref (policy->slots);
  g_free (policy);
}

guint
pf_policy_get_active (const PfPolicy *policy)
{
  g_return_val_if_fail (policy != NULL, 0);

  return policy->active;
}

void
pf_decision_clear (PfDecision *decision)
{
  if (decision == NULL)
    return;

  g_clear_pointer (&decision->reason, g_free);
  memset (decision, 0, sizeof (*decision));
}

static gboolean
pf_policy_uplink_is_good (const PfPolicyUplink *uplink)
{
  return uplink->usable &&
         (uplink->state == PF_HEALTH_UP || uplink->state == PF_HEALTH_DEGRADED);
}

/* "4.5 s", "60 s", "15 min", "2 h": durations in reasons, rounded down. */
static char *
pf_format_duration (gint64 us)
{
  gint64 s = MAX (us, 0) / G_USEC_PER_SEC;

  if (us < 10 * G_USEC_PER_SEC)
    return g_strdup_printf ("%.1f s", (double) (MAX (us, 0) / (G_USEC_PER_SEC / 10)) / 10.0);
  if (s < 600)
    return g_strdup_printf ("%" G_GINT64_FORMAT " s", s);
  if (s < 10 * 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT " min", s / 60);
  return g_strdup_printf ("%" G_GINT64_FORMAT " h", s / 3600);
}

static char *
pf_uplink_name (const PfPolicyUplink *uplinks,
                guint                 n_uplinks,
                guint                 index)
{
  if (index < n_uplinks && uplinks[index].name != NULL)
    return g_strdup (uplinks[index].name);
  return g_strdup_printf ("uplink #%u", index);
}

/* "lte up", "lte unknown", "lte unusable" */
static char *
pf_uplink_brief (const PfPolicyUplink *uplinks,
                 guint                 n_uplinks,
                 guint                 index)
{
  g_autofree char *name = pf_uplink_name (uplinks, n_uplinks, index);

  if (index >= n_uplinks)
    return g_strdup_printf ("%s is gone", name);
  if (!uplinks[index].usable)
    return g_strdup_printf ("%s unusable", name);
  return g_strdup_printf ("%s %s", name, pf_health_state_to_string (uplinks[index].state));
}

/* "primary down: 5/5 rounds lost, 0 of 3 targets answered" */
static char *
pf_uplink_describe (const PfPolicyUplink *uplinks,
                    guint                 n_uplinks,
                    guint                 index)
{
  g_autofree char *brief = pf_uplink_brief (uplinks, n_uplinks, index);
  const char *why = index < n_uplinks ? uplinks[index].health_reason : NULL;

  if (index >= n_uplinks || why == NULL || *why == '\0')
    return g_steal_pointer (&brief);
  return g_strdup_printf ("%s: %s", brief, why);
}

static void
pf_policy_update_slots (PfPolicy             *policy,
                        gint64                now_us,
                        const PfPolicyUplink *uplinks,
                        guint                 n_uplinks)
{
  g_array_set_size (policy->slots, n_uplinks);

  for (guint i = 0; i < n_uplinks; i++)
    {
      PfPolicySlot *slot = &g_array_index (policy->slots, PfPolicySlot, i);
      gboolean good = pf_policy_uplink_is_good (&uplinks[i]);

      if (good && !slot->good)
        {
          gint64 since = uplinks[i].state_since_us;

          /* From when its health got there, which may be before this call
           * but not before a call that saw it not good. Usability has no
           * time of its own: becoming usable counts from now. Up <->
           * degraded keeps counting. */
          if ((slot->seen && !slot->usable) || since <= 0 || since > now_us)
            since = now_us;
          slot->good_since_us = MAX (since, slot->last_bad_us);
        }
      if (!good)
        slot->last_bad_us = now_us;
      slot->good = good;
      slot->usable = uplinks[i].usable;
      slot->seen = TRUE;
    }
}

static guint
pf_policy_decide_auto (PfPolicy             *policy,
                       gint64                now_us,
                       const PfPolicyUplink *uplinks,
                       guint                 n_uplinks,
                       char                **reason,
                       gint64               *recheck_at_us)
{
  guint current = policy->active;
  gboolean current_good;
  gboolean current_proving;
  guint waiting = G_MAXUINT;
  guint target = G_MAXUINT;
  g_autofree char *current_name = pf_uplink_name (uplinks, n_uplinks, current);

  current_good = current < n_uplinks &&
                 g_array_index (policy->slots, PfPolicySlot, current).good;
  current_proving = current < n_uplinks && uplinks[current].usable &&
                    uplinks[current].state == PF_HEALTH_UNKNOWN;

  if (current_good || current_proving)
    {
      /* Fail back to the most preferred uplink that has been good for its
       * hold; remember the earliest hold still running. */
      for (guint i = 0; i < current; i++)
        {
          const PfPolicySlot *slot = &g_array_index (policy->slots, PfPolicySlot, i);
          gint64 hold_us = MAX (uplinks[i].failback_hold_us, 0);
          gint64 expiry;

          if (!slot->good)
            continue;
          expiry = slot->good_since_us + hold_us;
          if (expiry <= now_us)
            {
              g_autofree char *name = pf_uplink_name (uplinks, n_uplinks, i);
              g_autofree char *good_for = pf_format_duration (now_us - slot->good_since_us);
              g_autofree char *hold = pf_format_duration (hold_us);

              *reason = g_strdup_printf ("%s up for %s (hold %s)", name, good_for, hold);
              return i;
            }
          if (waiting == G_MAXUINT)
            waiting = i;
          if (*recheck_at_us == 0 || expiry < *recheck_at_us)
            *recheck_at_us = expiry;
        }

      if (waiting != G_MAXUINT)
        {
          const PfPolicySlot *slot = &g_array_index (policy->slots, PfPolicySlot, waiting);
          g_autofree char *name = pf_uplink_name (uplinks, n_uplinks, waiting);
          g_autofree char *good_for = pf_format_duration (now_us - slot->good_since_us);
          g_autofree char *hold = pf_format_duration (MAX (uplinks[waiting].failback_hold_us, 0));

          *reason = g_strdup_printf ("%s up for %s (hold %s); staying on %s",
                                     name, good_for, hold, current_name);
        }
      else if (current == 0)
        {
          *reason = pf_uplink_describe (uplinks, n_uplinks, current);
        }
      else
        {
          g_autofree char *primary = pf_uplink_describe (uplinks, n_uplinks, 0);

          *reason = g_strdup_printf ("%s; staying on %s (%s)", primary, current_name,
                                     pf_health_state_to_string (uplinks[current].state));
        }
      return current;
    }

  /* The active uplink is down, unusable or gone: leave it now. */
  for (guint i = 0; i < n_uplinks && target == G_MAXUINT; i++)
    if (g_array_index (policy->slots, PfPolicySlot, i).good)
      target = i;
  for (guint i = 0; i < n_uplinks && target == G_MAXUINT; i++)
    if (uplinks[i].usable && uplinks[i].state != PF_HEALTH_DOWN)
      target = i;

  {
    g_autofree char *why = pf_uplink_describe (uplinks, n_uplinks, current);

    if (target == G_MAXUINT)
      {
        *reason = g_strdup_printf ("%s; no other uplink is usable, staying on %s",
                                   why, current_name);
        return current;
      }
    else
      {
        g_autofree char *to = pf_uplink_brief (uplinks, n_uplinks, target);

        *reason = g_strdup_printf ("%s; %s", why, to);
        return target;
      }
  }
}

void
pf_policy_decide (PfPolicy             *policy,
                  gint64                now_us,
                  const PfPolicyUplink *uplinks,
                  guint                 n_uplinks,
                  PfMode                mode,
                  guint                 force_index,
                  PfDecision           *decision)
{
  guint target;
  char *reason = NULL;
  gint64 recheck_at_us = 0;

  g_return_if_fail (decision != NULL);

  memset (decision, 0, sizeof (*decision));
  decision->active = policy != NULL ? policy->active : 0;
  decision->reason = g_strdup ("no uplink to decide on");

  g_return_if_fail (policy != NULL);
  g_return_if_fail (uplinks != NULL);
  g_return_if_fail (n_uplinks > 0);

  pf_policy_update_slots (policy, now_us, uplinks, n_uplinks);
  target = policy->active;

  switch (mode)
    {
    case PF_MODE_MAINTENANCE:
      {
        g_autofree char *name = pf_uplink_name (uplinks, n_uplinks, target);

        reason = g_strdup_printf ("maintenance mode: staying on %s", name);
      }
      break;

    case PF_MODE_FORCE:
      if (force_index < n_uplinks)
        {
          g_autofree char *name = pf_uplink_name (uplinks, n_uplinks, force_index);

          target = force_index;
          if (uplinks[target].usable)
            reason = g_strdup_printf ("forced to %s by the administrator (%s is %s)",
                                      name, name,
                                      pf_health_state_to_string (uplinks[target].state));
          else
            reason = g_strdup_printf ("forced to %s by the administrator (%s is unusable)",
                                      name, name);
        }
      else
        {
          g_autofree char *name = pf_uplink_name (uplinks, n_uplinks, target);

          reason = g_strdup_printf ("forced to uplink #%u, which does not exist: staying on %s",
                                    force_index, name);
        }
      break;

    case PF_MODE_AUTO:
    default:
      target = pf_policy_decide_auto (policy, now_us, uplinks, n_uplinks,
                                      &reason, &recheck_at_us);
      break;
    }

  /* The uplinks shrank (reload) under a mode that keeps the active one. */
  if (target >= n_uplinks)
    {
      g_autofree char *name = pf_uplink_name (uplinks, n_uplinks, 0);
      char *gone = g_strdup_printf ("uplink #%u is gone, on %s; %s", target, name, reason);

      g_free (reason);
      reason = gone;
      target = 0;
    }

  decision->changed = target != policy->active;
  decision->active = target;
  g_free (decision->reason);
  decision->reason = reason;
  decision->recheck_at_us = recheck_at_us;
  policy->active = target;
}

const char *
pf_mode_to_string (PfMode mode)
{
  switch (mode)
    {
    case PF_MODE_AUTO:
      return "auto";
    case PF_MODE_FORCE:
      return "force";
    case PF_MODE_MAINTENANCE:
      return "maintenance";
    default:
      break;
    }

  return "invalid";
}

gboolean
pf_mode_from_string (const char *text,
                     PfMode     *mode)
{
  static const PfMode modes[] = { PF_MODE_AUTO, PF_MODE_FORCE, PF_MODE_MAINTENANCE };

  g_return_val_if_fail (text != NULL, FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      if (g_ascii_strcasecmp (text, pf_mode_to_string (modes[i])) == 0)
        {
          if (mode != NULL)
            *mode = modes[i];
          return TRUE;
        }
    }

  return FALSE;
}
