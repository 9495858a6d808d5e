"""Side by side: reading health documents with Égide's parsers and with their peers.

    .venv/bin/python -m bench.messaging_documents [--repeat 3]

On the ANS examples of tests/data/messaging: HL7 v2 with python-hl7 (ours) and hl7apy (the other
well-kept parser, if installed: `pip install hl7apy`), tolerant and strict; CDA with our
hardened parse (header and safe narrative) against a bare `lxml.etree.fromstring`; e-mail with
our `parse_message` against a bare `email` parse; and the PDF/A copy of level-3 documents.
Medians over --repeat rounds; compare ratios, not absolute times (the machine is shared).
"""

from __future__ import annotations

import argparse
import email.policy
import statistics
import time
from collections.abc import Callable, Sequence
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import hl7
from lxml import etree

from egide.messaging.cda import parse_cda
from egide.messaging.health_message import HealthMail, compose_health_message
from egide.messaging.mime import parse_message
from egide.messaging.narrative import render_narrative
from egide.messaging.rendition import render_pdf

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "messaging"


def _median_ms(
    action: Callable[[Any], object], items: Sequence[Any], repeat: int
) -> tuple[float, int]:
    """Median time per item (ms) and how many items the action accepted."""
    times, refused = [], 0
    for _ in range(repeat):
        for item in items:
            start = time.perf_counter()
            try:
                action(item)
            except Exception:  # a peer refusing an example is a result, not a crash
                refused += 1
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, len(items) - refused // repeat


def _hl7_text(data: bytes) -> str:
    text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    return "\r".join(line for line in text.split("\n") if line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    repeat = args.repeat
    rows: list[tuple[str, str, float, int, int]] = []

    messages = [_hl7_text(p.read_bytes()) for p in sorted((DATA / "hl7v2").iterdir())]
    rows.append(
        ("HL7 v2 parse", "python-hl7", *_median_ms(hl7.parse, messages, repeat), len(messages))
    )
    try:
        from hl7apy.consts import VALIDATION_LEVEL  # type: ignore[import-not-found]
        from hl7apy.parser import parse_message as apy_parse  # type: ignore[import-not-found]
    except ImportError:
        print("(hl7apy not installed: `pip install hl7apy` to compare)")
    else:
        rows.append(("HL7 v2 parse", "hl7apy tolerant", *_median_ms(apy_parse, messages, repeat),
                     len(messages)))  # fmt: skip

        def strict(text: str) -> None:
            apy_parse(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True).validate()

        rows.append(("HL7 v2 parse", "hl7apy strict", *_median_ms(strict, messages, repeat),
                     len(messages)))  # fmt: skip

    documents = [p.read_bytes() for p in sorted((DATA / "cda").glob("*.xml"))]
    rows.append(("CDA", "lxml.etree.fromstring (bare)",
                 *_median_ms(etree.fromstring, documents, repeat), len(documents)))  # fmt: skip
    rows.append(("CDA", "Égide parse_cda (hardened, header)",
                 *_median_ms(parse_cda, documents, repeat), len(documents)))  # fmt: skip
    rows.append(("CDA", "Égide parse_cda + safe narrative HTML",
                 *_median_ms(lambda d: render_narrative(parse_cda(d)), documents, repeat),
                 len(documents)))  # fmt: skip

    level1 = (DATA / "cda" / "TLM-CR_2022.01.xml").read_bytes()
    mail = HealthMail(sender="a@x.test", recipients=("b@y.test",), body="Bonjour",
                      cda_files=(level1,), nil="BENCH", source_id="1.2.3")  # fmt: skip
    eml = [compose_health_message(mail, domain="x.test")]
    bare = BytesParser(policy=email.policy.default).parsebytes
    rows.append(("e-mail with XDM", "email.parser (bare)", *_median_ms(bare, eml, repeat * 5), 1))
    rows.append(("e-mail with XDM", "Égide parse_message",
                 *_median_ms(parse_message, eml, repeat * 5), 1))  # fmt: skip

    sample = [documents[i] for i in range(0, len(documents), max(1, len(documents) // 5))][:5]
    pdf = lambda d: render_pdf(parse_cda(d))  # noqa: E731
    rows.append(("PDF/A copy, level 3", "WeasyPrint", *_median_ms(pdf, sample, 1),
                 len(sample)))  # fmt: skip

    print("| input | parser | median ms / item | accepted | items |")
    print("|---|---|---|---|---|")
    for name, tool, median, accepted, total in rows:
        print(f"| {name} | {tool} | {median:.1f} | {accepted} | {total} |")


if __name__ == "__main__":
    main()
