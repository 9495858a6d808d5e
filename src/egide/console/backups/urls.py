from django.urls import path

from . import api, gateway, views

app_name = "backups"
urlpatterns = [
    path("sauvegarde/", views.overview, name="overview"),
    path("sauvegarde/postes/nouveau", views.enrol, name="enrol"),
    path("sauvegarde/postes/<int:agent_id>/revoquer", views.revoke, name="revoke"),
    path("postes/", views.computers, name="computers"),
    path("operateur/sauvegardes/", views.fleet, name="fleet"),
    path("api/agent/backup-report", api.backup_report, name="api_backup_report"),
    path("api/agent/drill", api.drill_report, name="api_drill"),
    path("api/agent/posture", api.posture_report, name="api_posture"),
    path("gateway/", gateway.objects, name="gateway_list"),
    path("gateway/<path:name>", gateway.objects, name="gateway_object"),
]
