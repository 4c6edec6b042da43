"""Test setup: a character's references already active in the video provider's asset library."""

from __future__ import annotations

from characters.models import ReferenceAsset
from characters.services import references
from tests.fakes.server import LibraryAsset


def references_active(character, fake) -> None:
    """Seedance takes a photoreal face only as an asset of its library. Ingesting them is
    tested in tests/services/test_references.py; here the character's references are set as
    already active, in our rows and in the fake's library, so the shot goes straight to its
    video task."""
    for n, row in enumerate(references.references_sync(character=character)):
        asset_id = f"asset-test-{row.pk}-{n}"
        fake.assets[asset_id] = LibraryAsset(
            id=asset_id,
            group_id="group-test",
            url="",
            name=row.kind,
            width=1024,
            height=1024,
            status="Active",
        )
        ReferenceAsset.objects.filter(pk=row.pk).update(
            status=ReferenceAsset.Status.ACTIVE, provider_id=asset_id
        )
    assert {a.status for a in references.references_for_character(character)} == {"active"}


def check_references(now) -> dict[str, int]:
    """What the ticker does when reference checks fall due at `now`: hand them out, run them."""
    return references.references_check(ids=references.reference_checks_due(now=now), now=now)
