"""Serve a handler over HTTPS on 127.0.0.1 for the test servers of tests/support/.

A free port chosen by the kernel is written to PORTFILE (atomically, once
listening): the test waits for that file, bounded, instead of sleeping.
"""
import http.server
import os
import ssl


def serve(handler, cert, key, portfile):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    server.serve_forever()
