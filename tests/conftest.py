from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from cdsapi import exactjson
from cdsapi.demo.data import DEMO_END, build_demo
from cdsapi.grants import lifecycle
from cdsapi.models import Grant
from tests.factories import ApplicationFactory

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
API = "/cds-customerdata-api/v1/"


# Every Customer Data API request writes an access log row through the "accesslog" alias (in
# tests a database of its own, on SQLite and PostgreSQL alike): a test that uses the database
# may use all of them unless it names its databases.
DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "live_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from django.test import TransactionTestCase

    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None and issubclass(cls, TransactionTestCase):
            # Django test classes (hypothesis's included) that keep the default {"default"}.
            if cls.databases == {"default"}:
                cls.databases = "__all__"
            continue
        marker = item.get_closest_marker("django_db")
        if marker is None:
            if not DB_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())):
                item.add_marker(pytest.mark.django_db(databases="__all__"))
        elif "databases" not in marker.kwargs and len(marker.args) < 3:
            every = pytest.mark.django_db(*marker.args, **marker.kwargs, databases="__all__")
            item.add_marker(every, append=False)


@pytest.fixture
def sample_path() -> Path:
    return FIXTURES / "sample.json"


@pytest.fixture
def demo_small(db: Any, tmp_path: Path) -> None:
    """The demo's data with the demo's own ids (the sample has its own), 3 days and 2 months
    of it: for tests of what `make demo` prints."""
    path = tmp_path / "demo.json"
    path.write_text(exactjson.dumps(build_demo(DEMO_END, usage_days=3, bill_months=2)))
    call_command("cds_import", str(path), "--no-progress")


@pytest.fixture
def make_grant(db: Any) -> Callable[..., Grant]:
    """A grant made the way the CLI and admin make it (full validation)."""

    def make(accounts: list[str], details: list[dict], **kwargs: Any) -> Grant:
        client = kwargs.pop("client", None) or ApplicationFactory()
        return lifecycle.create_grant(client, accounts, details, **kwargs)

    return make


@pytest.fixture
def token_for(make_grant: Callable[..., Grant]) -> Callable[..., str]:
    """An access token bound to a new grant over ``accounts`` with ``details``."""

    def make(accounts: list[str], details: list[dict], **kwargs: Any) -> str:
        return lifecycle.issue_token(make_grant(accounts, details, **kwargs))[0]

    return make


class Api:
    """Calls the Customer Data API and decodes responses with exact decimals."""

    def __init__(self) -> None:
        self.client = Client()

    def get(self, endpoint: str, token: str | None, **params: Any) -> Any:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        response = self.client.get(API + endpoint, params, **headers)
        assert response["Content-Type"].startswith("application/json"), response.content
        response.data_ = exactjson.loads(response.content) if response.content else None
        return response

    def rows(self, endpoint: str, token: str, envelope: str, **params: Any) -> list[dict]:
        response = self.get(endpoint, token, **params)
        assert response.status_code == 200, response.content
        return response.data_[envelope]


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Client secrets are hashed like passwords; PBKDF2 would dominate the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def plain_http_without_collectstatic() -> Any:
    """The suite runs with DEBUG off, as production does, but speaks plain HTTP through the
    test client and never runs collectstatic: no HTTPS redirect, static files by their own
    names, found in the apps (WhiteNoise looks there instead of an empty STATIC_ROOT).
    tests/test_production.py checks the production defaults in real processes."""
    from django.conf import settings
    from django.test.utils import override_settings

    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with override_settings(
        SECURE_SSL_REDIRECT=False,
        STORAGES={**settings.STORAGES, "staticfiles": plain},
        WHITENOISE_USE_FINDERS=True,
        WHITENOISE_AUTOREFRESH=True,
    ):
        yield


@pytest.fixture(autouse=True)
def forget_refused_addresses() -> Any:
    """What a process noted of addresses over the failed-authentication limit outlives the
    test's database rows; each test starts without it."""
    from cdsapi.api.throttling import failed_authentication

    failed_authentication.forget()
    yield
    failed_authentication.forget()
