"""Clocks, breach workflow, rights desk and register exports."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.compliance import breach, register, rights
from egide.console.compliance.clocks import add_months, breach_deadline, rights_clocks
from egide.console.compliance.errors import InvalidInput
from egide.console.compliance.models import Profile, RegisterVersion, RiskLevel

RECEIVED = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


def test_months_are_added_to_the_same_day_clamped_to_the_month_end() -> None:
    assert add_months(RECEIVED, 1) == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
    assert add_months(RECEIVED, 3) == datetime(2026, 4, 30, 10, 0, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 15, tzinfo=UTC), 2) == datetime(2027, 1, 15, tzinfo=UTC)


def test_the_breach_clock_is_72_hours_from_awareness() -> None:
    assert breach_deadline(RECEIVED) == RECEIVED + timedelta(hours=72)


def test_the_medical_record_clock_follows_csp_l1111_7() -> None:
    clocks = rights_clocks(RECEIVED, medical_record=True, older_than_5_years=False, extended=False)
    assert clocks.csp_earliest == RECEIVED + timedelta(hours=48)
    assert clocks.binding_deadline == RECEIVED + timedelta(days=8)
    old = rights_clocks(RECEIVED, medical_record=True, older_than_5_years=True, extended=False)
    assert old.binding_deadline == datetime(2026, 3, 31, 10, 0, tzinfo=UTC)


def test_the_gdpr_clock_is_one_month_extendable_by_two() -> None:
    plain = rights_clocks(RECEIVED, medical_record=False, older_than_5_years=False, extended=False)
    assert plain.binding_deadline == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
    assert plain.csp_deadline is None
    longer = rights_clocks(RECEIVED, medical_record=False, older_than_5_years=False, extended=True)
    assert longer.binding_deadline == datetime(2026, 4, 30, 10, 0, tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.usefixtures("frameworks")
def test_the_breach_workflow_goes_from_qualification_to_the_register(
    practice: Practice, member: User
) -> None:
    found = breach.open_breach(
        practice,
        member,
        scenario="message_mal_adresse",
        summary="Courrier au mauvais confrère",
        aware_at=timezone.now() - timedelta(hours=5),
    )
    level, rationale = breach.qualify(found, member, {**found.qualification, "many_patients": True})
    assert level == RiskLevel.HIGH
    breach.set_risk(found, member, level, rationale)
    assert found.cnil_draft["nature"].startswith("Violation de confidentialité")
    assert "Madame, Monsieur" in found.patient_letter
    with pytest.raises(InvalidInput, match="Notifiez la CNIL"):
        breach.close_breach(found, member)
    breach.record_notification(found, member, notified_at=timezone.now(), reference="CNIL-1")
    with pytest.raises(InvalidInput, match="Informez les patients"):
        breach.close_breach(found, member)
    breach.record_patients_informed(found, member, timezone.now())
    breach.close_breach(found, member)
    assert found.closed_at is not None


def test_the_four_scenarios_suggest_a_risk_with_a_rationale() -> None:
    levels = {
        key: breach.suggested_risk(scenario["answers"])[0]
        for key, scenario in breach.SCENARIOS.items()
    }
    assert levels == {
        "ordinateur_perdu": RiskLevel.HIGH,
        "rancongiciel": RiskLevel.HIGH,
        "message_mal_adresse": RiskLevel.RISK,
        "telephone_vole": RiskLevel.NONE,
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("frameworks")
def test_breach_dates_in_the_future_and_bare_risks_are_refused(
    practice: Practice, member: User
) -> None:
    with pytest.raises(InvalidInput, match="futur"):
        breach.open_breach(
            practice,
            member,
            scenario="rancongiciel",
            summary="Écran de rançon",
            aware_at=timezone.now() + timedelta(hours=1),
        )
    found = breach.open_breach(
        practice,
        member,
        scenario="rancongiciel",
        summary="Écran de rançon",
        aware_at=timezone.now(),
    )
    with pytest.raises(InvalidInput, match="Justifiez"):
        breach.set_risk(found, member, "eleve", "")
    with pytest.raises(InvalidInput, match="précéder"):
        breach.record_notification(
            found, member, notified_at=found.aware_at - timedelta(hours=1), reference=""
        )


@pytest.mark.django_db
@pytest.mark.usefixtures("frameworks")
def test_an_access_request_needs_identity_and_respects_the_48_hour_reflection(
    practice: Practice, member: User
) -> None:
    request = rights.open_request(
        practice,
        member,
        kind="acces",
        requester="Patient fictif",
        medical_record=True,
        received_at=timezone.now() - timedelta(hours=2),
    )
    with pytest.raises(InvalidInput, match="identité"):
        rights.answer(request, member, text="", proof="Remis en main propre")
    rights.check_identity(request, member, "Carte d'identité présentée au cabinet")
    with pytest.raises(InvalidInput, match="48 heures"):
        rights.answer(request, member, text="", proof="Remis en main propre")
    request.received_at = timezone.now() - timedelta(days=3)
    request.save()
    rights.answer(request, member, text="", proof="Lettre recommandée 1A000")
    assert "copie de votre dossier" in request.answer


@pytest.mark.django_db
@pytest.mark.usefixtures("frameworks")
def test_rights_requests_from_the_future_are_refused(practice: Practice, member: User) -> None:
    with pytest.raises(InvalidInput, match="futur"):
        rights.open_request(
            practice,
            member,
            kind="effacement",
            requester="X",
            medical_record=False,
            received_at=timezone.now() + timedelta(days=1),
        )


@pytest.mark.django_db
@pytest.mark.usefixtures("frameworks")
def test_the_register_is_prefilled_per_profile_and_exported_in_versions(
    practice: Practice, member: User
) -> None:
    Profile.objects.create(practice=practice, profession="chirurgien_dentiste", staff=True)
    created = register.prefill_register(practice, member)
    assert [activity.code for activity in created] == ["patientele", "personnel", "comptabilite"]
    assert "chirurgien-dentiste" in created[0].name
    retention = " ".join(item["duration"] for item in created[0].retention)
    assert "20 ans" in retention and "28e anniversaire" in retention and "3 mois" in retention
    first = register.freeze_register(practice, member)
    assert register.freeze_register(practice, member).number == first.number
    rows = list(
        csv.reader(io.StringIO(register.register_csv(first).decode("utf-8-sig")), delimiter=";")
    )
    assert rows[0][1] == "Activité" and len(rows) == 4
    ods = register.register_ods(first)
    with zipfile.ZipFile(io.BytesIO(ods)) as archive:
        assert archive.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
        assert "Gestion du personnel" in archive.read("content.xml").decode()
    created[1].purposes = [*created[1].purposes, "Gestion des plannings"]
    created[1].save()
    assert register.freeze_register(practice, member).number == first.number + 1
    assert RegisterVersion.objects.filter(practice=practice).count() == 2


@pytest.mark.django_db
def test_a_certified_host_list_with_a_bad_date_is_refused_with_its_line() -> None:
    text = (
        "name;siren;activities;valid_until\nNuage Santé;123456789;1-6;2027-01-01\nAutre;;1;demain\n"
    )
    with pytest.raises(InvalidInput, match="Ligne 3"):
        register.load_certified_hosts(text, timezone.localdate(), "ANS")
    host_list = register.load_certified_hosts(
        text.rsplit("Autre", 1)[0], timezone.localdate(), "ANS"
    )
    assert host_list.hosts.count() == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("frameworks")
def test_reminders_are_raised_once_and_closed_when_the_gap_is_gone(
    practice: Practice, member: User
) -> None:
    from egide.console.compliance.reminders import raise_reminders, snapshot_if_due
    from egide.console.compliance.tasks import remind_nightly

    found = breach.open_breach(
        practice,
        member,
        scenario="rancongiciel",
        summary="Écran de rançon",
        aware_at=timezone.now() - timedelta(hours=1),
    )
    (reminder,) = raise_reminders(practice)
    assert reminder.ref == "RCM-TRA-4"
    client = Client()
    client.force_login(member)
    assert 'id="rappels"' in client.get(reverse("compliance:dashboard")).content.decode()
    assert raise_reminders(practice) == []
    breach.set_risk(found, member, "aucun", "Postes restaurés, aucune donnée lue.")
    raise_reminders(practice)
    reminder.refresh_from_db()
    assert reminder.done_at is not None
    assert snapshot_if_due(practice) is not None
    assert snapshot_if_due(practice) is None
    assert remind_nightly.call_local() == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("frameworks")
def test_the_hds_check_passes_until_the_earliest_certificate_expiry(
    practice: Practice, member: User
) -> None:
    from egide.console.compliance.models import Processor, ProcessorKind
    from egide.console.compliance.queries import measure_views

    expiry = timezone.localdate() + timedelta(days=90)
    register.save_processor(
        practice,
        member,
        Processor(
            name="Nuage Santé",
            kind=ProcessorKind.HDS_HOST,
            siren="123456789",
            hds_expires_on=expiry,
        ),
        clauses={},
    )
    view = next(view for view in measure_views(practice) if view.ref == "RCM-SAN-2")
    assert view.status == "conforme"
    assert timezone.localdate(view.evidence[0].valid_until) == expiry
    register.load_certified_hosts(
        "name;siren;activities;valid_until\nAutre Hébergeur;987654321;1-6;\n",
        timezone.localdate(),
        "ANS",
    )
    register.check_hds(practice)
    view = next(view for view in measure_views(practice) if view.ref == "RCM-SAN-2")
    assert view.status == "non_conforme"  # no longer in the operator's list of certified hosts
