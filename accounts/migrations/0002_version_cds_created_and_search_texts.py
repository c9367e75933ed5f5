"""Each account version keeps its own cds_created and cds_synced; q gets folded search texts
per version."""

import django.db.models.deletion
from django.db import migrations, models

from accounts.search import texts


def move_rows(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    AccountVersion = apps.get_model("accounts", "AccountVersion")
    AccountSearchText = apps.get_model("accounts", "AccountSearchText")
    for account in Account.objects.iterator():
        versions = list(AccountVersion.objects.filter(account=account).order_by("cds_modified"))
        for version, successor in zip(versions, [*versions[1:], None], strict=True):
            # A version was confirmed no later than the version that replaced it.
            synced = account.cds_synced
            if successor is not None:
                synced = min(synced, successor.cds_modified)
            version.cds_created = account.cds_created
            version.cds_synced = synced
        AccountVersion.objects.bulk_update(versions, ["cds_created", "cds_synced"])
    batch = []
    for version in AccountVersion.objects.select_related("account").iterator():
        for name, text in texts(version.account.cds_account_id, version).items():
            batch.append(AccountSearchText(version=version, field=name, text=text))
        if len(batch) >= 500:
            AccountSearchText.objects.bulk_create(batch)
            batch = []
    AccountSearchText.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="accountversion",
            name="cds_created",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="accountversion",
            name="cds_synced",
            field=models.DateTimeField(null=True),
        ),
        migrations.CreateModel(
            name="AccountSearchText",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("field", models.CharField(max_length=32)),
                ("text", models.TextField()),
                (
                    "version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="search_texts",
                        to="accounts.accountversion",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("version", "field"), name="account_search_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(move_rows, migrations.RunPython.noop),
    ]
