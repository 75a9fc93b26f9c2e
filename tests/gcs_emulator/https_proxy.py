"""TLS-terminating HTTPS proxy that lets TensorFlow's gs:// filesystem reach fake-gcs-server.

Run as its own process (``python https_proxy.py --upstream 127.0.0.1:P --cert C --key K``);
it prints the port it listens on as one line on stdout, then serves until its stdin closes.
Standard library only, so it starts in a few tens of milliseconds.

Why each step exists (what breaks without it):

- TensorFlow's built-in GCS filesystem hard-codes ``https://www.googleapis.com`` (JSON API,
  uploads) and ``https://storage.googleapis.com`` (object reads) and ignores
  ``STORAGE_EMULATOR_HOST``. Its libcurl honours ``HTTPS_PROXY`` though, so TF sends
  ``CONNECT www.googleapis.com:443`` here. We answer it, terminate TLS ourselves with a
  certificate for those two names signed by a throw-away CA (TF trusts it through
  ``CURL_CA_BUNDLE``), and forward the decrypted requests to fake-gcs-server over plain http.
- ``CONNECT`` is answered only for those two hosts on port 443, and nothing else is
  forwarded anywhere: a test can never reach the internet (or a real bucket) through us.
- Requests are parsed and rebuilt, not relayed byte for byte: TF sends
  ``Transfer-Encoding: identity`` (with ``Content-Length: 0``) on empty PUTs, and libcurl sends
  ``Transfer-Encoding: chunked`` together with TF's own ``Content-Length`` on uploads.
  fake-gcs-server (Go net/http) answers both with 501. We read the body by RFC 7230 rules
  (chunked wins over Content-Length; identity means no coding) and forward it with a plain
  ``Content-Length``.
- ``Expect: 100-continue`` (libcurl adds it to large uploads) is answered here at once;
  otherwise, since we buffer the body before forwarding, libcurl would wait 1 s per upload.
- ``X-Forwarded-Proto: https`` is added: fake-gcs-server builds the resumable-upload
  ``Location`` from the request, and without it hands TF an ``http://www.googleapis.com/...``
  URL, which TF's next request then fails on.
- ``TCP_NODELAY`` on every socket: with Nagle's algorithm on, the small header write followed
  by the body write waits for a delayed ACK, about 40 ms per request.
- The proxy is a separate process: run as a thread inside the TensorFlow process,
  ``TFRecordWriter.close`` and checkpoint restore deadlocked. It exits when its stdin
  reaches EOF, so it dies with the test process even if that one is killed.
"""

import argparse
import http.client
import os
import socket
import ssl
import sys
import threading

ALLOWED_HOSTS = ("www.googleapis.com", "storage.googleapis.com")

_MAX_LINE = 65536
_MAX_HEADERS = 200
_IO_CHUNK = 1 << 20
_IDLE_TIMEOUT_S = 300.0
# Hop-by-hop headers (RFC 7230 section 6.1) and the framing headers we rewrite ourselves.
_DROP_REQUEST_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length", "expect", "x-forwarded-proto",
})
_DROP_RESPONSE_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
    "upgrade", "content-length",
})


class _BadRequest(Exception):
    def __init__(self, status, reason):
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def _read_headers(rfile):
    headers = []
    for _ in range(_MAX_HEADERS):
        line = rfile.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise _BadRequest(431, "Request Header Fields Too Large")
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise ConnectionError("client closed the connection inside the headers")
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise _BadRequest(400, "Bad Request")
        headers.append((name.strip(), value.strip()))
    raise _BadRequest(431, "Request Header Fields Too Large")


def _header(headers, name):
    values = [v for k, v in headers if k.lower() == name]
    return ", ".join(values) if values else None


def _read_exact(rfile, n):
    data = rfile.read(n)
    if len(data) != n:
        raise ConnectionError("client closed the connection inside the body")
    return data


def _read_chunked(rfile):
    parts = []
    while True:
        size_line = rfile.readline(_MAX_LINE + 1)
        if not size_line:
            raise ConnectionError("client closed the connection inside a chunked body")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest(400, "Bad Request") from None
        if size == 0:
            _read_headers(rfile)  # trailers, discarded
            return b"".join(parts)
        parts.append(_read_exact(rfile, size))
        _read_exact(rfile, 2)  # CRLF after each chunk


def _read_body(rfile, sock, headers):
    """Returns the request body, whatever framing the client used."""
    if (_header(headers, "expect") or "").lower() == "100-continue":
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    codings = [c.strip().lower() for c in (_header(headers, "transfer-encoding") or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if codings:
        if codings != ["chunked"]:
            raise _BadRequest(501, "Not Implemented")
        return _read_chunked(rfile)
    length = _header(headers, "content-length")
    if length is None:
        return b""
    try:
        # Duplicate Content-Length headers arrive joined by ", "; they must agree.
        lengths = {int(v) for v in length.split(",")}
    except ValueError:
        raise _BadRequest(400, "Bad Request") from None
    if len(lengths) != 1 or min(lengths) < 0:
        raise _BadRequest(400, "Bad Request")
    return _read_exact(rfile, lengths.pop())


def _send_error(sock, status, reason, close=True):
    body = f"{status} {reason} (gcs_emulator https_proxy)\n".encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n")
    if close:
        head += "Connection: close\r\n"
    sock.sendall(head.encode("latin-1") + b"\r\n" + body)


class _Upstream:
    """One keep-alive http connection to fake-gcs-server, reopened when it drops."""

    def __init__(self, host, port):
        self._host, self._port = host, port
        self._conn = None

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method, target, headers, body):
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=120)
                self._conn.connect()
                self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self._conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    self._conn.putheader(name, value)
                # Bytes body: http.client sends headers and body in one write.
                self._conn.endheaders(body)
                return self._conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # a stale keep-alive connection: retry once on a fresh one
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _forward_response(sock, method, resp):
    head = [f"HTTP/1.1 {resp.status} {resp.reason}\r\n"]
    for name, value in resp.getheaders():
        if name.lower() not in _DROP_RESPONSE_HEADERS:
            head.append(f"{name}: {value}\r\n")
    no_body = method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
    if no_body:
        length = resp.getheader("Content-Length")
        if length is not None:
            head.append(f"Content-Length: {length}\r\n")
        sock.sendall("".join(head).encode("latin-1") + b"\r\n")
        resp.read()
        return
    if resp.length is None:  # chunked or read-until-close upstream: buffer (JSON listings)
        body = resp.read()
        head.append(f"Content-Length: {len(body)}\r\n")
        sock.sendall("".join(head).encode("latin-1") + b"\r\n" + body)
        return
    head.append(f"Content-Length: {resp.length}\r\n")
    first = resp.read(min(resp.length, _IO_CHUNK))
    sock.sendall("".join(head).encode("latin-1") + b"\r\n" + first)
    while True:
        data = resp.read(_IO_CHUNK)
        if not data:
            break
        sock.sendall(data)


def _serve_tunnel(tls, upstream):
    rfile = tls.makefile("rb")
    try:
        while True:
            line = rfile.readline(_MAX_LINE + 1)
            if not line:
                return
            try:
                method, target, version = line.decode("latin-1").split()
                headers = _read_headers(rfile)
                body = _read_body(rfile, tls, headers)
            except ValueError:
                _send_error(tls, 400, "Bad Request")
                return
            except _BadRequest as e:
                _send_error(tls, e.status, e.reason)
                return
            forwarded = [(k, v) for k, v in headers if k.lower() not in _DROP_REQUEST_HEADERS]
            forwarded.append(("X-Forwarded-Proto", "https"))
            if body or method in ("POST", "PUT", "PATCH"):
                forwarded.append(("Content-Length", str(len(body))))
            try:
                resp = upstream.request(method, target, forwarded, body)
            except OSError as e:
                upstream.close()
                print(f"https_proxy: upstream error for {method} {target}: {e!r}",
                      file=sys.stderr, flush=True)
                _send_error(tls, 502, "Bad Gateway")
                return
            _forward_response(tls, method, resp)
            if resp.will_close:
                upstream.close()
            client_close = (_header(headers, "connection") or "").lower() == "close"
            if client_close or version == "HTTP/1.0":
                return
    finally:
        rfile.close()


def _handle_client(raw, ctx, upstream_addr, allowed):
    upstream = _Upstream(*upstream_addr)
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw.settimeout(_IDLE_TIMEOUT_S)
        # The client sends nothing after CONNECT until we answer, so this buffered reader
        # cannot swallow any of the TLS handshake.
        with raw.makefile("rb") as rfile:
            parts = rfile.readline(_MAX_LINE + 1).decode("latin-1").split()
            headers = _read_headers(rfile)
        del headers  # Proxy-* headers carry nothing we need.
        if len(parts) != 3 or parts[0].upper() != "CONNECT":
            _send_error(raw, 405, "Method Not Allowed (only CONNECT to Google Storage)")
            return
        host, _, port = parts[1].rpartition(":")
        if host.lower() not in allowed or port != "443":
            _send_error(raw, 403, f"Forbidden (CONNECT only to {', '.join(allowed)}:443)")
            return
        raw.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with ctx.wrap_socket(raw, server_side=True) as tls:
            _serve_tunnel(tls, upstream)
    except (OSError, ssl.SSLError, ConnectionError, _BadRequest, UnicodeDecodeError):
        pass  # the client went away or spoke nonsense: drop the connection
    finally:
        upstream.close()
        raw.close()


def _accept_loop(listener, ctx, upstream_addr, allowed):
    while True:
        raw, _ = listener.accept()
        threading.Thread(target=_handle_client, args=(raw, ctx, upstream_addr, allowed),
                         daemon=True).start()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="fake-gcs-server host:port (http)")
    parser.add_argument("--cert", required=True, help="PEM certificate chain for the hosts")
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument("--port", type=int, default=0, help="listen port (0: pick a free one)")
    args = parser.parse_args(argv)

    up_host, _, up_port = args.upstream.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["http/1.1"])  # never negotiate HTTP/2: we only parse HTTP/1.1

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(128)
    threading.Thread(target=_accept_loop,
                     args=(listener, ctx, (up_host, int(up_port)), ALLOWED_HOSTS),
                     daemon=True).start()
    print(listener.getsockname()[1], flush=True)

    # Lifetime is tied to the parent: its end of our stdin closes when it stops us or dies.
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)  # daemon threads may be blocked in socket calls; don't wait for them


if __name__ == "__main__":
    main()
