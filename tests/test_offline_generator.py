"""The offline generator: distinct, recognisable, deterministic portraits at any size."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from characters.generators.base import GenerationRequest, GeneratorError, ReferenceImage
from characters.generators.offline import OfflineGenerator, traits_from


def generate(prompt: str, seed: int, **kw):
    return OfflineGenerator().generate(
        GenerationRequest(stage="casting", prompt=prompt, seed=seed, **kw)
    )


def pixels(result) -> bytes:
    return Image.open(io.BytesIO(result.assets[0].data)).convert("RGB").tobytes()


def test_it_is_deterministic_for_a_seed_and_brief():
    assert pixels(generate("short grey hair", 7)) == pixels(generate("short grey hair", 7))


def test_it_draws_a_different_face_per_seed():
    faces = {pixels(generate("short grey hair, grey eyes", seed)) for seed in range(6)}
    assert len(faces) == 6


def test_it_reads_colours_and_features_from_the_brief():
    traits = traits_from("A man with red hair, green eyes, pale skin, a beard and glasses", 1)
    assert (traits.hair, traits.eyes, traits.skin, traits.beard, traits.glasses) == (
        "red",
        "green",
        "pale",
        "beard",
        True,
    )
    assert traits_from("bald, dark skin, stubble", 2).hair_style == "bald"
    assert traits_from("scar on the right cheek", 3).scar == "right"


def test_the_style_line_does_not_grow_stubble():
    result = generate(
        "Photoreal headshot: stubble where the person has them.\nThe person: A woman, long hair",
        1,
    )
    assert result.metadata["traits"]["beard"] == ""


def test_it_records_what_it_drew_where():
    result = generate("wears an AirPod in her right ear", 4)
    (item,) = [i for i in result.metadata["items"] if i["name"] == "airpod"]
    x, y, w, h = item["box"]
    assert 0 <= x < 1 and 0 <= y < 1 and 0 < w < 1 and 0 < h < 1


@pytest.mark.parametrize("size", [(256, 341), (896, 1216), (3072, 4096)])
def test_it_draws_at_any_size_up_to_4096(size):
    result = generate("grey hair", 1, width=size[0], height=size[1])
    img = Image.open(io.BytesIO(result.assets[0].data))
    assert img.size == size
    assert result.assets[0].mime == "image/png"


def test_it_caps_the_size_at_4096():
    result = generate("grey hair", 1, width=8192, height=8192)
    assert Image.open(io.BytesIO(result.assets[0].data)).size == (4096, 4096)


def test_every_picture_is_labelled_offline_and_costs_nothing():
    result = generate("grey hair", 1)
    assert result.metadata["offline"] is True
    assert result.metadata["label"] == "offline preview"
    assert result.cost_usd == 0


def test_upscale_is_a_high_quality_resample_to_4k():
    small = generate("grey hair", 1)
    result = OfflineGenerator().generate(
        GenerationRequest(
            stage="upscale",
            prompt="",
            references=(ReferenceImage(small.assets[0].data, "image/png"),),
            width=4096,
        )
    )
    asset = result.assets[0]
    assert max(asset.width, asset.height) == 4096
    assert (asset.width, asset.height) == (3018, 4096)


def test_upscale_without_a_portrait_is_refused_plainly():
    with pytest.raises(GeneratorError, match="needs the approved portrait") as info:
        OfflineGenerator().generate(GenerationRequest(stage="upscale", prompt=""))
    assert info.value.permanent
