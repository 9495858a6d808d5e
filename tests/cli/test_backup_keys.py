"""`egide backup key …`: passphrases from files, several keys, change, removal."""

from __future__ import annotations

from pathlib import Path

from .test_backup import init, invoke


def test_the_passphrase_comes_from_a_file_and_keys_can_be_managed(tmp_path: Path) -> None:
    args = ["-r", str(tmp_path / "repo"), "--cache-dir", str(tmp_path / "cache")]
    init(args)
    new = tmp_path / "nouvelle"
    new.write_text("nouvelle phrase\n")
    added = invoke(args, "key", "add", "--new-passphrase-file", str(new), "--label", "secrétaire")
    assert added.exit_code == 0, added.output
    by_file = ["--passphrase-file", str(new)]

    keys = invoke([*args, *by_file], "key", "list").output.splitlines()
    assert len(keys) == 2 and any(line.startswith("*") and "secrétaire" in line for line in keys)
    other = next(line.split()[0] for line in keys if not line.startswith("*"))
    assert invoke([*args, *by_file], "key", "remove", other).exit_code == 0
    assert invoke(args, "snapshots").exit_code == 12
    changed = tmp_path / "changee"
    changed.write_text("encore une autre")
    assert (
        invoke([*args, *by_file], "key", "passwd", "--new-passphrase-file", str(changed)).exit_code
        == 0
    )
    assert invoke([*args, "--passphrase-file", str(changed)], "snapshots").exit_code == 0
    assert invoke([*args, *by_file], "snapshots").exit_code == 12
