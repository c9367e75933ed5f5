"""Grants for ``make loadtest``, made by a revision's own management commands.

``bench/loadtest.py`` runs this file with the Python of a revision's virtualenv, from that
revision's directory (the current checkout, or the baseline's worktree), so the client and
grants are created by that revision's own ``cds_client create`` and ``cds_grant create
--issue-token`` (both revisions take the same arguments), all in one process: starting Django
once per grant would cost a second each. It imports nothing from the current project.

Standard input: ``{"client_id": ..., "grants": [{"name", "accounts", "details"}, ...]}``.
Standard output: one JSON object, ``{name: access_token}``.
"""

import io
import json
import os
import sys


def main() -> None:
    spec = json.load(sys.stdin)
    # The revision's own code: its directory first (this file's own directory is bench/).
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdsapi.settings")
    import django

    django.setup()
    from django.core.management import call_command

    def command(*args: str) -> dict:
        out = io.StringIO()
        call_command(*args, stdout=out)
        return json.loads(out.getvalue())

    client_id = spec["client_id"]
    command("cds_client", "create", "--name", "Load test", "--client-id", client_id)
    tokens = {}
    for grant in spec["grants"]:
        made = command(
            "cds_grant",
            "create",
            "--client-id",
            client_id,
            "--accounts",
            ",".join(grant["accounts"]),
            "--authorization-details",
            json.dumps(grant["details"]),
            "--issue-token",
        )
        tokens[grant["name"]] = made["access_token"]
    sys.stdout.write(json.dumps(tokens) + "\n")


if __name__ == "__main__":
    main()
