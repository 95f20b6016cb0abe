/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Which uplink carries traffic: a pure state machine, no I/O, injected time.
 *
 * An uplink is good when it is usable and up or degraded; the policy keeps,
 * per index, since when it has been good (from its state_since_us, not
 * before a call that saw it not good; becoming usable counts from now).
 * PF_MODE_AUTO:
 *  - the active uplink, good or still unknown (start-up, a cold backup just
 *    brought up: its rounds settle it within seconds), stays active until a
 *    more preferred uplink has been good for that one's failback_hold_us
 *    (meanwhile recheck_at_us tells when the earliest hold expires);
 *  - an active uplink that is down, unusable or gone is left at once for
 *    the most preferred good uplink, else the most preferred usable one
 *    that is not down (e.g. a cold backup never probed), else it stays.
 * PF_MODE_FORCE: @force_index, whatever its state. PF_MODE_MAINTENANCE: no
 * change. The good times keep counting in every mode.
 */
#pragma once

#include <glib.h>

#include "pf-health.h"

G_BEGIN_DECLS

typedef enum {
  PF_MODE_AUTO,
  PF_MODE_FORCE,
  PF_MODE_MAINTENANCE,
} PfMode;

/* What the policy knows about one uplink. The array passed to
 * pf_policy_decide() is ordered by preference: index 0 is the primary. */
typedef struct {
  const char    *name;
  PfHealthState  state;
  gint64         state_since_us;   /* when @state was entered */
  gint64         failback_hold_us; /* how long it must be up before we return to it */
  gboolean       usable;           /* FALSE: known broken (failed bring-up, no device) */
  const char    *health_reason;    /* pf_health_get_reason() */
} PfPolicyUplink;

typedef struct {
  guint    active;          /* index of the uplink that should carry traffic */
  gboolean changed;         /* active differs from the previous decide() (or @initial_active) */
  char    *reason;          /* human, always set, also when staying: why this uplink, e.g.
                             * "primary down: 5/5 rounds lost, 0 of 3 targets answered; lte up",
                             * "primary up for 60 s (hold 60 s)" */
  gint64   recheck_at_us;   /* call again at this time even without news (hold expiry), 0 = no need */
} PfDecision;

typedef struct _PfPolicy PfPolicy;

/* @initial_active: the uplink carrying traffic now (restored from state). */
PfPolicy   *pf_policy_new        (guint initial_active);
void        pf_policy_free       (PfPolicy *policy);

/* @force_index is used only with PF_MODE_FORCE. In PF_MODE_MAINTENANCE the
 * active uplink never changes. Fills @decision (free with pf_decision_clear). */
void        pf_policy_decide     (PfPolicy             *policy,
                                  gint64                now_us,
                                  const PfPolicyUplink *uplinks,
                                  guint                 n_uplinks,
                                  PfMode                mode,
                                  guint                 force_index,
                                  PfDecision           *decision);

guint       pf_policy_get_active (const PfPolicy *policy);
void        pf_decision_clear    (PfDecision *decision);

const char *pf_mode_to_string    (PfMode mode);
gboolean    pf_mode_from_string  (const char *text, PfMode *mode);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfPolicy, pf_policy_free)

G_END_DECLS
