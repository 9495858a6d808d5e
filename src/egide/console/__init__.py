"""The Django project: the console for practices and the operator.

The only package that imports Django. It calls the engines (`egide.backup`, `egide.messaging`,
`egide.posture`) through their typed APIs. Apps depend downward only:
inbox | backups -> compliance -> accounts -> audit.
"""
