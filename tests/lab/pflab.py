#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pflab: the pvefailover network lab, a real network made of network namespaces.

Run with /usr/bin/python3 as root. Standard library only.

Topology (namespace NAME is really "<prefix>-NAME"; prefix defaults to "pf" + 4 hex digits,
so several labs can coexist; interface names are fixed, they are per namespace):

    guest-ok 10.10.0.29 ─┐                        ┌─ box (primary router, NAT) ─────┐
    guest-no 10.10.0.39 ─┴─ vmbr1 10.10.0.1 ─ host ┤ vmbr0 192.168.2.28 ↔ lan .2.254 │ wan 203.0.113.2 ↔ 203.0.113.1
                              (NetworkManager)     └─ enx001e101f0000 ↔ modem lan 192.168.8.1
                                                     (NM profile "lte": 192.168.8.100/24, metric 700)
                                                     modem (NAT) wan 203.0.113.6 ↔ 203.0.113.5 ─ inet
                                                     remote (a VPS) eth0 203.0.113.10 ↔ 203.0.113.9 ─ inet

  inet   lo: 198.51.100.10/.11/.12 (ICMP targets; TCP 443 listeners on all three),
         198.51.100.53 (DNS, UDP 53: every A query answers 198.51.100.80),
         198.51.100.80 (HTTP 80: GET /health -> 204, GET / -> 200 "ok"),
         198.51.100.11:9999 UDP sink for UdpStream.
         links: to-box 203.0.113.1/30, to-modem 203.0.113.5/30, to-remote 203.0.113.9/30.
         ip_forward=1, but its nft table "ip pflab" forwards only to and from to-remote.
  box    wan 203.0.113.2/30 (default via .1), lan 192.168.2.254/24, route 10.10.0.0/24 via
         192.168.2.28, masquerade out of wan (nft table "ip pflab"), ip_forward=1.
         192.168.2.254:53 UDP: the box's resolver (box.example -> 192.0.2.1, any other A
         query -> 198.51.100.80), reachable from host only through the primary.
  modem  wan 203.0.113.6/30 (default via .5), lan 192.168.8.1/24, masquerade out of wan,
         ip_forward=1. 192.168.8.1:80 is free for a fake HiLink API (Lab(modem_api=argv)).
  host   vmbr0 192.168.2.28/24 default via 192.168.2.254, set with `ip` (like ifupdown);
         enx001e101f0000 (MAC 00:1e:10:1f:00:00) left to NetworkManager; bridge vmbr1
         10.10.0.1/24 with ports vg-ok, vg-no; ip_forward=1; rp_filter=2 (loose).
  guest-ok / guest-no: eth0 10.10.0.29/24 / 10.10.0.39/24, default via 10.10.0.1.
  remote eth0 203.0.113.10/30 default via 203.0.113.9: a VPS on the internet, no NAT, no
         servers unless a test starts them (wireguard_up, serve_http). It sees the host's
         traffic from SRC_PRIMARY or SRC_BACKUP depending on the path it took.
  IPv6 is disabled everywhere, unless Lab(ipv6=True).

Lab(ipv6=True) adds IPv6 on the same links, documentation prefixes, routed without any NAT
(addresses are usable at once: accept_dad=0 and nodad; keep_addr_on_down=1):
  inet   lo: 2001:db8:100::10/::11/::12 (ICMPv6 targets; TCP 443 listeners), ::53 (DNS, as
         for IPv4), ::80 (HTTP 80, as for IPv4), [2001:db8:100::11]:9999 UDP sink.
         to-box 2001:db8:ff::1/64, to-modem 2001:db8:fe::1/64; routes 2001:db8:2::/64 and
         2001:db8:10::/64 via box, 2001:db8:8::/64 via modem.
  box    wan 2001:db8:ff::2/64 (default via ::1), lan 2001:db8:2::1/64, route 2001:db8:10::/64
         via 2001:db8:2::28; forwarding=1.
  modem  wan 2001:db8:fe::2/64 (default via ::1), lan 2001:db8:8::1/64; forwarding=1.
  host   vmbr0 2001:db8:2::28/64 default via 2001:db8:2::1 (set with `ip`, metric 1024 like
         ifupdown); vmbr1 2001:db8:10::1/64; forwarding=1. NM profile "lte" also gets ipv6
         method=manual 2001:db8:8::100/64 gateway 2001:db8:8::1, route-metric 2048 (above the
         primary's 1024).
  guest-ok / guest-no: eth0 2001:db8:10::29/64 / ::39/64, default via 2001:db8:10::1.
  The source address tells the path without NAT: SRC6_PRIMARY 2001:db8:2::28 (the host through
  box), SRC6_BACKUP 2001:db8:8::100 (the host through modem, or a guest with NAT66), a guest's
  own address (through box).

Lab(wwan=True) adds a ModemManager-style LTE modem's data path (the modem itself is a fake
ModemManager the test starts on the lab bus, see fake_mm.py):
  host   wwan0 (no address, down: NetworkManager configures it when the bearer connects)
         ↔ modem wwan 10.64.0.1/30; the modem masquerades it out of its wan like its lan,
         so traffic via wwan0 reaches inet from SRC_BACKUP 203.0.113.6.
  NM     also manages the modem device cdc-wdm0 (keyfile unmanaged-devices exception and a
         [device-modem] section); gsm profile "lte-mm" (MM_CONNECTION): interface-name cdc-wdm0,
         apn internet, ipv4 auto, ipv6 disabled, autoconnect false, route-metric 700.
  A fake modem whose 'Connect' options are {'interface': 'wwan0', 'address': '10.64.0.2',
  'prefix': 30, 'gateway': '10.64.0.1', 'dns': [...]} makes "lte-mm" work through NM.
The default (wwan=False) builds none of this.

Lab(tunnel=True) adds a tunnel uplink that rides the LTE stick and keeps a public address
(VXLAN: the only tunnel type of the lab kernel, which has no GRE, IPIP or kernel WireGuard):
  inet   lo: TUNNEL_SERVER 198.51.100.100/32, the tunnel's far end; VXLAN device vx-srv
         (TUNNEL_SERVER_IF: id 42, local 198.51.100.100, remote SRC_BACKUP 203.0.113.6 (the
         host's underlay is masqueraded by the modem), dstport 4789, srcport 4789 only,
         nolearning, mtu 1450), 100.64.0.1/30 (TUNNEL_GATEWAY), up. Replies to 100.64.0.2
         leave through it (connected), so what came through the tunnel reaches inet's servers
         from SRC_TUNNEL 100.64.0.2, "the public address kept by the tunnel".
         nolearning: the server sends to SRC_BACKUP:4789 only, whatever address the host's
         packets came from; its packets reach the host only through the modem's conntrack
         entry of the host's flow (192.168.8.100:4789 -> 198.51.100.100:4789, masqueraded to
         203.0.113.6:4789): the host's underlay must leave through the modem.
  modem  table ip pflab_tunnel: input from wan to UDP 4789 dropped (a carrier's NAT keeps no
         state for unsolicited packets; without it a server packet that came first would hold
         port 4789 in the modem's conntrack and push the host's flow to another port).
  NM     profile "tunnel" (TUNNEL_CONNECTION): type vxlan, interface-name vxtun0 (TUNNEL_IF,
         created by NM on activation, deleted on deactivation; managed: keyfile
         unmanaged-devices exception and a [device-pflab-tunnel] section), [vxlan] id 42,
         remote 198.51.100.100, destination-port 4789, source-port-min 4789,
         source-port-max 4790 (excluded by the kernel: always 4789), no parent (the underlay
         follows the routing), [ethernet] mtu 1450; ipv4 manual 100.64.0.2/30 gateway
         100.64.0.1 route-metric 800, ipv6 disabled, autoconnect false.
  The tunnel works once its underlay is routed through the stick, as the daemon does:
      ip rule add to 198.51.100.100 lookup T; ip route add default via 192.168.8.1
      dev enx001e101f0000 table T
  (and nothing blocks it there, such as the daemon's standby block). Left to the main table
  its underlay leaves through the primary and the tunnel is dead (the server's answers are
  dropped by the modem), unless the modem still holds the entry of an earlier flow through
  it: UDP stays 30 s unreplied, 120 s assured. A guest through the tunnel needs a rule to a
  table with default via 100.64.0.1 dev vxtun0 and a masquerade out of vxtun0; it then
  reaches inet from SRC_TUNNEL.
The default (tunnel=False) builds none of this.

NetworkManager runs in host on a private system bus (dbus-daemon, permissive policy, socket in
the work directory), with /sys read-only, private tmpfs on /run and /var/lib/NetworkManager and
/etc/resolv.conf hidden behind a bind mount (dns=none, rc-manager=unmanaged as well).
Lab(nm_dns=True) runs it with dns=default, rc-manager=file instead, writing the /etc/resolv.conf
of a private /etc (an overlay in its mount namespace): read it with lab.nm_resolv_conf(),
resolve through it with lab.nm_getent_hosts(name).
The host namespace always has its own /etc/resolv.conf: /etc/netns/<prefix>-host/resolv.conf,
which `ip netns exec` bind-mounts over /etc/resolv.conf for everything run in host (down() removes
it), so a daemon rewriting it on failover never touches the machine's. Its text is
Lab(host_resolv_conf=TEXT), by default a comment alone (no resolver).

API (everything raises LabError on trouble):

    with Lab(prefix=None, workdir=None, lte_autoconnect=True, modem_api=None, wwan=False,
             ipv6=False, host_resolv_conf=None, nm_dns=False, tunnel=False) as lab:
        # __enter__ calls up() (well under a second; it does not wait for "lte": use
        # nm_wait_activated); __exit__ calls down(), which also runs at exit and on SIGTERM.
        # workdir defaults to /tmp/pflab-<prefix>; down() deletes it, except after an
        # exception in the with block (logs of every process are in workdir/logs/).
        # modem_api: argv started in modem after up() (the fake HiLink API on 192.168.8.1:80).
        # wwan: also the wwan0 data path and the gsm profile "lte-mm" (see above).
        # ipv6: IPv6 on every link as well (see above).
        # tunnel: also the VXLAN tunnel over the stick and its profile "tunnel" (see above).
        lab.prefix, lab.workdir, lab.bus_address, lab.up_seconds
        lab.ns('host') -> 'pfXXXX-host'
        lab.run(ns, *argv, check=True, env=None, timeout=30, input=None) -> CompletedProcess
            (text output captured; ns=None runs outside the lab namespaces; a failure raises
             LabCommandError, a CalledProcessError whose message has stderr)
        lab.spawn(ns, *argv, env=None, stdout=None, stderr=None, stdin=None, cwd=None) -> Popen
            (own process group, killed by down(); output goes to a log file in workdir
             unless stdout/stderr are given; the Popen has .log_path)
        lab.host_env(extra=None) -> dict   (DBUS_SYSTEM_BUS_ADDRESS set to the private bus)
        lab.wait_bus_name(name, timeout=10, proc=None) -> True (LabError on timeout or if proc dies)
        lab.nmcli(*args, check=True, timeout=20) -> CompletedProcess
        lab.nm_wait_activated(conn='lte', timeout=20) -> True (LabError on timeout)
        lab.nm_connection_state(conn='lte') -> 'activated' | 'activating' | ... | ''
        lab.nm_device_state(ifname=HOST_BACKUP_IF) -> 'connected' | 'unmanaged' | ...
        lab.tunnel_state() -> nm_connection_state('tunnel'): '' while inactive (tunnel=True)
        lab.start_polkit_mock() -> PolkitMock  (.set_allowed([...]), .allow_unknown(b),
                                                .call(method, *gvariant_text_args), .stop())
        # faults: each idempotent
        lab.blackhole(on)        box silently drops everything it forwards
        lab.primary_link(up)     box's lan veth down/up: host's vmbr0 loses/regains carrier
        lab.loss(percent)        box drops N % of what it forwards from the host side; 0 removes
        lab.backup_dead(on)      modem drops everything it forwards
        lab.backup_link(up)      modem's lan veth down/up: host's enx001e101f0000 carrier
        lab.dns_down(on)         the DNS responder stops answering (queries time out)
        lab.tunnel_server(up)    vx-srv down/up in inet: the tunnel's far end dies or comes
                                 back (tunnel=True; its packets then get port unreachable)
        lab.faults() -> {'blackhole': bool, 'loss': int, 'primary_link': bool,
                         'backup_dead': bool, 'backup_link': bool, 'dns_down': bool}
                        (+ 'tunnel_server': bool when the lab has the tunnel)
        # measurement
        # dst, addr, server and url may be IPv6 literals (http://[2001:db8:100::80]/) as well
        lab.ping(ns, dst, count=1, timeout=1, iface=None) -> bool   (any reply)
        lab.ping_loss(ns, dst, count=200, interval=0.01, timeout=1, iface=None) -> float %
        lab.dns_query(ns, name='check.example', server=DNS_ADDR, timeout=1) -> str | None
        lab.http_get(ns, url, timeout=2, iface=None) -> (status, body) | None
        lab.tcp_connect(ns, addr, port, timeout=1, iface=None) -> bool
        lab.getent_hosts(ns, name, timeout=10) -> str | None   (first address of getent hosts)
        lab.host_resolv_conf_path() -> /etc/netns/<prefix>-host/resolv.conf
        # Lab(nm_dns=True): NetworkManager's own resolv.conf and global DNS
        lab.nm_getent_hosts(name, timeout=10) -> str | None
        lab.nm_resolv_conf() -> str
        lab.nm_global_dns() -> str   (gdbus text of GlobalDnsConfiguration)
        lab.nm_set_global_dns(gvariant_text)
        lab.iface_bytes(ns, ifname) -> int   (rx_bytes + tx_bytes)
        lab.conntrack(ns, *args, check=False) -> CompletedProcess
        lab.udp_stream(ns, interval=0.02, iface=None, dst=UDP_SINK) -> UdpStream (not started)

    UdpStream(lab, ns, interval=0.02, iface=None, dst=UDP_SINK): start(), stop(), context manager;
        sends (id, seq, CLOCK_MONOTONIC send time) to dst (198.51.100.11:9999, or UDP_SINK6)
        every interval from one socket (one flow); the sink in inet records (recv time, source, seq).
        records() -> [Arrival(seq, sent, recv, src)]
        first_arrival_via(src, after=None) -> Arrival | None
        wait_arrival_via(src, after=None, timeout=5) -> Arrival | None
        last_arrival(src=None) -> Arrival | None
        count_via(src, after=None, before=None) -> int
        The source address tells the path: SRC_PRIMARY 203.0.113.2 (box), SRC_BACKUP
        203.0.113.6 (modem), SRC_TUNNEL 100.64.0.2 (the tunnel, tunnel=True).
        time.monotonic() is the same clock in every namespace.

    # remote access (opt-in: nothing of this runs unless called)
        lab.wireguard_up(fwmark=None, keepalive=25, timeout=5) -> WgTunnel(host_if, remote_if,
                host_addr '10.99.0.1', remote_addr '10.99.0.2', host_pubkey, remote_pubkey, port 51820)
            wireguard-go -f (spawned: down() kills it and removes stale sockets) in remote, the
            server (listen-port 51820, 10.99.0.2/24, peer host allowed-ips 10.99.0.1/32, no
            endpoint), and in host, the client (10.99.0.1/24, peer endpoint 203.0.113.10:51820,
            allowed-ips 10.99.0.2/32, persistent-keepalive KEEPALIVE (0/None: off), `wg set IF
            fwmark FWMARK` if given). Keys from wg genkey in workdir/wg-{host,remote}.key (0600).
            Returns once both interfaces are UP,LOWER_UP; the first handshake follows at once.
            Once per lab: LabError if its tunnel is up already.
            Interface names: lab.wg_ifnames() -> ('wg' + 4 hex digits of the prefix, 'wr' + the
            same): a "wg*" pattern matches the host's; unique per lab, as wireguard-go's
            sockets (/var/run/wireguard/NAME.sock) are shared by every namespace.
            The remote sees the host's packets from SRC_PRIMARY:port via box, SRC_BACKUP:port
            via the modem (`ip rule fwmark FWMARK lookup T` + a default route via 192.168.8.1
            dev enx001e101f0000 in T moves them: the endpoint changes with the next packet).
        lab.wg_show(ns, ifname, what) -> `wg show IFNAME WHAT` parsed: {peer pubkey: value} for
            endpoints ('ip:port' | None), latest-handshakes (int, 0 never), transfer ((rx, tx)),
            allowed-ips ([str]), persistent-keepalive (int | None), preshared-keys; [pubkey]
            for peers; int for listen-port and fwmark (0: off); str for public-key.
        lab.serve_http(ns, port, body) -> Popen   HTTP on 0.0.0.0:PORT in ns (spawned), every
            GET/HEAD answers 200 text/plain BODY; returns once it listens.
        lab.http_clients(ns, port) -> [client IP, ...] of the requests it answered, in order
            (e.g. '10.99.0.2' for a port forward from the tunnel without masquerade).
        lab.start_zerotier(network=ZT_NETWORK, port=ZT_API_PORT, ns='host', extra=()) -> FakeZeroTier
            fake_zerotier.py (the ZeroTier One local service API, see its docstring) on
            127.0.0.1:PORT in ns, joined to network; its token in a 0600 authtoken.secret;
            extra: more arguments (--device ztX, --assigned CIDR, --peer ZTADDR=IP/PORT, ...).
            .token, .token_file, .port, .log_path, .control_path
            .requests() -> [{'method', 'path', 'authorized', 'status', 'time' (monotonic), 'body'?}]
            .control(**values)   faults and overrides (online, networks, peers, fault)
            .stop()

    Lab.attach(prefix=None, workdir=None) -> Lab   (a lab left running by `pflab.py up`)

Constants: NAMESPACES, TARGETS, DNS_ADDR, HTTP_ADDR, UDP_SINK, SRC_PRIMARY, SRC_BACKUP,
HOST_PRIMARY_IF, HOST_BACKUP_IF, HOST_LAN_BRIDGE, HOST_ADDR, BOX_LAN_ADDR, BOX_DNS_NAMES,
HOST_RESOLV_CONF_DEFAULT, MODEM_MGMT, LTE_ADDR, GUEST_OK, GUEST_NO, LTE_CONNECTION, REMOTE_ADDR,
WG_PORT, WG_HOST_ADDR, WG_REMOTE_ADDR, WG_SOCKET_DIR, ZT_NETWORK, ZT_API_PORT; with wwan=True:
WWAN_IF, WWAN_MODEM_ADDR, WWAN_HOST_ADDR, MM_PORT, MM_CONNECTION; with tunnel=True: TUNNEL_SERVER,
TUNNEL_SERVER_IF, TUNNEL_CONNECTION, TUNNEL_IF, TUNNEL_VNI, TUNNEL_PORT, TUNNEL_GATEWAY, SRC_TUNNEL,
TUNNEL_MTU; with ipv6=True: TARGETS6,
DNS6_ADDR, HTTP6_ADDR, UDP_SINK6, SRC6_PRIMARY, SRC6_BACKUP, HOST_ADDR6, LTE_ADDR6,
LTE_GATEWAY6, GUEST_OK6, GUEST_NO6.

CLI (for humans; every command but up takes --prefix P when several labs are up):
    pflab.py up [--prefix P] [--no-lte-autoconnect] [--wait-lte] [--ipv6] [--tunnel]
                                                             build and leave running
    pflab.py status                                          namespaces, faults, NM, reachability
    pflab.py fault blackhole on|off | primary-link up|down | loss N | backup-dead on|off
                   | backup-link up|down | dns-down on|off | tunnel-server up|down
    pflab.py exec NS [CMD...]                                run in a namespace with the lab bus
    pflab.py down
"""

import argparse
import atexit
import collections
import glob
import hashlib
import http.server
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

SELF = os.path.abspath(__file__)
PYTHON = '/usr/bin/python3'

NAMESPACES = ('inet', 'box', 'modem', 'host', 'guest-ok', 'guest-no', 'remote')

TARGETS = ('198.51.100.10', '198.51.100.11', '198.51.100.12')
DNS_ADDR = '198.51.100.53'
HTTP_ADDR = '198.51.100.80'
UDP_SINK = ('198.51.100.11', 9999)
SRC_PRIMARY = '203.0.113.2'
SRC_BACKUP = '203.0.113.6'
REMOTE_ADDR = '203.0.113.10'   # the VPS on the internet (namespace remote)
REMOTE_GW = '203.0.113.9'      # inet's end of the remote's link

HOST_PRIMARY_IF = 'vmbr0'
HOST_BACKUP_IF = 'enx001e101f0000'
HOST_BACKUP_MAC = '00:1e:10:1f:00:00'
HOST_LAN_BRIDGE = 'vmbr1'
HOST_ADDR = '192.168.2.28'
BOX_LAN_ADDR = '192.168.2.254'
BOX_DNS_NAMES = {'box.example': '192.0.2.1'}   # the box's resolver; any other name: HTTP_ADDR
HOST_RESOLV_CONF_DEFAULT = "# pflab: the host namespace's own resolv.conf (the machine's stays out of the lab)\n"
MODEM_MGMT = '192.168.8.1'
LTE_ADDR = '192.168.8.100'
GUEST_OK = '10.10.0.29'
GUEST_NO = '10.10.0.39'
LTE_CONNECTION = 'lte'
WWAN_IF = 'wwan0'              # host side of the Lab(wwan=True) data path
WWAN_MODEM_ADDR = '10.64.0.1'  # the modem's end of it (/30), the bearer's gateway
WWAN_HOST_ADDR = '10.64.0.2'   # what the bearer gives the host (set by NetworkManager)
MM_PORT = 'cdc-wdm0'           # the ModemManager modem's primary port: NM's gsm device
MM_CONNECTION = 'lte-mm'

WG_PORT = 51820               # the remote's WireGuard listen port
WG_HOST_ADDR = '10.99.0.1'    # tunnel addresses (/24) of wireguard_up()
WG_REMOTE_ADDR = '10.99.0.2'
WG_SOCKET_DIR = '/var/run/wireguard'   # wireguard-go's UAPI sockets, shared by every namespace
ZT_NETWORK = '8056c2e21c000001'        # default network of the fake ZeroTier service
ZT_API_PORT = 9993

# Lab(tunnel=True): a VXLAN tunnel from the host to inet, carried by the LTE stick
TUNNEL_SERVER = '198.51.100.100'   # the tunnel's far end (inet, on lo)
TUNNEL_SERVER_IF = 'vx-srv'        # its VXLAN device in inet
TUNNEL_CONNECTION = 'tunnel'       # NM profile of the host's end
TUNNEL_IF = 'vxtun0'               # the host's VXLAN device (NM creates it on activation)
TUNNEL_VNI = 42
TUNNEL_PORT = 4789                 # UDP port of both ends (destination and source)
TUNNEL_GATEWAY = '100.64.0.1'      # inet's end of the tunnel (/30)
SRC_TUNNEL = '100.64.0.2'          # the host's end: "the public address kept by the tunnel"
TUNNEL_MTU = 1450                  # 1500 of the veths minus the VXLAN overhead

# Lab(ipv6=True)
TARGETS6 = ('2001:db8:100::10', '2001:db8:100::11', '2001:db8:100::12')
DNS6_ADDR = '2001:db8:100::53'
HTTP6_ADDR = '2001:db8:100::80'
UDP_SINK6 = ('2001:db8:100::11', 9999)
HOST_ADDR6 = '2001:db8:2::28'
BOX_LAN_ADDR6 = '2001:db8:2::1'
LTE_ADDR6 = '2001:db8:8::100'
LTE_GATEWAY6 = '2001:db8:8::1'
HOST_LAN_ADDR6 = '2001:db8:10::1'
GUEST_OK6 = '2001:db8:10::29'
GUEST_NO6 = '2001:db8:10::39'
SRC6_PRIMARY = HOST_ADDR6
SRC6_BACKUP = LTE_ADDR6

UDP_MAGIC = b'PFLB'
UDP_FORMAT = '!4sIQd'

Arrival = collections.namedtuple('Arrival', 'seq sent recv src')
WgTunnel = collections.namedtuple('WgTunnel',
                                  'host_if remote_if host_addr remote_addr host_pubkey remote_pubkey port')


class LabError(Exception):
    pass


class LabCommandError(subprocess.CalledProcessError):
    def __str__(self):
        err = (self.stderr or '').strip()
        return (f"command {shlex.join(self.cmd)} exited with {self.returncode}"
                + (f": {err}" if err else ''))


def _write_nm_keyfile(nm_dir, conn, conn_type, ifname, settings, autoconnect=False):
    """NM keyfile profile nm_dir/system-connections/CONN.nmconnection (mode 0600): its
    [connection] section, then settings (the text of the other sections)."""
    kf = os.path.join(nm_dir, 'system-connections', f'{conn}.nmconnection')
    fd = os.open(kf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(f"""[connection]
id={conn}
uuid={uuid.uuid4()}
type={conn_type}
interface-name={ifname}
autoconnect={'true' if autoconnect else 'false'}

""" + settings)
    os.chmod(kf, 0o600)


def _proc_starttime(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            data = f.read()
        return int(data.rsplit(')', 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _default_workdir(prefix):
    return os.path.join(tempfile.gettempdir(), f'pflab-{prefix}')


def write_bus_config(workdir):
    """Write the configuration of a private system-type bus that allows everything,
    listening on workdir/system_bus_socket; returns its path."""
    sock = os.path.join(workdir, 'system_bus_socket')
    conf = os.path.join(workdir, 'system-bus.conf')
    with open(conf, 'w', encoding='utf-8') as f:
        f.write(f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={sock}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
""")
    return conf


def _netns_list():
    out = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


class Lab:
    def __init__(self, prefix=None, workdir=None, lte_autoconnect=True, modem_api=None, wwan=False,
                 ipv6=False, host_resolv_conf=None, nm_dns=False, tunnel=False):
        if prefix is None:
            existing = set(_netns_list())
            while True:
                prefix = 'pf%04x' % random.getrandbits(16)
                if not any(n.startswith(prefix + '-') for n in existing) and \
                        not os.path.exists(_default_workdir(prefix)):
                    break
        if not re.fullmatch(r'[A-Za-z0-9]{1,12}', prefix):
            raise LabError(f'bad prefix {prefix!r}: 1-12 letters or digits')
        self.prefix = prefix
        self.workdir = os.path.abspath(workdir or _default_workdir(prefix))
        self.lte_autoconnect = lte_autoconnect
        self.modem_api = list(modem_api) if modem_api else None
        self.wwan = bool(wwan)
        self.ipv6 = bool(ipv6)
        self.host_resolv_conf = host_resolv_conf
        self.nm_dns = bool(nm_dns)
        self.tunnel = bool(tunnel)
        self.bus_address = None
        self.persist = False          # True: leave the lab running when this process exits
        self._procs = []              # Popen objects we started
        self._foreign = []            # (pid, starttime) from a state file
        self._is_up = False
        self._owned = False           # True once this object created (or attached to) the namespaces
        self._atexit_registered = False
        self._udp_offset = 0
        self._udp_rest = b''
        self._udp_records = collections.defaultdict(list)
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- basics

    def ns(self, name):
        if name.startswith(self.prefix + '-'):
            return name
        if name not in NAMESPACES:
            raise LabError(f'unknown namespace {name!r}')
        return f'{self.prefix}-{name}'

    def _argv(self, ns, argv):
        argv = [str(a) for a in argv]
        if ns is None:
            return argv
        return ['ip', 'netns', 'exec', self.ns(ns)] + argv

    def run(self, ns, *argv, check=True, env=None, timeout=30, input=None):
        """Run argv inside namespace ns (None: no namespace), capture text output."""
        cmd = self._argv(ns, argv)
        try:
            cp = subprocess.run(cmd, env=env, input=input, capture_output=True, text=True,
                                timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise LabError(f'command {shlex.join(cmd)} timed out after {timeout} s') from e
        if check and cp.returncode != 0:
            raise LabCommandError(cp.returncode, cmd, cp.stdout, cp.stderr)
        return cp

    def spawn(self, ns, *argv, env=None, stdout=None, stderr=None, stdin=None, cwd=None):
        """Start argv inside namespace ns in its own process group; down() kills it."""
        cmd = self._argv(ns, argv)
        log_path = None
        logf = None
        if stdout is None or stderr is None:
            os.makedirs(os.path.join(self.workdir, 'logs'), exist_ok=True)
            base = re.sub(r'[^A-Za-z0-9_.-]', '_', os.path.basename(str(argv[0])))
            log_path = os.path.join(self.workdir, 'logs', f'{len(self._procs):02d}-{ns or "root"}-{base}.log')
            logf = open(log_path, 'ab')
        try:
            p = subprocess.Popen(cmd, env=env, cwd=cwd, start_new_session=True,
                                 stdin=subprocess.DEVNULL if stdin is None else stdin,
                                 stdout=logf if stdout is None else stdout,
                                 stderr=logf if stderr is None else stderr)
        finally:
            if logf:
                logf.close()
        p.log_path = log_path
        with self._lock:
            self._procs.append(p)
        if self.persist:
            self._save_state()
        return p

    def host_env(self, extra=None):
        env = dict(os.environ)
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        if self.bus_address:
            env['DBUS_SYSTEM_BUS_ADDRESS'] = self.bus_address
        if extra:
            env.update(extra)
        return env

    # ---------------------------------------------------------------- up / down

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, exc_type, exc, tb):
        keep = exc_type is not None and exc_type is not KeyboardInterrupt
        self.down(keep_workdir=keep)
        return False

    def up(self):
        if self._is_up:
            return self
        t0 = time.monotonic()
        existing = [n for n in _netns_list() if n.startswith(self.prefix + '-')]
        if existing:
            raise LabError(f'namespaces with prefix {self.prefix} already exist: {existing}')
        if os.path.exists(os.path.join(self.workdir, 'state.json')):
            raise LabError(f'{self.workdir} belongs to a running lab')
        if not self._atexit_registered and not self.persist:
            atexit.register(self._atexit)
            self._atexit_registered = True
            _install_sigterm_handler()
        try:
            self._is_up = True
            self._owned = True
            os.makedirs(self.workdir, mode=0o755, exist_ok=True)
            # The private bus socket lives here: unprivileged test clients must reach it.
            os.chmod(self.workdir, 0o755)
            self._build_network()
            self._write_host_resolv_conf()
            self._start_bus()
            self._start_servers()
            self._start_nm()
            if self.modem_api:
                self.spawn('modem', *self.modem_api)
            if self.persist:
                self._save_state()
        except BaseException:
            self.down(keep_workdir=True)
            raise
        self.up_seconds = time.monotonic() - t0
        return self

    def _atexit(self):
        if self._is_up and not self.persist:
            self.down()

    def down(self, keep_workdir=False):
        """Kill every process of the lab and delete its namespaces. Idempotent."""
        with self._lock:
            procs = list(self._procs)
            self._procs.clear()
        foreign = list(self._foreign)
        self._foreign.clear()
        # 1. polite SIGTERM to every process group we started
        for p in procs:
            if p.poll() is None:
                _killpg(p.pid, signal.SIGTERM)
        for pid, st in foreign:
            if _proc_starttime(pid) == st:
                _killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for p in procs:
            try:
                p.wait(max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        while time.monotonic() < deadline and any(_proc_starttime(pid) == st for pid, st in foreign):
            time.sleep(0.05)
        # 2. SIGKILL leftovers (whole groups)
        for p in procs:
            _killpg(p.pid, signal.SIGKILL)
            try:
                p.wait(2)
            except subprocess.TimeoutExpired:
                pass
        for pid, st in foreign:
            if _proc_starttime(pid) == st:
                _killpg(pid, signal.SIGKILL)
        self._is_up = False
        if self._atexit_registered:
            atexit.unregister(self._atexit)
            self._atexit_registered = False
        if not self._owned:
            return
        self._owned = False
        # 3. anything else still living in one of our namespaces
        mine = [n for n in _netns_list() if n.startswith(self.prefix + '-')]
        for n in mine:
            out = subprocess.run(['ip', 'netns', 'pids', n], capture_output=True, text=True).stdout
            for pid in out.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        # 4. the namespaces themselves
        if mine:
            subprocess.run(['ip', '-force', '-batch', '-'], input=''.join(f'netns del {n}\n' for n in mine),
                           capture_output=True, text=True)
        self._wg_remove_stale_sockets()
        left = [n for n in _netns_list() if n.startswith(self.prefix + '-')]
        if keep_workdir:
            if os.path.isdir(self.workdir):
                sys.stderr.write(f'pflab: kept work directory {self.workdir}\n')
            try:
                os.unlink(os.path.join(self.workdir, 'state.json'))
            except OSError:
                pass
        elif os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)
        shutil.rmtree(self.netns_etc(), ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(self.netns_etc()))   # /etc/netns, when no other lab uses it
        except OSError:
            pass
        if left:
            raise LabError(f'namespaces left behind: {left}')

    # ---------------------------------------------------------------- network

    def _build_network(self):
        N = self.ns
        subprocess.run(['ip', '-batch', '-'], input=''.join(f'netns add {N(n)}\n' for n in NAMESPACES),
                       check=True, capture_output=True, text=True)
        # sysctls first, so links created afterwards inherit disable_ipv6 from "default"
        procs = []
        for n in NAMESPACES:
            s = self._ipv6_sysctls(n)
            if n in ('box', 'modem', 'host', 'inet'):
                s.append('net.ipv4.ip_forward=1')
            rp = 2 if n == 'host' else 0
            s += [f'net.ipv4.conf.all.rp_filter={rp}', f'net.ipv4.conf.default.rp_filter={rp}']
            procs.append(subprocess.Popen(self._argv(n, ['sysctl', '-qw'] + s),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                raise LabError(f'sysctl failed: {err.strip()}')
        links = f"""\
link add to-box netns {N('inet')} type veth peer name wan netns {N('box')}
link add to-modem netns {N('inet')} type veth peer name wan netns {N('modem')}
link add lan netns {N('box')} type veth peer name {HOST_PRIMARY_IF} netns {N('host')}
link add lan netns {N('modem')} address 0c:5b:8f:27:9a:64 type veth peer name {HOST_BACKUP_IF} address {HOST_BACKUP_MAC} netns {N('host')}
link add vg-ok netns {N('host')} type veth peer name eth0 netns {N('guest-ok')}
link add vg-no netns {N('host')} type veth peer name eth0 netns {N('guest-no')}
link add to-remote netns {N('inet')} type veth peer name eth0 netns {N('remote')}
"""
        subprocess.run(['ip', '-batch', '-'], input=links, check=True, capture_output=True, text=True)
        lo = 'link set lo up\n'
        batches = {
            'inet': lo + ''.join(f'addr add {a}/32 dev lo\n' for a in TARGETS + (DNS_ADDR, HTTP_ADDR)) + f"""\
addr add 203.0.113.1/30 dev to-box
addr add 203.0.113.5/30 dev to-modem
addr add {REMOTE_GW}/30 dev to-remote
link set to-box up
link set to-modem up
link set to-remote up
""",
            'host': lo + f"""\
addr add {HOST_ADDR}/24 dev {HOST_PRIMARY_IF}
link set {HOST_PRIMARY_IF} up
route add default via {BOX_LAN_ADDR} dev {HOST_PRIMARY_IF}
link add {HOST_LAN_BRIDGE} type bridge
addr add 10.10.0.1/24 dev {HOST_LAN_BRIDGE}
link set {HOST_LAN_BRIDGE} up
link set vg-ok master {HOST_LAN_BRIDGE}
link set vg-no master {HOST_LAN_BRIDGE}
link set vg-ok up
link set vg-no up
""",
            'box': lo + f"""\
addr add 203.0.113.2/30 dev wan
addr add {BOX_LAN_ADDR}/24 dev lan
link set wan up
link set lan up
route add default via 203.0.113.1 dev wan
route add 10.10.0.0/24 via {HOST_ADDR} dev lan
""",
            'modem': lo + f"""\
addr add 203.0.113.6/30 dev wan
addr add {MODEM_MGMT}/24 dev lan
link set wan up
link set lan up
route add default via 203.0.113.5 dev wan
""",
            'guest-ok': lo + f"addr add {GUEST_OK}/24 dev eth0\nlink set eth0 up\nroute add default via 10.10.0.1\n",
            'guest-no': lo + f"addr add {GUEST_NO}/24 dev eth0\nlink set eth0 up\nroute add default via 10.10.0.1\n",
            'remote': lo + f"addr add {REMOTE_ADDR}/30 dev eth0\nlink set eth0 up\nroute add default via {REMOTE_GW}\n",
        }
        for n, batch in batches.items():
            cp = subprocess.run(['ip', '-n', N(n), '-batch', '-'], input=batch, capture_output=True, text=True)
            if cp.returncode != 0:
                raise LabError(f'ip batch in {n} failed: {cp.stderr.strip()}')
        masq = """\
table ip pflab {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" masquerade
	}
}
"""
        for n in ('box', 'modem'):
            self.run(n, 'nft', '-f', '-', input=masq)
        # inet routes for the remote only: box and modem still cannot reach each other
        self.run('inet', 'nft', '-f', '-', input="""\
table ip pflab {
	chain forward {
		type filter hook forward priority filter; policy drop;
		iifname "to-remote" accept
		oifname "to-remote" accept
	}
}
""")
        if self.ipv6:
            self._build_ipv6()
        if self.wwan:
            self._build_wwan()
        if self.tunnel:
            self._build_tunnel()

    def _ipv6_sysctls(self, n):
        if not self.ipv6:
            return ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']
        # usable at once (no DAD), kept across a link down/up, no autoconfiguration
        s = [f'net.ipv6.conf.{c}.{k}={v}' for c in ('all', 'default')
             for k, v in (('accept_dad', 0), ('keep_addr_on_down', 1), ('accept_ra', 0))]
        if n in ('box', 'modem', 'host'):
            s.append('net.ipv6.conf.all.forwarding=1')
        return s

    def _build_ipv6(self):
        N = self.ns
        guest = f'route add default via {HOST_LAN_ADDR6}\n'
        batches = {
            'inet': ''.join(f'addr add {a}/128 dev lo\n' for a in TARGETS6 + (DNS6_ADDR, HTTP6_ADDR)) + (
                'addr add 2001:db8:ff::1/64 dev to-box nodad\n'
                'addr add 2001:db8:fe::1/64 dev to-modem nodad\n'
                'route add 2001:db8:2::/64 via 2001:db8:ff::2 dev to-box\n'
                'route add 2001:db8:10::/64 via 2001:db8:ff::2 dev to-box\n'
                'route add 2001:db8:8::/64 via 2001:db8:fe::2 dev to-modem\n'),
            'box': ('addr add 2001:db8:ff::2/64 dev wan nodad\n'
                    f'addr add {BOX_LAN_ADDR6}/64 dev lan nodad\n'
                    'route add default via 2001:db8:ff::1 dev wan\n'
                    f'route add 2001:db8:10::/64 via {HOST_ADDR6} dev lan\n'),
            'modem': ('addr add 2001:db8:fe::2/64 dev wan nodad\n'
                      f'addr add {LTE_GATEWAY6}/64 dev lan nodad\n'
                      'route add default via 2001:db8:fe::1 dev wan\n'),
            'host': (f'addr add {HOST_ADDR6}/64 dev {HOST_PRIMARY_IF} nodad\n'
                     f'route add default via {BOX_LAN_ADDR6} dev {HOST_PRIMARY_IF}\n'
                     f'addr add {HOST_LAN_ADDR6}/64 dev {HOST_LAN_BRIDGE} nodad\n'),
            'guest-ok': f'addr add {GUEST_OK6}/64 dev eth0 nodad\n' + guest,
            'guest-no': f'addr add {GUEST_NO6}/64 dev eth0 nodad\n' + guest,
        }
        for n, batch in batches.items():
            cp = subprocess.run(['ip', '-6', '-n', N(n), '-batch', '-'], input=batch, capture_output=True,
                                text=True)
            if cp.returncode != 0:
                raise LabError(f'ip -6 batch in {n} failed: {cp.stderr.strip()}')

    def _build_wwan(self):
        # oifname "wan" masquerade in modem already covers what comes in on wwan.
        N = self.ns
        batch = (f"link add wwan netns {N('modem')} type veth peer name {WWAN_IF} netns {N('host')}\n")
        subprocess.run(['ip', '-batch', '-'], input=batch, check=True, capture_output=True, text=True)
        cp = subprocess.run(['ip', '-n', N('modem'), '-batch', '-'], capture_output=True, text=True,
                            input=f'addr add {WWAN_MODEM_ADDR}/30 dev wwan\nlink set wwan up\n')
        if cp.returncode != 0:
            raise LabError(f'ip batch in modem (wwan) failed: {cp.stderr.strip()}')

    def _build_tunnel(self):
        # The host's underlay leaves the modem masqueraded as SRC_BACKUP: the server's remote.
        # nolearning: the server answers SRC_BACKUP only, whatever address the host's packets
        # came from (through the primary, they reach it from SRC_PRIMARY and die there).
        # srcport 4789 4790 (max excluded): the source port is always 4789, as on the host,
        # so the modem's conntrack entry for the host's flow matches the server's packets.
        batch = (f'addr add {TUNNEL_SERVER}/32 dev lo\n'
                 f'link add {TUNNEL_SERVER_IF} type vxlan id {TUNNEL_VNI} local {TUNNEL_SERVER} '
                 f'remote {SRC_BACKUP} dstport {TUNNEL_PORT} srcport {TUNNEL_PORT} {TUNNEL_PORT + 1} '
                 'nolearning\n'
                 f'link set {TUNNEL_SERVER_IF} mtu {TUNNEL_MTU}\n'
                 f'addr add {TUNNEL_GATEWAY}/30 dev {TUNNEL_SERVER_IF}\n'
                 f'link set {TUNNEL_SERVER_IF} up\n')
        cp = subprocess.run(['ip', '-n', self.ns('inet'), '-batch', '-'], input=batch, capture_output=True,
                            text=True)
        if cp.returncode != 0:
            raise LabError(f'ip batch in inet (tunnel) failed: {cp.stderr.strip()}')
        # Like a carrier's NAT, the modem keeps no state for what comes unsolicited to its
        # public address. Without this, a server packet sent before the host's flow exists
        # (the host's underlay went out through the primary) leaves a conntrack entry for
        # SRC_BACKUP:4789 <- TUNNEL_SERVER:4789 in the modem, kept alive by every later server
        # packet: the masquerade then moves the host's flow to another source port and the
        # server's packets never reach the host again.
        self.run('modem', 'nft', '-f', '-', input=f"""\
table ip pflab_tunnel {{
	chain input {{
		type filter hook input priority filter; policy accept;
		iifname "wan" udp dport {TUNNEL_PORT} counter drop
	}}
}}
""")

    # ---------------------------------------------------------------- D-Bus, NM, servers

    def _start_bus(self):
        conf = write_bus_config(self.workdir)
        r, w = os.pipe()
        try:
            self.spawn('host', 'dbus-daemon', f'--config-file={conf}', '--nofork', '--nopidfile',
                       '--print-address=1', stdout=w)
        finally:
            os.close(w)
        with os.fdopen(r) as rf:
            line = _readline_timeout(rf, 5)
        if not line:
            raise LabError('dbus-daemon did not start')
        self.bus_address = line.strip()

    def _bus_has_name(self, name):
        cp = self.run(None, 'gdbus', 'call', '--system', '--dest', 'org.freedesktop.DBus',
                      '--object-path', '/org/freedesktop/DBus', '--method',
                      'org.freedesktop.DBus.NameHasOwner', name, env=self.host_env(), check=False, timeout=5)
        return cp.returncode == 0 and 'true' in cp.stdout

    def wait_bus_name(self, name, timeout=10, proc=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._bus_has_name(name):
                return True
            if proc is not None and proc.poll() is not None:
                raise LabError(f'{name}: process exited with {proc.returncode}, see {proc.log_path}')
            time.sleep(0.05)
        raise LabError(f'{name} did not appear on the lab bus within {timeout} s')

    def _start_servers(self):
        self.servers = self.spawn('inet', PYTHON, SELF, '_serve', self.workdir,
                                  *(['--ipv6'] if self.ipv6 else []), stdout=subprocess.PIPE)
        box_dns = self.spawn('box', PYTHON, SELF, '_box-dns', stdout=subprocess.PIPE)
        for p in (self.servers, box_dns):
            line = _readline_timeout(p.stdout, 5)
            p.stdout.close()
            if line.strip() != 'ready':
                raise LabError(f'lab servers did not start, see {p.log_path}')

    def netns_etc(self, ns='host'):
        """/etc/netns/<namespace>: `ip netns exec` bind-mounts its files over /etc."""
        return os.path.join('/etc/netns', self.ns(ns))

    def host_resolv_conf_path(self):
        return os.path.join(self.netns_etc(), 'resolv.conf')

    def _write_host_resolv_conf(self):
        # Always one: the daemon in host may rewrite /etc/resolv.conf on failover, and the
        # machine's own file must never be the one it rewrites.
        text = self.host_resolv_conf if self.host_resolv_conf is not None else HOST_RESOLV_CONF_DEFAULT
        os.makedirs(self.netns_etc(), mode=0o755, exist_ok=True)
        with open(self.host_resolv_conf_path(), 'w') as f:
            f.write(text)

    def _start_nm(self):
        d = os.path.join(self.workdir, 'nm')
        for sub in ('conf.d', 'system-conf.d', 'system-connections'):
            os.makedirs(os.path.join(d, sub), mode=0o700, exist_ok=True)
        conf = os.path.join(d, 'NetworkManager.conf')
        extra = self._nm_extra_devices()
        unmanaged = ''.join(f';except:interface-name:{ifname}' for _, ifname in extra)
        devices = ''.join(f'\n[device-pflab-{name}]\nmatch-device=interface-name:{ifname}\nmanaged=1\n'
                          for name, ifname in extra)
        with open(conf, 'w') as f:
            f.write(f"""[main]
plugins=keyfile
no-auto-default=*
{'dns=default' if self.nm_dns else 'dns=none'}
{'rc-manager=file' if self.nm_dns else 'rc-manager=unmanaged'}
systemd-resolved=false
hostname-mode=none
auth-polkit=false

[keyfile]
path={d}/system-connections
unmanaged-devices=except:interface-name:{HOST_BACKUP_IF}{unmanaged}

[device-pflab-backup]
match-device=interface-name:{HOST_BACKUP_IF}
managed=1
{devices}
[connectivity]
enabled=false

[logging]
level=INFO
""")
        _write_nm_keyfile(d, LTE_CONNECTION, 'ethernet', HOST_BACKUP_IF, f"""[ethernet]

[ipv4]
method=manual
address1={LTE_ADDR}/24
gateway={MODEM_MGMT}
route-metric=700

{self._nm_lte_ipv6()}""", autoconnect=self.lte_autoconnect)
        if self.wwan:
            self._write_mm_profile(d)
        if self.tunnel:
            self._write_tunnel_profile(d)
        resolv = os.path.join(d, 'resolv.conf')
        with open(resolv, 'w') as f:
            f.write('# pflab: NetworkManager must not write the machine resolv.conf\n')
        if self.nm_dns:
            # NM writes /etc/resolv.conf by rename: it gets a private /etc, an overlay whose
            # upper layer lives in its tmpfs /var/lib/NetworkManager.
            v = '/var/lib/NetworkManager'
            hide_resolv = (f'mkdir {v}/etc-upper {v}/etc-work; mount -t overlay overlay '
                           f'-o lowerdir=/etc,upperdir={v}/etc-upper,workdir={v}/etc-work /etc; '
                           f'rm -f /etc/resolv.conf; cp {shlex.quote(resolv)} /etc/resolv.conf; ')
        else:
            hide_resolv = f'if [ -f /etc/resolv.conf ]; then mount --bind {shlex.quote(resolv)} /etc/resolv.conf; fi; '
        script = (
            'set -e; mount -o remount,ro /sys; '
            'mount -t tmpfs -o mode=0755 tmpfs /run; mkdir -p /run/NetworkManager; '
            'mount -t tmpfs -o mode=0755 tmpfs /var/lib/NetworkManager; ' + hide_resolv +
            'exec NetworkManager --no-daemon --debug '
            f'--config={shlex.quote(conf)} --config-dir={shlex.quote(d + "/conf.d")} '
            f'--system-config-dir={shlex.quote(d + "/system-conf.d")} '
            f'--intern-config={shlex.quote(d + "/NetworkManager-intern.conf")} '
            f'--state-file={shlex.quote(d + "/NetworkManager.state")} '
            f'--pid-file={shlex.quote(d + "/NetworkManager.pid")}')
        self.nm = self.spawn('host', 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script,
                             env=self.host_env())
        self.wait_bus_name('org.freedesktop.NetworkManager', timeout=15, proc=self.nm)

    def _nm_lte_ipv6(self):
        if not self.ipv6:
            return '[ipv6]\nmethod=disabled\n'
        # above the metric (1024) of the primary's default route set with ip, as ifupdown does
        return (f'[ipv6]\nmethod=manual\naddress1={LTE_ADDR6}/64\ngateway={LTE_GATEWAY6}\n'
                'route-metric=2048\n')

    def _nm_extra_devices(self):
        """What NM manages besides the stick: [(name of its [device-pflab-NAME] section, interface)]."""
        return [(name, ifname) for name, ifname, on in (('modem', MM_PORT, self.wwan),
                                                        ('tunnel', TUNNEL_IF, self.tunnel)) if on]

    def _write_mm_profile(self, d):
        _write_nm_keyfile(d, MM_CONNECTION, 'gsm', MM_PORT, """[gsm]
apn=internet

[ipv4]
method=auto
route-metric=700

[ipv6]
method=disabled
""")

    def _write_tunnel_profile(self, d):
        # No parent: the underlay follows the routing (the rule toward TUNNEL_SERVER).
        # source-port-max is excluded: every packet leaves from port TUNNEL_PORT.
        _write_nm_keyfile(d, TUNNEL_CONNECTION, 'vxlan', TUNNEL_IF, f"""[vxlan]
id={TUNNEL_VNI}
remote={TUNNEL_SERVER}
destination-port={TUNNEL_PORT}
source-port-min={TUNNEL_PORT}
source-port-max={TUNNEL_PORT + 1}

[ethernet]
mtu={TUNNEL_MTU}

[ipv4]
method=manual
address1={SRC_TUNNEL}/30
gateway={TUNNEL_GATEWAY}
route-metric=800

[ipv6]
method=disabled
""")

    def nmcli(self, *args, check=True, timeout=20):
        return self.run(None, 'nmcli', *args, env=self.host_env(), check=check, timeout=timeout)

    def nm_connection_state(self, conn=LTE_CONNECTION):
        cp = self.nmcli('-g', 'GENERAL.STATE', 'connection', 'show', conn, check=False)
        return cp.stdout.strip() if cp.returncode == 0 else ''

    def nm_device_state(self, ifname=HOST_BACKUP_IF):
        cp = self.nmcli('-t', '-f', 'DEVICE,STATE', 'device', check=False)
        for line in cp.stdout.splitlines():
            dev, _, state = line.rpartition(':')
            if dev == ifname:
                return state
        return ''

    def nm_wait_activated(self, conn=LTE_CONNECTION, timeout=20):
        deadline = time.monotonic() + timeout
        state = ''
        while time.monotonic() < deadline:
            state = self.nm_connection_state(conn)
            if state == 'activated':
                return True
            time.sleep(0.1)
        raise LabError(f'NM connection {conn!r} not activated after {timeout} s (state {state!r}, '
                       f'device {self.nm_device_state()!r}), see {getattr(self, "nm", None) and self.nm.log_path}')

    def tunnel_state(self):
        """NetworkManager's state of the "tunnel" profile (Lab(tunnel=True)), '' when inactive."""
        return self.nm_connection_state(TUNNEL_CONNECTION)

    def start_polkit_mock(self):
        p = self.spawn('host', PYTHON, '-m', 'dbusmock', '--system', '--template', 'polkitd',
                       env=self.host_env())
        self.wait_bus_name('org.freedesktop.PolicyKit1', timeout=15, proc=p)
        return PolkitMock(self, p)

    # ---------------------------------------------------------------- faults

    def _nft_table(self, ns, table, body, on):
        script = f'add table {table}\ndelete table {table}\n'
        if on:
            script += f'table {table} {{\n{body}\n}}\n'
        self.run(ns, 'nft', '-f', '-', input=script)

    def blackhole(self, on=True):
        self._nft_table('box', 'inet pflab_blackhole', """\
	chain forward {
		type filter hook forward priority -50; policy accept;
		counter drop
	}""", on)

    def loss(self, percent):
        percent = int(percent)
        if not 0 <= percent <= 100:
            raise LabError('loss percent must be within 0..100')
        self._nft_table('box', 'inet pflab_loss', f"""\
	chain forward {{
		type filter hook forward priority -40; policy accept;
		iifname "lan" numgen random mod 100 < {percent} counter drop
	}}""", percent > 0)

    def backup_dead(self, on=True):
        self._nft_table('modem', 'inet pflab_dead', """\
	chain forward {
		type filter hook forward priority -50; policy accept;
		counter drop
	}""", on)

    def primary_link(self, up=True):
        self.run('box', 'ip', 'link', 'set', 'lan', 'up' if up else 'down')
        if up:
            # taking the link down flushed the static route toward the host's LAN
            self.run('box', 'ip', 'route', 'replace', '10.10.0.0/24', 'via', HOST_ADDR, 'dev', 'lan')
            if self.ipv6:
                self.run('box', 'ip', '-6', 'route', 'replace', '2001:db8:10::/64', 'via', HOST_ADDR6,
                         'dev', 'lan')

    def backup_link(self, up=True):
        self.run('modem', 'ip', 'link', 'set', 'lan', 'up' if up else 'down')

    def tunnel_server(self, up=True):
        """The tunnel's far end (Lab(tunnel=True)) alive or dead: vx-srv up/down in inet."""
        self.run('inet', 'ip', 'link', 'set', TUNNEL_SERVER_IF, 'up' if up else 'down')

    def dns_down(self, on=True):
        flag = os.path.join(self.workdir, 'dns-down')
        if on:
            open(flag, 'w').close()
        elif os.path.exists(flag):
            os.unlink(flag)

    def faults(self):
        """Current fault state, read from the namespaces themselves."""
        def tables(ns):
            return self.run(ns, 'nft', 'list', 'tables', check=False).stdout

        def link_up(ns, dev):
            out = self.run(ns, 'ip', 'link', 'show', dev, check=False).stdout
            return bool(re.search(r'[<,]UP[,>]', out))
        box = tables('box')
        loss = 0
        if 'pflab_loss' in box:
            m = re.search(r'mod 100 < (\d+)', self.run('box', 'nft', 'list', 'table', 'inet', 'pflab_loss').stdout)
            loss = int(m.group(1)) if m else -1
        state = {
            'blackhole': 'pflab_blackhole' in box,
            'loss': loss,
            'primary_link': link_up('box', 'lan'),
            'backup_dead': 'pflab_dead' in tables('modem'),
            'backup_link': link_up('modem', 'lan'),
            'dns_down': os.path.exists(os.path.join(self.workdir, 'dns-down')),
        }
        if self.run('inet', 'ip', 'link', 'show', TUNNEL_SERVER_IF, check=False).returncode == 0:
            state['tunnel_server'] = link_up('inet', TUNNEL_SERVER_IF)
        return state

    # ---------------------------------------------------------------- measurement

    def _helper(self, ns, *args, timeout=30):
        return self.run(ns, PYTHON, SELF, *args, check=False, timeout=timeout)

    def ping(self, ns, dst, count=1, timeout=1, iface=None):
        """ICMP echo from ns (raw socket; iface binds like ping -I). True if any reply."""
        args = ['_ping', dst, '--count', count, '--interval', 0.2, '--timeout', timeout]
        if iface:
            args += ['--iface', iface]
        cp = self._helper(ns, *args, timeout=count * 0.2 + timeout + 10)
        return cp.returncode == 0

    def ping_loss(self, ns, dst, count=200, interval=0.01, timeout=1, iface=None):
        """Percentage of echo requests without reply."""
        args = ['_ping', dst, '--count', count, '--interval', interval, '--timeout', timeout]
        if iface:
            args += ['--iface', iface]
        cp = self._helper(ns, *args, timeout=count * interval + timeout + 10)
        m = re.search(r'sent (\d+) received (\d+)', cp.stdout)
        if not m:
            raise LabError(f'ping helper failed: {cp.stderr.strip()}')
        sent, recv = int(m.group(1)), int(m.group(2))
        return 100.0 * (sent - recv) / sent

    def dns_query(self, ns, name='check.example', server=DNS_ADDR, timeout=1):
        cp = self._helper(ns, '_dns', server, name, '--timeout', timeout, timeout=timeout + 10)
        return cp.stdout.strip() if cp.returncode == 0 else None

    def http_get(self, ns, url, timeout=2, iface=None):
        args = ['_http', url, '--timeout', timeout] + (['--iface', iface] if iface else [])
        cp = self._helper(ns, *args, timeout=timeout + 10)
        if cp.returncode != 0:
            return None
        status, _, body = cp.stdout.partition('\n')
        return int(status), body

    def tcp_connect(self, ns, addr, port, timeout=1, iface=None):
        args = ['_tcp', addr, port, '--timeout', timeout] + (['--iface', iface] if iface else [])
        return self._helper(ns, *args, timeout=timeout + 10).returncode == 0

    def getent_hosts(self, ns, name, timeout=10):
        """The first address `getent hosts NAME` gives in ns (the C library's resolver,
        reading that namespace's /etc/resolv.conf), or None."""
        cp = self.run(ns, 'getent', 'hosts', name, check=False, timeout=timeout)
        return cp.stdout.split()[0] if cp.returncode == 0 and cp.stdout.strip() else None

    def nm_getent_hosts(self, name, timeout=10):
        """getent hosts NAME with NetworkManager's resolv.conf (Lab(nm_dns=True))."""
        cp = self.run(None, 'nsenter', '-t', self.nm.pid, '-m', '-n', 'getent', 'hosts', name,
                      check=False, timeout=timeout)
        return cp.stdout.split()[0] if cp.returncode == 0 and cp.stdout.strip() else None

    def nm_resolv_conf(self):
        """The /etc/resolv.conf NetworkManager sees (and writes with Lab(nm_dns=True))."""
        with open(f'/proc/{self.nm.pid}/root/etc/resolv.conf') as f:
            return f.read()

    def nm_global_dns(self):
        """NetworkManager's GlobalDnsConfiguration property, as gdbus prints it."""
        return self.run(None, 'gdbus', 'call', '--system', '--dest', 'org.freedesktop.NetworkManager',
                        '--object-path', '/org/freedesktop/NetworkManager', '--method',
                        'org.freedesktop.DBus.Properties.Get', 'org.freedesktop.NetworkManager',
                        'GlobalDnsConfiguration', env=self.host_env()).stdout.strip()

    def nm_set_global_dns(self, gvariant_text):
        """Set GlobalDnsConfiguration (an a{sv} in GVariant text, '@a{sv} {}' clears it)."""
        self.run(None, 'gdbus', 'call', '--system', '--dest', 'org.freedesktop.NetworkManager',
                 '--object-path', '/org/freedesktop/NetworkManager', '--method',
                 'org.freedesktop.DBus.Properties.Set', 'org.freedesktop.NetworkManager',
                 'GlobalDnsConfiguration', f'<{gvariant_text}>', env=self.host_env())

    def iface_bytes(self, ns, ifname):
        cp = self.run(ns, 'cat', f'/sys/class/net/{ifname}/statistics/rx_bytes',
                      f'/sys/class/net/{ifname}/statistics/tx_bytes')
        return sum(int(x) for x in cp.stdout.split())

    def conntrack(self, ns, *args, check=False):
        return self.run(ns, 'conntrack', *args, check=check)

    def udp_stream(self, ns, interval=0.02, iface=None, dst=UDP_SINK):
        return UdpStream(self, ns, interval=interval, iface=iface, dst=dst)

    def _udp_poll(self):
        path = os.path.join(self.workdir, 'udp-sink.log')
        with self._lock:
            try:
                with open(path, 'rb') as f:
                    f.seek(self._udp_offset)
                    data = f.read()
            except FileNotFoundError:
                return
            self._udp_offset += len(data)
            data = self._udp_rest + data
            lines = data.split(b'\n')
            self._udp_rest = lines.pop()
            for line in lines:
                parts = line.split()
                if len(parts) != 5:
                    continue
                sid, seq, sent, recv, src = parts
                self._udp_records[int(sid)].append(
                    Arrival(int(seq), float(sent), float(recv), src.decode()))

    # ---------------------------------------------------------------- remote access

    def wg_ifnames(self):
        """(host_if, remote_if) of wireguard_up(): "wg"/"wr" + 4 hex digits of the prefix
        (those of a default "pfXXXX" prefix, else of a hash of it)."""
        m = re.fullmatch(r'pf([0-9a-f]{4})', self.prefix)
        digits = m.group(1) if m else hashlib.sha1(self.prefix.encode()).hexdigest()[:4]
        return 'wg' + digits, 'wr' + digits

    def _wg_socket(self, ifname):
        return os.path.join(WG_SOCKET_DIR, ifname + '.sock')

    def _wg_remove_stale_sockets(self):
        """Remove this lab's wireguard-go sockets that no process listens on any more."""
        for ifname in self.wg_ifnames():
            path = self._wg_socket(ifname)
            if os.path.exists(path) and not _unix_socket_alive(path):
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def _wg_key(self, side):
        """A new private key in workdir/wg-SIDE.key (mode 0600); returns (path, public key)."""
        private = self.run(None, 'wg', 'genkey').stdout.strip()
        path = os.path.join(self.workdir, f'wg-{side}.key')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(private + '\n')
        os.chmod(path, 0o600)
        public = self.run(None, 'wg', 'pubkey', input=private + '\n').stdout.strip()
        return path, public

    def _wg_start(self, ns, ifname, deadline):
        path = self._wg_socket(ifname)
        env = dict(os.environ, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD='1')
        proc = self.spawn(ns, 'wireguard-go', '-f', ifname, env=env)
        while not (os.path.exists(path) and _unix_socket_alive(path)):
            if proc.poll() is not None:
                raise LabError(f'wireguard-go {ifname} exited with {proc.returncode}, see {proc.log_path}')
            if time.monotonic() > deadline:
                raise LabError(f'wireguard-go {ifname}: no {path}, see {proc.log_path}')
            time.sleep(0.02)
        return proc

    def _wg_addr_up(self, ns, ifname, addr, deadline):
        self.run(ns, 'ip', 'addr', 'add', f'{addr}/24', 'dev', ifname)
        self.run(ns, 'ip', 'link', 'set', ifname, 'up')
        while True:
            out = self.run(ns, 'ip', '-o', 'link', 'show', ifname, check=False).stdout
            flags = re.search(r'<([^>]*)>', out)
            if flags and {'UP', 'LOWER_UP'} <= set(flags.group(1).split(',')):
                return
            if time.monotonic() > deadline:
                raise LabError(f'{ifname} in {ns} is not up: {out.strip()}')
            time.sleep(0.02)

    def wireguard_up(self, fwmark=None, keepalive=25, timeout=5):
        """A WireGuard tunnel host ↔ remote with wireguard-go (see the module docstring)."""
        host_if, remote_if = self.wg_ifnames()
        for ifname in (host_if, remote_if):
            path = self._wg_socket(ifname)
            if os.path.exists(path) and _unix_socket_alive(path):
                raise LabError(f'{path} is in use: WireGuard interface {ifname} is up already')
        deadline = time.monotonic() + timeout
        host_key, host_pub = self._wg_key('host')
        remote_key, remote_pub = self._wg_key('remote')
        # the server first, so the client's first handshake finds it up
        self._wg_start('remote', remote_if, deadline)
        self.run('remote', 'wg', 'set', remote_if, 'listen-port', WG_PORT, 'private-key', remote_key,
                 'peer', host_pub, 'allowed-ips', f'{WG_HOST_ADDR}/32')
        self._wg_addr_up('remote', remote_if, WG_REMOTE_ADDR, deadline)
        self._wg_start('host', host_if, deadline)
        argv = ['wg', 'set', host_if, 'private-key', host_key]
        if fwmark is not None:
            argv += ['fwmark', fwmark]
        argv += ['peer', remote_pub, 'endpoint', f'{REMOTE_ADDR}:{WG_PORT}',
                 'allowed-ips', f'{WG_REMOTE_ADDR}/32', 'persistent-keepalive', keepalive or 'off']
        self.run('host', *argv)
        self._wg_addr_up('host', host_if, WG_HOST_ADDR, deadline)
        return WgTunnel(host_if, remote_if, WG_HOST_ADDR, WG_REMOTE_ADDR, host_pub, remote_pub, WG_PORT)

    def wg_show(self, ns, ifname, what):
        """`wg show IFNAME WHAT`, parsed. Per-peer fields give {peer public key: value}:
        endpoints 'ip:port' | None, latest-handshakes int (0 never), transfer (rx, tx),
        allowed-ips [str], persistent-keepalive int | None, preshared-keys str | None;
        peers gives [public key]; listen-port and fwmark an int (0: off); public-key a str."""
        out = self.run(ns, 'wg', 'show', ifname, what).stdout
        lines = [line.split('\t') for line in out.splitlines() if line.strip()]
        if what == 'peers':
            return [f[0] for f in lines]
        if what in ('listen-port', 'fwmark'):
            v = out.strip()
            return 0 if v in ('', 'off') else int(v, 0)
        if what in ('public-key', 'private-key'):
            return out.strip()
        parse = {
            'endpoints': lambda f: None if f[0] == '(none)' else f[0],
            'latest-handshakes': lambda f: int(f[0]),
            'transfer': lambda f: (int(f[0]), int(f[1])),
            'allowed-ips': lambda f: [] if f[0] == '(none)' else f[0].split(),
            'persistent-keepalive': lambda f: None if f[0] == 'off' else int(f[0]),
            'preshared-keys': lambda f: None if f[0] == '(none)' else f[0],
        }.get(what)
        if parse is None:
            raise LabError(f'wg_show: unsupported field {what!r}')
        return {f[0]: parse(f[1:]) for f in lines}

    def _http_log(self, ns, port):
        return os.path.join(self.workdir, f'http-{self.ns(ns)}-{int(port)}.log')

    def serve_http(self, ns, port, body):
        """An HTTP server on 0.0.0.0:PORT in ns answering every GET with 200 BODY; each
        request's client address goes to a file read by http_clients(). Returns the Popen."""
        p = self.spawn(ns, PYTHON, SELF, '_http-serve', int(port), body, self._http_log(ns, port),
                       stdout=subprocess.PIPE)
        line = _readline_timeout(p.stdout, 5)
        p.stdout.close()
        if line.strip() != 'ready':
            raise LabError(f'HTTP server on port {port} in {ns} did not start, see {p.log_path}')
        return p

    def http_clients(self, ns, port):
        """Client IPs of the requests the serve_http() server on (ns, port) answered, in order."""
        try:
            with open(self._http_log(ns, port)) as f:
                return [line.split()[0] for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def start_zerotier(self, network=ZT_NETWORK, port=ZT_API_PORT, ns='host', extra=()):
        """The fake ZeroTier One service API (fake_zerotier.py) in ns on 127.0.0.1:PORT, joined to
        network; extra: more fake_zerotier.py arguments. Returns a FakeZeroTier."""
        zdir = os.path.join(self.workdir, f'zerotier-{port}')
        os.makedirs(zdir, mode=0o700, exist_ok=True)
        token_file = os.path.join(zdir, 'authtoken.secret')
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        token = ''.join(random.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(24))
        with os.fdopen(fd, 'w') as f:
            f.write(token)
        log = os.path.join(zdir, 'requests.log')
        control = os.path.join(zdir, 'control.json')
        script = os.path.join(os.path.dirname(SELF), 'fake_zerotier.py')
        p = self.spawn(ns, PYTHON, script, '--port', port, '--token-file', token_file,
                       '--network', network, '--log', log, '--control', control, *extra,
                       stdout=subprocess.PIPE)
        line = _readline_timeout(p.stdout, 5)
        p.stdout.close()
        if not line.startswith('listening on '):
            raise LabError(f'fake ZeroTier did not start, see {p.log_path}')
        return FakeZeroTier(p, token, token_file, log, control, port)

    # ---------------------------------------------------------------- persistence (CLI)

    def _save_state(self):
        procs = []
        for p in self._procs:
            st = _proc_starttime(p.pid)
            if p.poll() is None and st is not None:
                procs.append([p.pid, st])
        state = {'prefix': self.prefix, 'workdir': self.workdir, 'bus_address': self.bus_address,
                 'procs': procs + [list(x) for x in self._foreign]}
        tmp = os.path.join(self.workdir, 'state.json.tmp')
        with open(tmp, 'w') as f:
            json.dump(state, f)
        os.replace(tmp, os.path.join(self.workdir, 'state.json'))

    @classmethod
    def attach(cls, prefix=None, workdir=None):
        """A Lab object for a lab started by another process (pflab.py up)."""
        if workdir:
            files = [os.path.join(workdir, 'state.json')]
        elif prefix:
            files = [os.path.join(_default_workdir(prefix), 'state.json')]
        else:
            files = glob.glob(os.path.join(tempfile.gettempdir(), 'pflab-*', 'state.json'))
            if len(files) > 1:
                raise LabError('several labs are up, give --prefix: ' +
                               ' '.join(os.path.basename(os.path.dirname(f))[6:] for f in files))
        if not files or not os.path.exists(files[0]):
            raise LabError('no lab state found' + (f' for prefix {prefix}' if prefix else ''))
        with open(files[0]) as f:
            state = json.load(f)
        lab = cls(prefix=state['prefix'], workdir=state['workdir'])
        lab.persist = True
        lab.bus_address = state['bus_address']
        lab._foreign = [tuple(x) for x in state['procs']]
        lab._is_up = True
        lab._owned = True
        return lab


class UdpStream:
    """A 50 Hz UDP flow from a namespace to the sink in inet; tells which path each packet took."""

    def __init__(self, lab, ns, interval=0.02, iface=None, dst=UDP_SINK):
        self.lab = lab
        self.ns = ns
        self.interval = interval
        self.iface = iface
        self.dst = dst
        self.id = random.getrandbits(32)
        self.proc = None
        self.started = None

    def start(self):
        args = ['_udp-send', self.id, self.interval, self.dst[0], self.dst[1]]
        if self.iface:
            args += ['--iface', self.iface]
        self.started = time.monotonic()
        self.proc = self.lab.spawn(self.ns, PYTHON, SELF, *args)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            _killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                _killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        time.sleep(0.05)   # let the last datagrams land
        self.lab._udp_poll()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def records(self):
        self.lab._udp_poll()
        return list(self.lab._udp_records.get(self.id, ()))

    def first_arrival_via(self, src, after=None):
        for r in self.records():
            if r.src == src and (after is None or r.recv >= after):
                return r
        return None

    def wait_arrival_via(self, src, after=None, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            r = self.first_arrival_via(src, after)
            if r or time.monotonic() >= deadline:
                return r
            time.sleep(0.02)

    def last_arrival(self, src=None):
        for r in reversed(self.records()):
            if src is None or r.src == src:
                return r
        return None

    def count_via(self, src, after=None, before=None):
        return sum(1 for r in self.records() if r.src == src and
                   (after is None or r.recv >= after) and (before is None or r.recv < before))


class FakeZeroTier:
    """A running fake_zerotier.py (Lab.start_zerotier)."""

    def __init__(self, proc, token, token_file, log_path, control_path, port):
        self.proc = proc
        self.token = token
        self.token_file = token_file
        self.log_path = log_path
        self.control_path = control_path
        self.port = port

    def requests(self):
        """[{'method', 'path', 'authorized', 'status', 'time'}] of every request so far."""
        try:
            with open(self.log_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def control(self, **values):
        """Replace the control file the fake re-reads on each request (see fake_zerotier.py)."""
        tmp = self.control_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(values, f)
        os.replace(tmp, self.control_path)

    def stop(self):
        _stop_group(self.proc)


class PolkitMock:
    """dbusmock's polkitd template on the lab bus."""

    def __init__(self, lab, proc):
        self.lab = lab
        self.proc = proc

    def call(self, method, *args):
        cp = self.lab.run(None, 'gdbus', 'call', '--system', '--dest', 'org.freedesktop.PolicyKit1',
                          '--object-path', '/org/freedesktop/PolicyKit1/Authority',
                          '--method', f'org.freedesktop.DBus.Mock.{method}', *args,
                          env=self.lab.host_env(), timeout=10)
        return cp.stdout.strip()

    def set_allowed(self, actions):
        for a in actions:
            if "'" in a or '\\' in a:
                raise LabError(f'bad action id {a!r}')
        self.call('SetAllowed', '@as [' + ', '.join(f"'{a}'" for a in actions) + ']')

    def allow_unknown(self, allow):
        self.call('AllowUnknown', 'true' if allow else 'false')

    def stop(self):
        _stop_group(self.proc)


# -------------------------------------------------------------------- small utilities

def _killpg(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_group(proc, timeout=3):
    """SIGTERM the process group of proc, SIGKILL it after timeout; reaps proc."""
    if proc.poll() is None:
        _killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _readline_timeout(f, timeout):
    result = []
    t = threading.Thread(target=lambda: result.append(f.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        return ''
    line = result[0]
    return line.decode() if isinstance(line, bytes) else line


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _install_sigterm_handler():
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm)


def _unix_socket_alive(path):
    """True if a process listens on the unix stream socket at path."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(1)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _bind_dev(sock, iface):
    if iface:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())


def _family(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET


# -------------------------------------------------------------------- HTTP servers

class QuietHTTPServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server that binds at once (also used by fake_zerotier.py)."""
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        # HTTPServer.server_bind() asks DNS for the host name (getfqdn): slow in a namespace
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class PlainHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1, no request log on stderr; GET and HEAD call _reply(head_only)."""
    protocol_version = 'HTTP/1.1'

    def _reply(self, head_only):
        self.send_error(404)

    def do_GET(self):
        self._reply(False)

    def do_HEAD(self):
        self._reply(True)

    def log_message(self, *args):
        pass


def serve_until_sigterm(server, ready_line):
    """Print ready_line, then serve until SIGTERM; returns 0."""
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print(ready_line, flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


# -------------------------------------------------------------------- helpers run inside namespaces

def _dns_answer(q, address_for):
    """The reply to DNS query q: an A record with address_for(lower-case name), nothing
    for other types; None when q is not a query."""
    if len(q) < 12:
        return None
    qid, flags, qd = struct.unpack('!HHH', q[:6])
    if flags & 0x8000 or qd != 1:
        return None
    labels = []
    i = 12
    while i < len(q) and q[i] != 0:
        labels.append(q[i + 1:i + 1 + q[i]].decode(errors='replace'))
        i += q[i] + 1
    if i + 5 > len(q):
        return None
    question = q[12:i + 5]
    qtype = struct.unpack('!H', q[i + 1:i + 3])[0]
    rflags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080
    ans = b''
    if qtype == 1:
        addr = address_for('.'.join(labels).lower())
        ans = struct.pack('!HHHIH', 0xc00c, 1, 1, 60, 4) + socket.inet_aton(addr)
    return struct.pack('!HHHHHH', qid, rflags, 1, 1 if ans else 0, 0, 0) + question + ans


def _box_dns():
    """The ISP box's resolver on its LAN address: BOX_DNS_NAMES, anything else HTTP_ADDR."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((BOX_LAN_ADDR, 53))
    print('ready', flush=True)
    sys.stdout.close()
    while True:
        q, addr = s.recvfrom(1500)
        a = _dns_answer(q, lambda name: BOX_DNS_NAMES.get(name, HTTP_ADDR))
        if a:
            s.sendto(a, addr)


def _serve(workdir, ipv6=False):
    """inet's servers: DNS, HTTP, TCP 443 listeners, UDP sink (each for IPv6 too with ipv6).
    One process, threads."""
    dns_flag = os.path.join(workdir, 'dns-down')
    sink_log = open(os.path.join(workdir, 'udp-sink.log'), 'ab', buffering=0)

    def dns_loop(addr):
        s = socket.socket(_family(addr), socket.SOCK_DGRAM)
        s.bind((addr, 53))
        ready.release()
        while True:
            q, addr = s.recvfrom(1500)
            if os.path.exists(dns_flag):
                continue
            a = _dns_answer(q, lambda name: HTTP_ADDR)
            if a:
                s.sendto(a, addr)

    def sink_loop(sink):
        s = socket.socket(_family(sink[0]), socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(sink)
        ready.release()
        n = struct.calcsize(UDP_FORMAT)
        while True:
            data, addr = s.recvfrom(1500)
            now = time.monotonic()
            if len(data) < n:
                continue
            magic, sid, seq, sent = struct.unpack(UDP_FORMAT, data[:n])
            if magic == UDP_MAGIC:
                sink_log.write(f'{sid} {seq} {sent:.6f} {now:.6f} {addr[0]}\n'.encode())

    def tcp_loop(addr):
        s = socket.socket(_family(addr), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, 443))
        s.listen(64)
        ready.release()
        while True:
            c, _ = s.accept()
            c.close()

    class Handler(PlainHandler):
        def _reply(self, head_only):
            if self.path == '/health':
                self.send_response(204)
                self.send_header('Content-Length', '0')
                self.end_headers()
            elif self.path == '/':
                self.send_response(200)
                self.send_header('Content-Type', 'text/plain')
                self.send_header('Content-Length', '2')
                self.end_headers()
                if not head_only:
                    self.wfile.write(b'ok')
            else:
                self.send_error(404)

    class Server6(QuietHTTPServer):
        address_family = socket.AF_INET6

    ready = threading.Semaphore(0)
    loops = [(dns_loop, (DNS_ADDR,)), (sink_loop, (UDP_SINK,))] + [(tcp_loop, (a,)) for a in TARGETS]
    if ipv6:
        loops += [(dns_loop, (DNS6_ADDR,)), (sink_loop, (UDP_SINK6,))] + [(tcp_loop, (a,)) for a in TARGETS6]
        httpd6 = Server6((HTTP6_ADDR, 80), Handler)
        threading.Thread(target=httpd6.serve_forever, daemon=True).start()
    for fn, args in loops:
        threading.Thread(target=fn, args=args, daemon=True).start()
    httpd = QuietHTTPServer((HTTP_ADDR, 80), Handler)
    for _ in loops:
        if not ready.acquire(timeout=5):
            sys.exit('a server thread failed to start')
    print('ready', flush=True)
    sys.stdout.close()
    httpd.serve_forever()


def _http_serve(port, body, log_path):
    """serve_http(): answer every GET/HEAD with 200 BODY, log "CLIENT_IP PORT METHOD PATH"."""
    data = body.encode()
    log = open(log_path, 'a', buffering=1)
    lock = threading.Lock()

    class Handler(PlainHandler):
        def _reply(self, head_only):
            with lock:
                log.write(f'{self.client_address[0]} {self.client_address[1]} {self.command} {self.path}\n')
            self.send_response(200)
            self.send_header('Content-Type', 'text/plain')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            if not head_only:
                self.wfile.write(data)

    return serve_until_sigterm(QuietHTTPServer(('0.0.0.0', port), Handler), 'ready')


def _udp_send(sid, interval, dst, port, iface):
    s = socket.socket(_family(dst), socket.SOCK_DGRAM)
    _bind_dev(s, iface)
    s.bind(('::' if ':' in dst else '0.0.0.0', 0))   # one source port for the whole run: one flow
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    seq = 0
    nxt = time.monotonic()
    while True:
        now = time.monotonic()
        try:
            s.sendto(struct.pack(UDP_FORMAT, UDP_MAGIC, sid, seq, now), (dst, port))
        except OSError:
            pass
        seq += 1
        nxt += interval
        if nxt < now:
            nxt = now + interval
        time.sleep(max(0.0, nxt - time.monotonic()))


def _ping(dst, count, interval, timeout, iface):
    import ipaddress
    import select
    v6 = ':' in dst
    if v6:
        # ICMPv6: the kernel fills in the checksum; replies come without the IP header
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        dst = ipaddress.ip_address(dst).compressed
        request, reply = 128, 129
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        dst = socket.gethostbyname(dst)
        request, reply = 8, 0
    _bind_dev(s, iface)
    ident = random.getrandbits(16)

    def checksum(b):
        if len(b) % 2:
            b += b'\0'
        t = sum(struct.unpack(f'!{len(b) // 2}H', b))
        t = (t >> 16) + (t & 0xffff)
        t += t >> 16
        return ~t & 0xffff

    got = set()
    sent = 0
    start = time.monotonic()
    end = start + (count - 1) * interval + timeout
    nxt = start
    while True:
        now = time.monotonic()
        if sent < count and now >= nxt:
            payload = struct.pack('!d', now) + b'pflab' * 8
            hdr = struct.pack('!BBHHH', request, 0, 0, ident, sent)
            pkt = struct.pack('!BBHHH', request, 0, 0 if v6 else checksum(hdr + payload), ident, sent) + payload
            try:
                s.sendto(pkt, (dst, 0))
            except OSError:
                pass
            sent += 1
            nxt += interval
            if sent == count:
                end = now + timeout
            continue
        if now >= end and sent >= count:
            break
        wait = min(end, nxt if sent < count else end) - now
        r, _, _ = select.select([s], [], [], max(0.0, wait))
        if r:
            data, addr = s.recvfrom(2048)
            ihl = 0 if v6 else (data[0] & 0x0f) * 4
            if len(data) < ihl + 8 or addr[0] != dst:
                continue
            typ, _, _, rid, rseq = struct.unpack('!BBHHH', data[ihl:ihl + 8])
            if typ == reply and rid == ident and rseq < count:
                got.add(rseq)
        if sent >= count and len(got) == count:
            break
    print(f'sent {sent} received {len(got)}')
    return 0 if got else 1


def _dns(server, name, timeout):
    s = socket.socket(_family(server), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    qid = random.getrandbits(16)
    q = struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0)
    q += b''.join(bytes([len(p)]) + p.encode() for p in name.strip('.').split('.')) + b'\0'
    q += struct.pack('!HH', 1, 1)
    s.sendto(q, (server, 53))
    deadline = time.monotonic() + timeout
    while True:
        try:
            s.settimeout(max(0.001, deadline - time.monotonic()))
            data, _ = s.recvfrom(1500)
        except socket.timeout:
            return 1
        if len(data) >= 12 and struct.unpack('!H', data[:2])[0] == qid:
            break
    an = struct.unpack('!H', data[6:8])[0]
    if an == 0:
        return 2
    # the responder puts the address in the last 4 bytes of its only answer
    print(socket.inet_ntoa(data[-4:]))
    return 0


def _http(url, timeout, iface):
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    c.connect = _wrap_connect(c, iface)
    try:
        c.request('GET', u.path or '/')
        r = c.getresponse()
        body = r.read().decode(errors='replace')
    except OSError:
        return 1
    print(r.status)
    sys.stdout.write(body)
    return 0


def _wrap_connect(conn, iface):
    def connect():
        s = socket.socket(_family(conn.host), socket.SOCK_STREAM)
        _bind_dev(s, iface)
        s.settimeout(conn.timeout)
        s.connect((conn.host, conn.port))
        conn.sock = s
    return connect


def _tcp(addr, port, timeout, iface):
    s = socket.socket(_family(addr), socket.SOCK_STREAM)
    _bind_dev(s, iface)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
    except OSError:
        return 1
    return 0


# -------------------------------------------------------------------- CLI

FAULTS = {
    'blackhole': ('on|off', lambda lab, v: lab.blackhole(_onoff(v))),
    'primary-link': ('up|down', lambda lab, v: lab.primary_link(_updown(v))),
    'loss': ('PERCENT', lambda lab, v: lab.loss(int(v))),
    'backup-dead': ('on|off', lambda lab, v: lab.backup_dead(_onoff(v))),
    'backup-link': ('up|down', lambda lab, v: lab.backup_link(_updown(v))),
    'dns-down': ('on|off', lambda lab, v: lab.dns_down(_onoff(v))),
    'tunnel-server': ('up|down', lambda lab, v: lab.tunnel_server(_updown(v))),
}


def _onoff(v):
    if v not in ('on', 'off'):
        raise LabError(f'expected on or off, got {v!r}')
    return v == 'on'


def _updown(v):
    if v not in ('up', 'down'):
        raise LabError(f'expected up or down, got {v!r}')
    return v == 'up'


def _cli_status(lab):
    print(f'prefix      {lab.prefix}')
    print(f'workdir     {lab.workdir}')
    print(f'bus         DBUS_SYSTEM_BUS_ADDRESS={lab.bus_address}')
    present = set(_netns_list())
    print('namespaces  ' + ' '.join(f'{n}{"" if lab.ns(n) in present else "(missing)"}' for n in NAMESPACES))
    if lab.ns('host') not in present:
        return 1
    print('faults      ' + ' '.join(f'{k}={v}' for k, v in lab.faults().items()))
    print(f'nm          {HOST_BACKUP_IF}: {lab.nm_device_state() or "?"}, '
          f'{LTE_CONNECTION}: {lab.nm_connection_state() or "inactive"}')
    checks = [('host→primary', 'host', None), ('host→backup', 'host', HOST_BACKUP_IF),
              ('guest-ok', 'guest-ok', None), ('guest-no', 'guest-no', None)]
    print('reach       ' + ' '.join(
        f'{label}={"ok" if lab.ping(ns, TARGETS[0], iface=iface) else "FAIL"}' for label, ns, iface in checks))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog='pflab.py', description='pvefailover network lab')
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('up', help='build a lab and leave it running')
    p.add_argument('--prefix')
    p.add_argument('--workdir')
    p.add_argument('--no-lte-autoconnect', action='store_true')
    p.add_argument('--wait-lte', action='store_true', help='return once "lte" is activated')
    p.add_argument('--ipv6', action='store_true', help='IPv6 on every link as well')
    p.add_argument('--tunnel', action='store_true', help='the VXLAN tunnel over the stick as well')
    for name, hlp in (('down', 'tear a lab down'), ('status', 'show a lab')):
        p = sub.add_parser(name, help=hlp)
        p.add_argument('--prefix')
        p.add_argument('--workdir')
    p = sub.add_parser('fault', help='inject or clear a fault: ' +
                       ', '.join(f'{k} {v[0]}' for k, v in FAULTS.items()))
    p.add_argument('--prefix')
    p.add_argument('--workdir')
    p.add_argument('name', choices=sorted(FAULTS))
    p.add_argument('value')
    p = sub.add_parser('exec', help='run a command in a lab namespace, with the lab bus')
    p.add_argument('--prefix')
    p.add_argument('--workdir')
    p.add_argument('ns', choices=NAMESPACES)
    p.add_argument('command', nargs=argparse.REMAINDER)

    # internal helpers, run inside namespaces
    p = sub.add_parser('_serve')
    p.add_argument('workdir')
    p.add_argument('--ipv6', action='store_true')
    p = sub.add_parser('_http-serve')
    p.add_argument('port', type=int)
    p.add_argument('body')
    p.add_argument('log')
    sub.add_parser('_box-dns')
    p = sub.add_parser('_udp-send')
    p.add_argument('sid', type=int)
    p.add_argument('interval', type=float)
    p.add_argument('dst')
    p.add_argument('port', type=int)
    p.add_argument('--iface')
    p = sub.add_parser('_ping')
    p.add_argument('dst')
    p.add_argument('--count', type=int, default=1)
    p.add_argument('--interval', type=float, default=0.2)
    p.add_argument('--timeout', type=float, default=1)
    p.add_argument('--iface')
    p = sub.add_parser('_dns')
    p.add_argument('server')
    p.add_argument('name')
    p.add_argument('--timeout', type=float, default=1)
    p = sub.add_parser('_http')
    p.add_argument('url')
    p.add_argument('--timeout', type=float, default=2)
    p.add_argument('--iface')
    p = sub.add_parser('_tcp')
    p.add_argument('addr')
    p.add_argument('port', type=int)
    p.add_argument('--timeout', type=float, default=1)
    p.add_argument('--iface')
    a = ap.parse_args(argv)

    if a.cmd == '_serve':
        return _serve(a.workdir, a.ipv6)
    if a.cmd == '_http-serve':
        return _http_serve(a.port, a.body, a.log)
    if a.cmd == '_box-dns':
        return _box_dns()
    if a.cmd == '_udp-send':
        return _udp_send(a.sid, a.interval, a.dst, a.port, a.iface)
    if a.cmd == '_ping':
        return _ping(a.dst, a.count, a.interval, a.timeout, a.iface)
    if a.cmd == '_dns':
        return _dns(a.server, a.name, a.timeout)
    if a.cmd == '_http':
        return _http(a.url, a.timeout, a.iface)
    if a.cmd == '_tcp':
        return _tcp(a.addr, a.port, a.timeout, a.iface)

    if os.geteuid() != 0:
        sys.exit('pflab.py: must run as root')
    try:
        if a.cmd == 'up':
            lab = Lab(prefix=a.prefix, workdir=a.workdir, lte_autoconnect=not a.no_lte_autoconnect,
                      ipv6=a.ipv6, tunnel=a.tunnel)
            lab.persist = True
            lab.up()
            if a.wait_lte:
                lab.nm_wait_activated()
            print(f'lab {lab.prefix} up in {lab.up_seconds:.1f} s, work directory {lab.workdir}')
            print(f'  ip netns exec {lab.ns("host")} bash')
            print(f'  DBUS_SYSTEM_BUS_ADDRESS={lab.bus_address} nmcli device')
            print(f'  {sys.argv[0]} fault --prefix {lab.prefix} blackhole on')
            print(f'  {sys.argv[0]} down --prefix {lab.prefix}')
            return 0
        if a.cmd == 'down':
            try:
                lab = Lab.attach(a.prefix, a.workdir)
            except LabError:
                if not a.prefix:
                    raise
                lab = Lab(prefix=a.prefix)   # no state: still kill what lives in its namespaces
                lab._is_up = lab._owned = True
            lab.down()
            print(f'lab {lab.prefix} down')
            return 0
        lab = Lab.attach(a.prefix, a.workdir)
        if a.cmd == 'status':
            return _cli_status(lab)
        if a.cmd == 'fault':
            FAULTS[a.name][1](lab, a.value)
            return 0
        if a.cmd == 'exec':
            cmd = a.command or ['bash']
            os.execvpe('ip', ['ip', 'netns', 'exec', lab.ns(a.ns)] + cmd, lab.host_env())
    except (LabError, subprocess.CalledProcessError) as e:
        print(f'pflab.py: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
