"""`manage.py identity REFERENCE IMAGE`: is it the same person? Distance, threshold, verdict.

The same face-embedding model and threshold the app uses on every panel, on any two pictures,
so anyone can check the score on their own photographs. Prints a line, or JSON with --json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from characters import identity
from characters.imaging import ImageRejected

VERDICTS = {
    identity.SAME: "same person",
    identity.DIFFERENT: "different person (may be someone else)",
    identity.NO_FACE: "no face found in the image",
    identity.NO_REFERENCE: "no face found in the reference",
}


class Command(BaseCommand):
    help = "Measure how far the face in IMAGE is from the face in REFERENCE."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference", help="the locked face: a PNG, JPEG or WebP")
        parser.add_argument("image", help="the picture to check against it")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a line")

    def _face(self, label: str, path: Path) -> identity.Face | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise CommandError(f"There is no file at {path}.") from exc
        except OSError as exc:
            raise CommandError(f"{path} could not be read: {exc.strerror or exc}.") from exc
        try:
            return identity.face_in_bytes(data)
        except ImageRejected as exc:
            raise CommandError(f"{label} {path}: {exc}") from exc
        except identity.ModelsMissing as exc:
            raise CommandError(str(exc)) from exc

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        reference_path, image_path = Path(options["reference"]), Path(options["image"])
        reference = self._face("The reference", reference_path)
        face = self._face("The image", image_path)
        result = identity.compare(reference, face)
        if options["json"]:
            payload = {
                "reference": str(reference_path),
                "image": str(image_path),
                **result.as_dict(),
                "model": identity.MODEL_NAME,
                "faces": {
                    "reference": reference.faces_found if reference else 0,
                    "image": face.faces_found if face else 0,
                },
                "seconds": round(time.perf_counter() - started, 3),
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        distance = "—" if result.distance is None else f"{result.distance:.3f}"
        self.stdout.write(
            f"distance {distance}  threshold {result.threshold}  "
            f"verdict: {VERDICTS[result.verdict]}"
        )
