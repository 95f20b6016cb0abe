/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "pvefailover-uplink"

#include "config.h"

#include <string.h>

#include <math.h>
#include <net/if.h>
#include <linux/if.h>

#include "pf-error.h"
#include "pf-modem-health.h"
#include "pf-modem-hilink.h"
#include "pf-modem-mm.h"
#include "pf-uplink.h"

struct _PfUplink
{
  GObject               parent_instance;

  const PfUplinkConfig *config;
  NMClient             *nm;
  guint32               probe_mark;
  guint32               ct_mark;

  char                 *ifname;
  int                   ifindex;
  gboolean              carrier;
  gboolean              active;
  gboolean              started;
  gboolean              taking_down;   /* cold standby: we deactivated it, its carrier goes */

  PfProber             *prober;
  PfHealth             *health;

  /* What the policy sees, derived in recompute_state(). */
  PfHealthState         state;
  char                 *reason;
  gint64                state_since_us;

  /* Backups in standby: the verdict of the last standby test. */
  PfHealthState         standby_state;
  char                 *standby_reason;
  guint                 standby_timer_id;
  gboolean              standby_testing;

  NMDevice             *device;
  gboolean              device_was_ready;

  /* Backups: modem telemetry, its verdict and the alerts it raises. */
  GDBusConnection      *bus;
  PfModem              *modem;
  gboolean              modem_running;
  PfModemHealth        *modem_health;
  guint                 modem_timer_id;
  gint64                standby_test_started_us;
  gboolean              standby_test_failed;   /* the last test failed (its alert is out) */

  GCancellable         *cancellable;
  PfDBusUplink1        *skeleton;
  char                 *last_round;     /* summary of the last scheduled round */
  gint64                link_back_us;   /* when the carrier last came back */
  gint64                measured_us;    /* when the measurements were last exported */
  guint64               monitoring_bytes; /* backups: probe bytes not yet taken by the accounting */
  char                 *changed_key;      /* what the last "changed" signal told the manager */
};

/* Loss, RTT, the last round and the wording of the health change with every
 * round; on D-Bus they follow at most this often (a change of state goes
 * out at once), so that an idle daemon does not signal twice a second. */
#define PF_MEASUREMENTS_PERIOD_US (5 * G_USEC_PER_SEC)

enum { SIGNAL_CHANGED, SIGNAL_STATE_CHANGED, SIGNAL_ALERT, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PfUplink, pf_uplink, G_TYPE_OBJECT)

static void recompute_state (PfUplink *self);
static void update_modem_running (PfUplink *self);
static void schedule_standby_test (PfUplink *self, guint delay_s);

static gint64
wall_now_us (void)
{
  return g_get_real_time ();
}

/* ---- NetworkManager ---------------------------------------------------- */

static NMRemoteConnection *
find_connection (PfUplink *self)
{
  NMRemoteConnection *connection;

  if (self->nm == NULL || self->config->connection == NULL)
    return NULL;
  connection = nm_client_get_connection_by_uuid (self->nm, self->config->connection);
  if (connection == NULL)
    connection = nm_client_get_connection_by_id (self->nm, self->config->connection);
  return connection;
}

static const char *
configured_ifname (PfUplink *self)
{
  NMRemoteConnection *connection;

  if (self->config->interface != NULL)
    return self->config->interface;
  connection = find_connection (self);
  if (connection != NULL)
    return nm_connection_get_interface_name (NM_CONNECTION (connection));
  return NULL;
}

static gboolean
device_is_activated (PfUplink *self)
{
  return self->device != NULL &&
         nm_device_get_state (self->device) == NM_DEVICE_STATE_ACTIVATED;
}

static const char *
device_state_name (NMDeviceState state)
{
  switch (state)
    {
    case NM_DEVICE_STATE_UNMANAGED: return "unmanaged";
    case NM_DEVICE_STATE_UNAVAILABLE: return "unavailable";
    case NM_DEVICE_STATE_DISCONNECTED: return "disconnected";
    case NM_DEVICE_STATE_PREPARE:
    case NM_DEVICE_STATE_CONFIG:
    case NM_DEVICE_STATE_NEED_AUTH:
    case NM_DEVICE_STATE_IP_CONFIG:
    case NM_DEVICE_STATE_IP_CHECK:
    case NM_DEVICE_STATE_SECONDARIES: return "activating";
    case NM_DEVICE_STATE_ACTIVATED: return "activated";
    case NM_DEVICE_STATE_DEACTIVATING: return "deactivating";
    case NM_DEVICE_STATE_FAILED: return "failed";
    case NM_DEVICE_STATE_UNKNOWN:
    default: return "unknown";
    }
}

/* A NetworkManager reason code in words: its nick ("gsm-apn-failed" ->
 * "gsm apn failed"), or the number when this libnm does not know it. */
static char *
nm_reason_text (GType reason_type,
                guint reason)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (reason_type);
  GEnumValue *value = g_enum_get_value (klass, (gint) reason);

  if (value == NULL)
    return g_strdup_printf ("reason %u", reason);
  return g_strdelimit (g_strdup (value->value_nick), "-", ' ');
}

/* Why the device left "activated", in words; NULL when NetworkManager only
 * says "none" or "unknown". */
static char *
device_reason_text (PfUplink *self)
{
  guint reason = self->device != NULL ? nm_device_get_state_reason (self->device) : NM_DEVICE_STATE_REASON_NONE;

  if (reason <= NM_DEVICE_STATE_REASON_UNKNOWN)
    return NULL;
  return nm_reason_text (NM_TYPE_DEVICE_STATE_REASON, reason);
}

static void
on_device_state_changed (NMDevice *device,
                         guint     new_state,
                         guint     old_state,
                         guint     reason,
                         gpointer  user_data)
{
  PfUplink *self = user_data;

  g_autofree char *why = nm_reason_text (NM_TYPE_DEVICE_STATE_REASON, reason);

  g_info ("%s: NetworkManager device %s %s -> %s (%s)", self->config->name,
          nm_device_get_iface (device), device_state_name (old_state),
          device_state_name (new_state), why);
  recompute_state (self);
}

static void
on_device_ip_config (GObject    *object,
                     GParamSpec *pspec,
                     gpointer    user_data)
{
  recompute_state (PF_UPLINK (user_data));
}

static void
detach_device (PfUplink *self)
{
  if (self->device == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->device, self);
  g_clear_object (&self->device);
}

static void recompute_state (PfUplink *self);
static void attach_device (PfUplink *self);

static void
on_device_managed (GObject    *object,
                   GParamSpec *pspec,
                   gpointer    user_data)
{
  PfUplink *self = user_data;

  attach_device (self);
  recompute_state (self);
}

static void
attach_device (PfUplink *self)
{
  const char *ifname = configured_ifname (self);
  NMDevice *device;

  if (self->nm == NULL || ifname == NULL)
    return;
  device = nm_client_get_device_by_iface (self->nm, ifname);
  if (device == self->device)
    return;
  detach_device (self);
  if (device != NULL && !nm_device_get_managed (device))
    {
      /* A virtual device (a tunnel's) is managed a moment after it appears. */
      g_signal_handlers_disconnect_by_func (device, on_device_managed, self);
      g_signal_connect_object (device, "notify::" NM_DEVICE_MANAGED, G_CALLBACK (on_device_managed), self, 0);
      return;
    }
  if (device == NULL)
    return;

  self->device = g_object_ref (device);
  g_signal_connect (device, "state-changed", G_CALLBACK (on_device_state_changed), self);
  g_signal_connect (device, "notify::" NM_DEVICE_IP4_CONFIG, G_CALLBACK (on_device_ip_config), self);
  g_signal_connect (device, "notify::" NM_DEVICE_IP6_CONFIG, G_CALLBACK (on_device_ip_config), self);
  g_debug ("%s: NetworkManager device %s", self->config->name, ifname);
}

static void
on_nm_devices_changed (NMClient *client,
                       NMDevice *device,
                       gpointer  user_data)
{
  PfUplink *self = user_data;

  attach_device (self);
  recompute_state (self);
}

/* ---- accessors --------------------------------------------------------- */

const PfUplinkConfig *
pf_uplink_get_config (PfUplink *self)
{
  return self->config;
}

const char *
pf_uplink_get_name (PfUplink *self)
{
  return self->config->name;
}

gboolean
pf_uplink_is_backup (PfUplink *self)
{
  return self->config->role == PF_ROLE_BACKUP;
}

const char *
pf_uplink_get_ifname (PfUplink *self)
{
  return self->ifname;
}

gboolean
pf_uplink_get_carrier (PfUplink *self)
{
  return self->carrier;
}

int
pf_uplink_get_ifindex (PfUplink *self)
{
  return self->ifindex;
}

/* NetworkManager's gateway of one family, while the device is activated. */
static const char *
nm_gateway (PfUplink *self,
            gboolean  ipv6)
{
  NMIPConfig *config;
  const char *gateway;

  if (!device_is_activated (self))
    return NULL;
  config = ipv6 ? nm_device_get_ip6_config (self->device) : nm_device_get_ip4_config (self->device);
  if (config == NULL)
    return NULL;
  gateway = nm_ip_config_get_gateway (config);
  return gateway != NULL && *gateway != '\0' ? gateway : NULL;
}

const char *
pf_uplink_get_gateway (PfUplink *self)
{
  if (self->config->gateway != NULL)
    return self->config->gateway;
  return nm_gateway (self, FALSE);
}

const char *
pf_uplink_get_gateway6 (PfUplink *self)
{
  if (self->config->gateway6 != NULL)
    return self->config->gateway6;
  return nm_gateway (self, TRUE);
}

guint32
pf_uplink_get_ct_mark (PfUplink *self)
{
  return self->ct_mark;
}

PfDBusUplink1 *
pf_uplink_get_skeleton (PfUplink *self)
{
  return self->skeleton;
}

char *
pf_uplink_get_object_path (PfUplink *self)
{
  g_autofree char *escaped = g_strdelimit (g_strdup (self->config->name), "-", '_');

  return g_strdup_printf ("/org/pvefailover/uplink/%s", escaped);
}

gboolean
pf_uplink_get_active (PfUplink *self)
{
  return self->active;
}

gboolean
pf_uplink_is_ready (PfUplink *self)
{
  if (self->ifindex <= 0 || !self->carrier)
    return FALSE;
  if (self->config->role == PF_ROLE_PRIMARY)
    return TRUE;
  if (self->device != NULL && !device_is_activated (self))
    return FALSE;
  return pf_uplink_get_gateway (self) != NULL || pf_uplink_get_gateway6 (self) != NULL;
}

PfHealthState
pf_uplink_get_state (PfUplink *self)
{
  return self->state;
}

const char *
pf_uplink_get_reason (PfUplink *self)
{
  return self->reason;
}

void
pf_uplink_fill_policy (PfUplink       *self,
                       PfPolicyUplink *out)
{
  out->name = self->config->name;
  out->state = self->state;
  out->state_since_us = self->state_since_us;
  out->failback_hold_us = (gint64) self->config->failback_hold_ms * 1000;
  out->usable = self->ifname != NULL &&
                (self->config->role == PF_ROLE_PRIMARY || self->config->gateway != NULL ||
                 self->config->gateway6 != NULL || self->device != NULL);
  out->health_reason = self->reason;
}

/* ---- state ------------------------------------------------------------- */

static void
update_skeleton (PfUplink *self)
{
  PfDBusUplink1 *sk = self->skeleton;

  g_object_freeze_notify (G_OBJECT (sk));
  pf_dbus_uplink1_set_interface (sk, pf_uplink_get_ifname (self) ? pf_uplink_get_ifname (self) : "");
  pf_dbus_uplink1_set_health (sk, pf_health_state_to_string (self->state));
  pf_dbus_uplink1_set_active (sk, self->active);
  pf_dbus_uplink1_set_carrier (sk, self->carrier);
  g_object_thaw_notify (G_OBJECT (sk));
}

static void
update_measurements (PfUplink *self,
                     gboolean  now)
{
  PfDBusUplink1 *sk = self->skeleton;
  gint64 t = g_get_monotonic_time ();

  if (!now && t - self->measured_us < PF_MEASUREMENTS_PERIOD_US)
    return;
  self->measured_us = t;
  g_object_freeze_notify (G_OBJECT (sk));
  pf_dbus_uplink1_set_health_reason (sk, self->reason);
  pf_dbus_uplink1_set_loss (sk, pf_health_get_loss (self->health));
  pf_dbus_uplink1_set_rtt (sk, pf_health_get_rtt_ms (self->health));
  pf_dbus_uplink1_set_jitter (sk, pf_health_get_jitter_ms (self->health));
  if (self->last_round != NULL)
    pf_dbus_uplink1_set_last_round (sk, self->last_round);
  g_object_thaw_notify (G_OBJECT (sk));
}

/* The kernel's word on the interface carrying traffic: NULL when fine. */
static char *
link_problem (PfUplink *self)
{
  if (self->ifname == NULL)
    return g_strdup_printf ("no interface: connection \"%s\" not found",
                            self->config->connection ? self->config->connection : "");
  if (self->ifindex <= 0)
    return g_strdup_printf ("interface %s is missing", self->ifname);
  if (!self->carrier)
    return g_strdup_printf ("no carrier on %s", self->ifname);
  return NULL;
}

/* What the policy sees, and why. For a backup that NetworkManager manages,
 * the device state comes first: a cold backup in standby is disconnected
 * and, for a modem, has no data interface yet; that is not a fault. */
static PfHealthState
compute_state (PfUplink  *self,
               char     **reason)
{
  g_autofree char *problem = NULL;

  if (self->config->role == PF_ROLE_BACKUP && self->device != NULL)
    {
      NMDeviceState st = nm_device_get_state (self->device);
      gboolean needed = self->config->standby == PF_STANDBY_HOT || self->active;

      if (st <= NM_DEVICE_STATE_UNAVAILABLE || st == NM_DEVICE_STATE_FAILED ||
          (needed && st != NM_DEVICE_STATE_ACTIVATED))
        {
          g_autofree char *why = st == NM_DEVICE_STATE_FAILED ? device_reason_text (self) : NULL;

          *reason = why != NULL ?
            g_strdup_printf ("NetworkManager device %s is failed: %s", nm_device_get_iface (self->device), why) :
            g_strdup_printf ("NetworkManager device %s is %s", nm_device_get_iface (self->device),
                             device_state_name (st));
          return PF_HEALTH_DOWN;
        }
      /* NetworkManager's word on a deactivation may come after the kernel's. */
      if (st == NM_DEVICE_STATE_ACTIVATED && !self->taking_down && (problem = link_problem (self)) != NULL)
        {
          *reason = g_steal_pointer (&problem);
          return PF_HEALTH_DOWN;
        }
    }
  else if ((problem = link_problem (self)) != NULL)
    {
      *reason = g_steal_pointer (&problem);
      return PF_HEALTH_DOWN;
    }

  if (self->config->role == PF_ROLE_PRIMARY)
    {
      *reason = g_strdup (pf_health_get_reason (self->health));
      return pf_health_get_state (self->health);
    }
  if (self->modem_running && pf_modem_health_get_broken (self->modem_health) != NULL)
    {
      *reason = g_strdup_printf ("modem: %s", pf_modem_health_get_broken (self->modem_health));
      return PF_HEALTH_DOWN;
    }
  if (self->active && pf_health_get_state (self->health) != PF_HEALTH_UNKNOWN)
    {
      *reason = g_strdup (pf_health_get_reason (self->health));
      return pf_health_get_state (self->health);
    }
  *reason = g_strdup (self->standby_reason);
  return self->standby_state;
}

/* Move probes and link state to @ifname, reading its state from sysfs
 * (the link monitor only reports changes). */
static void
set_ifname (PfUplink   *self,
            const char *ifname)
{
  g_autofree char *flags_path = g_build_filename ("/sys/class/net", ifname, "flags", NULL);
  g_autofree char *carrier_path = g_build_filename ("/sys/class/net", ifname, "carrier", NULL);
  g_autofree char *flags = NULL;
  g_autofree char *carrier = NULL;
  guint64 value = 0;

  g_message ("%s: traffic goes through %s", self->config->name, ifname);
  g_free (self->ifname);
  self->ifname = g_strdup (ifname);
  pf_prober_set_ifname (self->prober, ifname);
  self->ifindex = if_nametoindex (ifname);
  if (g_file_get_contents (flags_path, &flags, NULL, NULL))
    value = g_ascii_strtoull (flags, NULL, 16);
  /* "flags" holds IFF_UP but never IFF_LOWER_UP: carrier has its own file
   * (unreadable while the interface is down). */
  self->carrier = (value & IFF_UP) &&
                  g_file_get_contents (carrier_path, &carrier, NULL, NULL) &&
                  g_str_has_prefix (carrier, "1");
}

/* The interface carrying the traffic of a NetworkManager device is its IP
 * interface: for a modem, wwan0 rather than the control port cdc-wdm0, and
 * it exists only while connected. Probes and link state follow it, and go
 * back to the configured interface when the device is deactivated. */
static void
follow_ip_interface (PfUplink *self)
{
  const char *want;

  if (self->device == NULL)
    return;
  if (nm_device_get_state (self->device) == NM_DEVICE_STATE_ACTIVATED)
    want = nm_device_get_ip_iface (self->device);
  else
    want = configured_ifname (self);
  if (want != NULL && g_strcmp0 (want, self->ifname) != 0)
    set_ifname (self, want);
}

/* "changed" tells the manager to decide and apply again: only when what
 * the policy or the actuators read of this uplink moved, not after every
 * round (that would render the firewall twice a second for nothing). */
static void
emit_changed_if_needed (PfUplink *self,
                        gboolean  ready)
{
  PfPolicyUplink in;
  g_autofree char *key = NULL;

  pf_uplink_fill_policy (self, &in);
  key = g_strdup_printf ("%d %" G_GINT64_FORMAT " %d %s %s %s %d %d %d", in.state, in.state_since_us,
                         in.usable, self->ifname ? self->ifname : "-",
                         pf_uplink_get_gateway (self) ? pf_uplink_get_gateway (self) : "-",
                         pf_uplink_get_gateway6 (self) ? pf_uplink_get_gateway6 (self) : "-",
                         ready, self->carrier, self->active);
  if (g_strcmp0 (key, self->changed_key) == 0)
    return;
  g_free (self->changed_key);
  self->changed_key = g_steal_pointer (&key);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

static void
recompute_state (PfUplink *self)
{
  PfHealthState state;
  g_autofree char *reason = NULL;
  PfHealthState old_state = self->state;
  gboolean ready;

  follow_ip_interface (self);
  update_modem_running (self);
  state = compute_state (self, &reason);

  if (g_strcmp0 (reason, self->reason) != 0)
    {
      g_free (self->reason);
      self->reason = g_steal_pointer (&reason);
    }
  if (state != old_state)
    {
      self->state = state;
      self->state_since_us = g_get_monotonic_time ();
      g_message ("%s: %s -> %s: %s", self->config->name,
                 pf_health_state_to_string (old_state),
                 pf_health_state_to_string (state), self->reason);
    }
  update_skeleton (self);
  update_measurements (self, state != old_state || self->measured_us == 0);

  /* A hot backup that just became ready is tested at once, so that the
   * policy knows before it needs it. */
  ready = pf_uplink_is_ready (self);
  if (self->config->role == PF_ROLE_BACKUP && self->started && ready && !self->device_was_ready &&
      self->config->standby == PF_STANDBY_HOT && !self->active)
    schedule_standby_test (self, 0);
  self->device_was_ready = ready;

  if (state != old_state)
    g_signal_emit (self, signals[SIGNAL_STATE_CHANGED], 0, (int) old_state, (int) state);
  emit_changed_if_needed (self, ready);
}

static void
on_round_finished (PfProber      *prober,
                   PfRoundResult *result,
                   gpointer       user_data)
{
  PfUplink *self = user_data;

  /* A round sent while the link was down says nothing about the link that
   * came back: it would only break the streak of good rounds after it. */
  if (result->answered < result->quorum &&
      result->finished_us - (gint64) self->config->timeout_ms * 1000 < self->link_back_us)
    return;

  if (self->config->role == PF_ROLE_BACKUP)
    self->monitoring_bytes += result->bytes;
  pf_health_add_round (self->health, result->finished_us, result->answered,
                       result->sent, result->quorum, result->rtt_us);
  /* The primary costs nothing to probe: while it is not up, probe it at the
   * fast interval, so that a recovery is seen within 100 ms. */
  pf_prober_set_fast (prober, pf_health_wants_fast (self->health) ||
                              (self->config->role == PF_ROLE_PRIMARY &&
                               pf_health_get_state (self->health) != PF_HEALTH_UP &&
                               pf_health_get_state (self->health) != PF_HEALTH_DEGRADED));
  g_free (self->last_round);
  self->last_round = g_strdup (result->summary);
  g_debug ("%s: %s", self->config->name, result->summary);
  recompute_state (self);
}

void
pf_uplink_link_changed (PfUplink *self,
                        int       ifindex,
                        gboolean  carrier)
{
  gint64 now = g_get_monotonic_time ();

  if (ifindex == self->ifindex && carrier == self->carrier)
    return;
  /* A device NetworkManager creates on activation (a tunnel) appears now. */
  if (self->device == NULL && ifindex > 0)
    attach_device (self);

  if (ifindex != self->ifindex && self->prober != NULL && self->ifname != NULL)
    pf_prober_set_ifname (self->prober, self->ifname);
  self->ifindex = ifindex;
  if (carrier != self->carrier)
    {
      self->carrier = carrier;
      if (carrier)
        self->link_back_us = now;
      pf_health_set_link (self->health, now, carrier,
                          carrier ? "carrier back" : "carrier lost");
      /* A cold backup we took down loses its carrier (and a modem's data
       * interface gives way to its control port) by our doing: the last
       * standby test still says how it is. */
      if (!carrier && !self->taking_down)
        {
          g_free (self->standby_reason);
          self->standby_reason = g_strdup_printf ("no carrier on %s", self->ifname);
          self->standby_state = PF_HEALTH_DOWN;
        }
      else if (carrier && !self->taking_down && self->config->role == PF_ROLE_BACKUP)
        {
          self->standby_state = PF_HEALTH_UNKNOWN;
          g_free (self->standby_reason);
          self->standby_reason = g_strdup ("carrier back, not tested yet");
        }
    }
  recompute_state (self);
}

/* ---- probing ----------------------------------------------------------- */

static void
update_probing (PfUplink *self)
{
  gboolean want = self->started &&
                  (self->config->role == PF_ROLE_PRIMARY || self->active);

  if (want && !pf_prober_is_running (self->prober))
    pf_prober_start (self->prober);
  else if (!want && pf_prober_is_running (self->prober))
    {
      pf_prober_stop (self->prober);
      pf_health_reset (self->health);
    }
}

void
pf_uplink_set_active (PfUplink *self,
                      gboolean  active)
{
  if (self->active == active)
    return;
  self->active = active;
  update_probing (self);
  recompute_state (self);
}

static void
on_test_round (GObject      *source,
               GAsyncResult *res,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  PfUplink *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  PfRoundResult *result;

  result = pf_prober_run_once_finish (PF_PROBER (source), res, &error);
  if (result == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    {
      if (self->config->role == PF_ROLE_BACKUP)
        self->monitoring_bytes += result->bytes;
      g_task_return_pointer (task, result, (GDestroyNotify) pf_round_result_free);
    }
}

void
pf_uplink_test_async (PfUplink            *self,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  if (self->ifname == NULL || self->ifindex <= 0)
    {
      g_task_return_new_error (task, PF_ERROR, PF_ERROR_FAILED, "%s: %s",
                               self->config->name, self->reason);
      return;
    }
  pf_prober_run_once_async (self->prober, cancellable, on_test_round, g_steal_pointer (&task));
}

PfRoundResult *
pf_uplink_test_finish (PfUplink      *self,
                       GAsyncResult  *result,
                       GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The standby test costs data on a metered link: probe one target at a
 * time and stop as soon as the quorum answered (usually after the first). */
typedef struct {
  guint    next;
  guint    sent;
  guint    answered;
  gint64   rtt_sum;
  guint64  bytes;
  GString *summary;
} FrugalData;

static void
frugal_data_free (FrugalData *data)
{
  g_string_free (data->summary, TRUE);
  g_free (data);
}

static void frugal_next (GTask *task);

static void
on_frugal_round (GObject      *source,
                 GAsyncResult *res,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  PfUplink *self = g_task_get_source_object (task);
  FrugalData *data = g_task_get_task_data (task);
  g_autoptr(PfRoundResult) one = NULL;
  g_autoptr(GError) error = NULL;
  guint quorum = MIN (MAX (self->config->quorum, 1), self->config->targets->len);
  const char *detail;

  one = pf_prober_run_once_finish (PF_PROBER (source), res, &error);
  if (one == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  data->sent += one->sent;
  data->answered += one->answered;
  data->bytes += one->bytes;
  self->monitoring_bytes += one->bytes;
  if (one->answered > 0)
    data->rtt_sum += one->rtt_us * one->answered;
  /* "1/1 answered: icmp:198.51.100.10 0.3 ms" → keep what follows the colon. */
  detail = strchr (one->summary, ':');
  g_string_append_printf (data->summary, "%s%s", data->summary->len ? "," : "",
                          detail ? detail + 1 : one->summary);

  if (data->answered >= quorum || data->next >= self->config->targets->len)
    {
      PfRoundResult *result = g_new0 (PfRoundResult, 1);

      result->sent = data->sent;
      result->answered = data->answered;
      result->quorum = quorum;
      result->rtt_us = data->answered ? data->rtt_sum / data->answered : -1;
      result->finished_us = g_get_monotonic_time ();
      result->bytes = data->bytes;
      result->summary = g_strdup_printf ("%u/%u answered:%s", data->answered, data->sent,
                                         data->summary->str);
      g_task_return_pointer (task, result, (GDestroyNotify) pf_round_result_free);
      return;
    }
  frugal_next (g_steal_pointer (&task));
}

static void
frugal_next (GTask *task)
{
  PfUplink *self = g_task_get_source_object (task);
  FrugalData *data = g_task_get_task_data (task);

  pf_prober_run_target_async (self->prober, data->next++, g_task_get_cancellable (task),
                              on_frugal_round, task);
}

static void
standby_probe_async (PfUplink            *self,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  FrugalData *data = g_new0 (FrugalData, 1);

  data->summary = g_string_new (NULL);
  g_task_set_task_data (task, data, (GDestroyNotify) frugal_data_free);
  if (self->ifname == NULL || self->ifindex <= 0)
    {
      g_task_return_new_error (task, PF_ERROR, PF_ERROR_FAILED, "%s: %s",
                               self->config->name, self->reason);
      g_object_unref (task);
      return;
    }
  frugal_next (task);
}

static void
record_standby_test (PfUplink      *self,
                     gboolean       ok,
                     const char    *summary,
                     guint64        bytes)
{
  PfDBusUplink1 *sk = self->skeleton;
  g_autofree char *text = g_strdup_printf ("%s: %s", ok ? "passed" : "failed", summary);

  self->standby_state = ok ? PF_HEALTH_UP : PF_HEALTH_DOWN;
  g_free (self->standby_reason);
  self->standby_reason = g_strdup_printf ("standby test %s", text);

  /* A backup that fails its test would fail when needed: say so once. */
  if (!ok && !self->standby_test_failed)
    {
      g_autofree char *alert = g_strdup_printf ("standby test failed: %s", summary);
      g_signal_emit (self, signals[SIGNAL_ALERT], 0, FALSE, alert);
    }
  else if (ok && self->standby_test_failed)
    g_signal_emit (self, signals[SIGNAL_ALERT], 0, TRUE, "cleared: standby test passed");
  self->standby_test_failed = !ok;

  g_object_freeze_notify (G_OBJECT (sk));
  pf_dbus_uplink1_set_last_standby_test (sk, wall_now_us ());
  pf_dbus_uplink1_set_last_standby_test_result (sk, text);
  pf_dbus_uplink1_set_standby_test_bytes (sk, bytes);
  pf_dbus_uplink1_set_last_standby_test_duration (sk, g_get_monotonic_time () - self->standby_test_started_us);
  g_object_thaw_notify (G_OBJECT (sk));

  if (ok)
    g_info ("%s: standby test %s (%" G_GUINT64_FORMAT " bytes)", self->config->name, text, bytes);
  else
    g_warning ("%s: standby test %s", self->config->name, text);
  recompute_state (self);
}

static void on_standby_test_brought_up (GObject *source, GAsyncResult *res, gpointer user_data);

static void
on_standby_test_done (GObject      *source,
                      GAsyncResult *res,
                      gpointer      user_data)
{
  g_autoptr(PfUplink) self = user_data;
  g_autoptr(PfRoundResult) result = NULL;
  g_autoptr(GError) error = NULL;

  result = pf_uplink_test_finish (self, res, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self->standby_testing = FALSE;
  if (self->config->standby == PF_STANDBY_COLD && !self->active)
    pf_uplink_bring_down (self);
  if (result == NULL)
    record_standby_test (self, FALSE, error->message, 0);
  else
    record_standby_test (self, result->answered >= result->quorum, result->summary, result->bytes);
}

static void
on_standby_test_brought_up (GObject      *source,
                            GAsyncResult *res,
                            gpointer      user_data)
{
  g_autoptr(PfUplink) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!pf_uplink_bring_up_finish (self, res, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      self->standby_testing = FALSE;
      pf_uplink_bring_down (self);
      record_standby_test (self, FALSE, error->message, 0);
      return;
    }
  standby_probe_async (self, self->cancellable, on_standby_test_done, g_object_ref (self));
}

static gboolean
on_standby_timer (gpointer user_data)
{
  PfUplink *self = user_data;

  self->standby_timer_id = 0;
  schedule_standby_test (self, self->config->standby_test_interval_s);

  /* While active the backup is probed all the time: nothing to prove. */
  if (self->active || self->standby_testing)
    return G_SOURCE_REMOVE;

  self->standby_testing = TRUE;
  self->standby_test_started_us = g_get_monotonic_time ();
  if (self->config->standby == PF_STANDBY_COLD)
    pf_uplink_bring_up_async (self, self->cancellable, on_standby_test_brought_up, g_object_ref (self));
  else
    standby_probe_async (self, self->cancellable, on_standby_test_done, g_object_ref (self));
  return G_SOURCE_REMOVE;
}

static void
schedule_standby_test (PfUplink *self,
                       guint     delay_s)
{
  if (self->config->role != PF_ROLE_BACKUP || !self->started)
    return;
  if (delay_s == 0 && self->config->standby_test_interval_s == 0 && self->standby_timer_id == 0)
    delay_s = 0; /* the first test still runs once */
  else if (self->config->standby_test_interval_s == 0)
    return;
  g_clear_handle_id (&self->standby_timer_id, g_source_remove);
  self->standby_timer_id = delay_s == 0 ? g_idle_add (on_standby_timer, self)
                                        : g_timeout_add_seconds (delay_s, on_standby_timer, self);
}


/* ---- modem telemetry ----------------------------------------------------- */

static void
emit_alerts (PfUplink *self)
{
  g_autoptr(GPtrArray) alerts = pf_modem_health_take_alerts (self->modem_health);

  for (guint i = 0; i < alerts->len; i++)
    {
      PfModemAlert *alert = g_ptr_array_index (alerts, i);
      g_signal_emit (self, signals[SIGNAL_ALERT], 0, alert->cleared, alert->text);
    }
}

static void update_modem_skeleton (PfUplink *self);

static gboolean on_modem_timer (gpointer user_data);

/* Feed the verdict (@info NULL: only time passed) and wake up when a grace
 * period or an alert time ends. */
static void
assess_modem (PfUplink          *self,
              const PfModemInfo *info)
{
  gint64 now = g_get_monotonic_time ();
  gint64 next = pf_modem_health_update (self->modem_health, now, info);

  g_clear_handle_id (&self->modem_timer_id, g_source_remove);
  if (next > 0)
    self->modem_timer_id = g_timeout_add (MAX ((next - now) / 1000, 0) + 1, on_modem_timer, self);
  emit_alerts (self);
  update_modem_skeleton (self);
}

static gboolean
on_modem_timer (gpointer user_data)
{
  PfUplink *self = user_data;

  self->modem_timer_id = 0;
  assess_modem (self, NULL);
  recompute_state (self);
  return G_SOURCE_REMOVE;
}

static void
on_modem_changed (PfModem  *modem,
                  gpointer  user_data)
{
  PfUplink *self = user_data;

  assess_modem (self, pf_modem_get_info (modem));
  recompute_state (self);
}

static char *
hilink_url (PfUplink *self)
{
  const char *address = self->config->management;

  if (self->config->modem_api != NULL)
    return g_strdup (self->config->modem_api);
  if (address == NULL)
    return NULL;
  return strchr (address, ':') ? g_strdup_printf ("http://[%s]", address)
                               : g_strdup_printf ("http://%s", address);
}

/* The telemetry source of a backup, from modem= and what NetworkManager
 * says the device is. Decided once a device or address is known. */
static void
choose_modem (PfUplink *self)
{
  gboolean nm_modem = self->device != NULL && NM_IS_DEVICE_MODEM (self->device);
  PfModemSource source = self->config->modem;
  g_autofree char *url = NULL;

  if (self->modem != NULL || self->config->role != PF_ROLE_BACKUP)
    return;
  if (source == PF_MODEM_SOURCE_AUTO)
    {
      if (nm_modem)
        source = PF_MODEM_SOURCE_MODEMMANAGER;
      else if (self->config->management != NULL || self->config->modem_api != NULL)
        source = PF_MODEM_SOURCE_HILINK;
      else
        return;
    }

  switch (source)
    {
    case PF_MODEM_SOURCE_MODEMMANAGER:
      if (self->bus == NULL)
        return;
      /* NetworkManager names a modem device after its ModemManager object. */
      self->modem = pf_modem_mm_new (self->bus, nm_modem ? nm_device_get_udi (self->device) : NULL,
                                     self->config->signal_rate_ms / 1000);
      break;
    case PF_MODEM_SOURCE_HILINK:
      url = hilink_url (self);
      self->modem = pf_modem_hilink_new (url, self->ifname, self->config->modem_poll_ms / 1000);
      break;
    case PF_MODEM_SOURCE_AUTO:
    case PF_MODEM_SOURCE_NONE:
    default:
      return;
    }
  g_message ("%s: modem telemetry from %s", self->config->name, pf_modem_get_source (self->modem));
  g_signal_connect (self->modem, "changed", G_CALLBACK (on_modem_changed), self);
  pf_dbus_uplink1_set_modem (self->skeleton, pf_modem_get_source (self->modem));
}

/* A stick's API answers only while its link is up; ModemManager always. */
static void
update_modem_running (PfUplink *self)
{
  gboolean want;

  choose_modem (self);
  if (self->modem == NULL)
    return;
  want = self->started &&
         (g_strcmp0 (pf_modem_get_source (self->modem), "hilink") != 0 ||
          (self->ifindex > 0 && self->carrier &&
           (self->device == NULL || device_is_activated (self))));
  if (want == self->modem_running)
    return;
  self->modem_running = want;
  if (want)
    {
      pf_modem_start (self->modem);
      /* Resumed, the source may have nothing new to say: judge what it
       * published before (nothing yet is no verdict, not "gone"). */
      if (pf_modem_has_info (self->modem))
        assess_modem (self, pf_modem_get_info (self->modem));
    }
  else
    {
      /* Not watched: no verdict, no stale values. */
      pf_modem_stop (self->modem);
      g_clear_handle_id (&self->modem_timer_id, g_source_remove);
      pf_modem_health_reset (self->modem_health);
    }
  update_modem_skeleton (self);
}

guint64
pf_uplink_take_monitoring_bytes (PfUplink *self)
{
  guint64 bytes;

  g_return_val_if_fail (PF_IS_UPLINK (self), 0);

  bytes = self->monitoring_bytes;
  self->monitoring_bytes = 0;
  return bytes;
}

const PfModemInfo *
pf_uplink_get_modem_info (PfUplink *self)
{
  return self->modem_running ? pf_modem_get_info (self->modem) : NULL;
}

/* The GObject property of a D-Bus property, as gdbus-codegen names it:
 * "Rssi" -> "rssi", "UsagePercent" -> "usage-percent". */
static char *
gobject_property_name (const char *dbus_name)
{
  GString *name = g_string_new (NULL);

  for (const char *p = dbus_name; *p != '\0'; p++)
    {
      if (g_ascii_isupper (*p) && p != dbus_name)
        g_string_append_c (name, '-');
      g_string_append_c (name, g_ascii_tolower (*p));
    }
  return g_string_free (name, FALSE);
}

/* The contract says NaN for an unknown level, but GObject's double
 * parameter checks refuse NaN, so g_object_set() would keep the old value
 * with a warning. Hand the value to the skeleton's own set_property, which
 * stores it and emits the change, and only when it did change. */
void
pf_uplink_set_double_property (PfUplink   *self,
                               const char *dbus_name,
                               double      value)
{
  PfDBusUplink1 *sk = self->skeleton;
  GDBusInterfaceInfo *info = pf_dbus_uplink1_interface_info ();
  GObjectClass *klass = G_OBJECT_GET_CLASS (sk);
  GDBusPropertyInfo *property = g_dbus_interface_info_lookup_property (info, dbus_name);
  g_autofree char *name = gobject_property_name (dbus_name);
  GParamSpec *pspec = g_object_class_find_property (klass, name);
  g_auto(GValue) v = G_VALUE_INIT;
  guint prop_id = 0;
  double old;

  g_return_if_fail (property != NULL && pspec != NULL);
  /* The skeleton's ids follow the properties' order in the XML, from 1
   * (pf_dbus_uplink1_override_properties). */
  for (guint i = 0; info->properties[i] != NULL; i++)
    if (info->properties[i] == property)
      prop_id = i + 1;
  g_object_get (sk, name, &old, NULL);
  if ((isnan (value) && isnan (old)) || value == old)
    return;
  g_value_init (&v, G_TYPE_DOUBLE);
  g_value_set_double (&v, value);
  klass->set_property (G_OBJECT (sk), prop_id, &v, pspec);
}

static void
update_modem_skeleton (PfUplink *self)
{
  PfDBusUplink1 *sk = self->skeleton;
  g_autoptr(PfModemInfo) empty = pf_modem_info_new ();
  const PfModemInfo *info = pf_uplink_get_modem_info (self);
  const char *broken = pf_modem_health_get_broken (self->modem_health);

  if (info == NULL)
    info = empty;
  g_object_freeze_notify (G_OBJECT (sk));
  pf_dbus_uplink1_set_modem_present (sk, info->present);
  pf_dbus_uplink1_set_modem_model (sk, info->model);
  pf_dbus_uplink1_set_modem_state (sk, *info->state ? info->state :
                                       (self->modem_running ? "unavailable" : ""));
  pf_dbus_uplink1_set_modem_failed_reason (sk, info->failed_reason);
  pf_dbus_uplink1_set_access_technology (sk, info->access_technology);
  pf_dbus_uplink1_set_signal_quality (sk, info->signal_quality);
  pf_uplink_set_double_property (self, "Rssi", info->rssi);
  pf_uplink_set_double_property (self, "Rsrp", info->rsrp);
  pf_uplink_set_double_property (self, "Rsrq", info->rsrq);
  pf_uplink_set_double_property (self, "Sinr", info->sinr);
  pf_dbus_uplink1_set_registration (sk, info->registration);
  pf_dbus_uplink1_set_operator_name (sk, info->operator_name);
  pf_dbus_uplink1_set_operator_code (sk, info->operator_code);
  pf_dbus_uplink1_set_sim_operator (sk, info->sim_operator);
  pf_dbus_uplink1_set_sim_state (sk, info->sim_state);
  pf_dbus_uplink1_set_modem_rx_bytes (sk, info->rx_bytes);
  pf_dbus_uplink1_set_modem_tx_bytes (sk, info->tx_bytes);
  pf_dbus_uplink1_set_modem_error (sk, info->error);
  pf_dbus_uplink1_set_modem_health (sk, !self->modem_running ? "" : broken ? broken : "ok");
  g_object_thaw_notify (G_OBJECT (sk));
}

static void
modem_to_json (PfUplink    *self,
               JsonBuilder *b)
{
  const PfModemInfo *info = pf_uplink_get_modem_info (self);
  g_autoptr(PfModemInfo) shown = info != NULL ? pf_modem_info_copy (info) : pf_modem_info_new ();

  json_builder_set_member_name (b, "modem");
  if (self->modem == NULL)
    {
      json_builder_add_null_value (b);
      return;
    }
  /* As on D-Bus: the same values, ModemState and ModemHealth included. */
  g_free (shown->state);
  shown->state = g_strdup (pf_dbus_uplink1_get_modem_state (self->skeleton));
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "source");
  json_builder_add_string_value (b, pf_modem_get_source (self->modem));
  pf_modem_info_to_json (shown, b, FALSE);
  json_builder_set_member_name (b, "health");
  json_builder_add_string_value (b, pf_dbus_uplink1_get_modem_health (self->skeleton));
  json_builder_end_object (b);
}

/* ---- cold standby: NetworkManager connection up and down ---------------- */

typedef struct {
  gboolean            done;
  NMActiveConnection *active;
  guint               timeout_id;
  gulong              state_id;
  gulong              uplink_changed_id;
} BringUpData;

static void
bring_up_data_free (BringUpData *data)
{
  g_clear_handle_id (&data->timeout_id, g_source_remove);
  if (data->active != NULL && data->state_id != 0)
    g_signal_handler_disconnect (data->active, data->state_id);
  g_clear_object (&data->active);
  g_free (data);
}

static void
bring_up_finish_task (GTask  *task,
                      GError *error)
{
  PfUplink *self = g_task_get_source_object (task);
  BringUpData *data = g_task_get_task_data (task);

  if (data->done)
    {
      g_clear_error (&error);
      return;
    }
  data->done = TRUE;
  g_clear_signal_handler (&data->uplink_changed_id, self);
  g_clear_handle_id (&data->timeout_id, g_source_remove);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
on_bring_up_uplink_changed (PfUplink *self,
                            gpointer  user_data)
{
  GTask *task = user_data;

  if (pf_uplink_is_ready (self))
    bring_up_finish_task (task, NULL);
}

static void
on_bring_up_ac_state (NMActiveConnection *active,
                      guint               state,
                      guint               reason,
                      gpointer            user_data)
{
  GTask *task = user_data;
  PfUplink *self = g_task_get_source_object (task);

  if (state == NM_ACTIVE_CONNECTION_STATE_DEACTIVATED)
    {
      g_autofree char *why = nm_reason_text (NM_TYPE_ACTIVE_CONNECTION_STATE_REASON, reason);
      /* "device disconnected" says little: the device's own reason says why. */
      g_autofree char *device_why = device_reason_text (self);

      if (device_why != NULL)
        bring_up_finish_task (task, g_error_new (PF_ERROR, PF_ERROR_SYSTEM,
                                                 "NetworkManager could not activate \"%s\": %s (%s: %s)",
                                                 self->config->connection, why,
                                                 nm_device_get_iface (self->device), device_why));
      else
        bring_up_finish_task (task, g_error_new (PF_ERROR, PF_ERROR_SYSTEM,
                                                 "NetworkManager could not activate \"%s\": %s",
                                                 self->config->connection, why));
    }
  else if (pf_uplink_is_ready (self))
    bring_up_finish_task (task, NULL);
}

static gboolean
on_bring_up_timeout (gpointer user_data)
{
  GTask *task = user_data;
  PfUplink *self = g_task_get_source_object (task);
  BringUpData *data = g_task_get_task_data (task);

  data->timeout_id = 0;
  bring_up_finish_task (task, g_error_new (PF_ERROR, PF_ERROR_SYSTEM,
                                           "%s did not come up within %u ms",
                                           self->config->name, self->config->activate_timeout_ms));
  return G_SOURCE_REMOVE;
}

static void
on_activated (GObject      *source,
              GAsyncResult *res,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;   /* the reference given to the call */
  BringUpData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  NMActiveConnection *active;

  active = nm_client_activate_connection_finish (NM_CLIENT (source), res, &error);
  if (active == NULL)
    {
      g_prefix_error (&error, "Activating connection: ");
      bring_up_finish_task (task, g_steal_pointer (&error));
      return;
    }
  if (data->done)
    {
      g_object_unref (active);
      return;
    }
  data->active = active;
  data->state_id = g_signal_connect (active, "state-changed", G_CALLBACK (on_bring_up_ac_state), task);
}

void
pf_uplink_bring_up_async (PfUplink            *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  NMRemoteConnection *connection;
  BringUpData *data;

  if (pf_uplink_is_ready (self))
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  connection = find_connection (self);
  if (connection == NULL)
    {
      g_task_return_new_error (task, PF_ERROR, PF_ERROR_NOT_FOUND,
                               "%s: no NetworkManager connection \"%s\" to bring up",
                               self->config->name,
                               self->config->connection ? self->config->connection : "");
      return;
    }

  data = g_new0 (BringUpData, 1);
  g_task_set_task_data (task, data, (GDestroyNotify) bring_up_data_free);
  data->timeout_id = g_timeout_add (self->config->activate_timeout_ms, on_bring_up_timeout, task);
  data->uplink_changed_id = g_signal_connect (self, "changed", G_CALLBACK (on_bring_up_uplink_changed), task);
  g_message ("%s: bringing up connection \"%s\"", self->config->name, self->config->connection);
  self->taking_down = FALSE;
  nm_client_activate_connection_async (self->nm, NM_CONNECTION (connection), self->device, NULL,
                                       cancellable, on_activated, g_object_ref (task));
  /* The task holds itself until bring_up_finish_task() returns it. */
  g_steal_pointer (&task);
}

gboolean
pf_uplink_bring_up_finish (PfUplink      *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_deactivated (GObject      *source,
                GAsyncResult *res,
                gpointer      user_data)
{
  g_autofree char *name = user_data;
  g_autoptr(GError) error = NULL;

  if (!nm_client_deactivate_connection_finish (NM_CLIENT (source), res, &error))
    g_warning ("%s: deactivating its connection failed: %s", name, error->message);
}

void
pf_uplink_bring_down (PfUplink *self)
{
  NMActiveConnection *active;

  if (self->config->role != PF_ROLE_BACKUP || self->config->standby != PF_STANDBY_COLD ||
      self->device == NULL)
    return;
  active = nm_device_get_active_connection (self->device);
  if (active == NULL)
    return;
  g_message ("%s: taking connection \"%s\" down (cold standby)", self->config->name,
             nm_active_connection_get_id (active));
  self->taking_down = TRUE;
  nm_client_deactivate_connection_async (self->nm, active, NULL, on_deactivated,
                                         g_strdup (self->config->name));
}

/* ---- life cycle -------------------------------------------------------- */

void
pf_uplink_start (PfUplink *self)
{
  if (self->started)
    return;
  self->started = TRUE;
  if (self->nm != NULL)
    {
      g_signal_connect (self->nm, "device-added", G_CALLBACK (on_nm_devices_changed), self);
      g_signal_connect (self->nm, "device-removed", G_CALLBACK (on_nm_devices_changed), self);
    }
  attach_device (self);
  update_probing (self);
  update_modem_running (self);
  if (self->config->role == PF_ROLE_BACKUP)
    {
      if (self->config->standby == PF_STANDBY_COLD && !self->active)
        {
          pf_uplink_bring_down (self);
          schedule_standby_test (self, 1);
        }
      else if (pf_uplink_is_ready (self))
        schedule_standby_test (self, 0);
    }
  recompute_state (self);
}

void
pf_uplink_stop (PfUplink *self)
{
  self->started = FALSE;
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->standby_timer_id, g_source_remove);
  g_clear_handle_id (&self->modem_timer_id, g_source_remove);
  if (self->modem != NULL)
    {
      self->modem_running = FALSE;
      pf_modem_stop (self->modem);
    }
  if (self->nm != NULL)
    g_signal_handlers_disconnect_by_data (self->nm, self);
  detach_device (self);
  if (self->prober != NULL)
    pf_prober_stop (self->prober);
}

void
pf_uplink_to_json (PfUplink    *self,
                   JsonBuilder *b)
{
  PfDBusUplink1 *sk = self->skeleton;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, self->config->name);
  json_builder_set_member_name (b, "role");
  json_builder_add_string_value (b, pf_role_to_string (self->config->role));
  json_builder_set_member_name (b, "priority");
  json_builder_add_int_value (b, self->config->priority);
  json_builder_set_member_name (b, "interface");
  json_builder_add_string_value (b, pf_dbus_uplink1_get_interface (sk));
  json_builder_set_member_name (b, "connection");
  json_builder_add_string_value (b, pf_dbus_uplink1_get_connection (sk));
  json_builder_set_member_name (b, "health");
  json_builder_add_string_value (b, pf_health_state_to_string (self->state));
  json_builder_set_member_name (b, "health_reason");
  json_builder_add_string_value (b, self->reason);
  json_builder_set_member_name (b, "loss");
  json_builder_add_double_value (b, pf_health_get_loss (self->health));
  json_builder_set_member_name (b, "rtt_ms");
  json_builder_add_double_value (b, pf_health_get_rtt_ms (self->health));
  json_builder_set_member_name (b, "jitter_ms");
  json_builder_add_double_value (b, pf_health_get_jitter_ms (self->health));
  json_builder_set_member_name (b, "active");
  json_builder_add_boolean_value (b, self->active);
  json_builder_set_member_name (b, "standby");
  json_builder_add_string_value (b, pf_dbus_uplink1_get_standby (sk));
  json_builder_set_member_name (b, "carrier");
  json_builder_add_boolean_value (b, self->carrier);
  json_builder_set_member_name (b, "last_round");
  json_builder_add_string_value (b, pf_dbus_uplink1_get_last_round (sk));
  json_builder_set_member_name (b, "last_standby_test");
  json_builder_add_int_value (b, pf_dbus_uplink1_get_last_standby_test (sk));
  json_builder_set_member_name (b, "last_standby_test_result");
  json_builder_add_string_value (b, pf_dbus_uplink1_get_last_standby_test_result (sk));
  modem_to_json (self, b);
  json_builder_end_object (b);
}

static void
pf_uplink_dispose (GObject *object)
{
  PfUplink *self = PF_UPLINK (object);

  pf_uplink_stop (self);
  g_clear_object (&self->prober);
  if (self->modem != NULL)
    g_signal_handlers_disconnect_by_data (self->modem, self);
  g_clear_object (&self->modem);
  g_clear_object (&self->bus);
  g_clear_object (&self->skeleton);
  g_clear_object (&self->nm);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (pf_uplink_parent_class)->dispose (object);
}

static void
pf_uplink_finalize (GObject *object)
{
  PfUplink *self = PF_UPLINK (object);

  g_clear_pointer (&self->health, pf_health_free);
  g_clear_pointer (&self->modem_health, pf_modem_health_free);
  g_free (self->ifname);
  g_free (self->last_round);
  g_free (self->changed_key);
  g_free (self->reason);
  g_free (self->standby_reason);
  G_OBJECT_CLASS (pf_uplink_parent_class)->finalize (object);
}

static void
pf_uplink_class_init (PfUplinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pf_uplink_dispose;
  object_class->finalize = pf_uplink_finalize;

  /* Anything the policy may care about changed. */
  signals[SIGNAL_CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* The health state changed (old, new as PfHealthState). */
  signals[SIGNAL_STATE_CHANGED] =
    g_signal_new ("state-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_INT);
  /* A problem that would stop a backup from working started (cleared
   * FALSE) or ended (TRUE), with its text. */
  signals[SIGNAL_ALERT] =
    g_signal_new ("alert", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_BOOLEAN, G_TYPE_STRING);
}

static void
pf_uplink_init (PfUplink *self)
{
  self->cancellable = g_cancellable_new ();
  self->state = PF_HEALTH_UNKNOWN;
  self->reason = g_strdup ("not probed yet");
  self->standby_state = PF_HEALTH_UNKNOWN;
  self->standby_reason = g_strdup ("not tested yet");
}

PfUplink *
pf_uplink_new (const PfUplinkConfig *config,
               NMClient             *nm,
               GDBusConnection      *bus,
               guint32               probe_mark,
               guint32               ct_mark)
{
  PfUplink *self = g_object_new (PF_TYPE_UPLINK, NULL);
  PfHealthParams params = {
    .down_rounds = config->down_rounds,
    .up_rounds = config->up_rounds,
    .up_min_us = (gint64) config->up_min_ms * 1000,
    .window = 20,
    .degraded_loss = config->degraded_loss,
  };
  g_autoptr(GPtrArray) targets = g_ptr_array_new ();
  PfDBusUplink1 *sk;

  self->config = config;
  self->nm = nm ? g_object_ref (nm) : NULL;
  self->bus = bus ? g_object_ref (bus) : NULL;
  self->modem_health = pf_modem_health_new (&(PfModemHealthParams) {
    .signal_alert_dbm = config->signal_alert_dbm,
    .signal_alert_us = (gint64) config->signal_alert_ms * 1000,
    .registration_grace_us = (gint64) config->registration_grace_ms * 1000,
  });
  self->probe_mark = probe_mark;
  self->ct_mark = ct_mark;
  self->ifname = g_strdup (configured_ifname (self));
  self->health = pf_health_new (&params);
  self->prober = pf_prober_new (config, self->ifname, probe_mark);
  g_signal_connect (self->prober, "round-finished", G_CALLBACK (on_round_finished), self);

  for (guint i = 0; i < config->targets->len; i++)
    g_ptr_array_add (targets, ((PfProbeTarget *) g_ptr_array_index (config->targets, i))->spec);
  g_ptr_array_add (targets, NULL);

  self->skeleton = sk = pf_dbus_uplink1_skeleton_new ();
  pf_dbus_uplink1_set_name (sk, config->name);
  pf_dbus_uplink1_set_role (sk, pf_role_to_string (config->role));
  pf_dbus_uplink1_set_priority (sk, config->priority);
  pf_dbus_uplink1_set_connection (sk, config->connection ? config->connection : "");
  pf_dbus_uplink1_set_standby (sk, config->role == PF_ROLE_BACKUP ?
                                     pf_standby_to_string (config->standby) : "");
  pf_dbus_uplink1_set_targets (sk, (const char * const *) targets->pdata);
  pf_dbus_uplink1_set_last_round (sk, "");
  pf_dbus_uplink1_set_last_standby_test_result (sk, "");
  pf_dbus_uplink1_set_modem (sk, "");
  update_skeleton (self);
  update_measurements (self, TRUE);
  update_modem_skeleton (self);
  return self;
}
