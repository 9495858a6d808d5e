"""Paths to the messaging fixtures (public, fictitious; see tests/data/messaging/SOURCE.md)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "messaging"
CDA_FILES = sorted((DATA / "cda").glob("*.xml"))
HL7_FILES = sorted((DATA / "hl7v2").iterdir())
XDM_FILES = sorted((DATA / "xdm-direct").glob("*.zip"))
LEVEL1_CDA = DATA / "cda" / "TLM-CR_2022.01.xml"
LEVEL3_CDA = DATA / "cda" / "BIO-CR-BIO_2024.01_TSH_2.xml"
