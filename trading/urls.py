from django.urls import path

from trading import energy_views, sharing_views, views

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
    path("market/sharing/", sharing_views.sharing_page, name="sharing"),
    path("market/sharing/code/", sharing_views.partner_code_issue, name="sharing-code-issue"),
    path("market/sharing/partners/", sharing_views.partner_add, name="sharing-partner-add"),
    path(
        "market/sharing/partners/<int:pk>/move/",
        sharing_views.partner_move,
        name="sharing-partner-move",
    ),
    path(
        "market/sharing/partners/<int:pk>/end/",
        sharing_views.partner_end,
        name="sharing-partner-end",
    ),
    path("market/sharing/gift/", sharing_views.gift_set, name="sharing-gift-set"),
    path("market/sharing/gift/stop/", sharing_views.gift_stop, name="sharing-gift-stop"),
    path("statements/", views.statements, name="statements"),
    path("statements/<str:month>/", views.statement_detail, name="statement-detail"),
    path("statements/<str:month>/csv/", views.statement_csv, name="statement-csv"),
]
