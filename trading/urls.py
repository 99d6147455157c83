from django.urls import path

from trading import energy_views, views

urlpatterns = [
    path("market/", views.market, name="market"),
    path("market/orders/", views.my_orders, name="my-orders"),
    path("market/orders/<int:pk>/cancel/", views.order_cancel, name="order-cancel"),
    path("market/trades/", views.my_trades, name="my-trades"),
    path("market/battery-ev/", energy_views.energy_manager, name="energy-manager"),
    path("market/standing/", views.standing_orders, name="standing-orders"),
    path("market/standing/<int:pk>/", views.standing_orders, name="standing-order-edit"),
    path(
        "market/standing/<int:pk>/delete/",
        views.standing_order_delete,
        name="standing-order-delete",
    ),
    path(
        "market/standing/<int:pk>/cancel-orders/",
        views.standing_order_orders_cancel,
        name="standing-order-orders-cancel",
    ),
    path("statements/", views.statements, name="statements"),
    path("statements/<str:month>/", views.statement_detail, name="statement-detail"),
    path("statements/<str:month>/csv/", views.statement_csv, name="statement-csv"),
]
