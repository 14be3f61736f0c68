"""Static files come from the web process itself, collected or not."""

import pytest
from django.test import Client


@pytest.mark.parametrize(
    "path",
    [
        "/static/admin/css/base.css",  # the admin's styles
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",  # /api/docs/
    ],
)
def test_static_files_are_served_without_collectstatic(settings, tmp_path, path):
    settings.STATIC_ROOT = tmp_path  # nothing collected there

    answer = Client().get(path)

    assert answer.status_code == 200
    assert b"".join(answer.streaming_content)


def test_a_missing_static_file_is_404(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path

    assert Client().get("/static/admin/css/nothing-here.css").status_code == 404
