/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What the tests of the actuators share (see netns-util.h).
 */
#include "config.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "netns-util.h"

char *
pf_test_run (const char *fmt,
             ...)
{
  g_autofree char *cmdline = NULL;
  g_auto(GStrv) argv = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;
  va_list ap;

  va_start (ap, fmt);
  cmdline = g_strdup_vprintf (fmt, ap);
  va_end (ap);

  g_shell_parse_argv (cmdline, NULL, &argv, &error);
  g_assert_no_error (error);
  g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_printerr ("“%s” failed: %s\n", cmdline, err);
      g_assert_not_reached ();
    }
  return g_steal_pointer (&out);
}

int
pf_test_monitor_open (const int *groups,
                      guint      n)
{
  struct sockaddr_nl addr = { .nl_family = AF_NETLINK };
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (setsockopt (fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i], sizeof groups[i]), ==, 0);
  return fd;
}

void
pf_test_monitor_drain (int    fd,
                       guint *n_rule_changes,
                       guint *n_route_changes)
{
  char buf[65536];
  ssize_t len;

  *n_rule_changes = *n_route_changes = 0;
  while ((len = recv (fd, buf, sizeof buf, 0)) > 0)
    {
      for (struct nlmsghdr *nlh = (struct nlmsghdr *) buf; NLMSG_OK (nlh, (size_t) len);
           nlh = NLMSG_NEXT (nlh, len))
        {
          if (nlh->nlmsg_type == RTM_NEWRULE || nlh->nlmsg_type == RTM_DELRULE)
            (*n_rule_changes)++;
          else if (nlh->nlmsg_type == RTM_NEWROUTE || nlh->nlmsg_type == RTM_DELROUTE)
            (*n_route_changes)++;
        }
    }
  g_assert_true (len < 0 && errno == EAGAIN);
}
