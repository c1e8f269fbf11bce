"""API keys: random bearer keys given to tenants, of which only a SHA-256 hash is kept in the tenant config.

>>> key = new_key()
>>> ring = KeyRing({"acme": [key_hash(key)]})
>>> ring.tenant_for(key), ring.tenant_for(key + "x")
('acme', None)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pulse.tenants.config import ConfigSet

KEY_PREFIX = "pk_"
HASH_PREFIX = "sha256:"


def new_key() -> str:
    """A new key with 256 bits of randomness; shown once to the tenant, never stored."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """The stored form of a key. A fast hash is enough: keys are random, not passwords people choose."""
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """Which tenant a presented key belongs to; every stored hash is compared, in constant time."""

    def __init__(self, hashes_by_tenant: dict[str, list[str]]):
        self.entries: list[tuple[bytes, str]] = []
        owners: dict[str, str] = {}
        for tenant, hashes in sorted(hashes_by_tenant.items()):
            for stored in hashes:
                if stored in owners and owners[stored] != tenant:
                    raise ValueError(f"the same API key hash is listed for tenants {owners[stored]!r} and {tenant!r}")
                owners[stored] = tenant
                self.entries.append((stored.encode(), tenant))

    @staticmethod
    def from_configs(configs: ConfigSet) -> KeyRing:
        return KeyRing({tenant: list(config.api_keys) for tenant, config in configs.tenants.items()})

    def tenant_for(self, key: str) -> str | None:
        """The tenant owning `key`, or None; the time taken does not depend on where or whether it matched."""
        presented = key_hash(key).encode()
        found = None
        for stored, tenant in self.entries:
            if hmac.compare_digest(stored, presented):
                found = tenant
        return found
