"""Settings, all read from the environment (12-factor).

With no environment set, everything runs embedded on one machine: SQLite, local files, an
MLflow SQLite store and a Celery broker in folders, all under ``var/``. Setting
``DATABASE_URL``, ``CELERY_BROKER_URL``, the ``AWS_*`` variables and ``MLFLOW_TRACKING_URI``
switches the same code to PostgreSQL, Redis, S3/MinIO and an MLflow server. Any variable may
instead come from a file named by ``<NAME>_FILE`` (Kubernetes secrets).
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from accounts.rates import parse_rate
from hpml_portal.env import env

BASE_DIR = Path(__file__).resolve().parent.parent

# A local .env (written by `make demo`) fills in only what the environment leaves unset.
ENV_FILE = Path(env("HPML_ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.is_file():
    env.read_env(ENV_FILE)

VAR_DIR = Path(env("HPML_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off: set SECRET_KEY or SECRET_KEY_FILE "
            "(make demo writes one to .env)"
        )
    SECRET_KEY = "insecure-debug-only-key"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS ------------------------------------------------------------------------------------

# Off unless set: the demo and the tests serve plain http on loopback. A deployment behind a
# TLS-terminating proxy turns them on (deploy/k8s/base/configmap.yaml) and names the header the
# proxy sets, e.g. "HTTP_X_FORWARDED_PROTO,https". Trust that header only when every request
# comes through the proxy: a client reaching the process directly could send it.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = (
    tuple(part.strip() for part in env.tuple("SECURE_PROXY_SSL_HEADER", default=())) or None
)
if SECURE_PROXY_SSL_HEADER is not None and (
    len(SECURE_PROXY_SSL_HEADER) != 2 or not SECURE_PROXY_SSL_HEADER[0].startswith("HTTP_")
):
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER must be a request header and its value, "
        'e.g. "HTTP_X_FORWARDED_PROTO,https"'
    )
# Kubelet probes and in-cluster scrapes talk plain http to the pod: never redirect them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)

INSTALLED_APPS = [
    "accounts.admin_apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "hpml_portal",
    "accounts",
    "datasets",
    "experiments",
    "models_registry",
    "inference",
]

MIDDLEWARE = [
    # First: every answer, refusals by the middleware below included, carries its request id
    # and is timed.
    "hpml_portal.request_id.RequestIdMiddleware",
    "hpml_portal.instruments.RequestMetrics",
    "django.middleware.security.SecurityMiddleware",
    "hpml_portal.middleware.RefuseNulCharacters",
    "hpml_portal.middleware.RefuseOversizedBodies",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hpml_portal.urls"
WSGI_APPLICATION = "hpml_portal.wsgi.application"
ASGI_APPLICATION = "hpml_portal.asgi.application"

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

# --- database ---------------------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The embedded database is shared by the web server, the worker and commands: WAL and
    # immediate transactions keep concurrent writers waiting instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Persistent connections: a prediction should not pay for a new connection.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- storage ----------------------------------------------------------------------------------

MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
# Collected static files are build output, not state: they stay out of var/ (an image keeps
# them in its own layer, under a var/ volume they would be hidden).
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATIC_URL = "/static/"
# Static files are served by the web process (WhiteNoise) from STATIC_ROOT once collected, and
# from the apps' own folders when they are not: a plain `gunicorn hpml_portal.wsgi` shows the
# admin and the API docs with their styles and scripts without a `collectstatic` first.
WHITENOISE_USE_FINDERS = True

AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)
AWS_ACCESS_KEY_ID = env("AWS_ACCESS_KEY_ID", default=None)
AWS_SECRET_ACCESS_KEY = env("AWS_SECRET_ACCESS_KEY", default=None)
AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME", default="us-east-1")
AWS_LOCATION = env("AWS_LOCATION", default="")
if AWS_STORAGE_BUCKET_NAME:
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
            "region_name": AWS_S3_REGION_NAME,
            "location": AWS_LOCATION,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "default_acl": None,
            # Keys are content addressed: a second upload of the same key is the same bytes.
            "file_overwrite": True,
        },
    }
else:
    DEFAULT_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploads over this size go to a temporary file, not memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# The first handler stops a request's files once they pass DATASET_MAX_UPLOAD_BYTES, before
# the others keep more of them (hpml_portal/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "hpml_portal.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
DATASET_MAX_UPLOAD_BYTES = env.int("DATASET_MAX_UPLOAD_BYTES", default=2 * 1024**3)
# The most bytes a dataset's arrays may hold once unpacked (checked from the file's headers
# before anything is allocated: a small .npz can declare a huge array).
DATASET_MAX_UNCOMPRESSED_BYTES = env.int("DATASET_MAX_UNCOMPRESSED_BYTES", default=8 * 1024**3)

# --- data sources -------------------------------------------------------------------------------

# --url ingestion: loopback and private addresses are refused unless this is on; link-local
# (cloud metadata), multicast, reserved and unspecified addresses are refused even then.
INGEST_URL_ALLOW_PRIVATE = env.bool("INGEST_URL_ALLOW_PRIVATE", default=False)
INGEST_CONNECT_TIMEOUT = env.float("INGEST_CONNECT_TIMEOUT", default=10.0)
INGEST_READ_TIMEOUT = env.float("INGEST_READ_TIMEOUT", default=60.0)
# --sql ingestion: the read-only database queried (off when empty), a statement timeout in
# seconds and the most rows one query may return.
SQL_SOURCE_URL = env("SQL_SOURCE_URL", default="")
# The longest one ingest or processing job may run on a worker, whatever its source does.
INGEST_TIME_LIMIT = env.int("INGEST_TIME_LIMIT", default=3600)
# The buckets s3:// URLs may read (comma-separated; none: s3:// ingestion is off). The
# platform's own bucket and MLflow's artifact bucket are refused even when listed.
INGEST_S3_BUCKETS = env.list("INGEST_S3_BUCKETS", default=[])
SQL_STATEMENT_TIMEOUT = env.float("SQL_STATEMENT_TIMEOUT", default=300.0)
SQL_MAX_ROWS = env.int("SQL_MAX_ROWS", default=10_000_000)

# --- jobs (Celery) ----------------------------------------------------------------------------

TRAINING_TIME_LIMIT = env.int("TRAINING_TIME_LIMIT", default=6 * 3600)
# Training holds a dataset's features in memory up to this many bytes (as decoded). Above it,
# they are decoded once to a float32 file in the worker's temporary directory (TMPDIR, which
# needs room for 4 bytes per feature value) and read from there a batch at a time: a worker
# trains on data larger than its memory.
TRAINING_IN_MEMORY_BYTES = env.int("TRAINING_IN_MEMORY_BYTES", default=2 * 1024**3)
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # A broker with no server: messages are files in one folder shared by every process.
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
else:
    # With acks_late a task running past the visibility timeout is delivered again, so the
    # timeout must outlast the longest training run.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": TRAINING_TIME_LIMIT + 3600}
    if env("CELERY_BROKER_KEY_PREFIX", default=""):
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env("CELERY_BROKER_KEY_PREFIX")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"experiments.tasks.train_run": {"queue": "training"}}
CELERY_TASK_IGNORE_RESULT = True  # every status lives in our database
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 2,
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# The reaper (every minute) ends FAILED a running job (training run, ingest, processing) whose
# heartbeat is older than RUN_STALE_AFTER seconds, and sends again the message of a job still
# waiting JOB_REQUEUE_AFTER seconds after it was sent (a message the broker lost).
RUN_STALE_AFTER = env.int("RUN_STALE_AFTER", default=600)
JOB_REQUEUE_AFTER = env.int("JOB_REQUEUE_AFTER", default=900)
CELERY_BEAT_SCHEDULE = {
    "reap-jobs": {"task": "hpml_portal.tasks.reap_jobs", "schedule": 60.0},
    # Mirrors to the MLflow registry that a down broker lost or that ran out of retries.
    "mirror-catch-up": {"task": "models_registry.tasks.mirror_catch_up", "schedule": 300.0},
    # Past PREDICTION_LOG_RETENTION_DAYS: logged predictions deleted, serving counts made daily.
    "prune-prediction-log": {"task": "inference.tasks.prune_prediction_log", "schedule": 3600.0},
}

# --- tracking (MLflow) ------------------------------------------------------------------------

MLFLOW_TRACKING_URI = env("MLFLOW_TRACKING_URI", default=f"sqlite:///{VAR_DIR / 'mlflow.db'}")
# Where new MLflow experiments keep artifacts. A tracking server decides for itself (empty);
# with a database or file store the artifacts would otherwise land in ./mlruns of whatever
# folder a worker started in: they go to the bucket under a prefix, or under var/.
if MLFLOW_TRACKING_URI.startswith(("http://", "https://")):
    _mlflow_artifacts = ""
elif AWS_STORAGE_BUCKET_NAME:
    _prefix = "/".join(part for part in (AWS_LOCATION.strip("/"), "mlflow-artifacts") if part)
    _mlflow_artifacts = f"s3://{AWS_STORAGE_BUCKET_NAME}/{_prefix}"
else:
    _mlflow_artifacts = (VAR_DIR / "mlartifacts").as_uri()
MLFLOW_ARTIFACT_ROOT = env("MLFLOW_ARTIFACT_ROOT", default=_mlflow_artifacts)
# Where people open the MLflow UI (links from the admin's run pages; none when empty), and
# where they open this portal (links back from MLflow; paths alone when empty).
MLFLOW_UI_URL = env("MLFLOW_UI_URL", default="")
PORTAL_URL = env("PORTAL_URL", default="")
# The platform runs without internet: MLflow must not try to send usage data anywhere.
MLFLOW_DISABLE_TELEMETRY = env.bool("MLFLOW_DISABLE_TELEMETRY", default=True)
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true" if MLFLOW_DISABLE_TELEMETRY else "false"

# --- serving ----------------------------------------------------------------------------------

PREDICT_MAX_BATCH = env.int("PREDICT_MAX_BATCH", default=1024)
PREDICT_MAX_BODY_BYTES = env.int("PREDICT_MAX_BODY_BYTES", default=8 * 1024 * 1024)
PREDICTION_LOG_SAMPLE_RATE = env.float("PREDICTION_LOG_SAMPLE_RATE", default=1.0)
MODEL_CACHE_SIZE = env.int("MODEL_CACHE_SIZE", default=8)
# How long a web process answers from memory who a token is and which version an alias names:
# a revocation, a role change or a promotion made elsewhere reaches every process in that time.
SERVE_CACHE_SECONDS = env.float("SERVE_CACHE_SECONDS", default=2.0)
# /metrics: scrapes send "Authorization: Bearer <METRICS_TOKEN>"; unset, it answers loopback only.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# TensorFlow's operation threads in each web process (0: TensorFlow's default, one per core).
SERVE_TF_THREADS = env.int("SERVE_TF_THREADS", default=1)
# The prediction log is written in bulk by a thread of each web process (on PostgreSQL), every
# PREDICTION_LOG_FLUSH_SECONDS; rows beyond PREDICTION_LOG_BUFFER waiting are dropped, counted.
PREDICTION_LOG_BACKGROUND = env.bool("PREDICTION_LOG_BACKGROUND", default=True)
PREDICTION_LOG_BUFFER = env.int("PREDICTION_LOG_BUFFER", default=10_000)
PREDICTION_LOG_FLUSH_SECONDS = env.float("PREDICTION_LOG_FLUSH_SECONDS", default=0.2)
# Days logged predictions (with their feedback) are kept, and serving counts per minute (0:
# forever); every hour beat deletes older predictions and folds older counts into days
# (inference/retention.py). The stats read the last day.
PREDICTION_LOG_RETENTION_DAYS = env.int("PREDICTION_LOG_RETENTION_DAYS", default=90)
if not 0 <= SERVE_CACHE_SECONDS <= 60:
    raise ImproperlyConfigured("SERVE_CACHE_SECONDS must be between 0 and 60")
if PREDICTION_LOG_BUFFER < 1 or not 0 < PREDICTION_LOG_FLUSH_SECONDS <= 60:
    raise ImproperlyConfigured(
        "PREDICTION_LOG_BUFFER must be at least 1 and PREDICTION_LOG_FLUSH_SECONDS in (0, 60]"
    )
if PREDICTION_LOG_RETENTION_DAYS != 0 and not 2 <= PREDICTION_LOG_RETENTION_DAYS <= 36_500:
    raise ImproperlyConfigured(
        "PREDICTION_LOG_RETENTION_DAYS must be 0 (keep all) or from 2 to 36500: the stats read "
        "the last day"
    )
if not 0.0 <= PREDICTION_LOG_SAMPLE_RATE <= 1.0:
    raise ImproperlyConfigured("PREDICTION_LOG_SAMPLE_RATE must be between 0 and 1")

# --- API --------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every view: a signed-in caller, a token used only where it is allowed, and the role the
    # action needs in the team of the object it acts on.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.api.permissions.TokenScope",
        "accounts.api.permissions.TeamRole",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttles.SubmitThrottle"],
    "DEFAULT_FILTER_BACKENDS": [
        "hpml_portal.api.filters.KnownParameters",
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "EXCEPTION_HANDLER": "hpml_portal.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
# Requests per identity (user, else client address): "N/s", "N/min", "N/hour", "N/day" or
# "off". Counted in the cache: set CACHE_URL to Redis so that every process counts together.
THROTTLE_RATES = {
    "predict": env("THROTTLE_PREDICT_RATE", default="6000/min"),
    "submit": env("THROTTLE_SUBMIT_RATE", default="60/min"),
}
for _scope, _rate in THROTTLE_RATES.items():
    try:
        parse_rate(_rate)
    except ValueError as exc:
        raise ImproperlyConfigured(f"THROTTLE_{_scope.upper()}_RATE: {exc}") from exc
# Queued and running training runs a team may have at once (0: no limit).
TEAM_MAX_ACTIVE_RUNS = env.int("TEAM_MAX_ACTIVE_RUNS", default=20)
# Web processes load the versions these aliases point at when they start, before /readyz says
# they are ready (empty: load each model on its first request).
SERVE_PRELOAD_ALIASES = env.list("SERVE_PRELOAD_ALIASES", default=["production"])
# Runs one sweep may hold (its whole grid, or its random draw). Its runs also count against
# TEAM_MAX_ACTIVE_RUNS, so raise both together.
SWEEP_MAX_RUNS = env.int("SWEEP_MAX_RUNS", default=20)

# --- sign-on with the organisation's identity service (bearer JWTs) ---------------------------

# On when a JWKS URL or a public key (PEM, or JWT_PUBLIC_KEY_FILE) is set.
JWT_JWKS_URL = env("JWT_JWKS_URL", default="")
JWT_PUBLIC_KEY = env("JWT_PUBLIC_KEY", default="")
JWT_ISSUER = env("JWT_ISSUER", default="")
JWT_AUDIENCE = env.list("JWT_AUDIENCE", default=[])
JWT_ALGORITHMS = env.list("JWT_ALGORITHMS", default=["RS256", "ES256"])
JWT_USERNAME_CLAIM = env("JWT_USERNAME_CLAIM", default="sub")
JWT_ROLES_CLAIM = env("JWT_ROLES_CLAIM", default="hpml_roles")
JWT_CREATE_USERS = env.bool("JWT_CREATE_USERS", default=False)
JWT_LEEWAY = env.int("JWT_LEEWAY", default=30)
JWT_JWKS_CACHE_SECONDS = env.int("JWT_JWKS_CACHE_SECONDS", default=300)
JWT_JWKS_COOLDOWN_SECONDS = env.float("JWT_JWKS_COOLDOWN_SECONDS", default=10.0)
JWT_JWKS_TIMEOUT = env.float("JWT_JWKS_TIMEOUT", default=5.0)
if JWT_JWKS_URL or JWT_PUBLIC_KEY:
    # A bad key or a weak algorithm list must stop the process, not fail every request.
    from accounts.jwt import JWTConfig

    try:
        JWTConfig(
            jwks_url=JWT_JWKS_URL,
            public_key=JWT_PUBLIC_KEY,
            issuer=JWT_ISSUER,
            audience=tuple(JWT_AUDIENCE),
            algorithms=tuple(JWT_ALGORITHMS),
        ).check()
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc

# --- cache (throttle counters, sign-on bookkeeping) -------------------------------------------

CACHE_URL = env("CACHE_URL", default="")
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="hpml"),
        }
    }
elif CACHE_URL in ("", "locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured("CACHE_URL must be a redis:// URL, or unset for a per-process cache")
SPECTACULAR_SETTINGS = {
    "TITLE": "High Peaks ML Platform API",
    "DESCRIPTION": "Datasets, training runs, model registry and predictions.",
    "VERSION": "1",
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.api.permissions.TokenScope",
    ],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files ship with the package: the docs page works without internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- the rest of Django -----------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOGIN_URL = "admin:login"
# Password sign-in (the portal, the browsable API): SIGN_IN_FAILURE_LIMIT failures for one user
# name within SIGN_IN_LOCKOUT_SECONDS lock it until that window ends (0: no limit). Counted in
# the cache: set CACHE_URL to Redis so that every web process counts together.
AUTHENTICATION_BACKENDS = [
    "accounts.sign_in.SignInLimit",  # counts and refuses; the next one checks passwords
    "django.contrib.auth.backends.ModelBackend",
]
SIGN_IN_FAILURE_LIMIT = env.int("SIGN_IN_FAILURE_LIMIT", default=10)
SIGN_IN_LOCKOUT_SECONDS = env.int("SIGN_IN_LOCKOUT_SECONDS", default=900)
if SIGN_IN_FAILURE_LIMIT < 0 or not 1 <= SIGN_IN_LOCKOUT_SECONDS <= 86_400:
    raise ImproperlyConfigured(
        "SIGN_IN_FAILURE_LIMIT must be 0 or more and SIGN_IN_LOCKOUT_SECONDS from 1 to 86400"
    )

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
# "text": one plain line per record; "json": one JSON object per line (hpml_portal/logs.py).
# Either way each record knows its request id; the Celery workers log the same way.
LOG_FORMAT = env("LOG_FORMAT", default="text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
# A queue whose oldest job has waited longer than this (no worker took it) is called stalled
# by /readyz, /metrics and the dashboard.
QUEUE_STALL_SECONDS = env.int("QUEUE_STALL_SECONDS", default=300)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "hpml_portal.logs.ContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "hpml_portal.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "alembic": {"level": "WARNING"},
    },
}
