/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Health of one uplink from its probe rounds: a pure module, no I/O, the
 * caller passes the time (monotonic microseconds) in.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  PF_HEALTH_UNKNOWN,
  PF_HEALTH_UP,
  PF_HEALTH_DEGRADED,
  PF_HEALTH_DOWN,
} PfHealthState;

typedef struct {
  guint  down_rounds;    /* consecutive failed rounds that make it down */
  guint  up_rounds;      /* consecutive good rounds that make it up ... */
  gint64 up_min_us;      /* ... and at least this long since the first of them */
  guint  window;         /* rounds kept for loss/RTT/jitter, e.g. 20 */
  guint  degraded_loss;  /* loss % over the window that makes an up uplink degraded
                          * (still usable, never a reason to switch); 0 = never */
} PfHealthParams;

typedef struct _PfHealth PfHealth;

PfHealth      *pf_health_new            (const PfHealthParams *params);
void           pf_health_free           (PfHealth *health);

/* One finished round, in the order rounds finish (they may overlap):
 * @answered of @sent targets answered, @quorum needed; the round failed when
 * @answered < @quorum. @rtt_us is the mean RTT of the answers, or -1 when
 * none answered. While the link is lost, rounds only feed the numbers.
 * Returns TRUE when the state changed (up <-> degraded included). */
gboolean       pf_health_add_round      (PfHealth *health,
                                         gint64    now_us,
                                         guint     answered,
                                         guint     sent,
                                         guint     quorum,
                                         gint64    rtt_us);

/* Carrier or NetworkManager device state. Losing the link makes the uplink
 * down at once; getting it back makes it unknown until rounds prove it.
 * Returns TRUE when the state changed. */
gboolean       pf_health_set_link       (PfHealth *health,
                                         gint64    now_us,
                                         gboolean  link_ok,
                                         const char *why);

/* Forget everything (e.g. config reload, cold backup brought down): unknown,
 * no rounds, the link assumed present until told otherwise. */
void           pf_health_reset          (PfHealth *health);

PfHealthState  pf_health_get_state      (const PfHealth *health);
/* When the current state was entered (now_us of that call), 0 if never. */
gint64         pf_health_get_since      (const PfHealth *health);
/* Loss % over the window (0..100): probes lost / probes sent, -1 when no round yet. */
double         pf_health_get_loss       (const PfHealth *health);
/* Mean RTT and mean absolute RTT difference of consecutive answered rounds, ms, -1 if unknown. */
double         pf_health_get_rtt_ms     (const PfHealth *health);
double         pf_health_get_jitter_ms  (const PfHealth *health);
/* TRUE after a failed round while not yet down: probe at the fast interval. */
gboolean       pf_health_wants_fast     (const PfHealth *health);
/* A human reason for the current state, set when it was entered, e.g.
 * "5/5 rounds lost, 0 of 3 targets answered", "carrier lost" (the @why of
 * pf_health_set_link()), "11 good rounds in 5.0 s, loss 0 %, rtt 1.2 ms",
 * "loss 26 % over 20 rounds, rtt 1.2 ms". Owned by @health. */
const char    *pf_health_get_reason     (const PfHealth *health);

const char    *pf_health_state_to_string (PfHealthState state);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfHealth, pf_health_free)

G_END_DECLS
