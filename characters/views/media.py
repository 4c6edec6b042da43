"""Stored images and videos, served only to people who may see their project.

Names are content hashes, so a URL's bytes never change: browsers may keep them for a year.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from ..models import Asset
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
    try:
        handle = default_storage.open(stored.name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    mime = item.mime if stored.name == item.file.name else "image/webp"
    response = FileResponse(handle, content_type=mime)
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    if request.GET.get("download"):
        ext = stored.name.rsplit(".", 1)[-1]
        response["Content-Disposition"] = (
            f'attachment; filename="turnaround-{item.sha256[:12]}.{ext}"'
        )
    return response
