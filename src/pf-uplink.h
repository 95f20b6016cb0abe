/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One uplink at run time: its probes, health, carrier, NetworkManager device
 * and connection, standby test, and its org.pvefailover.Uplink1 object.
 * It never decides; it reports "changed" and the manager decides.
 */
#pragma once

#include <NetworkManager.h>
#include <json-glib/json-glib.h>

#include "pf-config.h"
#include "pf-dbus-generated.h"
#include "pf-health.h"
#include "pf-modem.h"
#include "pf-policy.h"
#include "pf-prober.h"

G_BEGIN_DECLS

#define PF_TYPE_UPLINK (pf_uplink_get_type ())
G_DECLARE_FINAL_TYPE (PfUplink, pf_uplink, PF, UPLINK, GObject)

/* @config is borrowed and must outlive the uplink. @nm may be NULL (no
 * NetworkManager on the bus): then only kernel state is used. */
PfUplink             *pf_uplink_new            (const PfUplinkConfig *config,
                                                NMClient             *nm,
                                                GDBusConnection      *bus,
                                                guint32               probe_mark,
                                                guint32               ct_mark);

const PfUplinkConfig *pf_uplink_get_config     (PfUplink *self);
const char           *pf_uplink_get_name       (PfUplink *self);
gboolean              pf_uplink_is_backup      (PfUplink *self);
/* The kernel interface carrying its traffic, NULL when unknown. */
const char           *pf_uplink_get_ifname     (PfUplink *self);
int                   pf_uplink_get_ifindex    (PfUplink *self);
gboolean              pf_uplink_get_carrier    (PfUplink *self);
/* IPv4 gateway: the configured one, else NetworkManager's; NULL if unknown. */
const char           *pf_uplink_get_gateway    (PfUplink *self);
/* IPv6 gateway, the same way (gateway6=, else NetworkManager's, often a
 * link-local address); NULL if unknown or the uplink has no IPv6. */
const char           *pf_uplink_get_gateway6   (PfUplink *self);
guint32               pf_uplink_get_ct_mark    (PfUplink *self);
PfDBusUplink1        *pf_uplink_get_skeleton   (PfUplink *self);
char                 *pf_uplink_get_object_path (PfUplink *self);

/* What the policy sees. Strings point into @self. */
void                  pf_uplink_fill_policy    (PfUplink       *self,
                                                PfPolicyUplink *out);
PfHealthState         pf_uplink_get_state      (PfUplink *self);
const char           *pf_uplink_get_reason     (PfUplink *self);

/* Begin watching (link, NetworkManager) and probing; the primary is probed
 * all the time, a backup only while active plus its standby tests. */
void                  pf_uplink_start          (PfUplink *self);
void                  pf_uplink_stop           (PfUplink *self);

/* From the link monitor. */
void                  pf_uplink_link_changed   (PfUplink   *self,
                                                int         ifindex,
                                                gboolean    carrier);

/* The manager made it the uplink that carries traffic, or took that away. */
void                  pf_uplink_set_active     (PfUplink *self,
                                                gboolean  active);
gboolean              pf_uplink_get_active     (PfUplink *self);

/* Is the backup's link ready to carry traffic now (NM connection activated
 * with a gateway of either family, or a kernel-only interface with carrier
 * and a gateway)? */
gboolean              pf_uplink_is_ready       (PfUplink *self);

/* Bring a backup's NetworkManager connection up (cold standby before a
 * switch) and report when it is ready or failed; bounded by activate-timeout. */
void                  pf_uplink_bring_up_async  (PfUplink            *self,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
gboolean              pf_uplink_bring_up_finish (PfUplink      *self,
                                                 GAsyncResult  *result,
                                                 GError       **error);
/* Take a cold-standby backup's connection down again (no-op for hot). */
void                  pf_uplink_bring_down      (PfUplink *self);

/* One probe round now (TestUplink, standby test). */
void                  pf_uplink_test_async      (PfUplink            *self,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
PfRoundResult        *pf_uplink_test_finish     (PfUplink      *self,
                                                 GAsyncResult  *result,
                                                 GError       **error);

/* Backups: the IP bytes its probes and standby tests put on the wire since
 * the last call (an estimate), for the data usage accounting. */
guint64               pf_uplink_take_monitoring_bytes (PfUplink *self);

/* The modem's latest snapshot while its telemetry runs, else NULL. */
const PfModemInfo    *pf_uplink_get_modem_info  (PfUplink *self);

/* Set a double property of its D-Bus object, NaN allowed (unknown), with a
 * change signal only when the value changed. */
void                  pf_uplink_set_double_property (PfUplink   *self,
                                                     const char *dbus_name,
                                                     double      value);

/* Status for GetStatus(). */
void                  pf_uplink_to_json         (PfUplink    *self,
                                                 JsonBuilder *builder);

G_END_DECLS
