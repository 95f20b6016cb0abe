#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Probes are bound to their uplink: a lab of network namespaces with two
# uplinks proves that every probe kind (ICMP, TCP, DNS, HTTP, HTTPS) goes out
# through the interface it is bound to, and never follows the main routing
# table.
#
#            up1 ── r1 ──┐
#   host                 net (198.51.100.10: icmp, tcp 7000, dns 53, http 8080, https 8443)
#            up2 ── r2 ──┘
#
# The host's main table has its default route via r1 only. Probes through up2
# need table 7100 (default via r2 dev up2) and the rule "fwmark 0x70f0 lookup
# 7100", which is what the daemon's routing actuator installs. Then r1 is
# blackholed (nft drop in its forward hook): every probe kind through up1 must
# fail while through up2 it still succeeds. A probe that is not bound to its
# device would follow the mark to table 7100 and "succeed" through up1.
#
# Usage: test_probes.py PATH/TO/pf-probe-tool
# Exit: 0 passed, 1 failed, 77 not root.

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TARGET = "198.51.100.10"
MARK = "0x70f0"
TABLE = "7100"

KINDS = {
    "icmp": f"icmp:{TARGET}",
    "tcp": f"tcp:{TARGET}:7000",
    "dns": f"dns:{TARGET}/example.org",
    "http": f"http://{TARGET}:8080/health",
    "https": f"https://{TARGET}:8443/health",
}

SERVER = r'''
import socket, ssl, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADDR, CERT, KEY = sys.argv[1], sys.argv[2], sys.argv[3]

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/error")
            body = b""
        elif self.path == "/error":
            self.send_response(500)
            body = b"broken\n"
        else:
            self.send_response(200)
            body = b"ok\n"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

def serve_http(port, tls):
    server = ThreadingHTTPServer((ADDR, port), Handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(CERT, KEY)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()

def serve_tcp(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ADDR, port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        c.close()

def serve_dns(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ADDR, port))
    while True:
        data, peer = s.recvfrom(512)
        if len(data) < 12:
            continue
        # Question name, to pick the answer.
        i, labels = 12, []
        while i < len(data) and data[i] != 0:
            labels.append(data[i + 1:i + 1 + data[i]].decode(errors="replace"))
            i += 1 + data[i]
        question = data[12:i + 5]
        name = ".".join(labels)
        rcode = 2 if name == "servfail.test" else (3 if name.endswith(".invalid") else 0)
        flags = bytes([0x81, 0x80 | rcode])
        if rcode == 0:
            answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton(ADDR)
            counts = b"\x00\x01\x00\x01\x00\x00\x00\x00"
        else:
            answer = b""
            counts = b"\x00\x01\x00\x00\x00\x00\x00\x00"
        s.sendto(data[:2] + flags + counts + question + answer, peer)

for target, args in ((serve_http, (8080, False)), (serve_http, (8443, True)),
                     (serve_tcp, (7000,)), (serve_dns, (53,))):
    threading.Thread(target=target, args=args, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
'''


class Lab:
    def __init__(self):
        self.prefix = f"pfprb{os.getpid()}"
        self.ns = {n: f"{self.prefix}-{n}" for n in ("host", "r1", "r2", "net")}
        self.created = []
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="pf-probes-")

    def run(self, *args, check=True):
        res = subprocess.run(list(args), capture_output=True, text=True)
        if check and res.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {res.stderr.strip()}")
        return res

    def nsrun(self, ns, *args, check=True):
        return self.run("ip", "netns", "exec", self.ns[ns], *args, check=check)

    def ip(self, ns, *args):
        return self.run("ip", "-n", self.ns[ns], *args)

    def sysctl(self, ns, key, value):
        self.nsrun(ns, "sysctl", "-qw", f"{key}={value}")

    def setup(self):
        for name in self.ns.values():
            self.run("ip", "netns", "add", name)
            self.created.append(name)
        for ns in self.ns:
            self.ip(ns, "link", "set", "lo", "up")

        # host <-> r1, host <-> r2, r1 <-> net, r2 <-> net
        self.ip("host", "link", "add", "up1", "type", "veth", "peer", "name", "to-host", "netns", self.ns["r1"])
        self.ip("host", "link", "add", "up2", "type", "veth", "peer", "name", "to-host", "netns", self.ns["r2"])
        self.ip("r1", "link", "add", "to-net", "type", "veth", "peer", "name", "to-r1", "netns", self.ns["net"])
        self.ip("r2", "link", "add", "to-net", "type", "veth", "peer", "name", "to-r2", "netns", self.ns["net"])

        # Loose reverse-path filtering on the host: replies to probes bound to
        # up2 arrive on up2 while the main table's route to them is via up1.
        self.sysctl("host", "net.ipv4.conf.all.rp_filter", 2)
        self.sysctl("host", "net.ipv4.conf.default.rp_filter", 2)
        for ifname in ("up1", "up2"):
            self.sysctl("host", f"net.ipv4.conf.{ifname}.rp_filter", 2)

        addrs = [
            ("host", "up1", "10.71.1.2/24"), ("r1", "to-host", "10.71.1.1/24"),
            ("host", "up2", "10.71.2.2/24"), ("r2", "to-host", "10.71.2.1/24"),
            ("r1", "to-net", "10.71.11.1/24"), ("net", "to-r1", "10.71.11.2/24"),
            ("r2", "to-net", "10.71.12.1/24"), ("net", "to-r2", "10.71.12.2/24"),
        ]
        for ns, ifname, addr in addrs:
            self.ip(ns, "addr", "add", addr, "dev", ifname)
            self.ip(ns, "link", "set", ifname, "up")
        self.ip("net", "addr", "add", f"{TARGET}/32", "dev", "lo")

        for r in ("r1", "r2"):
            self.sysctl(r, "net.ipv4.ip_forward", 1)
        self.ip("r1", "route", "add", "198.51.100.0/24", "via", "10.71.11.2")
        self.ip("r2", "route", "add", "198.51.100.0/24", "via", "10.71.12.2")
        self.ip("net", "route", "add", "10.71.1.0/24", "via", "10.71.11.1")
        self.ip("net", "route", "add", "10.71.2.0/24", "via", "10.71.12.1")

        # The main table knows r1 only.
        self.ip("host", "route", "add", "default", "via", "10.71.1.1", "dev", "up1")

        self.start_servers()

    def start_servers(self):
        cert = os.path.join(self.tmp, "cert.pem")
        key = os.path.join(self.tmp, "key.pem")
        if shutil.which("openssl") is None:
            raise RuntimeError("openssl is needed for the HTTPS server (apt-get install openssl)")
        self.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=lab.invalid")
        script = os.path.join(self.tmp, "server.py")
        with open(script, "w") as f:
            f.write(SERVER)
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns["net"], "/usr/bin/python3", script,
                                 TARGET, cert, key],
                                stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.procs.append(proc)
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("lab servers did not start")

    def add_backup_table(self):
        self.ip("host", "route", "add", "default", "via", "10.71.2.1", "dev", "up2", "table", TABLE)
        self.ip("host", "rule", "add", "fwmark", MARK, "lookup", TABLE)

    def blackhole(self, router):
        self.nsrun(router, "nft", "add table inet lab; "
                   "add chain inet lab forward_drop { type filter hook forward priority 0; policy drop; }")

    def cleanup(self):
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for name in reversed(self.created):
            pids = self.run("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            self.run("ip", "netns", "del", name, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


class Checks:
    def __init__(self, lab, tool):
        self.lab = lab
        self.tool = tool
        self.failures = []
        self.results = []

    def probe(self, interface, targets, quorum=1, timeout=400, env=None, extra=()):
        cmd = ["ip", "netns", "exec", self.lab.ns["host"], "env", "G_DEBUG=fatal-criticals"]
        for k, v in ({"PF_PROBE_TLS_INSECURE": "1"} if env is None else env).items():
            cmd.append(f"{k}={v}")
        cmd += [self.tool, "--interface", interface, "--mark", MARK, "--timeout", str(timeout),
                "--quorum", str(quorum), *extra, *targets]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        lines = [json.loads(l) for l in res.stdout.splitlines() if l.startswith("{")]
        if res.returncode not in (0, 1) or not lines:
            raise RuntimeError(f"pf-probe-tool crashed or printed nothing: rc={res.returncode} "
                               f"stdout={res.stdout!r} stderr={res.stderr!r}")
        return res.returncode, lines

    def expect(self, name, interface, targets, ok, quorum=1, timeout=400, env=None, reason=None,
               extra=()):
        rc, lines = self.probe(interface, targets, quorum, timeout, env, extra)
        last = lines[-1]
        good = (rc == 0) == ok and last["ok"] == ok
        if reason is not None and reason not in last["summary"]:
            good = False
        self.results.append((name, last))
        status = "ok  " if good else "FAIL"
        print(f"{status} {name}: rc={rc} {json.dumps(last)}")
        if not good:
            self.failures.append(name)
        return lines

    def every_kind(self, phase, interface, ok):
        for kind, target in KINDS.items():
            self.expect(f"{phase}: {kind} via {interface} {'answers' if ok else 'fails'}",
                        interface, [target], ok)


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root for network namespaces")
        return 77
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} PATH/TO/pf-probe-tool", file=sys.stderr)
        return 1
    tool = os.path.abspath(sys.argv[1])

    lab = Lab()
    try:
        lab.setup()
        c = Checks(lab, tool)

        # 1. The primary, whose route is in the main table.
        c.every_kind("primary", "up1", True)
        c.expect("primary: all kinds in one round", "up1", list(KINDS.values()), True, quorum=len(KINDS))
        c.expect("primary: redirect not followed (3xx answers)", "up1", [f"http://{TARGET}:8080/redirect"], True)
        c.expect("primary: HTTP 500 fails", "up1", [f"http://{TARGET}:8080/error"], False, reason="HTTP 500")
        c.expect("primary: TCP refused fails", "up1", [f"tcp:{TARGET}:7001"], False, reason="refused")
        c.expect("primary: DNS NXDOMAIN answers", "up1", [f"dns:{TARGET}/nothing.invalid"], True)
        c.expect("primary: DNS SERVFAIL fails", "up1", [f"dns:{TARGET}/servfail.test"], False, reason="rcode 2")
        c.expect("primary: self-signed HTTPS fails when verifying", "up1", [KINDS["https"]], False, env={})
        c.expect("primary: 2 of 3 with quorum 2", "up1",
                 [KINDS["icmp"], "icmp:198.51.100.99", KINDS["tcp"]], True, quorum=2)
        c.expect("missing interface fails with the reason", "nosuch0", list(KINDS.values()), False,
                 reason="No such device")
        c.expect("primary: 3 rounds", "up1", [KINDS["icmp"]], True, extra=("--rounds", "3"))

        # 2. The backup has no route in the main table: bound probes cannot
        #    leave until the routing actuator's table and rule exist.
        c.expect("backup without table: icmp via up2 fails", "up2", [KINDS["icmp"]], False)

        lab.add_backup_table()
        c.every_kind("backup table", "up2", True)
        c.every_kind("backup table", "up1", True)

        # 3. Silent upstream blackhole behind r1.
        lab.blackhole("r1")
        c.every_kind("r1 blackholed", "up1", False)
        c.every_kind("r1 blackholed", "up2", True)

        # 4. The prober's own schedule: fast interval 100 ms < timeout 400 ms,
        #    so rounds overlap; every one of them reports.
        lines = c.expect("schedule: fast rounds overlap and all fail via up1", "up1",
                         [KINDS["icmp"], KINDS["http"]], False, timeout=400,
                         extra=("--run-for", "1250", "--fast", "--fast-interval", "100"))
        if not 7 <= len(lines) <= 10 or any(l["ok"] for l in lines):
            print(f"FAIL schedule: expected 7-10 failed rounds, got {len(lines)}")
            c.failures.append("schedule round count")
        lines = c.expect("schedule: slow rounds via up2", "up2", [KINDS["icmp"]], True,
                         extra=("--run-for", "1100", "--interval", "500"))
        if len(lines) != 3:
            print(f"FAIL schedule: expected 3 rounds at 0, 500, 1000 ms, got {len(lines)}")
            c.failures.append("schedule slow count")

        # 5. The backup's interface disappears and comes back (modem
        #    re-plugged) while the prober runs: rounds fail with the reason,
        #    nothing crashes, and probing resumes on the new interface.
        cmd = ["ip", "netns", "exec", lab.ns["host"], "env", "G_DEBUG=fatal-criticals", tool,
               "--interface", "up2", "--mark", MARK, "--timeout", "150", "--run-for", "3000",
               "--interval", "200", KINDS["icmp"], KINDS["tcp"]]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.9)
        lab.ip("host", "link", "del", "up2")
        time.sleep(0.9)
        # Deleting a veth deletes its peer in r2 as well.
        lab.ip("host", "link", "add", "up2", "type", "veth", "peer", "name", "to-host", "netns", lab.ns["r2"])
        lab.ip("r2", "addr", "add", "10.71.2.1/24", "dev", "to-host")
        lab.ip("r2", "link", "set", "to-host", "up")
        lab.sysctl("host", "net.ipv4.conf.up2.rp_filter", 2)
        lab.ip("host", "addr", "add", "10.71.2.2/24", "dev", "up2")
        lab.ip("host", "link", "set", "up2", "up")
        lab.ip("host", "route", "add", "default", "via", "10.71.2.1", "dev", "up2", "table", TABLE)
        out, err = proc.communicate(timeout=30)
        rounds = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        states = "".join("+" if r["ok"] else "-" for r in rounds)
        squeezed = "".join(ch for i, ch in enumerate(states) if i == 0 or states[i - 1] != ch)
        gone = any("No such device" in r["summary"] for r in rounds)
        good = proc.returncode == 0 and squeezed == "+-+" and gone
        print(f"{'ok  ' if good else 'FAIL'} interface re-plugged: rc={proc.returncode} rounds {states} "
              f"(ENODEV seen: {gone}) {err.strip()[:200]}")
        c.results.append(("interface re-plugged", states))
        if not good:
            for r in rounds:
                print("    ", r["summary"])
            c.failures.append("interface re-plugged")

        if c.failures:
            print(f"{len(c.failures)} check(s) failed: {', '.join(c.failures)}")
            return 1
        print(f"all {len(c.results)} checks passed")
        return 0
    finally:
        lab.cleanup()


if __name__ == "__main__":
    sys.exit(main())
