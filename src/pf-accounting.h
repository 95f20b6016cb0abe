/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Data usage of the backup uplinks: every few seconds the kernel counters of
 * each backup's interface go into its PfUsage (billing cycles, thresholds,
 * history); the totals are published on the uplink's D-Bus object, alert
 * thresholds and the cap are reported by signals, and the whole is saved in
 * the state file by the manager.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "pf-uplink.h"

G_BEGIN_DECLS

#define PF_ACCOUNTING_SAMPLE_MS  5000
#define PF_ACCOUNTING_SAVE_MS    (5 * 60 * 1000)

#define PF_TYPE_ACCOUNTING (pf_accounting_get_type ())
G_DECLARE_FINAL_TYPE (PfAccounting, pf_accounting, PF, ACCOUNTING, GObject)

/* @uplinks: the PfUplink objects (borrowed, must outlive it; only backups
 * are counted). @saved: a "usage" object as written by
 * pf_accounting_to_json(), or NULL; a backup's saved count that cannot be
 * read is started afresh with a warning.
 *
 * Signals:
 *   "threshold" (PfUplink *uplink, guint percent, const char *text): a usage
 *     alert, once per cycle, @text like "80 % of 10.0 GB used (8.01 GB)".
 *   "capped" (PfUplink *uplink, gboolean capped, const char *text): the
 *     plan was used up, or is not any more (new cycle, correction).
 *   "save" (): the counts changed since the last save, which is due. */
PfAccounting *pf_accounting_new        (GPtrArray  *uplinks,
                                        JsonObject *saved);

/* Sample now, then every PF_ACCOUNTING_SAMPLE_MS. */
void          pf_accounting_start      (PfAccounting *self);
/* Read the counters now (before the state is saved at a transition). */
void          pf_accounting_sample     (PfAccounting *self);

/* One object, by uplink name. */
void          pf_accounting_to_json    (PfAccounting *self,
                                        JsonBuilder  *builder);

/* Is @uplink's plan used up? */
gboolean      pf_accounting_is_capped  (PfAccounting *self,
                                        PfUplink     *uplink);

/* SetUsage, ResetUsage, GetUsage: PF_ERROR_NOT_FOUND for a name that is not
 * a backup. */
gboolean      pf_accounting_set_used   (PfAccounting  *self,
                                        const char    *name,
                                        guint64        bytes,
                                        GError       **error);
gboolean      pf_accounting_reset      (PfAccounting  *self,
                                        const char    *name,
                                        GError       **error);
char         *pf_accounting_describe   (PfAccounting  *self,
                                        const char    *name,
                                        GError       **error);

/* For hooks and notifications: "USAGE_BYTES=…" etc. of @uplink, NULL for
 * an uplink that is not counted. */
GStrv         pf_accounting_environment (PfAccounting *self,
                                         PfUplink     *uplink);

G_END_DECLS
