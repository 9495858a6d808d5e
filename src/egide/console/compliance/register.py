"""The processing register (art. 30) and the processors register (art. 28): prefill, content,
versioned exports, processors with their clause checklist and HDS certificate, and the dated
list of certified hosts that the operator loads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.audit.services import record

from .errors import InvalidInput
from .models import (
    ART28_CLAUSES,
    CertifiedHost,
    CertifiedHostList,
    EvidenceKind,
    ProcessingActivity,
    Processor,
    ProcessorKind,
    RegisterVersion,
)
from .queries import measure_views, profile_of
from .services import record_evidence, store_document

PREFILL = Path(__file__).resolve().parent / "registers" / "activities.yaml"


def prefill_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PREFILL.read_text(encoding="utf-8"))
    return data


def professions() -> dict[str, str]:
    return dict(prefill_data()["professions"])


def _audit(
    practice: Practice, user: User | None, action: str, kind: str, pk: object, **details: Any
) -> None:
    record(
        action,
        practice_id=practice.pk,
        actor_id=user.pk if user else None,
        actor=user.username if user else "system",
        object_type=kind,
        object_id=str(pk),
        details=details,
    )


def prefill_register(practice: Practice, user: User | None) -> list[ProcessingActivity]:
    """Create the activities that apply to the practice's profile; existing ones are kept."""
    data = prefill_data()
    profile = profile_of(practice)
    profession = data["professions"].get(profile.profession, profile.profession)
    created = []
    with transaction.atomic():
        for item in data["activities"]:
            if item.get("when") and not profile.has(item["when"]):
                continue
            activity, was_created = ProcessingActivity.objects.get_or_create(
                practice=practice,
                code=item["code"],
                defaults={
                    "name": item["name"].format(profession=profession.lower()),
                    "purposes": item["purposes"],
                    "legal_basis": item["legal_basis"],
                    "data_subjects": item["data_subjects"],
                    "data_categories": item["data_categories"],
                    "recipients": item["recipients"],
                    "retention": item["retention"],
                    "measure_refs": item["measures"],
                },
            )
            if was_created:
                created.append(activity)
        if created:
            _audit(
                practice,
                user,
                "compliance.register_prefilled",
                "register",
                practice.pk,
                activities=[activity.code for activity in created],
            )
    return created


def register_content(practice: Practice) -> dict[str, Any]:
    """The register as plain data: controller, activities, measures with their live status."""
    statuses = {view.ref: view for view in measure_views(practice)}
    activities = []
    for activity in ProcessingActivity.objects.filter(practice=practice):
        activities.append(
            {
                "code": activity.code,
                "name": activity.name,
                "purposes": activity.purposes,
                "legal_basis": activity.legal_basis,
                "data_subjects": activity.data_subjects,
                "data_categories": activity.data_categories,
                "recipients": activity.recipients,
                "retention": activity.retention,
                "transfers": activity.transfers,
                "measures": [
                    {
                        "id": ref,
                        "title": statuses[ref].title if ref in statuses else ref,
                        "status": statuses[ref].status.value if ref in statuses else "inconnu",
                    }
                    for ref in activity.measure_refs
                ],
                "processors": [
                    processor.name for processor in Processor.objects.filter(practice=practice)
                ],
                "updated_at": activity.updated_at.isoformat(),
            }
        )
    return {
        "controller": {"name": practice.name, "city": practice.city, "slug": practice.slug},
        "activities": activities,
    }


def freeze_register(practice: Practice, user: User | None) -> RegisterVersion:
    """Return the register version matching the current content, creating it when it changed."""
    content = register_content(practice)
    # timestamps move on every save; the version changes only when the substance does
    substance = [
        {key: value for key, value in activity.items() if key != "updated_at"}
        for activity in content["activities"]
    ]
    digest = hashlib.sha256(
        json.dumps(
            {"controller": content["controller"], "activities": substance},
            sort_keys=True,
            ensure_ascii=False,
        ).encode()
    ).hexdigest()
    with transaction.atomic():
        last = RegisterVersion.objects.filter(practice=practice).order_by("-number").first()
        if last is not None and last.sha256 == digest:
            return last
        version = RegisterVersion.objects.create(
            practice=practice,
            number=(last.number + 1) if last else 1,
            content=content,
            sha256=digest,
        )
        _audit(
            practice,
            user,
            "compliance.register_versioned",
            "register",
            version.number,
            sha256=digest,
        )
    return version


def register_rows(version: RegisterVersion) -> list[list[str]]:
    """One row per activity, the CNIL template's columns, for CSV and ODS."""
    rows = [
        [
            "Version",
            "Activité",
            "Finalités",
            "Base légale",
            "Personnes concernées",
            "Catégories de données",
            "Destinataires",
            "Durées de conservation",
            "Transferts hors UE",
            "Mesures de sécurité (statut)",
            "Sous-traitants",
        ]
    ]
    for activity in version.content["activities"]:
        rows.append(
            [
                str(version.number),
                activity["name"],
                " ; ".join(activity["purposes"]),
                activity["legal_basis"],
                " ; ".join(activity["data_subjects"]),
                " ; ".join(activity["data_categories"]),
                " ; ".join(activity["recipients"]),
                " ; ".join(
                    f"{item['data']} : {item['duration']}" for item in activity["retention"]
                ),
                activity["transfers"],
                " ; ".join(f"{m['id']} ({m['status']})" for m in activity["measures"]),
                " ; ".join(activity["processors"]),
            ]
        )
    return rows


def register_csv(version: RegisterVersion) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerows(register_rows(version))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: spreadsheets detect UTF-8


def register_ods(version: RegisterVersion) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    table = Table(name=f"Registre v{version.number}")
    for row in register_rows(version):
        table_row = TableRow()
        for value in row:
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=value))
            table_row.addElement(cell)
        table.addElement(table_row)
    document.spreadsheet.addElement(table)
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


# --- Processors --------------------------------------------------------------------------


def save_processor(
    practice: Practice,
    user: User | None,
    processor: Processor,
    *,
    clauses: dict[str, bool],
) -> Processor:
    """Create or update a processor of this practice, with its art. 28 checklist."""
    if processor.practice_id is not None and processor.practice_id != practice.pk:
        raise InvalidInput("Ce sous-traitant appartient à un autre cabinet.")
    if processor.contract_signed_on and processor.contract_signed_on > timezone.localdate():
        raise InvalidInput("La date de signature du contrat ne peut pas être dans le futur.")
    if processor.siren and not (processor.siren.isdigit() and len(processor.siren) == 9):
        raise InvalidInput("Le SIREN compte 9 chiffres.")
    known = {key for key, _ in ART28_CLAUSES}
    processor.practice = practice
    processor.clauses = {key: bool(value) for key, value in clauses.items() if key in known}
    processor.save()
    _clauses_evidence(practice)
    check_hds(practice)
    _audit(
        practice,
        user,
        "compliance.processor_saved",
        "processor",
        processor.pk,
        missing_clauses=len(processor.missing_clauses),
        hds_expires_on=processor.hds_expires_on.isoformat() if processor.hds_expires_on else None,
    )
    return processor


def attach_processor_document(
    practice: Practice,
    user: User | None,
    processor: Processor,
    content: bytes,
    *,
    filename: str,
    role: str,
) -> Processor:
    """Attach the signed contract (`role="contract"`) or the HDS certificate (`"certificate"`).

    The certificate's expiry is the processor's `hds_expires_on`, so an expired certificate is
    refused like any document whose expiry is past: ask the host for the current one.
    """
    if processor.practice_id != practice.pk:
        raise InvalidInput("Ce sous-traitant appartient à un autre cabinet.")
    if role == "contract":
        document = store_document(
            practice,
            user,
            content,
            filename=filename,
            title=f"Contrat — {processor.name}",
            document_date=processor.contract_signed_on or timezone.localdate(),
            measure_id="RCM-STT-2",
        )
        processor.contract = document
    elif role == "certificate":
        if processor.hds_expires_on is None:
            raise InvalidInput("Indiquez la date de fin de validité du certificat HDS.")
        document = store_document(
            practice,
            user,
            content,
            filename=filename,
            title=f"Certificat HDS — {processor.name}",
            document_date=timezone.localdate(),
            expires_on=processor.hds_expires_on,
            measure_id="RCM-SAN-2",
        )
        processor.hds_certificate = document
    else:
        raise InvalidInput("Type de pièce inconnu.")
    processor.save(update_fields=["contract", "hds_certificate"])
    return processor


def check_hds(practice: Practice) -> None:
    """RCM-SAN-2 from the processors register: every host of health data holds a valid HDS
    certificate (and appears in the latest certified-host list when one is loaded).

    A pass stays valid until the earliest certificate expiry, so the measure decays to
    «non vérifié» on that day unless a renewed certificate is entered.
    """
    hosts = [
        processor
        for processor in Processor.objects.filter(practice=practice)
        if processor.hosts_health_data or processor.kind == ProcessorKind.HDS_HOST
    ]
    if not hosts:
        return
    today = timezone.localdate()
    host_list = CertifiedHostList.objects.first()
    valid = [p for p in hosts if p.hds_expires_on is not None and p.hds_expires_on >= today]
    listed = [p for p in valid if host_list is None or is_listed(p, host_list)]
    now = timezone.now()
    if len(listed) == len(hosts):
        earliest = min(p.hds_expires_on for p in listed if p.hds_expires_on is not None)
        until = timezone.make_aware(datetime.combine(earliest, time(23, 59, 59)))
        result = "pass"
    else:
        until, result = now + timedelta(days=30), "fail"
    record_evidence(
        practice,
        "RCM-SAN-2",
        result,
        {
            "hosts": len(hosts),
            "valid_certificates": len(valid),
            "listed": len(listed),
            "list_date": host_list.snapshot_date.isoformat() if host_list else None,
        },
        "contrôle HDS",
        max(until, now + timedelta(minutes=1)),
    )


def is_listed(processor: Processor, host_list: CertifiedHostList) -> bool:
    """Matched by SIREN when both have one, else by name (case-insensitive)."""
    hosts = host_list.hosts.all()
    if processor.siren and hosts.filter(siren=processor.siren).exists():
        return True
    return hosts.filter(name__iexact=processor.name.strip()).exists()


def _clauses_evidence(practice: Practice) -> None:
    """RCM-STT-1 from the processors register: every processor touching health data covered?"""
    concerned = list(Processor.objects.filter(practice=practice, handles_health_data=True))
    if not concerned:
        return
    complete = sum(1 for processor in concerned if not processor.missing_clauses)
    result = "pass" if complete == len(concerned) else "partial" if complete else "fail"
    record_evidence(
        practice,
        "RCM-STT-1",
        result,
        {"processors": len(concerned), "complete": complete},
        "registre des sous-traitants",
        timezone.now() + timedelta(days=365),
        kind=EvidenceKind.PLATFORM,
    )


def load_certified_hosts(text: str, snapshot_date: date, source: str) -> CertifiedHostList:
    """Load a dated snapshot of certified hosts from CSV (name;siren;activities;valid_until)."""
    if snapshot_date > timezone.localdate():
        raise InvalidInput("La date de la liste ne peut pas être dans le futur.")
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    expected = {"name", "siren", "activities", "valid_until"}
    if reader.fieldnames is None or not expected <= set(reader.fieldnames):
        raise InvalidInput("En-tête attendu : name;siren;activities;valid_until")
    hosts = []
    for line, row in enumerate(reader, start=2):
        name = (row["name"] or "").strip()
        if not name:
            raise InvalidInput(f"Ligne {line} : nom d'hébergeur vide.")
        try:
            valid_until = date.fromisoformat(row["valid_until"]) if row["valid_until"] else None
        except ValueError:
            raise InvalidInput(f"Ligne {line} : date invalide (AAAA-MM-JJ attendu).") from None
        hosts.append((name, (row["siren"] or "").strip(), row["activities"] or "", valid_until))
    with transaction.atomic():
        host_list = CertifiedHostList.objects.create(snapshot_date=snapshot_date, source=source)
        CertifiedHost.objects.bulk_create(
            CertifiedHost(
                host_list=host_list,
                name=name,
                siren=siren,
                activities=activities,
                valid_until=valid_until,
            )
            for name, siren, activities, valid_until in hosts
        )
        record(
            "compliance.certified_hosts_loaded",
            practice_id=None,
            actor="operator",
            object_type="certified_host_list",
            object_id=host_list.pk,
            details={"hosts": len(hosts), "snapshot_date": snapshot_date.isoformat()},
        )
    return host_list
