"""Training and charter become platform evidence, findings and reminders, per practice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from egide.console.accounts.models import Practice, Role, User
from egide.console.compliance import charter, training
from egide.console.compliance.findings import findings_for
from egide.console.compliance.models import (
    Evidence,
    EvidenceKind,
    Profile,
    Status,
    TrainingCompletion,
)
from egide.console.compliance.queries import measure_views
from egide.console.compliance.reminders import raise_reminders
from egide.console.compliance.staff_evidence import home_prompt, refresh_staff_evidence

pytestmark = pytest.mark.django_db


def status_of(practice: Practice, ref: str) -> Status:
    return next(view.status for view in measure_views(practice) if view.ref == ref)


def pass_training(practice: Practice, user: User) -> TrainingCompletion:
    course = training.load_course()
    answers = {question.id: question.answer for question in course.quiz}
    return training.complete_training(practice, user, answers, course.version)[0]


@pytest.fixture
def team(
    frameworks: None, practice: Practice, member: User, make_member: Callable[..., User]
) -> list[User]:
    Profile.objects.create(practice=practice, staff=True)
    return [member, make_member(practice, "accueil", Role.SECRETARY)]


def test_training_evidence_goes_from_non_conforme_to_partiel_to_conforme(
    practice: Practice, team: list[User]
) -> None:
    refresh_staff_evidence(practice)
    assert status_of(practice, "RCM-SEN-1") == Status.NON_COMPLIANT
    pass_training(practice, team[0])
    refresh_staff_evidence(practice)
    assert status_of(practice, "RCM-SEN-1") == Status.PARTIAL
    completion = pass_training(practice, team[1])
    refresh_staff_evidence(practice)
    assert status_of(practice, "RCM-SEN-1") == Status.COMPLIANT
    latest = Evidence.objects.filter(practice=practice, ref="RCM-SEN-1").first()
    assert latest is not None and latest.kind == EvidenceKind.PLATFORM
    assert latest.observed["trained"] == latest.observed["members"] == 2
    first = TrainingCompletion.objects.filter(user=team[0]).get()
    assert latest.valid_until == min(first.valid_until, completion.valid_until)  # type: ignore[type-var]


def test_an_inactive_member_does_not_count_and_a_new_one_makes_it_partial_again(
    practice: Practice, team: list[User], make_member: Callable[..., User]
) -> None:
    pass_training(practice, team[0])
    User.objects.filter(pk=team[1].pk).update(is_active=False)
    refresh_staff_evidence(practice)
    assert status_of(practice, "RCM-SEN-1") == Status.COMPLIANT
    make_member(practice, "remplacant", Role.LOCUM)
    refresh_staff_evidence(practice)
    assert status_of(practice, "RCM-SEN-1") == Status.PARTIAL


def test_an_expired_completion_no_longer_counts(practice: Practice, team: list[User]) -> None:
    for user in team:
        pass_training(practice, user)
    long_ago = timezone.now() - timedelta(days=400)
    TrainingCompletion.objects.filter(user=team[1]).update(
        completed_at=long_ago, valid_until=long_ago + timedelta(days=365)
    )
    refresh_staff_evidence(practice)
    assert status_of(practice, "RCM-SEN-1") == Status.PARTIAL


def test_charter_signatures_feed_the_charter_and_the_logs_measures(
    practice: Practice, team: list[User]
) -> None:
    version = charter.current_charter(practice)
    charter.sign_charter(practice, team[0], version.sha256)
    refresh_staff_evidence(practice)
    assert status_of(practice, "RCM-SEN-2") == Status.PARTIAL
    assert status_of(practice, "RCM-TRA-2") == Status.PARTIAL
    charter.sign_charter(practice, team[1], version.sha256)
    refresh_staff_evidence(practice)
    assert status_of(practice, "RCM-SEN-2") == Status.COMPLIANT
    assert status_of(practice, "RCM-TRA-2") == Status.COMPLIANT
    latest = Evidence.objects.filter(practice=practice, ref="RCM-TRA-2").first()
    assert latest is not None and latest.observed["sha256"] == version.sha256


def test_refreshing_twice_records_nothing_new(practice: Practice, team: list[User]) -> None:
    assert len(refresh_staff_evidence(practice)) == 3
    assert refresh_staff_evidence(practice) == []
    assert Evidence.objects.filter(practice=practice).count() == 3


def test_evidence_stays_inside_its_practice(
    practice: Practice, team: list[User], make_member: Callable[..., User]
) -> None:
    other = Practice.objects.create(name="Cabinet des Ormes", slug="ormes")
    Profile.objects.create(practice=other, staff=True)
    alone = make_member(other, "seule")
    pass_training(other, alone)
    refresh_staff_evidence(other)
    refresh_staff_evidence(practice)
    assert status_of(other, "RCM-SEN-1") == Status.COMPLIANT
    assert status_of(practice, "RCM-SEN-1") == Status.NON_COMPLIANT
    assert not Evidence.objects.filter(practice=practice, observed__trained=1).exists()


def test_findings_and_reminders_name_who_must_train_or_sign(
    practice: Practice, team: list[User]
) -> None:
    charter.current_charter(practice)
    pass_training(practice, team[0])
    kinds = {(item.kind, item.object_id) for item in findings_for(practice)}
    assert ("formation_a_suivre", str(team[1].pk)) in kinds
    assert ("formation_a_suivre", str(team[0].pk)) not in kinds
    assert {("charte_a_signer", str(user.pk)) for user in team} <= kinds
    reminders = raise_reminders(practice)  # newcomers have two weeks: due within the horizon
    assert any("Formation de sensibilisation à suivre" in item.message for item in reminders)


def test_a_completion_in_its_last_month_raises_a_renewal_reminder(
    practice: Practice, team: list[User]
) -> None:
    completion = pass_training(practice, team[0])
    moment = timezone.now() - timedelta(days=355)
    TrainingCompletion.objects.filter(pk=completion.pk).update(
        completed_at=moment, valid_until=moment + timedelta(days=365)
    )
    found = [item for item in findings_for(practice) if item.kind == "formation_a_renouveler"]
    assert len(found) == 1 and "à renouveler avant le" in found[0].message
    reminders = raise_reminders(practice)
    assert any(item.ref == "RCM-SEN-1" and "renouveler" in item.message for item in reminders)


def test_a_solo_practice_without_staff_gets_no_findings(
    frameworks: None, practice: Practice, member: User
) -> None:
    assert not [item for item in findings_for(practice) if item.ref.startswith("RCM-SEN")]


def test_the_home_prompt_asks_a_newcomer_to_train_and_sign_then_goes_away(
    practice: Practice, team: list[User]
) -> None:
    newcomer = team[1]
    prompt = home_prompt(newcomer)
    assert prompt["welcome"] and prompt["training"] == "à suivre" and prompt["charter"]
    pass_training(practice, newcomer)
    assert home_prompt(newcomer)["training"] == ""
    charter.sign_charter(practice, newcomer, charter.current_charter(practice).sha256)
    assert home_prompt(newcomer) == {}


def test_the_nightly_job_notices_a_new_member_and_a_new_charter_text(
    practice: Practice, team: list[User], make_member: Callable[..., User]
) -> None:
    from egide.console.compliance.awareness_tasks import refresh_awareness_nightly

    version = charter.current_charter(practice)
    for user in team:
        pass_training(practice, user)
        charter.sign_charter(practice, user, version.sha256)
    assert refresh_awareness_nightly.call_local() == 3
    assert status_of(practice, "RCM-SEN-2") == Status.COMPLIANT
    make_member(practice, "remplacant", Role.LOCUM)  # a new role rewrites the charter
    assert refresh_awareness_nightly.call_local() == 3
    assert status_of(practice, "RCM-SEN-1") == Status.PARTIAL
    assert status_of(practice, "RCM-SEN-2") == Status.NON_COMPLIANT  # nobody signed version 2
    assert charter.latest_charter(practice).number == 2  # type: ignore[union-attr]
