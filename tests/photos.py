"""Real photographs of real people, for the identity tests and the identity bench.

The `face_recognition` source distribution on PyPI ships test photos of two different people
(several of one of them). The first run fetches it with pip (the registry is the one network
this project may use), extracts just the photos into var/cache/face-photos/, and later runs
reuse them. No photo that is not ours is committed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "cache" / "face-photos"
DIST = "face_recognition==1.3.0"
# obama*.jpg are one person (several photos); biden.jpg is another.
SAME = ("obama.jpg", "obama2.jpg", "obama3.jpg")
OTHER = "biden.jpg"
NAMES = (*SAME, OTHER, "obama_partial_face.jpg", "obama_partial_face2.jpg")


class PhotosUnavailable(RuntimeError):
    pass


def photos_dir() -> Path:
    """The folder holding the photos, fetched and extracted the first time."""
    if all((CACHE / name).is_file() for name in NAMES):
        return CACHE
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE.parent) as work:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                DIST,
                "-d",
                work,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        archives = list(Path(work).glob("face_recognition-*.tar.gz"))
        if done.returncode != 0 or not archives:
            raise PhotosUnavailable(
                f"Could not fetch the test photos ({DIST} from PyPI): {done.stderr[-500:]}"
            )
        staging = Path(work) / "photos"
        staging.mkdir()
        with tarfile.open(archives[0]) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if member.isfile() and "/tests/test_images/" in member.name and name in NAMES:
                    source = tar.extractfile(member)
                    assert source is not None
                    (staging / name).write_bytes(source.read())
        missing = [n for n in NAMES if not (staging / n).is_file()]
        if missing:
            raise PhotosUnavailable(f"{DIST} no longer ships {', '.join(missing)}")
        # Two test processes may fetch at once: the first rename wins, the other's is dropped.
        try:
            os.replace(staging, CACHE)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return CACHE


def photo(name: str) -> bytes:
    return (photos_dir() / name).read_bytes()


def photo_sheet(
    pictures: dict[str, str | None],
    *,
    preset: str = "six",
    size: tuple[int, int] = (2752, 1536),
) -> bytes:
    """A turnaround sheet made of real photographs: each panel kind gets the named photo fitted
    into its nominal box (None leaves the panel a blank back-view stand-in), as a PNG."""
    import io

    from PIL import Image, ImageOps

    from characters.panels_detect import nominal_boxes

    sheet = Image.new("RGB", size, (236, 236, 236))
    for kind, (x, y, w, h) in nominal_boxes(preset, *size).items():
        name = pictures.get(kind)
        if name is None:
            # No face here: a grey figure seen from behind, as a back panel would be.
            sheet.paste(
                Image.new("RGB", (w // 3, h * 3 // 4), (90, 90, 96)), (x + w // 3, y + h // 8)
            )
            continue
        with Image.open(photos_dir() / name) as img:
            fitted = ImageOps.contain(img.convert("RGB"), (w, h))
        sheet.paste(fitted, (x + (w - fitted.width) // 2, y + (h - fitted.height) // 2))
    buf = io.BytesIO()
    sheet.save(buf, "PNG", compress_level=3)
    return buf.getvalue()


# The stranger is pasted into the three-quarter panel; the back panel has no face.
STRANGER_SHEET = {
    "front": "obama2.jpg",
    "three_quarter": OTHER,
    "profile": "obama_partial_face.jpg",
    "back": None,
    "face_closeup": "obama3.jpg",
    "mid_closeup": "obama2.jpg",
}


def lock_photo_face(character, owner):
    """Lock a real photograph of one man as the character's face (as approving it would)."""
    from django.utils import timezone

    from characters.models import CastingCandidate, Generation, Stage
    from characters.storage import asset_store

    project = character.project
    generation = Generation.objects.create(
        project=project,
        character=character,
        stage=Stage.CASTING,
        provider="offline",
        status=Generation.Status.SUCCEEDED,
        cost_usd=0,
    )
    image = asset_store(project=project, data=photo("obama.jpg"), mime="image/jpeg")
    candidate = CastingCandidate.objects.create(
        character=character,
        generation=generation,
        image=image,
        image_4k=image,
        decision=CastingCandidate.Decision.APPROVED,
        decided_by=owner,
        decided_at=timezone.now(),
    )
    character.locked_candidate = candidate
    character.save()
    return candidate


def store_photo_sheet(character, candidate, pictures=STRANGER_SHEET, size=(1376, 768)):
    """A finished sheet option made of photos, stored and split by the real service (which
    enqueues the identity task on commit)."""
    from django.utils import timezone

    from characters import services
    from characters.models import Generation, SheetOption, Stage
    from characters.storage import asset_store

    project = character.project
    generation = Generation.objects.create(
        project=project,
        character=character,
        stage=Stage.SHEET,
        provider="offline",
        status=Generation.Status.SUCCEEDED,
        cost_usd=0,
        finished_at=timezone.now(),
    )
    sheet = photo_sheet(pictures, size=size)
    option = SheetOption.objects.create(
        character=character,
        generation=generation,
        index=SheetOption.objects.filter(character=character).count() + 1,
        source_candidate=candidate,
        image=asset_store(project=project, data=sheet, mime="image/png"),
    )
    option = services.sheet_store_split(option=option, sheet=sheet)
    # The photos stand where the layout's nominal boxes are, but a head-and-shoulders photo in
    # a full-body slot does not look like a full-body view to the split, which names panels by
    # what they show. These sheets test identity, not the split: name each found panel by the
    # nominal box it covers, as a reviewer would with one click.
    from characters.models import Panel
    from characters.panels_detect import nominal_boxes

    nominal = nominal_boxes(option.preset, *size)

    def overlap(panel: Panel, box: tuple[int, int, int, int]) -> int:
        x, y, w, h = box
        dx = min(panel.x + panel.w, x + w) - max(panel.x, x)
        dy = min(panel.y + panel.h, y + h) - max(panel.y, y)
        return max(0, dx) * max(0, dy)

    panels = list(option.panels.all())
    kinds = {p.pk: max(nominal, key=lambda kind, p=p: overlap(p, nominal[kind])) for p in panels}
    for panel in panels:  # through unique stand-ins: two panels may swap kinds
        panel.kind = f"renaming-{panel.pk}"
    Panel.objects.bulk_update(panels, ["kind"])
    for panel in panels:
        panel.kind = kinds[panel.pk]
    Panel.objects.bulk_update(panels, ["kind"])
    return option
