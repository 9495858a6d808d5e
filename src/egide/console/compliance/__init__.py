"""Frameworks (YAML data), assessments, evidence, registers and the compliance dossier.

May import accounts and audit. Operational apps report to it through
`compliance.services.record_evidence`; it never imports them.
"""
