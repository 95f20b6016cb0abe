/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "pvefailover-auth"

#include "config.h"

#include <polkit/polkit.h>

#include "pf-authority.h"
#include "pf-error.h"

struct _PfAuthority
{
  GObject          parent_instance;
  PolkitAuthority *polkit;   /* NULL until the first check obtained it */
};

G_DEFINE_TYPE (PfAuthority, pf_authority, G_TYPE_OBJECT)

typedef struct {
  const char *interface_name;
  const char *method_name;
  const char *action_id;
} PfAuthorityRule;

/* Every method that changes something, and its action. What is not here
 * and reaches pf_authority_check_async() is refused. */
static const PfAuthorityRule rules[] = {
  { "org.pvefailover.Manager1", "SetMode",    "org.pvefailover.set-mode" },
  { "org.pvefailover.Manager1", "TestUplink", "org.pvefailover.test-uplink" },
  { "org.pvefailover.Manager1", "Reload",     "org.pvefailover.reload" },
  { "org.pvefailover.Manager1", "GetModemIdentity", "org.pvefailover.modem-identity" },
  { "org.pvefailover.Manager1", "SetUsage",   "org.pvefailover.usage" },
  { "org.pvefailover.Manager1", "ResetUsage", "org.pvefailover.usage" },
  { "org.pvefailover.Manager1", "NotifyTest", "org.pvefailover.notify-test" },
};

const char *
pf_authority_action_for (const char *interface_name,
                         const char *method_name)
{
  for (guint i = 0; i < G_N_ELEMENTS (rules); i++)
    if (g_strcmp0 (rules[i].interface_name, interface_name) == 0 &&
        g_strcmp0 (rules[i].method_name, method_name) == 0)
      return rules[i].action_id;
  return NULL;
}

static void
pf_authority_dispose (GObject *object)
{
  PfAuthority *self = PF_AUTHORITY (object);

  g_clear_object (&self->polkit);
  G_OBJECT_CLASS (pf_authority_parent_class)->dispose (object);
}

static void
pf_authority_class_init (PfAuthorityClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pf_authority_dispose;
}

static void
pf_authority_init (PfAuthority *self)
{
}

PfAuthority *
pf_authority_new (void)
{
  return g_object_new (PF_TYPE_AUTHORITY, NULL);
}

typedef struct {
  char *sender;
  char *action_id;
  gboolean interactive;
} CheckData;

static void
check_data_free (CheckData *data)
{
  g_free (data->sender);
  g_free (data->action_id);
  g_free (data);
}

static void
on_authorization_checked (GObject      *source,
                          GAsyncResult *res,
                          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  CheckData *data = g_task_get_task_data (task);
  g_autoptr(PolkitAuthorizationResult) result = NULL;
  g_autoptr(GError) error = NULL;

  result = polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), res, &error);
  if (result == NULL)
    {
      /* polkit unreachable or broken: deny, and say why. */
      g_warning ("polkit check of %s for %s failed: %s", data->action_id, data->sender, error->message);
      g_task_return_new_error (task, PF_ERROR, PF_ERROR_NOT_AUTHORIZED,
                               "Authorization could not be checked: %s", error->message);
      return;
    }

  if (!polkit_authorization_result_get_is_authorized (result))
    {
      g_info ("%s denied to %s", data->action_id, data->sender);
      g_task_return_new_error (task, PF_ERROR, PF_ERROR_NOT_AUTHORIZED,
                               "Not authorized to perform %s", data->action_id);
      return;
    }

  g_task_return_boolean (task, TRUE);
}

static void
check_with (PfAuthority *self,
            GTask       *task)
{
  CheckData *data = g_task_get_task_data (task);
  g_autoptr(PolkitSubject) subject = polkit_system_bus_name_new (data->sender);

  polkit_authority_check_authorization (self->polkit, subject, data->action_id, NULL,
                                        data->interactive ?
                                          POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION :
                                          POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE,
                                        g_task_get_cancellable (task),
                                        on_authorization_checked, task);
}

static void
on_authority_ready (GObject      *source,
                    GAsyncResult *res,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  PfAuthority *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  PolkitAuthority *polkit;

  polkit = polkit_authority_get_finish (res, &error);
  if (polkit == NULL)
    {
      g_warning ("Cannot reach polkit: %s", error->message);
      g_task_return_new_error (task, PF_ERROR, PF_ERROR_NOT_AUTHORIZED,
                               "Authorization could not be checked: %s", error->message);
      return;
    }
  if (self->polkit == NULL)
    self->polkit = polkit;
  else
    g_object_unref (polkit);

  check_with (self, g_steal_pointer (&task));
}

void
pf_authority_check_async (PfAuthority           *self,
                          GDBusMethodInvocation *invocation,
                          GCancellable          *cancellable,
                          GAsyncReadyCallback    callback,
                          gpointer               user_data)
{
  g_autoptr(GTask) task = NULL;
  CheckData *data;
  const char *action_id;

  g_return_if_fail (PF_IS_AUTHORITY (self));
  g_return_if_fail (G_IS_DBUS_METHOD_INVOCATION (invocation));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, pf_authority_check_async);

  action_id = pf_authority_action_for (g_dbus_method_invocation_get_interface_name (invocation),
                                       g_dbus_method_invocation_get_method_name (invocation));
  if (action_id == NULL)
    {
      g_task_return_new_error (task, PF_ERROR, PF_ERROR_NOT_AUTHORIZED,
                               "%s.%s has no authorization rule",
                               g_dbus_method_invocation_get_interface_name (invocation),
                               g_dbus_method_invocation_get_method_name (invocation));
      return;
    }

  data = g_new0 (CheckData, 1);
  data->sender = g_strdup (g_dbus_method_invocation_get_sender (invocation));
  data->action_id = g_strdup (action_id);
  data->interactive = (g_dbus_message_get_flags (g_dbus_method_invocation_get_message (invocation)) &
                       G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
  g_task_set_task_data (task, data, (GDestroyNotify) check_data_free);

  if (self->polkit != NULL)
    check_with (self, g_steal_pointer (&task));
  else
    polkit_authority_get_async (cancellable, on_authority_ready, g_steal_pointer (&task));
}

gboolean
pf_authority_check_finish (PfAuthority   *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
