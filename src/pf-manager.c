/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "pvefailover"

#include "config.h"

#include <NetworkManager.h>
#include <json-glib/json-glib.h>

#include "pf-accounting.h"
#include "pf-announcer.h"
#include "pf-authority.h"
#include "pf-conntrack.h"
#include "pf-dbus-generated.h"
#include "pf-dns.h"
#include "pf-error.h"
#include "pf-firewall.h"
#include "pf-link-monitor.h"
#include "pf-manager.h"
#include "pf-modem.h"
#include "pf-policy.h"
#include "pf-remote-access.h"
#include "pf-routing.h"
#include "pf-state.h"
#include "pf-uplink.h"

#define PF_OBJECT_PATH "/org/pvefailover"
/* A backup that failed to come up is not tried again for this long. */
#define PF_BRING_UP_RETRY_US (60 * G_USEC_PER_SEC)

struct _PfManager
{
  GObject          parent_instance;

  GDBusConnection *bus;
  char            *config_path;
  PfConfig        *config;
  PfDBusManager1  *skeleton;
  PfAuthority     *authority;

  NMClient        *nm;
  PfLinkMonitor   *links;
  PfRouting       *routing;
  PfPolicy        *policy;
  GPtrArray       *uplinks;         /* PfUplink, in config order: primary first */
  PfAccounting    *accounting;      /* the backups' data usage, with the uplinks */
  PfAnnouncer     *announcer;       /* notifiers and hooks */
  GPtrArray       *remote_access;   /* PfRemoteAccess, with the uplinks */
  PfDns           *dns;             /* the host's resolvers follow the active uplink */
  gint64          *unusable_until;  /* per uplink: failed bring-up, monotonic µs */

  guint            active;          /* index of the uplink carrying traffic now */
  PfMode           mode;
  char            *forced;          /* uplink name in force mode */

  PfState         *state;
  char            *state_path;

  char            *applied_firewall;
  char            *applied_routing;
  guint            recheck_id;
  gboolean         bringing_up;
  gboolean         started;
  gboolean         deciding;
  gboolean         decide_again;
  gboolean         stranded;        /* reported: the active uplink is down and no other can take over */
  GCancellable    *cancellable;
};

G_DEFINE_TYPE (PfManager, pf_manager, G_TYPE_OBJECT)

static void decide (PfManager *self);
static void repin_remote_access (PfManager *self);

static PfUplink *
uplink_at (PfManager *self,
           guint      index)
{
  return g_ptr_array_index (self->uplinks, index);
}

static int
uplink_index (PfManager  *self,
              const char *name)
{
  for (guint i = 0; name != NULL && i < self->uplinks->len; i++)
    if (g_strcmp0 (pf_uplink_get_name (uplink_at (self, i)), name) == 0)
      return i;
  return -1;
}

/* The backup that carries uplink @index (via=), -1 when it is not a tunnel. */
static int
carrier_of (PfManager *self,
            guint      index)
{
  return uplink_index (self, pf_uplink_get_config (uplink_at (self, index))->via);
}

static const char *
active_name (PfManager *self)
{
  return pf_uplink_get_name (uplink_at (self, self->active));
}

static const char *
state_string (PfManager *self)
{
  if (self->mode == PF_MODE_MAINTENANCE)
    return "maintenance";
  if (self->mode == PF_MODE_FORCE)
    return "forced";
  if (self->active != 0)
    return "failed-over";
  if (pf_uplink_get_state (uplink_at (self, 0)) == PF_HEALTH_DEGRADED)
    return "degraded";
  return "normal";
}

/* ---- state file and events --------------------------------------------- */

/* The backups' data usage as it stands, into the state (for the file, or
 * for the accounting of the next uplinks on reload). */
static void
keep_usage (PfManager *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  pf_accounting_to_json (self->accounting, builder);
  g_clear_pointer (&self->state->usage, json_node_unref);
  self->state->usage = json_builder_get_root (builder);
}

static void
save_state (PfManager *self)
{
  g_autoptr(GError) error = NULL;

  g_free (self->state->active_uplink);
  self->state->active_uplink = g_strdup (active_name (self));
  self->state->mode = self->mode;
  g_free (self->state->forced_uplink);
  self->state->forced_uplink = g_strdup (self->forced ? self->forced : "");
  if (self->accounting != NULL)
    keep_usage (self);
  if (!pf_state_save (self->state, self->state_path, &error))
    g_warning ("%s", error->message);
}

static void
add_event (PfManager  *self,
           const char *kind,
           const char *from,
           const char *to,
           const char *reason)
{
  PfEvent *event = pf_event_new (g_get_real_time (), kind, from, to, reason);

  g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
                    "PVEFAILOVER_EVENT", kind,
                    "PVEFAILOVER_FROM", event->from,
                    "PVEFAILOVER_TO", event->to,
                    "MESSAGE", "%s%s%s%s%s: %s", kind,
                    *event->from ? " " : "", event->from,
                    *event->to ? " -> " : "", event->to, event->reason);
  pf_dbus_manager1_emit_event (self->skeleton, event->time_us, event->kind,
                               event->from, event->to, event->reason);
  if (self->announcer != NULL)
    {
      int index = uplink_index (self, event->from);
      g_auto(GStrv) env = NULL;

      /* Hooks see the data usage of the uplink the event is about. */
      if (index >= 0 && self->accounting != NULL)
        env = pf_accounting_environment (self->accounting, uplink_at (self, index));
      pf_announcer_event (self->announcer, event, (const char * const *) env);
    }
  pf_state_add_event (self->state, event);
  save_state (self);
}

static void
on_announcer_failed (PfAnnouncer *announcer,
                     const char  *kind,
                     const char  *about,
                     const char  *reason,
                     gpointer     user_data)
{
  add_event (PF_MANAGER (user_data), kind, g_str_equal (kind, "notify-failed") ? about : NULL, NULL, reason);
}

static gboolean
set_announcer (PfManager       *self,
               const PfConfig  *config,
               GError         **error)
{
  g_autofree char *state_dir = g_path_get_dirname (self->state_path);
  PfAnnouncer *announcer = pf_announcer_new (config, state_dir, error);

  if (announcer == NULL)
    return FALSE;
  if (self->announcer != NULL)
    g_signal_handlers_disconnect_by_data (self->announcer, self);
  g_clear_object (&self->announcer);
  self->announcer = announcer;
  g_signal_connect (announcer, "failed", G_CALLBACK (on_announcer_failed), self);
  return TRUE;
}

static void
update_manager_properties (PfManager  *self,
                           const char *reason,
                           gboolean    changed)
{
  PfDBusManager1 *sk = self->skeleton;

  g_object_freeze_notify (G_OBJECT (sk));
  pf_dbus_manager1_set_state (sk, state_string (self));
  pf_dbus_manager1_set_mode (sk, pf_mode_to_string (self->mode));
  pf_dbus_manager1_set_forced_uplink (sk, self->forced ? self->forced : "");
  pf_dbus_manager1_set_active_uplink (sk, active_name (self));
  if (changed)
    {
      self->state->last_change_us = g_get_real_time ();
      g_free (self->state->last_reason);
      self->state->last_reason = g_strdup (reason);
    }
  pf_dbus_manager1_set_last_change (sk, self->state->last_change_us);
  pf_dbus_manager1_set_last_reason (sk, self->state->last_reason);
  g_object_thaw_notify (G_OBJECT (sk));
}

/* ---- applying the desired state ----------------------------------------- */

/* cap-action= of a backup whose plan is used up. */
static PfFirewallLimit
firewall_limit (PfManager *self,
                PfUplink  *uplink)
{
  if (self->accounting == NULL || !pf_accounting_is_capped (self->accounting, uplink))
    return PF_FIREWALL_LIMIT_NONE;
  switch (pf_uplink_get_config (uplink)->cap_action)
    {
    case PF_CAP_BLOCK: return PF_FIREWALL_LIMIT_ALL;
    case PF_CAP_RESTRICT: return PF_FIREWALL_LIMIT_GUESTS;
    case PF_CAP_NOTIFY:
    default: return PF_FIREWALL_LIMIT_NONE;
    }
}

/* The IPv6 guests and NAT66 into @spec; returns the array @spec points into. */
static GPtrArray *
firewall_guests6 (PfManager      *self,
                  PfFirewallSpec *spec)
{
  GPtrArray *allowed6 = g_ptr_array_new ();

  for (guint i = 0; i < self->config->allowed6->len; i++)
    g_ptr_array_add (allowed6, g_ptr_array_index (self->config->allowed6, i));
  g_ptr_array_add (allowed6, NULL);
  spec->allowed6 = (const char * const *) allowed6->pdata;
  spec->nat66 = self->config->nat66;
  return allowed6;
}

static char *
render_firewall (PfManager *self)
{
  g_autoptr(GArray) fw = g_array_new (FALSE, TRUE, sizeof (PfFirewallUplink));
  g_autoptr(GArray) forwards = g_array_new (FALSE, TRUE, sizeof (PfFirewallForward));
  g_autoptr(GArray) out_of_band = g_array_new (FALSE, TRUE, sizeof (PfFirewallOutOfBand));
  g_autoptr(GArray) tunnels = g_array_new (FALSE, TRUE, sizeof (PfFirewallTunnel));
  g_autoptr(GPtrArray) allowed = g_ptr_array_new ();
  g_autoptr(GPtrArray) allowed6 = NULL;
  PfFirewallSpec spec = { 0 };

  for (guint i = 0; i < self->uplinks->len; i++)
    {
      PfUplink *uplink = uplink_at (self, i);
      const PfUplinkConfig *c = pf_uplink_get_config (uplink);
      PfFirewallUplink u = {
        .name = c->name,
        .ifname = pf_uplink_get_ifname (uplink),
        .is_backup = c->role == PF_ROLE_BACKUP,
        .active = i == self->active,
        .management = c->management,
        .ct_mark = pf_uplink_get_ct_mark (uplink),
        .limit = firewall_limit (self, uplink),
      };
      if (u.ifname != NULL)
        g_array_append_val (fw, u);
    }
  for (guint i = 0; i < self->config->allowed->len; i++)
    g_ptr_array_add (allowed, g_ptr_array_index (self->config->allowed, i));
  g_ptr_array_add (allowed, NULL);

  spec.uplinks = (const PfFirewallUplink *) fw->data;
  spec.n_uplinks = fw->len;
  spec.allowed = (const char * const *) allowed->pdata;
  spec.probe_mark = self->config->probe_mark;
  spec.ct_mark_mask = self->config->ct_mark_mask;
  allowed6 = firewall_guests6 (self, &spec);
  for (guint i = 0; i < self->config->forwards->len; i++)
    {
      const PfForwardConfig *c = g_ptr_array_index (self->config->forwards, i);
      PfFirewallForward f = {
        .name = c->name,
        .proto = c->proto,
        .port = c->port,
        .to_address = c->to_address,
        .to_port = c->to_port,
        .interfaces = (const char * const *) c->interfaces,
        .masquerade = c->masquerade,
      };

      if (c->when == PF_FORWARD_ALWAYS || self->active != 0)
        g_array_append_val (forwards, f);
    }
  for (guint i = 0; i < self->config->remote_access->len; i++)
    {
      const PfRemoteAccessConfig *c = g_ptr_array_index (self->config->remote_access, i);
      int index = uplink_index (self, c->out_of_band);
      PfFirewallOutOfBand o = {
        .name = c->name,
        .ifname = index > 0 ? pf_uplink_get_ifname (uplink_at (self, index)) : NULL,
        .fwmark = c->fwmark,
      };

      if (o.ifname != NULL)
        g_array_append_val (out_of_band, o);
    }
  spec.forwards = (const PfFirewallForward *) forwards->data;
  spec.n_forwards = forwards->len;
  spec.out_of_band = (const PfFirewallOutOfBand *) out_of_band->data;
  spec.n_out_of_band = out_of_band->len;
  for (guint i = 1; i < self->uplinks->len; i++)
    {
      const PfUplinkConfig *c = pf_uplink_get_config (uplink_at (self, i));
      int carrier = carrier_of (self, i);
      PfFirewallTunnel t = {
        .name = c->name,
        .ifname = carrier > 0 ? pf_uplink_get_ifname (uplink_at (self, carrier)) : NULL,
        .server = c->server,
      };

      if (t.ifname != NULL)
        g_array_append_val (tunnels, t);
    }
  spec.tunnels = (const PfFirewallTunnel *) tunnels->data;
  spec.n_tunnels = tunnels->len;
  return pf_firewall_render (&spec);
}

/* Fills @backups (PfRoutingBackup), @marks (PfRoutingMark), @dests
 * (PfRoutingDest) and @spec;
 * returns a text key of it. */
static char *
routing_spec (PfManager     *self,
              GArray        *backups,
              GArray        *marks,
              GArray        *dests,
              PfRoutingSpec *spec)
{
  GString *key = g_string_new (NULL);

  for (guint i = 0; i < self->config->remote_access->len; i++)
    {
      const PfRemoteAccessConfig *c = g_ptr_array_index (self->config->remote_access, i);
      const PfUplinkConfig *via = c->out_of_band != NULL ? pf_config_find_uplink (self->config, c->out_of_band) : NULL;
      PfRoutingMark m = { .fwmark = c->fwmark, .table = via != NULL ? via->table : 0 };

      if (via != NULL)
        {
          g_array_append_val (marks, m);
          g_string_append_printf (key, "mark %x:%u;", m.fwmark, m.table);
        }
    }
  spec->marks = (const PfRoutingMark *) marks->data;
  spec->n_marks = marks->len;
  for (guint i = 0; i < self->config->uplinks->len; i++)
    {
      const PfUplinkConfig *c = g_ptr_array_index (self->config->uplinks, i);
      const PfUplinkConfig *via = c->via != NULL ? pf_config_find_uplink (self->config, c->via) : NULL;

      if (via != NULL)
        {
          PfRoutingDest d = { .address = c->server, .table = via->table };

          g_array_append_val (dests, d);
          g_string_append_printf (key, "to %s:%u;", d.address, d.table);
        }
    }
  spec->dests = (const PfRoutingDest *) dests->data;
  spec->n_dests = dests->len;

  spec->active_table = 0;
  for (guint i = 1; i < self->uplinks->len; i++)
    {
      PfUplink *uplink = uplink_at (self, i);
      const PfUplinkConfig *c = pf_uplink_get_config (uplink);
      gboolean ready = pf_uplink_get_ifindex (uplink) > 0 &&
                       (pf_uplink_get_gateway (uplink) != NULL || pf_uplink_get_gateway6 (uplink) != NULL);
      PfRoutingBackup b = {
        .name = c->name,
        .table = c->table,
        .ifindex = ready ? pf_uplink_get_ifindex (uplink) : 0,
        .gateway = ready ? pf_uplink_get_gateway (uplink) : NULL,
        .gateway6 = ready ? pf_uplink_get_gateway6 (uplink) : NULL,
      };
      int carrier = carrier_of (self, i);

      if (carrier > 0)
        {
          PfUplink *link = uplink_at (self, carrier);

          b.server = c->server;
          b.server_ifindex = pf_uplink_get_ifindex (link);
          b.server_gateway = pf_uplink_get_gateway (link);
          b.server_gateway6 = pf_uplink_get_gateway6 (link);
          g_string_append_printf (key, "server %s:%d:%s:%s;", b.server, b.server_ifindex,
                                  b.server_gateway ? b.server_gateway : "-",
                                  b.server_gateway6 ? b.server_gateway6 : "-");
        }
      g_array_append_val (backups, b);
      g_string_append_printf (key, "%u:%d:%s:%s;", b.table, b.ifindex, b.gateway ? b.gateway : "-",
                              b.gateway6 ? b.gateway6 : "-");
      if (i == self->active)
        spec->active_table = c->table;
    }
  spec->backups = (const PfRoutingBackup *) backups->data;
  spec->n_backups = backups->len;
  spec->probe_mark = self->config->probe_mark;
  spec->rule_priority = self->config->rule_priority;
  g_string_append_printf (key, "active=%u", spec->active_table);
  return g_string_free (key, FALSE);
}

static gboolean
apply_firewall (PfManager *self,
                GError   **error)
{
  g_autofree char *script = render_firewall (self);

  if (g_strcmp0 (script, self->applied_firewall) == 0)
    return TRUE;
  if (!pf_firewall_apply (script, error))
    {
      g_prefix_error (error, "nftables: ");
      return FALSE;
    }
  g_free (self->applied_firewall);
  self->applied_firewall = g_steal_pointer (&script);
  return TRUE;
}

/* Replies to the probes of a standby backup come in on it while the main
 * table points at the primary: strict reverse-path filtering (rp_filter=1)
 * drops them. Loose mode (2) keeps the spoofing check. Only a strict value
 * is changed, and only on the backups' own interfaces. */
static void
loosen_rp_filter (const char *ifname)
{
  g_autofree char *path = g_build_filename ("/proc/sys/net/ipv4/conf", ifname, "rp_filter", NULL);
  g_autofree char *value = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_file_get_contents (path, &value, NULL, NULL) || g_strcmp0 (g_strstrip (value), "1") != 0)
    return;
  if (!g_file_set_contents_full (path, "2\n", -1, G_FILE_SET_CONTENTS_NONE, 0644, &error))
    g_warning ("%s: cannot set loose reverse-path filtering: %s", ifname, error->message);
  else
    g_message ("%s: reverse-path filtering set to loose (2) so that standby probes get their replies",
               ifname);
}

static gboolean
apply_routing (PfManager *self,
               GError   **error)
{
  g_autoptr(GArray) backups = g_array_new (FALSE, TRUE, sizeof (PfRoutingBackup));
  g_autoptr(GArray) marks = g_array_new (FALSE, TRUE, sizeof (PfRoutingMark));
  g_autoptr(GArray) dests = g_array_new (FALSE, TRUE, sizeof (PfRoutingDest));
  PfRoutingSpec spec = { 0 };
  g_autofree char *key = routing_spec (self, backups, marks, dests, &spec);

  if (g_strcmp0 (key, self->applied_routing) == 0)
    return TRUE;
  for (guint i = 1; i < self->uplinks->len; i++)
    if (pf_uplink_get_ifname (uplink_at (self, i)) != NULL && pf_uplink_get_ifindex (uplink_at (self, i)) > 0)
      loosen_rp_filter (pf_uplink_get_ifname (uplink_at (self, i)));
  if (!pf_routing_apply (self->routing, &spec, error))
    {
      g_prefix_error (error, "routing: ");
      return FALSE;
    }
  g_free (self->applied_routing);
  self->applied_routing = g_steal_pointer (&key);
  return TRUE;
}

/* Open before we route through it, close after we stopped routing through it. */
static void
apply_all (PfManager *self)
{
  g_autoptr(GError) error = NULL;
  gboolean to_backup = self->active != 0;

  if (!(to_backup ? apply_firewall (self, &error) : apply_routing (self, &error)) ||
      !(to_backup ? apply_routing (self, &error) : apply_firewall (self, &error)))
    {
      add_event (self, "error", NULL, active_name (self), error->message);
      /* Try again from scratch next time. */
      g_clear_pointer (&self->applied_firewall, g_free);
      g_clear_pointer (&self->applied_routing, g_free);
    }
}

static void
flush_flows_of (PfManager *self,
                guint      index)
{
  PfUplink *uplink = uplink_at (self, index);
  g_autoptr(GError) error = NULL;
  guint n = 0;

  if (!pf_conntrack_flush_mark (pf_uplink_get_ct_mark (uplink), self->config->ct_mark_mask, &n, &error))
    add_event (self, "error", pf_uplink_get_name (uplink), NULL, error->message);
  else
    g_info ("%s: flushed %u conntrack entries", pf_uplink_get_name (uplink), n);
}

static void
on_dns_failed (PfDns      *dns,
               const char *uplink,
               const char *reason,
               gpointer    user_data)
{
  add_event (PF_MANAGER (user_data), "error", uplink, NULL, reason);
}

/* The host's resolvers: the active backup's, or its own on the primary. */
static void
follow_dns (PfManager *self)
{
  PfUplink *active = uplink_at (self, self->active);

  pf_dns_follow (self->dns, pf_uplink_get_config (active), pf_uplink_get_ifname (active));
}

static void
do_switch (PfManager  *self,
           guint       target,
           const char *reason)
{
  guint old = self->active;
  gboolean was_deciding = self->deciding;
  const char *kind;

  if (old == target)
    return;

  /* The uplinks' signals during the switch must not start another decision. */
  self->deciding = TRUE;
  self->active = target;
  pf_uplink_set_active (uplink_at (self, target), TRUE);
  pf_uplink_set_active (uplink_at (self, old), FALSE);
  apply_all (self);
  /* Nothing stays pinned to the abandoned uplink: its flows start again
   * through the new one (and get masqueraded there). */
  flush_flows_of (self, old);
  pf_uplink_bring_down (uplink_at (self, old));
  if (carrier_of (self, old) > 0 && (guint) carrier_of (self, old) != target)
    pf_uplink_bring_down (uplink_at (self, carrier_of (self, old)));
  follow_dns (self);

  if (old == 0)
    kind = "failover";
  else if (target == 0)
    kind = "failback";
  else
    kind = "switch";

  update_manager_properties (self, reason, TRUE);
  pf_dbus_manager1_emit_state_changed (self->skeleton, state_string (self), active_name (self), reason);
  add_event (self, kind, pf_uplink_get_name (uplink_at (self, old)), active_name (self), reason);
  /* Messages that waited for a way out may have one now. */
  pf_announcer_kick (self->announcer);
  repin_remote_access (self);

  self->deciding = was_deciding;
  if (!was_deciding && self->decide_again)
    {
      self->decide_again = FALSE;
      decide (self);
    }
}

/* ---- deciding ------------------------------------------------------------ */

static gboolean
on_recheck (gpointer user_data)
{
  PfManager *self = user_data;

  self->recheck_id = 0;
  decide (self);
  return G_SOURCE_REMOVE;
}

typedef struct {
  PfManager *manager;
  guint      target;
  char      *reason;
  guint      tests;    /* tunnels: rounds tried through it */
} BringUpData;

/* A tunnel gets this many rounds through itself to answer. */
#define PF_TUNNEL_TEST_ROUNDS 3

static void
bring_up_data_free (BringUpData *data)
{
  g_object_unref (data->manager);
  g_free (data->reason);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BringUpData, bring_up_data_free)

/* The target could not be brought up: not again for a while, and back to
 * deciding from what really carries traffic. */
static void
bring_up_failed (PfManager  *self,
                 guint       target,
                 PfUplink   *failed,
                 const char *message)
{
  int carrier = carrier_of (self, target);

  self->bringing_up = FALSE;
  self->unusable_until[target] = g_get_monotonic_time () + PF_BRING_UP_RETRY_US;
  add_event (self, "error", active_name (self), pf_uplink_get_name (failed), message);
  pf_uplink_bring_down (uplink_at (self, target));
  if (carrier > 0 && (guint) carrier != self->active)
    pf_uplink_bring_down (uplink_at (self, carrier));
  pf_policy_free (self->policy);
  self->policy = pf_policy_new (self->active);
  decide (self);
}

static void
bring_up_ready (PfManager   *self,
                BringUpData *data)
{
  self->bringing_up = FALSE;
  if (pf_policy_get_active (self->policy) == data->target)
    do_switch (self, data->target, data->reason);
  decide (self);
}

/* A tunnel is tested through itself before traffic goes there: its far end
 * may be dead while the link that carries it works. */
static void
on_tunnel_tested (GObject      *source,
                  GAsyncResult *res,
                  gpointer      user_data)
{
  g_autoptr(BringUpData) data = user_data;
  PfManager *self = data->manager;
  g_autoptr(GError) error = NULL;
  g_autoptr(PfRoundResult) result = pf_uplink_test_finish (PF_UPLINK (source), res, &error);
  g_autofree char *message = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (result != NULL && result->answered >= result->quorum)
    {
      bring_up_ready (self, data);
      return;
    }
  /* The first round may meet neighbours not resolved yet. */
  if (++data->tests < PF_TUNNEL_TEST_ROUNDS)
    {
      PfUplink *uplink = PF_UPLINK (source);

      pf_uplink_test_async (uplink, self->cancellable, on_tunnel_tested, g_steal_pointer (&data));
      return;
    }
  message = g_strdup_printf ("%s: the tunnel came up but does not carry traffic: %s",
                             pf_uplink_get_name (PF_UPLINK (source)),
                             result != NULL ? result->summary : error->message);
  bring_up_failed (self, data->target, PF_UPLINK (source), message);
}

static void
on_bring_up_done (GObject      *source,
                  GAsyncResult *res,
                  gpointer      user_data)
{
  g_autoptr(BringUpData) data = user_data;
  PfManager *self = data->manager;
  g_autoptr(GError) error = NULL;
  PfUplink *uplink = PF_UPLINK (source);
  PfUplink *target = uplink_at (self, data->target);

  if (!pf_uplink_bring_up_finish (uplink, res, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        bring_up_failed (self, data->target, uplink, error->message);
      return;
    }
  if (uplink != target)
    {
      /* The carrier is up: now the tunnel that rides it. */
      pf_uplink_bring_up_async (target, self->cancellable, on_bring_up_done, g_steal_pointer (&data));
      return;
    }
  if (carrier_of (self, data->target) > 0)
    {
      /* Its table (its default route, and its far end through the carrier)
       * is in place before it is tested. */
      apply_all (self);
      pf_uplink_test_async (target, self->cancellable, on_tunnel_tested, g_steal_pointer (&data));
      return;
    }
  bring_up_ready (self, data);
}

/* Bring up @target (and first the backup that carries it), then switch. */
static void
bring_up_and_switch (PfManager  *self,
                     guint       target,
                     const char *reason)
{
  BringUpData *data = g_new0 (BringUpData, 1);
  int carrier = carrier_of (self, target);
  PfUplink *first = uplink_at (self, target);

  data->manager = g_object_ref (self);
  data->target = target;
  data->reason = g_strdup (reason);
  if (carrier > 0 && !pf_uplink_is_ready (uplink_at (self, carrier)))
    first = uplink_at (self, carrier);
  self->bringing_up = TRUE;
  pf_uplink_bring_up_async (first, self->cancellable, on_bring_up_done, data);
}

/* Once per outage: the uplink carrying traffic is down and the policy found
 * nothing to switch to. Say why each other uplink cannot take over. */
static void
report_stranded (PfManager            *self,
                 const PfPolicyUplink *inputs)
{
  g_autoptr(GString) why = NULL;

  if (self->mode != PF_MODE_AUTO || inputs[self->active].state != PF_HEALTH_DOWN)
    {
      self->stranded = FALSE;
      return;
    }
  if (self->stranded)
    return;
  self->stranded = TRUE;

  why = g_string_new (NULL);
  g_string_append_printf (why, "%s down and no uplink can take over", active_name (self));
  for (guint i = 0; i < self->uplinks->len; i++)
    if (i != self->active)
      g_string_append_printf (why, "; %s: %s%s", inputs[i].name,
                              inputs[i].usable ? "" : "not usable, ",
                              inputs[i].health_reason ? inputs[i].health_reason : "unknown");
  add_event (self, "error", active_name (self), NULL, why->str);
}

static void
decide (PfManager *self)
{
  g_autofree PfPolicyUplink *inputs = NULL;
  PfDecision decision = { 0 };
  gint64 now = g_get_monotonic_time ();
  int force_index;
  PfUplink *target;

  if (!self->started || self->bringing_up)
    return;
  /* decide() can be re-entered from the signals a switch causes. */
  if (self->deciding)
    {
      self->decide_again = TRUE;
      return;
    }
  self->deciding = TRUE;

  inputs = g_new0 (PfPolicyUplink, self->uplinks->len);
  for (guint i = 0; i < self->uplinks->len; i++)
    {
      pf_uplink_fill_policy (uplink_at (self, i), &inputs[i]);
      if (self->unusable_until[i] > now)
        inputs[i].usable = FALSE;
    }
  /* A tunnel that does not carry traffic is as good as the link that would
   * carry it; it is tested through itself when it is brought up. */
  for (guint i = 0; i < self->uplinks->len; i++)
    {
      int carrier = carrier_of (self, i);

      if (carrier <= 0 || i == self->active)
        continue;
      inputs[i].state = inputs[carrier].state;
      inputs[i].state_since_us = inputs[carrier].state_since_us;
      inputs[i].health_reason = inputs[carrier].health_reason;
      /* Its interface only exists once the connection is up. */
      inputs[i].usable = inputs[carrier].usable && self->unusable_until[i] <= now;
    }
  force_index = MAX (uplink_index (self, self->forced), 0);

  pf_policy_decide (self->policy, now, inputs, self->uplinks->len, self->mode, force_index, &decision);

  g_clear_handle_id (&self->recheck_id, g_source_remove);
  if (decision.recheck_at_us > 0)
    self->recheck_id = g_timeout_add (MAX ((decision.recheck_at_us - now) / 1000, 0) + 1,
                                      on_recheck, self);

  if (decision.changed)
    g_info ("decision: %s (%s)", pf_uplink_get_name (uplink_at (self, decision.active)), decision.reason);

  target = uplink_at (self, decision.active);
  if (decision.active != self->active)
    {
      if (pf_uplink_is_backup (target) &&
          (!pf_uplink_is_ready (target) || carrier_of (self, decision.active) > 0))
        bring_up_and_switch (self, decision.active, decision.reason);
      else
        do_switch (self, decision.active, decision.reason);
    }
  else
    {
      /* The same path, but an interface, gateway or health may have moved. */
      apply_all (self);
      update_manager_properties (self, NULL, FALSE);
      report_stranded (self, inputs);
    }
  pf_decision_clear (&decision);

  self->deciding = FALSE;
  if (self->decide_again)
    {
      self->decide_again = FALSE;
      decide (self);
    }
}

static void
on_uplink_changed (PfUplink *uplink,
                   gpointer  user_data)
{
  decide (PF_MANAGER (user_data));
}

static void
on_uplink_state_changed (PfUplink *uplink,
                         int       old_state,
                         int       new_state,
                         gpointer  user_data)
{
  PfManager *self = user_data;
  const char *name = pf_uplink_get_name (uplink);

  /* An idle tunnel has no interface: its own health means nothing then. */
  if (carrier_of (self, uplink_index (self, name)) > 0 && !pf_uplink_get_active (uplink))
    return;
  if (new_state == PF_HEALTH_DOWN)
    add_event (self, "uplink-down", name, NULL, pf_uplink_get_reason (uplink));
  /* A tunnel that failed while carrying traffic is not taken again at once
   * on the strength of the link under it. */
  if (new_state == PF_HEALTH_DOWN && pf_uplink_get_active (uplink) && uplink_index (self, name) > 0 &&
      carrier_of (self, uplink_index (self, name)) > 0)
    self->unusable_until[uplink_index (self, name)] = g_get_monotonic_time () + PF_BRING_UP_RETRY_US;
  else if (old_state == PF_HEALTH_DOWN &&
           (new_state == PF_HEALTH_UP || new_state == PF_HEALTH_DEGRADED))
    {
      add_event (self, "uplink-up", name, NULL, pf_uplink_get_reason (uplink));
      if (uplink == uplink_at (self, self->active))
        pf_announcer_kick (self->announcer);
    }
}

static void
on_uplink_alert (PfUplink   *uplink,
                 gboolean    cleared,
                 const char *text,
                 gpointer    user_data)
{
  add_event (PF_MANAGER (user_data), cleared ? "alert-cleared" : "alert",
             pf_uplink_get_name (uplink), NULL, text);
}

static void
on_remote_state_changed (PfRemoteAccess *remote,
                         const char     *state,
                         const char     *reason,
                         gpointer        user_data)
{
  add_event (PF_MANAGER (user_data), g_str_equal (state, "up") ? "remote-up" : "remote-down",
             pf_remote_access_get_name (remote), NULL, reason);
}

static void
on_remote_repinned (PfRemoteAccess *remote,
                    double          seconds,
                    const char     *how,
                    gpointer        user_data)
{
  g_autofree char *reason = g_strdup_printf ("answered %.1f s after the switch (%s)", seconds, how);

  add_event (PF_MANAGER (user_data), "remote-repinned", pf_remote_access_get_name (remote), NULL, reason);
}

static void
on_remote_failed (PfRemoteAccess *remote,
                  const char     *reason,
                  gpointer        user_data)
{
  add_event (PF_MANAGER (user_data), "error", pf_remote_access_get_name (remote), NULL, reason);
}

/* Every switch moves the VPNs to the new path at once. */
static void
repin_remote_access (PfManager *self)
{
  for (guint i = 0; self->remote_access != NULL && i < self->remote_access->len; i++)
    pf_remote_access_repin (g_ptr_array_index (self->remote_access, i));
}

/* Once the rules are in place: out-of-band tunnels leave the path they
 * had before the daemon routed their mark. */
static void
reset_remote_paths (PfManager *self)
{
  for (guint i = 0; self->remote_access != NULL && i < self->remote_access->len; i++)
    pf_remote_access_reset_path (g_ptr_array_index (self->remote_access, i));
}

static void
on_link_changed (PfLinkMonitor *links,
                 const char    *ifname,
                 int            ifindex,
                 gboolean       carrier,
                 gpointer       user_data)
{
  PfManager *self = user_data;

  for (guint i = 0; i < self->uplinks->len; i++)
    {
      PfUplink *uplink = uplink_at (self, i);

      if (g_strcmp0 (pf_uplink_get_ifname (uplink), ifname) != 0)
        continue;
      /* The carrier is back: resolve the gateway again now, not when the
       * kernel next retries what failed during the outage. */
      if (carrier && ifindex > 0 && !pf_uplink_get_carrier (uplink))
        {
          g_autoptr(GError) error = NULL;
          guint n = 0;

          if (!pf_link_monitor_forget_unresolved (links, ifindex, &n, &error))
            g_warning ("%s: %s", ifname, error->message);
          else if (n > 0)
            g_info ("%s: carrier back, dropped %u unresolved neighbour entries", ifname, n);
        }
      pf_uplink_link_changed (uplink, ifindex, carrier);
    }
}

static void
on_usage_threshold (PfAccounting *accounting,
                    PfUplink     *uplink,
                    guint         percent,
                    const char   *text,
                    gpointer      user_data)
{
  add_event (PF_MANAGER (user_data), "usage", pf_uplink_get_name (uplink), NULL, text);
}

static void
on_usage_capped (PfAccounting *accounting,
                 PfUplink     *uplink,
                 gboolean      capped,
                 const char   *text,
                 gpointer      user_data)
{
  PfManager *self = user_data;

  add_event (self, capped ? "cap" : "cap-cleared", pf_uplink_get_name (uplink), NULL, text);
  if (self->started)
    apply_all (self);
}

static void
on_usage_save (PfAccounting *accounting,
               gpointer      user_data)
{
  save_state (PF_MANAGER (user_data));
}

/* ---- uplinks ----------------------------------------------------------- */

static void
unexport_uplinks (PfManager *self)
{
  if (self->accounting != NULL)
    {
      /* Counted up to now, for the accounting of the next uplinks (reload). */
      pf_accounting_sample (self->accounting);
      keep_usage (self);
      g_signal_handlers_disconnect_by_data (self->accounting, self);
      g_clear_object (&self->accounting);
    }
  for (guint i = 0; self->uplinks != NULL && i < self->uplinks->len; i++)
    {
      PfUplink *uplink = uplink_at (self, i);

      g_signal_handlers_disconnect_by_data (uplink, self);
      pf_uplink_stop (uplink);
      g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (pf_uplink_get_skeleton (uplink)));
    }
  g_clear_pointer (&self->uplinks, g_ptr_array_unref);
  g_clear_pointer (&self->unusable_until, g_free);
  for (guint i = 0; self->remote_access != NULL && i < self->remote_access->len; i++)
    {
      PfRemoteAccess *remote = g_ptr_array_index (self->remote_access, i);

      g_signal_handlers_disconnect_by_data (remote, self);
      pf_remote_access_stop (remote);
    }
  g_clear_pointer (&self->remote_access, g_ptr_array_unref);
}

static gboolean
create_uplinks (PfManager *self,
                GError   **error)
{
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  guint32 shift = 0;

  /* The egress tag of uplink i is (i + 1) in the low bits of the mask. */
  while (shift < 32 && !(self->config->ct_mark_mask & (1u << shift)))
    shift++;

  self->uplinks = g_ptr_array_new_with_free_func (g_object_unref);
  self->unusable_until = g_new0 (gint64, self->config->uplinks->len);
  for (guint i = 0; i < self->config->uplinks->len; i++)
    {
      const PfUplinkConfig *c = g_ptr_array_index (self->config->uplinks, i);
      PfUplink *uplink = pf_uplink_new (c, self->nm, self->bus, self->config->probe_mark, (guint32) (i + 1) << shift);
      g_autofree char *path = pf_uplink_get_object_path (uplink);

      g_ptr_array_add (self->uplinks, uplink);
      if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (pf_uplink_get_skeleton (uplink)),
                                             self->bus, path, error))
        return FALSE;
      g_ptr_array_add (paths, g_steal_pointer (&path));
      g_signal_connect (uplink, "changed", G_CALLBACK (on_uplink_changed), self);
      g_signal_connect (uplink, "state-changed", G_CALLBACK (on_uplink_state_changed), self);
      g_signal_connect (uplink, "alert", G_CALLBACK (on_uplink_alert), self);
    }
  g_ptr_array_add (paths, NULL);
  pf_dbus_manager1_set_uplinks (self->skeleton, (const char * const *) paths->pdata);

  self->accounting = pf_accounting_new (self->uplinks, self->state->usage != NULL ?
                                                       json_node_get_object (self->state->usage) : NULL);
  g_signal_connect (self->accounting, "threshold", G_CALLBACK (on_usage_threshold), self);
  g_signal_connect (self->accounting, "capped", G_CALLBACK (on_usage_capped), self);
  g_signal_connect (self->accounting, "save", G_CALLBACK (on_usage_save), self);

  self->remote_access = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < self->config->remote_access->len; i++)
    {
      PfRemoteAccess *remote = pf_remote_access_new (g_ptr_array_index (self->config->remote_access, i));

      g_ptr_array_add (self->remote_access, remote);
      g_signal_connect (remote, "state-changed", G_CALLBACK (on_remote_state_changed), self);
      g_signal_connect (remote, "repinned", G_CALLBACK (on_remote_repinned), self);
      g_signal_connect (remote, "failed", G_CALLBACK (on_remote_failed), self);
    }
  return TRUE;
}

static void
start_uplinks (PfManager *self)
{
  for (guint i = 0; i < self->uplinks->len; i++)
    {
      PfUplink *uplink = uplink_at (self, i);
      const char *ifname = pf_uplink_get_ifname (uplink);
      int ifindex = 0;
      gboolean carrier = FALSE;

      if (ifname != NULL)
        pf_link_monitor_query (self->links, ifname, &ifindex, &carrier);
      pf_uplink_link_changed (uplink, ifindex, carrier);
      pf_uplink_set_active (uplink, i == self->active);
    }
  for (guint i = 0; i < self->uplinks->len; i++)
    pf_uplink_start (uplink_at (self, i));
  pf_accounting_start (self->accounting);
  for (guint i = 0; i < self->remote_access->len; i++)
    pf_remote_access_start (g_ptr_array_index (self->remote_access, i));
}

/* ---- start, reload, stop ------------------------------------------------ */

/* After a crash or SIGKILL the kernel still routes as we left it: that, not
 * the state file, says which uplink carries traffic. */
static guint
find_active_in_kernel (PfManager *self)
{
  g_autoptr(GError) error = NULL;
  guint table = pf_routing_get_active_table (self->routing, self->config->rule_priority, &error);

  if (error != NULL)
    g_warning ("Reading the routing rules: %s", error->message);
  for (guint i = 1; table != 0 && i < self->uplinks->len; i++)
    if (pf_uplink_get_config (uplink_at (self, i))->table == table)
      return i;
  return 0;
}

static void
start_with_nm (PfManager *self)
{
  g_autoptr(GError) error = NULL;
  int forced;

  self->routing = pf_routing_new (&error);
  if (self->routing == NULL)
    {
      g_critical ("Cannot use rtnetlink: %s", error->message);
      return;
    }
  self->links = pf_link_monitor_new (&error);
  if (self->links == NULL)
    {
      g_critical ("%s", error->message);
      return;
    }
  g_signal_connect (self->links, "link-changed", G_CALLBACK (on_link_changed), self);

  if (!create_uplinks (self, &error))
    {
      g_critical ("Exporting uplinks: %s", error->message);
      return;
    }

  self->mode = self->state->mode;
  forced = uplink_index (self, self->state->forced_uplink);
  if (self->mode == PF_MODE_FORCE && forced < 0)
    self->mode = PF_MODE_AUTO;
  g_free (self->forced);
  self->forced = self->mode == PF_MODE_FORCE ? g_strdup (self->state->forced_uplink) : NULL;

  self->active = find_active_in_kernel (self);
  if (self->active != 0)
    g_message ("Found traffic on %s: keeping it there until the policy decides otherwise",
               active_name (self));
  self->policy = pf_policy_new (self->active);

  start_uplinks (self);
  self->started = TRUE;
  apply_all (self);
  reset_remote_paths (self);
  {
    g_autofree char *state_dir = g_path_get_dirname (self->state_path);

    /* Also repairs what a daemon killed while failed over left behind. */
    self->dns = pf_dns_new (self->nm, state_dir, "/etc/resolv.conf");
    g_signal_connect (self->dns, "failed", G_CALLBACK (on_dns_failed), self);
    pf_dns_set_mode (self->dns, self->config->dns_mode);
    follow_dns (self);
  }
  update_manager_properties (self, NULL, FALSE);
  save_state (self);
  g_message ("Started: %u uplinks, traffic on %s, mode %s", self->uplinks->len,
             active_name (self), pf_mode_to_string (self->mode));
  decide (self);
}

static void
on_nm_ready (GObject      *source,
             GAsyncResult *res,
             gpointer      user_data)
{
  g_autoptr(PfManager) self = user_data;
  g_autoptr(GError) error = NULL;

  self->nm = nm_client_new_finish (res, &error);
  if (self->nm == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_warning ("NetworkManager is not available (%s): using kernel state only", error->message);
    }
  else if (!nm_client_get_nm_running (self->nm))
    g_warning ("NetworkManager is not running: backups need gateway= in the configuration");
  start_with_nm (self);
}

void
pf_manager_start (PfManager *self)
{
  g_return_if_fail (PF_IS_MANAGER (self));
  nm_client_new_async (self->cancellable, on_nm_ready, g_object_ref (self));
}

gboolean
pf_manager_reload (PfManager *self,
                   GError   **error)
{
  g_autoptr(PfConfig) config = NULL;
  g_autofree char *active = NULL;
  g_autoptr(GArray) backups = g_array_new (FALSE, TRUE, sizeof (PfRoutingBackup));
  g_autoptr(GArray) marks = g_array_new (FALSE, TRUE, sizeof (PfRoutingMark));
  g_autoptr(GArray) dests = g_array_new (FALSE, TRUE, sizeof (PfRoutingDest));
  PfRoutingSpec old_spec = { 0 };
  g_autofree char *old_key = NULL;
  PfConfig *old_config;
  int index;

  g_return_val_if_fail (PF_IS_MANAGER (self), FALSE);

  config = pf_config_load (self->config_path, error);
  if (config == NULL)
    return FALSE;
  if (!self->started)
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_BUSY, "The daemon is still starting");
      return FALSE;
    }
  /* A notifier that cannot be set up (token file) refuses the reload as a whole. */
  if (!set_announcer (self, config, error))
    return FALSE;

  active = g_strdup (active_name (self));
  old_key = routing_spec (self, backups, marks, dests, &old_spec);

  /* Tear down the old uplinks, keeping the host as it is. */
  self->started = FALSE;
  unexport_uplinks (self);
  g_clear_handle_id (&self->recheck_id, g_source_remove);
  old_config = self->config;
  self->config = g_steal_pointer (&config);

  if (!create_uplinks (self, error))
    {
      g_prefix_error (error, "Exporting uplinks: ");
      pf_config_free (old_config);
      return FALSE;
    }

  /* Rules or tables that moved: take the old ones away first. */
  if (old_config->rule_priority != self->config->rule_priority ||
      old_config->probe_mark != self->config->probe_mark)
    {
      g_autoptr(GError) local_error = NULL;

      if (!pf_routing_remove (self->routing, &old_spec, &local_error))
        g_warning ("Removing the old routing: %s", local_error->message);
    }
  else
    {
      for (guint i = 0; i < old_spec.n_backups; i++)
        {
          gboolean kept = FALSE;
          for (guint j = 1; j < self->uplinks->len; j++)
            kept |= pf_uplink_get_config (uplink_at (self, j))->table == old_spec.backups[i].table;
          if (!kept)
            {
              g_autoptr(GError) local_error = NULL;
              PfRoutingSpec one = old_spec;

              one.backups = &old_spec.backups[i];
              one.n_backups = 1;
              if (!pf_routing_remove (self->routing, &one, &local_error))
                g_warning ("Removing table %u: %s", old_spec.backups[i].table, local_error->message);
            }
        }
    }
  g_clear_pointer (&self->applied_routing, g_free);
  g_clear_pointer (&self->applied_firewall, g_free);

  index = uplink_index (self, active);
  self->active = index < 0 ? 0 : index;
  if (self->mode == PF_MODE_FORCE && uplink_index (self, self->forced) < 0)
    {
      self->mode = PF_MODE_AUTO;
      g_clear_pointer (&self->forced, g_free);
    }
  pf_policy_free (self->policy);
  self->policy = pf_policy_new (self->active);

  start_uplinks (self);
  self->started = TRUE;
  apply_all (self);
  reset_remote_paths (self);
  pf_dns_set_mode (self->dns, self->config->dns_mode);
  follow_dns (self);
  update_manager_properties (self, NULL, FALSE);
  add_event (self, "reload", NULL, NULL, self->config_path);
  pf_config_free (old_config);
  decide (self);
  return TRUE;
}

void
pf_manager_stop (PfManager *self)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (PF_IS_MANAGER (self));

  g_cancellable_cancel (self->cancellable);
  if (!self->started)
    return;
  self->started = FALSE;
  g_clear_handle_id (&self->recheck_id, g_source_remove);

  if (self->config->on_stop == PF_ON_STOP_RESTORE)
    {
      g_autoptr(GArray) backups = g_array_new (FALSE, TRUE, sizeof (PfRoutingBackup));
      g_autoptr(GArray) marks = g_array_new (FALSE, TRUE, sizeof (PfRoutingMark));
      g_autoptr(GArray) dests = g_array_new (FALSE, TRUE, sizeof (PfRoutingDest));
      PfRoutingSpec spec = { 0 };
      g_autofree char *key = routing_spec (self, backups, marks, dests, &spec);
      guint old = self->active;

      if (!pf_routing_remove (self->routing, &spec, &error))
        g_warning ("Restoring the routing: %s", error->message);
      g_clear_error (&error);
      if (!pf_firewall_remove (&error))
        g_warning ("Removing table inet " PF_NFT_TABLE ": %s", error->message);
      g_clear_error (&error);
      self->active = 0;
      if (old != 0)
        {
          flush_flows_of (self, old);
          pf_uplink_bring_down (uplink_at (self, old));
          if (carrier_of (self, old) > 0)
            pf_uplink_bring_down (uplink_at (self, carrier_of (self, old)));
        }
      pf_dns_restore (self->dns);
      g_message ("Stopped: normal routing restored");
    }
  else
    g_message ("Stopped: routing and firewall kept as they are (on-stop=keep)");

  if (self->accounting != NULL)
    pf_accounting_sample (self->accounting);
  save_state (self);
  unexport_uplinks (self);
}

/* ---- D-Bus methods ------------------------------------------------------ */

typedef void (*AuthorizedFunc) (PfManager *self, GDBusMethodInvocation *invocation);

typedef struct {
  PfManager             *manager;
  GDBusMethodInvocation *invocation;
  AuthorizedFunc         func;
} AuthData;

static void
on_authorized (GObject      *source,
               GAsyncResult *res,
               gpointer      user_data)
{
  AuthData *data = user_data;
  g_autoptr(PfManager) self = data->manager;
  g_autoptr(GDBusMethodInvocation) invocation = data->invocation;
  AuthorizedFunc func = data->func;
  g_autoptr(GError) error = NULL;

  g_free (data);
  if (!pf_authority_check_finish (PF_AUTHORITY (source), res, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  func (self, invocation);
}

/* Every mutating method goes through here. */
static void
authorize_then (PfManager             *self,
                GDBusMethodInvocation *invocation,
                AuthorizedFunc         func)
{
  AuthData *data = g_new0 (AuthData, 1);

  data->manager = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  data->func = func;
  pf_authority_check_async (self->authority, invocation, NULL, on_authorized, data);
}

static void
set_mode_authorized (PfManager             *self,
                     GDBusMethodInvocation *invocation)
{
  GVariant *params = g_dbus_method_invocation_get_parameters (invocation);
  const char *mode_text, *uplink;
  g_autofree char *reason = NULL;
  PfMode mode;

  g_variant_get (params, "(&s&s)", &mode_text, &uplink);
  pf_mode_from_string (mode_text, &mode);
  if (mode == self->mode && (mode != PF_MODE_FORCE || g_strcmp0 (uplink, self->forced) == 0))
    {
      pf_dbus_manager1_complete_set_mode (self->skeleton, invocation);
      return;
    }

  self->mode = mode;
  g_free (self->forced);
  self->forced = mode == PF_MODE_FORCE ? g_strdup (uplink) : NULL;
  if (mode == PF_MODE_FORCE)
    reason = g_strdup_printf ("mode force %s, set by %s", uplink, g_dbus_method_invocation_get_sender (invocation));
  else
    reason = g_strdup_printf ("mode %s, set by %s", mode_text, g_dbus_method_invocation_get_sender (invocation));
  /* Mode changes act at once: recreate the policy's memory of failback holds. */
  update_manager_properties (self, reason, TRUE);
  add_event (self, "mode", NULL, mode == PF_MODE_FORCE ? uplink : NULL, reason);
  decide (self);
  pf_dbus_manager1_complete_set_mode (self->skeleton, invocation);
}

static gboolean
handle_set_mode (PfDBusManager1        *skeleton,
                 GDBusMethodInvocation *invocation,
                 const char            *mode_text,
                 const char            *uplink,
                 PfManager             *self)
{
  PfMode mode;

  if (!pf_mode_from_string (mode_text, &mode))
    {
      g_dbus_method_invocation_return_error (invocation, PF_ERROR, PF_ERROR_INVALID_ARGS,
                                             "Unknown mode \"%s\" (expected auto, force or maintenance)",
                                             mode_text);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (mode == PF_MODE_FORCE && uplink_index (self, uplink) < 0)
    {
      g_dbus_method_invocation_return_error (invocation, PF_ERROR, PF_ERROR_NOT_FOUND,
                                             "No uplink named \"%s\"", uplink);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (mode != PF_MODE_FORCE && *uplink != '\0')
    {
      g_dbus_method_invocation_return_error (invocation, PF_ERROR, PF_ERROR_INVALID_ARGS,
                                             "Mode %s takes no uplink", mode_text);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (!self->started)
    {
      g_dbus_method_invocation_return_error_literal (invocation, PF_ERROR, PF_ERROR_BUSY,
                                                     "The daemon is still starting");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  authorize_then (self, invocation, set_mode_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

typedef struct {
  PfManager             *manager;
  GDBusMethodInvocation *invocation;
} TestData;

static void
on_test_done (GObject      *source,
              GAsyncResult *res,
              gpointer      user_data)
{
  TestData *data = user_data;
  g_autoptr(PfManager) self = data->manager;
  g_autoptr(GDBusMethodInvocation) invocation = data->invocation;
  g_autoptr(PfRoundResult) result = NULL;
  g_autoptr(GError) error = NULL;

  g_free (data);
  result = pf_uplink_test_finish (PF_UPLINK (source), res, &error);
  if (result == NULL)
    pf_dbus_manager1_complete_test_uplink (self->skeleton, invocation, FALSE, error->message);
  else
    pf_dbus_manager1_complete_test_uplink (self->skeleton, invocation,
                                           result->answered >= result->quorum, result->summary);
}

static void
test_uplink_authorized (PfManager             *self,
                        GDBusMethodInvocation *invocation)
{
  const char *name;
  TestData *data;
  int index;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &name);
  index = uplink_index (self, name);
  if (index < 0 || !self->started)
    {
      g_dbus_method_invocation_return_error (invocation, PF_ERROR, PF_ERROR_NOT_FOUND,
                                             "No uplink named \"%s\"", name);
      return;
    }
  data = g_new0 (TestData, 1);
  data->manager = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  pf_uplink_test_async (uplink_at (self, index), self->cancellable, on_test_done, data);
}

static gboolean
handle_test_uplink (PfDBusManager1        *skeleton,
                    GDBusMethodInvocation *invocation,
                    const char            *name,
                    PfManager             *self)
{
  if (self->uplinks == NULL || uplink_index (self, name) < 0)
    {
      g_dbus_method_invocation_return_error (invocation, PF_ERROR, PF_ERROR_NOT_FOUND,
                                             "No uplink named \"%s\"", name);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  authorize_then (self, invocation, test_uplink_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
reload_authorized (PfManager             *self,
                   GDBusMethodInvocation *invocation)
{
  g_autoptr(GError) error = NULL;

  if (!pf_manager_reload (self, &error))
    {
      g_warning ("Reload refused: %s", error->message);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  pf_dbus_manager1_complete_reload (self->skeleton, invocation);
}

static gboolean
handle_reload (PfDBusManager1        *skeleton,
               GDBusMethodInvocation *invocation,
               PfManager             *self)
{
  authorize_then (self, invocation, reload_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
get_modem_identity_authorized (PfManager             *self,
                               GDBusMethodInvocation *invocation)
{
  const char *name;
  const PfModemInfo *info;
  int index;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &name);
  index = self->uplinks != NULL ? uplink_index (self, name) : -1;
  info = index >= 0 ? pf_uplink_get_modem_info (uplink_at (self, index)) : NULL;
  if (info == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, PF_ERROR, PF_ERROR_NOT_FOUND,
                                             index < 0 ? "No uplink named \"%s\"" :
                                                         "%s has no modem telemetry", name);
      return;
    }
  /* Personal data: handed to an authorized caller, never logged. */
  g_info ("%s: SIM identity read by %s", name, g_dbus_method_invocation_get_sender (invocation));
  pf_dbus_manager1_complete_get_modem_identity (self->skeleton, invocation, info->iccid, info->imsi);
}

static gboolean
handle_get_modem_identity (PfDBusManager1        *skeleton,
                           GDBusMethodInvocation *invocation,
                           const char            *name,
                           PfManager             *self)
{
  authorize_then (self, invocation, get_modem_identity_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_usage (PfDBusManager1        *skeleton,
                  GDBusMethodInvocation *invocation,
                  const char            *name,
                  PfManager             *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;

  if (self->accounting == NULL)
    g_set_error_literal (&error, PF_ERROR, PF_ERROR_BUSY, "The daemon is still starting");
  else
    json = pf_accounting_describe (self->accounting, name, &error);
  if (json == NULL)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    pf_dbus_manager1_complete_get_usage (skeleton, invocation, json);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* SetUsage and ResetUsage, once authorized. */
static void
change_usage_authorized (PfManager             *self,
                         GDBusMethodInvocation *invocation)
{
  GVariant *params = g_dbus_method_invocation_get_parameters (invocation);
  gboolean set = g_str_equal (g_dbus_method_invocation_get_method_name (invocation), "SetUsage");
  g_autoptr(GError) error = NULL;
  const char *name;
  guint64 bytes = 0;
  gboolean ok;

  if (set)
    g_variant_get (params, "(&st)", &name, &bytes);
  else
    g_variant_get (params, "(&s)", &name);
  if (self->accounting == NULL)
    {
      g_dbus_method_invocation_return_error_literal (invocation, PF_ERROR, PF_ERROR_BUSY,
                                                     "The daemon is still starting");
      return;
    }
  ok = set ? pf_accounting_set_used (self->accounting, name, bytes, &error)
           : pf_accounting_reset (self->accounting, name, &error);
  if (!ok)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  save_state (self);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static gboolean
handle_set_usage (PfDBusManager1        *skeleton,
                  GDBusMethodInvocation *invocation,
                  const char            *name,
                  guint64                bytes,
                  PfManager             *self)
{
  authorize_then (self, invocation, change_usage_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_reset_usage (PfDBusManager1        *skeleton,
                    GDBusMethodInvocation *invocation,
                    const char            *name,
                    PfManager             *self)
{
  authorize_then (self, invocation, change_usage_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
on_notify_test_done (GObject      *source,
                     GAsyncResult *res,
                     gpointer      user_data)
{
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = pf_announcer_test_finish (PF_ANNOUNCER (source), res, &error);

  if (lines == NULL)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(^as)", lines));
}

static void
notify_test_authorized (PfManager             *self,
                        GDBusMethodInvocation *invocation)
{
  pf_announcer_test_async (self->announcer, self->cancellable, on_notify_test_done, g_object_ref (invocation));
}

static gboolean
handle_notify_test (PfDBusManager1        *skeleton,
                    GDBusMethodInvocation *invocation,
                    PfManager             *self)
{
  authorize_then (self, invocation, notify_test_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_status (PfDBusManager1        *skeleton,
                   GDBusMethodInvocation *invocation,
                   PfManager             *self)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  guint first;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, PACKAGE_VERSION);
  json_builder_set_member_name (b, "state");
  json_builder_add_string_value (b, pf_dbus_manager1_get_state (skeleton));
  json_builder_set_member_name (b, "mode");
  json_builder_add_string_value (b, pf_dbus_manager1_get_mode (skeleton));
  json_builder_set_member_name (b, "forced_uplink");
  json_builder_add_string_value (b, pf_dbus_manager1_get_forced_uplink (skeleton));
  json_builder_set_member_name (b, "active_uplink");
  json_builder_add_string_value (b, pf_dbus_manager1_get_active_uplink (skeleton));
  json_builder_set_member_name (b, "last_change");
  json_builder_add_int_value (b, pf_dbus_manager1_get_last_change (skeleton));
  json_builder_set_member_name (b, "last_reason");
  json_builder_add_string_value (b, pf_dbus_manager1_get_last_reason (skeleton));
  json_builder_set_member_name (b, "uplinks");
  json_builder_begin_array (b);
  for (guint i = 0; self->uplinks != NULL && i < self->uplinks->len; i++)
    pf_uplink_to_json (uplink_at (self, i), b);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "remote_access");
  json_builder_begin_array (b);
  for (guint i = 0; self->remote_access != NULL && i < self->remote_access->len; i++)
    pf_remote_access_to_json (g_ptr_array_index (self->remote_access, i), b);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "dns");
  if (self->dns != NULL)
    pf_dns_to_json (self->dns, b);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "events");
  json_builder_begin_array (b);
  first = self->state->events->len > 20 ? self->state->events->len - 20 : 0;
  for (guint i = first; i < self->state->events->len; i++)
    pf_event_to_json (g_ptr_array_index (self->state->events, i), b);
  json_builder_end_array (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  pf_dbus_manager1_complete_get_status (skeleton, invocation, text);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_events (PfDBusManager1        *skeleton,
                   GDBusMethodInvocation *invocation,
                   guint                  limit,
                   PfManager             *self)
{
  GVariantBuilder builder;
  guint n = self->state->events->len;
  guint first = (limit > 0 && limit < n) ? n - limit : 0;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(tssss)"));
  for (guint i = first; i < n; i++)
    {
      PfEvent *e = g_ptr_array_index (self->state->events, i);
      g_variant_builder_add (&builder, "(tssss)", (guint64) e->time_us, e->kind, e->from, e->to, e->reason);
    }
  pf_dbus_manager1_complete_get_events (skeleton, invocation, g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- object ------------------------------------------------------------- */

static void
pf_manager_dispose (GObject *object)
{
  PfManager *self = PF_MANAGER (object);

  g_cancellable_cancel (self->cancellable);
  unexport_uplinks (self);
  g_clear_handle_id (&self->recheck_id, g_source_remove);
  if (self->skeleton != NULL)
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->skeleton));
  g_clear_object (&self->skeleton);
  g_clear_object (&self->authority);
  if (self->announcer != NULL)
    g_signal_handlers_disconnect_by_data (self->announcer, self);
  g_clear_object (&self->announcer);
  if (self->dns != NULL)
    g_signal_handlers_disconnect_by_data (self->dns, self);
  g_clear_object (&self->dns);
  g_clear_object (&self->links);
  g_clear_object (&self->nm);
  g_clear_object (&self->bus);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (pf_manager_parent_class)->dispose (object);
}

static void
pf_manager_finalize (GObject *object)
{
  PfManager *self = PF_MANAGER (object);

  g_clear_pointer (&self->routing, pf_routing_free);
  g_clear_pointer (&self->policy, pf_policy_free);
  g_clear_pointer (&self->config, pf_config_free);
  g_clear_pointer (&self->state, pf_state_free);
  g_free (self->config_path);
  g_free (self->state_path);
  g_free (self->forced);
  g_free (self->applied_firewall);
  g_free (self->applied_routing);
  G_OBJECT_CLASS (pf_manager_parent_class)->finalize (object);
}

static void
pf_manager_class_init (PfManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pf_manager_dispose;
  object_class->finalize = pf_manager_finalize;
}

static void
pf_manager_init (PfManager *self)
{
  self->cancellable = g_cancellable_new ();
}

PfManager *
pf_manager_new (GDBusConnection *bus,
                const char      *config_path,
                PfConfig        *config,
                GError         **error)
{
  g_autoptr(PfManager) self = g_object_new (PF_TYPE_MANAGER, NULL);
  g_autoptr(GError) local_error = NULL;

  self->bus = g_object_ref (bus);
  self->config_path = g_strdup (config_path);
  self->config = config;
  self->authority = pf_authority_new ();
  self->state_path = pf_state_default_path ();
  self->state = pf_state_load (self->state_path, &local_error);
  if (self->state == NULL)
    {
      g_warning ("Ignoring the saved state: %s", local_error->message);
      self->state = pf_state_new ();
    }

  if (!set_announcer (self, config, error))
    return NULL;

  self->skeleton = pf_dbus_manager1_skeleton_new ();
  pf_dbus_manager1_set_version (self->skeleton, PACKAGE_VERSION);
  pf_dbus_manager1_set_state (self->skeleton, "starting");
  pf_dbus_manager1_set_mode (self->skeleton, pf_mode_to_string (self->state->mode));
  pf_dbus_manager1_set_forced_uplink (self->skeleton, "");
  pf_dbus_manager1_set_active_uplink (self->skeleton, "");
  pf_dbus_manager1_set_last_change (self->skeleton, self->state->last_change_us);
  pf_dbus_manager1_set_last_reason (self->skeleton, self->state->last_reason);
  g_signal_connect (self->skeleton, "handle-set-mode", G_CALLBACK (handle_set_mode), self);
  g_signal_connect (self->skeleton, "handle-test-uplink", G_CALLBACK (handle_test_uplink), self);
  g_signal_connect (self->skeleton, "handle-reload", G_CALLBACK (handle_reload), self);
  g_signal_connect (self->skeleton, "handle-get-status", G_CALLBACK (handle_get_status), self);
  g_signal_connect (self->skeleton, "handle-get-events", G_CALLBACK (handle_get_events), self);
  g_signal_connect (self->skeleton, "handle-get-modem-identity", G_CALLBACK (handle_get_modem_identity), self);
  g_signal_connect (self->skeleton, "handle-get-usage", G_CALLBACK (handle_get_usage), self);
  g_signal_connect (self->skeleton, "handle-set-usage", G_CALLBACK (handle_set_usage), self);
  g_signal_connect (self->skeleton, "handle-reset-usage", G_CALLBACK (handle_reset_usage), self);
  g_signal_connect (self->skeleton, "handle-notify-test", G_CALLBACK (handle_notify_test), self);

  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton), bus,
                                         PF_OBJECT_PATH, error))
    return NULL;
  return g_steal_pointer (&self);
}
