/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Is the modem behind a backup able to carry traffic? A pure module: modem
 * snapshots and the time come in, a verdict and alerts come out. Costs no
 * data: it only reads telemetry.
 *
 *   broken at once:      modem gone, SIM missing, locked or failing, modem failed
 *   broken after grace:  not registered (searching, denied, idle) for registration_grace_us
 *   alert only:          RSRP below signal_alert_dbm for signal_alert_us
 *
 * Each problem raises one alert when it starts and one "cleared" when it ends.
 */
#pragma once

#include "pf-modem.h"

G_BEGIN_DECLS

typedef struct {
  int    signal_alert_dbm;
  gint64 signal_alert_us;
  gint64 registration_grace_us;
} PfModemHealthParams;

typedef struct {
  gboolean cleared;   /* FALSE: a problem started; TRUE: it ended */
  char    *text;      /* "SIM missing", "signal weak: RSRP -121 dBm below -115 dBm for 5 min",
                       * "cleared: SIM missing" */
} PfModemAlert;

void pf_modem_alert_free (PfModemAlert *alert);

typedef struct _PfModemHealth PfModemHealth;

PfModemHealth *pf_modem_health_new      (const PfModemHealthParams *params);
void           pf_modem_health_free     (PfModemHealth *health);

/* A new snapshot, or just the time passing (@info NULL: the last one).
 * Returns when to call again without news (a grace or alert time ending),
 * 0 when nothing is pending. */
gint64         pf_modem_health_update   (PfModemHealth     *health,
                                         gint64             now_us,
                                         const PfModemInfo *info);

/* Forget everything, raising no alert: the modem is no longer watched
 * (a stick's API is read only while its link is up). */
void           pf_modem_health_reset    (PfModemHealth *health);

/* NULL when the modem can carry traffic, else why not (owned by @health). */
const char    *pf_modem_health_get_broken (const PfModemHealth *health);

/* Alerts raised since the last call, oldest first (PfModemAlert, caller owns). */
GPtrArray     *pf_modem_health_take_alerts (PfModemHealth *health);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfModemHealth, pf_modem_health_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfModemAlert, pf_modem_alert_free)

G_END_DECLS
