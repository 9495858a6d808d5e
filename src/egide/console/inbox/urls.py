from django.urls import path

from . import api, views

app_name = "inbox"
urlpatterns = [
    path("messagerie/", views.index, name="index"),
    path("messagerie/nouveau", views.compose, name="compose"),
    path("messagerie/destinataires", views.recipients, name="recipients"),
    path("messagerie/bal/<int:mailbox_id>/<slug:folder>/", views.folder, name="folder"),
    path("messagerie/message/<int:message_id>/", views.read, name="read"),
    path("messagerie/message/<int:message_id>/piece/<int:index>", views.download, name="download"),
    path("messagerie/message/<int:message_id>/supprimer", views.delete, name="delete"),
]

api_urlpatterns = [
    path("api/v1/openapi.json", api.openapi, name="api_openapi"),
    path("api/v1/mailboxes", api.mailboxes, name="api_mailboxes"),
    path("api/v1/messages", api.messages, name="api_messages"),
    path("api/v1/messages/<int:message_id>", api.message, name="api_message"),
    path("api/v1/messages/<int:message_id>/raw", api.raw, name="api_raw"),
    path("api/v1/messages/<int:message_id>/read", api.mark_read, name="api_read"),
    path("api/v1/messages/<int:message_id>/integrated", api.acknowledge, name="api_integrated"),
]
urlpatterns += api_urlpatterns
