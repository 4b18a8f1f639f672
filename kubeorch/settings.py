"""Django settings for KubeOrch, read from the environment.

Every value has an embedded default so a fresh checkout runs with nothing
configured: SQLite in the data dir, generated keys kept in the data dir, and a
Redis URL that `manage.py up` and the test suite point at an embedded Valkey.
"""

import os
import secrets
from pathlib import Path

import environ
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DATA_DIR = Path(env.str("KUBEORCH_DATA_DIR", default=str(BASE_DIR / ".data")))
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _persistent_secret(filename: str, make) -> str:
    """Read a generated secret from the data dir, creating it on first use."""
    path = DATA_DIR / filename
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


# Off by default: Django's debug pages echo request bodies, which can hold
# secret values. Static files are served either way (see asgi.py).
DEBUG = env.bool("KUBEORCH_DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="") or _persistent_secret(
    "secret-key", lambda: secrets.token_urlsafe(50)
)
ALLOWED_HOSTS = env.list("KUBEORCH_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("KUBEORCH_CSRF_TRUSTED_ORIGINS", default=[])

# The first key encrypts; every key decrypts, so a new key can be put in front
# and the old one dropped once `manage.py rotate_keys` has re-sealed the data.
KUBEORCH_ENCRYPTION_KEYS = env.list("KUBEORCH_ENCRYPTION_KEYS", default=[]) or [
    _persistent_secret("encryption-key", lambda: Fernet.generate_key().decode())
]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_htmx",
    "django_celery_beat",
    "channels",
    "kubeorch",
    "clusters",
    "workflows",
    "runs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "kubeorch.urls"
ASGI_APPLICATION = "kubeorch.asgi.application"
WSGI_APPLICATION = "kubeorch.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat write to one file at once: WAL
    # lets readers go on during a write, IMMEDIATE transactions take the
    # write lock up front (no deadlocked upgrades), and writers wait for it.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not shared-cache memory, so tests with a worker thread get the
    # same locking as the real processes instead of "table is locked".
    # One per process, so test runs side by side do not share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# A canvas of the largest allowed size fits well below this; a bigger body is
# refused before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("KUBEORCH_MAX_BODY_BYTES", default=2_000_000)

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "kubeorch",
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A run's hard limit stays below the visibility timeout, or the broker would
# hand a still-running task to a second worker.
KUBEORCH_RUN_TIME_LIMIT = env.int("KUBEORCH_RUN_TIME_LIMIT", default=1800)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": KUBEORCH_RUN_TIME_LIMIT + 300,
    "unacked_restore_interval": 10,
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 times sockets out after 5 s, the same as channels-redis'
        # blocking pop, which silently drops consumers: wait forever instead.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "kubeorch.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["kubeorch.api.LimitedJSONParser"],
    "EXCEPTION_HANDLER": "kubeorch.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "KubeOrch API",
    "DESCRIPTION": "Design, deploy and watch Kubernetes applications as graphs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/v1/api",
    "ENUM_NAME_OVERRIDES": {
        "WorkflowStateEnum": "workflows.models.Workflow.State",
        "NodeRunStateEnum": "runs.models.RunNodeState.State",
        "RunStatusEnum": "runs.models.Run.Status",
    },
}

KUBEORCH_HEALTH_DEADLINE = env.float("KUBEORCH_HEALTH_DEADLINE", default=300.0)
KUBEORCH_KUBE_TIMEOUT = env.float("KUBEORCH_KUBE_TIMEOUT", default=10.0)
# How long every node must stay healthy before a run completes, so a
# container that starts, turns Ready and then crashes is not called healthy.
KUBEORCH_HEALTH_SETTLE_SECONDS = env.float(
    "KUBEORCH_HEALTH_SETTLE_SECONDS", default=5.0
)
KUBEORCH_APPLY_PARALLELISM = env.int("KUBEORCH_APPLY_PARALLELISM", default=8)
# A dry run answers in the request; past this it reports what it has.
KUBEORCH_DRY_RUN_DEADLINE = env.float("KUBEORCH_DRY_RUN_DEADLINE", default=60.0)
# A running run whose worker has not reported for this long is finished as
# failed by the periodic reaper.
KUBEORCH_RUN_HEARTBEAT_TIMEOUT = env.float(
    "KUBEORCH_RUN_HEARTBEAT_TIMEOUT", default=60.0
)

# A queued run that no worker has taken for this long is finished as failed.
KUBEORCH_RUN_QUEUE_TIMEOUT = env.float("KUBEORCH_RUN_QUEUE_TIMEOUT", default=600.0)

CELERY_BEAT_SCHEDULE = {
    "fail-abandoned-runs": {
        "task": "runs.tasks.fail_abandoned_runs_task",
        "schedule": 30.0,
    },
    "check-clusters": {
        "task": "clusters.tasks.check_clusters_task",
        "schedule": 300.0,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        name: {"level": env.str("KUBEORCH_LOG_LEVEL", default="INFO")}
        for name in ("kubeorch", "clusters", "workflows", "runs")
    },
}
