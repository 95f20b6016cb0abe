/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Modem telemetry from ModemManager (libmm-glib), read-only: the only call
 * that reaches the modem is Signal.Setup(rate), which turns on extended
 * signal reporting. Follows ModemManager restarts and the modem being
 * unplugged and plugged back (found again by path, equipment identifier or
 * device).
 */
#pragma once

#include "pf-modem.h"

G_BEGIN_DECLS

#define PF_TYPE_MODEM_MM (pf_modem_mm_get_type ())
G_DECLARE_FINAL_TYPE (PfModemMm, pf_modem_mm, PF, MODEM_MM, PfModem)

/* @bus: the system bus ModemManager is on.
 * @modem_path: the modem's object path (a NetworkManager modem device's udi),
 *   or NULL for the first modem found.
 * @signal_rate_s: the extended signal refresh rate asked of the modem, in
 *   seconds; 0 leaves extended signal reporting as it is. */
PfModem *pf_modem_mm_new (GDBusConnection *bus,
                          const char      *modem_path,
                          guint            signal_rate_s);

G_END_DECLS
