"""Gaps found in a practice's compliance, each tied to a measure id and a deadline.

They feed the dashboard, the home card, the reminders and the dossier. Sorted most urgent first:
overdue items, then by deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from egide.console.accounts.models import Practice

from .clocks import breach_deadline, rights_clocks
from .models import (
    Breach,
    CertifiedHostList,
    Document,
    Processor,
    ProcessorKind,
    RightsRequest,
    RiskLevel,
    Status,
)
from .queries import MeasureView, measure_views
from .register import is_listed
from .staff_evidence import awareness_gaps

CONTRACT_GRACE = timedelta(days=30)  # to obtain the art. 28 clauses once a processor is listed
EXPIRY_WARNING = timedelta(days=60)


@dataclass(frozen=True)
class Finding:
    ref: str
    kind: str
    message: str
    deadline: datetime
    object_type: str = ""
    object_id: str = ""

    @property
    def overdue(self) -> bool:
        return self.deadline < timezone.now()

    @property
    def deadline_date(self) -> date:
        return timezone.localdate(self.deadline)

    def as_dict(self) -> dict[str, object]:
        return {
            "measure_id": self.ref,
            "kind": self.kind,
            "message": self.message,
            "deadline": self.deadline.isoformat(),
            "overdue": self.overdue,
            "object_type": self.object_type,
            "object_id": self.object_id,
        }


def _at_end_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


def findings_for(practice: Practice, views: list[MeasureView] | None = None) -> list[Finding]:
    views = views if views is not None else measure_views(practice)
    found = [
        *_measure_findings(views),
        *_processor_findings(practice),
        *_breach_findings(practice),
        *_rights_findings(practice),
        *_document_findings(practice),
        *(Finding(*gap) for gap in awareness_gaps(practice)),
    ]
    return sorted(found, key=lambda item: (not item.overdue, item.deadline, item.ref))


def _measure_findings(views: list[MeasureView]) -> list[Finding]:
    found = []
    for view in views:
        if view.status == Status.NOT_APPLICABLE:
            continue
        if view.stale:
            latest = view.evidence[0]
            found.append(
                Finding(
                    view.ref,
                    "preuve_perimee",
                    f"Preuve {latest.source} périmée : la mesure « {view.title} » n'est plus "
                    "vérifiée.",
                    latest.valid_until,
                    "measure",
                    view.ref,
                )
            )
        elif view.status in (Status.NON_COMPLIANT, Status.PARTIAL) and view.due_date:
            found.append(
                Finding(
                    view.ref,
                    "action",
                    f"Plan d'action : {view.title}.",
                    _at_end_of(view.due_date),
                    "measure",
                    view.ref,
                )
            )
    return found


def _processor_findings(practice: Practice) -> list[Finding]:
    found = []
    today = timezone.localdate()
    latest_list = CertifiedHostList.objects.first()
    for processor in Processor.objects.filter(practice=practice):
        start = processor.contract_signed_on or processor.added_on
        if processor.handles_health_data and processor.missing_clauses:
            found.append(
                Finding(
                    "RCM-STT-1",
                    "clause_art28_absente",
                    f"Contrat de {processor.name} sans clause RGPD article 28 complète "
                    f"({len(processor.missing_clauses)} point(s) manquant(s)).",
                    _at_end_of(start + CONTRACT_GRACE),
                    "processor",
                    str(processor.pk),
                )
            )
        if not (processor.hosts_health_data or processor.kind == ProcessorKind.HDS_HOST):
            continue
        if processor.hds_expires_on is None:
            found.append(
                Finding(
                    "RCM-SAN-2",
                    "certificat_hds_absent",
                    f"Certificat HDS de {processor.name} non fourni.",
                    _at_end_of(processor.added_on + CONTRACT_GRACE),
                    "processor",
                    str(processor.pk),
                )
            )
        elif processor.hds_expires_on < today + EXPIRY_WARNING:
            expired = processor.hds_expires_on < today
            found.append(
                Finding(
                    "RCM-SAN-2",
                    "certificat_hds_expire" if expired else "certificat_hds_bientot_expire",
                    f"Certificat HDS de {processor.name} "
                    f"{'expiré' if expired else 'expire'} le "
                    f"{processor.hds_expires_on.strftime('%d/%m/%Y')}.",
                    _at_end_of(processor.hds_expires_on),
                    "processor",
                    str(processor.pk),
                )
            )
        if latest_list is not None and not is_listed(processor, latest_list):
            found.append(
                Finding(
                    "RCM-STT-3",
                    "hebergeur_non_liste",
                    f"{processor.name} ne figure pas dans la liste des hébergeurs certifiés du "
                    f"{latest_list.snapshot_date.strftime('%d/%m/%Y')}.",
                    _at_end_of(processor.added_on + CONTRACT_GRACE),
                    "processor",
                    str(processor.pk),
                )
            )
    return found


def _breach_findings(practice: Practice) -> list[Finding]:
    found = []
    for breach in Breach.objects.filter(practice=practice, closed_at__isnull=True):
        deadline = breach_deadline(breach.aware_at)
        if breach.risk_level != RiskLevel.NONE and breach.cnil_notified_at is None:
            found.append(
                Finding(
                    "RCM-TRA-4",
                    "violation_non_notifiee",
                    f"Violation « {breach.summary} » non notifiée à la CNIL "
                    "(72 h après sa découverte).",
                    deadline,
                    "breach",
                    str(breach.pk),
                )
            )
        if breach.risk_level == RiskLevel.HIGH and breach.patients_informed_at is None:
            found.append(
                Finding(
                    "RCM-TRA-4",
                    "patients_non_informes",
                    "Risque élevé : informer sans délai les patients touchés par "
                    f"« {breach.summary} ».",
                    deadline,
                    "breach",
                    str(breach.pk),
                )
            )
    return found


def _rights_findings(practice: Practice) -> list[Finding]:
    found = []
    for request in RightsRequest.objects.filter(practice=practice, answered_at__isnull=True):
        clocks = rights_clocks(
            request.received_at,
            medical_record=request.medical_record,
            older_than_5_years=request.older_than_5_years,
            extended=request.extended_at is not None,
        )
        rule = "CSP L1111-7" if clocks.csp_deadline is not None else "RGPD art. 12"
        found.append(
            Finding(
                "RCM-GOU-3",
                "demande_droits_en_attente",
                f"Demande de {request.get_kind_display().lower()} sans réponse ({rule}).",
                clocks.binding_deadline,
                "rights_request",
                str(request.pk),
            )
        )
    return found


def _document_findings(practice: Practice) -> list[Finding]:
    limit = timezone.localdate() + EXPIRY_WARNING
    found = []
    for document in Document.objects.filter(practice=practice, expires_on__lt=limit):
        assert document.expires_on is not None
        refs = sorted({str(ref) for ref in document.evidence.values_list("ref", flat=True)})
        found.append(
            Finding(
                refs[0] if refs else "RCM-STT-3",
                "document_expire",
                f"Le document « {document.title} » expire le "
                f"{document.expires_on.strftime('%d/%m/%Y')} : demandez sa version à jour.",
                _at_end_of(document.expires_on),
                "document",
                str(document.pk),
            )
        )
    return found
