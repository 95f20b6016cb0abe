#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fake notification endpoints over HTTPS, in-process, for the tests: a Telegram Bot API
(POST /bot<TOKEN>/sendMessage answers {"ok": true, "result": {...}}) and a generic webhook
(POST to any other path answers 204), on 127.0.0.1 with a certificate from a test CA.

    pki = make_pki(directory)            # openssl: a CA, a server certificate for
                                         # 127.0.0.1 (subjectAltName IP:127.0.0.1),
                                         # and an unrelated CA
    fake = FakeNotify(pki)               # listening; fake.url, fake.port
    fake.script('status 429 {...}', 'hang', 'ok')   # the next answers, in order
    fake.requests                        # what came: time, path, headers, body
    fake.stop(); fake.start()            # down and up again on the same port

Each request is recorded when it arrives (before a "hang"). Answers taken from the script:
    ok                    the endpoint's normal answer
    status CODE [JSON]    that status, with that JSON body (or a short HTML page)
    hang                  never answer (until stop())
TLS handshakes that fail (a client that does not trust the certificate) are counted in
fake.tls_failures. Standard library only."""

import http.server
import json
import os
import socketserver
import ssl
import subprocess
import threading
import time


def _openssl(*args, cwd):
    subprocess.run(['openssl', *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _make_ca(directory, name, subject):
    _openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
             '-keyout', f'{name}.key', '-out', f'{name}.pem', '-days', '2', '-subj', subject,
             '-addext', 'basicConstraints=critical,CA:TRUE',
             '-addext', 'keyUsage=critical,keyCertSign,cRLSign', cwd=directory)
    return os.path.join(directory, f'{name}.pem')


def make_pki(directory, ip='127.0.0.1'):
    """A test CA, a server certificate for @ip signed by it, and an unrelated CA."""
    ca = _make_ca(directory, 'ca', '/CN=pvefailover test CA')
    other_ca = _make_ca(directory, 'other-ca', '/CN=pvefailover unrelated CA')
    with open(os.path.join(directory, 'server.ext'), 'w') as f:
        f.write(f'subjectAltName=IP:{ip}\n'
                'basicConstraints=CA:FALSE\n'
                'keyUsage=critical,digitalSignature\n'
                'extendedKeyUsage=serverAuth\n')
    _openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
             '-keyout', 'server.key', '-out', 'server.csr', '-subj', f'/CN={ip}', cwd=directory)
    _openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
             '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext',
             cwd=directory)
    return {
        'ca': ca,
        'other_ca': other_ca,
        'cert': os.path.join(directory, 'server.pem'),
        'key': os.path.join(directory, 'server.key'),
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = 10   # a handshake or a request that never comes

    def setup(self):
        self.request = self.server.fake.context.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        fake = self.server.fake
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length else b''
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        fake._record({
            'time': time.monotonic(),
            'path': self.path,
            'headers': {k.lower(): v for k, v in self.headers.items()},
            'body': body,
        })
        answer = fake._next_answer(self.path)
        if answer == 'hang':
            fake._stopping.wait(120)
            self.close_connection = True
            return
        if answer == 'ok':
            if self.path.startswith('/bot'):
                self._reply(200, {'ok': True, 'result': {'message_id': len(fake.requests)}})
            else:
                self._reply(204, None)
            return
        parts = answer.split(' ', 2)
        assert parts[0] == 'status', answer
        self._reply(int(parts[1]), json.loads(parts[2]) if len(parts) > 2 else None)

    def _reply(self, status, doc):
        if doc is None and status >= 300:
            data, ctype = f'<html><body>{status}</body></html>'.encode(), 'text/html'
        elif doc is None:
            data, ctype = b'', None
        else:
            data, ctype = json.dumps(doc).encode(), 'application/json'
        self.send_response(status)
        if ctype:
            self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A refused certificate, a client that went away: counted, not printed.
        self.fake.tls_failures += 1


class FakeNotify:
    def __init__(self, pki, port=0, host='127.0.0.1', log=None, answers=None):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki['cert'], pki['key'])
        self.port = port
        self.host = host
        self.log = log
        self.answers_file = answers
        self.requests = []
        self.tls_failures = 0
        self._answers = []
        self._lock = threading.Lock()
        self._server = None
        self._stopping = threading.Event()
        self.start()

    @property
    def url(self):
        return f'https://{self.host}:{self.port}'

    def start(self):
        assert self._server is None
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True).start()

    def stop(self):
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def script(self, *answers):
        with self._lock:
            self._answers.extend(answers)

    def _next_answer(self, path=''):
        with self._lock:
            if self.answers_file is not None and os.path.exists(self.answers_file):
                # served: the script is a file the test writes, one answer a line, each
                # for any request or, after a path prefix ("/bot status 429 ..."), for those
                with open(self.answers_file) as f:
                    lines = f.read().splitlines()
                for i, line in enumerate(lines):
                    prefix, _, rest = line.partition(' ')
                    if not prefix.startswith('/') or path.startswith(prefix):
                        with open(self.answers_file, 'w') as f:
                            f.write(''.join(x + '\n' for x in lines[:i] + lines[i + 1:]))
                        return rest if prefix.startswith('/') else line
            return self._answers.pop(0) if self._answers else 'ok'

    def _record(self, request):
        with self._lock:
            self.requests.append(request)
            if self.log is not None:
                with open(self.log, 'a') as f:
                    f.write(json.dumps(dict(request, wall=time.time())) + '\n')

    def wait_requests(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f'{len(self.requests)} requests, not {n}, in {timeout} s')
            time.sleep(0.05)
        return self.requests


def read_log(path):
    """The requests a served fake (see serve_main) recorded so far."""
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.endswith('\n')]
    except FileNotFoundError:
        return []


def serve_main(directory, host, port):
    """Serve in this process (e.g. inside a lab namespace) with the PKI that make_pki(directory,
    ip=host) made, every request appended to directory/requests.jsonl; directory/ready once
    listening; until SIGTERM. The answers come from directory/answers, one a line (as
    script()), consumed in order; 'ok' when it is empty."""
    import signal
    pki = {'cert': os.path.join(directory, 'server.pem'), 'key': os.path.join(directory, 'server.key')}
    fake = FakeNotify(pki, port=int(port), host=host, log=os.path.join(directory, 'requests.jsonl'),
                      answers=os.path.join(directory, 'answers'))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    open(os.path.join(directory, 'ready'), 'w').close()
    done.wait()
    fake.stop()
    return 0


if __name__ == '__main__':
    import sys
    if len(sys.argv) == 5 and sys.argv[1] == 'serve':
        sys.exit(serve_main(*sys.argv[2:]))
    print('usage: fake_notify.py serve DIRECTORY HOST PORT', file=sys.stderr)
    sys.exit(2)
