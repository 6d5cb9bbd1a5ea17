"""AWS Organizations: the accounts an Organization-wide sweep covers. No thresholds live here."""

from __future__ import annotations

from greenrail.aws import client
from greenrail.permissions import calls


@calls("organizations:ListAccounts", central=True)
def active_accounts() -> list[str]:
    """Every ACTIVE account of the Organization, sorted (run from the management account or a
    delegated administrator). Organizations replaces ``Status`` with ``State`` (September 2026):
    either is read."""
    paginator = client("organizations").get_paginator("list_accounts")
    return sorted(
        account["Id"]
        for page in paginator.paginate()
        for account in page["Accounts"]
        if (account.get("State") or account.get("Status")) == "ACTIVE"
    )
