"""services.shots: shots from the locked references, the revision each was made from, settings."""

from __future__ import annotations

import pytest

from characters import services
from characters.models import Character, Shot


@pytest.mark.django_db
class TestShots:
    def test_a_shot_needs_ready_characters_and_valid_settings(self, character, owner, locked_face):
        with pytest.raises(services.ServiceError, match="Lock a sheet first"):
            services.shot_create(
                project=character.project, user=owner, prompt="x", characters=[character]
            )
        with pytest.raises(services.ServiceError, match="Describe the shot"):
            services.shot_create(
                project=character.project, user=owner, prompt=" ", characters=[character]
            )
        assert not Shot.objects.exists()

    def test_it_records_the_revision_of_each_character(self, character, owner, ready, run_inline):
        shot = run_inline(
            services.shot_create,
            project=character.project,
            user=owner,
            prompt="x",
            characters=[character],
            duration=6,
            ratio="9:16",
        )
        row = shot.cast.get()
        assert row.reference_revision == Character.objects.get(pk=character.pk).reference_revision
        shot.refresh_from_db()
        assert shot.video.mime == "image/webp"  # the offline preview is an animated WebP
        assert shot.video.width < shot.video.height  # 9:16
        assert shot.generation.parameters["revisions"] == {
            str(character.pk): row.reference_revision
        }

    @pytest.mark.parametrize(
        "kwargs,message",
        [
            ({"duration": 3}, "4 to 15"),
            ({"ratio": "2:1"}, "ratio"),
            ({"resolution": "8k"}, "resolution"),
        ],
    )
    def test_bad_settings_are_refused(self, character, owner, ready, kwargs, message):
        with pytest.raises(services.ServiceError, match=message):
            services.shot_create(
                project=character.project, user=owner, prompt="x", characters=[character], **kwargs
            )
