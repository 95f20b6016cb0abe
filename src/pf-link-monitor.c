/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "pvefailover-link"

#include "config.h"

#include <net/if.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <linux/neighbour.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <glib-unix.h>

#include "pf-error.h"
#include "pf-link-monitor.h"

struct _PfLinkMonitor
{
  GObject         parent_instance;

  struct nl_sock *events;   /* RTNLGRP_LINK notifications */
  struct nl_sock *query;    /* request/response */
  guint           watch_id;
};

enum { SIGNAL_LINK_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PfLinkMonitor, pf_link_monitor, G_TYPE_OBJECT)

static gboolean
flags_have_carrier (unsigned int flags)
{
  return (flags & IFF_UP) && (flags & IFF_LOWER_UP);
}

static int
on_netlink_message (struct nl_msg *msg,
                    void          *user_data)
{
  PfLinkMonitor *self = user_data;
  struct nlmsghdr *hdr = nlmsg_hdr (msg);
  struct ifinfomsg *ifi;
  struct nlattr *tb[IFLA_MAX + 1];
  const char *ifname;

  if (hdr->nlmsg_type != RTM_NEWLINK && hdr->nlmsg_type != RTM_DELLINK)
    return NL_OK;
  if (nlmsg_parse (hdr, sizeof (struct ifinfomsg), tb, IFLA_MAX, NULL) < 0 ||
      tb[IFLA_IFNAME] == NULL)
    return NL_OK;

  ifi = nlmsg_data (hdr);
  ifname = nla_get_string (tb[IFLA_IFNAME]);

  if (hdr->nlmsg_type == RTM_DELLINK)
    g_signal_emit (self, signals[SIGNAL_LINK_CHANGED], 0, ifname, 0, FALSE);
  else
    g_signal_emit (self, signals[SIGNAL_LINK_CHANGED], 0, ifname, ifi->ifi_index,
                   flags_have_carrier (ifi->ifi_flags));
  return NL_OK;
}

static gboolean
on_netlink_readable (int          fd,
                     GIOCondition condition,
                     gpointer     user_data)
{
  PfLinkMonitor *self = user_data;
  int res;

  res = nl_recvmsgs_default (self->events);
  if (res < 0 && res != -NLE_AGAIN)
    {
      /* Overrun (-NLE_NOMEM/ENOBUFS): messages were lost, but each carries the
       * full link state and carrier is re-read on every link message, so
       * the next one puts things right. Log and go on. */
      g_warning ("Reading link notifications: %s", nl_geterror (res));
    }
  return G_SOURCE_CONTINUE;
}

static void
pf_link_monitor_finalize (GObject *object)
{
  PfLinkMonitor *self = PF_LINK_MONITOR (object);

  g_clear_handle_id (&self->watch_id, g_source_remove);
  g_clear_pointer (&self->events, nl_socket_free);
  g_clear_pointer (&self->query, nl_socket_free);

  G_OBJECT_CLASS (pf_link_monitor_parent_class)->finalize (object);
}

static void
pf_link_monitor_class_init (PfLinkMonitorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = pf_link_monitor_finalize;

  signals[SIGNAL_LINK_CHANGED] =
    g_signal_new ("link-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                  G_TYPE_STRING, G_TYPE_INT, G_TYPE_BOOLEAN);
}

static void
pf_link_monitor_init (PfLinkMonitor *self)
{
}

PfLinkMonitor *
pf_link_monitor_new (GError **error)
{
  g_autoptr(PfLinkMonitor) self = g_object_new (PF_TYPE_LINK_MONITOR, NULL);
  int res;

  self->events = nl_socket_alloc ();
  self->query = nl_socket_alloc ();
  if (self->events == NULL || self->query == NULL)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "Cannot allocate netlink sockets");
      return NULL;
    }

  nl_socket_disable_seq_check (self->events);
  nl_socket_modify_cb (self->events, NL_CB_VALID, NL_CB_CUSTOM, on_netlink_message, self);
  if ((res = nl_connect (self->events, NETLINK_ROUTE)) < 0 ||
      (res = nl_socket_add_membership (self->events, RTNLGRP_LINK)) < 0 ||
      (res = nl_socket_set_nonblocking (self->events)) < 0 ||
      (res = nl_connect (self->query, NETLINK_ROUTE)) < 0)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM,
                   "Cannot open rtnetlink for link notifications: %s", nl_geterror (res));
      return NULL;
    }
  /* Bursts of link messages when many guests start: room for them. */
  nl_socket_set_buffer_size (self->events, 1024 * 1024, 0);

  self->watch_id = g_unix_fd_add (nl_socket_get_fd (self->events), G_IO_IN,
                                  on_netlink_readable, self);
  return g_steal_pointer (&self);
}

gboolean
pf_link_monitor_query (PfLinkMonitor *self,
                       const char    *ifname,
                       int           *ifindex,
                       gboolean      *carrier)
{
  struct rtnl_link *link = NULL;
  gboolean found;

  g_return_val_if_fail (PF_IS_LINK_MONITOR (self), FALSE);
  g_return_val_if_fail (ifname != NULL, FALSE);

  found = rtnl_link_get_kernel (self->query, 0, ifname, &link) >= 0 && link != NULL;
  if (ifindex)
    *ifindex = found ? rtnl_link_get_ifindex (link) : 0;
  if (carrier)
    *carrier = found && flags_have_carrier (rtnl_link_get_flags (link));
  if (link)
    rtnl_link_put (link);
  return found;
}

gboolean
pf_link_monitor_forget_unresolved (PfLinkMonitor *self,
                                   int            ifindex,
                                   guint         *n_deleted,
                                   GError       **error)
{
  struct nl_cache *cache = NULL;
  guint n = 0;
  int res;

  g_return_val_if_fail (PF_IS_LINK_MONITOR (self), FALSE);

  res = rtnl_neigh_alloc_cache (self->query, &cache);
  if (res < 0)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "Reading the neighbour table: %s", nl_geterror (res));
      return FALSE;
    }
  for (struct nl_object *obj = nl_cache_get_first (cache); obj != NULL; obj = nl_cache_get_next (obj))
    {
      struct rtnl_neigh *neigh = (struct rtnl_neigh *) obj;

      if (rtnl_neigh_get_ifindex (neigh) != ifindex ||
          !(rtnl_neigh_get_state (neigh) & (NUD_INCOMPLETE | NUD_FAILED)))
        continue;
      if (rtnl_neigh_delete (self->query, neigh, 0) >= 0)
        n++;
    }
  nl_cache_free (cache);
  if (n_deleted != NULL)
    *n_deleted = n;
  return TRUE;
}
