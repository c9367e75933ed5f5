from django.urls import path

from consent import views

urlpatterns = [
    path("oauth/authorize", views.AuthorizeView.as_view(), name="oauth-authorize"),
    path("oauth/par", views.PushedAuthorizationView.as_view(), name="oauth-par"),
    path(
        "oauth/default-redirect/<str:client_id>",
        views.default_redirect,
        name="consent-default-redirect",
    ),
    path("receipts/<str:key>", views.receipt, name="consent-receipt"),
    path("receipts/<str:key>/revoke", views.revoke_from_receipt, name="consent-receipt-revoke"),
    path("my/grants", views.my_grants, name="consent-my-grants"),
    path("my/grants/<str:grant_id>/revoke", views.revoke_mine, name="consent-revoke"),
    path("login", views.CustomerLoginView.as_view(), name="consent-login"),
    path("logout", views.switch_customer, name="consent-logout"),
]
