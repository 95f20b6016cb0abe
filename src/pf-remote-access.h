/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One remote access (a [remote-access NAME] group): the VPN the admin comes
 * in through. A probe pings a peer across the tunnel, through the tunnel's
 * interface; after every switch of uplinks the VPN is re-pinned to the new
 * path: a WireGuard peer's endpoint is resolved and set again and the probe
 * runs every 250 ms until the peer answers, which makes WireGuard send from
 * the new path (the far end roams to it); a ZeroTier network that does not
 * answer within a few seconds is left and joined again through the local
 * service API, so that ZeroTier looks for new paths at once.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "pf-config.h"

G_BEGIN_DECLS

#define PF_TYPE_REMOTE_ACCESS (pf_remote_access_get_type ())
G_DECLARE_FINAL_TYPE (PfRemoteAccess, pf_remote_access, PF, REMOTE_ACCESS, GObject)

/* @config is borrowed and must outlive the object. Nothing is sent until
 * pf_remote_access_start(). Signals:
 *   "state-changed" (const char *state, const char *reason): "up" or "down"
 *   "repinned" (double seconds, const char *how): the peer answered again
 *     after a switch, @seconds after pf_remote_access_repin()
 *   "failed" (const char *reason): an action could not be done ("wg" missing,
 *     the ZeroTier API refused) */
PfRemoteAccess *pf_remote_access_new   (const PfRemoteAccessConfig *config);
void            pf_remote_access_start (PfRemoteAccess *self);
void            pf_remote_access_stop  (PfRemoteAccess *self);

/* After a switch of uplinks: re-pin (WireGuard: every peer's endpoint set
 * again, endpoint= resolved again), then probe every 250 ms until the peer
 * answers (at most 30 s). */
void            pf_remote_access_repin (PfRemoteAccess *self);

/* An out-of-band WireGuard tunnel, once its mark is routed through the
 * backup: every peer's endpoint is set again, so that WireGuard forgets the
 * source address and interface it kept from before (wireguard-go pins both)
 * and takes the backup. Nothing for other remote accesses. */
void            pf_remote_access_reset_path (PfRemoteAccess *self);

const char     *pf_remote_access_get_name  (PfRemoteAccess *self);
/* "unknown", "up" or "down" */
const char     *pf_remote_access_get_state (PfRemoteAccess *self);

/* {"name", "type", "interface", "probe", "state", "rtt_ms", "since",
 *  "out_of_band", "last_repin_seconds"} for GetStatus. */
void            pf_remote_access_to_json   (PfRemoteAccess *self,
                                            JsonBuilder    *builder);

G_END_DECLS
