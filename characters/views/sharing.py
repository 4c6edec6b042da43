"""Project settings (owners only) and guest access through share links.

A share link's token is shown once, when it is made, and stored only as a SHA-256 hash.
Opening `/s/<token>` (with the password, if the link has one) puts a signed grant for that one
project in the session; views/common.project_access re-checks the link on every request.
A wrong token gets the plain 404; a wrong password shows the form again, saying so, with the
guest's name kept. Both count towards a per-address limit. A revoked or expired link says so.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth.forms import UserCreationForm
from django.db.models import Count, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import limits, selectors, services
from ..limits import SHARE_PER_ADDRESS
from ..models import Generation, Invite, Membership, Role, ShareLink
from ..permissions import Action
from .common import (
    Access,
    client_ip,
    has_any_share_grant,
    log_refusal,
    login_required,
    project_access,
    share_grant,
    share_grant_store,
    share_link_ended_page,
    too_many,
)

log = logging.getLogger("turnaround.access")


class ShareLinkForm(forms.Form):
    permission = forms.ChoiceField(choices=ShareLink.Permission.choices)
    label = forms.CharField(max_length=120, required=False)
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=365, required=False, help_text="Leave empty for no expiry."
    )
    password = forms.CharField(
        max_length=128, required=False, widget=forms.PasswordInput(render_value=False)
    )


def _manage(request: HttpRequest, project_slug: str) -> Access:
    access = project_access(request, project_slug)
    access.require(Action.MANAGE)
    return access


def _settings_context(access: Access, **extra: object) -> dict:
    project = access.project
    spend = (
        Generation.objects.filter(project=project)
        .values("character__name", "stage", "provider")
        .annotate(total=Sum("cost_usd"), estimated=Sum("estimated_cost_usd"), n=Count("id"))
        .order_by("character__name", "stage", "provider")
    )
    routes = selectors.stage_routes()
    return {
        "project": project,
        "access": access,
        "memberships": Membership.objects.filter(project=project)
        .select_related("user")
        .order_by("user__username"),
        "invites": Invite.objects.filter(
            project=project, used_at__isnull=True, revoked_at__isnull=True
        ).select_related("created_by"),
        "links": ShareLink.objects.filter(project=project)
        .select_related("created_by")
        .order_by("-created_at"),
        "spend": spend,
        "spend_total": services.project_committed_spend(project),
        "routes": routes,
        "roles": Role.choices,
        "invite_days": services.INVITE_DAYS,
        "link_form": extra.pop("link_form", None) or ShareLinkForm(),
        "now": timezone.now(),
        **extra,
    }


@login_required
@require_GET
def settings_page(request: HttpRequest, project_slug: str) -> HttpResponse:
    access = _manage(request, project_slug)
    return render(request, "characters/settings.html", _settings_context(access))


def _back(project_slug: str, anchor: str) -> HttpResponse:
    return redirect(reverse("project-settings", args=[project_slug]) + anchor)


@login_required
@require_POST
def member_add(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Add by username or e-mail address: an account is added at once; an address without one
    gets an invite by mail, and its link is shown here once (with a copy button)."""
    access = _manage(request, project_slug)
    who = request.POST.get("who") or request.POST.get("username", "")
    try:
        invited = services.membership_invite(
            project=access.project, user=request.user, who=who, role=request.POST.get("role", "")
        )
    except services.ServiceError as exc:
        messages.error(request, str(exc))
        return _back(project_slug, "#members")
    if invited.membership is not None:
        membership = invited.membership
        messages.success(
            request, f"{membership.user.get_username()} added as {membership.get_role_display()}."
        )
        return _back(project_slug, "#members")
    invite = invited.invite
    url = request.build_absolute_uri(reverse("invite-open", args=[invited.token]))
    try:
        services.invite_send(invite=invite, link=url)
    except (OSError, smtplib.SMTPException) as exc:
        # The invite stands; only the mail failed. The link below can be sent by hand.
        log.warning("invite mail to project %s failed: %s", access.project.slug, type(exc).__name__)
        messages.error(
            request,
            f"The invite for {invite.email} is made, but the mail could not be sent "
            "(check the mail settings). Copy the link below and send it yourself.",
        )
    else:
        messages.success(
            request,
            f"Invite sent to {invite.email} as {invite.get_role_display().lower()}. "
            f"It works once and expires in {services.INVITE_DAYS} days.",
        )
    response = render(
        request, "characters/settings.html", _settings_context(access, new_invite_url=url)
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def member_change(request: HttpRequest, project_slug: str, pk: int) -> HttpResponse:
    access = _manage(request, project_slug)
    membership = (
        Membership.objects.filter(project=access.project, pk=pk).select_related("user").first()
    )
    if membership is None:
        raise Http404("No such member.")
    try:
        if request.POST.get("remove"):
            services.membership_remove(membership=membership, user=request.user)
            messages.success(request, f"{membership.user.get_username()} removed.")
        else:
            services.membership_set_role(
                membership=membership, user=request.user, role=request.POST.get("role", "")
            )
            messages.success(request, f"{membership.user.get_username()}'s role changed.")
    except services.ServiceError as exc:
        messages.error(request, str(exc))
    return _back(project_slug, "#members")


@login_required
@require_POST
def link_create(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Make a share link and show its URL once, in this response; only its hash is kept."""
    access = _manage(request, project_slug)
    form = ShareLinkForm(request.POST)
    new_url = ""
    if form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        try:
            _, token = services.share_link_create(
                project=access.project,
                user=request.user,
                permission=form.cleaned_data["permission"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
                password=form.cleaned_data["password"],
                label=form.cleaned_data["label"],
            )
        except services.ServiceError as exc:
            messages.error(request, str(exc))
        else:
            new_url = request.build_absolute_uri(reverse("share-open", args=[token]))
            form = ShareLinkForm()
    response = render(
        request,
        "characters/settings.html",
        _settings_context(access, link_form=form, new_link_url=new_url),
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def link_revoke(request: HttpRequest, project_slug: str, pk: int) -> HttpResponse:
    access = _manage(request, project_slug)
    link = ShareLink.objects.filter(project=access.project, pk=pk).first()
    if link is None:
        raise Http404("No such share link.")
    link.project = access.project
    services.share_link_revoke(link=link, user=request.user)
    messages.success(request, "Share link revoked. Anyone using it loses access now.")
    return _back(project_slug, "#links")


@login_required
@require_POST
def budget(request: HttpRequest, project_slug: str) -> HttpResponse:
    access = _manage(request, project_slug)
    raw = request.POST.get("budget_usd", "").strip()
    try:
        value = Decimal(raw) if raw else None
        if value is not None and (not value.is_finite() or value > Decimal("99999999")):
            raise InvalidOperation
        services.project_set_budget(project=access.project, user=request.user, budget_usd=value)
    except InvalidOperation:
        messages.error(request, "Enter the budget cap in dollars, e.g. 250 or 99.50.")
    except services.ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Budget cap saved.")
    return _back(project_slug, "#budget")


# --- guests ----------------------------------------------------------------------------------


def _take_try(request: HttpRequest) -> bool:
    """Every open of a link or invite takes a slot first (so tries racing in several processes
    are counted before any is answered); one that finds a working link gives it back."""
    return limits.take(SHARE_PER_ADDRESS, client_ip(request))


def _give_back_try(request: HttpRequest) -> None:
    if not getattr(request, "_turnaround_wrong_try", False):
        limits.give_back(SHARE_PER_ADDRESS, client_ip(request))


def _count_as_wrong(request: HttpRequest) -> None:
    """A wrong token or password keeps the slot its try took, whatever the answer shows."""
    request._turnaround_wrong_try = True  # type: ignore[attr-defined]


def _not_found(request: HttpRequest) -> HttpResponse:
    """A wrong token and a wrong password look exactly like a missing page."""
    _count_as_wrong(request)
    log_refusal(request, "share link not found or wrong password")
    raise Http404("No such page.")


def _throttled(request: HttpRequest) -> HttpResponse:
    return too_many(
        request,
        "share link attempts throttled",
        "Too many wrong links or passwords from here. Wait "
        f"{SHARE_PER_ADDRESS.minutes} minutes and try again.",
    )


@require_http_methods(["GET", "POST"])
def share_open(request: HttpRequest, token: str) -> HttpResponse:
    if not _take_try(request):
        return _throttled(request)
    response = _share_open(request, token)  # a wrong token raises Http404
    _give_back_try(request)  # unless the try was wrong (a wrong password keeps its slot)
    return response


def _share_open(request: HttpRequest, token: str) -> HttpResponse:
    link = services.share_link_find(token)
    if link is None:
        return _not_found(request)
    if not services.share_link_is_live(link):
        return share_link_ended_page(request, link)
    project = link.project
    board = reverse("board", args=[project.slug])
    held = share_grant(request, project) if has_any_share_grant(request) else None
    if held is not None and held[0].pk == link.pk:
        return redirect(board)
    needs_name = link.permission == ShareLink.Permission.COMMENT
    error = ""
    name = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not services.share_link_check_password(link, request.POST.get("password", "")):
            # The token was right, so the link exists: say what was wrong and keep the name.
            # It still counts towards the per-address limit on wrong links and passwords.
            _count_as_wrong(request)
            log_refusal(request, "wrong share link password")
            error = "That password is not right. Check it with the person who sent the link."
        else:
            try:
                name = services.guest_name_clean(project=project, name=name)
            except services.ServiceError as exc:
                error = str(exc)
            else:
                error = "Enter the name your comments will show." if needs_name and not name else ""
        if not error:
            _grant(request, link, name)
            return redirect(board)
    elif not link.password and not needs_name:
        _grant(request, link, "")
        return redirect(board)
    return render(
        request,
        "characters/share_open.html",
        {
            "link": link,
            "share_project": project,
            "needs_password": bool(link.password),
            "needs_name": needs_name,
            "name": name,
            "error": error,
        },
    )


def _grant(request: HttpRequest, link: ShareLink, name: str) -> None:
    if not request.user.is_authenticated:
        request.session.cycle_key()  # no session fixation across the grant
    share_grant_store(request, link=link, guest_name=name)
    services.share_link_record_use(link=link, guest_name=name)


# --- invites ---------------------------------------------------------------------------------


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=False, label="E-mail address")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


@require_http_methods(["GET", "POST"])
def invite_open(request: HttpRequest, token: str) -> HttpResponse:
    """An invite link: a person without an account creates one and joins with the invite's
    role; someone logged in joins with one click. A wrong token is the plain 404; a used,
    withdrawn or expired invite says so."""
    if not _take_try(request):
        return _throttled(request)
    response = _invite_open(request, token)  # a wrong token raises Http404
    _give_back_try(request)
    return response


def _invite_open(request: HttpRequest, token: str) -> HttpResponse:
    invite = services.invite_find(token)
    if invite is None:
        return _not_found(request)
    problem = services.invite_problem(invite)
    if problem:
        return render(
            request,
            "characters/share_message.html",
            {"title": "This invite no longer works", "message": problem},
            status=410,
        )
    form = SignUpForm(initial={"email": invite.email})
    error = ""
    if request.method == "POST":
        user = request.user if request.user.is_authenticated else None
        if user is None:
            form = SignUpForm(request.POST)
            if form.is_valid():
                user = form.save()
        if user is not None:
            try:
                membership = services.invite_accept(invite=invite, user=user)
            except services.ServiceError as exc:
                error = str(exc)
            else:
                if not request.user.is_authenticated:
                    auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(
                    request,
                    f"Welcome to {invite.project.name}: you are "
                    f"{membership.get_role_display().lower()} here.",
                )
                return redirect("board", invite.project.slug)
    return render(
        request,
        "characters/invite.html",
        {"invite": invite, "form": form, "error": error, "login_next": request.path},
    )
