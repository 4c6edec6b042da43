"""Turnaround's URLs: the app, the admin, and login."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from characters.views.auth import RateLimitedLoginView

from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("login/", RateLimitedLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("characters.urls")),
]
