/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Probes of one uplink. Every probe socket is bound to the uplink's interface
 * (SO_BINDTODEVICE) and carries the probe mark (SO_MARK), so a probe never
 * follows the main routing table: a dead primary is seen dead even while the
 * main table points at it, and a standby backup is tested through its own
 * link. Everything runs on the thread-default main context, nothing blocks.
 *
 * A round sends one probe to every target at once. It is reported as soon as
 * @quorum probes answered, or every probe answered or failed, or the timeout
 * passed, whichever comes first; later answers are ignored. Rounds may
 * overlap (a fast interval shorter than the timeout).
 *
 * Kinds:
 *   icmp   one raw socket per address family and prober, a random ICMP id per
 *          prober, a sequence number per probe, 8 bytes of payload holding a
 *          random cookie; replies match on id, sequence, source and cookie.
 *   tcp    non-blocking connect(); answered once established, then closed at
 *          once with a reset (SO_LINGER 0). A refused connection is a failure.
 *   dns    UDP query (A) with a random id; answered on a response carrying
 *          that id with RCODE NOERROR or NXDOMAIN.
 *   http   libsoup GET on a new connection (never reused across rounds),
 *          redirects not followed, 2xx and 3xx answer. The connection's
 *          socket is bound from the message's "network-event" at
 *          G_SOCKET_CLIENT_CONNECTING, before connect(); a response that came
 *          through a socket we did not bind is a failure. Host names resolve
 *          through the system resolver (not bound); use IP literals.
 *          PF_PROBE_TLS_INSECURE=1 (tests only) accepts any certificate.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-prober"

#include "pf-prober.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>

#include <glib-unix.h>
#include <libsoup/soup.h>

#include "pf-error.h"

#ifndef ICMP_FILTER
#define ICMP_FILTER 1   /* linux/icmp.h, which clashes with netinet/ip_icmp.h */
#endif

#define ICMP_PAYLOAD_LEN    8
#define IPV4_HEADER_LEN     20
#define IPV6_HEADER_LEN     40
#define UDP_HEADER_LEN      8
#define TCP_HEADER_LEN      20
#define TCP_SYN_LEN         40   /* TCP header with the usual options on a SYN */
#define TLS_HANDSHAKE_BYTES 4000 /* rough: hellos, a short certificate chain, finished */

typedef enum {
  PROBE_PENDING,
  PROBE_ANSWERED,
  PROBE_FAILED,
} ProbeState;

typedef struct _Round Round;

typedef struct {
  Round               *round;      /* NULL once the round is over */
  PfProber            *prober;     /* borrowed, valid while round != NULL */
  const PfProbeTarget *target;
  ProbeState           state;
  char                *reason;     /* why it failed */
  gint64               sent_us;
  gint64               rtt_us;
  guint64              bytes;
  guint                ip_header;  /* 20 or 40 */

  /* icmp */
  int                  family;
  guint16              seq;
  guint64              cookie;
  gboolean             in_icmp_table;
  GInetAddress        *address;

  /* tcp, dns */
  int                  fd;
  guint                watch_id;
  guint16              dns_id;

  /* http, https */
  GCancellable        *cancellable;
  char                *ifname;
  guint32              mark;
  gboolean             bound;
  char                *bind_error;
} Probe;

struct _Round {
  PfProber  *prober;
  GPtrArray *probes;        /* Probe, one reference each */
  guint      n_resolved;
  guint      n_answered;
  guint      quorum;
  gboolean   starting;
  gint64     started_us;
  guint      timeout_id;
  GTask     *task;          /* run_once, NULL for scheduled rounds */
  GSource   *cancel_source;
};

typedef struct {
  int      fd;
  guint    watch_id;
} IcmpSocket;

struct _PfProber {
  GObject               parent_instance;

  const PfUplinkConfig *config;
  char                 *ifname;
  guint32               mark;

  gboolean              running;
  gboolean              fast;
  guint                 timer_id;

  guint16               echo_id;
  guint16               echo_seq;
  IcmpSocket            icmp4;
  IcmpSocket            icmp6;
  GHashTable           *icmp_pending;  /* seq → Probe (borrowed) */

  SoupSession          *session;
  gboolean              tls_insecure;

  GPtrArray            *rounds;        /* Round, in flight */
};

G_DEFINE_TYPE (PfProber, pf_prober, G_TYPE_OBJECT)

enum {
  SIGNAL_ROUND_FINISHED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

static void round_check (Round *round);

void
pf_round_result_free (PfRoundResult *result)
{
  if (result == NULL)
    return;
  g_free (result->summary);
  g_free (result);
}

static const char *
uplink_name (PfProber *self)
{
  return self->config->name != NULL ? self->config->name : "?";
}

static const char *
target_label (const PfProbeTarget *target)
{
  if (target->spec != NULL)
    return target->spec;
  return target->address != NULL ? target->address : "?";
}

/* Sockets */

static gboolean
bind_socket_fd (int          fd,
                const char  *ifname,
                guint32      mark,
                GError     **error)
{
  if (ifname == NULL || *ifname == '\0')
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_FAILED, "no interface");
      return FALSE;
    }

  if (setsockopt (fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, strlen (ifname) + 1) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "bind to %s: %s", ifname, g_strerror (saved_errno));
      return FALSE;
    }

  if (mark != 0 && setsockopt (fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "mark 0x%x: %s", mark, g_strerror (saved_errno));
      return FALSE;
    }

  return TRUE;
}

static int
open_bound_socket (int          family,
                   int          type,
                   int          protocol,
                   const char  *ifname,
                   guint32      mark,
                   GError     **error)
{
  int fd = socket (family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);

  if (fd < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "socket: %s", g_strerror (saved_errno));
      return -1;
    }

  if (!bind_socket_fd (fd, ifname, mark, error))
    {
      close (fd);
      return -1;
    }

  return fd;
}

static gboolean
sockaddr_from_inet (GInetAddress            *address,
                    guint16                  port,
                    struct sockaddr_storage *storage,
                    socklen_t               *length)
{
  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new (address, port);
  gssize size = g_socket_address_get_native_size (sa);

  if (size <= 0 || (gsize) size > sizeof *storage)
    return FALSE;
  if (!g_socket_address_to_native (sa, storage, size, NULL))
    return FALSE;
  *length = (socklen_t) size;
  return TRUE;
}

/* Probes */

static Probe *
probe_new (Round               *round,
           const PfProbeTarget *target)
{
  Probe *probe = g_rc_box_new0 (Probe);

  probe->round = round;
  probe->prober = round->prober;
  probe->target = target;
  probe->state = PROBE_PENDING;
  probe->rtt_us = -1;
  probe->fd = -1;
  probe->ip_header = IPV4_HEADER_LEN;
  return probe;
}

static void
probe_clear (gpointer data)
{
  Probe *probe = data;

  g_assert (probe->watch_id == 0);
  g_assert (probe->fd < 0);
  g_free (probe->reason);
  g_clear_object (&probe->address);
  g_clear_object (&probe->cancellable);
  g_free (probe->ifname);
  g_free (probe->bind_error);
}

static Probe *
probe_ref (Probe *probe)
{
  return g_rc_box_acquire (probe);
}

static void
probe_unref (gpointer probe)
{
  g_rc_box_release_full (probe, probe_clear);
}

static void
probe_unref_closure (gpointer  probe,
                     GClosure *closure)
{
  probe_unref (probe);
}

/* Stop everything a pending probe still has in flight. */
static void
probe_stop_io (Probe *probe)
{
  if (probe->in_icmp_table)
    {
      g_hash_table_remove (probe->prober->icmp_pending, GUINT_TO_POINTER (probe->seq));
      probe->in_icmp_table = FALSE;
    }

  g_clear_handle_id (&probe->watch_id, g_source_remove);

  if (probe->fd >= 0)
    {
      close (probe->fd);
      probe->fd = -1;
    }

  if (probe->cancellable != NULL)
    g_cancellable_cancel (probe->cancellable);
}

static void
probe_resolve (Probe      *probe,
               gboolean    answered,
               const char *reason)
{
  Round *round = probe->round;

  if (round == NULL || probe->state != PROBE_PENDING)
    return;

  probe_stop_io (probe);

  if (answered)
    {
      probe->state = PROBE_ANSWERED;
      probe->rtt_us = MAX (g_get_monotonic_time () - probe->sent_us, 0);
      round->n_answered++;
    }
  else
    {
      probe->state = PROBE_FAILED;
      probe->reason = g_strdup (reason != NULL ? reason : "failed");
    }
  round->n_resolved++;

  if (!round->starting)
    round_check (round);
}

static void
probe_fail_error (Probe        *probe,
                  const GError *error)
{
  probe_resolve (probe, FALSE, error->message);
}

static void
probe_fail_errno (Probe      *probe,
                  const char *what,
                  int         errnum)
{
  g_autofree char *reason = NULL;

  reason = what != NULL ? g_strdup_printf ("%s: %s", what, g_strerror (errnum))
                        : g_strdup (g_strerror (errnum));
  probe_resolve (probe, FALSE, reason);
}

static GInetAddress *
probe_parse_address (Probe *probe)
{
  GInetAddress *address = NULL;

  if (probe->target->address != NULL)
    address = g_inet_address_new_from_string (probe->target->address);
  if (address == NULL)
    {
      probe_resolve (probe, FALSE, "not an IP address");
      return NULL;
    }
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    probe->ip_header = IPV6_HEADER_LEN;
  return address;
}

/* ICMP */

static guint16
inet_checksum (const guint8 *data,
               gsize         length)
{
  guint32 sum = 0;

  for (gsize i = 0; i + 1 < length; i += 2)
    sum += (guint32) data[i] << 8 | data[i + 1];
  if (length & 1)
    sum += (guint32) data[length - 1] << 8;
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return g_htons ((guint16) ~sum);
}

static void
icmp_socket_close (IcmpSocket *sock)
{
  g_clear_handle_id (&sock->watch_id, g_source_remove);
  if (sock->fd >= 0)
    {
      close (sock->fd);
      sock->fd = -1;
    }
}

static void
icmp_handle_reply (PfProber     *self,
                   int           family,
                   const guint8 *icmp,
                   gsize         length,
                   GInetAddress *source)
{
  guint8 want_type = family == AF_INET ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY;
  guint16 id, seq;
  guint64 cookie;
  Probe *probe;

  if (length < 8 + ICMP_PAYLOAD_LEN || icmp[0] != want_type || icmp[1] != 0)
    return;

  memcpy (&id, icmp + 4, sizeof id);
  memcpy (&seq, icmp + 6, sizeof seq);
  memcpy (&cookie, icmp + 8, sizeof cookie);
  if (g_ntohs (id) != self->echo_id)
    return;

  probe = g_hash_table_lookup (self->icmp_pending, GUINT_TO_POINTER ((guint) g_ntohs (seq)));
  if (probe == NULL || probe->family != family || probe->cookie != cookie
      || !g_inet_address_equal (probe->address, source))
    return;

  probe->bytes += probe->ip_header + 8 + ICMP_PAYLOAD_LEN;
  probe_resolve (probe, TRUE, NULL);
}

static gboolean
icmp_readable_cb (int          fd,
                  GIOCondition condition,
                  gpointer     user_data)
{
  g_autoptr(PfProber) self = g_object_ref (PF_PROBER (user_data));
  int family = fd == self->icmp4.fd ? AF_INET : AF_INET6;

  /* Drain the socket; a reply may finish a round whose listener re-creates
   * the sockets, so check that ours is still open after each one. */
  for (guint i = 0; i < 256 && (fd == self->icmp4.fd || fd == self->icmp6.fd); i++)
    {
      guint8 buffer[1500];
      struct sockaddr_storage from;
      socklen_t from_len = sizeof from;
      g_autoptr(GSocketAddress) from_address = NULL;
      GInetAddress *source;
      gssize n;

      n = recvfrom (fd, buffer, sizeof buffer, MSG_DONTWAIT, (struct sockaddr *) &from, &from_len);
      if (n < 0)
        {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            g_debug ("%s: icmp receive: %s", uplink_name (self), g_strerror (errno));
          break;
        }

      from_address = g_socket_address_new_from_native (&from, from_len);
      if (!G_IS_INET_SOCKET_ADDRESS (from_address))
        continue;
      source = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (from_address));

      if (family == AF_INET)
        {
          /* IPv4 raw sockets hand us the IP header too. */
          gsize header;

          if (n < IPV4_HEADER_LEN)
            continue;
          header = (buffer[0] & 0x0f) * 4;
          if (header < IPV4_HEADER_LEN || (gsize) n < header)
            continue;
          icmp_handle_reply (self, family, buffer + header, n - header, source);
        }
      else
        {
          icmp_handle_reply (self, family, buffer, n, source);
        }
    }

  return G_SOURCE_CONTINUE;
}

static IcmpSocket *
icmp_socket_ensure (PfProber  *self,
                    int        family,
                    GError   **error)
{
  IcmpSocket *sock = family == AF_INET ? &self->icmp4 : &self->icmp6;
  int protocol = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  int fd;

  if (sock->fd >= 0)
    return sock;

  fd = open_bound_socket (family, SOCK_RAW, protocol, self->ifname, self->mark, error);
  if (fd < 0)
    return NULL;

  /* Only echo replies wake us up. Best effort: replies are matched anyway. */
  if (family == AF_INET)
    {
      guint32 filter = ~(1U << ICMP_ECHOREPLY);
      if (setsockopt (fd, SOL_RAW, ICMP_FILTER, &filter, sizeof filter) < 0)
        g_debug ("%s: ICMP_FILTER: %s", uplink_name (self), g_strerror (errno));
    }
  else
    {
      struct icmp6_filter filter;
      ICMP6_FILTER_SETBLOCKALL (&filter);
      ICMP6_FILTER_SETPASS (ICMP6_ECHO_REPLY, &filter);
      if (setsockopt (fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) < 0)
        g_debug ("%s: ICMP6_FILTER: %s", uplink_name (self), g_strerror (errno));
    }

  sock->fd = fd;
  sock->watch_id = g_unix_fd_add (fd, G_IO_IN, icmp_readable_cb, self);
  g_debug ("%s: icmp%s socket open on %s", uplink_name (self),
           family == AF_INET ? "" : "v6", self->ifname);
  return sock;
}

static void
icmp_probe_start (PfProber *self,
                  Probe    *probe)
{
  g_autoptr(GError) error = NULL;
  struct sockaddr_storage dest;
  socklen_t dest_len;
  guint8 packet[8 + ICMP_PAYLOAD_LEN] = { 0 };
  IcmpSocket *sock;
  guint16 id, seq;

  probe->address = probe_parse_address (probe);
  if (probe->address == NULL)
    return;
  probe->family = g_inet_address_get_family (probe->address) == G_SOCKET_FAMILY_IPV6 ? AF_INET6 : AF_INET;

  sock = icmp_socket_ensure (self, probe->family, &error);
  if (sock == NULL)
    {
      probe_fail_error (probe, error);
      return;
    }

  if (!sockaddr_from_inet (probe->address, 0, &dest, &dest_len))
    {
      probe_resolve (probe, FALSE, "bad address");
      return;
    }

  /* Skip sequence numbers still in flight (only after 65536 overlapping probes). */
  do
    probe->seq = ++self->echo_seq;
  while (g_hash_table_contains (self->icmp_pending, GUINT_TO_POINTER ((guint) probe->seq)));
  probe->cookie = ((guint64) g_random_int () << 32) | g_random_int ();

  packet[0] = probe->family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
  packet[1] = 0;
  id = g_htons (self->echo_id);
  seq = g_htons (probe->seq);
  memcpy (packet + 4, &id, sizeof id);
  memcpy (packet + 6, &seq, sizeof seq);
  memcpy (packet + 8, &probe->cookie, sizeof probe->cookie);
  if (probe->family == AF_INET)
    {
      guint16 sum = inet_checksum (packet, sizeof packet);
      memcpy (packet + 2, &sum, sizeof sum);
    }
  /* The kernel computes ICMPv6 checksums itself. */

  probe->sent_us = g_get_monotonic_time ();
  if (sendto (sock->fd, packet, sizeof packet, 0, (struct sockaddr *) &dest, dest_len) < 0)
    {
      int saved_errno = errno;

      /* The interface went away under a bound socket: open a new one next time. */
      if (saved_errno == ENODEV || saved_errno == ENXIO)
        icmp_socket_close (sock);
      probe_fail_errno (probe, "send", saved_errno);
      return;
    }

  probe->bytes += probe->ip_header + sizeof packet;
  g_hash_table_insert (self->icmp_pending, GUINT_TO_POINTER ((guint) probe->seq), probe);
  probe->in_icmp_table = TRUE;
}

/* TCP */

static void
tcp_close_with_reset (Probe *probe)
{
  struct linger linger = { .l_onoff = 1, .l_linger = 0 };

  /* A reset instead of a FIN handshake: fewer bytes, no TIME_WAIT. */
  if (probe->fd >= 0)
    (void) setsockopt (probe->fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
}

static void
tcp_connected (Probe *probe)
{
  /* SYN, SYN-ACK, ACK, RST */
  probe->bytes += 2 * (probe->ip_header + TCP_SYN_LEN) + 2 * (probe->ip_header + TCP_HEADER_LEN);
  tcp_close_with_reset (probe);
  probe_resolve (probe, TRUE, NULL);
}

static gboolean
tcp_writable_cb (int          fd,
                 GIOCondition condition,
                 gpointer     user_data)
{
  Probe *probe = user_data;
  int so_error = 0;
  socklen_t len = sizeof so_error;

  probe->watch_id = 0;   /* returning G_SOURCE_REMOVE */

  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
    so_error = errno;

  if (so_error == 0)
    {
      tcp_connected (probe);
    }
  else
    {
      /* A reset came back, or an ICMP error. */
      if (so_error == ECONNREFUSED)
        probe->bytes += probe->ip_header + TCP_HEADER_LEN;
      probe_fail_errno (probe, NULL, so_error);
    }

  return G_SOURCE_REMOVE;
}

static void
tcp_probe_start (PfProber *self,
                 Probe    *probe)
{
  g_autoptr(GInetAddress) address = NULL;
  g_autoptr(GError) error = NULL;
  struct sockaddr_storage dest;
  socklen_t dest_len;
  int family;

  address = probe_parse_address (probe);
  if (address == NULL)
    return;
  if (probe->target->port == 0 || !sockaddr_from_inet (address, probe->target->port, &dest, &dest_len))
    {
      probe_resolve (probe, FALSE, "bad address or port");
      return;
    }

  family = g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 ? AF_INET6 : AF_INET;
  probe->fd = open_bound_socket (family, SOCK_STREAM, IPPROTO_TCP, self->ifname, self->mark, &error);
  if (probe->fd < 0)
    {
      probe_fail_error (probe, error);
      return;
    }

  probe->sent_us = g_get_monotonic_time ();
  if (connect (probe->fd, (struct sockaddr *) &dest, dest_len) == 0)
    {
      tcp_connected (probe);
      return;
    }
  if (errno != EINPROGRESS)
    {
      probe_fail_errno (probe, "connect", errno);
      return;
    }

  probe->bytes += probe->ip_header + TCP_SYN_LEN;
  probe->watch_id = g_unix_fd_add (probe->fd, G_IO_OUT | G_IO_ERR | G_IO_HUP, tcp_writable_cb, probe);
}

/* DNS */

static GByteArray *
dns_build_query (guint16      id,
                 const char  *qname,
                 GError     **error)
{
  g_autoptr(GByteArray) query = g_byte_array_sized_new (64);
  const guint8 header[12] = {
    id >> 8, id & 0xff,
    0x01, 0x00,          /* standard query, recursion desired */
    0x00, 0x01,          /* one question */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  const guint8 tail[5] = { 0x00, 0x00, 0x01, 0x00, 0x01 };   /* root label, type A, class IN */
  g_auto(GStrv) labels = NULL;

  g_byte_array_append (query, header, sizeof header);

  if (qname != NULL && qname[0] != '\0' && g_strcmp0 (qname, ".") != 0)
    {
      labels = g_strsplit (qname, ".", -1);
      for (guint i = 0; labels[i] != NULL; i++)
        {
          gsize len = strlen (labels[i]);
          guint8 len_byte = (guint8) len;

          if (len == 0 && labels[i + 1] == NULL)
            break;    /* trailing dot */
          if (len == 0 || len > 63)
            {
              g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "bad query name “%s”", qname);
              return NULL;
            }
          g_byte_array_append (query, &len_byte, 1);
          g_byte_array_append (query, (const guint8 *) labels[i], len);
        }
      if (query->len - sizeof header > 254)
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "query name too long");
          return NULL;
        }
    }

  g_byte_array_append (query, tail, sizeof tail);
  return g_steal_pointer (&query);
}

static gboolean
dns_readable_cb (int          fd,
                 GIOCondition condition,
                 gpointer     user_data)
{
  Probe *probe = user_data;

  for (;;)
    {
      guint8 buffer[1500];
      gssize n = recv (fd, buffer, sizeof buffer, MSG_DONTWAIT);
      guint rcode;

      if (n < 0)
        {
          int saved_errno = errno;

          if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == EINTR)
            return G_SOURCE_CONTINUE;
          /* ECONNREFUSED: port unreachable came back. */
          probe->watch_id = 0;
          probe_fail_errno (probe, NULL, saved_errno);
          return G_SOURCE_REMOVE;
        }

      if (n < 12 || ((guint) buffer[0] << 8 | buffer[1]) != probe->dns_id || !(buffer[2] & 0x80))
        continue;

      probe->bytes += probe->ip_header + UDP_HEADER_LEN + n;
      rcode = buffer[3] & 0x0f;
      probe->watch_id = 0;
      if (rcode == 0 || rcode == 3)   /* NOERROR, NXDOMAIN */
        {
          probe_resolve (probe, TRUE, NULL);
        }
      else
        {
          g_autofree char *reason = g_strdup_printf ("DNS rcode %u", rcode);
          probe_resolve (probe, FALSE, reason);
        }
      return G_SOURCE_REMOVE;
    }
}

static void
dns_probe_start (PfProber *self,
                 Probe    *probe)
{
  g_autoptr(GInetAddress) address = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) query = NULL;
  struct sockaddr_storage dest;
  socklen_t dest_len;
  guint16 port = probe->target->port != 0 ? probe->target->port : 53;
  int family;

  address = probe_parse_address (probe);
  if (address == NULL)
    return;
  if (!sockaddr_from_inet (address, port, &dest, &dest_len))
    {
      probe_resolve (probe, FALSE, "bad address");
      return;
    }

  probe->dns_id = (guint16) g_random_int_range (0, 0x10000);
  query = dns_build_query (probe->dns_id, probe->target->qname, &error);
  if (query == NULL)
    {
      probe_fail_error (probe, error);
      return;
    }

  family = g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 ? AF_INET6 : AF_INET;
  probe->fd = open_bound_socket (family, SOCK_DGRAM, IPPROTO_UDP, self->ifname, self->mark, &error);
  if (probe->fd < 0)
    {
      probe_fail_error (probe, error);
      return;
    }

  /* connect() so that only the server's datagrams reach us. */
  if (connect (probe->fd, (struct sockaddr *) &dest, dest_len) < 0)
    {
      probe_fail_errno (probe, "connect", errno);
      return;
    }

  probe->sent_us = g_get_monotonic_time ();
  if (send (probe->fd, query->data, query->len, 0) < 0)
    {
      probe_fail_errno (probe, "send", errno);
      return;
    }

  probe->bytes += probe->ip_header + UDP_HEADER_LEN + query->len;
  probe->watch_id = g_unix_fd_add (probe->fd, G_IO_IN | G_IO_ERR, dns_readable_cb, probe);
}

/* HTTP, HTTPS */

static void
http_network_event_cb (SoupMessage        *msg,
                       GSocketClientEvent  event,
                       GIOStream          *connection,
                       gpointer            user_data)
{
  Probe *probe = user_data;
  g_autoptr(GError) error = NULL;
  GSocket *socket;

  if (event != G_SOCKET_CLIENT_CONNECTING || !G_IS_SOCKET_CONNECTION (connection))
    return;

  /* The socket exists, connect() has not been called yet. */
  socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (connection));
  if (!bind_socket_fd (g_socket_get_fd (socket), probe->ifname, probe->mark, &error))
    {
      /* Never let it connect unbound: that would follow the main table. */
      g_free (probe->bind_error);
      probe->bind_error = g_strdup (error->message);
      probe->bound = FALSE;
      g_socket_close (socket, NULL);
      g_cancellable_cancel (probe->cancellable);
      return;
    }

  probe->bound = TRUE;
  probe->bytes += probe->ip_header + TCP_SYN_LEN;   /* the SYN about to leave */
}

static gboolean
http_accept_certificate_cb (SoupMessage          *msg,
                            GTlsCertificate      *certificate,
                            GTlsCertificateFlags  errors,
                            gpointer              user_data)
{
  return TRUE;
}

static void
http_stream_closed_cb (GObject      *object,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  (void) g_input_stream_close_finish (G_INPUT_STREAM (object), result, NULL);
}

static guint64
http_bytes (Probe       *probe,
            SoupMessage *msg,
            gboolean     connected)
{
  SoupMessageMetrics *metrics = soup_message_get_metrics (msg);
  guint64 bytes;

  /* The SYN is counted when the socket is bound, just before connect(). */
  if (!connected)
    return 0;

  /* SYN-ACK, ACK, request, response, ACK, and a short close. */
  bytes = (probe->ip_header + TCP_SYN_LEN) + 7 * (probe->ip_header + TCP_HEADER_LEN);
  if (metrics != NULL)
    {
      goffset length = soup_message_headers_get_content_length (soup_message_get_response_headers (msg));

      bytes += soup_message_metrics_get_request_header_bytes_sent (metrics);
      bytes += soup_message_metrics_get_response_header_bytes_received (metrics);
      bytes += MAX (length, 0);
    }
  if (probe->target->kind == PF_PROBE_HTTPS)
    bytes += TLS_HANDSHAKE_BYTES;
  return bytes;
}

static void
http_sent_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  SoupSession *session = SOUP_SESSION (object);
  Probe *probe = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (session, result);
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(GError) error = NULL;

  stream = soup_session_send_finish (session, result, &error);

  if (stream != NULL)
    {
      /* Only the status matters: drop the connection rather than read the body. */
      g_cancellable_cancel (probe->cancellable);
      g_input_stream_close_async (stream, G_PRIORITY_DEFAULT, NULL, http_stream_closed_cb, NULL);
    }

  if (probe->round != NULL && probe->state == PROBE_PENDING)
    {
      if (stream == NULL)
        {
          probe->bytes += http_bytes (probe, msg, FALSE);
          probe_resolve (probe, FALSE, probe->bind_error != NULL ? probe->bind_error : error->message);
        }
      else if (!probe->bound)
        {
          probe_resolve (probe, FALSE, "connection was not bound to the interface");
        }
      else
        {
          guint status = soup_message_get_status (msg);

          probe->bytes += http_bytes (probe, msg, TRUE);
          if (status >= 200 && status < 400)
            {
              probe_resolve (probe, TRUE, NULL);
            }
          else
            {
              g_autofree char *reason = g_strdup_printf ("HTTP %u", status);
              probe_resolve (probe, FALSE, reason);
            }
        }
    }

  probe_unref (probe);
}

static char *
http_build_uri (const PfProbeTarget *target)
{
  const char *scheme = target->kind == PF_PROBE_HTTPS ? "https" : "http";
  guint16 port = target->port != 0 ? target->port : (target->kind == PF_PROBE_HTTPS ? 443 : 80);
  const char *path = target->path != NULL && target->path[0] == '/' ? target->path : "/";
  gboolean brackets = target->address != NULL && strchr (target->address, ':') != NULL;

  if (target->address == NULL || target->address[0] == '\0')
    return NULL;
  return g_strdup_printf ("%s://%s%s%s:%u%s", scheme,
                          brackets ? "[" : "", target->address, brackets ? "]" : "",
                          port, path);
}

static void
http_probe_start (PfProber *self,
                  Probe    *probe)
{
  g_autofree char *uri = http_build_uri (probe->target);
  g_autoptr(SoupMessage) msg = NULL;

  if (probe->target->address != NULL && strchr (probe->target->address, ':') != NULL)
    probe->ip_header = IPV6_HEADER_LEN;

  if (self->ifname == NULL || self->ifname[0] == '\0')
    {
      probe_resolve (probe, FALSE, "no interface");
      return;
    }

  if (uri != NULL)
    msg = soup_message_new (SOUP_METHOD_GET, uri);
  if (msg == NULL)
    {
      probe_resolve (probe, FALSE, "bad URI");
      return;
    }

  /* A new connection every time, closed after the response: an idle
   * connection kept from an earlier round must not hide a dead link. */
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT | SOUP_MESSAGE_NEW_CONNECTION
                               | SOUP_MESSAGE_COLLECT_METRICS);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Connection", "close");

  probe->ifname = g_strdup (self->ifname);
  probe->mark = self->mark;
  probe->cancellable = g_cancellable_new ();

  g_signal_connect_data (msg, "network-event", G_CALLBACK (http_network_event_cb),
                         probe_ref (probe), probe_unref_closure, 0);
  if (self->tls_insecure)
    g_signal_connect (msg, "accept-certificate", G_CALLBACK (http_accept_certificate_cb), NULL);

  probe->sent_us = g_get_monotonic_time ();
  soup_session_send_async (self->session, msg, G_PRIORITY_DEFAULT, probe->cancellable,
                           http_sent_cb, probe_ref (probe));
}

/* Rounds */

static void
round_free (Round *round)
{
  g_clear_handle_id (&round->timeout_id, g_source_remove);
  if (round->cancel_source != NULL)
    {
      g_source_destroy (round->cancel_source);
      g_clear_pointer (&round->cancel_source, g_source_unref);
    }
  g_clear_pointer (&round->probes, g_ptr_array_unref);
  g_clear_object (&round->task);
  g_free (round);
}

/* Stop what is still in flight and cut the probes loose from the round. */
static void
round_detach (Round *round)
{
  for (guint i = 0; i < round->probes->len; i++)
    {
      Probe *probe = g_ptr_array_index (round->probes, i);

      probe_stop_io (probe);
      probe->round = NULL;
    }
  g_clear_handle_id (&round->timeout_id, g_source_remove);
  g_ptr_array_remove (round->prober->rounds, round);
}

static PfRoundResult *
round_build_result (Round    *round,
                    gboolean  timed_out)
{
  PfRoundResult *result = g_new0 (PfRoundResult, 1);
  g_autoptr(GString) summary = g_string_new (NULL);
  gint64 rtt_sum = 0;

  result->sent = round->probes->len;
  result->answered = round->n_answered;
  result->quorum = round->quorum;
  result->finished_us = g_get_monotonic_time ();

  g_string_printf (summary, "%u/%u answered:", result->answered, result->sent);
  for (guint i = 0; i < round->probes->len; i++)
    {
      Probe *probe = g_ptr_array_index (round->probes, i);

      result->bytes += probe->bytes;
      g_string_append_printf (summary, "%s %s ", i > 0 ? "," : "", target_label (probe->target));
      switch (probe->state)
        {
        case PROBE_ANSWERED:
          rtt_sum += probe->rtt_us;
          g_string_append_printf (summary, "%.1f ms", probe->rtt_us / 1000.0);
          break;
        case PROBE_FAILED:
          g_string_append (summary, probe->reason);
          break;
        case PROBE_PENDING:
        default:
          /* Not waited for once the quorum answered. */
          g_string_append (summary, timed_out ? "timeout" : "not waited for");
          break;
        }
    }

  result->rtt_us = result->answered > 0 ? rtt_sum / result->answered : -1;
  result->summary = g_string_free (g_steal_pointer (&summary), FALSE);
  return result;
}

static void
round_finish (Round    *round,
              gboolean  timed_out)
{
  g_autoptr(PfProber) self = g_object_ref (round->prober);
  g_autoptr(PfRoundResult) result = round_build_result (round, timed_out);

  round_detach (round);

  g_debug ("%s: round %s after %.1f ms: %s", uplink_name (self),
           result->answered >= result->quorum ? "ok" : "failed",
           (result->finished_us - round->started_us) / 1000.0, result->summary);

  if (round->task != NULL)
    {
      GTask *task = g_steal_pointer (&round->task);

      round_free (round);
      g_task_return_pointer (task, g_steal_pointer (&result), (GDestroyNotify) pf_round_result_free);
      g_object_unref (task);
      return;
    }

  round_free (round);
  g_signal_emit (self, signals[SIGNAL_ROUND_FINISHED], 0, result);
}

/* A scheduled round waits for every probe, so that answered/sent is the
 * loss the health module measures; a one-off round (a test) may stop at
 * the quorum. */
static void
round_check (Round *round)
{
  if (round->n_resolved >= round->probes->len ||
      (round->task != NULL && round->n_answered >= round->quorum))
    round_finish (round, FALSE);
}

static gboolean
round_timeout_cb (gpointer user_data)
{
  Round *round = user_data;

  round->timeout_id = 0;
  round_finish (round, TRUE);
  return G_SOURCE_REMOVE;
}

/* Drop a round without reporting it (stop, dispose, cancelled run_once). */
static void
round_abort (Round *round)
{
  GTask *task = g_steal_pointer (&round->task);

  round_detach (round);
  round_free (round);
  if (task != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Probe round cancelled");
      g_object_unref (task);
    }
}

static gboolean
round_cancelled_cb (GCancellable *cancellable,
                    gpointer      user_data)
{
  round_abort (user_data);
  return G_SOURCE_REMOVE;
}

/* A round over targets [first, first + count) of the configuration. */
static void
round_start (PfProber *self,
             GTask    *task,
             guint     first,
             guint     count)
{
  g_autoptr(PfProber) keep = g_object_ref (self);
  Round *round = g_new0 (Round, 1);
  GPtrArray *targets = self->config->targets;
  guint len = targets != NULL ? targets->len : 0;
  guint n_targets = (first < len && count < len - first) ? first + count : len;

  round->prober = self;
  round->probes = g_ptr_array_new_full (n_targets, probe_unref);
  /* A round of fewer targets than the quorum needs them all. */
  round->quorum = CLAMP (self->config->quorum, 1, MAX (n_targets, first + 1) - first);
  round->task = task != NULL ? g_object_ref (task) : NULL;
  round->started_us = g_get_monotonic_time ();
  round->starting = TRUE;
  g_ptr_array_add (self->rounds, round);

  /* Sockets failed to open last round are tried again this round. */
  for (guint i = first; i < n_targets; i++)
    {
      const PfProbeTarget *target = g_ptr_array_index (targets, i);
      Probe *probe = probe_new (round, target);

      g_ptr_array_add (round->probes, probe);
      switch (target->kind)
        {
        case PF_PROBE_ICMP:
          icmp_probe_start (self, probe);
          break;
        case PF_PROBE_TCP:
          tcp_probe_start (self, probe);
          break;
        case PF_PROBE_DNS:
          dns_probe_start (self, probe);
          break;
        case PF_PROBE_HTTP:
        case PF_PROBE_HTTPS:
          http_probe_start (self, probe);
          break;
        default:
          probe_resolve (probe, FALSE, "unknown probe kind");
          break;
        }
    }

  round->starting = FALSE;
  round->timeout_id = g_timeout_add (MAX (self->config->timeout_ms, 1), round_timeout_cb, round);

  if (task != NULL && g_task_get_cancellable (task) != NULL)
    {
      round->cancel_source = g_cancellable_source_new (g_task_get_cancellable (task));
      g_source_set_callback (round->cancel_source, G_SOURCE_FUNC (round_cancelled_cb), round, NULL);
      g_source_attach (round->cancel_source, g_main_context_get_thread_default ());
    }

  if (n_targets == 0)
    round_finish (round, FALSE);
  else
    round_check (round);
}

/* Schedule */

static guint
current_interval (PfProber *self)
{
  guint interval = self->fast ? self->config->fast_interval_ms : self->config->interval_ms;

  return MAX (interval, 10);
}

static gboolean tick_cb (gpointer user_data);

static void
schedule (PfProber *self,
          guint     delay_ms)
{
  g_clear_handle_id (&self->timer_id, g_source_remove);
  self->timer_id = g_timeout_add (delay_ms, tick_cb, self);
}

static gboolean
tick_cb (gpointer user_data)
{
  PfProber *self = PF_PROBER (user_data);

  self->timer_id = 0;
  /* Next one first: a listener of this round may reschedule or stop. */
  schedule (self, current_interval (self));
  round_start (self, NULL, 0, G_MAXUINT);
  return G_SOURCE_REMOVE;
}

/* GObject */

static void
pf_prober_dispose (GObject *object)
{
  PfProber *self = PF_PROBER (object);

  g_clear_handle_id (&self->timer_id, g_source_remove);
  self->running = FALSE;

  while (self->rounds->len > 0)
    round_abort (g_ptr_array_index (self->rounds, self->rounds->len - 1));

  icmp_socket_close (&self->icmp4);
  icmp_socket_close (&self->icmp6);

  if (self->session != NULL)
    soup_session_abort (self->session);
  g_clear_object (&self->session);

  G_OBJECT_CLASS (pf_prober_parent_class)->dispose (object);
}

static void
pf_prober_finalize (GObject *object)
{
  PfProber *self = PF_PROBER (object);

  g_ptr_array_unref (self->rounds);
  g_hash_table_unref (self->icmp_pending);
  g_free (self->ifname);

  G_OBJECT_CLASS (pf_prober_parent_class)->finalize (object);
}

static void
pf_prober_class_init (PfProberClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pf_prober_dispose;
  object_class->finalize = pf_prober_finalize;

  /**
   * PfProber::round-finished:
   * @result: (type PfRoundResult): the round, valid during the emission only
   *
   * A scheduled round finished (quorum reached, all resolved, or timeout).
   */
  signals[SIGNAL_ROUND_FINISHED] =
    g_signal_new ("round-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
pf_prober_init (PfProber *self)
{
  self->icmp4.fd = -1;
  self->icmp6.fd = -1;
  self->echo_id = (guint16) g_random_int_range (1, 0x10000);
  self->echo_seq = (guint16) g_random_int_range (0, 0x10000);
  self->icmp_pending = g_hash_table_new (NULL, NULL);
  self->rounds = g_ptr_array_new ();
  self->tls_insecure = g_strcmp0 (g_getenv ("PF_PROBE_TLS_INSECURE"), "1") == 0;
}

PfProber *
pf_prober_new (const PfUplinkConfig *config,
               const char           *ifname,
               guint32               mark)
{
  PfProber *self;
  g_autofree char *user_agent = NULL;

  g_return_val_if_fail (config != NULL, NULL);

  self = g_object_new (PF_TYPE_PROBER, NULL);
  self->config = config;
  self->ifname = g_strdup (ifname);
  self->mark = mark;

  user_agent = g_strdup_printf ("pvefailover/%s", PACKAGE_VERSION);
  self->session = g_object_new (SOUP_TYPE_SESSION,
                                "max-conns", 64,
                                "max-conns-per-host", 16,
                                "user-agent", user_agent,
                                NULL);
  /* Straight to the target: a proxy would test the proxy's link. */
  soup_session_set_proxy_resolver (self->session, NULL);

  if (self->tls_insecure)
    g_warning ("%s: PF_PROBE_TLS_INSECURE=1: TLS certificates are not checked", uplink_name (self));

  return self;
}

void
pf_prober_start (PfProber *self)
{
  g_return_if_fail (PF_IS_PROBER (self));

  if (self->running)
    return;
  self->running = TRUE;
  schedule (self, 0);
}

void
pf_prober_stop (PfProber *self)
{
  g_return_if_fail (PF_IS_PROBER (self));

  self->running = FALSE;
  g_clear_handle_id (&self->timer_id, g_source_remove);

  /* Scheduled rounds in flight are dropped; run_once rounds carry on. */
  for (guint i = self->rounds->len; i > 0; i--)
    {
      Round *round = g_ptr_array_index (self->rounds, i - 1);

      if (round->task == NULL)
        round_abort (round);
    }
}

gboolean
pf_prober_is_running (PfProber *self)
{
  g_return_val_if_fail (PF_IS_PROBER (self), FALSE);

  return self->running;
}

void
pf_prober_set_fast (PfProber *self,
                    gboolean  fast)
{
  g_return_if_fail (PF_IS_PROBER (self));

  fast = !!fast;
  if (self->fast == fast)
    return;
  self->fast = fast;
  if (self->running)
    schedule (self, current_interval (self));
}

void
pf_prober_set_ifname (PfProber   *self,
                      const char *ifname)
{
  g_return_if_fail (PF_IS_PROBER (self));

  g_debug ("%s: interface %s → %s", uplink_name (self),
           self->ifname != NULL ? self->ifname : "(none)", ifname != NULL ? ifname : "(none)");

  g_free (self->ifname);
  self->ifname = g_strdup (ifname);

  /* Sockets bound to the old interface index are useless now, even under the
   * same name; ICMP probes in flight on them will time out. */
  icmp_socket_close (&self->icmp4);
  icmp_socket_close (&self->icmp6);
}

void
pf_prober_run_once_async (PfProber            *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (PF_IS_PROBER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, pf_prober_run_once_async);

  if (g_task_return_error_if_cancelled (task))
    return;

  round_start (self, task, 0, G_MAXUINT);
}

void
pf_prober_run_target_async (PfProber            *self,
                            guint                index,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (PF_IS_PROBER (self));
  g_return_if_fail (index < self->config->targets->len);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, pf_prober_run_once_async);

  if (g_task_return_error_if_cancelled (task))
    return;

  round_start (self, task, index, 1);
}

PfRoundResult *
pf_prober_run_once_finish (PfProber      *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (PF_IS_PROBER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
