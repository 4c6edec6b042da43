"""The provider settings the README documents take effect from the environment: a fresh Python
with TURNAROUND_PROVIDER_READ_TIMEOUT, TURNAROUND_PROVIDER_DEADLINE and
TURNAROUND_SEEDANCE_POLL_INTERVAL set runs the real clients against the fake server and
behaves as they say (a hung read given up on, a dripping answer cut off, the first check of a
submitted shot scheduled)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, os, sys, time
import django
django.setup()
from characters.generators.base import GenerationRequest, GeneratorError
from characters.generators.recraft import RecraftGenerator
from characters.generators.seedance import SeedanceGenerator
from tests.fakes.server import ARK_KEY, RECRAFT_KEY, FakeProvider

fake = FakeProvider()
fake.start()
out = {}
try:
    recraft = dict(api_key=RECRAFT_KEY, base_url=fake.base_url + "/recraft/v1", sleep=lambda s: None)
    request = GenerationRequest(stage="casting", prompt="A woman, red hair", seed=7)
    case = sys.argv[1]
    if case == "read_timeout":
        fake.add_fault("recraft.generate", "hang", times=2, seconds=8)
    else:
        fake.add_fault("recraft.generate", "drip", interval=0.05)
    generator = RecraftGenerator(**recraft)
    out["read_timeout"] = generator.http.read_timeout
    out["deadline"] = generator.http.deadline
    started = time.monotonic()
    try:
        generator.generate(request)
        out["error"] = ""
    except GeneratorError as exc:
        out["error"] = str(exc)
    out["seconds"] = time.monotonic() - started
    generator.close()
    fake.inline_faces_are_photoreal = False
    seedance = SeedanceGenerator(api_key=ARK_KEY, base_url=fake.base_url + "/ark/api/v3")
    pending = seedance.generate(GenerationRequest(stage="shot", prompt="[Image 1] walks", seed=1))
    out["first_check_after"] = pending.after
    seedance.close()
finally:
    fake.stop()
print(json.dumps(out))
"""


def run(case: str, **env: str) -> dict:
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, case],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_read_timeout_from_the_environment_gives_up_on_a_hung_read():
    out = run(
        "read_timeout",
        TURNAROUND_PROVIDER_READ_TIMEOUT="0.5",
        TURNAROUND_SEEDANCE_POLL_INTERVAL="2.5",
    )
    assert out["read_timeout"] == 0.5
    # Two attempts (a paid request's timeout is retried once), each cut at 0.5 s, not at 8 s.
    assert out["seconds"] < 4
    assert "stopped answering (ReadTimeout) twice" in out["error"]
    assert out["first_check_after"] == 2.5


def test_the_deadline_from_the_environment_cuts_off_a_dripping_answer():
    out = run("deadline", TURNAROUND_PROVIDER_DEADLINE="1.0")
    assert out["deadline"] == 1.0
    assert "did not finish answering" in out["error"]
    assert out["seconds"] < 4  # the drip would take ~500 s to finish
    assert out["first_check_after"] == 5.0  # the documented default
