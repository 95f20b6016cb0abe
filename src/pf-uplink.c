/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "pvefailover-uplink"

#include "config.h"

#include <string.h>

#include "pf-error.h"
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

  GCancellable         *cancellable;
  PfDBusUplink1        *skeleton;
};

enum { SIGNAL_CHANGED, SIGNAL_STATE_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PfUplink, pf_uplink, G_TYPE_OBJECT)

static void recompute_state (PfUplink *self);
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

static void
on_device_state_changed (NMDevice *device,
                         guint     new_state,
                         guint     old_state,
                         guint     reason,
                         gpointer  user_data)
{
  PfUplink *self = user_data;

  g_info ("%s: NetworkManager device %s %s -> %s (reason %u)", self->config->name,
          nm_device_get_iface (device), device_state_name (old_state),
          device_state_name (new_state), reason);
  recompute_state (self);
}

static void
on_device_ip4_config (GObject    *object,
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
  if (device == NULL || !nm_device_get_managed (device))
    return;

  self->device = g_object_ref (device);
  g_signal_connect (device, "state-changed", G_CALLBACK (on_device_state_changed), self);
  g_signal_connect (device, "notify::" NM_DEVICE_IP4_CONFIG, G_CALLBACK (on_device_ip4_config), self);
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
  if (self->device != NULL && nm_device_get_ip_iface (self->device) != NULL)
    return nm_device_get_ip_iface (self->device);
  return self->ifname;
}

int
pf_uplink_get_ifindex (PfUplink *self)
{
  return self->ifindex;
}

const char *
pf_uplink_get_gateway (PfUplink *self)
{
  NMIPConfig *ip4;

  if (self->config->gateway != NULL)
    return self->config->gateway;
  if (!device_is_activated (self))
    return NULL;
  ip4 = nm_device_get_ip4_config (self->device);
  if (ip4 == NULL)
    return NULL;
  return nm_ip_config_get_gateway (ip4);
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
  return pf_uplink_get_gateway (self) != NULL;
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
                 self->device != NULL);
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
  pf_dbus_uplink1_set_health_reason (sk, self->reason);
  pf_dbus_uplink1_set_loss (sk, pf_health_get_loss (self->health));
  pf_dbus_uplink1_set_rtt (sk, pf_health_get_rtt_ms (self->health));
  pf_dbus_uplink1_set_jitter (sk, pf_health_get_jitter_ms (self->health));
  pf_dbus_uplink1_set_active (sk, self->active);
  pf_dbus_uplink1_set_carrier (sk, self->carrier);
  g_object_thaw_notify (G_OBJECT (sk));
}

static void
recompute_state (PfUplink *self)
{
  PfHealthState state;
  g_autofree char *reason = NULL;
  PfHealthState old_state = self->state;
  gboolean ready;

  if (self->ifname == NULL)
    {
      state = PF_HEALTH_DOWN;
      reason = g_strdup_printf ("no interface: connection \"%s\" not found",
                                self->config->connection ? self->config->connection : "");
    }
  else if (self->ifindex <= 0)
    {
      state = PF_HEALTH_DOWN;
      reason = g_strdup_printf ("interface %s is missing", self->ifname);
    }
  else if (!self->carrier)
    {
      state = PF_HEALTH_DOWN;
      reason = g_strdup_printf ("no carrier on %s", self->ifname);
    }
  else if (self->config->role == PF_ROLE_PRIMARY)
    {
      state = pf_health_get_state (self->health);
      reason = g_strdup (pf_health_get_reason (self->health));
    }
  else if (self->device != NULL && !device_is_activated (self) &&
           (self->config->standby == PF_STANDBY_HOT || self->active))
    {
      state = PF_HEALTH_DOWN;
      reason = g_strdup_printf ("NetworkManager device %s is %s", self->ifname,
                                device_state_name (nm_device_get_state (self->device)));
    }
  else if (self->active && pf_health_get_state (self->health) != PF_HEALTH_UNKNOWN)
    {
      state = pf_health_get_state (self->health);
      reason = g_strdup (pf_health_get_reason (self->health));
    }
  else
    {
      state = self->standby_state;
      reason = g_strdup (self->standby_reason);
    }

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

  /* A hot backup that just became ready is tested at once, so that the
   * policy knows before it needs it. */
  ready = pf_uplink_is_ready (self);
  if (self->config->role == PF_ROLE_BACKUP && self->started && ready && !self->device_was_ready &&
      self->config->standby == PF_STANDBY_HOT && !self->active)
    schedule_standby_test (self, 0);
  self->device_was_ready = ready;

  if (state != old_state)
    g_signal_emit (self, signals[SIGNAL_STATE_CHANGED], 0, (int) old_state, (int) state);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

static void
on_round_finished (PfProber      *prober,
                   PfRoundResult *result,
                   gpointer       user_data)
{
  PfUplink *self = user_data;

  pf_health_add_round (self->health, result->finished_us, result->answered,
                       result->sent, result->quorum, result->rtt_us);
  pf_prober_set_fast (prober, pf_health_wants_fast (self->health));
  pf_dbus_uplink1_set_last_round (self->skeleton, result->summary);
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

  if (ifindex != self->ifindex && self->prober != NULL && self->ifname != NULL)
    pf_prober_set_ifname (self->prober, self->ifname);
  self->ifindex = ifindex;
  if (carrier != self->carrier)
    {
      self->carrier = carrier;
      pf_health_set_link (self->health, now, carrier,
                          carrier ? "carrier back" : "carrier lost");
      if (!carrier)
        {
          g_free (self->standby_reason);
          self->standby_reason = g_strdup_printf ("no carrier on %s", self->ifname);
          self->standby_state = PF_HEALTH_DOWN;
        }
      else if (self->config->role == PF_ROLE_BACKUP)
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
  g_autoptr(GError) error = NULL;
  PfRoundResult *result;

  result = pf_prober_run_once_finish (PF_PROBER (source), res, &error);
  if (result == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, result, (GDestroyNotify) pf_round_result_free);
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

  g_object_freeze_notify (G_OBJECT (sk));
  pf_dbus_uplink1_set_last_standby_test (sk, wall_now_us ());
  pf_dbus_uplink1_set_last_standby_test_result (sk, text);
  pf_dbus_uplink1_set_standby_test_bytes (sk, bytes);
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
    bring_up_finish_task (task, g_error_new (PF_ERROR, PF_ERROR_SYSTEM,
                                             "NetworkManager could not activate \"%s\" (reason %u)",
                                             self->config->connection, reason));
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
  json_builder_end_object (b);
}

static void
pf_uplink_dispose (GObject *object)
{
  PfUplink *self = PF_UPLINK (object);

  pf_uplink_stop (self);
  g_clear_object (&self->prober);
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
  g_free (self->ifname);
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
  update_skeleton (self);
  return self;
}
