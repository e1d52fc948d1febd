"""One person, several organizations, the pure part: which membership a sign-in is about.

A person is an e-mail address; each membership is a user of one organization, with its
own role and life, and every membership of a person has the person's one password."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from accounting_api.domain.roles import Role


@dataclass(frozen=True, slots=True)
class Membership:
    """A live (not removed) membership, as a sign-in sees it."""

    organization_id: str
    user_id: str
    active: bool


@dataclass(frozen=True, slots=True)
class Listed:
    """A membership as its person sees it, to choose or switch organizations."""

    organization_id: str
    organization_name: str
    user_id: str
    role: Role
    active: bool


def subject(found: Sequence[Membership], organization_id: str | None) -> Membership | None:
    """The membership a sign-in is about (its credentials checked, its events recorded):
    the chosen organization's, else the only or first active one, else the first one.
    None: the e-mail is no one's."""
    if not found:
        return None
    if organization_id is not None:
        return next((m for m in found if m.organization_id == organization_id), found[0])
    return next((m for m in found if m.active), found[0])


def not_a_member(found: Membership, organization_id: str | None) -> bool:
    """The person chose an organization they are no member of (`found` is then another)."""
    return organization_id is not None and found.organization_id != organization_id


def needs_choice(found: Sequence[Membership], organization_id: str | None) -> bool:
    """Several active memberships and none chosen: the token would name a guess."""
    return organization_id is None and sum(m.active for m in found) > 1
