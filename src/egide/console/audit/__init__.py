"""The append-only, hash-chained audit trail: who did what, when, to which object (never content).

The console's leaf: every app writes to it through `audit.services.record`; it imports no other app
and refers to users and practices by id.
"""
