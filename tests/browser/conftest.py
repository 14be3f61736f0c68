"""A real browser on the portal: Debian's chromium (/usr/bin/chromium, installed by .ci/run
from apt), driven by Playwright for Python; no browser is downloaded. The portal runs as
pytest-django's live server, in this process, on this session's database. Each test saves a
screenshot of every page it looks at under HPML_SCREENSHOTS (default: the test's tmp folder)."""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread, which Django would take for
    # async code and refuse the ORM to: the tests and their fixtures use it between steps.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(chromium, live_server, tmp_path, request):
    """A fresh browser tab, 1280 px wide; ``page.shot(name)`` saves a screenshot."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    yield screenshots(context.new_page(), tmp_path, request)
    context.close()


def screenshots(tab, tmp_path, request):
    """The tab, with ``shot(name)`` saving a full-page screenshot named after the test."""
    tab.set_default_timeout(20_000)
    folder = Path(os.environ.get("HPML_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    tab.shot = lambda name: tab.screenshot(
        path=str(folder / f"{request.node.name}-{name}.png"), full_page=True
    )
    return tab


def log_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#hpml-dashboard")


PASSWORD = "browser-pass-1"


def person(team, role="viewer"):
    """A member of ``team`` who signs in with PASSWORD."""
    from tests.factories import MembershipFactory, UserFactory

    user = UserFactory()
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=team, user=user, role=role)
    return user
