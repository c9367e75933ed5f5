from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from cdsapi import exactjson
from cdsapi.grants import lifecycle
from cdsapi.models import Grant
from tests.factories import ApplicationFactory

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
API = "/cds-customerdata-api/v1/"


@pytest.fixture
def sample_path() -> Path:
    return FIXTURES / "sample.json"


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
