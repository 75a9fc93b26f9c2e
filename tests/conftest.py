# ===== GCS emulator (tests/gcs_emulator) ==========================================================
# Must stay at the very top of this file: TensorFlow's GCS filesystem reads these two variables
# once, when tensorflow is imported, and pytest imports this conftest before any test module.
# GCS_STAT_CACHE_MAX_AGE=0: TF's default 5 s stat cache served a truncated object after an
# overwrite and answered exists() from a previous emulator. GCS_RETRY_CONFIG_MAX_RETRIES=2: a
# failing gs:// request fails in seconds instead of retrying for minutes like a hang.
# (Same values as gcs_emulator.TF_IMPORT_TIME_ENV, written out so nothing is imported first.)
import os

os.environ.setdefault("GCS_STAT_CACHE_MAX_AGE", "0")
os.environ.setdefault("GCS_RETRY_CONFIG_MAX_RETRIES", "2")
# 1 MiB instead of a 64 MiB read buffer per opened gs:// object (~40 ms each): halves the time of
# a training run against the emulator (tests/test_cloud_e2e.py). Read at import time too.
os.environ.setdefault("GCS_READ_CACHE_BLOCK_SIZE_MB", "1")

import trainer  # noqa: E402,F401  (sets TF_ENABLE_ONEDNN_OPTS, which TensorFlow reads at import)

import pytest  # noqa: E402

try:  # the repository root is on sys.path (tests/__init__.py, pythonpath config, python -m)
    from tests.gcs_emulator import start_emulator as _start_gcs_emulator
except ModuleNotFoundError:  # pytest's default sys.path insertion: tests/ itself
    from gcs_emulator import start_emulator as _start_gcs_emulator


@pytest.fixture(scope="session")
def gcs():
    """A local GCS for the whole session, reachable as gs:// from TF and google-cloud-storage.

    Yields a gcs_emulator.GcsEmulator: `.bucket(prefix=None) -> "gs://<new bucket>"`,
    `.client` (google.cloud.storage.Client), `.endpoint`, `.env`. Sets HTTPS_PROXY,
    CURL_CA_BUNDLE, STORAGE_EMULATOR_HOST, ... for the session and restores them afterwards.
    Starts in about 0.2 s; see tests/gcs_emulator/__init__.py for how and why.
    """
    emulator = _start_gcs_emulator(set_env=True)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def gcs_bucket(gcs):
    """A fresh, empty bucket for one test: "gs://test-<random>" (no trailing slash)."""
    return gcs.bucket()
# ===== end GCS emulator ===========================================================================


# Slowest test files first. With --dist loadfile a file runs in one process, and a long file
# handed out last would keep one core busy alone at the end of the run.
SLOW_FILES_FIRST = ("test_tpu_compile_cyclegan.py", "test_tpu_compile_pix2pix.py", "test_progan.py",
                    "test_tpu_compile_discogan.py", "test_tpu_compile_progan.py", "test_cyclegan.py",
                    "test_tpu_compile_dcgan.py", "test_pix2pix.py", "test_quality_run.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
