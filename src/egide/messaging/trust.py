"""The MSSanté trust space: the ANS «liste blanche» of domains allowed to exchange mail.

Outside the list nothing goes in or out. The list is an XML file published by the ANS
(namespace `https://listeblanche.mssante.fr/schema`, one `Domaine/Nom` per entry). Names may be
internationalised (IDN), in mixed case and wrapped in whitespace; they are compared in their
ASCII (punycode) lower-case form, which is what SMTP peers put on the wire.

The file is hostile input until proven otherwise: it goes through the hardened XML reader (no
DTD, no entity, size cap). When it carries an XML signature, the signature must verify against
the configured signers' anchors, otherwise the whole list is refused. A refreshed list replaces
the stored one only once it has been fully read and checked, atomically: a failed refresh keeps
the last good copy.

May import: `egide.crypto` (signature check), `.xmlreader`, `.errors`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from egide.crypto import xmldsig
from egide.crypto.errors import CryptoError

from .errors import InvalidTrustList, UnsafeXml
from .xmlreader import parse_xml

NAMESPACE = "https://listeblanche.mssante.fr/schema"
DSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"
# The real list holds a few hundred domains (about 60 KB); 8 MB bounds memory with a wide margin.
MAX_LIST_BYTES = 8 * 1024 * 1024

__all__ = [
    "NAMESPACE",
    "TrustListStore",
    "TrustSpace",
    "domain_of",
    "normalise_domain",
    "parse_trust_list",
]


def normalise_domain(name: str) -> str:
    """The ASCII lower-case form of a domain (IDN labels in punycode); ValueError if invalid."""
    name = name.strip().rstrip(".").lower()
    if not name or "@" in name or any(ch.isspace() for ch in name):
        raise ValueError(f"nom de domaine invalide : {name!r}")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"nom de domaine invalide : {name!r}") from None
    if any(not label or len(label) > 63 for label in ascii_name.split(".")):
        raise ValueError(f"nom de domaine invalide : {name!r}")
    return ascii_name


def domain_of(address: str) -> str:
    """The normalised domain of an e-mail address; ValueError if it has none."""
    _, at, domain = address.strip().strip("<>").rpartition("@")
    if not at:
        raise ValueError(f"adresse sans domaine : {address!r}")
    return normalise_domain(domain)


@dataclass(frozen=True)
class TrustSpace:
    """The domains of the trust space, as read from one version of the list."""

    domains: frozenset[str]
    generated_at: str = ""
    signed: bool = False
    warnings: tuple[str, ...] = ()
    # domain → common names of the operator certificates the list names for it
    # (`DNCertificatOperateur`); a domain may be served by several relays.
    operators: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def operator_allowed(self, domain: str, certificate_name: str) -> bool:
        """True when a peer presenting `certificate_name` may speak for `domain`.

        Domains listed without an operator certificate accept any peer of the trust space.
        """
        try:
            names = self.operators.get(normalise_domain(domain))
        except ValueError:
            return False
        return not names or certificate_name.strip().lower() in names

    def contains(self, domain: str) -> bool:
        """True when `domain` (any form: IDN, mixed case) is in the trust space."""
        try:
            return normalise_domain(domain) in self.domains
        except ValueError:
            return False

    def allows(self, address: str) -> bool:
        """True when the e-mail address belongs to a domain of the trust space."""
        try:
            return domain_of(address) in self.domains
        except ValueError:
            return False

    def outside(self, addresses: Iterable[str]) -> list[str]:
        """The addresses among `addresses` that are outside the trust space, in order."""
        return [address for address in addresses if not self.allows(address)]


def parse_trust_list(
    data: bytes,
    *,
    signer_anchors: Sequence[bytes] = (),
    require_signature: bool = False,
) -> TrustSpace:
    """Read a «liste blanche» XML document; raise InvalidTrustList if it cannot be used.

    A signed list (an enveloped `ds:Signature`) is verified against `signer_anchors` (PEM CA
    certificates); a signed list with no anchor configured, or an unsigned list when
    `require_signature` is set, is refused. Entries with an invalid name are skipped and
    reported in `warnings`; a list with no valid domain at all is refused.
    """
    try:
        root = parse_xml(data, what="Liste blanche MSSanté", max_bytes=MAX_LIST_BYTES).root
    except UnsafeXml as error:
        raise InvalidTrustList(str(error)) from None
    if root.tag != f"{{{NAMESPACE}}}ListeBlancheMSSante":
        raise InvalidTrustList(
            "Liste blanche MSSanté : l'élément racine n'est pas ListeBlancheMSSante "
            f"de l'espace de noms {NAMESPACE}."
        )
    signatures = root.findall(f"{{{DSIG_NAMESPACE}}}Signature")
    if signatures:
        if not signer_anchors:
            raise InvalidTrustList(
                "Liste blanche MSSanté signée, mais aucune autorité de signature n'est "
                "configurée pour la vérifier : elle est refusée."
            )
        try:
            signed = xmldsig.verify_enveloped(data, anchors=signer_anchors)
        except CryptoError as error:
            raise InvalidTrustList(
                f"Liste blanche MSSanté : la signature ne se vérifie pas ({error})."
            ) from None
        # Read only what the signature covers (see egide.crypto.xmldsig).
        root = parse_xml(signed, what="Liste blanche MSSanté", max_bytes=MAX_LIST_BYTES).root
        if root.tag != f"{{{NAMESPACE}}}ListeBlancheMSSante":
            raise InvalidTrustList("Liste blanche MSSanté : la signature ne couvre pas la liste.")
    elif require_signature:
        raise InvalidTrustList(
            "Liste blanche MSSanté non signée alors qu'une signature est exigée."
        )
    domains: set[str] = set()
    operators: dict[str, set[str]] = {}
    warnings: list[str] = []
    for entry in root.iterfind(f".//{{{NAMESPACE}}}Domaine"):
        node = entry.find(f"{{{NAMESPACE}}}Nom")
        if node is None:
            continue
        try:
            domain = normalise_domain(node.text or "")
        except ValueError as error:
            warnings.append(f"entrée ignorée (ligne {node.sourceline}) : {error}")
            continue
        domains.add(domain)
        name = _common_name(entry.findtext(f"{{{NAMESPACE}}}DNCertificatOperateur") or "")
        if name:
            operators.setdefault(domain, set()).add(name)
    if not domains:
        raise InvalidTrustList("Liste blanche MSSanté : aucun domaine lisible.")
    generated = root.findtext(f"{{{NAMESPACE}}}DateDeGeneration") or ""
    return TrustSpace(
        frozenset(domains),
        generated.strip(),
        bool(signatures),
        tuple(warnings),
        {domain: frozenset(names) for domain, names in operators.items()},
    )


def _common_name(distinguished_name: str) -> str:
    """The CN of a DN written `CN=…,OU=…,O=…` as in the list, lower-cased ('' if none)."""
    for part in distinguished_name.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().upper() == "CN":
            return value.strip().lower()
    return ""


class TrustListStore:
    """The last good copy of the list on disk; replaced only by a list that was fully checked."""

    def __init__(
        self, path: Path, *, signer_anchors: Sequence[bytes] = (), require_signature: bool = False
    ) -> None:
        self.path = path
        self.signer_anchors = tuple(signer_anchors)
        self.require_signature = require_signature

    def _parse(self, data: bytes) -> TrustSpace:
        return parse_trust_list(
            data, signer_anchors=self.signer_anchors, require_signature=self.require_signature
        )

    def accept(self, data: bytes) -> TrustSpace:
        """Check `data` and, only if it is a usable list, make it the current copy (atomic)."""
        space = self._parse(data)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".new")
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)
        return space

    def current(self) -> TrustSpace | None:
        """The stored list, or None when no list was ever accepted."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return self._parse(data)
