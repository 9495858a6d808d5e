"""Workstation posture checks (antivirus, updates, disk encryption, screen lock, firewall…).

A pure library: no Django, no environment reads, no printing. It may import `egide.crypto` only.
"""
