/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The memory floor of the daemon's libraries, for the benchmark (not a test):
 * a program linked against exactly the libraries pvefailoverd links, which
 * does nothing but run an idle GLib main loop. Its resident set is what the
 * dynamic loader, the libraries' constructors and the main loop cost before
 * the daemon does any work; the benchmark subtracts it from the daemon's.
 *
 *   rss-floor      prints "ready" once its main loop runs; exits on SIGTERM
 */
#include "config.h"

#include <glib-unix.h>
#include <NetworkManager.h>
#include <libmm-glib.h>
#include <libsoup/soup.h>
#include <json-glib/json-glib.h>
#include <nftables/libnftables.h>
#include <libmnl/libmnl.h>
#include <netlink/route/rule.h>
#include <polkit/polkit.h>
#include <stdio.h>

/* One symbol of each library, so that --as-needed keeps every one of them. */
static gpointer const referenced[] = {
  (gpointer) nm_client_get_type,
  (gpointer) mm_manager_get_type,
  (gpointer) soup_session_get_type,
  (gpointer) json_parser_get_type,
  (gpointer) nft_ctx_new,
  (gpointer) mnl_socket_open,
  (gpointer) nl_socket_alloc,
  (gpointer) rtnl_rule_alloc,
  (gpointer) polkit_authority_get_type,
  (gpointer) g_dbus_connection_get_type,
  (gpointer) g_object_new,
};

static gboolean
on_ready (gpointer user_data)
{
  printf ("ready\n");
  fflush (stdout);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  volatile gpointer keep = (gpointer) referenced;

  (void) keep;
  g_unix_signal_add (SIGTERM, G_SOURCE_FUNC (g_main_loop_quit), loop);
  g_idle_add (on_ready, NULL);
  g_main_loop_run (loop);
  return 0;
}
