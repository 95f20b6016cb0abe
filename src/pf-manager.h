/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The daemon's core: owns the uplinks, asks the policy, applies its
 * decisions through the actuators, records events, and implements
 * org.pvefailover.Manager1.
 */
#pragma once

#include <gio/gio.h>

#include "pf-config.h"

G_BEGIN_DECLS

#define PF_TYPE_MANAGER (pf_manager_get_type ())
G_DECLARE_FINAL_TYPE (PfManager, pf_manager, PF, MANAGER, GObject)

/* Takes ownership of @config. Exports the objects on @bus; nothing on the
 * host is touched before pf_manager_start(). */
PfManager *pf_manager_new    (GDBusConnection *bus,
                              const char      *config_path,
                              PfConfig        *config,
                              GError         **error);

/* Connect to NetworkManager, reconcile the host with the saved and found
 * state, start probing. */
void       pf_manager_start  (PfManager *self);

/* Re-read the configuration; an invalid file changes nothing. */
gboolean   pf_manager_reload (PfManager *self,
                              GError   **error);

/* Clean stop: restore the host's normal routing and remove the daemon's
 * table unless on-stop=keep; save the state. */
void       pf_manager_stop   (PfManager *self);

G_END_DECLS
