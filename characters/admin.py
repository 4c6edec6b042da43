"""The Django admin for everything: thumbnails, filters, search, read-only audit fields."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from . import services
from .models import (
    Activity,
    Annotation,
    Asset,
    CastingCandidate,
    Character,
    ContinuityRule,
    Generation,
    Membership,
    Panel,
    PanelRevision,
    Project,
    ShareLink,
    SheetOption,
    Shot,
    ShotCharacter,
    ShotRender,
    Stage,
    Vote,
)


def thumb(asset: Asset | None, size: int = 64) -> str:
    if asset is None:
        return "—"
    url = reverse("asset", args=[asset.project.slug, asset.pk, "thumb"])
    return format_html('<img src="{}" alt="" height="{}" loading="lazy">', url, size)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "budget_usd", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]
    readonly_fields = ["created_at"]


class CandidateInline(admin.TabularInline):
    model = CastingCandidate
    fk_name = "character"
    extra = 0
    fields = ["preview", "decision", "decided_by", "decided_at", "generation"]
    readonly_fields = ["preview", "decided_by", "decided_at", "generation"]
    show_change_link = True

    @admin.display(description="Portrait")
    def preview(self, obj: CastingCandidate) -> str:
        return thumb(obj.image)

    def has_add_permission(self, request, obj=None) -> bool:  # candidates come from casting
        return False


@admin.register(Character)
class CharacterAdmin(admin.ModelAdmin):
    list_display = ["face", "name", "project", "stage_display", "reference_revision", "updated_at"]
    list_display_links = ["face", "name"]
    list_filter = ["project"]
    search_fields = ["name", "brief", "slug"]
    readonly_fields = [
        "reference_revision",
        "locked_candidate",
        "locked_sheet",
        "created_at",
        "updated_at",
    ]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [CandidateInline]
    list_select_related = ["project", "locked_candidate__image__project"]

    @admin.display(description="Face")
    def face(self, obj: Character) -> str:
        return thumb(obj.locked_candidate.image if obj.locked_candidate else None, 48)

    @admin.display(description="Stage")
    def stage_display(self, obj: Character) -> str:
        return obj.get_stage_display()


class StageFilter(admin.SimpleListFilter):
    title = "stage"
    parameter_name = "stage"

    def lookups(self, request, model_admin):
        return Stage.choices

    def queryset(self, request, queryset):
        return queryset.filter(stage=self.value()) if self.value() else queryset


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "stage",
        "provider",
        "model",
        "status",
        "attempts",
        "cost_usd",
        "character",
        "created_at",
    ]
    list_filter = ["status", StageFilter, "provider", "project"]
    search_fields = ["prompt", "provider_request_id", "error", "character__name"]
    list_select_related = ["character"]
    readonly_fields = [
        "project",
        "character",
        "stage",
        "provider",
        "model",
        "prompt",
        "parameters",
        "reference_ids",
        "seed",
        "attempts",
        "provider_request_id",
        "response_metadata",
        "estimated_cost_usd",
        "cost_usd",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "deadline_at",
    ]


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = [
        "picture",
        "id",
        "project",
        "mime",
        "width",
        "height",
        "byte_size",
        "created_at",
    ]
    list_filter = ["mime", "project"]
    search_fields = ["sha256"]
    list_select_related = ["project"]
    readonly_fields = [f.name for f in Asset._meta.fields]

    @admin.display(description="Picture")
    def picture(self, obj: Asset) -> str:
        return thumb(obj) if obj.mime.startswith("image/") else obj.mime


@admin.register(CastingCandidate)
class CastingCandidateAdmin(admin.ModelAdmin):
    list_display = ["picture", "id", "character", "decision", "decided_by", "decided_at"]
    list_filter = ["decision", "character__project"]
    search_fields = ["character__name"]
    list_select_related = ["character", "image__project", "decided_by"]
    readonly_fields = [
        "generation",
        "upscale_generation",
        "image",
        "image_4k",
        "decided_by",
        "decided_at",
        "created_at",
    ]

    @admin.display(description="Portrait")
    def picture(self, obj: CastingCandidate) -> str:
        return thumb(obj.image)


class PanelInline(admin.TabularInline):
    model = Panel
    extra = 0
    fields = ["kind", "x", "y", "w", "h", "detected"]


@admin.register(SheetOption)
class SheetOptionAdmin(admin.ModelAdmin):
    list_display = [
        "picture",
        "id",
        "character",
        "index",
        "status",
        "split_method",
        "locked_by",
        "locked_at",
    ]
    list_display_links = ["picture", "id"]
    list_filter = ["status", "split_method", "character__project"]
    search_fields = ["character__name"]
    list_select_related = ["character", "image__project", "locked_by"]
    readonly_fields = [
        "generation",
        "source_candidate",
        "image",
        "status",
        "locked_by",
        "locked_at",
        "created_at",
    ]
    inlines = [PanelInline]
    actions = ["resplit", "lock", "unlock"]

    @admin.display(description="Sheet")
    def picture(self, obj: SheetOption) -> str:
        return thumb(obj.image, 54)

    def _each(self, request, queryset, action, done: str) -> None:
        ok = 0
        for option in queryset.select_related("character__project"):
            try:
                action(option)
                ok += 1
            except services.ServiceError as exc:
                self.message_user(
                    request, f"Option {option.index} of {option.character}: {exc}", messages.ERROR
                )
        if ok:
            self.message_user(request, f"{ok} sheet option(s) {done}.", messages.SUCCESS)

    @admin.action(description="Re-split the selected sheets into panels")
    def resplit(self, request, queryset) -> None:
        self._each(
            request,
            queryset,
            lambda o: services.sheet_resplit(option=o, user=request.user),
            "re-split",
        )

    @admin.action(description="Lock the selected sheet")
    def lock(self, request, queryset) -> None:
        self._each(
            request, queryset, lambda o: services.sheet_lock(option=o, user=request.user), "locked"
        )

    @admin.action(description="Unlock the selected sheet (reason: unlocked in the admin)")
    def unlock(self, request, queryset) -> None:
        def run(option: SheetOption) -> None:
            if option.status != SheetOption.Status.LOCKED:
                raise services.ServiceError("it is not locked.")
            services.sheet_unlock(
                character=option.character, user=request.user, reason="Unlocked in the admin"
            )

        self._each(request, queryset, run, "unlocked")


@admin.register(Panel)
class PanelAdmin(admin.ModelAdmin):
    list_display = ["id", "sheet", "kind", "x", "y", "w", "h", "detected"]
    list_filter = ["kind", "detected"]


@admin.register(PanelRevision)
class PanelRevisionAdmin(admin.ModelAdmin):
    list_display = ["id", "panel", "number", "created_by", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "panel", "kind", "status", "author", "guest_name", "created_at"]
    list_filter = ["kind", "status", "found_by_inspection"]
    search_fields = ["body", "guest_name"]
    readonly_fields = ["created_at"]


@admin.register(ContinuityRule)
class ContinuityRuleAdmin(admin.ModelAdmin):
    list_display = ["text", "character", "created_by", "created_at"]
    search_fields = ["text"]
    readonly_fields = ["created_at"]


class ShotCharacterInline(admin.TabularInline):
    model = ShotCharacter
    extra = 0


@admin.register(Shot)
class ShotAdmin(admin.ModelAdmin):
    list_display = ["number", "project", "duration", "ratio", "resolution", "created_at"]
    list_filter = ["project"]
    search_fields = ["prompt"]
    inlines = [ShotCharacterInline]


@admin.register(ShotRender)
class ShotRenderAdmin(admin.ModelAdmin):
    list_display = ["id", "shot", "generation", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "project",
        "permission",
        "expires_at",
        "revoked_at",
        "use_count",
        "last_used_at",
    ]
    list_filter = ["permission", "project"]
    # The token is never stored; its hash and the password hash are not shown either.
    exclude = ["token_hash", "password"]
    readonly_fields = ["created_by", "created_at", "use_count", "last_used_at"]


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ["user", "candidate", "sheet", "value", "created_at"]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "actor_name",
        "verb",
        "target_type",
        "target_id",
        "project",
        "character",
    ]
    list_filter = ["verb", "project"]
    search_fields = ["actor_name", "verb"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Activity._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
