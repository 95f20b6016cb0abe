/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The daemon's nftables table, `inet pvefailover`: rendered from the desired
 * state as text by a pure function, applied in one libnftables transaction.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PF_NFT_TABLE "pvefailover"

/* A backup whose data plan is used up (cap-action=). */
typedef enum {
  PF_FIREWALL_LIMIT_NONE,
  PF_FIREWALL_LIMIT_GUESTS,  /* restrict: no guest leaves through it, the host still may */
  PF_FIREWALL_LIMIT_ALL,     /* block: blocked as in standby, even while active */
} PfFirewallLimit;

typedef struct {
  const char *name;        /* uplink name, for comments */
  const char *ifname;      /* kernel interface */
  gboolean    is_backup;   /* backups get the standby block */
  gboolean    active;      /* carries traffic now (no block, guests masqueraded) */
  const char *management;  /* backups: address reachable even in standby, or NULL */
  guint32     ct_mark;     /* value (within the mask) tagging flows that leave through it */
  PfFirewallLimit limit;   /* backups */
} PfFirewallUplink;

/* A port forward in place now: from the VPN interfaces to a service inside. */
typedef struct {
  const char         *name;        /* for comments */
  const char         *proto;       /* "tcp" or "udp" */
  guint16             port;        /* on the host's VPN address */
  const char         *to_address;  /* IPv4 or IPv6 literal */
  guint16             to_port;
  const char * const *interfaces;  /* NULL-terminated; a trailing '*' matches a prefix */
  gboolean            masquerade;  /* the service sees the host as the source */
} PfFirewallForward;

/* A tunnel whose packets (marked @fwmark) leave through a backup even in
 * standby: they pass its block, and their flows are not tagged with the
 * uplink, so no switch flushes them. */
typedef struct {
  const char *name;     /* for comments */
  const char *ifname;   /* the backup's interface */
  guint32     fwmark;
} PfFirewallOutOfBand;

/* A tunnel uplink's far end, reached through the backup that carries the
 * tunnel: it passes that backup's standby block. */
typedef struct {
  const char *name;     /* the tunnel uplink's, for comments */
  const char *ifname;   /* the carrying backup's interface */
  const char *server;   /* IPv4 or IPv6 address */
} PfFirewallTunnel;

typedef struct {
  const PfFirewallUplink *uplinks;
  guint                   n_uplinks;
  const char * const     *allowed;    /* NULL-terminated "A.B.C.D/N" guests allowed on a backup */
  guint32                 probe_mark; /* the daemon's probes pass the standby block */
  guint32                 ct_mark_mask;
  const char * const     *allowed6;   /* NULL-terminated "X::Y/N" IPv6 guests, or NULL */
  gboolean                nat66;      /* allowed6 leave through an active backup, masqueraded;
                                       * without it no IPv6 guest traffic leaves through a backup */
  const PfFirewallForward *forwards;
  guint                   n_forwards;
  const PfFirewallOutOfBand *out_of_band;
  guint                   n_out_of_band;
  const PfFirewallTunnel *tunnels;
  guint                   n_tunnels;
} PfFirewallSpec;

/* Whether @spec can be rendered: interface names that nft matches literally
 * (no quotes, backslashes or '*' wildcard, at most 15 bytes), IPv4 networks
 * without host bits for @allowed, IPv6 ones for @allowed6, an IPv4 or IPv6
 * address or network for management, ct marks within the mask, forwards to
 * an address with a port, tcp or udp, on interface names or prefixes,
 * out-of-band marks that are not the probe mark, tunnel servers that are
 * addresses. The daemon checks this before
 * rendering; pf_firewall_render() treats an invalid spec as a programming error. */
gboolean  pf_firewall_spec_validate (const PfFirewallSpec  *spec,
                                     GError               **error);

/* The complete script: "table inet pvefailover {...}" preceded by the lines
 * that make a replace atomic (add table; delete table; table ... { }).
 * Returns NULL (with a critical) when @spec is not valid. */
char     *pf_firewall_render (const PfFirewallSpec *spec);

/* Apply a rendered script in one transaction. */
gboolean  pf_firewall_apply  (const char  *script,
                              GError     **error);

/* Delete the table if it exists; no error when absent (one transaction:
 * add table; delete table, as nftables 1.0.6 has no "destroy"). */
gboolean  pf_firewall_remove (GError **error);

/* Check a script without applying it (nft --check). */
gboolean  pf_firewall_check  (const char  *script,
                              GError     **error);

G_END_DECLS
