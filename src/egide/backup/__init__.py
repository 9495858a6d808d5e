"""The backup engine: encrypted, deduplicated, compressed repositories on local or S3 storage.

A pure library: no Django, no environment reads, no printing. It may import `egide.crypto` only.
Callers (the CLI, the console, the agent) pass typed configuration and render its events.
"""
