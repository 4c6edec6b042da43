"""The sheet stage: generate options, compare them panel by panel, lock one, download the pack."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from .. import references, selectors, services
from ..forms import PanelBoxForm, SheetForm, UnlockForm
from ..layouts import get_preset
from ..models import SheetOption
from ..permissions import Action
from .casting import confirm_page
from .character import (
    TEMPLATES,
    announces_change,
    base_context,
    load,
    member_polled_status,
    polled_status,
    render_page,
    respond,
    unchanged_since_last_poll,
)
from .common import login_required, project_access, safe_back
from .paid import paid_once

# Locking or unlocking the sheet changes the stage badge and whether the face may be unlocked.
LOCK_CHANGED = ("character-head", "locked-info")


def _sheets_fragment(
    request: HttpRequest, access, character, *, oob: tuple[str, ...] = (), **extra
) -> HttpResponse:
    if oob:  # a lock or unlock changed the character itself: show it as it is now
        character = selectors.character_for(access.project, character.slug)
    return respond(request, access, character, "sheets", oob=oob, **extra)


@login_required
@require_POST
@announces_change
def generate(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.GENERATE)
    form = SheetForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            with paid_once(request):
                options = services.sheet_generate(
                    character=character,
                    user=request.user,
                    count=form.cleaned_data["count"],
                    preset=form.cleaned_data["preset"],
                )
        except services.ServiceError as exc:
            error = str(exc)
        else:
            form = SheetForm()
            if not request.htmx:
                return redirect(character.get_absolute_url() + "#sheets")
            if options[0].index > 1:
                return _new_cards(request, access, character, options)
    if request.htmx:
        return _sheets_fragment(request, access, character, sheet_form=form, sheet_error=error)
    if error:
        messages.error(request, error)
    return render_page(request, access, character, sheet_form=form, sheet_error=error)


def _new_cards(request: HttpRequest, access, character, options: list) -> HttpResponse:
    """More options queued: the form, fresh, in its own place, and only the new cards, added to
    the grid out of band. The cards already there are neither read nor sent again. (The first
    options repaint the whole stage: the grid's empty note and the head's links change too.)"""
    form = render_to_string(
        f"{TEMPLATES['sheet-form']}#sheet-form",
        base_context(access, character, sheet_form=SheetForm()),
        request,
    )
    cards = "".join(
        render_to_string(
            f"{TEMPLATES['sheet-card']}#sheet-card",
            base_context(access, character, option=o),
            request,
        )
        for o in options
    )
    response = HttpResponse(f'{form}<ul hx-swap-oob="beforeend:#sheet-grid">{cards}</ul>')
    return reswap(retarget(response, "#sheet-form"), "outerHTML")


@login_required
@require_GET
def option(request: HttpRequest, project_slug: str, character_slug: str, pk: int) -> HttpResponse:
    """One sheet option: the polled card (htmx) or its own page with every panel and its box."""
    status = member_polled_status(request, SheetOption, project_slug, pk, character_slug)
    if status is not None and unchanged_since_last_poll(request, status):
        return HttpResponse(status=204)
    access = project_access(request, project_slug)
    if status is None:
        status = polled_status(SheetOption, access, character_slug, pk)
        if unchanged_since_last_poll(request, status):
            return HttpResponse(status=204)
    character = selectors.character_for(access.project, character_slug)
    sheet = selectors.sheet_option_for(character, pk)
    if request.htmx and request.GET.get("fragment") == "card":
        # A finished card replaces the polling one, which stops the polling; nothing else on
        # the page depends on it, so nothing else is sent or re-fetched.
        return sheet_card(request, access, character, sheet)
    return render(request, "characters/sheet.html", option_context(access, character, sheet))


def option_context(access, character, option: SheetOption, **extra: object) -> dict:
    """What the option page and its panels fragment need: the sheet, its panels, the kinds a
    panel can be given, and the regions detection found (a dragged box snaps to their edges)."""
    layout = get_preset(option.preset)
    panels = list(option.panels.select_related("preview"))
    return base_context(
        access,
        character,
        option=option,
        panels=panels,
        kinds=[(spec.kind, spec.label) for spec in layout.panels],
        # As JSON in a data attribute: htmx drops script elements from swapped fragments.
        split_regions=json.dumps(option.split_regions),
        **extra,
    ) | {"identity_scores": services.current_scores(panels)}


def _panels_fragment(request: HttpRequest, access, character, option_pk: int, **extra):
    option = selectors.sheet_option_for(character, option_pk)
    return render(
        request,
        "characters/sheet.html#panels",
        option_context(access, character, option, **extra),
    )


@login_required
@require_POST
@announces_change
def lock(request: HttpRequest, project_slug: str, character_slug: str, pk: int) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    sheet = selectors.sheet_option_for(character, pk)
    if request.POST.get("confirm") != "1":
        # Locking makes this sheet the references every shot is made from: ask once.
        if request.htmx:
            return sheet_card(request, access, character, sheet, confirm_lock=True)
        return confirm_page(
            request,
            access,
            character,
            question=f"Lock sheet option {sheet.index}?",
            detail="It becomes the character's references: the reference pack, the manifest "
            "and every shot are made from it. Unlocking later needs a reason.",
            action=request.path,
            button="Yes, lock this sheet",
            image=sheet.image_id,
            back=safe_back(request, character.get_absolute_url() + "#sheets"),
        )
    error = ""
    try:
        services.sheet_lock(option=sheet, user=request.user)
    except services.ServiceError as exc:
        error = str(exc)
    if request.htmx:
        # On a refusal too: another tab may have locked or unlocked meanwhile, so the head and
        # the face show the state as it is now, with the reason on top of the sheets.
        oob = (*LOCK_CHANGED, "history") if error else LOCK_CHANGED
        return _sheets_fragment(request, access, character, oob=oob, sheet_error=error)
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request, f"Sheet option {sheet.index} locked. The character is ready for shots."
        )
    return redirect(character.get_absolute_url() + "#sheets")


@login_required
@require_POST
@announces_change
def unlock(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    form = UnlockForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            services.sheet_unlock(
                character=character, user=request.user, reason=form.cleaned_data["reason"]
            )
        except services.ServiceError as exc:
            error = str(exc)
    else:
        error = "Say why the sheet is being unlocked."
    if request.htmx:
        oob = () if error else LOCK_CHANGED
        return _sheets_fragment(request, access, character, oob=oob, sheet_unlock_error=error)
    if error:
        messages.error(request, error)
    return redirect(character.get_absolute_url() + "#sheets")


@login_required
@require_POST
def panel_box(
    request: HttpRequest, project_slug: str, character_slug: str, pk: int
) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    panel = selectors.panel_for(character, pk)
    form = PanelBoxForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            panel = services.panel_set_box(panel=panel, user=request.user, **form.cleaned_data)
        except services.ServiceError as exc:
            error = str(exc)
    else:
        error = "Enter the box as whole pixels: x and y from 0, width and height from 1."
    if request.htmx:
        return _panels_fragment(
            request, access, character, panel.sheet_id, box_error=error, error_panel=pk
        )
    if error:
        messages.error(request, error)
    return redirect("sheet-option", project_slug, character_slug, panel.sheet_id)


@login_required
@require_POST
def panel_kind(
    request: HttpRequest, project_slug: str, character_slug: str, pk: int
) -> HttpResponse:
    """Say what a panel shows, in one click; the panel that held that kind takes this one's."""
    access, character = load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    panel = selectors.panel_for(character, pk)
    error = ""
    try:
        services.panel_set_kind(panel=panel, user=request.user, kind=request.POST.get("kind", ""))
    except services.ServiceError as exc:
        error = str(exc)
    if request.htmx:
        return _panels_fragment(
            request, access, character, panel.sheet_id, box_error=error, error_panel=pk
        )
    if error:
        messages.error(request, error)
    return redirect("sheet-option", project_slug, character_slug, panel.sheet_id)


def sheet_card(request: HttpRequest, access, character, option, **extra) -> HttpResponse:
    context = base_context(access, character, option=option, **extra)
    return render(request, f"{TEMPLATES['sheet-card']}#sheet-card", context)


@login_required
@require_GET
def panel_image(
    request: HttpRequest, project_slug: str, character_slug: str, pk: int
) -> HttpResponse:
    """The panel at full resolution: cut from the sheet the first time, then kept."""
    _, character = load(request, project_slug, character_slug)
    panel = selectors.panel_for(character, pk)
    crop = services.panel_crop(panel=panel)
    url = crop.url("original")
    if request.GET.get("download"):
        url += "?download=1"
    return redirect(url)


@login_required
@require_GET
def compare_panels(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    """One panel kind from every option side by side, next to the locked portrait."""
    access, character = load(request, project_slug, character_slug)
    options = [o for o in selectors.sheet_options_for(character) if o.image_id]
    kinds: list[tuple[str, str]] = []
    for o in options:
        for spec in get_preset(o.preset).panels:
            if (spec.kind, spec.label) not in kinds:
                kinds.append((spec.kind, spec.label))
    kind = request.GET.get("kind") or (kinds[0][0] if kinds else "front")
    # Who is on each panel: one query for every option's scores, summarised per option.
    panels = [p for o in options for p in o.panels.all()]
    scores = services.current_scores(panels)
    summaries = {o.pk: services.identity_summary(list(o.panels.all()), scores) for o in options}
    order = "consistency" if request.GET.get("order") == "consistency" else ""
    if order:
        options = selectors.order_by_consistency(options, summaries)
    rows = []
    for o in options:
        panel = next((p for p in o.panels.all() if p.kind == kind), None)
        rows.append((o, panel, scores.get(panel.pk) if panel else None, summaries[o.pk]))
    context = {
        "project": access.project,
        "access": access,
        "character": character,
        "kinds": kinds,
        "kind": kind,
        "rows": rows,
        "order": order,
        "measuring": any(s["pending"] for s in summaries.values()),
    }
    if request.htmx and request.GET.get("fragment") == "compare-rows":
        return render(request, "characters/panel_compare.html#compare-rows", context)
    return render(request, "characters/panel_compare.html", context)


@login_required
@require_GET
def manifest(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    data, _ = references.manifest(character, show_costs=access.can(Action.SEE_COSTS))
    response = JsonResponse(data, json_dumps_params={"indent": 2})
    response["Cache-Control"] = "private, no-cache"
    return response


@login_required
@require_GET
def reference_pack(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    if character.locked_candidate_id is None:
        messages.error(request, "Lock a face (and a sheet) before downloading the reference pack.")
        return redirect(character.get_absolute_url())
    pack = references.reference_pack(character, show_costs=access.can(Action.SEE_COSTS))
    name = f"{character.project.slug}-{character.slug}-rev{character.reference_revision}.zip"
    return FileResponse(pack, as_attachment=True, filename=name, content_type="application/zip")


@login_required
@require_POST
def references_retry(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    """Send refused video references again (e.g. once the asset-library keys are set)."""
    access, character = load(request, project_slug, character_slug)
    access.require(Action.GENERATE)
    count = services.references_retry(character=character, user=request.user)
    if request.htmx:
        return respond(request, access, character, "reference-assets", retried=count)
    messages.success(request, f"Sending {count} reference{'s' if count != 1 else ''} again.")
    return redirect(character.get_absolute_url() + "#reference-assets")
