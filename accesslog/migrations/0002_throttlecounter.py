from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accesslog", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ThrottleCounter",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "key",
                    models.CharField(
                        help_text="What is counted, e.g. client:<id>:60.", max_length=200
                    ),
                ),
                (
                    "window_start",
                    models.BigIntegerField(help_text="Start of the window (Unix seconds)."),
                ),
                (
                    "window_end",
                    models.BigIntegerField(
                        db_index=True, help_text="End of the window (Unix seconds)."
                    ),
                ),
                ("count", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("key", "window_start"), name="accesslog_throttle_key_window"
                    )
                ],
            },
        ),
    ]
