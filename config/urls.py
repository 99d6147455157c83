from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from coop import views as coop_views
from trading.live import views as live_views

admin.site.site_header = "Hapori co-op administration"
admin.site.site_title = "Hapori admin"
admin.site.index_title = "Members, ICPs, meters, tariffs and the market"

urlpatterns = [
    # The REST API first: Django tries the patterns in order, and an API call (orders placed at
    # hundreds a second) would otherwise be tried against every page's first.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("trading.api.urls")),
    path("admin/", admin.site.urls),
    path(
        "accounts/password_reset/",
        coop_views.ThrottledPasswordResetView.as_view(),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("energy/", include("metering.urls")),
    path("chain/", include("blockchain.urls")),
    path("lab/", include("lab.urls")),
    path("display/", live_views.display, name="display"),
    # Browsers ask for /favicon.ico whatever the page links: send them to the SVG one.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("img/favicon.svg"))),
    path("live/", live_views.live, name="live"),
    path("", include("trading.urls")),
    path("", include("coop.urls")),
]

handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
