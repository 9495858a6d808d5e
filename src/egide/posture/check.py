"""A check: a named function of a `Probe` that returns a `Verdict`, tied to one measure id.

`run_check` is the safety net: whatever goes wrong inside a check (a missing program, a timeout,
an answer in an unknown language, a bug) becomes a `not_checked` or `error` result that says
why — never a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import CommandDenied, CommandNotFound, CommandTimedOut, OutputNotUnderstood
from .probe import Probe
from .result import CheckResult, Observed, Status


@dataclass(frozen=True)
class Verdict:
    """The outcome a check function returns; `run_check` adds the check's name and measure."""

    status: Status
    observed: Observed
    explanation: str
    remediation: str = ""


def passed(observed: Observed, explanation: str) -> Verdict:
    return Verdict(Status.PASS, observed, explanation)


def failed(observed: Observed, explanation: str, remediation: str) -> Verdict:
    return Verdict(Status.FAIL, observed, explanation, remediation)


def not_applicable(observed: Observed, explanation: str) -> Verdict:
    return Verdict(Status.NOT_APPLICABLE, observed, explanation)


def not_checked(observed: Observed, explanation: str, remediation: str = "") -> Verdict:
    return Verdict(Status.NOT_CHECKED, observed, explanation, remediation)


CheckFunction = Callable[[Probe], Verdict]


@dataclass(frozen=True)
class Check:
    """One workstation check: its stable name, the référentiel measure it evidences, a title."""

    name: str
    measure_id: str
    title: str
    function: CheckFunction


def run_check(check: Check, probe: Probe) -> CheckResult:
    """Run one check and turn every failure to observe into an honest non-pass result."""
    try:
        verdict = check.function(probe)
    except CommandNotFound as error:
        verdict = not_checked(
            None,
            f"Vérification impossible : la commande « {error.argv[0]} » est absente de ce poste.",
            "Installez l'outil concerné ou vérifiez ce point à la main.",
        )
    except CommandDenied as error:
        verdict = not_checked(
            None,
            f"Vérification impossible : « {error.argv[0]} » demande des droits d'administrateur.",
            "Relancez la vérification avec un compte administrateur (sudo, « Exécuter en tant "
            "qu'administrateur »).",
        )
    except CommandTimedOut as error:
        verdict = Verdict(
            Status.ERROR,
            None,
            f"La commande « {error.argv[0]} » n'a pas répondu à temps ({error.reason}).",
            "Relancez la vérification ; si cela se reproduit, signalez-le à votre prestataire.",
        )
    except OutputNotUnderstood as error:
        verdict = not_checked(
            None,
            f"Réponse non comprise : {error}. Rien n'est conclu.",
            "Vérifiez ce point à la main et signalez la réponse à l'équipe Égide.",
        )
    except Exception as error:  # a bug in a check must not sink the whole report
        verdict = Verdict(
            Status.ERROR,
            None,
            f"Erreur inattendue pendant la vérification ({type(error).__name__}).",
            "Signalez-le à l'équipe Égide.",
        )
    return CheckResult(
        check=check.name,
        measure_id=check.measure_id,
        status=verdict.status,
        observed=verdict.observed,
        explanation=verdict.explanation,
        remediation=verdict.remediation,
    )
