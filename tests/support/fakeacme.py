#!/usr/bin/python3
"""A misbehaving ACME server for the failure paths of tests/e2e/test_acme.c.

Usage: fakeacme.py CERT KEY PORTFILE LOGFILE MODE

Serves HTTPS on 127.0.0.1 (a free port, written to PORTFILE once listening)
with CERT/KEY until killed. Every request path is appended to LOGFILE.
MODE:
  garbage       the directory is not JSON
  wrongtypes    the directory's URLs are numbers
  problem       a sane directory and nonces; new-account answers a
                serverInternal problem document (HTTP 500)
  badnonce      new-account always answers badNonce (the client must give up)
  html          new-account answers HTTP 502 with an HTML page
  bigbody       the directory is 4 MB of JSON whitespace
  tos           terms of service in the directory; no account exists yet
  stuck         an account and an order whose http-01 challenge stays
                "processing" for ever (Retry-After: 1): the client's bound
"""
import http.server
import json
import sys

import tlsserve

cert, key, portfile, logfile, mode = sys.argv[1:6]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def base(self):
        return "https://127.0.0.1:%d" % self.server.server_address[1]

    def send(self, status, body, ctype="application/json", nonce=True):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if nonce:
            self.send_header("Replay-Nonce", "bm9uY2Vub25jZW5vbmNl")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def record(self):
        with open(logfile, "a") as f:
            f.write(self.path + "\n")

    def directory(self):
        b = self.base()
        if mode == "garbage":
            return self.send(200, "<html>this is not an ACME directory</html>", "text/html")
        if mode == "wrongtypes":
            return self.send(200, json.dumps({"newNonce": 1, "newAccount": 2, "newOrder": 3}))
        if mode == "bigbody":
            return self.send(200, "{" + " " * (4 << 20) + "}")
        d = {"newNonce": b + "/nonce", "newAccount": b + "/account", "newOrder": b + "/order"}
        if mode == "tos":
            d["meta"] = {"termsOfService": b + "/terms.pdf"}
        self.send(200, json.dumps(d))

    def do_GET(self):
        self.record()
        if self.path == "/directory":
            return self.directory()
        self.send(404, "")

    def do_HEAD(self):
        self.record()
        if self.path == "/nonce":
            return self.send(200, "")
        self.send(404, "")

    def send_located(self, status, doc, location, retry=None):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Replay-Nonce", "bm9uY2Vub25jZW5vbmNl")
        if location:
            self.send_header("Location", location)
        if retry:
            self.send_header("Retry-After", retry)
        self.end_headers()
        self.wfile.write(data)

    def stuck(self):
        b = self.base()
        chal = {"type": "http-01", "url": b + "/chal/1", "token": "abcdefghijklmnopqrstuvwx",
                "status": "processing"}
        if self.path == "/account":
            return self.send_located(200, {"status": "valid"}, b + "/acct/1")
        if self.path == "/order":
            return self.send_located(201, {"status": "pending", "finalize": b + "/fin",
                                           "authorizations": [b + "/authz/1"]}, b + "/order/1")
        if self.path == "/authz/1":
            return self.send_located(200, {"status": "pending", "identifier": {
                "type": "dns", "value": "localhost"}, "challenges": [chal]}, None, "1")
        if self.path == "/chal/1":
            return self.send_located(200, chal, None, "1")
        self.send(404, "")

    def do_POST(self):
        self.record()
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        if mode == "stuck":
            return self.stuck()
        if self.path != "/account":
            return self.send(404, "")
        if mode == "problem":
            return self.send(500, json.dumps({
                "type": "urn:ietf:params:acme:error:serverInternal",
                "detail": "the account database is on fire", "status": 500}),
                "application/problem+json")
        if mode == "tos":
            return self.send(400, json.dumps({
                "type": "urn:ietf:params:acme:error:accountDoesNotExist",
                "detail": "no account for this key"}), "application/problem+json")
        if mode == "badnonce":
            return self.send(400, json.dumps({
                "type": "urn:ietf:params:acme:error:badNonce", "detail": "stale nonce"}),
                "application/problem+json")
        self.send(502, "<html><body>Bad Gateway</body></html>", "text/html")


tlsserve.serve(Handler, cert, key, portfile)
