"""The store's public contract, one role a module: users and their authentication,
sessions, turns, memory, search, and usage. ``memchat.store.base.Store`` is all of them.

Each public method checks and normalizes its arguments once, here (``store/checks.py``),
then calls the backend's hook of the same name with a leading underscore: a backend cannot
drift on what a valid name, session id, limit, search parameter or stored text is.
"""
