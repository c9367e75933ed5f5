from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accesslog", "0002_throttlecounter"),
    ]

    operations = [
        migrations.AddField(
            model_name="accesslogentry",
            name="staff_user",
            field=models.CharField(
                blank=True,
                help_text="The staff user who previewed, for admin previews; blank for client "
                "requests",
                max_length=150,
            ),
        ),
    ]
