/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The routing switch, over rtnetlink (libnl-route-3): one table per backup
 * holding its default routes (IPv4 and, when the backup has an IPv6
 * gateway, IPv6), a fwmark rule that lets the daemon's bound probes use
 * those tables, and while failed over a pair of rules that send everything
 * that is not local to the active backup's table.
 *
 * Rules the daemon owns, at priority P = config rule_priority, the same set
 * for IPv4 and for IPv6:
 *   P     fwmark PROBE_MARK lookup T_b          (one per backup b, always)
 *   P     fwmark M lookup T_b                   (an out-of-band tunnel's mark M, always)
 *   P     to S lookup T_b                       (a tunnel's far end S, carried by b, always)
 *   P+1   lookup main suppress_prefixlength 0   (only while failed over)
 *   P+2   lookup T_active                       (only while failed over)
 * The primary's configuration (main table) is never touched.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  const char *name;      /* for messages */
  guint       table;
  int         ifindex;   /* 0 when the interface does not exist (route removed) */
  const char *gateway;   /* IPv4 literal, NULL when unknown (route removed) */
  const char *gateway6;  /* IPv6 literal (link-local allowed), NULL when the
                          * backup has none: no IPv6 route in its table */
  /* A tunnel (via=): its table also routes its far end through the backup
   * that carries it. NULL server: not a tunnel. */
  const char *server;
  int         server_ifindex;   /* the carrier's interface, 0 when absent */
  const char *server_gateway;   /* the carrier's gateways */
  const char *server_gateway6;
} PfRoutingBackup;

/* Packets carrying @fwmark always use @table (a backup's). */
typedef struct {
  guint32 fwmark;
  guint   table;
} PfRoutingMark;

/* Packets to @address (an IPv4 or IPv6 literal) always use @table: a
 * tunnel's far end, reached through the backup that carries the tunnel. */
typedef struct {
  const char *address;
  guint       table;
} PfRoutingDest;

typedef struct {
  const PfRoutingBackup *backups;
  guint                  n_backups;
  const PfRoutingMark   *marks;
  guint                  n_marks;
  const PfRoutingDest   *dests;
  guint                  n_dests;
  guint32                probe_mark;
  guint                  rule_priority;
  guint                  active_table;  /* 0 = primary (no switch rules) */
} PfRoutingSpec;

typedef struct _PfRouting PfRouting;

PfRouting *pf_routing_new     (GError **error);
void       pf_routing_free    (PfRouting *routing);

/* Make the kernel match @spec, for IPv4 and IPv6: add what is missing,
 * replace what differs, delete the daemon's rules (at P..P+2) and routes
 * (in the backups' tables) that @spec does not hold. Applying twice changes
 * nothing. A kernel without IPv6 gets the IPv4 half only. */
gboolean   pf_routing_apply   (PfRouting            *routing,
                               const PfRoutingSpec  *spec,
                               GError              **error);

/* Remove every rule at P..P+2 and flush the given tables (both families). */
gboolean   pf_routing_remove  (PfRouting            *routing,
                               const PfRoutingSpec  *spec,
                               GError              **error);

/* Which table the P+2 rule points at now (0 when none): what a restarted
 * daemon finds. */
guint      pf_routing_get_active_table (PfRouting *routing,
                                        guint      rule_priority,
                                        GError   **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfRouting, pf_routing_free)

G_END_DECLS
