"""The awareness course as data, the quiz score, and yearly renewal of a completion."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import yaml
from django.utils import timezone

from egide.console.accounts.models import Practice, Role, User
from egide.console.audit.models import AuditEntry
from egide.console.compliance import training
from egide.console.compliance.errors import InvalidInput
from egide.console.compliance.models import TrainingCompletion


def right_answers(wrong: int = 0) -> dict[str, str]:
    """The right answer to every question, except the first `wrong` ones."""
    answers = {}
    for number, question in enumerate(training.load_course().quiz):
        if number < wrong:
            answers[question.id] = next(k for k, _ in question.choices if k != question.answer)
        else:
            answers[question.id] = question.answer
    return answers


def raw_course() -> dict[str, Any]:
    path = training.TRAININGS_DIR / "sensibilisation.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def test_the_shipped_course_covers_the_six_topics_with_about_ten_questions() -> None:
    course = training.load_course()
    titles = " ".join(section.title.lower() for section in course.sections)
    for topic in ("hameçonnage", "rançongiciels", "second facteur", "verrouiller", "messagerie"):
        assert topic in titles
    assert "quand quelque chose ne va pas" in titles
    assert 8 <= len(course.quiz) <= 12 and course.pass_mark <= len(course.quiz)
    assert course.validity_days == 365
    words = sum(len(p.split()) for section in course.sections for p in section.paragraphs)
    assert 900 <= words <= 2500  # about ten minutes of reading


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: d.update(format="egide-training/9"), "format"),
        (lambda d: d.pop("quiz"), "champ manquant"),
        (lambda d: d["quiz"][0].update(answer="z"), "sans bonne réponse"),
        (lambda d: d["quiz"][1].update(id=d["quiz"][0]["id"]), "en double"),
        (lambda d: d.update(pass_mark=99), "seuil"),
        (lambda d: d["sections"][0].update(paragraphs=None), "champ manquant"),
    ],
)
def test_it_refuses_a_malformed_course_file(damage: Callable[[Any], Any], reason: str) -> None:
    data = copy.deepcopy(raw_course())
    damage(data)
    with pytest.raises(training.CourseFileError, match=reason):
        training.parse_course(data)


def test_it_refuses_a_course_file_that_is_not_a_mapping() -> None:
    with pytest.raises(training.CourseFileError):
        training.parse_course(["not", "a", "course"])


def test_it_scores_a_quiz_and_explains_each_answer() -> None:
    course = training.load_course()
    result = training.score_quiz(course, right_answers(wrong=2))
    assert (result.score, result.total) == (len(course.quiz) - 2, len(course.quiz))
    assert result.passed
    assert [item.correct for item in result.feedback[:3]] == [False, False, True]
    assert result.feedback[0].answer_text and result.feedback[0].chosen_text
    failing = training.score_quiz(course, right_answers(wrong=len(course.quiz)))
    assert failing.score == 0 and not failing.passed


def test_the_pass_mark_is_the_boundary() -> None:
    course = training.load_course()
    at_mark = training.score_quiz(course, right_answers(wrong=len(course.quiz) - course.pass_mark))
    below = training.score_quiz(
        course, right_answers(wrong=len(course.quiz) - course.pass_mark + 1)
    )
    assert at_mark.passed and not below.passed


def test_it_refuses_an_incomplete_quiz_naming_the_missing_questions() -> None:
    answers = right_answers()
    quiz = training.load_course().quiz
    del answers[quiz[2].id]
    answers[quiz[4].id] = ""
    with pytest.raises(InvalidInput, match="sans réponse : 3, 5"):
        training.score_quiz(training.load_course(), answers)


def test_it_refuses_an_answer_that_is_not_one_of_the_choices() -> None:
    answers = right_answers()
    answers[training.load_course().quiz[0].id] = "<script>"
    with pytest.raises(InvalidInput, match="Réponse inconnue"):
        training.score_quiz(training.load_course(), answers)


@pytest.mark.django_db
def test_a_passed_quiz_is_recorded_with_score_and_date_valid_one_year(
    practice: Practice, member: User
) -> None:
    version = training.load_course().version
    completion, result = training.complete_training(practice, member, right_answers(1), version)
    assert completion.passed and completion.score == result.score == result.total - 1
    assert completion.valid_until is not None
    assert completion.valid_until - completion.completed_at == timedelta(days=365)
    status = training.training_status(member)
    assert status.valid and status.label == "à jour"
    entry = AuditEntry.objects.filter(action="compliance.training_completed").get()
    assert entry.details["passed"] is True and entry.actor_id == member.pk
    assert "answers" not in entry.details


@pytest.mark.django_db
def test_a_failed_quiz_is_kept_but_proves_nothing(practice: Practice, member: User) -> None:
    course = training.load_course()
    completion, _result = training.complete_training(
        practice, member, right_answers(wrong=len(course.quiz)), course.version
    )
    assert not completion.passed and completion.valid_until is None
    assert training.training_status(member).label == "à suivre"


@pytest.mark.django_db
def test_a_completion_is_to_renew_in_its_last_month_and_after_a_year(
    practice: Practice, member: User
) -> None:
    version = training.load_course().version
    completion, _ = training.complete_training(practice, member, right_answers(), version)
    for age, valid, label in (
        (300, True, "à jour"),
        (340, True, "à renouveler"),
        (366, False, "à renouveler"),
    ):
        moment = timezone.now() - timedelta(days=age)
        TrainingCompletion.objects.filter(pk=completion.pk).update(
            completed_at=moment, valid_until=moment + timedelta(days=365)
        )
        status = training.training_status(member)
        assert (status.valid, status.label) == (valid, label), age
    training.complete_training(practice, member, right_answers(), version)
    assert training.training_status(member).label == "à jour"


@pytest.mark.django_db
def test_it_refuses_a_stale_course_version_and_a_member_of_another_practice(
    practice: Practice, member: User, make_member: Callable[..., User]
) -> None:
    with pytest.raises(InvalidInput, match="mise à jour"):
        training.complete_training(practice, member, right_answers(), "1999.1")
    other = Practice.objects.create(name="Autre cabinet", slug="autre")
    stranger = make_member(other, "intrus", Role.SECRETARY)
    with pytest.raises(InvalidInput, match="membre actif"):
        training.complete_training(
            practice, stranger, right_answers(), training.load_course().version
        )
    assert not TrainingCompletion.objects.exists()
