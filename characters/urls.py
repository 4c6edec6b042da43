from django.urls import path

from .views import board, casting, media, sheets

urlpatterns = [
    path("", board.home, name="board-home"),
    path("p/<slug:project_slug>/", board.board, name="board"),
    path("p/<slug:project_slug>/files/<int:pk>/<str:variant>", media.asset, name="asset"),
    path(
        "p/<slug:project_slug>/generations/<int:pk>/retry", casting.retry, name="generation-retry"
    ),
    path("p/<slug:project_slug>/c/<slug:character_slug>/", casting.character, name="character"),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/brief", casting.brief, name="character-brief"
    ),
    path("p/<slug:project_slug>/c/<slug:character_slug>/cast", casting.cast, name="cast"),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/unlock", casting.unlock, name="face-unlock"
    ),
    path("p/<slug:project_slug>/c/<slug:character_slug>/compare", casting.compare, name="compare"),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/candidates/<int:pk>/",
        casting.candidate,
        name="candidate",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/candidates/<int:pk>/decide",
        casting.decide,
        name="candidate-decide",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/candidates/<int:pk>/approve",
        casting.approve,
        name="candidate-approve",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/sheets/generate",
        sheets.generate,
        name="sheets-generate",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/sheets/unlock",
        sheets.unlock,
        name="sheet-unlock",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/sheets/compare",
        sheets.compare_panels,
        name="panel-compare",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/sheets/<int:pk>/",
        sheets.option,
        name="sheet-option",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/sheets/<int:pk>/lock",
        sheets.lock,
        name="sheet-lock",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/panels/<int:pk>/box",
        sheets.panel_box,
        name="panel-box",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/panels/<int:pk>/full",
        sheets.panel_image,
        name="panel-full",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/manifest.json",
        sheets.manifest,
        name="manifest",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/reference-pack.zip",
        sheets.reference_pack,
        name="reference-pack",
    ),
]

# Team review, project settings and share links (issue 6).
from .views import sharing, team  # noqa: E402

urlpatterns += [
    path("p/<slug:project_slug>/activity", team.activity, name="activity"),
    path("p/<slug:project_slug>/settings", sharing.settings_page, name="project-settings"),
    path("p/<slug:project_slug>/settings/members", sharing.member_add, name="member-add"),
    path(
        "p/<slug:project_slug>/settings/members/<int:pk>",
        sharing.member_change,
        name="member-change",
    ),
    path("p/<slug:project_slug>/settings/links", sharing.link_create, name="share-link-create"),
    path(
        "p/<slug:project_slug>/settings/links/<int:pk>/revoke",
        sharing.link_revoke,
        name="share-link-revoke",
    ),
    path("p/<slug:project_slug>/settings/budget", sharing.budget, name="project-budget"),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/changes",
        team.changes,
        name="character-changes",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/comment",
        team.comment,
        name="character-comment",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/candidates/<int:pk>/vote",
        team.candidate_vote,
        name="candidate-vote",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/sheets/<int:pk>/vote",
        team.sheet_vote,
        name="sheet-vote",
    ),
    path("notifications/", team.notifications, name="notifications"),
    path("s/<str:token>", sharing.share_open, name="share-open"),
]
