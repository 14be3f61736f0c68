"""Settings, all read from the environment (12-factor).

With no environment set, everything runs embedded on one machine: SQLite, local files, an
MLflow SQLite store and a Celery broker in folders, all under ``var/``. Setting
``DATABASE_URL``, ``CELERY_BROKER_URL``, the ``AWS_*`` variables and ``MLFLOW_TRACKING_URI``
switches the same code to PostgreSQL, Redis, S3/MinIO and an MLflow server. Any variable may
instead come from a file named by ``<NAME>_FILE`` (Kubernetes secrets).
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

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

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "hpml_portal",
    "datasets",
    "experiments",
    "models_registry",
    "inference",
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

AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default="us-east-1"),
            "location": env("AWS_LOCATION", default=""),
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
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
DATASET_MAX_UPLOAD_BYTES = env.int("DATASET_MAX_UPLOAD_BYTES", default=2 * 1024**3)

# --- jobs (Celery) ----------------------------------------------------------------------------

TRAINING_TIME_LIMIT = env.int("TRAINING_TIME_LIMIT", default=6 * 3600)
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

# A RUNNING run whose heartbeat is older than this many seconds is closed by the reaper.
RUN_STALE_AFTER = env.int("RUN_STALE_AFTER", default=600)
CELERY_BEAT_SCHEDULE = {
    "reap-dead-runs": {"task": "experiments.tasks.reap_runs", "schedule": 60.0},
}

# --- tracking (MLflow) ------------------------------------------------------------------------

_embedded_mlflow = f"sqlite:///{VAR_DIR / 'mlflow.db'}"
MLFLOW_TRACKING_URI = env("MLFLOW_TRACKING_URI", default=_embedded_mlflow)
# Where new MLflow experiments keep artifacts; empty lets an MLflow server decide.
MLFLOW_ARTIFACT_ROOT = env(
    "MLFLOW_ARTIFACT_ROOT",
    default=(VAR_DIR / "mlartifacts").as_uri() if _embedded_mlflow == MLFLOW_TRACKING_URI else "",
)

# --- serving ----------------------------------------------------------------------------------

PREDICT_MAX_BATCH = env.int("PREDICT_MAX_BATCH", default=1024)
PREDICT_MAX_BODY_BYTES = env.int("PREDICT_MAX_BODY_BYTES", default=8 * 1024 * 1024)
PREDICTION_LOG_SAMPLE_RATE = env.float("PREDICTION_LOG_SAMPLE_RATE", default=1.0)
MODEL_CACHE_SIZE = env.int("MODEL_CACHE_SIZE", default=8)
if not 0.0 <= PREDICTION_LOG_SAMPLE_RATE <= 1.0:
    raise ImproperlyConfigured("PREDICTION_LOG_SAMPLE_RATE must be between 0 and 1")

# --- API --------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "High Peaks ML Platform API",
    "DESCRIPTION": "Datasets, training runs, model registry and predictions.",
    "VERSION": "1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
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

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "alembic": {"level": "WARNING"},
    },
}
