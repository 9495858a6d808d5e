"""Practices (tenants), users, roles and the second factor.

May import `egide.console.audit` (to record logins and account changes) and the engines.
"""
