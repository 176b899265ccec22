"""Shared, mostly pure code of the pipeline steps: every step folder imports from here."""
