"""Backup agents, plans, job reports, alerts and restore drills.

May import compliance, accounts, audit and the engines.
"""
