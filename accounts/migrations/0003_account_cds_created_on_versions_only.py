from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_version_cds_created_and_search_texts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="accountversion",
            name="cds_created",
            field=models.DateTimeField(),
        ),
        migrations.AlterField(
            model_name="accountversion",
            name="cds_synced",
            field=models.DateTimeField(help_text="The source's last confirmation of this version."),
        ),
        migrations.RemoveField(
            model_name="account",
            name="cds_created",
        ),
        migrations.AlterField(
            model_name="account",
            name="cds_synced",
            field=models.DateTimeField(help_text="The source's last confirmation of the account."),
        ),
    ]
