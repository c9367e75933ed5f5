"""Migrations stack on a database that holds rows: each new one is applied to data written by
the models as they were before it (a deployed server is upgraded, never recreated)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_CONSENT = [("cdsapi", "0003_grant_status_closed"), ("consent", None)]


def migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh loader sees the state just reached


@pytest.mark.django_db(transaction=True)
def test_the_consent_migrations_keep_existing_clients_grants_and_codes() -> None:
    executor = migrate(BEFORE_CONSENT)
    old = executor.loader.project_state(BEFORE_CONSENT[:1]).apps
    client = old.get_model("cdsapi", "Application").objects.create(
        client_id="before-0004",
        name="Recipient",
        client_type="confidential",
        authorization_grant_type="client-credentials",
        client_secret="s3cret",
    )
    old.get_model("cdsapi", "Grant").objects.create(
        id="grt_before",
        client=client,
        scope="cds_usage",
        authorization_details=[{"type": "cds_usage"}],
    )
    migrate(executor.loader.graph.leaf_nodes())

    from cdsapi.models import Application, Grant

    grant = Grant.objects.get(pk="grt_before")
    assert grant.selection is None
    assert grant.authorization_details == [{"type": "cds_usage"}]
    upgraded = Application.objects.get(client_id="before-0004")
    assert upgraded.client_uri == "" and upgraded.cds_default_scope == ""
    assert upgraded.cds_default_authorization_details is None
    assert not grant.receipts.exists()
