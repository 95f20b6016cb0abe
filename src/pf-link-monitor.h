/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Carrier of the uplinks' interfaces from rtnetlink link notifications: the
 * fastest signal of an outage, and the only one for an interface that
 * NetworkManager does not manage (Proxmox's vmbr0).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PF_TYPE_LINK_MONITOR (pf_link_monitor_get_type ())
G_DECLARE_FINAL_TYPE (PfLinkMonitor, pf_link_monitor, PF, LINK_MONITOR, GObject)

/* Emits "link-changed" (const char *ifname, int ifindex, gboolean carrier)
 * for every link message; ifindex 0 and carrier FALSE when the link is gone. */
PfLinkMonitor *pf_link_monitor_new         (GError **error);

/* Current state from the kernel: FALSE when the interface does not exist.
 * @carrier: lower layer up and administratively up. */
gboolean       pf_link_monitor_query       (PfLinkMonitor *monitor,
                                            const char    *ifname,
                                            int           *ifindex,
                                            gboolean      *carrier);

/* Drop @ifindex's neighbour entries that failed or are still being
 * resolved. After an outage, the entry of the gateway is left incomplete
 * and the kernel asks again only once a second: a link that came back
 * would answer probes up to a second late. */
gboolean       pf_link_monitor_forget_unresolved (PfLinkMonitor *monitor,
                                                  int            ifindex,
                                                  guint         *n_deleted,
                                                  GError       **error);

G_END_DECLS
