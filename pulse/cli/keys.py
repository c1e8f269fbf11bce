"""`pulse keys new`: a new API key for a tenant, and the hash to put in its config."""

from __future__ import annotations

import argparse

from pulse.cli.common import console


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="API keys")
    keys = p.add_subparsers(dest="action", required=True)
    k = keys.add_parser("new", help="make a new API key for a tenant and print the hash to put in its config")
    k.add_argument("--tenant", required=True)
    k.set_defaults(func=cmd_keys_new)


def cmd_keys_new(args: argparse.Namespace) -> int:
    from pulse.api.keys import key_hash, new_key

    key = new_key()
    console.print(f"API key for tenant {args.tenant} (shown once; give it to the tenant, do not store it):")
    console.print(key, markup=False, highlight=False)
    console.print(f"\nAdd its hash to configs/tenants/{args.tenant}.yaml, then restart `pulse serve`:")
    console.print(f'api_keys:\n  - "{key_hash(key)}"', markup=False, highlight=False)
    return 0
