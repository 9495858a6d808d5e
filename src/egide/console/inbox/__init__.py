"""Web inbox, API, mailbox storage, delivery queue and the SMTP listener command.

May import compliance, accounts, audit and the engines.
"""
