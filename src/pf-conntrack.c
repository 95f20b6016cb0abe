/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Conntrack flushing by mark over ctnetlink (libmnl).
 *
 * The kernel filters both a dump and a flush (IPCTNL_MSG_CT_DELETE without a
 * tuple) by CTA_MARK/CTA_MARK_MASK, for every family when the request says
 * AF_UNSPEC. flush_mark counts the matching entries with a filtered dump,
 * then has the kernel flush them in one request. Every dumped entry's mark
 * is checked here too: should a kernel ever ignore the filter, a flush
 * would take every flow with it, so in that case (or with
 * PF_CONNTRACK_DELETE_EACH=1 in the environment, for tests) the matching
 * entries are deleted one by one, by tuple and id.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-conntrack"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "pf-conntrack.h"
#include "pf-error.h"

typedef struct mnl_socket PfMnlSocket;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfMnlSocket, mnl_socket_close)

#define PF_CT_BUFFER_SIZE 32768

typedef struct {
  PfMnlSocket *sock;
  guint        portid;
  guint        seq;
  guint8      *buf;
} PfCtSession;

typedef struct {
  guint8  family;
  GBytes *attrs;   /* CTA_TUPLE_ORIG, CTA_ID and CTA_ZONE as dumped */
} PfCtEntry;

typedef struct {
  guint32    mark;
  guint32    mask;
  guint      matching;
  guint      others;   /* entries the kernel should have filtered out */
  GArray    *entries;  /* PfCtEntry, only when collecting */
} PfCtDump;

static void
pf_ct_entry_clear (PfCtEntry *entry)
{
  g_clear_pointer (&entry->attrs, g_bytes_unref);
}

static void
pf_ct_session_clear (PfCtSession *session)
{
  g_clear_pointer (&session->sock, mnl_socket_close);
  g_clear_pointer (&session->buf, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PfCtSession, pf_ct_session_clear)

static gboolean
session_open (PfCtSession  *session,
              GError      **error)
{
  int saved;

  session->sock = mnl_socket_open (NETLINK_NETFILTER);
  if (session->sock == NULL)
    {
      saved = errno;
      g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "Cannot open a ctnetlink socket: %s",
                   g_strerror (saved));
      return FALSE;
    }
  if (mnl_socket_bind (session->sock, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      saved = errno;
      g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "Cannot bind a ctnetlink socket: %s",
                   g_strerror (saved));
      return FALSE;
    }
  session->portid = mnl_socket_get_portid (session->sock);
  session->seq = (guint) time (NULL);
  session->buf = g_malloc (PF_CT_BUFFER_SIZE);
  return TRUE;
}

static struct nlmsghdr *
request_new (PfCtSession *session,
             guint8       msg_type,
             guint16      flags,
             guint8       family)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (session->buf);
  struct nfgenmsg *nfh;

  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg_type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = ++session->seq;
  nfh = mnl_nlmsg_put_extra_header (nlh, sizeof *nfh);
  nfh->nfgen_family = family;
  nfh->version = NFNETLINK_V0;
  nfh->res_id = 0;
  return nlh;
}

static void
put_mark_filter (struct nlmsghdr *nlh,
                 guint32          mark,
                 guint32          mask)
{
  mnl_attr_put_u32 (nlh, CTA_MARK, htonl (mark));
  mnl_attr_put_u32 (nlh, CTA_MARK_MASK, htonl (mask));
}

/* Send the request in the session buffer and run @cb over the answers until
 * the dump ends or the ack arrives. Returns 0 or a positive errno. */
static int
session_talk (PfCtSession *session,
              mnl_cb_t     cb,
              gpointer     data)
{
  struct nlmsghdr *nlh = (struct nlmsghdr *) session->buf;
  guint seq = nlh->nlmsg_seq;
  int ret;

  if (mnl_socket_sendto (session->sock, nlh, nlh->nlmsg_len) < 0)
    return errno;

  do
    {
      ret = mnl_socket_recvfrom (session->sock, session->buf, PF_CT_BUFFER_SIZE);
      if (ret < 0)
        return errno;
      ret = mnl_cb_run (session->buf, ret, seq, session->portid, cb, data);
    }
  while (ret > MNL_CB_STOP);

  return ret < 0 ? errno : 0;
}

static int
dump_attr_cb (const struct nlattr *attr,
              void                *data)
{
  const struct nlattr **tb = data;
  int type = mnl_attr_get_type (attr);

  if (mnl_attr_type_valid (attr, CTA_MAX) < 0)
    return MNL_CB_OK;
  tb[type] = attr;
  return MNL_CB_OK;
}

static void
append_attr (GByteArray          *out,
             const struct nlattr *attr)
{
  if (attr != NULL)
    g_byte_array_append (out, (const guint8 *) attr, MNL_ALIGN (attr->nla_len));
}

static int
dump_cb (const struct nlmsghdr *nlh,
         void                  *data)
{
  PfCtDump *dump = data;
  const struct nlattr *tb[CTA_MAX + 1] = { NULL };
  const struct nfgenmsg *nfh = mnl_nlmsg_get_payload (nlh);
  guint32 mark = 0;

  if (mnl_attr_parse (nlh, sizeof *nfh, dump_attr_cb, tb) < 0)
    return MNL_CB_ERROR;
  if (tb[CTA_MARK] != NULL)
    mark = ntohl (mnl_attr_get_u32 (tb[CTA_MARK]));

  if ((mark & dump->mask) != dump->mark)
    {
      dump->others++;
      return MNL_CB_OK;
    }
  dump->matching++;

  if (dump->entries != NULL && tb[CTA_TUPLE_ORIG] != NULL)
    {
      g_autoptr(GByteArray) attrs = g_byte_array_new ();
      PfCtEntry entry = { .family = nfh->nfgen_family };

      append_attr (attrs, tb[CTA_TUPLE_ORIG]);
      append_attr (attrs, tb[CTA_ID]);
      append_attr (attrs, tb[CTA_ZONE]);
      entry.attrs = g_byte_array_free_to_bytes (g_steal_pointer (&attrs));
      g_array_append_val (dump->entries, entry);
    }
  return MNL_CB_OK;
}

static gboolean
dump_marked (PfCtSession  *session,
             PfCtDump     *dump,
             GError      **error)
{
  struct nlmsghdr *nlh = request_new (session, IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_UNSPEC);
  int err;

  put_mark_filter (nlh, dump->mark, dump->mask);
  err = session_talk (session, dump_cb, dump);
  if (err != 0)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "Cannot list conntrack entries: %s",
                   g_strerror (err));
      return FALSE;
    }
  return TRUE;
}

static gboolean
flush_in_kernel (PfCtSession  *session,
                 guint32       mark,
                 guint32       mask,
                 GError      **error)
{
  struct nlmsghdr *nlh = request_new (session, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, AF_UNSPEC);
  int err;

  put_mark_filter (nlh, mark, mask);
  err = session_talk (session, NULL, NULL);
  if (err != 0)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "Cannot flush conntrack entries: %s",
                   g_strerror (err));
      return FALSE;
    }
  return TRUE;
}

static gboolean
delete_each (PfCtSession  *session,
             GArray       *entries,
             guint        *n_deleted,
             GError      **error)
{
  for (guint i = 0; i < entries->len; i++)
    {
      const PfCtEntry *entry = &g_array_index (entries, PfCtEntry, i);
      struct nlmsghdr *nlh = request_new (session, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, entry->family);
      gsize len = 0;
      const void *attrs = g_bytes_get_data (entry->attrs, &len);
      int err;

      if (nlh->nlmsg_len + len > PF_CT_BUFFER_SIZE)
        continue;
      memcpy (mnl_nlmsg_put_extra_header (nlh, len), attrs, len);
      err = session_talk (session, NULL, NULL);
      if (err == ENOENT)
        continue;  /* gone already, or its tuple now belongs to a new flow */
      if (err != 0)
        {
          g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "Cannot delete a conntrack entry: %s",
                       g_strerror (err));
          return FALSE;
        }
      (*n_deleted)++;
    }
  return TRUE;
}

gboolean
pf_conntrack_flush_mark (guint32   mark,
                         guint32   mask,
                         guint    *n_deleted,
                         GError  **error)
{
  g_auto(PfCtSession) session = { NULL };
  g_autoptr(GArray) entries = g_array_new (FALSE, TRUE, sizeof (PfCtEntry));
  PfCtDump dump = { .mark = mark, .mask = mask };
  gboolean each = g_strcmp0 (g_getenv ("PF_CONNTRACK_DELETE_EACH"), "1") == 0;
  guint deleted = 0;

  /* A zero mask would match every entry: never a flush anyone wants. */
  g_return_val_if_fail (mask != 0, FALSE);
  g_return_val_if_fail ((mark & ~mask) == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_array_set_clear_func (entries, (GDestroyNotify) pf_ct_entry_clear);
  dump.entries = entries;

  if (!session_open (&session, error) || !dump_marked (&session, &dump, error))
    {
      g_prefix_error (error, "Mark 0x%08x/0x%08x: ", mark, mask);
      return FALSE;
    }

  if (dump.others > 0)
    {
      g_warning ("ctnetlink ignored the mark filter (%u other entries listed): "
                 "deleting the %u matching entries one by one", dump.others, dump.matching);
      each = TRUE;
    }

  if (dump.matching == 0)
    {
      deleted = 0;
    }
  else if (each)
    {
      if (!delete_each (&session, entries, &deleted, error))
        {
          g_prefix_error (error, "Mark 0x%08x/0x%08x: ", mark, mask);
          return FALSE;
        }
    }
  else
    {
      if (!flush_in_kernel (&session, mark, mask, error))
        {
          g_prefix_error (error, "Mark 0x%08x/0x%08x: ", mark, mask);
          return FALSE;
        }
      /* What was there a moment ago; the kernel does not say. */
      deleted = dump.matching;
    }

  g_debug ("flushed %u conntrack entries with mark 0x%08x/0x%08x", deleted, mark, mask);
  if (n_deleted != NULL)
    *n_deleted = deleted;
  return TRUE;
}

gboolean
pf_conntrack_count_mark (guint32   mark,
                         guint32   mask,
                         guint    *n_entries,
                         GError  **error)
{
  g_auto(PfCtSession) session = { NULL };
  PfCtDump dump = { .mark = mark, .mask = mask };

  g_return_val_if_fail (n_entries != NULL, FALSE);
  g_return_val_if_fail ((mark & ~mask) == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!session_open (&session, error) || !dump_marked (&session, &dump, error))
    {
      g_prefix_error (error, "Mark 0x%08x/0x%08x: ", mark, mask);
      return FALSE;
    }
  *n_entries = dump.matching;
  return TRUE;
}
