"""ClamAV: installed, on-access scanning running, signature database fresh."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from ..check import Verdict, failed, not_checked, passed
from ..errors import CommandNotFound, OutputNotUnderstood
from ..probe import Probe
from .system import active_units, running_processes

NO_ANTIVIRUS = (
    "Installez ClamAV (paquets clamav, clamav-freshclam et clamav-daemon) ou l'antivirus fourni "
    "par votre prestataire, puis relancez la vérification."
)
CVD_MAGIC = b"ClamAV-VDB:"


def clamav_version(probe: Probe) -> str | None:
    """The installed ClamAV version line, or None when no ClamAV program is installed."""
    for program in ("clamscan", "clamdscan", "freshclam"):
        try:
            result = probe.run(program, "--version")
        except CommandNotFound:
            continue
        line = result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""
        if not line.startswith("ClamAV "):
            raise OutputNotUnderstood(f"« {program} --version » a répondu « {line[:80]} »")
        return line
    return None


def antivirus_present(probe: Probe) -> Verdict:
    """ClamAV is installed (its scanner answers with its version)."""
    version = clamav_version(probe)
    if version is None:
        return failed(
            None, "Aucun antivirus reconnu n'est installé (ClamAV recherché).", NO_ANTIVIRUS
        )
    return passed(version, f"Antivirus installé : {version.split('/')[0]}.")


def antivirus_realtime(probe: Probe) -> Verdict:
    """ClamAV's on-access scanner (clamonacc) is running."""
    units = active_units(probe, "clamav-clamonacc.service", "clamav-daemon.service")
    if units is not None:
        running = {"clamonacc" for unit, on in units.items() if on and "clamonacc" in unit} | {
            "clamd" for unit, on in units.items() if on and "daemon" in unit
        }
    else:
        processes = running_processes(probe)
        if processes is None:
            return not_checked(None, "Impossible de lister les services ni les processus.")
        running = processes & {"clamonacc", "clamd"}
    observed = {"clamonacc": "clamonacc" in running, "clamd": "clamd" in running}
    if "clamonacc" in running:
        return passed(observed, "L'analyse à l'accès de ClamAV (clamonacc) est active.")
    if clamav_version(probe) is None:
        return failed(observed, "Aucun antivirus : pas de protection en temps réel.", NO_ANTIVIRUS)
    return failed(
        observed,
        "ClamAV est installé mais n'analyse pas les fichiers à l'ouverture (clamonacc arrêté)"
        + (" ; seul le démon clamd tourne." if "clamd" in running else "."),
        "Activez l'analyse à l'accès : OnAccessIncludePath dans /etc/clamav/clamd.conf, puis "
        "« sudo systemctl enable --now clamav-daemon clamav-clamonacc ».",
    )


def database_directory(probe: Probe) -> Path:
    """The signature directory: the probe's override, else freshclam.conf, else the default."""
    if probe.clamav_database is not None:
        return probe.clamav_database
    for conf in ("/etc/clamav/freshclam.conf", "/etc/freshclam.conf"):
        text = probe.read(conf) or ""
        match = re.search(r"^\s*DatabaseDirectory\s+(\S+)", text, re.MULTILINE)
        if match:
            return probe.path(match.group(1))
    return probe.path("/var/lib/clamav")


def database_built(header: bytes) -> tuple[int, datetime]:
    """Version and build time from the 512-byte header of a .cvd or .cld file.

    The header is `ClamAV-VDB:<time>:<version>:<sigs>:<level>:<md5>:<dsig>:<builder>:<stime>`
    padded with spaces; `stime` (seconds since 1970) is the reliable field, since the human time
    may itself contain a colon. Old files without `stime` fall back to the human time.
    """
    if not header.startswith(CVD_MAGIC):
        raise OutputNotUnderstood("en-tête de base ClamAV invalide")
    fields = header[len(CVD_MAGIC) :].decode("ascii", errors="replace").rstrip(" \0").split(":")
    if len(fields) < 7:
        raise OutputNotUnderstood("en-tête de base ClamAV tronqué")
    stime = fields[-1].strip()
    version_index = 2 if len(fields) == 9 else 1
    try:
        version = int(fields[version_index])
        if stime.isdigit() and len(fields) >= 8:
            return version, datetime.fromtimestamp(int(stime), UTC)
        return version, datetime.strptime(fields[0], "%d %b %Y %H-%M %z")
    except ValueError as error:
        raise OutputNotUnderstood("date de base ClamAV illisible") from error


def antivirus_signatures(probe: Probe) -> Verdict:
    """The newest ClamAV `daily` database is younger than the policy's maximum age."""
    directory = database_directory(probe)
    newest: tuple[int, datetime, str] | None = None
    for name in ("daily.cld", "daily.cvd"):
        try:
            with (directory / name).open("rb") as handle:
                header = handle.read(512)
        except FileNotFoundError:
            continue
        except OSError:
            return not_checked(str(directory), f"Base ClamAV illisible dans {directory}.")
        version, built = database_built(header)
        if newest is None or built > newest[1]:
            newest = (version, built, name)
    if newest is None:
        if clamav_version(probe) is None:
            return failed(None, "Aucun antivirus : pas de signatures à jour.", NO_ANTIVIRUS)
        return failed(
            {"database": str(directory)},
            f"Aucune base de signatures ClamAV dans {directory}.",
            "Lancez « sudo freshclam » et activez le service clamav-freshclam.",
        )
    version, built, name = newest
    age = probe.now - built
    observed = {
        "database": str(directory / name),
        "version": version,
        "built": built.isoformat(),
        "age_hours": round(age.total_seconds() / 3600, 1),
    }
    if age.total_seconds() < -86400:
        return not_checked(observed, "La base est datée du futur : l'horloge du poste est fausse.")
    days = age.days
    if age > probe.policy.max_signature_age:
        return failed(
            observed,
            f"Les signatures ClamAV ont {days} jours (version {version}) : l'antivirus ne "
            "reconnaît pas les menaces récentes.",
            "Vérifiez la connexion Internet et le service clamav-freshclam "
            "(« sudo systemctl enable --now clamav-freshclam », puis « sudo freshclam »).",
        )
    return passed(observed, f"Signatures ClamAV à jour (version {version}, {days} jour(s)).")
