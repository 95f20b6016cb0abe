/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>
#include <glib/gstdio.h>

#include "pf-state.h"

typedef struct {
  char *dir;
  char *path;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("pf-state-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "sub", "state.json", NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_autofree char *sub = g_path_get_dirname (f->path);

  g_unlink (f->path);
  g_rmdir (sub);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static void
test_missing_file (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PfState) state = pf_state_load (f->path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (state);
  g_assert_cmpint (state->mode, ==, PF_MODE_AUTO);
  g_assert_null (state->active_uplink);
  g_assert_cmpuint (state->events->len, ==, 0);
}

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PfState) state = pf_state_new ();
  g_autoptr(PfState) loaded = NULL;
  PfEvent *event;

  state->mode = PF_MODE_FORCE;
  g_free (state->forced_uplink);
  state->forced_uplink = g_strdup ("lte");
  state->active_uplink = g_strdup ("lte");
  state->last_change_us = G_GINT64_CONSTANT (1700000000123456);
  g_free (state->last_reason);
  state->last_reason = g_strdup ("primary down: 5/5 rounds lost, \"quoted\" é");
  pf_state_add_event (state, pf_event_new (42, "failover", "primary", "lte", "blackhole"));
  pf_state_add_event (state, pf_event_new (43, "mode", NULL, "lte", "forced"));
  state->usage = json_from_string ("{\"lte\": {\"format\": 1, \"used\": 123456789}}", &error);
  g_assert_no_error (error);

  g_assert_true (pf_state_save (state, f->path, &error));
  g_assert_no_error (error);

  loaded = pf_state_load (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (loaded->mode, ==, PF_MODE_FORCE);
  g_assert_cmpstr (loaded->forced_uplink, ==, "lte");
  g_assert_cmpstr (loaded->active_uplink, ==, "lte");
  g_assert_cmpint (loaded->last_change_us, ==, G_GINT64_CONSTANT (1700000000123456));
  g_assert_cmpstr (loaded->last_reason, ==, state->last_reason);
  g_assert_cmpuint (loaded->events->len, ==, 2);
  event = g_ptr_array_index (loaded->events, 0);
  g_assert_cmpint (event->time_us, ==, 42);
  g_assert_cmpstr (event->kind, ==, "failover");
  g_assert_cmpstr (event->from, ==, "primary");
  g_assert_cmpstr (event->to, ==, "lte");
  g_assert_cmpstr (event->reason, ==, "blackhole");
  event = g_ptr_array_index (loaded->events, 1);
  g_assert_cmpstr (event->from, ==, "");
  /* The usage object is kept as it was (pf-accounting reads it). */
  g_assert_nonnull (loaded->usage);
  g_assert_true (json_node_equal (loaded->usage, state->usage));

  /* Saving again over the old file (the atomic rename path) keeps it whole. */
  g_assert_true (pf_state_save (loaded, f->path, &error));
  g_assert_no_error (error);
}

static void
test_events_bounded (Fixture *f, gconstpointer data)
{
  g_autoptr(PfState) state = pf_state_new ();

  for (int i = 0; i < PF_STATE_MAX_EVENTS + 50; i++)
    pf_state_add_event (state, pf_event_new (i, "uplink-down", "primary", NULL, "x"));
  g_assert_cmpuint (state->events->len, ==, PF_STATE_MAX_EVENTS);
  g_assert_cmpint (((PfEvent *) g_ptr_array_index (state->events, 0))->time_us, ==, 50);
}

static void
test_corrupt (Fixture *f, gconstpointer data)
{
  const char *bad[] = {
    "{ \"format\": 1, \"mode\": ",          /* truncated */
    "[1, 2, 3]",                             /* not an object */
    "{ \"format\": 99 }",                    /* unknown format */
    "{ \"format\": 1, \"mode\": \"warp\" }", /* unknown mode */
  };
  g_autofree char *sub = g_path_get_dirname (f->path);

  g_mkdir_with_parents (sub, 0755);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PfState) state = NULL;

      g_assert_true (g_file_set_contents (f->path, bad[i], -1, NULL));
      state = pf_state_load (f->path, &error);
      g_assert_null (state);
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, f->path));
    }
}

static void
test_default_path (void)
{
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;

  g_setenv ("STATE_DIRECTORY", "/run/x:/run/y", TRUE);
  a = pf_state_default_path ();
  g_assert_cmpstr (a, ==, "/run/x/state.json");
  g_unsetenv ("STATE_DIRECTORY");
  b = pf_state_default_path ();
  g_assert_cmpstr (b, ==, LOCALSTATEDIR "/lib/pvefailover/state.json");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/state/missing-file", Fixture, NULL, fixture_set_up, test_missing_file, fixture_tear_down);
  g_test_add ("/state/round-trip", Fixture, NULL, fixture_set_up, test_round_trip, fixture_tear_down);
  g_test_add ("/state/events-bounded", Fixture, NULL, fixture_set_up, test_events_bounded, fixture_tear_down);
  g_test_add ("/state/corrupt", Fixture, NULL, fixture_set_up, test_corrupt, fixture_tear_down);
  g_test_add_func ("/state/default-path", test_default_path);
  return g_test_run ();
}
