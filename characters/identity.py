"""Is it the same person? A face embedding per picture and its distance to the locked face.

dlib's HOG face detector, its 5-point landmark model and its ResNet face-recognition model run
on the CPU. The weights come from the `face_recognition_models` package (installed from the
registry with the project), so nothing is fetched at run time. The models are loaded once per
process, on first use, and kept: a worker pays the ~1 s load once, not per sheet.

Distances follow dlib's convention: two pictures of one person are usually under 0.6 apart,
two different people over it. A picture with no detectable face (a back view, often a profile,
a drawing) gets no number at all: "no face" is the honest answer there.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image

from . import imaging

THRESHOLD = 0.6
MODEL_NAME = "dlib-resnet-v1"
# Faces are searched on a copy no larger than MAX_SIDE. HOG finds faces from ~80 px, so at
# 1024 px a face of 8% of the panel's long side is found (a head in a full-body panel is ~12%).
# A smaller picture is searched at twice its size instead (faces from ~40 px): a 1K sheet's
# panels need it, and they are small enough that it stays cheap.
MAX_SIDE = 1024
SMALL_SIDE = 800

SAME = "same"
DIFFERENT = "different"
NO_FACE = "no_face"
NO_REFERENCE = "no_reference"


class ModelsMissing(RuntimeError):
    """The face models are not installed (the project's dependencies were not)."""


@dataclass(frozen=True)
class Face:
    embedding: tuple[float, ...]
    box: tuple[int, int, int, int]  # x, y, w, h on the picture as given
    faces_found: int


@dataclass(frozen=True)
class Comparison:
    distance: float | None
    threshold: float
    verdict: str  # SAME, DIFFERENT, NO_FACE (in the picture), NO_REFERENCE (in the reference)

    def as_dict(self) -> dict:
        return {
            "distance": None if self.distance is None else round(self.distance, 4),
            "threshold": self.threshold,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class _Models:
    detector: object
    shapes: object
    encoder: object


_lock = threading.Lock()


def _model_dir() -> Path:
    # find_spec does not run the package's __init__ (which needs pkg_resources); we only want
    # the folder its weights live in.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelsMissing(
            "The face models are not installed: run `make install` (face_recognition_models)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@cache
def _models() -> _Models:
    # dlib is imported when the models are first needed: web processes never pay for it.
    import dlib

    folder = _model_dir()
    return _Models(
        detector=dlib.get_frontal_face_detector(),
        shapes=dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat")),
        encoder=dlib.face_recognition_model_v1(
            str(folder / "dlib_face_recognition_resnet_model_v1.dat")
        ),
    )


def load() -> None:
    """Load the models now (a worker may call this at start; everything else loads lazily)."""
    with _lock:
        _models()


def face_in(img: Image.Image) -> Face | None:
    """The largest face in a decoded picture, or None when there is none to be found."""
    # numpy only where pixels are handed to dlib, like dlib itself (see _models).
    import numpy as np

    with _lock:
        m = _models()
    rgb = img.convert("RGB")
    upsample = 1 if max(rgb.size) < SMALL_SIDE else 0
    scale = 1.0
    if max(rgb.size) > MAX_SIDE:
        scale = MAX_SIDE / max(rgb.size)
        rgb = rgb.resize(
            (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
            Image.Resampling.BILINEAR,
        )
    pixels = np.asarray(rgb)
    found = m.detector(pixels, upsample)
    if not found:
        return None
    best = max(found, key=lambda r: r.area())
    shape = m.shapes(pixels, best)
    vector = m.encoder.compute_face_descriptor(pixels, shape)
    box = (best.left(), best.top(), best.width(), best.height())
    return Face(
        embedding=tuple(float(v) for v in vector),
        box=tuple(max(0, round(v / scale)) for v in box),
        faces_found=len(found),
    )


def face_in_bytes(data: bytes) -> Face | None:
    """The largest face in an image file, through the guarded decode (size cap, verify)."""
    _, img = imaging.decode_checked(data)
    return face_in(img)


def distance(a: Face | tuple[float, ...], b: Face | tuple[float, ...]) -> float:
    va = a.embedding if isinstance(a, Face) else a
    vb = b.embedding if isinstance(b, Face) else b
    return sum((x - y) ** 2 for x, y in zip(va, vb, strict=True)) ** 0.5


def compare(reference: Face | None, face: Face | None) -> Comparison:
    if face is None:
        return Comparison(None, THRESHOLD, NO_FACE)
    if reference is None:
        return Comparison(None, THRESHOLD, NO_REFERENCE)
    d = distance(reference, face)
    return Comparison(d, THRESHOLD, SAME if d < THRESHOLD else DIFFERENT)


def compare_bytes(reference: bytes, image: bytes) -> Comparison:
    """Distance, threshold and verdict for any two pictures (the `identity` command)."""
    return compare(face_in_bytes(reference), face_in_bytes(image))
