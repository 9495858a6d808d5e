"""The single `egide` command line.

One click group per file. It may import every package; it imports Django lazily, only inside the
commands that need the console, so engine commands start fast and work without a database.
"""
