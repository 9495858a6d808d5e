"""The «liste blanche»: reading the ANS format, hostile XML, signatures, last good copy kept."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from lxml import etree
from signxml import XMLSigner  # type: ignore[attr-defined]

from egide.crypto import x509
from egide.messaging.errors import InvalidTrustList
from egide.messaging.trust import TrustListStore, domain_of, normalise_domain, parse_trust_list

SAMPLE = Path(__file__).parent.parent / "data/messaging/trust/listeblanche-sample.xml"


def _signer(ca: x509.Identity, *, expired: bool = False) -> x509.Identity:
    start = None
    if expired:
        start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    return x509.issue_server_certificate(ca, "liste-blanche.ans.test", not_before=start)


def _sign(data: bytes, signer: x509.Identity) -> bytes:
    root = etree.fromstring(data)
    signed = XMLSigner().sign(
        root,
        key=x509.private_key_pem(signer.private_key),
        cert=x509.certificate_pem(signer.certificate).decode(),
    )
    return bytes(etree.tostring(signed))


@pytest.fixture(scope="module")
def ans_ca() -> x509.Identity:
    return x509.create_ca("ANS Test Liste Blanche CA")


def test_it_reads_every_domain_of_the_ans_sample_in_ascii_lower_case() -> None:
    space = parse_trust_list(SAMPLE.read_bytes())
    assert len(space.domains) == 10
    assert "saad-exemple.mssante.test" in space.domains
    assert "psy-centre.mssante.test" in space.domains
    assert normalise_domain("maison-de-santé-exemple.mssante.test") in space.domains
    assert space.generated_at == "2025-03-14T06:00:00Z"
    assert not space.signed


def test_it_recognises_addresses_whatever_their_case_or_idn_form() -> None:
    space = parse_trust_list(SAMPLE.read_bytes())
    assert space.allows("Dr.Martin@SAAD-Exemple.MSSante.test")
    assert space.allows("accueil@maison-de-santé-exemple.mssante.test")
    assert space.allows("accueil@xn--maison-de-sant-exemple-b6b.mssante.test") or space.allows(
        "accueil@" + normalise_domain("maison-de-santé-exemple.mssante.test")
    )
    assert space.outside(["a@gmail.test", "b@medecin.mssante.test", "pas-une-adresse"]) == [
        "a@gmail.test",
        "pas-une-adresse",
    ]


def test_it_refuses_invalid_domain_names() -> None:
    for bad in ["", "a b.test", "x@y.test", "a..b", "a" * 64 + ".test"]:
        with pytest.raises(ValueError):
            normalise_domain(bad)
    with pytest.raises(ValueError):
        domain_of("no-domain")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "vide"),
        (b"<ListeBlancheMSSante", "XML invalide"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
            "DOCTYPE",
        ),
        (b"<Other xmlns='https://listeblanche.mssante.fr/schema'/>", "racine"),
        (
            b"<ListeBlancheMSSante xmlns='https://listeblanche.mssante.fr/schema'>"
            b"<ListeDomaines/></ListeBlancheMSSante>",
            "aucun domaine",
        ),
    ],
)
def test_it_refuses_lists_it_cannot_use(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidTrustList, match=reason):
        parse_trust_list(data)


def test_it_accepts_a_list_signed_by_a_trusted_signer(ans_ca: x509.Identity) -> None:
    signed = _sign(SAMPLE.read_bytes(), _signer(ans_ca))
    space = parse_trust_list(signed, signer_anchors=[x509.certificate_pem(ans_ca.certificate)])
    assert space.signed
    assert "medecin.mssante.test" in space.domains


def test_it_refuses_a_signed_list_that_was_altered(ans_ca: x509.Identity) -> None:
    signed = _sign(SAMPLE.read_bytes(), _signer(ans_ca))
    tampered = signed.replace(b"medecin.mssante.test", b"pirate.mssante.test")
    with pytest.raises(InvalidTrustList, match="signature"):
        parse_trust_list(tampered, signer_anchors=[x509.certificate_pem(ans_ca.certificate)])


def test_it_refuses_a_list_signed_by_an_unknown_or_expired_signer(ans_ca: x509.Identity) -> None:
    anchors = [x509.certificate_pem(ans_ca.certificate)]
    stranger = x509.create_ca("Not the ANS")
    with pytest.raises(InvalidTrustList, match="signature"):
        parse_trust_list(_sign(SAMPLE.read_bytes(), _signer(stranger)), signer_anchors=anchors)
    with pytest.raises(InvalidTrustList, match="signature"):
        parse_trust_list(
            _sign(SAMPLE.read_bytes(), _signer(ans_ca, expired=True)), signer_anchors=anchors
        )


def test_it_refuses_a_signed_list_when_no_signer_is_configured(ans_ca: x509.Identity) -> None:
    with pytest.raises(InvalidTrustList, match="aucune autorité"):
        parse_trust_list(_sign(SAMPLE.read_bytes(), _signer(ans_ca)))


def test_it_refuses_an_unsigned_list_when_a_signature_is_required() -> None:
    with pytest.raises(InvalidTrustList, match="non signée"):
        parse_trust_list(SAMPLE.read_bytes(), require_signature=True)


def test_a_failed_refresh_keeps_the_last_good_copy(tmp_path: Path) -> None:
    store = TrustListStore(tmp_path / "listeblanche.xml")
    assert store.current() is None
    store.accept(SAMPLE.read_bytes())
    with pytest.raises(InvalidTrustList):
        store.accept(b"<html>502 Bad Gateway</html>")
    current = store.current()
    assert current is not None
    assert "medecin.mssante.test" in current.domains
    assert not (tmp_path / "listeblanche.xml.new").exists()


def test_it_knows_which_operator_certificates_serve_each_domain() -> None:
    space = parse_trust_list(SAMPLE.read_bytes())
    assert space.operators["ch-exemple.mssante.test"] == {
        "smtp-1.operateur-alpha.test",
        "smtp-2.operateur-alpha.test",
    }
    assert space.operator_allowed("CH-Exemple.mssante.test", "SMTP-2.operateur-alpha.test")
    assert not space.operator_allowed(
        "pharmacie-du-port.mssante.test", "smtp-1.operateur-alpha.test"
    )
    assert not space.operator_allowed("medecin.mssante.test", "")
