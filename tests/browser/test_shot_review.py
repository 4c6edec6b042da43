"""The continuity loop as a team runs it, in real Chromium with a real django-q2 worker:
make a shot → note it at 00:02.4 with a box around the ear → Trace to source → Fix everywhere
→ the shot goes stale on its own page without a reload → re-render → wipe between the two
renders → resolve the note; then revert one panel's fix and see its note reopen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from characters import services
from characters.models import (
    Annotation,
    CastingCandidate,
    Character,
    FixBatch,
    Generation,
    Shot,
    ShotNote,
)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def all_final(ids: list[int]) -> bool:
    return all(g.is_final for g in Generation.objects.filter(pk__in=ids))


@pytest.fixture
def ready_shot(project: Any, owner: Any, qcluster: Any, settings: Any) -> Shot:
    """A character with an AirPod in the wardrobe and a scar the brief requires, its face and
    sheet locked by the worker, and one shot rendered from them."""
    settings.RECRAFT_API_KEY = settings.GEMINI_API_KEY = settings.ARK_API_KEY = ""
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
    qcluster(TURNAROUND_SHEET_IMAGE_SIZE="1K")
    character = Character.objects.create(
        project=project,
        name="Mara Quell",
        slug="mara",
        brief="A woman in her late 40s, weathered olive skin, short grey hair, grey eyes.",
        wardrobe="Navy jumper, a white AirPod in her left ear.",
        distinguishing_marks="Thin scar on the left cheek.",
    )
    (candidate,) = services.casting_start(character=character, user=owner, count=1)
    wait_for(lambda: all_final([candidate.generation_id]), "the portrait")
    services.candidate_approve(candidate=candidate, user=owner)
    wait_for(lambda: CastingCandidate.objects.get(pk=candidate.pk).image_4k_id, "the 4K portrait")
    character.refresh_from_db()
    (option,) = services.sheet_generate(character=character, user=owner, count=1)
    wait_for(lambda: all_final([option.generation_id]), "the sheet")
    services.sheet_lock(option=option, user=owner)
    character.refresh_from_db()
    made = services.shot_create(
        project=project, user=owner, prompt="Mara turns to the window", characters=[character]
    )
    wait_for(lambda: all_final([Shot.objects.get(pk=made.pk).generation_id]), "the first render")
    return Shot.objects.get(pk=made.pk)


def test_note_trace_fix_everywhere_verify_and_revert(page, login, shot, owner, ready_shot):
    made = ready_shot
    login(owner.username, PASSWORD)
    page.goto(f"/p/{made.project.slug}/shots/")
    page.get_by_role("link", name=f"Shot {made.number}", exact=True).click()
    expect(page.locator("h1")).to_have_text(f"Shot {made.number}")

    # The offline render (an animated WebP) is decoded into the player: pause, step, J K L.
    controls = page.locator("#player-controls")
    expect(controls).to_be_visible()
    expect(page.locator("#player-media canvas.player-canvas")).to_have_count(1)
    timecode = page.locator("#timecode")
    expect(timecode).to_have_text("00:00.0")
    page.locator("body").press("ArrowRight")
    expect(timecode).not_to_have_text("00:00.0")
    page.locator("body").press("ArrowLeft")
    expect(timecode).to_have_text("00:00.0")
    page.locator("body").press("l")
    expect(page.locator("#play-toggle")).to_have_text("Pause")
    page.locator("body").press("k")
    expect(page.locator("#play-toggle")).to_have_text("Play")

    # Go to 00:02.4, draw a box around the ear and write the note (the frame goes with it).
    at = page.locator("#annotation-form input[name=at]")
    at.fill("00:02.4")
    at.dispatch_event("change")
    page.locator("body").click(position={"x": 5, "y": 5})
    expect(timecode).to_have_text("00:02.4")
    expect(page.locator("#still-status")).to_contain_text("Frame at 00:02.4 attached")
    surface = page.locator("#surface")
    box = surface.bounding_box()
    # The frame at 00:02.4 is the three-quarter view; the AirPod is at the head, top centre.
    page.mouse.move(box["x"] + box["width"] * 0.46, box["y"] + box["height"] * 0.02)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.56, box["y"] + box["height"] * 0.16, steps=6)
    page.mouse.up()
    form = page.locator("#annotation-form")
    form.locator("textarea").fill("She wears an AirPod in her left ear")
    form.locator("textarea").press("Control+Enter")
    note_item = page.locator(".shot-note", has_text="AirPod in her left ear")
    expect(note_item).to_contain_text("00:02.4")
    expect(page.locator(".box.saved")).to_have_count(1)  # shown at its moment
    note = ShotNote.objects.get()
    assert note.timecode == pytest.approx(2.4, abs=0.05)
    assert 0.44 < note.x < 0.48 and 0.0 < note.y < 0.04 and 0.08 < note.w < 0.12
    assert note.still is not None and note.still.mime == "image/png"
    assert note.render == made.renders.get()
    shot("noted")

    # Trace to source: the inspect stage flags the panels that carry the AirPod.
    note_item.get_by_role("button", name="Trace to source").click()
    expect(note_item).to_contain_text("Traced to", timeout=30_000)
    flagged = note_item.locator(".flagged li")
    expect(flagged.first).to_be_visible()
    expect(note_item.locator(".flagged")).to_contain_text("Face closeup")
    expect(note_item.locator(".flagged")).not_to_contain_text("Back")
    shot("traced")

    # Fix everywhere: one action, every flagged panel, in parallel.
    note_item.get_by_role("button", name="Fix everywhere").click()
    # The shot goes stale on its own page, with no reload (the change check tells the page).
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#stale-note")).to_contain_text("Fixed everywhere", timeout=45_000)
    assert page.evaluate("window.__sameDocument") is True
    expect(note_item).to_contain_text("Fixed at the source")
    batch = FixBatch.objects.get()
    assert batch.applied_at is not None
    note.refresh_from_db()
    edits = Generation.objects.filter(stage="edit", parameters__batch=batch.pk)
    assert (
        edits.count()
        == Annotation.objects.filter(inspection=note.inspection).values("panel").distinct().count()
    )
    shot("stale")

    # Re-render, then wipe between the render the note was made on and the new one.
    page.locator("#shot-head").get_by_role("button", name="Re-render").click()
    expect(page.locator("#compare .wipe")).to_be_visible(timeout=45_000)
    expect(page.locator("#compare canvas.before[data-drawn='1']")).to_have_count(1)
    expect(page.locator("#compare canvas.after[data-drawn='1']")).to_have_count(1)
    expect(page.locator("#stale-note")).to_have_count(0)
    wipe = page.locator("#compare [data-wipe-range]")
    wipe.fill("20")
    expect(page.locator("#compare .wipe")).to_have_attribute("style", "--wipe: 20%;")
    expect(page.locator("#renders .render")).to_have_count(2)
    shot("wipe")

    # Resolve the note, one click from the comparison.
    page.get_by_role("button", name="Looks right: resolve the note").click()
    expect(note_item.locator(".tag.status")).to_have_text("Resolved")
    note.refresh_from_db()
    assert note.status == "resolved"

    # Revert the face close-up's fix: its finding and the shot note reopen, and say so.
    note_item.locator(".flagged a", has_text="Face closeup").click()
    expect(page.locator(".revision.current")).to_contain_text("Revision 2")
    page.locator(".revision", has_text="Revision 1").get_by_role(
        "button", name="Revert to this"
    ).click()
    expect(page.locator(".revision.current")).to_contain_text("Revision 3", timeout=15_000)
    finding = page.locator(".annotation", has_text="Inspection")
    expect(finding.locator(".tag.status")).to_have_text("Reopened")
    # A box drawn on another revision says so on the picture.
    expect(page.locator(".box.saved.other-rev").first).to_contain_text("drawn on rev")
    expect(page.locator(".wipe-block")).to_contain_text("revision 2 → revision 3")
    shot("reverted")
    page.goto(f"/p/{made.project.slug}/shots/{made.pk}/")
    expect(page.locator(".shot-note .tag.status")).to_have_text("Reopened")
    page.goto(f"/p/{made.project.slug}/activity")
    expect(page.locator("main")).to_contain_text("reopened shot note")


RECORD_WEBM = """async () => {
  // Two seconds of a moving square, recorded by Chromium itself: a real video file.
  const canvas = document.createElement("canvas");
  canvas.width = 320; canvas.height = 180;
  const ctx = canvas.getContext("2d");
  const stream = canvas.captureStream(25);
  const recorder = new MediaRecorder(stream, { mimeType: "video/webm" });
  const chunks = [];
  recorder.ondataavailable = (e) => chunks.push(e.data);
  const done = new Promise((ok) => { recorder.onstop = ok; });
  recorder.start(100);
  const started = performance.now();
  await new Promise((ok) => {
    const draw = () => {
      const t = (performance.now() - started) / 1000;
      ctx.fillStyle = "#222"; ctx.fillRect(0, 0, 320, 180);
      ctx.fillStyle = "#e33"; ctx.fillRect(20 + t * 100, 60, 40, 40);
      if (t < 2) requestAnimationFrame(draw); else ok();
    };
    draw();
  });
  recorder.stop();
  await done;
  const bytes = new Uint8Array(await new Blob(chunks, { type: "video/webm" }).arrayBuffer());
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}"""


def test_a_real_video_render_steps_frames_and_notes_a_still(page, login, owner, ready_shot):
    """The video path of the player (a real render is a video file, not the offline WebP)."""
    import base64

    from characters.models import ShotRender
    from characters.storage import asset_store

    made = ready_shot
    login(owner.username, PASSWORD)
    page.goto("/")
    data = base64.b64decode(page.evaluate(RECORD_WEBM))
    video = asset_store(project=made.project, data=data, mime="video/webm", width=320, height=180)
    ShotRender.objects.filter(shot=made).update(video=video)
    Shot.objects.filter(pk=made.pk).update(video=video)

    page.goto(f"/p/{made.project.slug}/shots/{made.pk}/")
    expect(page.locator("#player-controls")).to_be_visible()
    timecode = page.locator("#timecode")
    expect(timecode).to_have_text("00:00.0")
    for _ in range(3):
        page.locator("body").press("ArrowRight")  # one frame at 24 fps each
    expect(timecode).to_have_text("00:00.1")
    expect(page.locator("#still-status")).to_contain_text("Frame at 00:00.1 attached")
    form = page.locator("#annotation-form")
    form.locator("textarea").fill("The square jumps here")
    form.get_by_role("button", name="Save note").click()
    expect(page.locator(".shot-note")).to_contain_text("00:00.1")
    note = ShotNote.objects.get()
    assert note.timecode == pytest.approx(3 / 24, abs=0.003)  # three frames at 24 fps
    assert note.still is not None and (note.still.width, note.still.height) == (320, 180)
