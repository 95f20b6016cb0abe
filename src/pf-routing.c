/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The routing switch over rtnetlink. Routes go through libnl-route's route
 * objects. Rules are built and parsed as plain fib_rule messages on the same
 * libnl socket, because libnl-route 3.7 does not know
 * FRA_SUPPRESS_PREFIXLEN, which the failover pair needs:
 *
 *   P+1  lookup main suppress_prefixlength 0   local and LAN routes of the
 *                                              main table still win, its
 *                                              default route does not
 *   P+2  lookup T_active                        everything else: the backup
 *
 * Each apply reads what the kernel holds, compares it with the spec, and
 * changes only the difference: adds first, deletes after, so switching
 * from one backup to another never leaves a moment without a P+2 rule.
 *
 * IPv4 and IPv6 get the same rules at the same priorities, and each
 * backup's table holds a default route per family it has a gateway for.
 * A kernel without IPv6 (ipv6.disable=1) answers IPv6 requests with
 * EAFNOSUPPORT: then the IPv4 half is all there is.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-routing"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>

#include "pf-error.h"
#include "pf-routing.h"

typedef struct nl_msg PfNlMsg;
typedef struct nl_cb PfNlCb;
typedef struct nl_cache PfNlCache;
typedef struct nl_addr PfNlAddr;
typedef struct rtnl_route PfRtnlRoute;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfNlMsg, nlmsg_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfNlCb, nl_cb_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfNlCache, nl_cache_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfNlAddr, nl_addr_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfRtnlRoute, rtnl_route_put)

#define NO_SUPPRESS G_MAXUINT32  /* the kernel's "unset" (-1) */

struct _PfRouting {
  struct nl_sock *sock;
  gboolean        no_ipv6;  /* the kernel has no IPv6 */
};

/* The families the switch covers, IPv4 first. */
static const int families[] = { AF_INET, AF_INET6 };

/* One rule as the kernel reports it, or as the spec wants it. */
typedef struct {
  guint32   priority;
  guint32   table;
  guint32   fwmark;
  guint32   fwmask;
  guint32   suppress_prefixlen;
  guint8    action;
  int       dst_family; /* AF_INET or AF_INET6 with a destination, 0 for every family */
  guint8    dst_len;
  guint8    dst[16];
  gboolean  plain;    /* no selector or option beyond the fields above */
  GBytes   *payload;  /* kernel rules: the message body, to delete it exactly */
} PfRule;

static void
pf_rule_clear (PfRule *rule)
{
  g_clear_pointer (&rule->payload, g_bytes_unref);
}

static void
set_nl_error (GError     **error,
              int          nl_err,
              const char  *what)
{
  g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "%s: %s", what, nl_geterror (nl_err));
}

/* A dump of @family failed with @nl_err: is that a kernel without IPv6? */
static gboolean
family_missing (PfRouting *routing,
                int        family,
                int        nl_err)
{
  if (family != AF_INET6 || nl_err != -NLE_AF_NOSUPPORT)
    return FALSE;
  if (!routing->no_ipv6)
    g_message ("The kernel has no IPv6: routing rules and tables for IPv4 only");
  routing->no_ipv6 = TRUE;
  return TRUE;
}

static gboolean
family_enabled (PfRouting *routing,
                int        family)
{
  return family != AF_INET6 || !routing->no_ipv6;
}

static const char *
family_name (int family)
{
  return family == AF_INET6 ? "IPv6" : "IPv4";
}

/* The kernel's answer to one request: its errno and, with NETLINK_EXT_ACK,
 * its own explanation ("Nexthop device is not up"). libnl would fold many
 * errnos into "Unspecific failure". */
typedef struct {
  gboolean  done;
  int       error;
  char     *message;
} PfAck;

static int
ack_ok_cb (struct nl_msg *msg,
           void          *user_data)
{
  PfAck *ack = user_data;

  ack->done = TRUE;
  return NL_STOP;
}

static int
ack_error_cb (struct sockaddr_nl *nla,
              struct nlmsgerr    *err,
              void               *user_data)
{
  PfAck *ack = user_data;
  struct nlmsghdr *nlh = (struct nlmsghdr *) ((char *) err - NLMSG_HDRLEN);

  ack->done = TRUE;
  ack->error = -err->error;
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) != 0)
    {
      gsize offset = sizeof *err;
      struct nlattr *attr;
      int rem;

      if ((nlh->nlmsg_flags & NLM_F_CAPPED) == 0)
        offset += NLMSG_ALIGN (err->msg.nlmsg_len - NLMSG_HDRLEN);
      if (offset < (gsize) nlmsg_datalen (nlh))
        {
          nla_for_each_attr (attr, (struct nlattr *) ((char *) err + offset),
                             nlmsg_datalen (nlh) - (int) offset, rem)
            {
              if (nla_type (attr) == NLMSGERR_ATTR_MSG && nla_len (attr) > 0)
                {
                  g_free (ack->message);
                  ack->message = g_strndup (nla_data (attr), nla_len (attr));
                }
            }
        }
    }
  return NL_STOP;
}

/* Send @msg (not consumed) and wait for the kernel's ack. @ignore_errno,
 * when not 0, is an answer that counts as success. */
static gboolean
send_request (PfRouting    *routing,
              PfNlMsg      *msg,
              int           ignore_errno,
              const char   *what,
              GError      **error)
{
  g_autoptr(PfNlCb) cb = nl_cb_alloc (NL_CB_DEFAULT);
  PfAck ack = { FALSE, 0, NULL };
  g_autofree char *message = NULL;
  int err;

  if (cb == NULL)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "%s: out of memory", what);
      return FALSE;
    }
  nlmsg_hdr (msg)->nlmsg_flags |= NLM_F_ACK;
  err = nl_send_auto (routing->sock, msg);
  if (err < 0)
    {
      set_nl_error (error, err, what);
      return FALSE;
    }
  nl_cb_set (cb, NL_CB_ACK, NL_CB_CUSTOM, ack_ok_cb, &ack);
  nl_cb_err (cb, NL_CB_CUSTOM, ack_error_cb, &ack);
  while (!ack.done)
    {
      err = nl_recvmsgs (routing->sock, cb);
      if (err < 0 && !ack.done)
        {
          set_nl_error (error, err, what);
          return FALSE;
        }
    }
  message = g_steal_pointer (&ack.message);
  if (ack.error != 0 && ack.error != ignore_errno)
    {
      if (message != NULL)
        g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "%s: %s (%s)", what,
                     g_strerror (ack.error), message);
      else
        g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "%s: %s", what,
                     g_strerror (ack.error));
      return FALSE;
    }
  return TRUE;
}

PfRouting *
pf_routing_new (GError **error)
{
  g_autofree PfRouting *routing = g_new0 (PfRouting, 1);
  int one = 1;
  int err;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  routing->sock = nl_socket_alloc ();
  if (routing->sock == NULL)
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_SYSTEM, "Cannot allocate a netlink socket");
      return NULL;
    }
  err = nl_connect (routing->sock, NETLINK_ROUTE);
  if (err < 0)
    {
      set_nl_error (error, err, "Cannot connect to rtnetlink");
      nl_socket_free (routing->sock);
      return NULL;
    }
  /* Ask for the kernel's explanations with its errors; not fatal if old. */
  if (setsockopt (nl_socket_get_fd (routing->sock), SOL_NETLINK, NETLINK_EXT_ACK,
                  &one, sizeof one) < 0)
    g_debug ("no extended netlink acks: %s", g_strerror (errno));
  return g_steal_pointer (&routing);
}

void
pf_routing_free (PfRouting *routing)
{
  if (routing == NULL)
    return;
  nl_socket_free (routing->sock);
  g_free (routing);
}

/* ------------------------------------------------------------------------ */
/* Rules                                                                    */

typedef struct {
  GArray *rules;
  int     family;
} RuleDump;

static int
rule_dump_cb (struct nl_msg *msg,
              void          *user_data)
{
  RuleDump *dump = user_data;
  struct nlmsghdr *nlh = nlmsg_hdr (msg);
  struct fib_rule_hdr *frh;
  struct nlattr *attr;
  int rem;
  PfRule rule = {
    .suppress_prefixlen = NO_SUPPRESS,
    .plain = TRUE,
  };

  if (nlh->nlmsg_type != RTM_NEWRULE || !nlmsg_valid_hdr (nlh, sizeof *frh))
    return NL_SKIP;
  frh = nlmsg_data (nlh);
  if (frh->family != dump->family)
    return NL_SKIP;

  rule.table = frh->table;
  rule.action = frh->action;
  rule.dst_len = frh->dst_len;
  if (frh->src_len != 0 || frh->tos != 0 || frh->flags != 0)
    rule.plain = FALSE;

  nlmsg_for_each_attr (attr, nlh, sizeof *frh, rem)
    {
      switch (nla_type (attr))
        {
        case FRA_PRIORITY:
          rule.priority = nla_get_u32 (attr);
          break;
        case FRA_TABLE:
          rule.table = nla_get_u32 (attr);
          break;
        case FRA_FWMARK:
          rule.fwmark = nla_get_u32 (attr);
          break;
        case FRA_FWMASK:
          rule.fwmask = nla_get_u32 (attr);
          break;
        case FRA_SUPPRESS_PREFIXLEN:
          rule.suppress_prefixlen = nla_get_u32 (attr);
          break;
        case FRA_DST:
          if (nla_len (attr) > (int) sizeof rule.dst)
            rule.plain = FALSE;
          else
            {
              memcpy (rule.dst, nla_data (attr), nla_len (attr));
              rule.dst_family = dump->family;
            }
          break;
        case FRA_PROTOCOL:
          break;
        case FRA_SUPPRESS_IFGROUP:
          /* Reported as -1 when unset by older kernels. */
          if (nla_get_u32 (attr) != G_MAXUINT32)
            rule.plain = FALSE;
          break;
        default:
          rule.plain = FALSE;
          break;
        }
    }

  rule.payload = g_bytes_new (nlmsg_data (nlh), nlmsg_datalen (nlh));
  g_array_append_val (dump->rules, rule);
  return NL_OK;
}

/* All rules of @family, in the kernel's order; none when the kernel does
 * not have that family. */
static GArray *
rules_dump (PfRouting  *routing,
            int         family,
            GError    **error)
{
  g_autoptr(GArray) rules = g_array_new (FALSE, TRUE, sizeof (PfRule));
  g_autoptr(PfNlMsg) msg = nlmsg_alloc_simple (RTM_GETRULE, NLM_F_DUMP);
  g_autoptr(PfNlCb) cb = nl_cb_alloc (NL_CB_DEFAULT);
  struct fib_rule_hdr frh = { .family = family };
  RuleDump dump = { rules, family };
  int err;

  g_array_set_clear_func (rules, (GDestroyNotify) pf_rule_clear);

  if (msg == NULL || cb == NULL || nlmsg_append (msg, &frh, sizeof frh, NLMSG_ALIGNTO) < 0)
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_SYSTEM, "Cannot build a rule dump request");
      return NULL;
    }
  nl_cb_set (cb, NL_CB_VALID, NL_CB_CUSTOM, rule_dump_cb, &dump);

  err = nl_send_auto (routing->sock, msg);
  if (err >= 0)
    err = nl_recvmsgs (routing->sock, cb);
  if (err < 0 && family_missing (routing, family, err))
    g_array_set_size (rules, 0);
  else if (err < 0)
    {
      g_autofree char *what = g_strdup_printf ("Cannot list %s routing rules", family_name (family));

      set_nl_error (error, err, what);
      return NULL;
    }
  return g_steal_pointer (&rules);
}

static gboolean
rule_matches (const PfRule *have,
              const PfRule *want)
{
  return have->plain &&
         have->priority == want->priority &&
         have->table == want->table &&
         have->action == want->action &&
         have->fwmark == want->fwmark &&
         have->fwmask == want->fwmask &&
         have->suppress_prefixlen == want->suppress_prefixlen &&
         have->dst_len == want->dst_len &&
         memcmp (have->dst, want->dst, sizeof have->dst) == 0;
}

static char *
rule_describe (int           family,
               const PfRule *rule)
{
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "%s%u:", family == AF_INET6 ? "-6 " : "", rule->priority);
  if (rule->dst_len != 0)
    {
      char text[INET6_ADDRSTRLEN] = "";

      inet_ntop (family, rule->dst, text, sizeof text);
      g_string_append_printf (s, " to %s/%u", text, rule->dst_len);
    }
  if (rule->fwmark != 0)
    g_string_append_printf (s, " fwmark 0x%x/0x%x", rule->fwmark, rule->fwmask);
  if (rule->action == FR_ACT_TO_TBL)
    g_string_append_printf (s, " lookup %u", rule->table);
  else
    g_string_append_printf (s, " action %u", rule->action);
  if (rule->suppress_prefixlen != NO_SUPPRESS)
    g_string_append_printf (s, " suppress_prefixlength %u", rule->suppress_prefixlen);
  if (!rule->plain)
    g_string_append (s, " (with other selectors)");
  return g_string_free (s, FALSE);
}

static gboolean
rule_add (PfRouting     *routing,
          int            family,
          const PfRule  *rule,
          GError       **error)
{
  g_autoptr(PfNlMsg) msg = nlmsg_alloc_simple (RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL);
  g_autofree char *text = rule_describe (family, rule);
  struct fib_rule_hdr frh = {
    .family = family,
    .dst_len = rule->dst_len,
    .action = rule->action,
    .table = rule->table < 256 ? rule->table : RT_TABLE_UNSPEC,
  };
  g_autofree char *what = NULL;

  if (msg == NULL ||
      nlmsg_append (msg, &frh, sizeof frh, NLMSG_ALIGNTO) < 0 ||
      nla_put_u32 (msg, FRA_PRIORITY, rule->priority) < 0 ||
      nla_put_u32 (msg, FRA_TABLE, rule->table) < 0 ||
      (rule->dst_len != 0 &&
       nla_put (msg, FRA_DST, family == AF_INET6 ? 16 : 4, rule->dst) < 0) ||
      (rule->fwmark != 0 && nla_put_u32 (msg, FRA_FWMARK, rule->fwmark) < 0) ||
      (rule->fwmark != 0 && nla_put_u32 (msg, FRA_FWMASK, rule->fwmask) < 0) ||
      (rule->suppress_prefixlen != NO_SUPPRESS &&
       nla_put_u32 (msg, FRA_SUPPRESS_PREFIXLEN, rule->suppress_prefixlen) < 0))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "Cannot build rule “%s”", text);
      return FALSE;
    }

  what = g_strdup_printf ("Cannot add rule “%s”", text);
  if (!send_request (routing, msg, 0, what, error))
    return FALSE;
  g_debug ("added rule %s", text);
  return TRUE;
}

static gboolean
rule_delete (PfRouting     *routing,
             int            family,
             const PfRule  *rule,
             GError       **error)
{
  g_autoptr(PfNlMsg) msg = nlmsg_alloc_simple (RTM_DELRULE, 0);
  g_autofree char *text = rule_describe (family, rule);
  gsize len = 0;
  const void *payload = g_bytes_get_data (rule->payload, &len);
  g_autofree char *what = NULL;

  /* The rule exactly as the kernel reported it: every selector matches, so
   * only that rule goes. */
  if (msg == NULL || nlmsg_append (msg, (void *) payload, len, NLMSG_ALIGNTO) < 0)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "Cannot build rule “%s”", text);
      return FALSE;
    }
  what = g_strdup_printf ("Cannot delete rule “%s”", text);
  if (!send_request (routing, msg, ENOENT, what, error))
    return FALSE;
  g_debug ("deleted rule %s", text);
  return TRUE;
}

/* "P: fwmark MARK lookup TABLE" */
static void
append_fwmark_rule (GArray  *want,
                    guint32  priority,
                    guint32  fwmark,
                    guint    table)
{
  PfRule r = {
    .priority = priority,
    .table = table,
    .fwmark = fwmark,
    .fwmask = G_MAXUINT32,
    .suppress_prefixlen = NO_SUPPRESS,
    .action = FR_ACT_TO_TBL,
    .plain = TRUE,
  };

  g_array_append_val (want, r);
}

static GArray *
rules_wanted (const PfRoutingSpec *spec)
{
  GArray *want = g_array_new (FALSE, TRUE, sizeof (PfRule));

  for (guint i = 0; i < spec->n_backups; i++)
    append_fwmark_rule (want, spec->rule_priority, spec->probe_mark, spec->backups[i].table);
  for (guint i = 0; i < spec->n_marks; i++)
    append_fwmark_rule (want, spec->rule_priority, spec->marks[i].fwmark, spec->marks[i].table);
  for (guint i = 0; i < spec->n_dests; i++)
    {
      PfRule r = {
        .priority = spec->rule_priority,
        .table = spec->dests[i].table,
        .suppress_prefixlen = NO_SUPPRESS,
        .action = FR_ACT_TO_TBL,
        .plain = TRUE,
      };

      /* Checked by spec_check(). */
      if (inet_pton (AF_INET, spec->dests[i].address, r.dst) == 1)
        {
          r.dst_family = AF_INET;
          r.dst_len = 32;
        }
      else if (inet_pton (AF_INET6, spec->dests[i].address, r.dst) == 1)
        {
          r.dst_family = AF_INET6;
          r.dst_len = 128;
        }
      g_array_append_val (want, r);
    }
  if (spec->active_table != 0)
    {
      PfRule main_rule = {
        .priority = spec->rule_priority + 1,
        .table = RT_TABLE_MAIN,
        .suppress_prefixlen = 0,
        .action = FR_ACT_TO_TBL,
        .plain = TRUE,
      };
      PfRule active_rule = {
        .priority = spec->rule_priority + 2,
        .table = spec->active_table,
        .suppress_prefixlen = NO_SUPPRESS,
        .action = FR_ACT_TO_TBL,
        .plain = TRUE,
      };
      g_array_append_val (want, main_rule);
      g_array_append_val (want, active_rule);
    }
  return want;
}

static gboolean
is_ours (guint32 priority,
         guint   rule_priority)
{
  return priority >= rule_priority && priority - rule_priority <= 2;
}

/* Make the rules of @family at P..P+2 exactly @want (may be empty). */
static gboolean
rules_sync_family (PfRouting  *routing,
                   int         family,
                   guint       rule_priority,
                   GArray     *want,
                   GError    **error)
{
  g_autoptr(GArray) have = rules_dump (routing, family, error);
  g_autofree gboolean *found = NULL;
  g_autoptr(GPtrArray) stale = g_ptr_array_new ();

  if (have == NULL)
    return FALSE;
  if (!family_enabled (routing, family))
    return TRUE;

  found = g_new0 (gboolean, want->len + 1);
  for (guint i = 0; i < have->len; i++)
    {
      const PfRule *h = &g_array_index (have, PfRule, i);
      gboolean keep = FALSE;

      if (!is_ours (h->priority, rule_priority))
        continue;
      for (guint j = 0; j < want->len && !keep; j++)
        {
          const PfRule *w = &g_array_index (want, PfRule, j);

          if (!found[j] && (w->dst_family == 0 || w->dst_family == family) && rule_matches (h, w))
            found[j] = keep = TRUE;
        }
      if (!keep)
        g_ptr_array_add (stale, (gpointer) h);
    }

  for (guint j = 0; j < want->len; j++)
    {
      const PfRule *w = &g_array_index (want, PfRule, j);

      if (!found[j] && (w->dst_family == 0 || w->dst_family == family) &&
          !rule_add (routing, family, w, error))
        return FALSE;
    }
  for (guint i = 0; i < stale->len; i++)
    {
      if (!rule_delete (routing, family, g_ptr_array_index (stale, i), error))
        return FALSE;
    }
  return TRUE;
}

/* The same rules for IPv4 and IPv6. */
static gboolean
rules_sync (PfRouting  *routing,
            guint       rule_priority,
            GArray     *want,
            GError    **error)
{
  for (guint f = 0; f < G_N_ELEMENTS (families); f++)
    {
      if (!rules_sync_family (routing, families[f], rule_priority, want, error))
        return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Routes                                                                   */

/* The metric of the daemon's default routes: IPv4 takes 0 as given, IPv6
 * turns 0 into IP6_RT_PRIO_USER, so ask for that one and expect it back. */
#define ROUTE_METRIC_IPV6 1024

typedef struct {
  const char *name;     /* the backup's, for messages */
  guint       table;
  int         family;
  int         ifindex;
  PfNlAddr   *dst;      /* a host route's destination, NULL for the default route */
  PfNlAddr   *gateway;  /* NULL: no route of this family wanted in this table */
  gboolean    present;
} PfRouteWant;

static void
pf_route_want_clear (PfRouteWant *w)
{
  g_clear_pointer (&w->dst, nl_addr_put);
  g_clear_pointer (&w->gateway, nl_addr_put);
}

static guint32
route_metric (int family)
{
  return family == AF_INET6 ? ROUTE_METRIC_IPV6 : 0;
}

static gboolean
route_matches (struct rtnl_route *route,
               const PfRouteWant *want)
{
  struct rtnl_nexthop *nh;
  struct nl_addr *dst = rtnl_route_get_dst (route);
  struct nl_addr *gw;
  guint32 metric = 0;

  if (want->gateway == NULL)
    return FALSE;
  if (dst == NULL ||
      (want->dst == NULL ? nl_addr_get_prefixlen (dst) != 0 : nl_addr_cmp (dst, want->dst) != 0) ||
      rtnl_route_get_type (route) != RTN_UNICAST ||
      rtnl_route_get_tos (route) != 0 ||
      rtnl_route_get_priority (route) != route_metric (want->family) ||
      rtnl_route_get_src (route) != NULL ||
      rtnl_route_get_pref_src (route) != NULL ||
      rtnl_route_get_nnexthops (route) != 1)
    return FALSE;
  /* No metrics (mtu, window, ...) of somebody else's making. */
  for (int m = 1; m <= RTAX_MAX; m++)
    {
      if (rtnl_route_get_metric (route, m, &metric) == 0)
        return FALSE;
    }
  nh = rtnl_route_nexthop_n (route, 0);
  gw = rtnl_route_nh_get_gateway (nh);
  return rtnl_route_nh_get_ifindex (nh) == want->ifindex &&
         (rtnl_route_nh_get_flags (nh) & RTNH_F_ONLINK) != 0 &&
         gw != NULL && nl_addr_cmp (gw, want->gateway) == 0;
}

/* The routes of @family into *@out_cache; NULL there (and success) for a
 * family the kernel does not have. */
static gboolean
routes_dump (PfRouting   *routing,
             int          family,
             PfNlCache  **out_cache,
             GError     **error)
{
  int err = rtnl_route_alloc_cache (routing->sock, family, 0, out_cache);

  if (err < 0 && family_missing (routing, family, err))
    {
      *out_cache = NULL;
      return TRUE;
    }
  if (err < 0)
    {
      g_autofree char *what = g_strdup_printf ("Cannot list %s routes", family_name (family));

      set_nl_error (error, err, what);
      return FALSE;
    }
  return TRUE;
}

static gboolean
route_add (PfRouting          *routing,
           const PfRouteWant  *want,
           GError            **error)
{
  g_autoptr(PfRtnlRoute) route = rtnl_route_alloc ();
  g_autoptr(PfNlAddr) dst = want->dst != NULL ? nl_addr_clone (want->dst) : nl_addr_build (want->family, NULL, 0);
  struct rtnl_nexthop *nh = rtnl_route_nh_alloc ();
  g_autoptr(PfNlMsg) msg = NULL;
  g_autofree char *text = NULL;
  g_autofree char *what = NULL;
  char ifname[IF_NAMESIZE];
  char gw[INET6_ADDRSTRLEN + 8];
  int err;

  if (route == NULL || dst == NULL || nh == NULL)
    {
      if (nh != NULL)
        rtnl_route_nh_free (nh);
      g_set_error_literal (error, PF_ERROR, PF_ERROR_SYSTEM, "Out of memory");
      return FALSE;
    }
  if (want->dst == NULL)
    nl_addr_set_prefixlen (dst, 0);
  rtnl_route_set_family (route, want->family);
  rtnl_route_set_table (route, want->table);
  rtnl_route_set_dst (route, dst);
  rtnl_route_set_type (route, RTN_UNICAST);
  rtnl_route_set_scope (route, RT_SCOPE_UNIVERSE);
  rtnl_route_set_protocol (route, RTPROT_STATIC);
  if (route_metric (want->family) != 0)
    rtnl_route_set_priority (route, route_metric (want->family));
  rtnl_route_nh_set_ifindex (nh, want->ifindex);
  rtnl_route_nh_set_gateway (nh, want->gateway);
  rtnl_route_nh_set_flags (nh, RTNH_F_ONLINK);
  rtnl_route_add_nexthop (route, nh);  /* the route owns @nh now */

  nl_addr2str (want->gateway, gw, sizeof gw);
  if (if_indextoname ((unsigned) want->ifindex, ifname) == NULL)
    g_snprintf (ifname, sizeof ifname, "#%d", want->ifindex);
  if (want->dst != NULL)
    {
      char to[INET6_ADDRSTRLEN + 8];

      nl_addr2str (want->dst, to, sizeof to);
      text = g_strdup_printf ("%s%s via %s dev %s table %u onlink",
                              want->family == AF_INET6 ? "-6 " : "", to, gw, ifname, want->table);
    }
  else
    text = g_strdup_printf ("%sdefault via %s dev %s table %u onlink",
                            want->family == AF_INET6 ? "-6 " : "", gw, ifname, want->table);
  what = g_strdup_printf ("%s: cannot set “%s”", want->name, text);

  err = rtnl_route_build_add_request (route, NLM_F_CREATE | NLM_F_REPLACE, &msg);
  if (err < 0)
    {
      set_nl_error (error, err, what);
      return FALSE;
    }
  if (!send_request (routing, msg, 0, what, error))
    return FALSE;
  g_debug ("%s: %s", want->name, text);
  return TRUE;
}

typedef struct {
  GArray     *wants;
  GPtrArray  *stale;  /* struct rtnl_route *, referenced */
} RouteScan;

static void
route_scan_cb (struct nl_object *obj,
               void             *user_data)
{
  RouteScan *scan = user_data;
  struct rtnl_route *route = (struct rtnl_route *) obj;
  guint32 table = rtnl_route_get_table (route);
  int family = rtnl_route_get_family (route);

  gboolean ours = FALSE;

  for (guint i = 0; i < scan->wants->len; i++)
    {
      PfRouteWant *w = &g_array_index (scan->wants, PfRouteWant, i);

      if (w->table != table || w->family != family)
        continue;
      ours = TRUE;
      if (!w->present && route_matches (route, w))
        {
          w->present = TRUE;
          return;
        }
    }
  /* In one of the backups' tables, and not a route we want there. */
  if (ours)
    {
      rtnl_route_get (route);
      g_ptr_array_add (scan->stale, route);
    }
}

static gboolean
routes_scan (PfRouting  *routing,
             RouteScan  *scan,
             GError    **error)
{
  for (guint i = 0; i < scan->wants->len; i++)
    g_array_index (scan->wants, PfRouteWant, i).present = FALSE;
  g_ptr_array_set_size (scan->stale, 0);
  for (guint f = 0; f < G_N_ELEMENTS (families); f++)
    {
      g_autoptr(PfNlCache) cache = NULL;

      if (!family_enabled (routing, families[f]))
        continue;
      if (!routes_dump (routing, families[f], &cache, error))
        return FALSE;
      if (cache != NULL)
        nl_cache_foreach (cache, route_scan_cb, scan);
    }
  return TRUE;
}

/* Make each table in @wants hold exactly its wanted default routes (or
 * nothing). A wanted route is added (replace) before anything else in its
 * table goes, and stale routes are found on a fresh dump after that, so a
 * replace never races with a delete of the route it replaced. */
static gboolean
routes_sync (PfRouting  *routing,
             GArray     *wants,
             GError    **error)
{
  g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func ((GDestroyNotify) rtnl_route_put);
  RouteScan scan = { wants, stale };
  g_autoptr(GError) first_error = NULL;
  gboolean added = FALSE;

  if (!routes_scan (routing, &scan, error))
    return FALSE;

  /* One refused route (a backup whose link is down) does not keep the
   * others from being right: carry on, report the first error. */
  for (guint i = 0; i < wants->len; i++)
    {
      PfRouteWant *w = &g_array_index (wants, PfRouteWant, i);
      g_autoptr(GError) local_error = NULL;

      if (w->gateway == NULL || w->present || !family_enabled (routing, w->family))
        continue;
      if (route_add (routing, w, &local_error))
        added = TRUE;
      else if (first_error == NULL)
        first_error = g_steal_pointer (&local_error);
    }

  if (added && !routes_scan (routing, &scan, error))
    return FALSE;

  for (guint i = 0; i < stale->len; i++)
    {
      struct rtnl_route *route = g_ptr_array_index (stale, i);
      g_autoptr(PfNlMsg) msg = NULL;
      g_autofree char *what = g_strdup_printf ("Cannot delete an %s route in table %u",
                                               family_name (rtnl_route_get_family (route)),
                                               rtnl_route_get_table (route));
      g_autoptr(GError) local_error = NULL;
      int err = rtnl_route_build_del_request (route, 0, &msg);

      if (err < 0)
        set_nl_error (&local_error, err, what);
      else if (send_request (routing, msg, ESRCH, what, &local_error))
        g_debug ("deleted an %s route in table %u", family_name (rtnl_route_get_family (route)),
                 rtnl_route_get_table (route));
      if (local_error != NULL && first_error == NULL)
        first_error = g_steal_pointer (&local_error);
    }

  if (first_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&first_error));
      return FALSE;
    }
  return TRUE;
}

/* @text as a gateway address of @family, or NULL with @error. */
static PfNlAddr *
gateway_parse (const char  *name,
               const char  *text,
               int          family,
               GError     **error)
{
  g_autoptr(PfNlAddr) addr = NULL;
  int bits = family == AF_INET6 ? 128 : 32;

  if (nl_addr_parse (text, family, &addr) < 0 || nl_addr_get_family (addr) != family)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                   "%s: invalid %s gateway “%s”", name, family_name (family), text);
      return NULL;
    }
  if ((int) nl_addr_get_prefixlen (addr) != bits)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                   "%s: gateway “%s” is not an address", name, text);
      return NULL;
    }
  return g_steal_pointer (&addr);
}

/* A tunnel's table also holds the route to its far end through the backup
 * that carries it: whatever rule brings a packet to the tunnel's table (the
 * probe mark the tunnel's own packets inherit), the far end is never routed
 * into the tunnel itself. */
static gboolean
server_want (const PfRoutingBackup  *b,
             gboolean               with_routes,
             GArray                *wants,
             GError               **error)
{
  PfRouteWant w = {
    .name = b->name != NULL ? b->name : "backup",
    .table = b->table,
    .ifindex = b->server_ifindex,
  };
  const char *gateway;

  if (nl_addr_parse (b->server, AF_UNSPEC, &w.dst) < 0)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "%s: invalid server “%s”", w.name, b->server);
      return FALSE;
    }
  w.family = nl_addr_get_family (w.dst);
  gateway = w.family == AF_INET6 ? b->server_gateway6 : b->server_gateway;
  if (with_routes && b->server_ifindex > 0 && gateway != NULL)
    {
      w.gateway = gateway_parse (w.name, gateway, w.family, error);
      if (w.gateway == NULL)
        {
          nl_addr_put (w.dst);
          return FALSE;
        }
    }
  g_array_append_val (wants, w);
  return TRUE;
}

/* One want per backup and family: its default route, or none (@with_routes
 * FALSE, the interface gone, or no gateway of that family). */
static GArray *
routes_wanted (const PfRoutingSpec  *spec,
               gboolean              with_routes,
               GError              **error)
{
  g_autoptr(GArray) wants = g_array_new (FALSE, TRUE, sizeof (PfRouteWant));

  g_array_set_clear_func (wants, (GDestroyNotify) pf_route_want_clear);
  for (guint i = 0; i < spec->n_backups; i++)
    {
      const PfRoutingBackup *b = &spec->backups[i];

      for (guint f = 0; f < G_N_ELEMENTS (families); f++)
        {
          const char *gateway = families[f] == AF_INET6 ? b->gateway6 : b->gateway;
          PfRouteWant w = {
            .name = b->name != NULL ? b->name : "backup",
            .table = b->table,
            .family = families[f],
            .ifindex = b->ifindex,
          };

          if (with_routes && b->ifindex > 0 && gateway != NULL)
            {
              w.gateway = gateway_parse (w.name, gateway, families[f], error);
              if (w.gateway == NULL)
                return NULL;
            }
          g_array_append_val (wants, w);
        }
      if (b->server != NULL && !server_want (b, with_routes, wants, error))
        return NULL;
    }
  return g_steal_pointer (&wants);
}

static gboolean
spec_check (const PfRoutingSpec  *spec,
            GError              **error)
{
  if (spec->rule_priority == 0 || spec->rule_priority > G_MAXUINT32 - 2)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                   "rule priority %u out of range", spec->rule_priority);
      return FALSE;
    }
  for (guint i = 0; i < spec->n_dests; i++)
    {
      guint8 buf[16];
      const char *address = spec->dests[i].address;

      if (address == NULL ||
          (inet_pton (AF_INET, address, buf) != 1 && inet_pton (AF_INET6, address, buf) != 1))
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "“%s” is not an address",
                       address != NULL ? address : "");
          return FALSE;
        }
    }
  for (guint i = 0; i < spec->n_backups; i++)
    {
      guint table = spec->backups[i].table;

      if (table == 0 || table == RT_TABLE_MAIN || table == RT_TABLE_LOCAL ||
          table == RT_TABLE_DEFAULT || table == RT_TABLE_COMPAT)
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                       "%s: table %u is reserved", spec->backups[i].name, table);
          return FALSE;
        }
      for (guint j = 0; j < i; j++)
        {
          if (spec->backups[j].table == table)
            {
              g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                           "%s and %s share table %u", spec->backups[j].name,
                           spec->backups[i].name, table);
              return FALSE;
            }
        }
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */

gboolean
pf_routing_apply (PfRouting            *routing,
                  const PfRoutingSpec  *spec,
                  GError              **error)
{
  g_autoptr(GArray) routes = NULL;
  g_autoptr(GArray) rules = NULL;
  g_autoptr(GError) route_error = NULL;

  g_return_val_if_fail (routing != NULL, FALSE);
  g_return_val_if_fail (spec != NULL, FALSE);
  g_return_val_if_fail (spec->n_backups == 0 || spec->backups != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!spec_check (spec, error))
    return FALSE;
  routes = routes_wanted (spec, TRUE, error);
  if (routes == NULL)
    return FALSE;
  /* A route the kernel refuses (a backup whose interface is down) must not
   * keep the rules from being right: carry on, report it at the end. */
  routes_sync (routing, routes, &route_error);

  rules = rules_wanted (spec);
  if (!rules_sync (routing, spec->rule_priority, rules, error))
    {
      g_prefix_error (error, "Cannot apply routing rules: ");
      return FALSE;
    }

  if (route_error != NULL)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&route_error),
                                  "Cannot apply routes: ");
      return FALSE;
    }
  return TRUE;
}

gboolean
pf_routing_remove (PfRouting            *routing,
                   const PfRoutingSpec  *spec,
                   GError              **error)
{
  g_autoptr(GArray) routes = NULL;
  g_autoptr(GArray) rules = NULL;

  g_return_val_if_fail (routing != NULL, FALSE);
  g_return_val_if_fail (spec != NULL, FALSE);
  g_return_val_if_fail (spec->n_backups == 0 || spec->backups != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!spec_check (spec, error))
    return FALSE;

  /* Rules first: nothing points at the tables while they are emptied. */
  rules = g_array_new (FALSE, TRUE, sizeof (PfRule));
  if (!rules_sync (routing, spec->rule_priority, rules, error))
    {
      g_prefix_error (error, "Cannot remove routing rules: ");
      return FALSE;
    }

  routes = routes_wanted (spec, FALSE, error);
  if (routes == NULL)
    return FALSE;
  if (!routes_sync (routing, routes, error))
    {
      g_prefix_error (error, "Cannot remove routes: ");
      return FALSE;
    }
  return TRUE;
}

guint
pf_routing_get_active_table (PfRouting  *routing,
                             guint       rule_priority,
                             GError    **error)
{
  g_return_val_if_fail (routing != NULL, 0);
  g_return_val_if_fail (error == NULL || *error == NULL, 0);

  /* IPv4 first; the IPv6 rule alone (a half-applied switch) counts too. */
  for (guint f = 0; f < G_N_ELEMENTS (families); f++)
    {
      g_autoptr(GArray) rules = rules_dump (routing, families[f], error);

      if (rules == NULL)
        return 0;
      for (guint i = 0; i < rules->len; i++)
        {
          const PfRule *r = &g_array_index (rules, PfRule, i);

          if (r->priority == rule_priority + 2 && r->action == FR_ACT_TO_TBL && r->fwmark == 0)
            return r->table;
        }
    }
  return 0;
}
