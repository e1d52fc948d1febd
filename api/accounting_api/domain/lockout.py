"""Brute-force defence, the pure part: the rules (thresholds), where each count lives,
and what a count past a threshold leads to.

Three counts, each a sliding window of failure times:
- one account (e-mail) from one client address: past the threshold the pair is blocked,
  for longer each time it is blocked again within the recidive period (fail2ban's
  recidive: base, then doubled, capped);
- one account from every address: past its threshold the account is locked (until an
  owner or admin unlocks it, or the lock expires);
- one client address, every failed request (401, 403, 429): past its threshold the
  address is blocked for every request but the operations endpoints.

The keys of an account share one hash tag, and so do the keys of an address, so each
check is one command on one Redis Cluster slot. E-mail addresses and client addresses
appear in keys only as digests: Redis holds no one's e-mail address."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rules:
    failures_per_account_address: int = 5
    """Failed sign-ins of one account from one address allowed in the window."""
    failures_per_account: int = 20
    """Failed sign-ins of one account from any address allowed in the window."""
    window: float = 900
    """Seconds the sign-in failures count for."""
    block: float = 900
    """Seconds a pair (account, address) is blocked the first time."""
    block_max: float = 86400
    """The longest block of a pair, however often it comes back."""
    recidive: float = 86400
    """A pair blocked again within this many seconds of its last block: twice as long."""
    lock: float = 3600
    """Seconds an account stays locked unless an owner or admin unlocks it first."""
    address_failures: int = 100
    """Failed requests (401, 403, 429) of one address allowed in the address window."""
    address_window: float = 900
    """Seconds the failed requests of an address count for."""
    address_block: float = 900
    """Seconds an address is blocked."""
    sign_ups_per_email: int = 5
    """Sign-up attempts with one e-mail address allowed in the sign-up window."""
    sign_ups_per_address: int = 20
    """Sign-up attempts from one client address allowed in the sign-up window."""
    sign_up_window: float = 3600
    """Seconds the sign-up attempts count for (each attempt counts, refused ones too)."""


def block_seconds(rules: Rules, strikes: int) -> float:
    """How long a pair's `strikes`-th block (within the recidive period) lasts."""
    return float(min(rules.block * 2 ** max(strikes - 1, 0), rules.block_max))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """The Redis keys of one account's counts, seen from one address."""

    pair_failures: str
    account_failures: str
    strikes: str
    pair_block: str
    lock: str


def account_keys(email: str, client_ip: str) -> AccountKeys:
    tag = f"bf:{{a:{_digest(email.strip().lower())}}}"
    address = _digest(client_ip)
    return AccountKeys(
        f"{tag}:f:{address}", f"{tag}:f", f"{tag}:s:{address}", f"{tag}:b:{address}", f"{tag}:l"
    )


@dataclass(frozen=True, slots=True)
class AddressKeys:
    failures: str
    block: str


def address_keys(client_ip: str) -> AddressKeys:
    tag = f"bf:{{ip:{_digest(client_ip)}}}"
    return AddressKeys(f"{tag}:f", f"{tag}:b")


def sign_up_keys(email: str, client_ip: str) -> tuple[str, str]:
    """The sign-up attempt logs of an e-mail address and of a client address, each its
    own hash tag (one command each on a Redis Cluster)."""
    return (
        f"su:{{a:{_digest(email.strip().lower())}}}",
        f"su:{{ip:{_digest(client_ip)}}}",
    )


@dataclass(frozen=True, slots=True)
class Held:
    """What stands between an account and a sign-in from one address: seconds left."""

    blocked: float = 0.0
    locked: float = 0.0

    @property
    def reason(self) -> str | None:
        """The security event's reason for refusing (None: nothing held)."""
        if self.locked > 0:
            return "locked"
        return "blocked" if self.blocked > 0 else None


@dataclass(frozen=True, slots=True)
class Response:
    """What one more failed sign-in set off: a block of the pair (its seconds and how
    many times it has been blocked in the recidive period), a lock of the account."""

    blocked: float = 0.0
    strikes: int = 0
    locked: float = 0.0


def failure_counts_past(rules: Rules, pair: int, account: int) -> tuple[bool, bool]:
    """Whether a pair's and an account's failure counts call for a block and a lock."""
    return pair > rules.failures_per_account_address, account > rules.failures_per_account


def failed_request(status: int, code: str | None = None) -> bool:
    """A request that counts against its address: refused for who it is or what it tried
    (401, 403) or for how often (429); never an answer about the request's content, nor
    the first half of a two-factor sign-in (a correct password, asked for its code)."""
    return status in (401, 403, 429) and code != "two_factor_required"


def lock_keys(email: str) -> list[str]:
    """An account's lock and its count across addresses (what an unlock clears)."""
    keys = account_keys(email, "")
    return [keys.lock, keys.account_failures]
