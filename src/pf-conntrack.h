/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Flush the conntrack entries of flows that left through an uplink, found by
 * the conntrack mark the firewall sets on their first packet (ctnetlink over libmnl).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Delete every IPv4 and IPv6 entry whose (ct mark & @mask) == @mark.
 * Sets @n_deleted (may be NULL) to the number of entries removed when known. */
gboolean pf_conntrack_flush_mark (guint32   mark,
                                  guint32   mask,
                                  guint    *n_deleted,
                                  GError  **error);

/* Count the entries whose (ct mark & @mask) == @mark (tests, status). */
gboolean pf_conntrack_count_mark (guint32   mark,
                                  guint32   mask,
                                  guint    *n_entries,
                                  GError  **error);

G_END_DECLS
