"""Settings for the test suite: fast hashing, a throwaway data folder."""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret")
os.environ.setdefault("ABVLMQ_VAR_DIR", tempfile.mkdtemp(prefix="abvlmq-test-"))

from abvlmq_web.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
