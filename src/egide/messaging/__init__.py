"""Messaging core: health identifiers, MIME, IHE XDM, CDA, directory files and SMTP handlers.

A pure library: no Django, no environment reads, no printing. It may import `egide.crypto` only.
"""
