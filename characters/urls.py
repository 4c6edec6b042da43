from django.urls import path

from .views import board, casting, media

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
]
