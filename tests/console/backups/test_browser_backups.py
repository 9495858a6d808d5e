"""The «Sauvegarde» page in a real browser after real agent runs: a suspect run, a failed drill."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from bench.ransomware_alarm import encrypt_in_place, make_corpus
from click.testing import CliRunner
from pytest_django.live_server_helper import LiveServer

from egide.backup.localstore import LocalStorage
from egide.backup.repository import init_repository
from egide.cli.main import cli
from egide.console.accounts.models import Practice, User
from egide.console.backups.services import enrol_agent
from egide.crypto.kdf import Argon2Params
from tests.browser import chromium, screenshot, sign_in
from tests.conftest import PASSWORD, totp_now

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_backup_page_shows_red_with_the_suspect_run_and_the_failed_drill(
    live_server: LiveServer,
    tmp_path: Path,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
) -> None:
    practice = make_practice("Cabinet médical des Tilleuls", "tilleuls")
    member = make_member(practice, "dr.martin")
    _agent, token = enrol_agent(practice, "Poste accueil", by=member)
    fast = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
    init_repository(LocalStorage(tmp_path / "repo"), b"phrase", fast, tmp_path / "c").close()
    make_corpus(tmp_path / "cabinet", seed=9)
    (tmp_path / "token").write_text(token)
    (tmp_path / "passphrase").write_text("phrase")
    plan = tmp_path / "agent.toml"
    plan.write_text(
        'sources = ["cabinet"]\nstate_dir = "state"\n'
        '[repository]\nlocation = "repo"\npassphrase_file = "passphrase"\n'
        f'[console]\nurl = "{live_server.url}"\ntoken_file = "token"\n'
    )
    runner = CliRunner()
    assert runner.invoke(cli, ["agent", "run", "-c", str(plan), "--once"]).exit_code == 0
    encrypt_in_place(tmp_path / "cabinet", 0.3, seed=10)
    assert runner.invoke(cli, ["agent", "backup", "-c", str(plan)]).exit_code == 0
    for pack in (tmp_path / "repo" / "data").rglob("*"):
        if pack.is_file():
            data = bytearray(pack.read_bytes())
            for offset in range(100, len(data), 512):  # bit rot all over: every sample hits it
                data[offset] ^= 0xFF
            pack.chmod(0o600)
            pack.write_bytes(bytes(data))
    assert runner.invoke(cli, ["agent", "drill", "-c", str(plan)]).exit_code == 1

    with chromium() as browser:
        page = browser.new_page(locale="fr-FR", viewport={"width": 1280, "height": 900})
        sign_in(page, live_server.url, member.username, PASSWORD, lambda: totp_now(member))
        page.goto(f"{live_server.url}/sauvegarde/")
        badge = page.locator("#etat-sauvegarde")
        assert "rouge" in (badge.get_attribute("class") or "") or "red" in (
            badge.get_attribute("class") or ""
        )
        content = page.content()
        assert "suspecte" in content.lower()
        assert "incompressibles" in content
        assert "échoué" in content
        screenshot(page, "sauvegarde-suspecte-et-test-echoue")
    from django.core.cache import cache

    cache.clear()
