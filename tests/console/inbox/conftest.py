"""SMTP fixtures for the inbox tests: PKI files, trust space, a hosted mailbox, live listeners."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from egide.console.accounts.models import Practice, User
from egide.console.inbox import listener, services
from egide.console.inbox.models import Mailbox, MailboxKind
from egide.messaging.trust import TrustListStore

from .smtp_fixtures import OUR_HOST, TRUST_LIST, Pki, free_port, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def smtp_settings(settings: Any, pki: Pki, tmp_path: Path) -> Any:
    settings.EGIDE_SMTP_CERT_FILE = pki.server.cert
    settings.EGIDE_SMTP_KEY_FILE = pki.server.key
    settings.EGIDE_SMTP_TRUST_ANCHORS_FILE = pki.root
    settings.EGIDE_SMTP_CRL_FILES = [pki.crl]
    settings.EGIDE_SMTP_HOSTNAME = OUR_HOST
    settings.EGIDE_SMTP_ROUTES = []
    settings.EGIDE_MAX_MESSAGE_BYTES = 300_000
    settings.EGIDE_TRUST_LIST_FILE = str(tmp_path / "listeblanche.xml")
    TrustListStore(Path(settings.EGIDE_TRUST_LIST_FILE)).accept(TRUST_LIST.read_bytes())
    return settings


@pytest.fixture
def hosted(make_practice: Callable[..., Practice], make_member: Callable[..., User]) -> Mailbox:
    practice = make_practice("Cabinet des Tilleuls", "tilleuls")
    doctor = make_member(practice, "dr.martin")
    return services.create_mailbox(
        practice,
        address="claire.martin@tilleuls.egide.test",
        kind=MailboxKind.PERSONAL,
        display_name="Dr Claire Martin",
        owner=doctor,
    )


@pytest.fixture
def listeners(smtp_settings: Any, hosted: Mailbox) -> Iterator[dict[str, int]]:
    started = listener.start(port=free_port(), submission_port=free_port())
    yield {item.name: item.port for item in started}
    for item in started:
        item.stop()
