from django.urls import path

from . import views

app_name = "inbox"
urlpatterns = [
    path("messagerie/", views.index, name="index"),
    path("messagerie/nouveau", views.compose, name="compose"),
    path("messagerie/bal/<int:mailbox_id>/<slug:folder>/", views.folder, name="folder"),
    path("messagerie/message/<int:message_id>/", views.read, name="read"),
    path("messagerie/message/<int:message_id>/piece/<int:index>", views.download, name="download"),
    path("messagerie/message/<int:message_id>/supprimer", views.delete, name="delete"),
]
