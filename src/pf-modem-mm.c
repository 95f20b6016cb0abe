/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * ModemManager as a modem telemetry source.
 *
 * One MMManager (an object manager client that does not auto-start the
 * service) watches ModemManager's objects. The modem followed is the one at
 * the configured path, or the first one when none is configured. When it goes
 * away (unplugged, or ModemManager stopped) the snapshot says so; when a modem
 * shows up again it is taken back if it is the same one: same path, same
 * equipment identifier or same device (paths change on replug, and a
 * restarted ModemManager numbers its modems from 0 again).
 *
 * Everything is read from the proxies' property caches, which ModemManager
 * keeps current with PropertiesChanged: any notification schedules one
 * rebuild of the whole snapshot from an idle callback, and pf_modem_update()
 * drops it when nothing changed. The SIM and the bearers are not in the
 * object manager: their proxies are made on demand and remade when the
 * modem's Sim or Bearers property changes.
 *
 * The only call that reaches the modem is Signal.Setup(rate), made each time
 * a modem is bound (ModemManager forgets the rate when it restarts).
 *
 * Every asynchronous call carries a cancellable that is cancelled when its
 * modem is dropped; its callback checks that before touching anything, so a
 * modem vanishing mid-call is harmless. ICCID and IMSI are never logged.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-mm"

#include "pf-modem-mm.h"

#include <math.h>
#include <string.h>

#include <libmm-glib.h>

#define REASON_NOT_RUNNING "ModemManager is not running"
#define REASON_UNPLUGGED   "modem unplugged"

struct _PfModemMm
{
  PfModem          parent_instance;

  GDBusConnection *bus;
  char            *wanted_path;       /* NULL: the first modem found */
  guint            signal_rate;

  GCancellable    *cancellable;       /* from start() to stop() */
  MMManager       *manager;
  char            *absent_reason;     /* why there is no modem */
  gboolean         mm_running;        /* ModemManager owns its name */

  /* The modem followed; all NULL while there is none. */
  MMObject        *object;
  MMModem         *modem;
  MMModem3gpp     *modem_3gpp;
  MMModemSignal   *modem_signal;
  MMSim           *sim;
  GPtrArray       *bearers;           /* MMBearer */
  GCancellable    *modem_cancellable; /* calls about this modem */
  GCancellable    *sim_cancellable;   /* the latest SIM look-up */
  GCancellable    *bearers_cancellable; /* the latest bearer listing */
  gboolean         sim_loaded;        /* the first snapshot of a modem waits for */
  gboolean         bearers_loaded;    /* its SIM and bearers: no half-snapshots */

  GSignalGroup    *object_signals;
  GSignalGroup    *modem_signals;
  GSignalGroup    *modem_3gpp_signals;
  GSignalGroup    *modem_signal_signals;
  GSignalGroup    *sim_signals;

  /* The last modem bound, to recognise it when it comes back. */
  char            *last_path;
  char            *last_equipment_id;
  char            *last_device;

  guint            update_id;
};

G_DEFINE_FINAL_TYPE (PfModemMm, pf_modem_mm, PF_TYPE_MODEM)

static void find_modem (PfModemMm *self);

/* An asynchronous call in flight: holds its source alive and knows whether
 * its answer is still wanted. */
typedef struct
{
  PfModemMm    *self;
  GCancellable *cancellable;
} Call;

static Call *
call_new (PfModemMm    *self,
          GCancellable *cancellable)
{
  Call *call = g_new0 (Call, 1);

  call->self = g_object_ref (self);
  call->cancellable = g_object_ref (cancellable);
  return call;
}

static void
call_free (Call *call)
{
  g_object_unref (call->self);
  g_object_unref (call->cancellable);
  g_free (call);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

static gboolean
call_is_stale (Call *call)
{
  return g_cancellable_is_cancelled (call->cancellable);
}

static const char *
nonnull (const char *s)
{
  return s != NULL ? s : "";
}

/* g_set_str() is GLib 2.76. */
static void
set_str (char       **slot,
         const char  *value)
{
  if (g_strcmp0 (*slot, value) == 0)
    return;
  g_free (*slot);
  *slot = g_strdup (value);
}

static void
replace_cancellable (GCancellable **cancellable)
{
  if (*cancellable != NULL)
    g_cancellable_cancel (*cancellable);
  g_clear_object (cancellable);
  *cancellable = g_cancellable_new ();
}

static void
drop_cancellable (GCancellable **cancellable)
{
  if (*cancellable != NULL)
    g_cancellable_cancel (*cancellable);
  g_clear_object (cancellable);
}

/* ---- mapping ModemManager's values to the snapshot's names ---- */

static const char *
state_name (MMModemState state)
{
  const char *name = mm_modem_state_get_string (state);

  return name != NULL ? name : "unknown";
}

static const char *
access_technology_name (MMModemAccessTechnology mask)
{
  /* The best one in use first (a 5G NSA modem reports LTE and 5GNR); the
   * names are ModemManager's (mmcli's). */
  static const struct {
    MMModemAccessTechnology bit;
    const char *name;
  } order[] = {
    { MM_MODEM_ACCESS_TECHNOLOGY_5GNR, "5gnr" },
    { MM_MODEM_ACCESS_TECHNOLOGY_LTE, "lte" },
    { MM_MODEM_ACCESS_TECHNOLOGY_LTE_CAT_M, "lte-cat-m" },
    { MM_MODEM_ACCESS_TECHNOLOGY_LTE_NB_IOT, "lte-nb-iot" },
    { MM_MODEM_ACCESS_TECHNOLOGY_HSPA_PLUS, "hspa-plus" },
    { MM_MODEM_ACCESS_TECHNOLOGY_HSPA, "hspa" },
    { MM_MODEM_ACCESS_TECHNOLOGY_HSUPA, "hsupa" },
    { MM_MODEM_ACCESS_TECHNOLOGY_HSDPA, "hsdpa" },
    { MM_MODEM_ACCESS_TECHNOLOGY_UMTS, "umts" },
    { MM_MODEM_ACCESS_TECHNOLOGY_EVDOB, "evdob" },
    { MM_MODEM_ACCESS_TECHNOLOGY_EVDOA, "evdoa" },
    { MM_MODEM_ACCESS_TECHNOLOGY_EVDO0, "evdo0" },
    { MM_MODEM_ACCESS_TECHNOLOGY_1XRTT, "1xrtt" },
    { MM_MODEM_ACCESS_TECHNOLOGY_EDGE, "edge" },
    { MM_MODEM_ACCESS_TECHNOLOGY_GPRS, "gprs" },
    { MM_MODEM_ACCESS_TECHNOLOGY_GSM_COMPACT, "gsm-compact" },
    { MM_MODEM_ACCESS_TECHNOLOGY_GSM, "gsm" },
    { MM_MODEM_ACCESS_TECHNOLOGY_POTS, "pots" },
  };

  if (mask == MM_MODEM_ACCESS_TECHNOLOGY_ANY)
    return "";
  for (gsize i = 0; i < G_N_ELEMENTS (order); i++)
    if (mask & order[i].bit)
      return order[i].name;
  return "";
}

static const char *
registration_name (MMModem3gppRegistrationState state)
{
  switch (state)
    {
    case MM_MODEM_3GPP_REGISTRATION_STATE_HOME:
    case MM_MODEM_3GPP_REGISTRATION_STATE_HOME_SMS_ONLY:
    case MM_MODEM_3GPP_REGISTRATION_STATE_HOME_CSFB_NOT_PREFERRED:
      return "home";
    case MM_MODEM_3GPP_REGISTRATION_STATE_ROAMING:
    case MM_MODEM_3GPP_REGISTRATION_STATE_ROAMING_SMS_ONLY:
    case MM_MODEM_3GPP_REGISTRATION_STATE_ROAMING_CSFB_NOT_PREFERRED:
      return "roaming";
    case MM_MODEM_3GPP_REGISTRATION_STATE_SEARCHING:
      return "searching";
    case MM_MODEM_3GPP_REGISTRATION_STATE_DENIED:
    case MM_MODEM_3GPP_REGISTRATION_STATE_EMERGENCY_ONLY:
    case MM_MODEM_3GPP_REGISTRATION_STATE_ATTACHED_RLOS:
      return "denied";
    case MM_MODEM_3GPP_REGISTRATION_STATE_IDLE:
      return "idle";
    case MM_MODEM_3GPP_REGISTRATION_STATE_UNKNOWN:
    default:
      return "unknown";
    }
}

static double
signal_value (double value)
{
  return value == MM_SIGNAL_UNKNOWN ? NAN : value;
}

static gboolean
is_sim_lock (MMModemLock lock)
{
  return lock != MM_MODEM_LOCK_UNKNOWN && lock != MM_MODEM_LOCK_NONE;
}

/* ---- the snapshot ---- */

static void
fill_signal (PfModemMm   *self,
             PfModemInfo *info)
{
  g_autoptr(MMSignal) lte = NULL;
  g_autoptr(MMSignal) nr5g = NULL;

  if (self->modem_signal == NULL)
    return;

  lte = mm_modem_signal_get_lte (self->modem_signal);
  nr5g = mm_modem_signal_get_nr5g (self->modem_signal);
  /* LTE when it has values, else 5G (standalone). */
  if (lte != NULL && (mm_signal_get_rsrp (lte) != MM_SIGNAL_UNKNOWN ||
                      mm_signal_get_rssi (lte) != MM_SIGNAL_UNKNOWN))
    {
      info->rssi = signal_value (mm_signal_get_rssi (lte));
      info->rsrp = signal_value (mm_signal_get_rsrp (lte));
      info->rsrq = signal_value (mm_signal_get_rsrq (lte));
      info->sinr = signal_value (mm_signal_get_snr (lte));
    }
  else if (nr5g != NULL)
    {
      info->rsrp = signal_value (mm_signal_get_rsrp (nr5g));
      info->rsrq = signal_value (mm_signal_get_rsrq (nr5g));
      info->sinr = signal_value (mm_signal_get_snr (nr5g));
    }
}

static void
fill_sim (PfModemMm   *self,
          PfModemInfo *info)
{
  MMModemState state = mm_modem_get_state (self->modem);
  MMModemStateFailedReason reason = mm_modem_get_state_failed_reason (self->modem);
  MMModemLock lock = mm_modem_get_unlock_required (self->modem);
  const char *sim_path = mm_modem_get_sim_path (self->modem);
  const char *sim_state;

  if (reason == MM_MODEM_STATE_FAILED_REASON_SIM_MISSING ||
      sim_path == NULL || g_strcmp0 (sim_path, "/") == 0)
    sim_state = "missing";
  else if (reason == MM_MODEM_STATE_FAILED_REASON_SIM_ERROR)
    sim_state = "error";
  else if (state == MM_MODEM_STATE_LOCKED || is_sim_lock (lock))
    sim_state = "locked";
  else
    sim_state = "ok";
  g_free (info->sim_state);
  info->sim_state = g_strdup (sim_state);

  if (self->sim != NULL && g_strcmp0 (sim_state, "missing") != 0)
    {
      const char *operator_name = mm_sim_get_operator_name (self->sim);

      if (operator_name == NULL || *operator_name == '\0')
        operator_name = mm_sim_get_operator_identifier (self->sim);
      g_free (info->sim_operator);
      info->sim_operator = g_strdup (nonnull (operator_name));
      g_free (info->iccid);
      info->iccid = g_strdup (nonnull (mm_sim_get_identifier (self->sim)));
      g_free (info->imsi);
      info->imsi = g_strdup (nonnull (mm_sim_get_imsi (self->sim)));
    }

  /* Why the rest of the snapshot is empty, when it is. */
  g_free (info->error);
  if (g_str_equal (sim_state, "missing"))
    info->error = g_strdup ("SIM missing");
  else if (g_str_equal (sim_state, "error"))
    info->error = g_strdup ("SIM error");
  else if (g_str_equal (sim_state, "locked"))
    info->error = g_strdup_printf ("SIM locked: %s required",
                                   is_sim_lock (lock) ? nonnull (mm_modem_lock_get_string (lock))
                                                      : "unlock");
  else if (state == MM_MODEM_STATE_FAILED)
    info->error = g_strdup_printf ("modem failed: %s",
                                   reason != MM_MODEM_STATE_FAILED_REASON_NONE
                                   ? nonnull (mm_modem_state_failed_reason_get_string (reason))
                                   : "unknown");
  else
    info->error = g_strdup ("");
}

static void
fill_bearers (PfModemMm   *self,
              PfModemInfo *info)
{
  for (guint i = 0; self->bearers != NULL && i < self->bearers->len; i++)
    {
      g_autoptr(MMBearerStats) stats = mm_bearer_get_stats (g_ptr_array_index (self->bearers, i));

      if (stats == NULL)
        continue;
      info->rx_bytes += mm_bearer_stats_get_rx_bytes (stats);
      info->tx_bytes += mm_bearer_stats_get_tx_bytes (stats);
    }
}

static PfModemInfo *
build_info (PfModemMm *self)
{
  PfModemInfo *info = pf_modem_info_new ();
  MMModemState state;
  MMModemStateFailedReason reason;
  const char *manufacturer, *model;
  guint quality;
  gboolean recent;

  if (self->modem == NULL)
    {
      g_free (info->error);
      info->error = g_strdup (nonnull (self->absent_reason));
      return info;
    }

  info->present = TRUE;

  manufacturer = nonnull (mm_modem_get_manufacturer (self->modem));
  model = nonnull (mm_modem_get_model (self->modem));
  g_free (info->model);
  if (*manufacturer == '\0' || g_ascii_strncasecmp (model, manufacturer, strlen (manufacturer)) == 0)
    info->model = g_strdup (model);
  else if (*model == '\0')
    info->model = g_strdup (manufacturer);
  else
    info->model = g_strdup_printf ("%s %s", manufacturer, model);

  state = mm_modem_get_state (self->modem);
  reason = mm_modem_get_state_failed_reason (self->modem);
  g_free (info->state);
  info->state = g_strdup (state_name (state));
  g_free (info->failed_reason);
  info->failed_reason = g_strdup (reason != MM_MODEM_STATE_FAILED_REASON_NONE
                                  ? nonnull (mm_modem_state_failed_reason_get_string (reason))
                                  : "");

  g_free (info->access_technology);
  info->access_technology = g_strdup (access_technology_name (mm_modem_get_access_technologies (self->modem)));

  /* Not measured below "enabled" (failed, locked, disabled…). */
  quality = mm_modem_get_signal_quality (self->modem, &recent);
  info->signal_quality = state >= MM_MODEM_STATE_ENABLED ? (int) MIN (quality, 100) : -1;

  if (self->modem_3gpp != NULL)
    {
      g_free (info->registration);
      info->registration = g_strdup (registration_name (mm_modem_3gpp_get_registration_state (self->modem_3gpp)));
      g_free (info->operator_name);
      info->operator_name = g_strdup (nonnull (mm_modem_3gpp_get_operator_name (self->modem_3gpp)));
      g_free (info->operator_code);
      info->operator_code = g_strdup (nonnull (mm_modem_3gpp_get_operator_code (self->modem_3gpp)));
    }

  fill_signal (self, info);
  fill_sim (self, info);
  fill_bearers (self, info);
  return info;
}

static void
log_changes (PfModemMm         *self,
             const PfModemInfo *old,
             const PfModemInfo *new)
{
  const char *path = self->last_path != NULL ? self->last_path : "(none)";

  if (!new->present)
    {
      if (old->present || g_strcmp0 (old->error, new->error) != 0)
        g_message ("modem %s: not available: %s", path, new->error);
      return;
    }
  if (!old->present)
    g_message ("modem %s: %s, %s, registration %s, SIM %s", path,
               *new->model ? new->model : "unknown model", new->state,
               new->registration, new->sim_state);
  else if (g_strcmp0 (old->state, new->state) != 0 ||
           g_strcmp0 (old->registration, new->registration) != 0 ||
           g_strcmp0 (old->sim_state, new->sim_state) != 0)
    g_message ("modem %s: state %s%s%s, registration %s, SIM %s", path, new->state,
               *new->failed_reason ? " " : "", new->failed_reason,
               new->registration, new->sim_state);
  g_debug ("modem %s: %s quality %d%% rsrp %.1f rsrq %.1f rssi %.1f sinr %.1f operator '%s' "
           "rx %" G_GUINT64_FORMAT " tx %" G_GUINT64_FORMAT,
           path, new->access_technology, new->signal_quality, new->rsrp, new->rsrq,
           new->rssi, new->sinr, new->operator_name, new->rx_bytes, new->tx_bytes);
}

static gboolean
update_cb (gpointer user_data)
{
  PfModemMm *self = PF_MODEM_MM (user_data);
  PfModemInfo *info;

  self->update_id = 0;
  if (self->modem != NULL && !(self->sim_loaded && self->bearers_loaded))
    return G_SOURCE_REMOVE;
  info = build_info (self);
  log_changes (self, pf_modem_get_info (PF_MODEM (self)), info);
  pf_modem_update (PF_MODEM (self), info);
  return G_SOURCE_REMOVE;
}

static void
schedule_update (PfModemMm *self)
{
  if (self->update_id == 0 && self->cancellable != NULL)
    self->update_id = g_idle_add (update_cb, self);
}

/* ---- SIM ---- */

static void
sim_ready_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(Call) call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(MMSim) sim = mm_modem_get_sim_finish (MM_MODEM (source), result, &error);
  PfModemMm *self = call->self;

  if (call_is_stale (call))
    return;
  if (error != NULL)
    g_message ("modem %s: cannot read the SIM: %s", self->last_path, error->message);
  self->sim_loaded = TRUE;
  g_set_object (&self->sim, sim);
  g_signal_group_set_target (self->sim_signals, self->sim);
  schedule_update (self);
}

static void
refresh_sim (PfModemMm *self)
{
  const char *path = mm_modem_get_sim_path (self->modem);

  replace_cancellable (&self->sim_cancellable);
  if (path == NULL || g_str_equal (path, "/"))
    {
      self->sim_loaded = TRUE;
      g_clear_object (&self->sim);
      g_signal_group_set_target (self->sim_signals, NULL);
      schedule_update (self);
      return;
    }
  if (self->sim != NULL && g_strcmp0 (mm_sim_get_path (self->sim), path) == 0)
    return;
  mm_modem_get_sim (self->modem, self->sim_cancellable, sim_ready_cb,
                    call_new (self, self->sim_cancellable));
}

/* ---- bearers ---- */

static void
release_bearers (PfModemMm *self)
{
  for (guint i = 0; self->bearers != NULL && i < self->bearers->len; i++)
    g_signal_handlers_disconnect_by_data (g_ptr_array_index (self->bearers, i), self);
  g_clear_pointer (&self->bearers, g_ptr_array_unref);
}

static void
bearers_ready_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(Call) call = user_data;
  g_autoptr(GError) error = NULL;
  GList *list = mm_modem_list_bearers_finish (MM_MODEM (source), result, &error);
  PfModemMm *self = call->self;

  if (call_is_stale (call))
    {
      g_list_free_full (list, g_object_unref);
      return;
    }
  self->bearers_loaded = TRUE;
  if (error != NULL)
    {
      g_message ("modem %s: cannot list bearers: %s", self->last_path, error->message);
      schedule_update (self);
      return;
    }

  release_bearers (self);
  self->bearers = g_ptr_array_new_with_free_func (g_object_unref);
  for (GList *l = list; l != NULL; l = l->next)
    {
      MMBearer *bearer = l->data;

      g_signal_connect_swapped (bearer, "notify::stats", G_CALLBACK (schedule_update), self);
      g_signal_connect_swapped (bearer, "notify::connected", G_CALLBACK (schedule_update), self);
      g_ptr_array_add (self->bearers, bearer);
    }
  g_list_free (list);
  g_debug ("modem %s: %u bearer(s)", self->last_path, self->bearers->len);
  schedule_update (self);
}

static void
refresh_bearers (PfModemMm *self)
{
  replace_cancellable (&self->bearers_cancellable);
  mm_modem_list_bearers (self->modem, self->bearers_cancellable, bearers_ready_cb,
                         call_new (self, self->bearers_cancellable));
}

/* ---- extended signal ---- */

static void
signal_setup_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(Call) call = user_data;
  g_autoptr(GError) error = NULL;

  if (!mm_modem_signal_setup_finish (MM_MODEM_SIGNAL (source), result, &error))
    {
      if (!call_is_stale (call))
        g_message ("modem %s: cannot set up extended signal reporting: %s",
                   call->self->last_path, error->message);
      return;
    }
  if (!call_is_stale (call))
    g_debug ("modem %s: extended signal every %u s", call->self->last_path, call->self->signal_rate);
}

/* ---- binding a modem ---- */

static void
modem_notify_cb (PfModemMm  *self,
                 GParamSpec *pspec)
{
  if (g_str_equal (pspec->name, "sim"))
    refresh_sim (self);
  else if (g_str_equal (pspec->name, "bearers"))
    refresh_bearers (self);
  else if (g_str_equal (pspec->name, "equipment-identifier") ||
           g_str_equal (pspec->name, "device"))
    {
      /* Filled late while a modem initialises: remember it for a replug. */
      const char *value = g_str_equal (pspec->name, "device")
                          ? mm_modem_get_device (self->modem)
                          : mm_modem_get_equipment_identifier (self->modem);
      char **slot = g_str_equal (pspec->name, "device") ? &self->last_device : &self->last_equipment_id;

      if (value != NULL && *value != '\0')
        set_str (slot, value);
    }
  schedule_update (self);
}

/* (Re)reads the optional interfaces, which a modem may add or drop as its
 * state changes (a locked modem has fewer). */
static void
bind_interfaces (PfModemMm *self)
{
  g_autoptr(MMModem3gpp) modem_3gpp = mm_object_get_modem_3gpp (self->object);
  g_autoptr(MMModemSignal) modem_signal = mm_object_get_modem_signal (self->object);

  g_set_object (&self->modem_3gpp, modem_3gpp);
  g_signal_group_set_target (self->modem_3gpp_signals, modem_3gpp);

  if (modem_signal != self->modem_signal)
    {
      g_set_object (&self->modem_signal, modem_signal);
      g_signal_group_set_target (self->modem_signal_signals, modem_signal);
      if (modem_signal != NULL && self->signal_rate > 0)
        mm_modem_signal_setup (modem_signal, self->signal_rate, self->modem_cancellable,
                               signal_setup_cb, call_new (self, self->modem_cancellable));
    }
  schedule_update (self);
}

static void
unbind_modem (PfModemMm  *self,
              const char *reason)
{
  set_str (&self->absent_reason, reason);
  if (self->object == NULL)
    return;

  drop_cancellable (&self->modem_cancellable);
  drop_cancellable (&self->sim_cancellable);
  drop_cancellable (&self->bearers_cancellable);
  g_signal_group_set_target (self->object_signals, NULL);
  g_signal_group_set_target (self->modem_signals, NULL);
  g_signal_group_set_target (self->modem_3gpp_signals, NULL);
  g_signal_group_set_target (self->modem_signal_signals, NULL);
  g_signal_group_set_target (self->sim_signals, NULL);
  release_bearers (self);
  g_clear_object (&self->sim);
  g_clear_object (&self->modem_signal);
  g_clear_object (&self->modem_3gpp);
  g_clear_object (&self->modem);
  g_clear_object (&self->object);
  schedule_update (self);
}

static void
bind_modem (PfModemMm *self,
            MMObject  *object)
{
  const char *equipment_id, *device;

  self->object = g_object_ref (object);
  self->modem = mm_object_get_modem (object);
  g_clear_pointer (&self->absent_reason, g_free);

  set_str (&self->last_path, mm_object_get_path (object));
  equipment_id = mm_modem_get_equipment_identifier (self->modem);
  if (equipment_id != NULL && *equipment_id != '\0')
    set_str (&self->last_equipment_id, equipment_id);
  device = mm_modem_get_device (self->modem);
  if (device != NULL && *device != '\0')
    set_str (&self->last_device, device);

  replace_cancellable (&self->modem_cancellable);
  self->sim_loaded = FALSE;
  self->bearers_loaded = FALSE;
  g_signal_group_set_target (self->object_signals, object);
  g_signal_group_set_target (self->modem_signals, self->modem);
  bind_interfaces (self);
  refresh_sim (self);
  refresh_bearers (self);
  g_debug ("following modem %s", self->last_path);
}

/* How well @object matches the modem wanted: -1 not at all, 0 any modem will
 * do, higher is better. */
static int
match_score (PfModemMm *self,
             MMObject  *object)
{
  MMModem *modem = mm_object_peek_modem (object);
  const char *equipment_id, *device;

  if (modem == NULL)
    return -1;
  equipment_id = nonnull (mm_modem_get_equipment_identifier (modem));
  device = nonnull (mm_modem_get_device (modem));

  if (self->last_equipment_id != NULL && *equipment_id != '\0')
    {
      if (g_str_equal (equipment_id, self->last_equipment_id))
        return 3;
      /* Another modem, wherever it is plugged. */
      return self->wanted_path == NULL ? 0 : -1;
    }
  if (self->last_device != NULL && g_str_equal (device, self->last_device))
    return 2;
  if (g_strcmp0 (mm_object_get_path (object), self->last_path) == 0 ||
      g_strcmp0 (mm_object_get_path (object), self->wanted_path) == 0)
    return 1;
  return self->wanted_path == NULL ? 0 : -1;
}

static void
find_modem (PfModemMm *self)
{
  g_autolist(GDBusObject) objects = NULL;
  g_autofree char *owner = NULL;
  MMObject *best = NULL;
  int best_score = -1;

  if (self->object != NULL || self->manager == NULL)
    return;

  owner = g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (self->manager));
  if (owner == NULL)
    {
      self->mm_running = FALSE;
      set_str (&self->absent_reason, REASON_NOT_RUNNING);
      schedule_update (self);
      return;
    }

  objects = g_dbus_object_manager_get_objects (G_DBUS_OBJECT_MANAGER (self->manager));
  for (GList *l = objects; l != NULL; l = l->next)
    {
      int score = match_score (self, MM_OBJECT (l->data));

      if (score > best_score)
        {
          best = MM_OBJECT (l->data);
          best_score = score;
        }
    }

  if (best != NULL)
    bind_modem (self, best);
  else
    {
      /* Keep saying why it went away; otherwise it was never seen. */
      if (self->absent_reason == NULL || g_str_equal (self->absent_reason, REASON_NOT_RUNNING))
        {
          g_autofree char *reason = self->wanted_path != NULL
                                    ? g_strdup_printf ("modem %s not found", self->wanted_path)
                                    : g_strdup ("no modem found");
          set_str (&self->absent_reason, reason);
        }
      schedule_update (self);
    }
}

/* ---- the manager ---- */

static void
name_owner_cb (PfModemMm  *self,
               GParamSpec *pspec)
{
  g_autofree char *owner = g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (self->manager));

  /* A new owner is announced twice: NULL first, then the owner once its
   * objects are known. */
  if (owner == NULL)
    {
      if (self->mm_running)
        g_message ("ModemManager left the bus");
      self->mm_running = FALSE;
      unbind_modem (self, REASON_NOT_RUNNING);
      schedule_update (self);
    }
  else
    {
      if (!self->mm_running)
        g_message ("ModemManager is on the bus (%s)", owner);
      self->mm_running = TRUE;
      find_modem (self);
    }
}

static void
object_added_cb (PfModemMm        *self,
                 GDBusObject      *object,
                 GDBusObjectManager *manager)
{
  g_debug ("ModemManager object added: %s", g_dbus_object_get_object_path (object));
  find_modem (self);
}

static void
object_removed_cb (PfModemMm          *self,
                   GDBusObject        *object,
                   GDBusObjectManager *manager)
{
  g_autofree char *owner = NULL;

  if (object != G_DBUS_OBJECT (self->object))
    return;
  owner = g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (self->manager));
  unbind_modem (self, owner != NULL ? REASON_UNPLUGGED : REASON_NOT_RUNNING);
  /* With no path configured, another modem may do. */
  find_modem (self);
}

static void
manager_ready_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(Call) call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(MMManager) manager = mm_manager_new_finish (result, &error);
  g_autofree char *owner = NULL;
  PfModemMm *self = call->self;

  if (call_is_stale (call))
    return;
  if (manager == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("cannot watch ModemManager: %s", error->message);

      g_warning ("%s", reason);
      set_str (&self->absent_reason, reason);
      schedule_update (self);
      return;
    }

  self->manager = g_steal_pointer (&manager);
  owner = g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (self->manager));
  self->mm_running = owner != NULL;
  g_signal_connect_swapped (self->manager, "notify::name-owner", G_CALLBACK (name_owner_cb), self);
  g_signal_connect_swapped (self->manager, "object-added", G_CALLBACK (object_added_cb), self);
  g_signal_connect_swapped (self->manager, "object-removed", G_CALLBACK (object_removed_cb), self);
  find_modem (self);
}

static void
pf_modem_mm_start (PfModem *modem)
{
  PfModemMm *self = PF_MODEM_MM (modem);

  replace_cancellable (&self->cancellable);
  mm_manager_new (self->bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                  self->cancellable, manager_ready_cb, call_new (self, self->cancellable));
}

static void
teardown (PfModemMm *self)
{
  drop_cancellable (&self->cancellable);
  unbind_modem (self, NULL);
  if (self->manager != NULL)
    g_signal_handlers_disconnect_by_data (self->manager, self);
  g_clear_object (&self->manager);
  self->mm_running = FALSE;
  g_clear_handle_id (&self->update_id, g_source_remove);
}

static void
pf_modem_mm_stop (PfModem *modem)
{
  teardown (PF_MODEM_MM (modem));
}

static void
pf_modem_mm_dispose (GObject *object)
{
  PfModemMm *self = PF_MODEM_MM (object);

  teardown (self);
  g_clear_object (&self->object_signals);
  g_clear_object (&self->modem_signals);
  g_clear_object (&self->modem_3gpp_signals);
  g_clear_object (&self->modem_signal_signals);
  g_clear_object (&self->sim_signals);
  G_OBJECT_CLASS (pf_modem_mm_parent_class)->dispose (object);
}

static void
pf_modem_mm_finalize (GObject *object)
{
  PfModemMm *self = PF_MODEM_MM (object);

  g_clear_object (&self->bus);
  g_free (self->wanted_path);
  g_free (self->absent_reason);
  g_free (self->last_path);
  g_free (self->last_equipment_id);
  g_free (self->last_device);
  G_OBJECT_CLASS (pf_modem_mm_parent_class)->finalize (object);
}

static void
pf_modem_mm_class_init (PfModemMmClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  PfModemClass *modem_class = PF_MODEM_CLASS (klass);

  object_class->dispose = pf_modem_mm_dispose;
  object_class->finalize = pf_modem_mm_finalize;
  modem_class->name = "modemmanager";
  modem_class->start = pf_modem_mm_start;
  modem_class->stop = pf_modem_mm_stop;
}

static void
pf_modem_mm_init (PfModemMm *self)
{
  self->object_signals = g_signal_group_new (MM_TYPE_OBJECT);
  g_signal_group_connect_swapped (self->object_signals, "interface-added",
                                  G_CALLBACK (bind_interfaces), self);
  g_signal_group_connect_swapped (self->object_signals, "interface-removed",
                                  G_CALLBACK (bind_interfaces), self);

  self->modem_signals = g_signal_group_new (MM_TYPE_MODEM);
  g_signal_group_connect_swapped (self->modem_signals, "notify", G_CALLBACK (modem_notify_cb), self);

  self->modem_3gpp_signals = g_signal_group_new (MM_TYPE_MODEM_3GPP);
  g_signal_group_connect_swapped (self->modem_3gpp_signals, "notify", G_CALLBACK (schedule_update), self);

  self->modem_signal_signals = g_signal_group_new (MM_TYPE_MODEM_SIGNAL);
  g_signal_group_connect_swapped (self->modem_signal_signals, "notify", G_CALLBACK (schedule_update), self);

  self->sim_signals = g_signal_group_new (MM_TYPE_SIM);
  g_signal_group_connect_swapped (self->sim_signals, "notify", G_CALLBACK (schedule_update), self);
}

PfModem *
pf_modem_mm_new (GDBusConnection *bus,
                 const char      *modem_path,
                 guint            signal_rate_s)
{
  PfModemMm *self;

  g_return_val_if_fail (G_IS_DBUS_CONNECTION (bus), NULL);
  g_return_val_if_fail (modem_path == NULL || g_variant_is_object_path (modem_path), NULL);

  self = g_object_new (PF_TYPE_MODEM_MM, NULL);
  self->bus = g_object_ref (bus);
  self->wanted_path = g_strdup (modem_path);
  self->last_path = g_strdup (modem_path);
  self->signal_rate = signal_rate_s;
  return PF_MODEM (self);
}
