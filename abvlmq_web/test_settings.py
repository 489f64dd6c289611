"""Settings for the test suite: fast hashing, a throwaway data folder, isolated queues.

Database: whatever DATABASE_URL names (``scripts/test.sh`` points it at the local
PostgreSQL when one answers), else a SQLite *file* in WAL mode, so that a Celery worker started
by the end-to-end tests as a subprocess sees the same test database as pytest.
"""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret")
if not os.environ.get("ABVLMQ_VAR_DIR"):  # subprocesses of the tests inherit the parent's
    os.environ["ABVLMQ_VAR_DIR"] = tempfile.mkdtemp(prefix="abvlmq-test-")
    # this process made it, so this process removes it (tests/conftest.py, at session end)
    os.environ["ABVLMQ_TEST_OWNS_VAR_DIR"] = f"{os.getpid()}:{os.environ['ABVLMQ_VAR_DIR']}"
# A queue and channel prefix of this run's own: a `make run` worker or another test run on the
# same Redis never takes these tests' analyses.
os.environ.setdefault("ABVLMQ_INFERENCE_QUEUE", f"inference-test-{os.getpid()}")
os.environ.setdefault("ABVLMQ_MAINTENANCE_QUEUE", f"maintenance-test-{os.getpid()}")
os.environ.setdefault("ABVLMQ_TRAINING_QUEUE", f"training-test-{os.getpid()}")
os.environ.setdefault("ABVLMQ_CHANNEL_PREFIX", f"abvlmq-test-{os.getpid()}")

from abvlmq_web.settings import *  # noqa: F403
from abvlmq_web.settings import DATABASES, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    # Concurrent test runs on one server must not drop each other's database.
    DATABASES["default"]["TEST"] = {"NAME": f"test_abvlmq_{os.getpid()}"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A test database need not survive a crash of the server: commits do not wait for the
    # write-ahead log's flush to disk (a transactional test's flush and every fixture commit)
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"
    DATABASES["default"]["ENGINE"] = "abvlmq_web.testdb"  # a flush by DELETE (see its base)

# Unit tests talk to no Redis; the end-to-end tests (and the processes they start) use Redis.
if os.environ.get("ABVLMQ_TEST_CHANNEL_LAYER") != "redis":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
ABVLMQ_DEMO_BANNER = True

# Throttles count requests across tests in one process (the cache outlives a test): off here;
# the tests of the limits set the rates they need.
ABVLMQ_THROTTLE_RATES = {"anon": None, "user": None, "uploads": None, "login": None}
