#!/usr/bin/python3
"""An HTTPS proxy in front of step-ca that offers alternate chains (RFC 8555 7.4.2).

Usage: acmeproxy.py CERT KEY PORTFILE LOGFILE UPSTREAM_PORT UPSTREAM_CA DEFAULT ALT...

Serves HTTPS on 127.0.0.1 (a free port, written to PORTFILE once listening)
with CERT/KEY until killed, and forwards every request unchanged to step-ca on
127.0.0.1:UPSTREAM_PORT (verified against UPSTREAM_CA). The Host header goes
through as the client sent it: step-ca builds its URLs (directory, Location,
Link, the JWS "url" it checks) from it, so they all name the proxy and no
body or header needs rewriting.

Only the certificate download is changed: its default chain becomes the
leaf followed by the certificates of the file DEFAULT, and one
`Link: <URL>;rel="alternate"` per ALT names a chain the proxy serves itself
(to a POST-as-GET, with a fresh nonce from step-ca): the leaf followed by the
certificates of the file ALT, or step-ca's own chain when ALT is `upstream`.
Each request is logged to LOGFILE as "METHOD PATH"; an alternate's as
"METHOD PATH CONTENT-TYPE PAYLOAD-BYTES".
"""
import base64
import http.client
import http.server
import json
import re
import ssl
import sys
import threading

import tlsserve

cert, key, portfile, logfile, upstream_port, upstream_ca, default = sys.argv[1:8]
alternates = sys.argv[8:]
PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", re.S)
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
upstream_tls = ssl.create_default_context(cafile=upstream_ca)
chains = {}  # "/alternate/N/ID" -> the chain served there
lock = threading.Lock()


def read_pem(path):
    with open(path, "rb") as f:
        return b"".join(m.group(0) for m in PEM.finditer(f.read()))


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def record(self, extra=""):
        with lock, open(logfile, "a") as f:
            f.write("%s %s%s\n" % (self.command, self.path, extra))

    def upstream(self, method, path, body):
        conn = http.client.HTTPSConnection("127.0.0.1", int(upstream_port),
                                           context=upstream_tls, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp, data

    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def forward(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else None
        if self.path.startswith("/alternate/"):
            return self.alternate(body)
        self.record()
        resp, data = self.upstream(self.command, self.path, body)
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP]
        if resp.getheader("Content-Type", "").startswith("application/pem-certificate-chain"):
            data, links = self.rewrite_chain(data)
            headers += [("Link", '<%s>;rel="alternate"' % u) for u in links]
        self.reply(resp.status, headers, data)

    def rewrite_chain(self, data):
        """The default chain replaced; the alternates remembered; their URLs."""
        leaf = PEM.search(data).group(0)
        cert_id = self.path.rsplit("/", 1)[-1]
        prefix = self.path[:self.path.index("/certificate/")]
        urls = []
        for i, alt in enumerate(alternates):
            path = "/alternate/%d/%s" % (i, cert_id)
            with lock:
                chains[path] = (prefix, data if alt == "upstream" else leaf + read_pem(alt))
            urls.append("https://%s%s" % (self.headers["Host"], path))
        return leaf + read_pem(default), urls

    def alternate(self, body):
        """A chain of ours, to the POST-as-GET the client signs: the payload must be empty."""
        ctype = self.headers.get("Content-Type", "")
        payload = json.loads(body or b"{}").get("payload", "?")
        self.record(" %s %d" % (ctype, len(base64.urlsafe_b64decode(payload + "==="))))
        with lock:
            found = chains.get(self.path)
        if self.command != "POST" or not found:
            return self.reply(404, [], b"")
        prefix, chain = found
        resp, _ = self.upstream("HEAD", prefix + "/new-nonce", None)
        self.reply(200, [("Content-Type", "application/pem-certificate-chain"),
                         ("Replay-Nonce", resp.getheader("Replay-Nonce", ""))], chain)

    do_GET = do_HEAD = do_POST = forward


tlsserve.serve(Handler, cert, key, portfile)
