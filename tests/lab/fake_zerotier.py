#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A fake ZeroTier One local service API (the JSON control plane of zerotier-one 1.12).

    fake_zerotier.py --token-file FILE [--port 9993] [--address 127.0.0.1] [--network NWID]...
                     [--device NAME] [--assigned CIDR]... [--node ADDRESS]
                     [--peer ZTADDR=IP/PORT]... [--control FILE] [--log FILE]
    fake_zerotier.py --selftest

--port 0 picks a free port. The first line on stdout is "listening on ADDRESS:PORT".

Like the real service: every request but GET /health needs the token of the token file
(authtoken.secret) in an X-ZT1-Auth header, an ?auth= parameter or "Authorization: Bearer",
and a loopback client, else 401 with body {}. Routes (anything else: 404, empty body):
    GET /status              {address, publicIdentity, online, tcpFallbackActive, version*,
                              clock, config: {settings: {...}}, planetWorldId, ...}
    GET /health              {online, version*, clock}, no token needed
    GET /network             [network, ...]       GET /network/NWID   network, or 404 {}
    POST|PUT /network/NWID   join (or update the settings of) a network; a JSON body may set the
                             booleans allowManaged, allowGlobal, allowDefault, allowDNS (other
                             types are ignored); returns the network
    DELETE /network/NWID     leave: {"result": true} if it was joined, else {}
    GET /peer                [peer, ...]          GET /peer/ZTADDR   peer, or {}
Documents are compact JSON with sorted keys (nlohmann::json dump()), application/json.
A network: id, nwid, mac, name, status ("OK"), type, mtu, dhcp, bridge, broadcastEnabled,
portError, netconfRevision, portDeviceName, allowManaged/Global/Default/DNS,
assignedAddresses ["10.147.17.5/24"], routes [{target, via, flags, metric}],
multicastSubscriptions, dns {domain, servers}. A peer: address, version*, latency, role
(LEAF, MOON, PLANET), isBonded, tunneled, paths [{address "IP/PORT", lastSend, lastReceive
(ms since the epoch), trustedPathId, active, expired, preferred, localSocket, localPort}].

Networks of --network are joined at start (the first one gets --device and --assigned; the
device name is otherwise derived from the network id like zerotier-one on Linux, "zt" + 8
base32 characters). Networks joined later have status OK and no assigned address.

The control file (JSON object, re-read on every request, missing = {}):
    fault: "ok" | "http-500" (every request) | "hang" (no answer while it lasts)
    online: bool                    networks: {NWID: {field: value, ...}} merged into each one
    peers: [peer, ...]              replaces the peer list
The log gets one JSON line per request: method, path (no query: it may hold the token),
authorized, status, time (CLOCK_MONOTONIC, the clock of every lab namespace), and for
POST/PUT the JSON body. The token is never logged.
Standard library only (and pflab.py beside it).
"""

import argparse
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pflab import QuietHTTPServer, serve_until_sigterm  # noqa: E402

VERSION = (1, 12, 2)
BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'
DEFAULT_NETWORK = '8056c2e21c000001'
DEFAULT_NODE = '1a2b3c4d5e'
DEFAULT_PEER = '203.0.113.10/9993'   # pflab's remote namespace
HANG_LIMIT_S = 600
NETWORK_SETTINGS = ('allowManaged', 'allowGlobal', 'allowDefault', 'allowDNS')


def device_name(nwid):
    """zerotier-one's Linux tap name for a network: "zt" + base32 of 40 bits of the id."""
    n = int(nwid, 16)
    n40 = (n ^ (n >> 24)) & 0xffffffffff
    return 'zt' + ''.join(BASE32[(n40 >> (35 - 5 * i)) & 0x1f] for i in range(8))


def network_mac(node, nwid):
    """The MAC zerotier-one gives this node on a network (MAC::fromAddress)."""
    n = int(nwid, 16)
    first = (n & 0xfe) | 0x02
    if first == 0x52:
        first = 0x32
    m = (first << 40) | int(node, 16)
    for i, shift in enumerate((32, 24, 16, 8, 0)):
        m ^= ((n >> (8 * (i + 1))) & 0xff) << shift
    return ':'.join(f'{(m >> s) & 0xff:02x}' for s in range(40, -8, -8))


def now_ms():
    return int(time.time() * 1000)


def dump(doc):
    return json.dumps(doc, sort_keys=True, separators=(',', ':'))


class Fake:
    def __init__(self, token, node, networks, device, assigned, peers, control, log):
        self.token = token
        self.node = node
        self.control_path = control
        self.log_path = log
        self.lock = threading.Lock()
        self.networks = {}
        self.settings = {}
        for i, nwid in enumerate(networks):
            self.join(nwid, device if i == 0 else None, assigned if i == 0 else [])
        self.peers = peers
        self.started = time.time()

    def join(self, nwid, device=None, assigned=()):
        nwid = nwid.lower()
        if nwid in self.networks:
            return
        routes = []
        for a in assigned:
            ip, _, bits = a.partition('/')
            if ':' not in ip and bits:
                net = int.from_bytes(bytes(int(x) for x in ip.split('.')), 'big')
                net &= (0xffffffff << (32 - int(bits))) & 0xffffffff
                routes.append({'target': '.'.join(str((net >> s) & 0xff) for s in (24, 16, 8, 0)) + '/' + bits,
                               'via': None, 'flags': 0, 'metric': 0})
        self.networks[nwid] = {
            'id': nwid, 'nwid': nwid, 'mac': network_mac(self.node, nwid),
            'name': f'pflab-{nwid[-4:]}', 'status': 'OK', 'type': 'PRIVATE', 'mtu': 2800,
            'dhcp': False, 'bridge': False, 'broadcastEnabled': True, 'portError': 0,
            'netconfRevision': 1, 'portDeviceName': device or device_name(nwid),
            'assignedAddresses': list(assigned), 'routes': routes, 'multicastSubscriptions': [],
            'dns': {'domain': '', 'servers': []},
        }
        self.settings[nwid] = {'allowManaged': True, 'allowGlobal': False, 'allowDefault': False,
                               'allowDNS': False}

    def control(self):
        if not self.control_path:
            return {}
        try:
            with open(self.control_path) as f:
                c = json.load(f)
            return c if isinstance(c, dict) else {}
        except (OSError, ValueError):
            return {}

    def network(self, nwid, c):
        doc = dict(self.networks[nwid])
        doc.update(self.settings[nwid])
        doc.update((c.get('networks') or {}).get(nwid, {}))
        return doc

    def peer_list(self, c):
        if 'peers' in c:
            return c['peers']
        t = now_ms()
        return [{'address': addr, 'versionMajor': VERSION[0], 'versionMinor': VERSION[1],
                 'versionRev': VERSION[2], 'version': '%d.%d.%d' % VERSION, 'latency': 12,
                 'role': 'LEAF', 'isBonded': False, 'tunneled': False,
                 'paths': [{'address': path, 'lastSend': t - 1000, 'lastReceive': t - 1000,
                            'trustedPathId': 0, 'active': True, 'expired': False,
                            'preferred': True, 'localSocket': 1, 'localPort': 9993}]}
                for addr, path in self.peers]

    def status(self, c, port):
        online = bool(c.get('online', True))
        return {
            'address': self.node,
            'publicIdentity': f'{self.node}:0:' + '0' * 128,
            'online': online, 'tcpFallbackActive': False,
            'versionMajor': VERSION[0], 'versionMinor': VERSION[1], 'versionRev': VERSION[2],
            'versionBuild': 0, 'version': '%d.%d.%d' % VERSION, 'clock': now_ms(),
            'config': {'settings': {
                'allowTcpFallbackRelay': True, 'forceTcpRelay': False, 'primaryPort': port,
                'secondaryPort': 0, 'tertiaryPort': 0, 'homeDir': '/var/lib/zerotier-one',
                'listeningOn': [], 'surfaceAddresses': [], 'portMappingEnabled': True,
                'softwareUpdate': 'disable', 'softwareUpdateChannel': 'release'}},
            'planetWorldId': 149604618, 'planetWorldTimestamp': 1644592324813,
        }

    def log(self, entry):
        if not self.log_path:
            return
        with self.lock:
            with open(self.log_path, 'a') as f:
                f.write(dump(entry) + '\n')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    fake = None

    def log_message(self, *args):
        pass

    def authorized(self, query):
        if not self.client_address[0].startswith('127.'):
            return False
        token = self.fake.token
        if self.headers.get('X-ZT1-Auth') is not None:
            return self.headers.get('X-ZT1-Auth') == token
        if 'auth' in query:
            return query['auth'][0] == token
        auth = self.headers.get('Authorization')
        return auth is not None and auth == f'Bearer {token}'

    def answer(self, status, body):
        data = body.encode()
        self.send_response(status)
        if data:
            self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_request(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = urllib.parse.parse_qs(url.query)
        body = None
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length > 0 else b''
        if self.command in ('POST', 'PUT'):
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                body = None
        c = self.fake.control()
        auth = path == '/health' or self.authorized(query)
        entry = {'method': self.command, 'path': path, 'authorized': auth, 'time': time.monotonic()}
        if body is not None:
            entry['body'] = body
        fault = c.get('fault', 'ok')
        if fault == 'hang':
            entry['status'] = None
            self.fake.log(entry)
            start = time.monotonic()
            while time.monotonic() - start < HANG_LIMIT_S and self.fake.control().get('fault') == 'hang':
                time.sleep(0.1)
            self.close_connection = True
            return
        if fault == 'http-500':
            status, doc = 500, '{"error": 500, "description": "fake failure"}'
        elif not auth:
            status, doc = 401, '{}'
        else:
            status, doc = self.route(path, body, c)
        entry['status'] = status
        self.fake.log(entry)
        self.answer(status, doc)

    def route(self, path, body, c):
        fake = self.fake
        parts = [p for p in path.split('/') if p]
        m = self.command
        with fake.lock:
            if parts == ['status'] and m == 'GET':
                return 200, dump(fake.status(c, self.server.server_address[1]))
            if parts == ['health'] and m == 'GET':
                s = fake.status(c, 0)
                return 200, dump({k: s[k] for k in ('online', 'versionMajor', 'versionMinor', 'versionRev',
                                                    'versionBuild', 'version', 'clock')})
            if parts == ['network'] and m == 'GET':
                return 200, dump([fake.network(n, c) for n in sorted(fake.networks)])
            if parts == ['peer'] and m == 'GET':
                return 200, dump(fake.peer_list(c))
            if len(parts) == 2 and parts[0] == 'peer' and _hex(parts[1], 10) and m == 'GET':
                found = [p for p in fake.peer_list(c) if p.get('address') == parts[1].lower()]
                return 200, dump(found[0] if found else {})
            if len(parts) == 2 and parts[0] == 'network' and _hex(parts[1], 16):
                return self.route_network(parts[1].lower(), body, c)
        return 404, ''

    def route_network(self, nwid, body, c):
        fake = self.fake
        m = self.command
        if m == 'GET':
            if nwid not in fake.networks:
                return 404, '{}'
            return 200, dump(fake.network(nwid, c))
        if m in ('POST', 'PUT'):
            fake.join(nwid)
            if isinstance(body, dict):
                for k in NETWORK_SETTINGS:
                    if isinstance(body.get(k), bool):
                        fake.settings[nwid][k] = body[k]
            return 200, dump(fake.network(nwid, c))
        if m == 'DELETE':
            if nwid in fake.networks:
                del fake.networks[nwid]
                del fake.settings[nwid]
                return 200, dump({'result': True})
            return 200, '{}'
        return 404, ''

    do_GET = do_POST = do_PUT = do_DELETE = handle_request


def _hex(s, n):
    return len(s) == n and all(ch in '0123456789abcdefABCDEF' for ch in s)


def _peer_arg(s):
    addr, sep, path = s.partition('=')
    if not sep or not _hex(addr, 10) or '/' not in path:
        raise argparse.ArgumentTypeError(f'expected ZTADDR=IP/PORT, got {s!r}')
    return addr.lower(), path


def _network_arg(s):
    if not _hex(s, 16):
        raise argparse.ArgumentTypeError(f'expected a 16-digit hex network id, got {s!r}')
    return s.lower()


# -------------------------------------------------------------------- self-test

def selftest():
    """Start this fake on a free port and check the API like a client would."""
    failures = []

    def check(ok, what):
        print(f'{"ok  " if ok else "FAIL"} {what}', flush=True)
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory() as d:
        token_file = os.path.join(d, 'authtoken.secret')
        with open(token_file, 'w') as f:
            f.write('s3cr3t-t0ken\n')
        log = os.path.join(d, 'log')
        control = os.path.join(d, 'control.json')
        nwid, other = '8056c2e21c000001', 'a09acf0233e4b070'
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--port', '0', '--token-file',
                              token_file, '--network', nwid, '--assigned', '10.147.17.5/24', '--log', log,
                              '--control', control, '--peer', 'abcdef0123=203.0.113.10/9993'],
                             stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            port = int(line.rsplit(':', 1)[1])
            base = f'http://127.0.0.1:{port}'

            def call(method, path, token='s3cr3t-t0ken', body=None, header='X-ZT1-Auth'):
                req = urllib.request.Request(base + path, method=method,
                                             data=None if body is None else json.dumps(body).encode())
                if token is not None:
                    req.add_header(header, token if header == 'X-ZT1-Auth' else f'Bearer {token}')
                try:
                    with urllib.request.urlopen(req, timeout=5) as r:
                        return r.status, r.read().decode()
                except urllib.error.HTTPError as e:
                    return e.code, e.read().decode()

            check(call('GET', '/status', token=None) == (401, '{}'), '401 {} without a token')
            check(call('GET', '/status', token='wrong')[0] == 401, '401 with a wrong token')
            check(call('GET', '/health', token=None)[0] == 200, '/health needs no token')
            st, doc = call('GET', '/status')
            s = json.loads(doc)
            check(st == 200 and s['online'] is True and s['version'] == '1.12.2'
                  and s['address'] == DEFAULT_NODE and 'settings' in s['config'], 'GET /status')
            check(doc == dump(s), 'compact JSON, sorted keys')
            check(call('GET', '/status', header='Authorization')[0] == 200, 'Authorization: Bearer')
            check(call('GET', '/status?auth=s3cr3t-t0ken', token=None)[0] == 200, '?auth= parameter')
            nets = json.loads(call('GET', '/network')[1])
            check(len(nets) == 1 and nets[0]['id'] == nwid and nets[0]['nwid'] == nwid
                  and nets[0]['status'] == 'OK' and nets[0]['portDeviceName'] == device_name(nwid)
                  and nets[0]['portDeviceName'].startswith('zt') and len(nets[0]['portDeviceName']) == 10
                  and nets[0]['assignedAddresses'] == ['10.147.17.5/24']
                  and nets[0]['routes'][0]['target'] == '10.147.17.0/24'
                  and nets[0]['allowManaged'] is True, 'GET /network')
            check(call('GET', f'/network/{other}') == (404, '{}'), 'GET unknown network: 404 {}')
            st, doc = call('POST', f'/network/{other}', body={'allowDefault': True, 'allowGlobal': 'yes'})
            n = json.loads(doc)
            check(st == 200 and n['id'] == other and n['allowDefault'] is True and n['allowGlobal'] is False,
                  'POST joins, takes booleans only')
            check(len(json.loads(call('GET', '/network')[1])) == 2, 'two networks after join')
            check(json.loads(call('DELETE', f'/network/{other}')[1]) == {'result': True}, 'DELETE leaves')
            check(call('DELETE', f'/network/{other}') == (200, '{}'), 'DELETE again: {}')
            check(call('GET', f'/network/{other}')[0] == 404, 'left network is gone')
            peers = json.loads(call('GET', '/peer')[1])
            path = peers[0]['paths'][0]
            check(peers[0]['address'] == 'abcdef0123' and path['address'] == '203.0.113.10/9993'
                  and path['active'] is True and path['preferred'] is True
                  and abs(path['lastReceive'] - now_ms()) < 60000, 'GET /peer with paths')
            check(json.loads(call('GET', '/peer/abcdef0123')[1])['address'] == 'abcdef0123', 'GET /peer/ADDR')
            check(call('GET', '/nothing')[0] == 404, 'unknown path: 404')
            with open(control, 'w') as f:
                json.dump({'online': False, 'networks': {nwid: {'status': 'ACCESS_DENIED'}}}, f)
            check(json.loads(call('GET', '/status')[1])['online'] is False, 'control: online false')
            check(json.loads(call('GET', f'/network/{nwid}')[1])['status'] == 'ACCESS_DENIED',
                  'control: network override')
            with open(control, 'w') as f:
                json.dump({'fault': 'http-500'}, f)
            check(call('GET', '/status')[0] == 500, 'control: http-500')
            with open(log) as f:
                text = f.read()
            entries = [json.loads(x) for x in text.splitlines()]
            posts = [e for e in entries if e['method'] == 'POST']
            check(len(entries) == 19 and entries[0]['authorized'] is False and entries[3]['authorized'] is True
                  and entries[0]['status'] == 401 and entries[3]['path'] == '/status'
                  and all(isinstance(e['time'], float) for e in entries)
                  and len(posts) == 1 and posts[0]['body'] == {'allowDefault': True, 'allowGlobal': 'yes'},
                  f'request log ({len(entries)} entries)')
            check('s3cr3t' not in text, 'the token is never logged')
        finally:
            p.terminate()
            p.wait(5)
    print(f'{len(failures)} failure(s)')
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--address', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=9993)
    ap.add_argument('--token-file')
    ap.add_argument('--network', action='append', type=_network_arg)
    ap.add_argument('--device')
    ap.add_argument('--assigned', action='append', default=[])
    ap.add_argument('--node', default=DEFAULT_NODE)
    ap.add_argument('--peer', action='append', type=_peer_arg)
    ap.add_argument('--control')
    ap.add_argument('--log')
    ap.add_argument('--selftest', action='store_true')
    a = ap.parse_args()
    if a.selftest:
        return selftest()
    if not a.token_file:
        ap.error('--token-file is required')
    with open(a.token_file) as f:
        token = f.read().strip()
    networks = a.network or [DEFAULT_NETWORK]
    peers = a.peer or [(networks[0][:10], DEFAULT_PEER)]
    Handler.fake = Fake(token, a.node.lower(), networks, a.device, a.assigned, peers, a.control, a.log)
    server = QuietHTTPServer((a.address, a.port), Handler)
    return serve_until_sigterm(server, f'listening on {a.address}:{server.server_address[1]}')


if __name__ == '__main__':
    sys.exit(main())
