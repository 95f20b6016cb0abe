/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The daemon's nftables table. pf_firewall_render() is pure: the same spec
 * always gives the same text (golden-file tests hold it). The text replaces
 * the whole table in one transaction: "add table" makes sure it exists,
 * "delete table" drops it with everything in it, and the table block
 * recreates it; libnftables sends the three as one netlink batch, so the
 * kernel never runs without the table, nor with half of it.
 */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create() */
#endif

#define G_LOG_DOMAIN "pvefailover-firewall"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "pf-error.h"
#include "pf-firewall.h"

#define PF_NFT_FAMILY_TABLE "inet " PF_NFT_TABLE

typedef struct nft_ctx PfNftCtx;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfNftCtx, nft_ctx_free)

/* ------------------------------------------------------------------------ */
/* Validation                                                               */

/* nft compares a quoted interface name literally, except for a trailing '*'
 * (a prefix match) and its escapes; the kernel limits names to IFNAMSIZ-1. */
static gboolean
ifname_is_valid (const char *ifname)
{
  gsize len;

  if (ifname == NULL)
    return FALSE;
  len = strlen (ifname);
  if (len == 0 || len > 15)
    return FALSE;
  for (const char *p = ifname; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && strchr ("._-@+", *p) == NULL)
        return FALSE;
    }
  return TRUE;
}

/* An address or network ("A.B.C.D", "A.B.C.D/N", IPv6 alike) without host
 * bits; returns its canonical text (a plain address for a full-length mask). */
static char *
network_canonical (const char     *text,
                   GSocketFamily  *out_family,
                   GError        **error)
{
  g_autoptr(GInetAddressMask) mask = NULL;
  g_autoptr(GError) local_error = NULL;

  const char *slash = text != NULL ? strchr (text, '/') : NULL;

  if (text == NULL || *text == '\0')
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "empty address");
      return NULL;
    }
  /* GInetAddressMask warns (rather than fails) on a length above 128. */
  if (slash != NULL && (strlen (slash + 1) > 3 || g_ascii_strtoull (slash + 1, NULL, 10) > 128))
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "invalid prefix length");
      return NULL;
    }
  mask = g_inet_address_mask_new_from_string (text, &local_error);
  if (mask == NULL)
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_INVALID_ARGS, local_error->message);
      return NULL;
    }
  if (out_family != NULL)
    *out_family = g_inet_address_mask_get_family (mask);
  return g_inet_address_mask_to_string (mask);
}

/* A name, or a prefix followed by '*'. */
static gboolean
ifname_pattern_is_valid (const char *pattern)
{
  g_autofree char *name = g_strdup (pattern != NULL ? pattern : "");
  gsize len = strlen (name);

  if (len > 1 && name[len - 1] == '*')
    name[len - 1] = '\0';
  return ifname_is_valid (name);
}

static gboolean
forwards_validate (const PfFirewallSpec  *spec,
                   GError               **error)
{
  for (guint i = 0; i < spec->n_forwards; i++)
    {
      const PfFirewallForward *f = &spec->forwards[i];
      const char *name = f->name != NULL ? f->name : "(unnamed)";
      GSocketFamily family = G_SOCKET_FAMILY_INVALID;
      g_autofree char *canon = network_canonical (f->to_address, &family, error);

      if (canon == NULL || strchr (canon, '/') != NULL)
        {
          g_clear_error (error);
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                       "forward %s: “%s” is not an address", name,
                       f->to_address != NULL ? f->to_address : "");
          return FALSE;
        }
      if (g_strcmp0 (f->proto, "tcp") != 0 && g_strcmp0 (f->proto, "udp") != 0)
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                       "forward %s: protocol must be tcp or udp", name);
          return FALSE;
        }
      if (f->port == 0 || f->to_port == 0)
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "forward %s: port 0", name);
          return FALSE;
        }
      if (f->interfaces == NULL || f->interfaces[0] == NULL)
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "forward %s: no interface", name);
          return FALSE;
        }
      for (guint j = 0; f->interfaces[j] != NULL; j++)
        if (!ifname_pattern_is_valid (f->interfaces[j]))
          {
            g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                         "forward %s: invalid interface “%s”", name, f->interfaces[j]);
            return FALSE;
          }
    }
  return TRUE;
}

static gboolean
out_of_band_validate (const PfFirewallSpec  *spec,
                      GError               **error)
{
  for (guint i = 0; i < spec->n_out_of_band; i++)
    {
      const PfFirewallOutOfBand *o = &spec->out_of_band[i];
      const char *name = o->name != NULL ? o->name : "(unnamed)";

      if (!ifname_is_valid (o->ifname))
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                       "out-of-band %s: invalid interface name “%s”", name,
                       o->ifname != NULL ? o->ifname : "");
          return FALSE;
        }
      if (o->fwmark == 0 || o->fwmark == spec->probe_mark)
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                       "out-of-band %s: mark 0x%08x is zero or the probe mark", name, o->fwmark);
          return FALSE;
        }
    }
  return TRUE;
}

/* Every network of @guests (NULL-terminated, or NULL) is of @want. */
static gboolean
guests_validate (const char * const  *guests,
                 GSocketFamily        want,
                 GError             **error)
{
  for (guint i = 0; guests != NULL && guests[i] != NULL; i++)
    {
      GSocketFamily family = G_SOCKET_FAMILY_INVALID;
      g_autofree char *canon = network_canonical (guests[i], &family, error);

      if (canon == NULL)
        {
          g_prefix_error (error, "allowed guest “%s”: ", guests[i]);
          return FALSE;
        }
      if (family != want)
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                       "allowed guest “%s”: not an %s address or network", guests[i],
                       want == G_SOCKET_FAMILY_IPV6 ? "IPv6" : "IPv4");
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
tunnels_validate (const PfFirewallSpec  *spec,
                  GError               **error)
{
  for (guint i = 0; i < spec->n_tunnels; i++)
    {
      const PfFirewallTunnel *t = &spec->tunnels[i];
      const char *name = t->name != NULL ? t->name : "(unnamed)";
      g_autofree char *canon = NULL;

      if (!ifname_is_valid (t->ifname))
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                       "tunnel %s: invalid interface name “%s”", name, t->ifname != NULL ? t->ifname : "");
          return FALSE;
        }
      canon = network_canonical (t->server, NULL, error);
      if (canon == NULL || strchr (canon, '/') != NULL)
        {
          g_clear_error (error);
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                       "tunnel %s: server “%s” is not an address", name, t->server != NULL ? t->server : "");
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
pf_firewall_spec_validate (const PfFirewallSpec  *spec,
                           GError               **error)
{
  g_return_val_if_fail (spec != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (spec->n_uplinks > 0 && spec->uplinks == NULL)
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "no uplink array");
      return FALSE;
    }

  for (guint i = 0; i < spec->n_uplinks; i++)
    {
      const PfFirewallUplink *u = &spec->uplinks[i];
      const char *name = u->name != NULL ? u->name : "(unnamed)";

      if (!ifname_is_valid (u->ifname))
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                       "uplink %s: invalid interface name “%s”", name,
                       u->ifname != NULL ? u->ifname : "");
          return FALSE;
        }
      if ((u->ct_mark & ~spec->ct_mark_mask) != 0)
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS,
                       "uplink %s: ct mark 0x%08x outside the mask 0x%08x",
                       name, u->ct_mark, spec->ct_mark_mask);
          return FALSE;
        }
      if (u->is_backup && u->management != NULL)
        {
          g_autofree char *canon = network_canonical (u->management, NULL, error);

          if (canon == NULL)
            {
              g_prefix_error (error, "uplink %s: management address: ", name);
              return FALSE;
            }
        }
    }

  if (!forwards_validate (spec, error) || !out_of_band_validate (spec, error) ||
      !tunnels_validate (spec, error))
    return FALSE;
  return guests_validate (spec->allowed, G_SOCKET_FAMILY_IPV4, error) &&
         guests_validate (spec->allowed6, G_SOCKET_FAMILY_IPV6, error);
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                */

/* Names are [a-z0-9_-] per the configuration; anything else is replaced so
 * that a comment stays one valid nft string. */
static char *
label_of (const char *name)
{
  g_autofree char *label = g_strdup (name != NULL && *name != '\0' ? name : "unnamed");

  g_strcanon (label, G_CSET_a_2_z G_CSET_A_2_Z G_CSET_DIGITS "_-.", '_');
  if (strlen (label) > 32)
    label[32] = '\0';
  return g_steal_pointer (&label);
}

/* What an admin reads in `nft list table`: "lte (backup, standby)". */
static char *
uplink_label (const PfFirewallUplink *u)
{
  g_autofree char *name = label_of (u->name != NULL && *u->name != '\0' ? u->name : u->ifname);

  if (!u->is_backup)
    return g_strdup_printf ("%s (primary)", name);
  return g_strdup_printf ("%s (backup, %s%s)", name, u->active ? "active" : "standby",
                          u->limit == PF_FIREWALL_LIMIT_ALL ? ", plan used up: blocked" :
                          u->limit == PF_FIREWALL_LIMIT_GUESTS ? ", plan used up: host only" : "");
}

/* Blocked as in standby: not carrying traffic, or its plan is used up. */
static gboolean
is_blocked (const PfFirewallUplink *u)
{
  return u->is_backup && (!u->active || u->limit == PF_FIREWALL_LIMIT_ALL);
}

/* Allowed guests leave through it. */
static gboolean
carries_guests (const PfFirewallUplink *u)
{
  return u->is_backup && u->active && u->limit == PF_FIREWALL_LIMIT_NONE;
}

static void
append_management (GString                *out,
                   const PfFirewallUplink *u,
                   const char             *dir_if,
                   const char             *dir_addr,
                   const char             *label)
{
  GSocketFamily family = G_SOCKET_FAMILY_INVALID;
  g_autofree char *mgmt = NULL;

  if (u->management == NULL)
    return;
  mgmt = network_canonical (u->management, &family, NULL);
  g_string_append_printf (out, "\t\t%s \"%s\" %s %s %s accept comment \"%s: modem management\"\n",
                          dir_if, u->ifname,
                          family == G_SOCKET_FAMILY_IPV6 ? "ip6" : "ip",
                          dir_addr, mgmt, label);
}

/* The uplink using @ifname, NULL if none. */
static const PfFirewallUplink *
uplink_by_ifname (const PfFirewallSpec *spec,
                  const char           *ifname)
{
  for (guint i = 0; i < spec->n_uplinks; i++)
    if (g_str_equal (spec->uplinks[i].ifname, ifname))
      return &spec->uplinks[i];
  return NULL;
}

/* An out-of-band tunnel passes its backup's standby block, but not a block
 * for a used-up plan (cap-action=block: nothing leaves). */
static gboolean
out_of_band_passes (const PfFirewallSpec      *spec,
                    const PfFirewallOutOfBand *o)
{
  const PfFirewallUplink *u = uplink_by_ifname (spec, o->ifname);

  return u == NULL || u->limit != PF_FIREWALL_LIMIT_ALL;
}

/* One line per interface pattern of @f: iifname "wg*" BODY comment "ha: WHAT".
 * In @body, {nfproto} becomes "ipv4" or "ipv6", {family} "ip" or "ip6", {address} the service's address
 * and {to} the address as a dnat writes it ("10.0.0.5", "[fd00::5]"). */
static void
append_forward_rules (GString                 *out,
                      const PfFirewallForward *f,
                      const char              *what,
                      const char              *body)
{
  GSocketFamily family = G_SOCKET_FAMILY_INVALID;
  g_autofree char *address = network_canonical (f->to_address, &family, NULL);
  gboolean v6 = family == G_SOCKET_FAMILY_IPV6;
  g_autofree char *bracketed = v6 ? g_strdup_printf ("[%s]", address) : g_strdup (address);
  g_autofree char *label = label_of (f->name);
  g_autoptr(GString) text = g_string_new (body);

  g_string_replace (text, "{nfproto}", v6 ? "ipv6" : "ipv4", 0);
  g_string_replace (text, "{family}", v6 ? "ip6" : "ip", 0);
  g_string_replace (text, "{address}", address, 0);
  g_string_replace (text, "{to}", bracketed, 0);
  for (guint i = 0; f->interfaces[i] != NULL; i++)
    g_string_append_printf (out, "\t\tiifname \"%s\" %s comment \"%s: %s\"\n",
                            f->interfaces[i], text->str, label, what);
}

static void
append_forwards (GString              *out,
                 const PfFirewallSpec *spec,
                 const char           *chain)
{
  for (guint i = 0; i < spec->n_forwards; i++)
    {
      const PfFirewallForward *f = &spec->forwards[i];
      g_autofree char *body = NULL;

      if (g_str_equal (chain, "prerouting"))
        {
          body = g_strdup_printf ("fib daddr type local meta nfproto {nfproto} %s dport %u dnat {family} to {to}:%u",
                                  f->proto, f->port, f->to_port);
          append_forward_rules (out, f, "port forward", body);
        }
      else if (g_str_equal (chain, "forward"))
        {
          body = g_strdup_printf ("ct status dnat {family} daddr {address} %s dport %u accept",
                                  f->proto, f->to_port);
          append_forward_rules (out, f, "port forward", body);
        }
      else if (f->masquerade)
        {
          body = g_strdup_printf ("ct status dnat {family} daddr {address} %s dport %u masquerade",
                                  f->proto, f->to_port);
          append_forward_rules (out, f, "the service answers the host", body);
        }
    }
}

/* A set of guest networks, with its elements (none when @guests is NULL
 * or empty). */
static void
append_guest_set (GString            *out,
                  const char         *name,
                  const char         *type,
                  const char         *comment,
                  const char * const *guests)
{
  guint n = 0;

  g_string_append_printf (out,
                          "\tset %s {\n"
                          "\t\ttype %s\n"
                          "\t\tflags interval\n"
                          "\t\tauto-merge\n"
                          "\t\tcomment \"%s\"\n",
                          name, type, comment);
  for (guint i = 0; guests != NULL && guests[i] != NULL; i++)
    {
      g_autofree char *canon = network_canonical (guests[i], NULL, NULL);

      g_string_append (out, n == 0 ? "\t\telements = { " : ",\n\t\t\t     ");
      g_string_append (out, canon);
      n++;
    }
  if (n > 0)
    g_string_append (out, " }\n");
  g_string_append (out, "\t}\n\n");
}

/* IPv6 needs neighbour discovery (and router advertisements) on a blocked
 * backup, or its gateway is never resolved for the daemon's probes and an
 * autoconfigured address expires. They never leave the link. */
static void
append_neighbour_discovery (GString                *out,
                            const PfFirewallUplink *u,
                            gboolean                incoming,
                            const char             *label)
{
  g_string_append_printf (out,
                          "\t\t%s \"%s\" icmpv6 type { %s, nd-neighbor-solicit, nd-neighbor-advert } "
                          "accept comment \"%s: IPv6 neighbour discovery\"\n",
                          incoming ? "iifname" : "oifname", u->ifname,
                          incoming ? "nd-router-advert" : "nd-router-solicit", label);
}

char *
pf_firewall_render (const PfFirewallSpec *spec)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GError) local_error = NULL;
  guint32 keep;

  g_return_val_if_fail (spec != NULL, NULL);
  if (!pf_firewall_spec_validate (spec, &local_error))
    {
      g_critical ("%s: invalid spec: %s", G_STRFUNC, local_error->message);
      return NULL;
    }
  keep = ~spec->ct_mark_mask;

  g_string_append (out,
                   "# pvefailoverd's own table, rendered from the desired state and replaced\n"
                   "# in one transaction. Do not edit: the daemon rewrites it on every change.\n"
                   "add table " PF_NFT_FAMILY_TABLE "\n"
                   "delete table " PF_NFT_FAMILY_TABLE "\n"
                   "table " PF_NFT_FAMILY_TABLE " {\n"
                   "\tcomment \"owned by pvefailoverd: standby blocks, backup allow-list and NAT, uplink tags\"\n"
                   "\n");

  /* The guests that may leave through an active backup. */
  append_guest_set (out, "allowed", "ipv4_addr",
                    "guests allowed to leave through an active backup", spec->allowed);
  append_guest_set (out, "allowed6", "ipv6_addr",
                    spec->nat66 ? "IPv6 guests allowed to leave through an active backup, with NAT66"
                                : "IPv6 guests: none leaves through a backup without nat66",
                    spec->allowed6);

  /* Local traffic: a backup in standby carries only the daemon's probes
   * (marked) and the modem's management address. */
  g_string_append_printf (out,
                          "\tchain output {\n"
                          "\t\ttype filter hook output priority filter; policy accept;\n"
                          "\t\tmeta mark 0x%08x accept comment \"the daemon's probes pass the standby blocks\"\n",
                          spec->probe_mark);
  for (guint i = 0; i < spec->n_out_of_band; i++)
    {
      const PfFirewallOutOfBand *o = &spec->out_of_band[i];
      g_autofree char *label = label_of (o->name);

      if (out_of_band_passes (spec, o))
        g_string_append_printf (out, "\t\toifname \"%s\" meta mark 0x%08x accept comment \"%s: out-of-band tunnel\"\n",
                                o->ifname, o->fwmark, label);
    }
  for (guint i = 0; i < spec->n_tunnels; i++)
    {
      const PfFirewallTunnel *t = &spec->tunnels[i];
      const PfFirewallUplink *u = uplink_by_ifname (spec, t->ifname);
      GSocketFamily family = G_SOCKET_FAMILY_INVALID;
      g_autofree char *server = network_canonical (t->server, &family, NULL);
      g_autofree char *label = label_of (t->name);

      if (u == NULL || u->limit != PF_FIREWALL_LIMIT_ALL)
        g_string_append_printf (out, "\t\toifname \"%s\" %s daddr %s accept comment \"%s: the tunnel to its server\"\n",
                                t->ifname, family == G_SOCKET_FAMILY_IPV6 ? "ip6" : "ip", server, label);
    }
  for (guint i = 0; i < spec->n_uplinks; i++)
    {
      const PfFirewallUplink *u = &spec->uplinks[i];
      g_autofree char *label = NULL;

      if (!is_blocked (u))
        continue;
      label = uplink_label (u);
      append_management (out, u, "oifname", "daddr", label);
      append_neighbour_discovery (out, u, FALSE, label);
      g_string_append_printf (out, "\t\toifname \"%s\" drop comment \"%s: blocked\"\n",
                              u->ifname, label);
    }
  g_string_append (out, "\t}\n\n");

  g_string_append (out,
                   "\tchain input {\n"
                   "\t\ttype filter hook input priority filter; policy accept;\n");
  for (guint i = 0; i < spec->n_uplinks; i++)
    {
      const PfFirewallUplink *u = &spec->uplinks[i];
      g_autofree char *label = NULL;

      if (!is_blocked (u))
        continue;
      label = uplink_label (u);
      g_string_append_printf (out,
                              "\t\tiifname \"%s\" ct state established,related accept comment \"%s: replies to probes\"\n",
                              u->ifname, label);
      append_management (out, u, "iifname", "saddr", label);
      append_neighbour_discovery (out, u, TRUE, label);
      g_string_append_printf (out, "\t\tiifname \"%s\" drop comment \"%s: blocked\"\n",
                              u->ifname, label);
    }
  g_string_append (out, "\t}\n\n");

  /* Guests: only the allowed ones, only through an active backup. */
  g_string_append (out,
                   "\tchain forward {\n"
                   "\t\ttype filter hook forward priority filter; policy accept;\n");
  append_forwards (out, spec, "forward");
  for (guint i = 0; i < spec->n_uplinks; i++)
    {
      const PfFirewallUplink *u = &spec->uplinks[i];
      g_autofree char *label = NULL;

      if (!u->is_backup)
        continue;
      label = uplink_label (u);
      if (carries_guests (u))
        {
          g_string_append_printf (out,
                                  "\t\toifname \"%s\" ip saddr @allowed accept comment \"%s: allowed guests\"\n",
                                  u->ifname, label);
          if (spec->nat66)
            g_string_append_printf (out,
                                    "\t\toifname \"%s\" ip6 saddr @allowed6 accept comment \"%s: allowed IPv6 guests, NAT66\"\n",
                                    u->ifname, label);
          g_string_append_printf (out,
                                  "\t\tiifname \"%s\" ct state established,related accept comment \"%s: replies to allowed guests\"\n",
                                  u->ifname, label);
        }
      g_string_append_printf (out,
                              "\t\toifname \"%s\" drop comment \"%s: other guests never leave through it\"\n"
                              "\t\tiifname \"%s\" drop comment \"%s: nothing else comes in through it\"\n",
                              u->ifname, label, u->ifname, label);
    }
  g_string_append (out, "\t}\n\n");

  if (spec->n_forwards > 0)
    {
      g_string_append (out,
                       "\tchain prerouting {\n"
                       "\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
      append_forwards (out, spec, "prerouting");
      g_string_append (out, "\t}\n\n");
    }

  g_string_append (out,
                   "\tchain postrouting {\n"
                   "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
  append_forwards (out, spec, "postrouting");
  for (guint i = 0; i < spec->n_uplinks; i++)
    {
      const PfFirewallUplink *u = &spec->uplinks[i];
      g_autofree char *label = NULL;

      if (!carries_guests (u))
        continue;
      label = uplink_label (u);
      g_string_append_printf (out,
                              "\t\toifname \"%s\" ip saddr @allowed masquerade comment \"%s: allowed guests\"\n",
                              u->ifname, label);
      if (spec->nat66)
        g_string_append_printf (out,
                                "\t\toifname \"%s\" ip6 saddr @allowed6 masquerade comment \"%s: allowed IPv6 guests, NAT66\"\n",
                                u->ifname, label);
    }
  g_string_append (out, "\t}\n\n");

  /* Tag every new flow, local or forwarded, with the uplink it leaves
   * through, so that a switch can flush the flows of the abandoned one.
   * Postrouting sees both; mangle priority runs before NAT. Bits of the
   * ct mark outside the mask belong to others and are kept. Only an
   * untagged flow is tagged: a flow never answered stays "new" for every
   * packet, and once routed through the new uplink it would otherwise be
   * retagged before the old uplink's flush, escaping it with the NAT it
   * got (none) on the old one. */
  g_string_append (out,
                   "\tchain uplink_mark {\n"
                   "\t\ttype filter hook postrouting priority mangle; policy accept;\n");
  for (guint i = 0; i < spec->n_out_of_band && spec->ct_mark_mask != 0; i++)
    {
      const PfFirewallOutOfBand *o = &spec->out_of_band[i];
      g_autofree char *label = label_of (o->name);

      g_string_append_printf (out, "\t\tmeta mark 0x%08x return comment \"%s: out-of-band tunnel, never flushed\"\n",
                              o->fwmark, label);
    }
  for (guint i = 0; i < spec->n_uplinks && spec->ct_mark_mask != 0; i++)
    {
      const PfFirewallUplink *u = &spec->uplinks[i];
      g_autofree char *label = uplink_label (u);

      g_string_append_printf (out,
                              "\t\toifname \"%s\" ct state new ct mark & 0x%08x == 0x00000000 ct mark set ct mark & 0x%08x | 0x%08x comment \"%s: flows leaving through it\"\n",
                              u->ifname, spec->ct_mark_mask, keep, u->ct_mark, label);
    }
  g_string_append (out, "\t}\n}\n");

  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* ------------------------------------------------------------------------ */
/* libnftables                                                              */

/* nftables 1.0.6 points at the wrong line of a multi-line buffer in its
 * error messages, and gets it right for a file: hand it the script as an
 * anonymous memory file. Returns -1 when that is not possible. */
static int
script_memfd (const char *script)
{
  gsize len = strlen (script);
  gsize done = 0;
  int fd = memfd_create ("pvefailover.nft", MFD_CLOEXEC);

  if (fd < 0)
    return -1;
  while (done < len)
    {
      ssize_t n = write (fd, script + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          close (fd);
          return -1;
        }
      done += (gsize) n;
    }
  return fd;
}

static int
run_with_location (PfNftCtx   *ctx,
                   const char *script,
                   char      **out_path)
{
  int fd = script_memfd (script);
  int ret;

  if (fd < 0)
    return nft_run_cmd_from_buffer (ctx, script);
  *out_path = g_strdup_printf ("/proc/self/fd/%d", fd);
  ret = nft_run_cmd_from_filename (ctx, *out_path);
  close (fd);
  return ret;
}

static gboolean
run_script (const char  *script,
            gboolean     dry_run,
            GError     **error)
{
  g_autoptr(PfNftCtx) ctx = nft_ctx_new (NFT_CTX_DEFAULT);
  g_autofree char *path = NULL;

  if (ctx == NULL)
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_SYSTEM,
                           "nftables: cannot create a context");
      return FALSE;
    }
  /* Messages go to buffers, never to our stdout/stderr: they become the
   * GError message. */
  if (nft_ctx_buffer_output (ctx) != 0 || nft_ctx_buffer_error (ctx) != 0)
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_SYSTEM,
                           "nftables: cannot buffer output");
      return FALSE;
    }
  nft_ctx_set_dry_run (ctx, dry_run);

  if (run_with_location (ctx, script, &path) != 0)
    {
      const char *msg = nft_ctx_get_error_buffer (ctx);
      g_autofree char *text = g_strstrip (g_strdup (msg != NULL ? msg : ""));

      /* "/proc/self/fd/7:45:54-54: Error: ..." reads "line 45:54-54: Error: ..." */
      if (path != NULL)
        {
          g_autofree char *prefix = g_strconcat (path, ":", NULL);
          g_auto(GStrv) parts = g_strsplit (text, prefix, -1);

          g_free (text);
          text = g_strjoinv ("line ", parts);
        }

      g_set_error (error, PF_ERROR, PF_ERROR_SYSTEM, "nftables: %s",
                   *text != '\0' ? text : "command failed");
      return FALSE;
    }
  return TRUE;
}

gboolean
pf_firewall_apply (const char  *script,
                   GError     **error)
{
  g_return_val_if_fail (script != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!run_script (script, FALSE, error))
    {
      g_prefix_error (error, "Cannot apply table %s: ", PF_NFT_FAMILY_TABLE);
      return FALSE;
    }
  g_debug ("table %s applied", PF_NFT_FAMILY_TABLE);
  return TRUE;
}

gboolean
pf_firewall_check (const char  *script,
                   GError     **error)
{
  g_return_val_if_fail (script != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!run_script (script, TRUE, error))
    {
      g_prefix_error (error, "Invalid script for table %s: ", PF_NFT_FAMILY_TABLE);
      return FALSE;
    }
  return TRUE;
}

gboolean
pf_firewall_remove (GError **error)
{
  /* nftables 1.0.6 has no "destroy": adding first makes the delete valid
   * whether or not the table exists, in one transaction, with no window
   * between a check and the delete. */
  static const char script[] =
    "add table " PF_NFT_FAMILY_TABLE "\n"
    "delete table " PF_NFT_FAMILY_TABLE "\n";

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!run_script (script, FALSE, error))
    {
      g_prefix_error (error, "Cannot remove table %s: ", PF_NFT_FAMILY_TABLE);
      return FALSE;
    }
  g_debug ("table %s removed", PF_NFT_FAMILY_TABLE);
  return TRUE;
}
