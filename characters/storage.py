"""Storing generated files: content-hashed names through Django's STORAGES.

Storing the same bytes twice in a project yields the same Asset, which is what makes a
redelivered task harmless: it cannot create a second file for the same picture.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from PIL import Image

from . import imaging
from .models import Asset, Generation, Project

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4"}


class StorageFailed(Exception):
    """Storage refused a file. The message is for people; the cause is logged."""


# Files written by this thread since forget_written(): the task removes them if the
# transaction that would have recorded them rolls back, so a failure leaves no orphan file.
_written = threading.local()


def written_files() -> list[str]:
    return list(getattr(_written, "names", []))


def forget_written() -> None:
    _written.names = []


def asset_name(project_id: int, digest: str, suffix: str) -> str:
    return f"projects/{project_id}/{digest[:2]}/{digest}{suffix}"


def _save(name: str, data: bytes) -> str:
    try:
        if default_storage.exists(name):
            return name
        saved = default_storage.save(name, ContentFile(data))
    except Exception as exc:
        raise StorageFailed(
            f"The file could not be saved to storage ({type(exc).__name__}), so nothing was "
            "kept. Try again; if it keeps failing, tell whoever runs Turnaround."
        ) from exc
    if not hasattr(_written, "names"):
        _written.names = []
    _written.names.append(saved)
    return saved


@dataclass(frozen=True)
class Picture:
    """The CPU work of keeping a picture, done before the transaction that keeps it: the
    guarded decode and, unless the picture is never shown, its derived sizes. On SQLite a
    transaction holds the one write lock, so work done inside it is work every other worker
    waits for: four sheets finishing together used to store one after another."""

    info: imaging.ImageInfo
    image: Image.Image
    derived: dict[str, bytes] | None


def picture_of(data: bytes, *, derive: bool = True) -> Picture:
    """Decode bytes through the guarded decode (ImageRejected when they are not a picture
    Turnaround accepts) and derive the sizes a page shows."""
    info, image = imaging.decode_checked(data)
    return Picture(info, image, imaging.derived_sizes(image) if derive else None)


def asset_store(
    *,
    project: Project,
    data: bytes,
    mime: str,
    generation: Generation | None = None,
    width: int = 0,
    height: int = 0,
    derive: bool = True,
    picture: Picture | None = None,
) -> Asset:
    """Keep bytes as an Asset (original as sent, plus WebP thumbnail and preview for images).

    `picture` is `data` already decoded (and its sizes derived) by picture_of, when the caller
    did that work ahead, outside its transaction."""
    digest = hashlib.sha256(data).hexdigest()
    existing = Asset.objects.filter(project=project, sha256=digest).first()
    if existing is not None:
        return existing
    image = None  # the guarded decode's result, reused for the derived sizes
    derived = None
    if picture is not None:
        info, image, derived = picture.info, picture.image, picture.derived
        mime, width, height = info.mime, info.width, info.height
    elif mime.startswith("image/") and not (width and height):
        info, image = imaging.decode_checked(data)
        mime, width, height = info.mime, info.width, info.height
    ext = EXTENSIONS.get(mime, "bin")
    already = len(written_files())
    try:
        return _store_new(
            project, generation, data, digest, mime, ext, width, height, derive, image, derived
        )
    except StorageFailed:
        # Derived sizes may have failed after the original was written: remove what this call
        # wrote, so a failed store leaves neither a row nor a file.
        for written in written_files()[already:]:
            default_storage.delete(written)
        _written.names = written_files()[:already]
        raise


def _store_new(
    project: Project,
    generation: Generation | None,
    data: bytes,
    digest: str,
    mime: str,
    ext: str,
    width: int,
    height: int,
    derive: bool,
    image: Image.Image | None,
    derived: dict[str, bytes] | None = None,
) -> Asset:
    name = _save(asset_name(project.pk, digest, f".{ext}"), data)
    asset = Asset(
        project=project,
        generation=generation,
        file=name,
        sha256=digest,
        mime=mime,
        width=width,
        height=height,
        byte_size=len(data),
    )
    if derive and mime.startswith("image/"):
        sizes = derived or imaging.derived_sizes(
            image if image is not None else imaging.open_trusted(data)
        )
        asset.preview = _save(asset_name(project.pk, digest, ".preview.webp"), sizes["preview"])
        asset.thumbnail = _save(asset_name(project.pk, digest, ".thumb.webp"), sizes["thumbnail"])
    try:
        with transaction.atomic():
            asset.save()
    except IntegrityError:
        # Another worker stored the same bytes a moment ago: theirs is the one.
        return Asset.objects.get(project=project, sha256=digest)
    return asset


def asset_read(asset: Asset) -> bytes:
    with default_storage.open(asset.file.name, "rb") as fh:
        return fh.read()


def asset_read_for_side(asset: Asset, side: int) -> bytes:
    """The bytes of the stored preview (longer side imaging.PREVIEW_SIDE) when that is enough
    for a picture `side` pixels across, else the original: a background task that needs a
    small picture of a 4K sheet then decodes 2.5 MP instead of 17 (50 MB of pixels)."""
    if asset.preview and side <= imaging.PREVIEW_SIDE:
        with default_storage.open(asset.preview.name, "rb") as fh:
            return fh.read()
    return asset_read(asset)
