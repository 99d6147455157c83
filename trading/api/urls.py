from django.urls import path
from rest_framework.routers import DefaultRouter

from trading.api import network, views


class Router(DefaultRouter):
    # JSON only: no `.json` / `.api` format suffixes (the views take no `format` argument).
    include_format_suffixes = False


router = Router()
router.register("periods", views.PeriodViewSet, basename="period")
router.register("orders", views.OrderViewSet, basename="order")
router.register("standing-orders", views.StandingOrderViewSet, basename="standing-order")
router.register("trades", views.TradeViewSet, basename="trade")

urlpatterns = [
    *router.urls,
    path("statements/<str:month>/", views.StatementView.as_view(), name="api-statement"),
    path("network/feeders/", network.FeederListView.as_view(), name="api-network-feeders"),
    path(
        "network/feeders/<int:feeder_id>/prices/",
        network.FeederPricesView.as_view(),
        name="api-network-feeder-prices",
    ),
]
