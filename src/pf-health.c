/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Health of one uplink from its probe rounds. Pure: no I/O, no clock; every
 * time comes in as an argument.
 *
 * Down is fast (down_rounds consecutive failed rounds, or the link lost), up
 * is slow (up_rounds consecutive good rounds spanning at least up_min_us). A
 * window of the last rounds gives loss, RTT and jitter; an up uplink losing
 * degraded_loss % or more of its probes over the window shows as degraded.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-health"

#include "pf-health.h"

typedef struct {
  guint  sent;
  guint  answered;
  gint64 rtt_us;   /* -1: none answered */
} PfHealthRound;

struct _PfHealth {
  PfHealthParams params;

  PfHealthState  state;
  gint64         since_us;
  char          *reason;

  gboolean       link_ok;
  gboolean       last_failed;
  guint          consecutive_failed;
  guint          consecutive_good;
  gint64         first_good_us;

  /* ring of the last params.window rounds */
  PfHealthRound *rounds;
  guint          n_rounds;
  guint          next;
  guint64        window_sent;
  guint64        window_answered;
};

static void
pf_health_set_state (PfHealth      *health,
                     gint64         now_us,
                     PfHealthState  state,
                     char          *reason /* (transfer full) */)
{
  g_free (health->reason);
  health->reason = reason;
  if (health->state != state)
    {
      health->state = state;
      health->since_us = now_us;
    }
}

PfHealth *
pf_health_new (const PfHealthParams *params)
{
  PfHealth *health;

  g_return_val_if_fail (params != NULL, NULL);

  health = g_new0 (PfHealth, 1);
  health->params = *params;
  /* zero would make no sense for any of these: the smallest working value */
  health->params.down_rounds = MAX (params->down_rounds, 1);
  health->params.up_rounds = MAX (params->up_rounds, 1);
  health->params.up_min_us = MAX (params->up_min_us, 0);
  health->params.window = MAX (params->window, 1);
  health->rounds = g_new0 (PfHealthRound, health->params.window);
  pf_health_reset (health);

  return health;
}

void
pf_health_free (PfHealth *health)
{
  if (health == NULL)
    return;

  g_free (health->rounds);
  g_free (health->reason);
  g_free (health);
}

void
pf_health_reset (PfHealth *health)
{
  g_return_if_fail (health != NULL);

  health->state = PF_HEALTH_UNKNOWN;
  health->since_us = 0;
  g_free (health->reason);
  health->reason = g_strdup ("no probe round yet");
  health->link_ok = TRUE;
  health->last_failed = FALSE;
  health->consecutive_failed = 0;
  health->consecutive_good = 0;
  health->first_good_us = 0;
  health->n_rounds = 0;
  health->next = 0;
  health->window_sent = 0;
  health->window_answered = 0;
}

static void
pf_health_push_round (PfHealth *health,
                      guint     sent,
                      guint     answered,
                      gint64    rtt_us)
{
  PfHealthRound *slot = &health->rounds[health->next];

  if (health->n_rounds == health->params.window)
    {
      health->window_sent -= slot->sent;
      health->window_answered -= slot->answered;
    }
  else
    {
      health->n_rounds++;
    }

  slot->sent = sent;
  slot->answered = answered;
  slot->rtt_us = answered > 0 ? rtt_us : -1;
  health->window_sent += sent;
  health->window_answered += answered;
  health->next = (health->next + 1) % health->params.window;
}

/* Loss is reported rounded; degradation is judged on the same rounded
 * number so that the reason never says "loss 20 %" for an up uplink. */
static guint
pf_health_loss_percent (const PfHealth *health)
{
  double loss = pf_health_get_loss (health);

  return loss < 0 ? 0 : (guint) (loss + 0.5);
}

static gboolean
pf_health_is_lossy (const PfHealth *health)
{
  /* degraded_loss 0 disables the degraded state */
  return health->params.degraded_loss > 0 &&
         pf_health_get_loss (health) >= 0 &&
         pf_health_loss_percent (health) >= health->params.degraded_loss;
}

static char *
pf_health_format_rtt (const PfHealth *health)
{
  double rtt = pf_health_get_rtt_ms (health);

  if (rtt < 0)
    return g_strdup ("rtt unknown");
  return g_strdup_printf ("rtt %.1f ms", rtt);
}

gboolean
pf_health_add_round (PfHealth *health,
                     gint64    now_us,
                     guint     answered,
                     guint     sent,
                     guint     quorum,
                     gint64    rtt_us)
{
  PfHealthState old_state;
  gboolean failed;

  g_return_val_if_fail (health != NULL, FALSE);

  answered = MIN (answered, sent);
  failed = answered < quorum;
  old_state = health->state;

  pf_health_push_round (health, sent, answered, rtt_us);
  health->last_failed = failed;

  if (failed)
    {
      health->consecutive_failed++;
      health->consecutive_good = 0;
    }
  else
    {
      health->consecutive_failed = 0;
      if (health->consecutive_good++ == 0)
        health->first_good_us = now_us;
    }

  /* Without a link only the numbers move: rounds cannot prove anything
   * until the link is back (see pf_health_set_link()). */
  if (!health->link_ok)
    return FALSE;

  if (failed)
    {
      if (health->state != PF_HEALTH_DOWN &&
          health->consecutive_failed >= health->params.down_rounds)
        {
          g_autofree char *needed = quorum > 1 ? g_strdup_printf (" (quorum %u)", quorum) : NULL;

          pf_health_set_state (health, now_us, PF_HEALTH_DOWN,
                               g_strdup_printf ("%u/%u rounds lost, %u of %u targets answered%s",
                                                health->consecutive_failed,
                                                health->params.down_rounds,
                                                answered, sent,
                                                needed != NULL ? needed : ""));
          return TRUE;
        }
    }
  else if (health->state == PF_HEALTH_DOWN || health->state == PF_HEALTH_UNKNOWN)
    {
      gint64 span_us = now_us - health->first_good_us;

      if (health->consecutive_good >= health->params.up_rounds &&
          span_us >= health->params.up_min_us)
        {
          g_autofree char *rtt = pf_health_format_rtt (health);

          /* The window may still hold the rounds lost before: then it is
           * up but degraded until they have left the window. */
          if (pf_health_is_lossy (health))
            pf_health_set_state (health, now_us, PF_HEALTH_DEGRADED,
                                 g_strdup_printf ("%u good rounds in %.1f s, but loss %u %% over %u rounds, %s",
                                                  health->consecutive_good,
                                                  span_us / (double) G_USEC_PER_SEC,
                                                  pf_health_loss_percent (health),
                                                  health->n_rounds, rtt));
          else
            pf_health_set_state (health, now_us, PF_HEALTH_UP,
                                 g_strdup_printf ("%u good rounds in %.1f s, loss %u %%, %s",
                                                  health->consecutive_good,
                                                  span_us / (double) G_USEC_PER_SEC,
                                                  pf_health_loss_percent (health), rtt));
          return TRUE;
        }
      return FALSE;
    }

  /* up or degraded, and still so: follow the window's loss */
  if (health->state == PF_HEALTH_UP && pf_health_is_lossy (health))
    {
      g_autofree char *rtt = pf_health_format_rtt (health);

      pf_health_set_state (health, now_us, PF_HEALTH_DEGRADED,
                           g_strdup_printf ("loss %u %% over %u rounds, %s",
                                            pf_health_loss_percent (health),
                                            health->n_rounds, rtt));
    }
  else if (health->state == PF_HEALTH_DEGRADED && !pf_health_is_lossy (health))
    {
      g_autofree char *rtt = pf_health_format_rtt (health);

      pf_health_set_state (health, now_us, PF_HEALTH_UP,
                           g_strdup_printf ("loss back to %u %% over %u rounds, %s",
                                            pf_health_loss_percent (health),
                                            health->n_rounds, rtt));
    }

  return health->state != old_state;
}

gboolean
pf_health_set_link (PfHealth   *health,
                    gint64      now_us,
                    gboolean    link_ok,
                    const char *why)
{
  PfHealthState old_state;

  g_return_val_if_fail (health != NULL, FALSE);

  link_ok = !!link_ok;
  if (link_ok == health->link_ok)
    return FALSE;

  old_state = health->state;
  health->link_ok = link_ok;
  health->last_failed = FALSE;
  health->consecutive_failed = 0;
  health->consecutive_good = 0;
  health->first_good_us = 0;

  if (!link_ok)
    pf_health_set_state (health, now_us, PF_HEALTH_DOWN,
                         g_strdup (why != NULL && *why != '\0' ? why : "link lost"));
  else
    pf_health_set_state (health, now_us, PF_HEALTH_UNKNOWN,
                         g_strdup (why != NULL && *why != '\0' ? why : "link back"));

  return health->state != old_state;
}

PfHealthState
pf_health_get_state (const PfHealth *health)
{
  g_return_val_if_fail (health != NULL, PF_HEALTH_UNKNOWN);

  return health->state;
}

gint64
pf_health_get_since (const PfHealth *health)
{
  g_return_val_if_fail (health != NULL, 0);

  return health->since_us;
}

double
pf_health_get_loss (const PfHealth *health)
{
  g_return_val_if_fail (health != NULL, -1);

  if (health->n_rounds == 0 || health->window_sent == 0)
    return -1;

  return 100.0 * (double) (health->window_sent - health->window_answered) /
         (double) health->window_sent;
}

/* Rounds of the window, oldest first. */
static const PfHealthRound *
pf_health_nth_round (const PfHealth *health,
                     guint           i)
{
  guint oldest = (health->next + health->params.window - health->n_rounds) % health->params.window;

  return &health->rounds[(oldest + i) % health->params.window];
}

/* Over the window's answered rounds, oldest first: the mean RTT and the
 * mean absolute difference of consecutive RTTs, in ms, -1 if unknown. */
static void
pf_health_window_rtt (const PfHealth *health,
                      double         *out_rtt_ms,
                      double         *out_jitter_ms)
{
  gint64 previous = -1;
  gint64 rtt_sum = 0;
  gint64 jitter_sum = 0;
  guint n_rtt = 0;
  guint n_jitter = 0;

  for (guint i = 0; i < health->n_rounds; i++)
    {
      const PfHealthRound *round = pf_health_nth_round (health, i);

      if (round->rtt_us < 0)
        continue;
      rtt_sum += round->rtt_us;
      n_rtt++;
      if (previous >= 0)
        {
          jitter_sum += ABS (round->rtt_us - previous);
          n_jitter++;
        }
      previous = round->rtt_us;
    }

  *out_rtt_ms = n_rtt == 0 ? -1 : (double) rtt_sum / n_rtt / 1000.0;
  *out_jitter_ms = n_jitter == 0 ? -1 : (double) jitter_sum / n_jitter / 1000.0;
}

double
pf_health_get_rtt_ms (const PfHealth *health)
{
  double rtt_ms, jitter_ms;

  g_return_val_if_fail (health != NULL, -1);

  pf_health_window_rtt (health, &rtt_ms, &jitter_ms);
  return rtt_ms;
}

double
pf_health_get_jitter_ms (const PfHealth *health)
{
  double rtt_ms, jitter_ms;

  g_return_val_if_fail (health != NULL, -1);

  pf_health_window_rtt (health, &rtt_ms, &jitter_ms);
  return jitter_ms;
}

gboolean
pf_health_wants_fast (const PfHealth *health)
{
  g_return_val_if_fail (health != NULL, FALSE);

  return health->last_failed && health->state != PF_HEALTH_DOWN;
}

const char *
pf_health_get_reason (const PfHealth *health)
{
  g_return_val_if_fail (health != NULL, NULL);

  return health->reason;
}

const char *
pf_health_state_to_string (PfHealthState state)
{
  switch (state)
    {
    case PF_HEALTH_UNKNOWN:
      return "unknown";
    case PF_HEALTH_UP:
      return "up";
    case PF_HEALTH_DEGRADED:
      return "degraded";
    case PF_HEALTH_DOWN:
      return "down";
    default:
      break;
    }

  return "invalid";
}
