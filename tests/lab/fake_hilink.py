#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A fake HiLink USB modem's HTTP API: Huawei (E3372h) or ZTE (MF79U) flavour, or none.

    fake_hilink.py --address A --port P [--flavour huawei|zte|none] [--control FILE] [--log FILE]

--port 0 picks a free port. The first line on stdout is "listening on ADDRESS:PORT"; then one
line per request, "GET PATH STATUS" (also appended to --log FILE), so a test can count them.

Huawei: GET /api/webserver/SesTokInfo gives a new session (SessionID=…) and token; every
other /api/ request must carry `Cookie: SessionID=…` and `__RequestVerificationToken: TOKEN`
of a live session, else <error><code>125002</code>. The token rotates on every request: the
answer carries the next one in its `__RequestVerificationToken` header. Documents follow the
real layout (<?xml …?> then <response> or <error>), served as text/html like the real stick.
ZTE: GET /goform/goform_get_cmd_process?isTest=false&multi_data=1&cmd=a,b,… answers a JSON
object with those keys (unknown ones ""), and only with a Referer header, like the real one.

The control file (JSON object, re-read on every request; write it with write_control()):
    fault: "ok" | "token-error" (125002 for every API request) | "error-code N" |
           "http-500" | "hang" (never answers) | "garbage" | "no-api" (404 everywhere) |
           "login-required" (108003 for every API request)
    flavour: switch flavour at run time
    session_epoch: change it to expire every session (the client must refresh once)
    values: rsrp, rsrq, sinr, rssi (numbers), signal_icon (0..5), connection_status (901…),
            network_type (CurrentNetworkTypeEx code: 101 LTE, 41 WCDMA, 0 none),
            service_status (2 full), roaming (0/1), sim ("ok" | "missing"),
            upload, download (session bytes), total_upload, total_download,
            operator, numeric (MCC+MNC), device_name, iccid, imsi
Standard library only.
"""

import argparse
import http.server
import json
import os
import secrets
import signal
import socketserver
import sys
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape

DEFAULTS = {
    'fault': 'ok',
    'flavour': None,
    'session_epoch': 0,
    'rsrp': -95, 'rsrq': -9.0, 'sinr': 12, 'rssi': -67,
    'signal_icon': 4,
    'connection_status': 901,
    'network_type': 101,
    'service_status': 2,
    'roaming': 0,
    'sim': 'ok',
    'upload': 123456, 'download': 654321,
    'total_upload': 98765432, 'total_download': 987654321,
    'operator': 'Orange F', 'numeric': '20801',
    'device_name': None,
    'iccid': '8933010000000000042', 'imsi': '208010000000042',
}

TOKEN_HEADER = '__RequestVerificationToken'
LOGIN_REQUIRED = 108003
TOKEN_ERROR = 125002
HANG_LIMIT_S = 600


def write_control(path, **values):
    """Atomically write the control file read by the fake on each request."""
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(values, f)
    os.replace(tmp, path)


def xml_doc(root, fields):
    body = ''.join(f'<{k}>{escape(str(v))}</{k}>\n' for k, v in fields)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>\n{body}</{root}>\n'


def error_doc(code):
    return xml_doc('error', [('code', code), ('message', '')])


def fmt_level(value, unit):
    if value is None or value == '':
        return ''
    if isinstance(value, str):
        return value
    if unit == 'dBm' and value >= -51:
        return '>=-51dBm'
    text = f'{value:.1f}' if isinstance(value, float) else str(value)
    return text + unit


def huawei_signal(v):
    lte = v['network_type'] in (19, 101, 1011)
    return xml_doc('response', [
        ('pci', '283'), ('sc', ''), ('cell_id', '28519937'),
        ('rsrq', fmt_level(v['rsrq'], 'dB') if lte else ''),
        ('rsrp', fmt_level(v['rsrp'], 'dBm') if lte else ''),
        ('rssi', fmt_level(v['rssi'], 'dBm')),
        ('sinr', fmt_level(v['sinr'], 'dB') if lte else ''),
        ('rscp', ''), ('ecio', ''), ('mode', '7' if lte else '2'),
        ('ulbandwidth', '20MHz'), ('dlbandwidth', '20MHz'),
        ('txpower', 'PPusch:7dBm PPucch:-4dBm PSrs:0dBm PPrach:-6dBm'),
        ('tdd', ''), ('ul_mcs', 'mcsUpCarrier1:20'),
        ('dl_mcs', 'mcsDownCarrier1Code0:14 mcsDownCarrier1Code1:14'),
        ('earfcn', 'DL:6300 UL:24300'), ('rrc_status', '1'), ('rac', ''), ('lac', ''),
        ('tac', '1234'), ('band', '20'), ('nei_cellid', 'No1:283No2:41'),
        ('plmn', v['numeric']), ('ims', '0'), ('wdlfreq', ''), ('lteulfreq', '8320'),
        ('ltedlfreq', '7910'), ('transmode', 'TM[4]'), ('enodeb_id', '0111406'),
        ('cqi0', '11'), ('cqi1', '11'), ('ulfrequency', '832000kHz'),
        ('dlfrequency', '791000kHz'), ('arfcn', ''), ('bsic', ''), ('rxlev', ''),
    ])


def huawei_status(v):
    sim_missing = v['sim'] == 'missing'
    net = 0 if sim_missing else v['network_type']
    old = {101: 19, 1011: 19, 41: 4, 44: 7, 45: 9, 46: 9, 3: 3, 2: 2, 1: 1}.get(net, 0)
    return xml_doc('response', [
        ('ConnectionStatus', 902 if sim_missing else v['connection_status']),
        ('WifiConnectionStatus', ''), ('SignalStrength', ''),
        ('SignalIcon', 0 if sim_missing else v['signal_icon']),
        ('CurrentNetworkType', old), ('CurrentServiceDomain', 3),
        ('RoamingStatus', v['roaming']), ('BatteryStatus', ''), ('BatteryLevel', ''),
        ('BatteryPercent', ''), ('simlockStatus', 0),
        ('PrimaryDns', '80.10.246.2'), ('SecondaryDns', '81.253.149.10'),
        ('wififrequence', 0), ('flymode', 0), ('PrimaryIPv6Dns', ''), ('SecondaryIPv6Dns', ''),
        ('CurrentWifiUser', ''), ('TotalWifiUser', ''), ('currenttotalwifiuser', 0),
        ('ServiceStatus', 1 if sim_missing else v['service_status']),
        ('SimStatus', 255 if sim_missing else 1), ('WifiStatus', ''),
        ('CurrentNetworkTypeEx', net), ('maxsignal', 5), ('wifiindooronly', 0),
        ('classify', 'hilink'), ('cellroam', 1), ('usbup', 0), ('ltecastatus', 0),
    ])


def huawei_plmn(v):
    if v['sim'] == 'missing':
        return xml_doc('response', [('State', ''), ('FullName', ''), ('ShortName', ''),
                                    ('Numeric', ''), ('Rat', ''), ('Spn', '')])
    return xml_doc('response', [('State', 0), ('FullName', v['operator']),
                                ('ShortName', v['operator']), ('Numeric', v['numeric']),
                                ('Rat', 7), ('Spn', v['operator'])])


def huawei_traffic(v):
    return xml_doc('response', [
        ('CurrentConnectTime', 3600), ('CurrentUpload', v['upload']),
        ('CurrentDownload', v['download']), ('CurrentDownloadRate', 0),
        ('CurrentUploadRate', 0), ('TotalUpload', v['total_upload']),
        ('TotalDownload', v['total_download']), ('TotalConnectTime', 864000),
        ('showtraffic', 1),
    ])


def huawei_information(v):
    return xml_doc('response', [
        ('DeviceName', v['device_name'] or 'E3372'), ('SerialNumber', 'G4PDW16A23000042'),
        ('Imei', '866000000000042'), ('Imsi', v['imsi']), ('Iccid', v['iccid']),
        ('Msisdn', ''), ('HardwareVersion', 'CL2E3372HM'),
        ('SoftwareVersion', '22.328.62.00.1217'), ('WebUIVersion', '17.100.19.02.1217'),
        ('MacAddress1', '0C:5B:8F:27:9A:64'), ('MacAddress2', ''),
        ('WanIPAddress', '10.123.45.67'), ('wan_dns_address', '80.10.246.2,81.253.149.10'),
        ('WanIPv6Address', ''), ('wan_ipv6_dns_address', ''), ('ProductFamily', 'LTE'),
        ('Classify', 'hilink'), ('supportmode', 'LTE|WCDMA|GSM'), ('workmode', 'LTE'),
        ('submask', '255.255.255.255'),
    ])


HUAWEI_DOCS = {
    '/api/device/signal': huawei_signal,
    '/api/monitoring/status': huawei_status,
    '/api/net/current-plmn': huawei_plmn,
    '/api/monitoring/traffic-statistics': huawei_traffic,
    '/api/device/information': huawei_information,
}


def zte_values(v):
    missing = v['sim'] == 'missing'
    net = 0 if missing else v['network_type']
    ppp = {901: 'ppp_connected', 900: 'ppp_connecting', 903: 'ppp_disconnecting'}.get(
        v['connection_status'], 'ppp_disconnected')
    lte = net in (19, 101, 1011)
    numeric = v['numeric'] if not missing else ''
    return {
        'modem_main_state': 'modem_sim_undetected' if missing else 'modem_init_complete',
        'signalbar': '0' if missing else str(v['signal_icon']),
        'network_type': {101: 'LTE', 1011: 'LTE', 19: 'LTE', 41: 'WCDMA', 44: 'HSPA', 45: 'HSPA+',
                         3: 'EDGE', 2: 'GPRS', 1: 'GSM'}.get(net, 'NO_SERVICE'),
        'lte_rsrp': str(v['rsrp']) if lte else '',
        'lte_rsrq': str(v['rsrq']) if lte else '',
        'lte_snr': str(v['sinr']) if lte else '',
        'lte_rssi': str(v['rssi']) if lte else '',
        'rssi': '' if lte else str(v['rssi']),
        'ppp_status': 'ppp_disconnected' if missing else ppp,
        'network_provider': '' if missing else v['operator'],
        'rmcc': numeric[:3], 'rmnc': numeric[3:],
        'simcard_roam': 'International' if v['roaming'] else 'Home',
        'realtime_tx_bytes': str(v['upload']), 'realtime_rx_bytes': str(v['download']),
        'monthly_tx_bytes': str(v['total_upload']), 'monthly_rx_bytes': str(v['total_download']),
        'model_name': v['device_name'] or 'MF79U',
        'sim_iccid': v['iccid'], 'sim_imsi': v['imsi'],
        'imei': '866000000000042',
    }


GARBAGE = b'<html><body>\x00\xff\xfe <response><rssi>-67dBm</rsrp>\n{"signalbar": '


class Fake:
    def __init__(self, flavour, control, log):
        self.flavour = flavour
        self.control_path = control
        self.log_path = log
        self.lock = threading.Lock()
        self.sessions = {}          # session id -> current token
        self.epoch = 0

    def control(self):
        c = dict(DEFAULTS)
        if self.control_path:
            try:
                with open(self.control_path) as f:
                    c.update(json.load(f))
            except FileNotFoundError:
                pass
            except (OSError, ValueError) as e:
                print(f'control file unreadable: {e}', flush=True)
        return c

    def log(self, line):
        print(line, flush=True)
        if self.log_path:
            with self.lock, open(self.log_path, 'a') as f:
                f.write(line + '\n')

    def new_session(self):
        with self.lock:
            sid = secrets.token_hex(64)
            token = secrets.token_hex(16)
            self.sessions[sid] = token
            while len(self.sessions) > 16:
                self.sessions.pop(next(iter(self.sessions)))
            return sid, token

    def check_session(self, cookie, token, epoch):
        """The next token when cookie and token are those of a live session, else None."""
        with self.lock:
            if epoch != self.epoch:
                self.epoch = epoch
                self.sessions.clear()
            sid = None
            for part in (cookie or '').split(';'):
                k, _, val = part.strip().partition('=')
                if k == 'SessionID':
                    sid = val
            if sid is None or sid not in self.sessions or self.sessions[sid] != token:
                return None
            nxt = secrets.token_hex(16)
            self.sessions[sid] = nxt
            return nxt


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    fake = None

    def version_string(self):
        return 'WebServer'

    def log_message(self, fmt, *args):  # the request log is ours
        pass

    def answer(self, status, body, ctype='text/html; charset=UTF-8', headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-cache')
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.fake.log(f'GET {urllib.parse.urlsplit(self.path).path} {status}')

    def hang(self):
        self.fake.log(f'GET {urllib.parse.urlsplit(self.path).path} hang')
        start = time.monotonic()
        while time.monotonic() - start < HANG_LIMIT_S:
            if self.fake.control()['fault'] != 'hang':
                break
            time.sleep(0.2)
        self.close_connection = True   # never an answer for this one

    def do_POST(self):
        self.close_connection = True
        self.answer(405, '')

    def do_GET(self):
        c = self.fake.control()
        flavour = c['flavour'] or self.fake.flavour
        fault = str(c['fault'])
        url = urllib.parse.urlsplit(self.path)
        path = url.path

        if fault == 'hang':
            self.hang()
            return
        if fault == 'http-500':
            self.answer(500, '<html><body>500 Internal Server Error</body></html>')
            return
        if fault == 'no-api' or flavour == 'none':
            self.answer(404, '<html><body>404 Not Found</body></html>')
            return
        if path in ('/', '/index.html', '/html/index.html'):
            self.answer(200, '<!DOCTYPE html><html><head><title>Mobile WiFi</title></head><body></body></html>')
            return
        if fault == 'garbage':
            self.answer(200, GARBAGE, 'application/json' if flavour == 'zte' else 'text/html')
            return

        if flavour == 'huawei':
            self.huawei(path, c, fault)
        elif flavour == 'zte':
            self.zte(path, url.query, c, fault)
        else:
            self.answer(404, '')

    def huawei(self, path, c, fault):
        if path == '/api/webserver/SesTokInfo':
            self.fake.check_session(None, None, c['session_epoch'])
            sid, token = self.fake.new_session()
            self.answer(200, xml_doc('response', [('SesInfo', f'SessionID={sid}'), ('TokInfo', token)]),
                        headers=[('Set-Cookie', f'SessionID={sid}; path=/; HttpOnly')])
            return
        if path not in HUAWEI_DOCS:
            self.answer(404, '<html><body>404 Not Found</body></html>')
            return
        if fault == 'token-error':
            self.answer(200, error_doc(TOKEN_ERROR))
            return
        if fault == 'login-required':
            self.answer(200, error_doc(LOGIN_REQUIRED))
            return
        if fault.startswith('error-code'):
            code = fault.split()[1] if len(fault.split()) > 1 else '100005'
            self.answer(200, error_doc(code))
            return
        nxt = self.fake.check_session(self.headers.get('Cookie'), self.headers.get(TOKEN_HEADER),
                                      c['session_epoch'])
        if nxt is None:
            self.answer(200, error_doc(TOKEN_ERROR))
            return
        self.answer(200, HUAWEI_DOCS[path](c), headers=[(TOKEN_HEADER, nxt)])

    def zte(self, path, query, c, fault):
        if path != '/goform/goform_get_cmd_process':
            self.answer(404, '<html><body>404 Not Found</body></html>')
            return
        if not self.headers.get('Referer'):
            self.answer(403, '')
            return
        q = urllib.parse.parse_qs(query)
        cmds = [x for x in ','.join(q.get('cmd', [''])).split(',') if x]
        values = zte_values(c)
        if fault == 'login-required' or fault.startswith('error-code') or fault == 'token-error':
            doc = {'result': 'failure'}
        elif q.get('multi_data', ['0'])[0] == '1':
            doc = {k: values.get(k, '') for k in cmds}
        else:
            doc = {cmds[0]: values.get(cmds[0], '')} if cmds else {}
        self.answer(200, json.dumps(doc), 'text/html')


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        # HTTPServer.server_bind() looks the address up in DNS (getfqdn): in a lab
        # namespace without DNS that takes 10 s before the fake listens.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--address', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=80)
    ap.add_argument('--flavour', choices=('huawei', 'zte', 'none'), default='huawei')
    ap.add_argument('--control')
    ap.add_argument('--log')
    a = ap.parse_args()

    Handler.fake = Fake(a.flavour, a.control, a.log)
    server = Server((a.address, a.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f'listening on {a.address}:{server.server_address[1]}', flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
