"""Django settings for AbVLM-Q, read from the environment (see abvlmq_web/env.py).

Embedded default: SQLite under var/, Redis on 127.0.0.1:6379, the committed demo model.
Production: DATABASE_URL (PostgreSQL), REDIS_URL, ABVLMQ_MODEL_DIR (+ ABVLMQ_ADAPTER_DIR).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from abvlmq_web.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    lenient_int,
    reminder_time,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ABVLMQ_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    """DJANGO_SECRET_KEY; else the key `make run` keeps in var/secret_key, so that manage.py
    works beside it with no extra step; else (DEBUG only) a fixed development key."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    kept = VAR_DIR / "secret_key"
    if kept.is_file() and kept.read_text().strip():
        return kept.read_text().strip()
    if DEBUG:
        return "insecure-dev-key-change-me"
    raise ImproperlyConfigured(
        "Set the environment variable DJANGO_SECRET_KEY (or run `make run` once: it keeps a key "
        f"in {kept})."
    )


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",  # `runserver` serves websockets too
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "csp",
    "abvlmq_web.core",
    "abvlmq_web.accounts",
    "abvlmq_web.sso",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.saml",
    "lti_tool",  # django-lti: LTI 1.3 registrations, deployments, launches (lti/)
    "abvlmq_web.lti",
    "abvlmq_web.curriculum",
    "abvlmq_web.scans",
    "abvlmq_web.operations",
    "abvlmq_web.administration",
    "abvlmq_web.review",
    "abvlmq_web.progress",
    "abvlmq_web.competency",
    "abvlmq_web.receiving",
    "abvlmq_web.cine",
    "abvlmq_web.notifications",
    "abvlmq_web.annotation",
    "abvlmq_web.datasets",
    "abvlmq_web.live",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]
MIDDLEWARE.insert(
    0, "abvlmq_web.operations.middleware.RequestMetricsMiddleware"
)  # counts everything

ROOT_URLCONF = "abvlmq_web.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "abvlmq_web.scans.context_processors.model_banner",
                "abvlmq_web.notifications.context_processors.unread",
                "abvlmq_web.annotation.context_processors.annotation",
            ],
            "libraries": {"tables": "abvlmq_web.templatetags.tables"},
        },
    }
]
WSGI_APPLICATION = None
ASGI_APPLICATION = "abvlmq_web.asgi.application"


# --------------------------------------------------------------------------- database
_SQLITE_OPTIONS = {
    # WAL lets the web process read while a worker writes an analysis' events.
    "init_command": "PRAGMA journal_mode=WAL;",
    "timeout": 20,
    # A transaction that reads and then writes (the upload's quota check, a worker's start)
    # takes the write lock up front: upgrading a read lock later fails at once ("database is
    # locked") when another process wrote meanwhile, where a waiting writer just waits.
    "transaction_mode": "IMMEDIATE",
}


def _database(url: str) -> dict:
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": _SQLITE_OPTIONS,
        }
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be read: {exc}") from exc
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = dict(_SQLITE_OPTIONS)
    return config


DATABASES = {"default": _database(env_str("DATABASE_URL", ""))}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("ABVLMQ_PASSWORD_MIN_LENGTH", 10)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # django-axes: refuses a locked-out login before checking it (accounts/authentication.py)
    "abvlmq_web.accounts.authentication.LockoutBackend",
    # a password, where ABVLMQ_LOCAL_LOGIN allows it (accounts/authentication.py)
    "abvlmq_web.accounts.authentication.PasswordBackend",
    # the institution's sign-in (sso/): allauth logs in whom it has verified
    "abvlmq_web.sso.backends.InstitutionBackend",
    # a launch from an LMS course (lti/): the platform's signed id_token vouches for the user
    "abvlmq_web.lti.backends.LaunchBackend",
]
# Who may sign in with a password here: "all" (default), "admins" (program admins only, for
# when the identity provider is down) or "none" (single sign-on only).
ABVLMQ_LOCAL_LOGIN = env_str("ABVLMQ_LOCAL_LOGIN", "all").strip().lower()
if ABVLMQ_LOCAL_LOGIN not in ("all", "admins", "none"):
    raise ImproperlyConfigured(
        f"ABVLMQ_LOCAL_LOGIN must be all, admins or none, got {ABVLMQ_LOCAL_LOGIN!r}."
    )
# Lockout (django-axes) on every login: the page, the API token and the admin. A username is
# locked from one address after this many failures, for this long; a success resets the count.
AXES_FAILURE_LIMIT = env_int("ABVLMQ_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ABVLMQ_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
# API tokens expire this many hours after they were issued; logging out revokes them.
ABVLMQ_TOKEN_TTL_HOURS = env_int("ABVLMQ_TOKEN_TTL_HOURS", 24)
# --------------------------------------------------------------------------- single sign-on
# OpenID Connect providers (docs/sso.md), one JSON object each in ABVLMQ_OIDC_PROVIDERS:
#   [{"id": "hospital", "name": "St Elsewhere", "client_id": "...", "secret": "...",
#     "server_url": "https://login.microsoftonline.com/<tenant>/v2.0"}]
# or SocialApps (provider "institution") added in the admin; SAML 2.0 identity providers
# (Shibboleth, ADFS) are SocialApps of provider "saml" (docs/sso.md). Who gets which role:
# ClaimRules.
SOCIALACCOUNT_ADAPTER = "abvlmq_web.sso.adapter.SocialAccountAdapter"
ACCOUNT_ADAPTER = "abvlmq_web.sso.adapter.AccountAdapter"
SOCIALACCOUNT_PROVIDERS = {
    "institution": {
        "APPS": [
            {
                "provider_id": p["id"],
                "name": p.get("name", p["id"]),
                "client_id": p["client_id"],
                "secret": p.get("secret", ""),
                "settings": {"server_url": p["server_url"], "fetch_userinfo": True},
            }
            for p in json.loads(env_str("ABVLMQ_OIDC_PROVIDERS", "[]") or "[]")
        ],
    }
}
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True  # a local account is linked by a *verified* email
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False  # the provider's tokens are not kept
SOCIALACCOUNT_LOGIN_ON_GET = False  # a sign-in starts from the login page's form (POST)
ACCOUNT_EMAIL_VERIFICATION = "none"  # the provider vouches for the email, not us
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# Static files come from the app server itself (WhiteNoise), so one process serves the page.
# Finders read static/ directly; images that ran collectstatic may switch them off.
WHITENOISE_USE_FINDERS = env_bool("ABVLMQ_STATIC_FINDERS", True)
MEDIA_ROOT = VAR_DIR / "media"  # never served publicly: scan images go through a permission check
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------ redis, channels, celery
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

ABVLMQ_CHANNEL_PREFIX = env_str("ABVLMQ_CHANNEL_PREFIX", "abvlmq")
REDIS_CHANNEL_LAYER = {
    "BACKEND": "channels_redis.core.RedisChannelLayer",
    "CONFIG": {
        # The socket timeout must outlast channels_redis' 5 s blocking pop: at redis-py's
        # 5 s the pop times out as a network error and the websocket stops receiving.
        "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
        "prefix": ABVLMQ_CHANNEL_PREFIX,
    },
}
CHANNEL_LAYERS = {"default": REDIS_CHANNEL_LAYER}

# One analysis may run this long before the worker gives up on it (hard limit: +30 s).
ABVLMQ_TASK_TIME_LIMIT = env_int("ABVLMQ_TASK_TIME_LIMIT", 300)
# How often an analysis is tried (first run included) before it ends as failed.
ABVLMQ_TASK_MAX_ATTEMPTS = env_int("ABVLMQ_TASK_MAX_ATTEMPTS", 3)

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None  # results live in the database, not in Celery
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# GPU machines consume this queue: `celery -A abvlmq_web worker -Q inference`.
ABVLMQ_INFERENCE_QUEUE = env_str("ABVLMQ_INFERENCE_QUEUE", "inference")
CELERY_TASK_ROUTES = {"abvlmq_web.scans.tasks.run_analysis": {"queue": ABVLMQ_INFERENCE_QUEUE}}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a GPU worker takes one analysis at a time
CELERY_TASK_ACKS_LATE = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The durable queue (scans/analysis.py): per-user share of the broker, the pending quota, and
# the sweeper that re-queues what a dead worker or a restarted broker left behind. The sweeper
# is its own light process, never behind an analysis: `celery -A abvlmq_web worker -B -Q
# maintenance --pool solo` (beat embedded: run exactly one).
ABVLMQ_MAINTENANCE_QUEUE = env_str("ABVLMQ_MAINTENANCE_QUEUE", "maintenance")
CELERY_TASK_ROUTES["abvlmq_web.scans.tasks.sweep_analyses"] = {"queue": ABVLMQ_MAINTENANCE_QUEUE}
CELERY_TASK_ROUTES["abvlmq_web.progress.tasks.remind_due"] = {"queue": ABVLMQ_MAINTENANCE_QUEUE}
# LTI (lti/tasks.py): results to the LMS gradebooks, rosters from the LMS
CELERY_TASK_ROUTES["abvlmq_web.lti.tasks.*"] = {"queue": ABVLMQ_MAINTENANCE_QUEUE}
# Training runs (datasets/training.py) go on their own queue, taken by a training worker
# (`make run` starts one, at low CPU priority, when ABVLMQ_TRAINING_WORKERS=1; a GPU machine
# runs `celery -A abvlmq_web worker -Q training --concurrency 1`). A run whose worker stopped
# beating for ABVLMQ_TRAINING_STALE_AFTER s is sent again by the sweeper and resumes from its
# saved state; the trainer runs under `nice -n ABVLMQ_TRAINING_NICE`.
ABVLMQ_TRAINING_QUEUE = env_str("ABVLMQ_TRAINING_QUEUE", "training")
CELERY_TASK_ROUTES["abvlmq_web.datasets.tasks.run_training"] = {"queue": ABVLMQ_TRAINING_QUEUE}
CELERY_TASK_ROUTES["abvlmq_web.datasets.tasks.sweep_training"] = {"queue": ABVLMQ_MAINTENANCE_QUEUE}
ABVLMQ_TRAINING_STALE_AFTER = env_int("ABVLMQ_TRAINING_STALE_AFTER", 60)
ABVLMQ_TRAINING_NICE = env_int("ABVLMQ_TRAINING_NICE", 10)
ABVLMQ_TRAINING_EVAL_BOOT = env_int("ABVLMQ_TRAINING_EVAL_BOOT", 1000)  # bootstrap resamples
ABVLMQ_QUEUE_SHARE = env_int("ABVLMQ_QUEUE_SHARE", 2)
# Unfinished analyses a user may have: a day's scanning (about 100) twice over. A burst waits in
# the database behind the fair share (2 of a user's analyses in the broker at a time), so it
# never starves the others; the bound only stops a runaway client.
ABVLMQ_MAX_PENDING_PER_USER = env_int("ABVLMQ_MAX_PENDING_PER_USER", 200)
ABVLMQ_HEARTBEAT_INTERVAL = env_int("ABVLMQ_HEARTBEAT_INTERVAL", 5)
ABVLMQ_HEARTBEAT_STALE_AFTER = env_int("ABVLMQ_HEARTBEAT_STALE_AFTER", 25)
# Workers beat into Redis (scans/heartbeat.py): /readyz wants one beaten within the last
# ABVLMQ_WORKER_BEAT_STALE s with its model loaded. /metrics averages latencies over the
# analyses finished in the last ABVLMQ_METRICS_WINDOW s; with ABVLMQ_METRICS_TOKEN set it asks
# for "Authorization: Bearer <token>".
ABVLMQ_WORKER_BEAT_INTERVAL = env_int("ABVLMQ_WORKER_BEAT_INTERVAL", 10)
ABVLMQ_WORKER_BEAT_STALE = env_int("ABVLMQ_WORKER_BEAT_STALE", 35)
ABVLMQ_METRICS_WINDOW = env_int("ABVLMQ_METRICS_WINDOW", 3600)
ABVLMQ_METRICS_TOKEN = env_str("ABVLMQ_METRICS_TOKEN", "")
ABVLMQ_RESEND_QUEUED_AFTER = env_int("ABVLMQ_RESEND_QUEUED_AFTER", 90)
ABVLMQ_SWEEP_INTERVAL = env_int("ABVLMQ_SWEEP_INTERVAL", 10)
# Due-assignment reminders: every day at ABVLMQ_REMIND_AT ("HH:MM", the server's time zone),
# for assignments due within ABVLMQ_REMIND_DUE_DAYS days, by the sweeper's beat (no cron). An
# absent or unreadable value keeps the default (07:00, 3 days) and says so in the log.
ABVLMQ_REMIND_AT = reminder_time(os.environ.get("ABVLMQ_REMIND_AT"), default=(7, 0))
ABVLMQ_REMIND_DUE_DAYS = lenient_int(os.environ.get("ABVLMQ_REMIND_DUE_DAYS"), default=3, low=0)
CELERY_BEAT_SCHEDULE = {
    "sweep-analyses": {
        "task": "abvlmq_web.scans.tasks.sweep_analyses",
        "schedule": float(ABVLMQ_SWEEP_INTERVAL),
        # a sweep nobody took in time is dropped: the next one does the same work
        "options": {"expires": float(ABVLMQ_SWEEP_INTERVAL * 3)},
    },
    "sweep-training": {
        "task": "abvlmq_web.datasets.tasks.sweep_training",
        "schedule": float(ABVLMQ_SWEEP_INTERVAL * 3),
        "options": {"expires": float(ABVLMQ_SWEEP_INTERVAL * 6)},
    },
    "remind-due-assignments": {
        "task": "abvlmq_web.progress.tasks.remind_due",
        "schedule": crontab(hour=ABVLMQ_REMIND_AT[0], minute=ABVLMQ_REMIND_AT[1]),
        "options": {"expires": 3600.0},  # missed by an hour: tomorrow's run reminds
    },
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A message taken by a worker that died comes back after this many seconds; it must be
    # longer than any analysis may run, or a live analysis would be handed out twice.
    "visibility_timeout": env_int("ABVLMQ_BROKER_VISIBILITY_TIMEOUT", ABVLMQ_TASK_TIME_LIMIT + 60),
    "unacked_restore_interval": env_int("ABVLMQ_BROKER_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": 1,
}

# --------------------------------------------------------------------------- the model
DEMO_MODEL_DIR = BASE_DIR / "models" / "demo"
ABVLMQ_MODEL_DIR = Path(env_str("ABVLMQ_MODEL_DIR", str(DEMO_MODEL_DIR)))
ABVLMQ_ADAPTER_DIR = env_str("ABVLMQ_ADAPTER_DIR", "") or None
# "module:Class" with ``load(model_dir, adapter_dir=None)``; tests swap in a scripted engine.
# "vllm": the workers are thin clients of an OpenAI-compatible server (scoring/vllm_engine.py,
# docs/serving.md) at ABVLMQ_VLLM_URL, with a timeout (s between chunks) and retries.
ENGINES = {"inprocess": "scoring.engine:Engine", "vllm": "scoring.vllm_engine:VllmEngine"}
ABVLMQ_ENGINE = env_str("ABVLMQ_ENGINE", "scoring.engine:Engine")
ABVLMQ_ENGINE = ENGINES.get(ABVLMQ_ENGINE, ABVLMQ_ENGINE)
# Extra keyword arguments of Engine.load (e.g. a shorter answer budget on a slow CPU box).
ABVLMQ_ENGINE_OPTIONS: dict[str, int | float | str] = {}
if env_int("ABVLMQ_MAX_NEW_TOKENS", 0):
    ABVLMQ_ENGINE_OPTIONS["max_new_tokens"] = env_int("ABVLMQ_MAX_NEW_TOKENS", 0)
# Without --pool/--concurrency on its command line (compose), a worker takes these: one analysis
# at a time in-process; with the serving engine, a bounded thread pool of thin clients.
CELERY_WORKER_POOL = "prefork"
CELERY_WORKER_CONCURRENCY = 1
if ENGINES["vllm"] == ABVLMQ_ENGINE:
    CELERY_WORKER_POOL = "threads"
    CELERY_WORKER_CONCURRENCY = env_int("ABVLMQ_VLLM_CONCURRENCY", 16)
    ABVLMQ_ENGINE_OPTIONS |= {
        "url": env_str("ABVLMQ_VLLM_URL", "http://127.0.0.1:8100/v1"),
        "served_name": env_str("ABVLMQ_VLLM_MODEL", "abvlmq"),
        "timeout": env_int("ABVLMQ_VLLM_TIMEOUT", 60),
        "retries": env_int("ABVLMQ_VLLM_RETRIES", 3),
    }
# Live scanning (issue 34, abvlmq_web/live/scorer.py): threads of the web process that score
# live frames (the fast path, ~10 ms a frame on the demo model), and a frame's size limit.
ABVLMQ_LIVE_THREADS = max(1, env_int("ABVLMQ_LIVE_THREADS", 2))
ABVLMQ_LIVE_MAX_FRAME_BYTES = max(4096, env_int("ABVLMQ_LIVE_MAX_FRAME_BYTES", 256 * 1024))
# Show "not for clinical use: demo model" (default: when the demo model serves).
ABVLMQ_DEMO_BANNER = env_bool(
    "ABVLMQ_DEMO_BANNER", ABVLMQ_MODEL_DIR.resolve() == DEMO_MODEL_DIR.resolve()
)

# --------------------------------------------------------------------------- uploads
ABVLMQ_MAX_UPLOAD_MB = env_int("ABVLMQ_MAX_UPLOAD_MB", 50)
# 16 MP per frame: above any scanner's screen (4K is 8.3 MP); checked from the header.
ABVLMQ_MAX_PIXELS = env_int("ABVLMQ_MAX_PIXELS", 16_000_000)
# Tesseract reads every image before it is stored and masks any word it finds: "required"
# (refuse uploads when Tesseract is missing), "optional" (skip the check then) or "off".
ABVLMQ_OCR = env_str("ABVLMQ_OCR", "required")
if ABVLMQ_OCR not in ("required", "optional", "off"):
    raise ImproperlyConfigured("ABVLMQ_OCR must be required, optional or off")
ABVLMQ_MAX_FRAMES = env_int("ABVLMQ_MAX_FRAMES", 300)
# Keep the uploaded file beside the de-identified image (DICOM identifying tags are removed
# even then). Off by default: only the de-identified image is stored.
ABVLMQ_KEEP_ORIGINALS = env_bool("ABVLMQ_KEEP_ORIGINALS", False)
# Cine clips (multi-frame DICOM, MP4/MOV/AVI): frames are limited by ABVLMQ_MAX_FRAMES too.
ABVLMQ_CLIP_MAX_SECONDS = env_int("ABVLMQ_CLIP_MAX_SECONDS", 60)
ABVLMQ_CLIP_SAMPLE = env_int("ABVLMQ_CLIP_SAMPLE", 8)  # frames assessed
# The sampled frames go to the model this many at a time, and the scan page hears "k of n
# assessed" after each batch (the in-process engine: a batch's answers end together).
ABVLMQ_CLIP_BATCH = env_int("ABVLMQ_CLIP_BATCH", 4)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --------------------------------------------------------------------------- DICOM receiving
# The C-STORE listener (`manage.py dicom_listener`) and DICOMweb STOW-RS (/dicomweb/studies).
ABVLMQ_DICOM_AE_TITLE = env_str("ABVLMQ_DICOM_AE_TITLE", "ABVLMQ")
ABVLMQ_DICOM_HOST = env_str("ABVLMQ_DICOM_HOST", "127.0.0.1")
ABVLMQ_DICOM_PORT = env_int("ABVLMQ_DICOM_PORT", 11112)
# Calling AE titles allowed to send (comma-separated); empty: any scanner that can reach the port.
ABVLMQ_DICOM_CALLING_AETS = env_list("ABVLMQ_DICOM_CALLING_AETS", [])
# Unclaimed received scans older than this are deleted (with an audit entry).
ABVLMQ_INBOX_MAX_AGE_DAYS = env_int("ABVLMQ_INBOX_MAX_AGE_DAYS", 30)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# A request body larger than this is refused (413) from its Content-Length before anything
# reads it (asgi.py); docker/nginx.conf caps it in front of the app as well.
ABVLMQ_MAX_REQUEST_BYTES = (ABVLMQ_MAX_UPLOAD_MB + 1) * 1024 * 1024

# --------------------------------------------------------------------------- production
# DJANGO_HTTPS=true: the site is served over HTTPS (behind a proxy that sets X-Forwarded-Proto).
# It turns on HSTS, the redirect to HTTPS and Secure cookies; each has its own variable too.
HTTPS = env_bool("DJANGO_HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", HTTPS)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", HTTPS)
# "HTTP_X_FORWARDED_PROTO,https": trust the proxy's header (only behind a proxy that sets it).
_proxy_header = env_list("DJANGO_SECURE_PROXY_SSL_HEADER", [])
if _proxy_header and len(_proxy_header) != 2:
    raise ImproperlyConfigured("DJANGO_SECURE_PROXY_SSL_HEADER must be HEADER,value.")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_header) if _proxy_header else None
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content Security Policy (django-csp): scripts and styles from our own static files only;
# style attributes are allowed (sizes and colours set per element). The websocket is 'self'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Throttle counts live in this cache: one web process needs none; several share a Redis one.
_cache_url = env_str("DJANGO_CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --------------------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "abvlmq_web.accounts.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # A Django ValidationError from a service answers 400 with its messages (core/exceptions.py)
    "EXCEPTION_HANDLER": "abvlmq_web.core.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # Rates come from ABVLMQ_THROTTLE_RATES at each request (abvlmq_web/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "abvlmq_web.throttling.AnonThrottle",
        "abvlmq_web.throttling.UserThrottle",
    ],
}
ABVLMQ_THROTTLE_RATES = {
    "anon": env_str("ABVLMQ_THROTTLE_ANON", "60/min"),
    "user": env_str("ABVLMQ_THROTTLE_USER", "1200/min"),
    # per user, POST /api/scans/: a day's 100 scans in about a minute (intake takes ~0.5 s each)
    "uploads": env_str("ABVLMQ_THROTTLE_UPLOADS", "120/min"),
    "login": env_str("ABVLMQ_THROTTLE_LOGIN", "20/min"),  # per address, POST /api/auth/token/
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AbVLM-Q API",
    "DESCRIPTION": (
        "Upload practice abdominal ultrasound scans and read their AI quality assessment. "
        "Live events stream over the websocket /ws/scans/{id}/. Not for clinical use."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",  # no CDN: the page works on a machine with no internet
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --------------------------------------------------------------------------- email
# Notifications and password reset go through Django's email framework. By default (and under
# `make run`) messages are printed on the console; set DJANGO_EMAIL_BACKEND and EMAIL_* for SMTP.
EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "AbVLM-Q <no-reply@localhost>")
ABVLMQ_SITE_URL = env_str("ABVLMQ_SITE_URL", "http://localhost:8000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("ABVLMQ_LOG_LEVEL", "INFO")},
}
