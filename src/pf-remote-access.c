/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One remote access: its probe through the tunnel, its state, and the
 * re-pinning after a switch of uplinks (see pf-remote-access.h).
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-remote"

#include <math.h>
#include <string.h>

#include <libsoup/soup.h>

#include "pf-error.h"
#include "pf-prober.h"
#include "pf-remote-access.h"

/* Rounds every 250 ms while re-pinning, for at most this long. */
#define REPIN_FAST_MS     250
#define REPIN_WINDOW_MS   (30 * 1000)
/* A ZeroTier network that does not answer this long after a switch is
 * left and joined again. */
#define ZEROTIER_GRACE_MS (5 * 1000)
/* Consecutive unanswered rounds before the remote access is down. */
#define DOWN_ROUNDS       3

typedef enum {
  STATE_UNKNOWN,
  STATE_UP,
  STATE_DOWN,
} State;

static const char *const state_names[] = { "unknown", "up", "down" };

struct _PfRemoteAccess
{
  GObject                     parent_instance;

  const PfRemoteAccessConfig *config;
  PfUplinkConfig             *probe_config;  /* what the prober needs: one icmp target */
  PfProber                   *prober;        /* NULL until the interface is known */
  char                       *ifname;
  SoupSession                *soup;          /* zerotier */
  GCancellable               *cancellable;

  State                       state;
  guint                       failures;      /* consecutive */
  double                      rtt_ms;        /* NAN when none */
  gint64                      since_us;      /* real time of the last state change */

  gint64                      repin_started_us; /* monotonic, 0 when not re-pinning */
  char                       *repin_how;
  guint                       repin_timeout_id;
  guint                       zerotier_grace_id;
  double                      last_repin_s;  /* NAN until one */
  gboolean                    started;
};

G_DEFINE_TYPE (PfRemoteAccess, pf_remote_access, G_TYPE_OBJECT)

enum {
  SIGNAL_STATE_CHANGED,
  SIGNAL_REPINNED,
  SIGNAL_FAILED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
fail (PfRemoteAccess *self,
      const char     *format,
      ...) G_GNUC_PRINTF (2, 3);

static void
fail (PfRemoteAccess *self,
      const char     *format,
      ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_warning ("remote access %s: %s", self->config->name, message);
  g_signal_emit (self, signals[SIGNAL_FAILED], 0, message);
}

static void
set_state (PfRemoteAccess *self,
           State           state,
           const char     *reason)
{
  if (self->state == state)
    return;
  self->state = state;
  self->since_us = g_get_real_time ();
  g_signal_emit (self, signals[SIGNAL_STATE_CHANGED], 0, state_names[state], reason);
}

/* ---- re-pinning ----------------------------------------------------------- */

static void
repin_end (PfRemoteAccess *self)
{
  self->repin_started_us = 0;
  g_clear_handle_id (&self->repin_timeout_id, g_source_remove);
  g_clear_handle_id (&self->zerotier_grace_id, g_source_remove);
  if (self->prober != NULL)
    pf_prober_set_fast (self->prober, self->state == STATE_UP && self->failures > 0);
}

static void
repin_note (PfRemoteAccess *self,
            const char     *how)
{
  g_autofree char *old = g_steal_pointer (&self->repin_how);

  self->repin_how = old != NULL ? g_strconcat (old, "; ", how, NULL) : g_strdup (how);
}

static gboolean
on_repin_timeout (gpointer user_data)
{
  PfRemoteAccess *self = user_data;

  self->repin_timeout_id = 0;
  repin_end (self);
  fail (self, "%s did not answer within %u s after the switch", self->config->probe,
        REPIN_WINDOW_MS / 1000);
  return G_SOURCE_REMOVE;
}

/* The round that moves the tunnel: its ping makes WireGuard send from the
 * path the routing gives now. */
static void
probe_now (PfRemoteAccess *self)
{
  if (self->prober == NULL || !self->started)
    return;
  pf_prober_set_fast (self->prober, TRUE);
  pf_prober_stop (self->prober);
  pf_prober_start (self->prober);
}

static void
on_wg_set_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(PfRemoteAccess) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *err_text = NULL;
  GSubprocess *process = G_SUBPROCESS (source);

  if (!g_subprocess_communicate_utf8_finish (process, result, NULL, &err_text, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      fail (self, "wg: %s", error->message);
    }
  else if (!g_subprocess_get_successful (process))
    fail (self, "wg set %s failed: %s", self->ifname, err_text != NULL ? g_strstrip (err_text) : "");
  probe_now (self);
}

/* `wg show IF endpoints` is "KEY<TAB>ADDRESS:PORT" per peer ("(none)" for a
 * peer never heard from). Every known endpoint is set again, @endpoint for
 * the configured peer: WireGuard forgets the source address and interface
 * it had kept for the peer (wireguard-go pins both), so its next packet
 * leaves by the path the routing gives now. */
static void
wg_set_endpoints (PfRemoteAccess *self,
                  const char     *show_output,
                  const char     *endpoint)
{
  g_autoptr(GStrvBuilder) argv = g_strv_builder_new ();
  g_auto(GStrv) lines = g_strsplit (show_output != NULL ? show_output : "", "\n", -1);
  g_auto(GStrv) args = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  guint n = 0;

  g_strv_builder_add_many (argv, "wg", "set", self->ifname, NULL);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = g_strsplit (g_strstrip (lines[i]), "\t", 2);
      const char *value;

      if (g_strv_length (fields) != 2)
        continue;
      value = g_strcmp0 (fields[0], self->config->peer_key) == 0 && endpoint != NULL ? endpoint : fields[1];
      if (g_str_equal (value, "(none)"))
        continue;
      g_strv_builder_add_many (argv, "peer", fields[0], "endpoint", value, NULL);
      n++;
    }
  if (n == 0)
    {
      probe_now (self);
      return;
    }
  args = g_strv_builder_end (argv);
  process = g_subprocess_newv ((const char * const *) args,
                               G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  if (process == NULL)
    {
      fail (self, "cannot run wg (wireguard-tools): %s", error->message);
      probe_now (self);
      return;
    }
  if (endpoint != NULL)
    {
      g_autofree char *how = g_strdup_printf ("endpoint set again to %s", endpoint);

      repin_note (self, how);
    }
  else
    repin_note (self, n == 1 ? "the peer's endpoint set again" : "the peers' endpoints set again");
  g_subprocess_communicate_utf8_async (process, NULL, self->cancellable, on_wg_set_done, g_object_ref (self));
}

typedef struct {
  PfRemoteAccess *self;
  char           *endpoint;  /* endpoint= resolved, or NULL */
} WgRepin;

static void
wg_repin_free (WgRepin *repin)
{
  g_object_unref (repin->self);
  g_free (repin->endpoint);
  g_free (repin);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WgRepin, wg_repin_free)

static void
on_wg_show_done (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(WgRepin) repin = user_data;
  PfRemoteAccess *self = repin->self;
  g_autoptr(GError) error = NULL;
  g_autofree char *out_text = NULL;
  g_autofree char *err_text = NULL;
  GSubprocess *process = G_SUBPROCESS (source);

  if (!g_subprocess_communicate_utf8_finish (process, result, &out_text, &err_text, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      fail (self, "wg: %s", error->message);
      probe_now (self);
      return;
    }
  if (!g_subprocess_get_successful (process))
    {
      fail (self, "wg show %s failed: %s", self->ifname, err_text != NULL ? g_strstrip (err_text) : "");
      probe_now (self);
      return;
    }
  wg_set_endpoints (self, out_text, repin->endpoint);
}

static void
wg_show_endpoints (PfRemoteAccess *self,
                   char           *endpoint)
{
  g_autoptr(WgRepin) repin = g_new0 (WgRepin, 1);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;

  repin->self = g_object_ref (self);
  repin->endpoint = endpoint;
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                              "wg", "show", self->ifname, "endpoints", NULL);
  if (process == NULL)
    {
      fail (self, "cannot run wg (wireguard-tools): %s", error->message);
      probe_now (self);
      return;
    }
  g_subprocess_communicate_utf8_async (process, NULL, self->cancellable, on_wg_show_done,
                                       g_steal_pointer (&repin));
}

static void
on_endpoint_resolved (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(PfRemoteAccess) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autolist(GInetAddress) addresses = NULL;
  g_autofree char *address = NULL;
  const char *port = strrchr (self->config->endpoint, ':') + 1;

  addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);
  if (addresses == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      fail (self, "cannot resolve the endpoint %s: %s", self->config->endpoint, error->message);
      wg_show_endpoints (self, NULL);
      return;
    }
  address = g_inet_address_to_string (addresses->data);
  if (g_inet_address_get_family (addresses->data) == G_SOCKET_FAMILY_IPV6)
    wg_show_endpoints (self, g_strdup_printf ("[%s]:%s", address, port));
  else
    wg_show_endpoints (self, g_strdup_printf ("%s:%s", address, port));
}

/* endpoint= is resolved again (a dynamic DNS name may point elsewhere now,
 * and the resolver may only be reachable through the new path), then every
 * peer's endpoint is set again, then the probe runs. */
static void
wireguard_repin (PfRemoteAccess *self)
{
  g_autofree char *host = NULL;
  char *colon;

  if (self->ifname == NULL)
    return;
  if (self->config->endpoint == NULL)
    {
      wg_show_endpoints (self, NULL);
      return;
    }
  host = g_strdup (self->config->endpoint);
  colon = strrchr (host, ':');
  *colon = '\0';
  if (host[0] == '[')
    {
      memmove (host, host + 1, strlen (host));
      host[strlen (host) - 1] = '\0';
    }
  g_resolver_lookup_by_name_async (g_resolver_get_default (), host, self->cancellable,
                                   on_endpoint_resolved, g_object_ref (self));
}

/* ---- ZeroTier's local service API ------------------------------------------ */

static SoupMessage *
zerotier_message (PfRemoteAccess  *self,
                  const char      *method,
                  const char      *path,
                  GError         **error)
{
  g_autofree char *token = NULL;
  g_autofree char *url = g_strconcat (self->config->api, path, NULL);
  SoupMessage *msg;

  if (!g_file_get_contents (self->config->token_file, &token, NULL, error))
    {
      g_prefix_error (error, "ZeroTier API token: ");
      return NULL;
    }
  msg = soup_message_new (method, url);
  if (msg == NULL)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "invalid URL %s", url);
      return NULL;
    }
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-ZT1-Auth", g_strstrip (token));
  if (g_str_equal (method, SOUP_METHOD_POST))
    {
      g_autoptr(GBytes) body = g_bytes_new_static ("{}", 2);

      soup_message_set_request_body_from_bytes (msg, "application/json", body);
    }
  return msg;
}

typedef void (*ZerotierDone) (PfRemoteAccess *self,
                              JsonNode       *reply);

typedef struct {
  PfRemoteAccess *self;
  SoupMessage    *msg;
  const char     *what;
  ZerotierDone    done;
} ZerotierCall;

static void
zerotier_call_free (ZerotierCall *call)
{
  g_object_unref (call->self);
  g_object_unref (call->msg);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ZerotierCall, zerotier_call_free)

static void
on_zerotier_reply (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(ZerotierCall) call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  guint status;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  if (body == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        fail (call->self, "ZeroTier API, %s: %s", call->what, error->message);
      return;
    }
  status = soup_message_get_status (call->msg);
  if (status != SOUP_STATUS_OK)
    {
      fail (call->self, "ZeroTier API, %s: HTTP %u %s", call->what, status,
            soup_message_get_reason_phrase (call->msg));
      return;
    }
  if (!json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body), &error))
    {
      fail (call->self, "ZeroTier API, %s: %s", call->what, error->message);
      return;
    }
  if (call->done != NULL)
    call->done (call->self, json_parser_get_root (parser));
}

static void
zerotier_call (PfRemoteAccess *self,
               const char     *method,
               const char     *what,
               ZerotierDone    done)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_strconcat ("/network/", self->config->network, NULL);
  ZerotierCall *call;
  SoupMessage *msg = zerotier_message (self, method, path, &error);

  if (msg == NULL)
    {
      fail (self, "%s", error->message);
      return;
    }
  if (self->soup == NULL)
    self->soup = soup_session_new_with_options ("timeout", 5, "user-agent", "pvefailoverd/" PACKAGE_VERSION, NULL);
  call = g_new0 (ZerotierCall, 1);
  call->self = g_object_ref (self);
  call->msg = msg;
  call->what = what;
  call->done = done;
  soup_session_send_and_read_async (self->soup, msg, G_PRIORITY_DEFAULT, self->cancellable,
                                    on_zerotier_reply, call);
}

static void set_ifname (PfRemoteAccess *self, const char *ifname);

static void
on_zerotier_network (PfRemoteAccess *self,
                     JsonNode       *reply)
{
  JsonObject *object = JSON_NODE_HOLDS_OBJECT (reply) ? json_node_get_object (reply) : NULL;
  const char *device = object != NULL ? json_object_get_string_member_with_default (object, "portDeviceName", NULL) : NULL;

  if (device == NULL || *device == '\0')
    {
      fail (self, "ZeroTier network %s has no interface yet", self->config->network);
      return;
    }
  set_ifname (self, device);
}

static void
on_zerotier_joined (PfRemoteAccess *self,
                    JsonNode       *reply)
{
  repin_note (self, "ZeroTier network left and joined again");
  on_zerotier_network (self, reply);
}

static void
on_zerotier_left (PfRemoteAccess *self,
                  JsonNode       *reply)
{
  zerotier_call (self, SOUP_METHOD_POST, "join the network again", on_zerotier_joined);
}

static gboolean
on_zerotier_grace (gpointer user_data)
{
  PfRemoteAccess *self = user_data;

  self->zerotier_grace_id = 0;
  g_message ("remote access %s: %s did not answer %u s after the switch: joining the ZeroTier network again",
             self->config->name, self->config->probe, ZEROTIER_GRACE_MS / 1000);
  zerotier_call (self, SOUP_METHOD_DELETE, "leave the network", on_zerotier_left);
  return G_SOURCE_REMOVE;
}

/* ---- probing --------------------------------------------------------------- */

static void
on_round_finished (PfProber      *prober,
                   PfRoundResult *result,
                   gpointer       user_data)
{
  PfRemoteAccess *self = user_data;
  g_autofree char *reason = NULL;

  if (result->answered >= result->quorum)
    {
      self->failures = 0;
      self->rtt_ms = result->rtt_us >= 0 ? result->rtt_us / 1000.0 : NAN;
      reason = g_strdup_printf ("%s answered through %s in %.1f ms", self->config->probe,
                                self->ifname, self->rtt_ms);
      set_state (self, STATE_UP, reason);
      if (self->repin_started_us != 0)
        {
          self->last_repin_s = (g_get_monotonic_time () - self->repin_started_us) / (double) G_USEC_PER_SEC;
          g_signal_emit (self, signals[SIGNAL_REPINNED], 0, self->last_repin_s,
                         self->repin_how != NULL ? self->repin_how : "probed through the new path");
          g_clear_pointer (&self->repin_how, g_free);
        }
      repin_end (self);
      return;
    }

  self->failures++;
  self->rtt_ms = NAN;
  if (self->failures < DOWN_ROUNDS)
    {
      /* Confirm quickly, without probing fast for as long as it is down. */
      pf_prober_set_fast (self->prober, TRUE);
      return;
    }
  reason = g_strdup_printf ("%s did not answer %u probes through %s", self->config->probe,
                            self->failures, self->ifname);
  set_state (self, STATE_DOWN, reason);
  if (self->repin_started_us == 0)
    pf_prober_set_fast (self->prober, FALSE);
}

static void
set_ifname (PfRemoteAccess *self,
            const char     *ifname)
{
  if (g_strcmp0 (self->ifname, ifname) == 0 && self->prober != NULL)
    return;
  g_free (self->ifname);
  self->ifname = g_strdup (ifname);
  if (self->prober != NULL)
    {
      pf_prober_set_ifname (self->prober, ifname);
      return;
    }
  /* Not marked: the tunnel's own packets carry its fwmark, not ours. */
  self->prober = pf_prober_new (self->probe_config, ifname, 0);
  g_signal_connect (self->prober, "round-finished", G_CALLBACK (on_round_finished), self);
  if (self->started)
    {
      pf_prober_set_fast (self->prober, self->repin_started_us != 0);
      pf_prober_start (self->prober);
    }
}

/* ---- public ---------------------------------------------------------------- */

PfRemoteAccess *
pf_remote_access_new (const PfRemoteAccessConfig *config)
{
  PfRemoteAccess *self;
  g_autoptr(GError) error = NULL;
  g_autofree char *spec = NULL;
  PfProbeTarget *target;

  g_return_val_if_fail (config != NULL && config->probe != NULL, NULL);

  self = g_object_new (PF_TYPE_REMOTE_ACCESS, NULL);
  self->config = config;
  spec = strchr (config->probe, ':') != NULL ? g_strdup_printf ("icmp:[%s]", config->probe)
                                             : g_strdup_printf ("icmp:%s", config->probe);
  target = pf_probe_target_parse (spec, &error);
  if (target == NULL)
    {
      /* The address is checked by the configuration: IPv6 without brackets. */
      g_clear_error (&error);
      g_free (spec);
      spec = g_strdup_printf ("icmp:%s", config->probe);
      target = pf_probe_target_parse (spec, &error);
    }
  g_assert_no_error (error);
  self->probe_config = g_new0 (PfUplinkConfig, 1);
  self->probe_config->name = g_strdup_printf ("remote-access %s", config->name);
  self->probe_config->targets = g_ptr_array_new_with_free_func ((GDestroyNotify) pf_probe_target_free);
  g_ptr_array_add (self->probe_config->targets, target);
  self->probe_config->quorum = 1;
  self->probe_config->interval_ms = config->interval_ms;
  self->probe_config->fast_interval_ms = REPIN_FAST_MS;
  self->probe_config->timeout_ms = config->timeout_ms;
  return self;
}

void
pf_remote_access_start (PfRemoteAccess *self)
{
  g_return_if_fail (PF_IS_REMOTE_ACCESS (self));

  if (self->started)
    return;
  self->started = TRUE;
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  if (self->config->interface != NULL)
    set_ifname (self, self->config->interface);
  else
    zerotier_call (self, SOUP_METHOD_GET, "find the network's interface", on_zerotier_network);
}

void
pf_remote_access_stop (PfRemoteAccess *self)
{
  g_return_if_fail (PF_IS_REMOTE_ACCESS (self));

  self->started = FALSE;
  g_cancellable_cancel (self->cancellable);
  repin_end (self);
  if (self->prober != NULL)
    pf_prober_stop (self->prober);
}

void
pf_remote_access_repin (PfRemoteAccess *self)
{
  g_return_if_fail (PF_IS_REMOTE_ACCESS (self));

  if (!self->started)
    return;
  repin_end (self);
  g_clear_pointer (&self->repin_how, g_free);
  self->repin_started_us = g_get_monotonic_time ();
  self->repin_timeout_id = g_timeout_add (REPIN_WINDOW_MS, on_repin_timeout, self);
  /* An out-of-band tunnel keeps its path. */
  if (self->config->kind == PF_REMOTE_WIREGUARD && self->config->out_of_band == NULL)
    wireguard_repin (self);
  else
    {
      if (self->config->kind == PF_REMOTE_ZEROTIER)
        self->zerotier_grace_id = g_timeout_add (ZEROTIER_GRACE_MS, on_zerotier_grace, self);
      probe_now (self);
    }
}

void
pf_remote_access_reset_path (PfRemoteAccess *self)
{
  g_return_if_fail (PF_IS_REMOTE_ACCESS (self));

  if (self->started && self->config->kind == PF_REMOTE_WIREGUARD && self->config->out_of_band != NULL)
    wireguard_repin (self);
}

const char *
pf_remote_access_get_name (PfRemoteAccess *self)
{
  g_return_val_if_fail (PF_IS_REMOTE_ACCESS (self), NULL);
  return self->config->name;
}

const char *
pf_remote_access_get_state (PfRemoteAccess *self)
{
  g_return_val_if_fail (PF_IS_REMOTE_ACCESS (self), NULL);
  return state_names[self->state];
}

static void
add_double_or_null (JsonBuilder *builder,
                    const char  *member,
                    double       value)
{
  json_builder_set_member_name (builder, member);
  if (isnan (value))
    json_builder_add_null_value (builder);
  else
    json_builder_add_double_value (builder, round (value * 1000.0) / 1000.0);
}

void
pf_remote_access_to_json (PfRemoteAccess *self,
                          JsonBuilder    *builder)
{
  const PfRemoteAccessConfig *c = self->config;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, c->name);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, pf_remote_kind_to_string (c->kind));
  json_builder_set_member_name (builder, "interface");
  if (self->ifname != NULL)
    json_builder_add_string_value (builder, self->ifname);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "probe");
  json_builder_add_string_value (builder, c->probe);
  json_builder_set_member_name (builder, "state");
  json_builder_add_string_value (builder, state_names[self->state]);
  add_double_or_null (builder, "rtt_ms", self->rtt_ms);
  json_builder_set_member_name (builder, "since");
  json_builder_add_int_value (builder, self->since_us / G_USEC_PER_SEC);
  json_builder_set_member_name (builder, "out_of_band");
  if (c->out_of_band != NULL)
    json_builder_add_string_value (builder, c->out_of_band);
  else
    json_builder_add_null_value (builder);
  add_double_or_null (builder, "last_repin_seconds", self->last_repin_s);
  json_builder_end_object (builder);
}

/* ---- GObject --------------------------------------------------------------- */

static void
pf_remote_access_dispose (GObject *object)
{
  PfRemoteAccess *self = PF_REMOTE_ACCESS (object);

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  repin_end (self);
  if (self->prober != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->prober, self);
      pf_prober_stop (self->prober);
    }
  g_clear_object (&self->prober);
  g_clear_object (&self->soup);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (pf_remote_access_parent_class)->dispose (object);
}

static void
pf_remote_access_finalize (GObject *object)
{
  PfRemoteAccess *self = PF_REMOTE_ACCESS (object);

  if (self->probe_config != NULL)
    {
      g_ptr_array_unref (self->probe_config->targets);
      g_free (self->probe_config->name);
      g_free (self->probe_config);
    }
  g_free (self->ifname);
  g_free (self->repin_how);
  G_OBJECT_CLASS (pf_remote_access_parent_class)->finalize (object);
}

static void
pf_remote_access_init (PfRemoteAccess *self)
{
  self->rtt_ms = NAN;
  self->last_repin_s = NAN;
  self->since_us = g_get_real_time ();
}

static void
pf_remote_access_class_init (PfRemoteAccessClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pf_remote_access_dispose;
  object_class->finalize = pf_remote_access_finalize;

  signals[SIGNAL_STATE_CHANGED] =
    g_signal_new ("state-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_REPINNED] =
    g_signal_new ("repinned", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_DOUBLE, G_TYPE_STRING);
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
}
