"""The read replica (``DATABASE_REPLICA_URL``, ``cdsapi.replica``): listings serve the
replica's rows, while the token, the grant, its accounts, the holders and the clients are
read on the primary, so a revocation or a removed account is never stale.

The replica is a real second database, deliberately stale: ``replicate()`` copies what the
primary holds at that moment, and each test then changes one side only. The module makes it
itself (``replica_database``), so the rest of the suite runs without a replica, exactly as a
deployment without ``DATABASE_REPLICA_URL`` does.
"""

import importlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, router
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from accounts.models import Account, AccountVersion, ServiceContract
from bills.models import BillStatement
from cdsapi import replica
from cdsapi import settings as project_settings
from cdsapi.grants import lifecycle
from cdsapi.grants.preview import preview_endpoint
from cdsapi.models import AccessToken, Application, DirectAccess, Grant
from tests.factories import (
    ApplicationFactory,
    BillSectionFactory,
    BillStatementFactory,
    UserFactory,
)
from tests.usage_data import load_usage, segment, utc
from usage.models import UsageSegment, UsageSeries

REPLICA = replica.REPLICA
ROUTER = "cdsapi.replica.ReplicaRouter"
on_both = pytest.mark.django_db(databases=["default", REPLICA, "accesslog"])

T0 = datetime(2025, 6, 1, 7, 0, tzinfo=UTC)
# What the replica's copy says of every row's last sync; the primary says 2025-01-01.
REPLICA_SYNCED = datetime(2025, 2, 2, tzinfo=UTC)
SEED = [
    {"type": "cds_current_accounts_details"},
    {"type": "cds_bill_statements"},
    {"type": "cds_usage"},
]
UPSTREAM = [
    {"type": "cds_service_contracts_1"},
    {"type": "cds_meters_1"},
    {"type": "cds_bill_statements_1"},
    {"type": "cds_service_bills_1"},
    {"type": "cds_usage_1"},
]
ACCOUNTS = ("acc-a", "acc-b")
ENVELOPES = {
    "accounts": "accounts",
    "service-contracts": "service_contracts",
    "service-points": "service_points",
    "meter-devices": "meter_devices",
    "bill-statements": "bill_statements",
    "bill-sections": "bill_sections",
    "usage-segments": "usage_segments",
}
# Every id in the world ends with its account's id.
IDS = {
    "accounts": "cds_account_id",
    "service-contracts": "cds_servicecontract_id",
    "service-points": "cds_servicepoint_id",
    "meter-devices": "cds_meterdevice_id",
    "bill-statements": "cds_billstatement_id",
    "bill-sections": "cds_billsection_id",
    "usage-segments": "cds_usagesegment_id",
}
SEED_ENDPOINTS = ("accounts", "bill-statements", "bill-sections", "usage-segments")


@pytest.fixture(scope="module", autouse=True)
def replica_database(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """What ``DATABASE_REPLICA_URL`` set to the main database's URL gives (the alias, built
    by the settings' own ``replica_database``, and the router), with a test database of its
    own, created for this module and dropped after it."""
    entry = project_settings.replica_database(settings.DATABASE_URL)
    name = entry["NAME"]
    settings.DATABASES[REPLICA] = entry  # the very dict django.db.connections reads
    connections.configure_settings(settings.DATABASES)  # Django's defaults for the new entry
    routed = override_settings(DATABASE_ROUTERS=[*settings.DATABASE_ROUTERS, ROUTER])
    routed.enable()
    try:
        with django_db_blocker.unblock():
            connections[REPLICA].creation.create_test_db(verbosity=0, autoclobber=True)
        yield
        with django_db_blocker.unblock():
            connections[REPLICA].creation.destroy_test_db(name, verbosity=0)
    finally:
        routed.disable()
        del connections[REPLICA]
        del settings.DATABASES[REPLICA]


def replicate() -> None:
    """Copy what the primary holds now (users, clients, grants, tokens and all Customer
    Data) to the replica, which from then on lags behind it."""
    models = [get_user_model()] + [
        model
        for label in ("cdsapi", "accounts", "bills", "usage")
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
    ]
    for model in models:
        rows = list(model._base_manager.using("default").order_by("pk"))
        model._base_manager.using(REPLICA).bulk_create(rows)


def on_replica(model: Any) -> Any:
    return model._base_manager.using(REPLICA)


@pytest.fixture
def world() -> None:
    """On the primary: acc-a and acc-b, each with a contract, a service point, a meter, a
    usage segment, a statement and a bill section (whose ids end with the account's)."""
    load_usage(
        [segment(f"us-{a}", T0, [[{"eu": 1}]] * 4, account=a, meter=f"md-{a}") for a in ACCOUNTS],
        accounts=ACCOUNTS,
        meters=tuple(f"md-{a}" for a in ACCOUNTS),
    )
    for account in Account.objects.all():
        ident = account.cds_account_id
        BillSectionFactory(
            cds_billsection_id=f"bsec-{ident}",
            statement=BillStatementFactory(cds_billstatement_id=f"bst-{ident}", account=account),
            related_servicecontracts=[f"sc-{ident}"],
        )


def issue(details: list[dict], **kwargs: Any) -> tuple[str, Grant]:
    """A token of a new grant over both accounts, and the grant."""
    grant = lifecycle.create_grant(ApplicationFactory(), list(ACCOUNTS), details, **kwargs)
    return lifecycle.issue_token(grant)[0], grant


def served_accounts(api: Any, token: str, endpoint: str) -> set[str]:
    """The accounts whose objects ``endpoint`` serves."""
    rows = api.rows(endpoint, token, ENVELOPES[endpoint])
    return {a for row in rows for a in ACCOUNTS if row[IDS[endpoint]].endswith(a)}


CUSTOMER_DATA_TABLES = frozenset(
    model._meta.db_table
    for label in replica.CUSTOMER_DATA_APPS
    for model in apps.get_app_config(label).get_models(include_auto_created=True)
)


def tables(captured: CaptureQueriesContext) -> set[str]:
    """The tables the captured queries name (quoted identifiers that are table names)."""
    known = set(connections["default"].introspection.table_names())
    return {n for q in captured for n in re.findall(r'"(\w+)"', q["sql"]) if n in known}


@contextmanager
def queries() -> Iterator[tuple[CaptureQueriesContext, CaptureQueriesContext]]:
    """The queries run meanwhile on the primary and on the replica."""
    default, stale = (CaptureQueriesContext(connections[a]) for a in ("default", REPLICA))
    with default, stale:
        yield default, stale


# -- what is served comes from the replica ---------------------------------------------------


@on_both
@pytest.mark.parametrize(
    ("details", "endpoint"),
    [(SEED, e) for e in SEED_ENDPOINTS] + [(UPSTREAM, e) for e in ENVELOPES],
    ids=[f"seed-{e}" for e in SEED_ENDPOINTS] + [f"upstream-{e}" for e in ENVELOPES],
)
def test_every_endpoint_serves_the_replicas_rows_and_reads_access_on_the_primary(
    world: None, api: Any, details: list[dict], endpoint: str
) -> None:
    token, _ = issue(details)
    replicate()
    for label in replica.CUSTOMER_DATA_APPS:
        for model in apps.get_app_config(label).get_models():
            if any(f.name == "cds_synced" for f in model._meta.fields):
                on_replica(model).update(cds_synced=REPLICA_SYNCED)
    with queries() as (default, stale):
        rows = api.rows(endpoint, token, ENVELOPES[endpoint])
    assert rows
    assert {r["cds_synced"] for r in rows} == {utc(REPLICA_SYNCED)}
    # The replica answered the listing, and only with Customer Data tables ...
    assert tables(stale)
    assert tables(stale) <= CUSTOMER_DATA_TABLES
    # ... while the token, its grant and the client were read on the primary.
    assert {"cdsapi_accesstoken", "cdsapi_grant", "cdsapi_application"} <= tables(default)


@on_both
def test_a_segment_only_the_replica_still_holds_is_served(world: None, api: Any) -> None:
    token, _ = issue(SEED)
    replicate()
    UsageSegment.objects.filter(cds_usagesegment_id="us-acc-b").delete()
    with queries() as (default, stale):
        rows = api.rows("usage-segments", token, "usage_segments")
    assert sorted(r["cds_usagesegment_id"] for r in rows) == ["us-acc-a", "us-acc-b"]
    assert "usage_usagesegment" in tables(stale)
    assert "usage_usagesegment" not in tables(default)


@on_both
def test_an_account_changed_on_the_replica_is_served_as_the_replica_has_it(
    world: None, api: Any
) -> None:
    token, _ = issue(SEED)
    replicate()
    on_replica(AccountVersion).filter(account__cds_account_id="acc-a").update(
        account_number="REPLICA-1"
    )
    rows = api.rows("accounts", token, "accounts")
    numbers = {r["cds_account_id"]: r["account_number"] for r in rows}
    assert numbers == {"acc-a": "REPLICA-1", "acc-b": "N-acc-b"}
    assert AccountVersion.objects.get(account__cds_account_id="acc-a").account_number == "N-acc-a"


# -- what decides access is read on the primary ----------------------------------------------


@on_both
def test_a_grant_revoked_on_the_primary_is_refused_though_the_replica_has_it_active(
    world: None, api: Any
) -> None:
    token, grant = issue(SEED)
    replicate()
    lifecycle.revoke_grant(grant)
    assert on_replica(Grant).get(pk=grant.pk).status == Grant.Status.ACTIVE
    assert on_replica(AccessToken).get(cds_grant=grant.pk).expires > timezone.now()
    with queries() as (_, stale):
        for endpoint in SEED_ENDPOINTS:
            assert api.get(endpoint, token).status_code == 401
    assert len(stale) == 0


@on_both
@pytest.mark.parametrize(
    ("details", "endpoints"), [(SEED, SEED_ENDPOINTS), (UPSTREAM, tuple(ENVELOPES))]
)
def test_an_account_removed_from_the_grant_on_the_primary_is_not_served(
    world: None, api: Any, details: list[dict], endpoints: tuple[str, ...]
) -> None:
    token, grant = issue(details)
    replicate()
    grant.accounts.remove(Account.objects.get(cds_account_id="acc-b"))
    stale_links = on_replica(Grant.accounts.through).filter(grant=grant.pk)
    assert stale_links.filter(account__cds_account_id="acc-b").exists()
    for endpoint in endpoints:
        assert served_accounts(api, token, endpoint) == {"acc-a"}, endpoint


@on_both
def test_a_token_issued_after_the_replica_was_copied_works(world: None, api: Any) -> None:
    replicate()
    token, _ = issue(SEED)
    assert not on_replica(AccessToken).exists()
    assert not on_replica(Grant).exists()
    assert served_accounts(api, token, "accounts") == {"acc-a", "acc-b"}
    assert served_accounts(api, token, "usage-segments") == {"acc-a", "acc-b"}


@on_both
def test_an_account_its_customer_no_longer_holds_on_the_primary_is_not_served(
    world: None, api: Any
) -> None:
    customer = UserFactory()
    for account in Account.objects.all():
        account.holders.add(customer)
    token, _ = issue(UPSTREAM, customer=customer)
    replicate()
    Account.objects.get(cds_account_id="acc-b").holders.remove(customer)
    assert on_replica(Account.holders.through).filter(user=customer.pk).count() == 2
    for endpoint in ENVELOPES:
        assert served_accounts(api, token, endpoint) == {"acc-a"}, endpoint


@on_both
def test_a_clients_base_set_narrowed_on_the_primary_is_honoured(world: None, api: Any) -> None:
    client = ApplicationFactory()
    lifecycle.set_direct_access(
        client, ["cds_query_accounts_1"], list(Account.objects.all()), all_accounts=False
    )
    grant = lifecycle.direct_grant(client, "cds_query_accounts_1", None)
    grant.save()
    token = lifecycle.issue_token(grant)[0]
    replicate()
    DirectAccess.objects.get(client=client).accounts.remove(
        Account.objects.get(cds_account_id="acc-b")
    )
    assert on_replica(DirectAccess.accounts.through).count() == 2
    assert served_accounts(api, token, "accounts") == {"acc-a"}


@on_both
def test_the_admin_preview_reads_the_grant_on_the_primary_and_rows_on_the_replica(
    world: None,
) -> None:
    _, grant = issue(SEED)
    replicate()
    on_replica(BillStatement).update(amount_due="99.99")
    shown = preview_endpoint(grant, "bill-statements", "staff")
    assert shown.status == 200
    assert {str(r["amount_due"]) for r in shown.data["bill_statements"]} == {"99.99"}
    lifecycle.revoke_grant(grant)
    assert preview_endpoint(grant, "bill-statements", "staff").status == 401


# -- the router -------------------------------------------------------------------------------

ROUTED_TO_REPLICA = (
    Account,
    AccountVersion,
    ServiceContract,
    BillStatement,
    UsageSegment,
    UsageSeries,
)
ALWAYS_PRIMARY = (Grant, Grant.accounts.through, AccessToken, Application, DirectAccess)


def test_the_router_sends_only_customer_data_read_while_listing_to_the_replica() -> None:
    user = get_user_model()
    for model in (*ROUTED_TO_REPLICA, *ALWAYS_PRIMARY, user, Account.holders.through):
        assert router.db_for_read(model) == "default"
        assert router.db_for_write(model) == "default"
    with replica.serving_listing():
        for model in ROUTED_TO_REPLICA:
            assert router.db_for_read(model) == REPLICA
            assert router.db_for_write(model) == "default"
        # Who holds an account decides access: it is never read on the replica.
        for model in (*ALWAYS_PRIMARY, user, Account.holders.through):
            assert router.db_for_read(model) == "default", model
    assert router.db_for_read(UsageSegment) == "default"


def test_the_listing_flag_is_cleared_even_when_the_listing_fails() -> None:
    with pytest.raises(ValueError), replica.serving_listing():
        raise ValueError
    assert router.db_for_read(UsageSegment) == "default"


def test_rows_of_the_replica_and_the_primary_may_be_related() -> None:
    primary, copy = Account(), Account()
    primary._state.db, copy._state.db = "default", REPLICA
    assert router.allow_relation(primary, copy)
    logged = Account()
    logged._state.db = "accesslog"
    assert not router.allow_relation(primary, logged)


def test_without_a_replica_the_router_sends_everything_to_the_primary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(settings.DATABASES, REPLICA)
    routed = replica.ReplicaRouter()
    with replica.serving_listing():
        for model in ROUTED_TO_REPLICA:
            assert routed.db_for_read(model) is None
            assert routed.db_for_write(model) is None
            assert router.db_for_read(model) == "default"


# -- the settings ---------------------------------------------------------------------------


def settings_with(**env: str) -> dict[str, Any]:
    """The settings module's values under this environment (then reloaded as it was)."""
    with pytest.MonkeyPatch.context() as patched:
        patched.delenv("DATABASE_REPLICA_URL", raising=False)
        for name, value in env.items():
            patched.setenv(name, value)
        found = dict(vars(importlib.reload(project_settings)))
    importlib.reload(project_settings)
    return found


def test_without_database_replica_url_there_is_no_replica_and_no_router() -> None:
    found = settings_with()
    assert REPLICA not in found["DATABASES"]
    assert found["DATABASE_ROUTERS"] == ["accesslog.router.AccessLogRouter"]


def test_a_postgresql_replica_is_built_as_the_main_database_with_a_test_database_apart() -> None:
    found = settings_with(
        DATABASE_URL="postgres://cdsapi@db.internal:5432/cdsapi",
        DATABASE_REPLICA_URL="postgres://cdsapi@replica.internal:5432/cdsapi",
        CONN_MAX_AGE="17",
    )
    main, copy = found["DATABASES"]["default"], found["DATABASES"][REPLICA]
    assert copy["HOST"] == "replica.internal"
    for key in ("ENGINE", "NAME", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        assert copy[key] == main[key]
    assert copy["CONN_MAX_AGE"] == 17
    assert copy["TEST"] == {"NAME": "test_cdsapi_replica", "MIGRATE": False}
    assert found["DATABASE_ROUTERS"] == [
        "accesslog.router.AccessLogRouter",
        ROUTER,
    ]


def test_a_sqlite_replica_gets_the_main_databases_options(tmp_path: Any) -> None:
    found = settings_with(
        DATABASE_URL=f"sqlite:///{tmp_path / 'main.sqlite3'}",
        DATABASE_REPLICA_URL=f"sqlite:///{tmp_path / 'copy.sqlite3'}",
    )
    main, copy = found["DATABASES"]["default"], found["DATABASES"][REPLICA]
    assert copy["NAME"] == str(tmp_path / "copy.sqlite3")
    assert copy["OPTIONS"] == main["OPTIONS"]
    assert copy["CONN_MAX_AGE"] == main["CONN_MAX_AGE"]
    # Its test database is its own one in memory, never a mirror.
    assert copy["TEST"] == {"MIGRATE": False}


def test_the_replicas_test_database_is_its_own() -> None:
    main, copy = (connections[a].settings_dict for a in ("default", REPLICA))
    assert copy["TEST"]["MIRROR"] is None
    assert copy["NAME"] != main["NAME"]
