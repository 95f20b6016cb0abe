/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * DNS continuity: while a backup carries traffic the host resolves names
 * through resolvers reachable over that backup (its dns= key, else those
 * NetworkManager learned on it), and what was there before comes back,
 * exactly, on failback.
 *
 * Two ways, chosen by [daemon] dns= (auto picks NetworkManager when it
 * manages resolv.conf, else resolv.conf):
 *
 *  - networkmanager: NetworkManager's global DNS configuration (the
 *    GlobalDnsConfiguration property; NM persists it in
 *    NetworkManager-intern.conf). Only the servers of the default domain
 *    "*" change; searches, options and other domains are kept. The previous
 *    value is saved and set again on failback (an empty one clears it).
 *  - resolv.conf: /etc/resolv.conf rewritten from the original: search,
 *    options and comment lines kept, nameserver lines replaced, a header
 *    naming pvefailoverd. The original bytes, mode and symlink target are
 *    saved first. A symlink (systemd-resolved, resolvconf) is never written
 *    through: it is replaced by a file and recreated with the same target.
 *    A bind-mounted file (rename() gives EBUSY) is written in place.
 *
 * What was saved lives in STATE_DIR/dns.json (and resolv.conf.orig): while
 * it exists the host's DNS is swapped, so a daemon killed while swapped
 * repairs it on its next start (pf_dns_follow with the uplink that carries
 * traffic). If someone else changed the value meanwhile (it is no longer the
 * one written here), theirs is kept and the saved copy dropped.
 *
 * Failures never block anything: they come back as the "failed" signal
 * (const char *uplink or NULL, const char *reason), which the manager turns
 * into an "error" event.
 */
#pragma once

#include <NetworkManager.h>
#include <json-glib/json-glib.h>

#include "pf-config.h"

G_BEGIN_DECLS

typedef enum {
  PF_DNS_WAY_NONE,
  PF_DNS_WAY_NETWORKMANAGER,
  PF_DNS_WAY_RESOLV_CONF,
} PfDnsWay;

/* "none", "networkmanager", "resolv.conf" */
const char *pf_dns_way_to_string      (PfDnsWay way);

/* Pure: the way for @mode, given NetworkManager's DNS mode and resolv.conf
 * manager (nm_client_get_dns_mode(), nm_client_get_dns_rc_manager()), both
 * NULL when NetworkManager is not running. */
PfDnsWay    pf_dns_choose_way         (PfDnsMode   mode,
                                       const char *nm_dns_mode,
                                       const char *nm_rc_manager);

/* Pure: @original (a resolv.conf) with its nameserver lines replaced by
 * @servers at the place of the first one (at the end when it had none),
 * every other line kept, and a first line saying pvefailoverd wrote it for
 * @uplink. Always ends with a newline. */
char       *pf_dns_render_resolv_conf (const char         *original,
                                       const char * const *servers,
                                       const char         *uplink);

/* Pure: the GlobalDnsConfiguration (a{sv}) to set: @previous (the current
 * value, may be empty) with the default domain "*" using @servers; when
 * @previous has no searches, @searches (may be NULL). Floating. */
GVariant   *pf_dns_nm_global_dns      (GVariant           *previous,
                                       const char * const *servers,
                                       const char * const *searches);

#define PF_TYPE_DNS (pf_dns_get_type ())
G_DECLARE_FINAL_TYPE (PfDns, pf_dns, PF, DNS, GObject)

/* @nm may be NULL. @state_dir holds dns.json and resolv.conf.orig;
 * @resolv_conf is the file of the resolv.conf way (/etc/resolv.conf).
 * Loads what a previous run saved. */
PfDns      *pf_dns_new                (NMClient   *nm,
                                       const char *state_dir,
                                       const char *resolv_conf);

void        pf_dns_set_mode           (PfDns      *self,
                                       PfDnsMode   mode);

/* Traffic leaves through @uplink now (its kernel interface @ifname, may be
 * NULL). A backup's resolvers are put in place; for the primary (or with
 * dns=off, or a backup without resolvers) what was saved is restored.
 * Idempotent: this is also how a start or a reload reconciles. The
 * NetworkManager way completes asynchronously. */
void        pf_dns_follow             (PfDns                *self,
                                       const PfUplinkConfig *uplink,
                                       const char           *ifname);

/* Restore what was saved now, synchronously (daemon stop with on-stop=restore). */
void        pf_dns_restore            (PfDns *self);

/* {"mode": "auto", "way": "resolv.conf"|"networkmanager"|null,
 *  "uplink": NAME|null, "servers": [ADDR, ...]|null} for GetStatus(). */
void        pf_dns_to_json            (PfDns       *self,
                                       JsonBuilder *builder);

G_END_DECLS
