/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "pvefailover-state"

#include "config.h"

#include "pf-error.h"
#include "pf-state.h"

#define PF_STATE_FORMAT 1

PfEvent *
pf_event_new (gint64      time_us,
              const char *kind,
              const char *from,
              const char *to,
              const char *reason)
{
  PfEvent *event = g_new0 (PfEvent, 1);

  event->time_us = time_us;
  event->kind = g_strdup (kind);
  event->from = g_strdup (from ? from : "");
  event->to = g_strdup (to ? to : "");
  event->reason = g_strdup (reason ? reason : "");
  return event;
}

void
pf_event_free (PfEvent *event)
{
  if (event == NULL)
    return;
  g_free (event->kind);
  g_free (event->from);
  g_free (event->to);
  g_free (event->reason);
  g_free (event);
}

void
pf_event_to_json (const PfEvent *event,
                  JsonBuilder   *builder)
{
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "time");
  json_builder_add_int_value (builder, event->time_us);
  json_builder_set_member_name (builder, "kind");
  json_builder_add_string_value (builder, event->kind);
  json_builder_set_member_name (builder, "from");
  json_builder_add_string_value (builder, event->from);
  json_builder_set_member_name (builder, "to");
  json_builder_add_string_value (builder, event->to);
  json_builder_set_member_name (builder, "reason");
  json_builder_add_string_value (builder, event->reason);
  json_builder_end_object (builder);
}

PfState *
pf_state_new (void)
{
  PfState *state = g_new0 (PfState, 1);

  state->mode = PF_MODE_AUTO;
  state->forced_uplink = g_strdup ("");
  state->last_reason = g_strdup ("");
  state->events = g_ptr_array_new_with_free_func ((GDestroyNotify) pf_event_free);
  return state;
}

void
pf_state_free (PfState *state)
{
  if (state == NULL)
    return;
  g_free (state->forced_uplink);
  g_free (state->active_uplink);
  g_free (state->last_reason);
  g_ptr_array_unref (state->events);
  g_clear_pointer (&state->usage, json_node_unref);
  g_free (state);
}

void
pf_state_add_event (PfState *state,
                    PfEvent *event)
{
  g_ptr_array_add (state->events, event);
  if (state->events->len > PF_STATE_MAX_EVENTS)
    g_ptr_array_remove_range (state->events, 0, state->events->len - PF_STATE_MAX_EVENTS);
}

const char *
pf_json_member_string (JsonObject *object,
                       const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

gint64
pf_json_member_int (JsonObject *object,
                    const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_INT64)
    return 0;
  return json_node_get_int (node);
}

/* Keep the current value when the file has none. */
static void
replace_string (char       **slot,
                const char  *value)
{
  if (value == NULL)
    return;
  g_free (*slot);
  *slot = g_strdup (value);
}

PfState *
pf_state_load (const char  *path,
               GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(PfState) state = pf_state_new ();
  g_autoptr(GError) local_error = NULL;
  JsonObject *root;
  JsonArray *events;
  const char *mode;

  g_return_val_if_fail (path != NULL, NULL);

  if (!json_parser_load_from_file (parser, path, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&state);
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "%s: ", path);
      return NULL;
    }

  if (json_parser_get_root (parser) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_FAILED, "%s: not a JSON object", path);
      return NULL;
    }
  root = json_node_get_object (json_parser_get_root (parser));
  if (pf_json_member_int (root, "format") != PF_STATE_FORMAT)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_FAILED, "%s: unknown format %" G_GINT64_FORMAT,
                   path, pf_json_member_int (root, "format"));
      return NULL;
    }

  mode = pf_json_member_string (root, "mode");
  if (mode != NULL && !pf_mode_from_string (mode, &state->mode))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_FAILED, "%s: unknown mode \"%s\"", path, mode);
      return NULL;
    }
  replace_string (&state->forced_uplink, pf_json_member_string (root, "forced_uplink"));
  replace_string (&state->active_uplink, pf_json_member_string (root, "active_uplink"));
  replace_string (&state->last_reason, pf_json_member_string (root, "last_reason"));
  state->last_change_us = pf_json_member_int (root, "last_change");

  events = json_object_has_member (root, "events") ?
    json_object_get_array_member (root, "events") : NULL;
  for (guint i = 0; events != NULL && i < json_array_get_length (events); i++)
    {
      JsonNode *node = json_array_get_element (events, i);
      JsonObject *obj;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      obj = json_node_get_object (node);
      if (pf_json_member_string (obj, "kind") == NULL)
        continue;
      pf_state_add_event (state, pf_event_new (pf_json_member_int (obj, "time"),
                                               pf_json_member_string (obj, "kind"),
                                               pf_json_member_string (obj, "from"),
                                               pf_json_member_string (obj, "to"),
                                               pf_json_member_string (obj, "reason")));
    }

  if (json_object_has_member (root, "usage") &&
      JSON_NODE_HOLDS_OBJECT (json_object_get_member (root, "usage")))
    state->usage = json_node_copy (json_object_get_member (root, "usage"));

  return g_steal_pointer (&state);
}

gboolean
pf_state_save (const PfState *state,
               const char    *path,
               GError       **error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autofree char *dir = NULL;

  g_return_val_if_fail (state != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "format");
  json_builder_add_int_value (builder, PF_STATE_FORMAT);
  json_builder_set_member_name (builder, "mode");
  json_builder_add_string_value (builder, pf_mode_to_string (state->mode));
  json_builder_set_member_name (builder, "forced_uplink");
  json_builder_add_string_value (builder, state->forced_uplink);
  json_builder_set_member_name (builder, "active_uplink");
  json_builder_add_string_value (builder, state->active_uplink ? state->active_uplink : "");
  json_builder_set_member_name (builder, "last_change");
  json_builder_add_int_value (builder, state->last_change_us);
  json_builder_set_member_name (builder, "last_reason");
  json_builder_add_string_value (builder, state->last_reason);
  json_builder_set_member_name (builder, "events");
  json_builder_begin_array (builder);
  for (guint i = 0; i < state->events->len; i++)
    pf_event_to_json (g_ptr_array_index (state->events, i), builder);
  json_builder_end_array (builder);
  if (state->usage != NULL)
    {
      json_builder_set_member_name (builder, "usage");
      json_builder_add_value (builder, json_node_copy (state->usage));
    }
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  text = json_generator_to_data (generator, NULL);

  dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0755) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "Cannot create %s: %s", dir, g_strerror (saved_errno));
      return FALSE;
    }

  /* CONSISTENT + DURABLE: write a temporary file, fsync it, rename over. */
  if (!g_file_set_contents_full (path, text, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0644, error))
    {
      g_prefix_error (error, "Saving state: ");
      return FALSE;
    }
  return TRUE;
}

char *
pf_state_default_path (void)
{
  const char *dir = g_getenv ("STATE_DIRECTORY");

  /* systemd may pass several directories separated by ':'; ours is the first. */
  if (dir != NULL && *dir != '\0')
    {
      g_auto(GStrv) dirs = g_strsplit (dir, ":", 2);
      return g_build_filename (dirs[0], "state.json", NULL);
    }
  return g_build_filename (LOCALSTATEDIR, "lib", "pvefailover", "state.json", NULL);
}
