"""The shared cache's table (settings.TURNAROUND_CACHE_TABLE), so rate limits count across
every web process from the first `migrate`, whichever cache the environment picks now."""

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

TABLE = "turnaround_cache"  # settings.TURNAROUND_CACHE_TABLE; a migration keeps its own copy


def create(apps, schema_editor):
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, TABLE, dry_run=False)


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("characters", "0010_provider_references")]

    operations = [migrations.RunPython(create, drop)]
