"""Errors shown to the user: each carries one French sentence, never a stack trace."""

from __future__ import annotations


class ParcoursError(Exception):
    """Base of the errors a user can act on; `str(error)` is the message to show."""


class ExtractError(ParcoursError):
    """The extracts cannot be read at all.

    Missing folder or file, unreadable file, missing required column, bad source profile.
    Row-level problems are not errors: they go to `Extracts.rejected`.
    """
