"""Ordinary user programs run by tests/test_user_programs.py: each ``prog_<name>(ufora)`` runs a
``with ufora.remotely.downloadAll():`` block and returns what it assigned, changed or raised."""
