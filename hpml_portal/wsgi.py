import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hpml_portal.settings")
application = get_wsgi_application()

# Load the models that serve before this process takes traffic (/readyz waits for it).
from inference.warmup import start_in_background  # noqa: E402 (needs the app set up)

start_in_background()
