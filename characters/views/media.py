"""Stored images and videos, served only to people who may see their project.

Names are content hashes, so a URL's bytes never change: browsers may keep them for a year.
With media on S3 (TURNAROUND_S3_BUCKET) the bucket stays private: after the same access check
this view redirects a member to a signed URL that expires in TURNAROUND_S3_URL_EXPIRY seconds,
or, with TURNAROUND_S3_SERVE=stream, streams the object through Django. Guests are always
streamed and never cached, so revoking their link ends their media at once.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_GET

from ..models import Asset, ReferenceAsset
from ..services.references import reference_file_asset
from .common import login_required, project_access

VARIANTS = {"original": "file", "preview": "preview", "thumb": "thumbnail"}


@login_required
@require_GET
def asset(request: HttpRequest, project_slug: str, pk: int, variant: str) -> HttpResponse:
    access = project_access(request, project_slug)
    field = VARIANTS.get(variant)
    item = Asset.objects.filter(project=access.project, pk=pk).first()
    if field is None or item is None:
        raise Http404("No such file.")
    stored = getattr(item, field) or item.file
    mime = item.mime if stored.name == item.file.name else "image/webp"
    disposition = ""
    if request.GET.get("download"):
        ext = stored.name.rsplit(".", 1)[-1]
        disposition = f'attachment; filename="turnaround-{item.sha256[:12]}.{ext}"'
    # A guest's access ends the moment their link is revoked or expires, so a guest never gets
    # a signed URL (it would keep working for its whole life) and never a cached copy: the
    # bytes come through here, after the check, on every request.
    guest = access.is_guest
    if settings.TURNAROUND_S3_BUCKET and settings.TURNAROUND_S3_SERVE == "redirect" and not guest:
        return _signed_redirect(stored.name, mime, disposition)
    try:
        handle = default_storage.open(stored.name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    response = FileResponse(handle, content_type=mime)
    response["Cache-Control"] = (
        "private, no-cache" if guest else "private, max-age=31536000, immutable"
    )
    if disposition:
        response["Content-Disposition"] = disposition
    return response


def _signed_redirect(name: str, mime: str, disposition: str) -> HttpResponse:
    """A redirect to a short-lived signed URL; the browser may reuse it for half its life."""
    expiry = settings.TURNAROUND_S3_URL_EXPIRY
    parameters = {
        "ResponseContentType": mime,
        "ResponseCacheControl": "private, max-age=31536000, immutable",
    }
    if disposition:
        parameters["ResponseContentDisposition"] = disposition
    url = default_storage.url(name, parameters=parameters, expire=expiry)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = f"private, max-age={expiry // 2}"
    return response


@require_GET
def reference_file(request: HttpRequest, token: str) -> HttpResponse:
    """A prepared reference image for the video provider's asset library, which downloads it
    by URL (no log-in there). The token is signed, names one prepared image and expires after a
    day; anything else is the plain 404."""
    item = reference_file_asset(token)
    if item is None or not ReferenceAsset.objects.filter(prepared=item).exists():
        raise Http404("No such file.")
    try:
        handle = default_storage.open(item.file.name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    response = FileResponse(handle, content_type=item.mime)
    response["Cache-Control"] = "private, no-store"
    return response
