"""Django settings for AbVLM-Q, read from the environment (see abvlmq_web/env.py).

Embedded default: SQLite under var/, Redis on 127.0.0.1:6379, the committed demo model.
Production: DATABASE_URL (PostgreSQL), REDIS_URL, ABVLMQ_MODEL_DIR (+ ABVLMQ_ADAPTER_DIR).
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from abvlmq_web.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ABVLMQ_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-dev-key-change-me" if DEBUG else None)
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
    "abvlmq_web.accounts",
    "abvlmq_web.curriculum",
    "abvlmq_web.scans",
    "abvlmq_web.administration",
    "abvlmq_web.review",
    "abvlmq_web.progress",
    "abvlmq_web.competency",
    "abvlmq_web.receiving",
    "abvlmq_web.cine",
    "abvlmq_web.notifications",
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
]

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
            ]
        },
    }
]
WSGI_APPLICATION = None
ASGI_APPLICATION = "abvlmq_web.asgi.application"


# --------------------------------------------------------------------------- database
def _database(url: str) -> dict:
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # WAL lets the web process read while a worker writes an analysis' events.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20},
        }
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be read: {exc}") from exc
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20}
    return config


DATABASES = {"default": _database(env_str("DATABASE_URL", ""))}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
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
ABVLMQ_ENGINE = env_str("ABVLMQ_ENGINE", "scoring.engine:Engine")
# Extra keyword arguments of Engine.load (e.g. a shorter answer budget on a slow CPU box).
ABVLMQ_ENGINE_OPTIONS: dict[str, int] = {}
if env_int("ABVLMQ_MAX_NEW_TOKENS", 0):
    ABVLMQ_ENGINE_OPTIONS["max_new_tokens"] = env_int("ABVLMQ_MAX_NEW_TOKENS", 0)
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
ABVLMQ_CLIP_SAMPLE = env_int("ABVLMQ_CLIP_SAMPLE", 8)  # frames assessed, in one batch
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

# --------------------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
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
