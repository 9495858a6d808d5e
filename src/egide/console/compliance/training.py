"""The staff awareness training (measure RCM-SEN-1): the course as data, the quiz and its score,
and each person's completions, renewed yearly.

The course lives in `trainings/<code>.yaml` (format `egide-training/1`): sections of plain text
and a multiple-choice quiz with the right answer and an explanation per question. A passed
attempt is valid `validity_days` (a year); it shows «à renouveler» in its last month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.audit.services import record

from .errors import InvalidInput
from .models import TrainingCompletion

TRAININGS_DIR = Path(__file__).resolve().parent / "trainings"
COURSE = "sensibilisation"
FORMAT = "egide-training/1"
RENEWAL_WARNING = timedelta(days=30)  # «à renouveler» this long before a completion expires


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    choices: tuple[tuple[str, str], ...]  # (choice id, text), in display order
    answer: str
    explanation: str


@dataclass(frozen=True)
class Course:
    code: str
    version: str
    title: str
    reading_minutes: int
    validity_days: int
    pass_mark: int
    sections: tuple[Section, ...]
    quiz: tuple[Question, ...]


class CourseFileError(ValueError):
    """A training file that does not follow `egide-training/1` (raised at load, never in a page)."""


def parse_course(data: Any, where: str = "formation") -> Course:
    """Validate the decoded YAML of one training file and return the course."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CourseFileError(f"{where} : format {FORMAT} attendu")
    try:
        sections = tuple(
            Section(str(item["id"]), str(item["title"]), tuple(str(p) for p in item["paragraphs"]))
            for item in data["sections"]
        )
        quiz = tuple(
            Question(
                id=str(item["id"]),
                question=str(item["question"]),
                choices=tuple((str(key), str(text)) for key, text in item["choices"].items()),
                answer=str(item["answer"]),
                explanation=str(item["explanation"]),
            )
            for item in data["quiz"]
        )
        course = Course(
            code=str(data["code"]),
            version=str(data["version"]),
            title=str(data["title"]),
            reading_minutes=int(data["reading_minutes"]),
            validity_days=int(data["validity_days"]),
            pass_mark=int(data["pass_mark"]),
            sections=sections,
            quiz=quiz,
        )
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise CourseFileError(f"{where} : champ manquant ou invalide ({error})") from None
    ids = [question.id for question in quiz]
    if not quiz or len(set(ids)) != len(ids):
        raise CourseFileError(f"{where} : questions absentes ou identifiants en double")
    for question in quiz:
        if question.answer not in dict(question.choices) or len(question.choices) < 2:
            raise CourseFileError(f"{where} : {question.id} sans bonne réponse parmi ses choix")
    if not 0 < course.pass_mark <= len(quiz) or course.validity_days <= 0:
        raise CourseFileError(f"{where} : seuil de réussite ou durée de validité impossible")
    return course


@cache
def load_course(code: str = COURSE) -> Course:
    path = TRAININGS_DIR / f"{code}.yaml"
    return parse_course(yaml.safe_load(path.read_text(encoding="utf-8")), path.name)


@dataclass(frozen=True)
class Feedback:
    question: Question
    chosen: str
    correct: bool

    @property
    def chosen_text(self) -> str:
        return dict(self.question.choices).get(self.chosen, "")

    @property
    def answer_text(self) -> str:
        return dict(self.question.choices)[self.question.answer]


@dataclass(frozen=True)
class QuizResult:
    score: int
    total: int
    pass_mark: int
    feedback: tuple[Feedback, ...]

    @property
    def passed(self) -> bool:
        return self.score >= self.pass_mark


def score_quiz(course: Course, answers: dict[str, str]) -> QuizResult:
    """Score a complete set of answers; an unanswered question or unknown choice is refused."""
    missing = [number for number, q in enumerate(course.quiz, 1) if not answers.get(q.id)]
    if missing:
        listed = ", ".join(str(number) for number in missing)
        raise InvalidInput(f"Répondez à toutes les questions (sans réponse : {listed}).")
    feedback = []
    for question in course.quiz:
        chosen = answers[question.id]
        if chosen not in dict(question.choices):
            raise InvalidInput(f"Réponse inconnue à la question « {question.question} ».")
        feedback.append(Feedback(question, chosen, chosen == question.answer))
    score = sum(item.correct for item in feedback)
    return QuizResult(score, len(course.quiz), course.pass_mark, tuple(feedback))


def complete_training(
    practice: Practice, user: User, answers: dict[str, str], course_version: str
) -> tuple[TrainingCompletion, QuizResult]:
    """Score and record one attempt of `user`; a pass is valid for a year (audited)."""
    if user.practice_id != practice.pk or not user.is_active:
        raise InvalidInput("Seul un membre actif du cabinet peut suivre la formation du cabinet.")
    course = load_course()
    if course_version != course.version:
        raise InvalidInput(
            "La formation a été mise à jour depuis que vous l'avez ouverte : relisez-la puis "
            "répondez de nouveau au quiz."
        )
    result = score_quiz(course, answers)
    now = timezone.now()
    with transaction.atomic():
        completion = TrainingCompletion.objects.create(
            practice=practice,
            user=user,
            course=course.code,
            course_version=course.version,
            score=result.score,
            total=result.total,
            passed=result.passed,
            answers={item.question.id: item.chosen for item in result.feedback},
            completed_at=now,
            valid_until=now + timedelta(days=course.validity_days) if result.passed else None,
        )
        record(
            "compliance.training_completed",
            practice_id=practice.pk,
            actor_id=user.pk,
            actor=user.username,
            object_type="training",
            object_id=completion.pk,
            details={
                "course": f"{course.code}@{course.version}",
                "score": result.score,
                "total": result.total,
                "passed": result.passed,
            },
        )
    return completion, result


@dataclass(frozen=True)
class TrainingStatus:
    """Where one person stands: «à suivre», «à jour» or «à renouveler»."""

    latest: TrainingCompletion | None  # the latest passed completion, expired or not

    @property
    def valid_until(self) -> datetime | None:
        return self.latest.valid_until if self.latest else None

    @property
    def valid(self) -> bool:
        return self.valid_until is not None and self.valid_until > timezone.now()

    @property
    def to_renew(self) -> bool:
        """Passed once, and expired or expiring within a month."""
        until = self.valid_until
        return until is not None and until <= timezone.now() + RENEWAL_WARNING

    @property
    def label(self) -> str:
        if self.latest is None:
            return "à suivre"
        return "à renouveler" if self.to_renew else "à jour"


def training_status(user: User) -> TrainingStatus:
    latest = (
        TrainingCompletion.objects.filter(user=user, practice=user.practice, passed=True)
        .order_by("-valid_until")
        .first()
    )
    return TrainingStatus(latest)
