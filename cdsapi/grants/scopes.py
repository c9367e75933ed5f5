"""The scopes this server offers, as data: upstream "Scope Descriptions" (CDS-WG1-02 §3.4).

One registry drives everything a scope means outside the policy: which
``authorization_details`` types and fields a grant may carry, their formats, defaults and
choices (``details.resolve`` validates by them), the text a person reads about them, and the
metadata document (``cds_scope_descriptions``). ``manage.py cds_scopes`` prints it.

The registry is the ``CDS_SCOPES`` setting: a dotted path to a sequence of
``ScopeDescription``, by default ``cdsapi.grants.offered.SCOPES``: the seed vocabulary
(``SEED_SCOPES`` below) and the upstream one (``cdsapi.grants.upstream``).
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from accounts.models import ACCOUNT_FIELDS
from usage.aggregation import AGGREGATION_TYPES

INFINITE = "infinite"
# Seed scopes keep their ids; their type carries this server's prefix, so that a client never
# takes one for an upstream scope type of the same name (WG1-02 §3.3).
SERVER_PREFIX = "cdsapi_"


@dataclass(frozen=True)
class Choice:
    id: str
    name: str
    description: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "documentation": "",
        }


@dataclass(frozen=True)
class Field:
    """One ``authorization_details`` field (WG1-02 "Authorization Details Field").

    ``default`` may be a callable (read when a grant is made, e.g. from a setting).
    ``looks`` says which way a relative date or datetime resolves: ``back`` from now (starts)
    or ``forward`` (ends). ``implied`` marks an ``include_*`` field the scope always turns on
    (true, and refused if sent false); ``nullable`` whether a ``*_or_null`` format takes null
    here (program lists do not); ``kept`` whether the value is stored in the grant and
    echoed (consent scopes keep no preselections); ``sentinels`` the special list values a
    preselection accepts (``_all``, ``_include_future``). These are this server's, not published.
    """

    id: str
    name: str
    description: str
    format: str
    for_types: tuple[str, ...]
    is_required: bool = False
    default: Any = None
    choices: tuple[Choice, ...] = ()
    minimum: Any = None
    maximum: Any = None
    looks: str = "forward"
    implied: bool = False
    kept: bool = True
    nullable: bool = True
    sentinels: tuple[str, ...] = ()

    def __or__(self, changes: dict[str, Any]) -> "Field":
        """This field with some attributes changed."""
        return replace(self, **changes)

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "documentation": "",
            "for_types": list(self.for_types),
            "format": self.format,
            "is_required": self.is_required,
        }
        if not self.is_required:
            found["default"] = self.default_value()
        if self.choices:
            found["choices"] = [c.as_json() for c in self.choices]
        if self.maximum is not None:
            found["minimum"], found["maximum"] = self.minimum, self.maximum
        return found


@dataclass(frozen=True)
class ScopeDescription:
    """A scope (WG1-02 §3.4). ``windows`` pairs a start field with its end field (and
    whether they may be equal): a window never starts after it ends. ``family`` (this
    server's) says which vocabulary compiles it: ``seed``, ``consent`` (WG3 §6.1), ``direct``
    (WG3 §6.2) or ``grant_admin`` (WG1-02 §3.3.2)."""

    id: str
    type: str
    name: str
    description: str
    fields: tuple[Field, ...]
    grant_types_supported: tuple[str, ...] = ("client_credentials",)
    response_types_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = (
        "client_secret_basic",
        "client_secret_post",
    )
    code_challenge_methods_supported: tuple[str, ...] = ()
    grant_admin_scope: str | None = None
    windows: tuple[tuple[str, str, bool], ...] = ()
    types: tuple[str, ...] | None = None  # None: the scope's own id
    family: str = "seed"

    @property
    def by_consent(self) -> bool:
        """Whether a customer grants this scope (the authorization code flow)."""
        return "code" in self.response_types_supported

    @property
    def authorization_details_types_supported(self) -> tuple[str, ...]:
        return (self.id,) if self.types is None else self.types

    def fields_for(self, detail_type: str) -> dict[str, Field]:
        return {f.id: f for f in self.fields if detail_type in f.for_types}

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "description": self.description,
            "documentation": "",
            "registration_requirements": [],
            "registration_optional": [],
            "response_types_supported": list(self.response_types_supported),
            "grant_types_supported": list(self.grant_types_supported),
            "token_endpoint_auth_methods_supported": list(
                self.token_endpoint_auth_methods_supported
            ),
            "code_challenge_methods_supported": list(self.code_challenge_methods_supported),
            "coverages_supported": [],
            "grant_admin_scope": self.grant_admin_scope,
            "authorization_details_types_supported": list(
                self.authorization_details_types_supported
            ),
            "authorization_details_fields_supported": [f.as_json() for f in self.fields],
        }


def _window(scope: str, kind: str, start: str, end: str, what: str) -> tuple[Field, Field]:
    """A start and an end bound (``kind`` ``date`` or ``datetime``), "infinite" by default."""
    fmt = f"relative_or_absolute_{kind}"
    return (
        Field(
            start,
            f"{what} from",
            f"The earliest {what} shown ({kind}, a duration back from now, or infinite).",
            fmt,
            (scope,),
            default=INFINITE,
            looks="back",
        ),
        Field(
            end,
            f"{what} until",
            f"The latest {what} shown ({kind}, a duration forward from now, or infinite).",
            fmt,
            (scope,),
            default=INFINITE,
        ),
    )


def default_account_fields() -> list[str]:
    """The ``CDS_DEFAULT_ACCOUNT_FIELDS`` setting (empty means every account field)."""
    from django.core.exceptions import ImproperlyConfigured

    fields = list(settings.CDS_DEFAULT_ACCOUNT_FIELDS) or list(ACCOUNT_FIELDS)
    unknown = sorted(set(fields) - set(ACCOUNT_FIELDS))
    if unknown:
        raise ImproperlyConfigured(f"CDS_DEFAULT_ACCOUNT_FIELDS: unknown fields {unknown}")
    return fields


def _setting(name: str) -> Callable[[], Any]:
    return lambda: getattr(settings, name)


ACCOUNTS = "cds_current_accounts_details"
BILLS = "cds_bill_statements"
USAGE = "cds_usage"
FLAVORS = ("full", "usage_only", "amount_due_only")

SEED_SCOPES: tuple[ScopeDescription, ...] = (
    ScopeDescription(
        id=ACCOUNTS,
        type=f"{SERVER_PREFIX}current_accounts_details",
        name="Account details",
        description="The selected accounts, each as it was at a cutoff, with the chosen fields.",
        fields=(
            Field(
                "sync_date_end",
                "As of",
                "Accounts are shown as they were at this instant (a duration forward from "
                "now, or infinite: as they are).",
                "relative_or_absolute_datetime",
                (ACCOUNTS,),
                default=INFINITE,
            ),
            Field(
                "fields",
                "Account fields",
                "Which optional account fields are shown.",
                "choice_list",
                (ACCOUNTS,),
                default=default_account_fields,
                choices=tuple(Choice(f, f.replace("_", " ")) for f in ACCOUNT_FIELDS),
            ),
        ),
    ),
    ScopeDescription(
        id=BILLS,
        type=f"{SERVER_PREFIX}bill_statements",
        name="Bill statements",
        description="Bill statements and sections of the selected accounts, by statement date.",
        fields=(
            *_window(BILLS, "date", "statement_date_start", "statement_date_end", "statement date"),
            Field(
                "flavor",
                "Flavor",
                "full: everything; usage_only: no money anywhere; amount_due_only: the amount "
                "due and its dates, no sections.",
                "choice",
                (BILLS,),
                default="full",
                choices=(
                    Choice("full", "Everything on the bill"),
                    Choice("usage_only", "Usage only, no money"),
                    Choice("amount_due_only", "The amount due and its dates"),
                ),
            ),
        ),
        windows=(("statement_date_start", "statement_date_end", False),),
    ),
    ScopeDescription(
        id=USAGE,
        type=f"{SERVER_PREFIX}usage",
        name="Usage",
        description="Interval usage of the selected accounts' meters inside a time window, at "
        "the finest granularity allowed.",
        fields=(
            *_window(USAGE, "datetime", "segment_start", "segment_end", "usage"),
            Field(
                "aggregation_type",
                "Finest granularity",
                "intervals as stored, or hourly, daily or monthly aggregates in the local "
                "calendar; coarser views may be asked for.",
                "choice",
                (USAGE,),
                default=_setting("CDS_DEFAULT_AGGREGATION_TYPE"),
                choices=tuple(Choice(a, a.replace("_", " ")) for a in AGGREGATION_TYPES),
            ),
        ),
        windows=(("segment_start", "segment_end", True),),
    ),
)


@cache
def _load(path: str) -> dict[str, ScopeDescription]:
    return {scope.id: scope for scope in import_string(path)}


def registry() -> dict[str, ScopeDescription]:
    """Every scope this server offers, keyed by id (the ``CDS_SCOPES`` setting)."""
    return _load(settings.CDS_SCOPES)


def scope_of_type(detail_type: str) -> ScopeDescription | None:
    """The scope whose ``authorization_details_types_supported`` lists ``detail_type``."""
    for scope in registry().values():
        if detail_type in scope.authorization_details_types_supported:
            return scope
    return None


def as_json() -> dict[str, dict[str, Any]]:
    """The registry as metadata serves it: ``cds_scope_descriptions``."""
    return {scope_id: scope.as_json() for scope_id, scope in registry().items()}
