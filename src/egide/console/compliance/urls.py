from django.urls import path

from . import views, views_awareness, views_registers

app_name = "compliance"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("evaluation/", views.assessment_start, name="assessment_start"),
    path("evaluation/<int:step>/", views.assessment_step, name="assessment_step"),
    path("mesures/", views.measure_list, name="measures"),
    path("mesures/<str:ref>/", views.measure_detail, name="measure"),
    path("documents/<int:pk>/", views.document_download, name="document"),
    path("dossier/", views.dossier_page, name="dossier"),
    path("dossier/<str:fmt>/", views.dossier_download, name="dossier_download"),
    path("registre/", views_registers.register_page, name="register"),
    path("registre/preremplir/", views_registers.register_prefill, name="register_prefill"),
    path("registre/export.<str:fmt>", views_registers.register_export, name="register_export"),
    path("sous-traitants/", views_registers.processors, name="processors"),
    path("sous-traitants/nouveau/", views_registers.processor_edit, name="processor_new"),
    path("sous-traitants/<int:pk>/", views_registers.processor_edit, name="processor"),
    path("violations/", views_registers.breaches, name="breaches"),
    path("violations/<int:pk>/", views_registers.breach_detail, name="breach"),
    path("droits/", views_registers.rights_requests, name="rights"),
    path("droits/<int:pk>/", views_registers.rights_detail, name="rights_request"),
]

# Staff awareness and patient information (views_awareness).
urlpatterns += [
    path("sensibilisation/", views_awareness.awareness, name="awareness"),
    path("sensibilisation/formation/", views_awareness.training_page, name="training"),
    path("sensibilisation/charte/", views_awareness.charter_page, name="charter"),
    path(
        "information-patients/",
        views_awareness.patient_information,
        name="patient_information",
    ),
    path(
        "information-patients/<str:kind>-<str:size>.pdf",
        views_awareness.patient_information_pdf,
        name="patient_information_pdf",
    ),
]
