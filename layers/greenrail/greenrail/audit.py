"""Decisions as Security Hub findings (ASFF, ``BatchImportFindings``).

One finding per policy and resource: the Id is derived from both, so each new decision about
a resource updates its finding in place, and re-importing the same decision (an async retry)
changes nothing. Security Hub applies an update only when ``UpdatedAt`` is newer, so a late,
older decision cannot overwrite a newer one.

Field rules (AWS Security Hub user guide, "Required top-level ASFF attributes" and the
``AwsSecurityFinding`` API reference):

* ProductArn ``arn:<partition>:securityhub:<region>:<account>:product/<account>/default``: the
  account's own default product; the importing account must be the finding's AwsAccountId.
  Findings go to the Security Hub of the region the auditor runs in; ``Resources[].Region`` is
  the resource's own region.
* Types ``Software and Configuration Checks/Cost Optimization/Greenrail <policy>``: the
  namespace is one of the five defined by the ASFF types taxonomy; the taxonomy's categories
  and classifiers are optional and none of them covers cost or carbon, so the category is ours.
* Compliance and RecordState: a compliant decision is PASSED and ARCHIVED (severity
  INFORMATIONAL, like Security Hub's own passed controls); a violation is FAILED and ACTIVE.
  An INFORMATIONAL decision that is not a compliance verdict (e.g. a carbon record) carries
  no Compliance at all: it is a record, not a check that passed or failed; it stays ACTIVE.
* Title <= 256 and Description <= 1024 characters, ProductFields <= 50 pairs of strings.
* At most 100 findings per call. Findings Security Hub refuses (``FailedFindings``) do not stop
  the others; :class:`FindingsImportError` is raised at the end, naming them, so the
  asynchronous invocation is retried (import is idempotent by Id).

Which accounts (:func:`record`): a decision names the account it is about, and the auditor
imports its finding there, through the member role for a member account. The field is not
trusted: only the central account (the auditor's own) and, in an Organization deployment, the
Organization's ACTIVE accounts are accepted; a decision for any other account is logged and
dropped (the caller counts it), never imported.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from greenrail import arn as arns
from greenrail.arn import partition_for
from greenrail.aws import acting_in, client, error_code, is_permanent, on_reset, region
from greenrail.decision import Decision
from greenrail.permissions import calls
from greenrail.settings import settings

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "2018-10-08"
IMPORT_BATCH = 100  # BatchImportFindings takes at most 100 findings per call
TITLE_MAX = 256
DESCRIPTION_MAX = 1024
ID_MAX = 512
PRODUCT_FIELDS_MAX = 50
PRODUCT_FIELD_KEY_MAX = 128
PRODUCT_FIELD_VALUE_MAX = 2048
REMEDIATION_TEXT_MAX = 512
OTHER_DETAILS_MAX = 50  # kept small: Details.Other is a flat map of strings
OTHER_VALUE_MAX = 1024
TYPE_PREFIX = "Software and Configuration Checks/Cost Optimization/Greenrail"
SEVERITY_LABELS = frozenset({"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"})

class FindingsImportError(Exception):
    """Security Hub refused some findings; ``failed`` lists ``{"Id", "ErrorCode", "ErrorMessage"}``."""

    def __init__(self, failed: list[dict[str, str]], imported: int):
        self.failed = failed
        self.imported = imported
        named = ", ".join(f"{f.get('Id')} ({f.get('ErrorCode')})" for f in failed[:10])
        more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        super().__init__(f"{len(failed)} finding(s) not imported ({imported} imported): {named}{more}")


# --- building -------------------------------------------------------------------------------


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def finding_id(policy: str, resource: str) -> str:
    """Stable across decisions and runs: one finding per policy and resource."""
    digest = hashlib.sha256(resource.encode()).hexdigest()[:32]
    return f"greenrail/{policy}/{digest}"[:ID_MAX]


def product_arn(account: str, region_name: str) -> str:
    """The account's own default product: findings imported by the account itself."""
    return f"arn:{partition_for(region_name)}:securityhub:{region_name}:{account}:product/{account}/default"


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # RFC 3339 with a T and no spaces, e.g. 2020-03-22T13:22:13.933Z
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def asff_resource(decision: Decision) -> dict[str, Any]:
    """The ASFF Resources entry for the decision's resource."""
    resource = decision.resource
    partition = partition_for(decision.region)
    entry: dict[str, Any]
    bucket: str | None = None
    key: str | None = None
    parsed = arns.parse(resource)
    if resource.startswith("s3://"):
        bucket, _, key = resource[len("s3://") :].partition("/")
    elif parsed is not None and parsed.service == "s3":
        partition, (bucket, _, key) = parsed.partition, parsed.resource.partition("/")
    if bucket:
        if key:
            entry = {"Type": "AwsS3Object", "Id": f"arn:{partition}:s3:::{bucket}/{key}"}
        else:
            entry = {"Type": "AwsS3Bucket", "Id": f"arn:{partition}:s3:::{bucket}"}
    else:
        # SageMaker jobs, endpoints and model cards have no ASFF resource type of their own.
        entry = {"Type": "Other", "Id": resource, "Details": {"Other": _other_details(decision)}}
        if parsed is not None:
            partition = parsed.partition
    entry.update({"Partition": partition, "Region": decision.region})
    return entry


def _other_details(decision: Decision) -> dict[str, str]:
    details: dict[str, str] = {}
    if (parsed := arns.parse(decision.resource)) is not None:
        resource_type, _, name = parsed.resource.partition("/")
        details.update({"Service": parsed.service, "ResourceType": resource_type})
        if name:
            details["Name"] = name
    for key, value in decision.target.items():
        details[f"target.{key}"] = _string(value)
    return {
        truncate(k, PRODUCT_FIELD_KEY_MAX): truncate(v, OTHER_VALUE_MAX)
        for k, v in list(details.items())[:OTHER_DETAILS_MAX]
    }


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict) and value:
        for key in sorted(value, key=str):
            yield from _flatten(f"{prefix}/{key}", value[key])
    else:
        yield prefix, _string(value)


def product_fields(decision: Decision) -> dict[str, str]:
    """Greenrail's data as strings: fixed fields first, then the key figures, 50 pairs at most."""
    fields: dict[str, str] = {
        "greenrail/policy": decision.policy,
        "greenrail/action": decision.action,
        "greenrail/mode": decision.mode.value,
        "greenrail/applied": str(decision.applied).lower(),
        "greenrail/compliant": str(decision.compliant).lower(),
        "greenrail/savings/usd_per_month": f"{decision.savings.usd_per_month:.4f}",
        "greenrail/savings/kgco2e_per_month": f"{decision.savings.kgco2e_per_month:.4f}",
        "greenrail/resource": decision.resource,
        "greenrail/decided_at": _timestamp(decision.decided_at),
    }
    if decision.event_id:
        fields["greenrail/event_id"] = decision.event_id
    for key, value in _flatten("greenrail/target", decision.target):
        fields.setdefault(key, value)
    for key, value in _flatten("greenrail/figures", decision.figures):
        if len(fields) >= PRODUCT_FIELDS_MAX:
            break
        fields.setdefault(key, value)
    return {
        truncate(k, PRODUCT_FIELD_KEY_MAX): truncate(v, PRODUCT_FIELD_VALUE_MAX) or "-"
        for k, v in list(fields.items())[:PRODUCT_FIELDS_MAX]
    }


def _title(decision: Decision) -> str:
    verdict = "complies" if decision.compliant else decision.action
    return truncate(f"Greenrail {decision.policy}: {verdict} — {decision.resource}", TITLE_MAX)


def _description(decision: Decision) -> str:
    applied = "applied" if decision.applied else "not applied"
    savings = decision.savings
    text = (
        f"{decision.reason.strip() or 'No reason given.'} "
        f"[mode {decision.mode.value}; action {decision.action}, {applied}; "
        f"savings ${savings.usd_per_month:.2f}/month, {savings.kgco2e_per_month:.3f} kgCO2e/month]"
    )
    return truncate(text, DESCRIPTION_MAX)


def _remediation(decision: Decision) -> str:
    if decision.compliant or decision.action == "none":
        return "No action needed."
    return truncate(
        f"Greenrail recommends: {decision.action}. In dry-run nothing is changed: set "
        f"'{decision.policy}.mode: enforce' in the Greenrail policy to apply, or tag the resource "
        "'greenrail:exempt=true' to exempt it.",
        REMEDIATION_TEXT_MAX,
    )


def severity_label(decision: Decision) -> str:
    if decision.compliant:
        return "INFORMATIONAL"
    label = decision.severity.upper()
    return label if label in SEVERITY_LABELS else "LOW"


def to_finding(decision: Decision, import_region: str | None = None) -> dict[str, Any]:
    """The ASFF finding for one decision (imported into ``import_region``, default the current one)."""
    home = import_region or region()
    label = severity_label(decision)
    decided = _timestamp(decision.decided_at)
    finding: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(decision.policy, decision.resource),
        "ProductArn": product_arn(decision.account, home),
        "ProductName": "Greenrail",
        "GeneratorId": f"greenrail-{decision.policy}",
        "AwsAccountId": decision.account,
        "Types": [f"{TYPE_PREFIX} {decision.policy}"],
        # Security Hub keeps one finding per Id; CreatedAt is the decision time of this import
        # (Greenrail keeps no first-seen state), UpdatedAt orders the updates.
        "CreatedAt": decided,
        "UpdatedAt": decided,
        "LastObservedAt": decided,
        "Severity": {"Label": label},
        "Title": _title(decision),
        "Description": _description(decision),
        "Remediation": {"Recommendation": {"Text": _remediation(decision)}},
        "ProductFields": product_fields(decision),
        "Resources": [asff_resource(decision)],
        "RecordState": "ARCHIVED" if decision.compliant else "ACTIVE",
    }
    if decision.compliant:
        finding["Compliance"] = {"Status": "PASSED"}
    elif label != "INFORMATIONAL":
        finding["Compliance"] = {"Status": "FAILED"}
    return finding


# --- importing ------------------------------------------------------------------------------


def _latest_per_id(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One finding per Id in a batch: the most recent one."""
    latest: dict[str, dict[str, Any]] = {}
    for finding in findings:
        current = latest.get(finding["Id"])
        if current is None or finding["UpdatedAt"] >= current["UpdatedAt"]:
            latest[finding["Id"]] = finding
    return list(latest.values())


@calls("securityhub:BatchImportFindings")
def import_findings(findings: Iterable[dict[str, Any]], securityhub: Any = None) -> int:
    """Import in batches of 100; returns how many were imported, raises if any were refused."""
    securityhub = securityhub or client("securityhub")
    pending = _latest_per_id(findings)
    failed: list[dict[str, str]] = []
    imported = 0
    for start in range(0, len(pending), IMPORT_BATCH):
        response = securityhub.batch_import_findings(Findings=pending[start : start + IMPORT_BATCH])
        imported += int(response.get("SuccessCount", 0))
        failed.extend(
            {
                "Id": str(item.get("Id", "")),
                "ErrorCode": str(item.get("ErrorCode", "")),
                "ErrorMessage": str(item.get("ErrorMessage", "")),
            }
            for item in response.get("FailedFindings", [])
        )
    if failed:
        raise FindingsImportError(failed, imported)
    return imported


def audit(decisions: Iterable[Decision], securityhub: Any = None) -> int:
    """Record each decision as a finding; returns how many findings were imported."""
    return import_findings([to_finding(decision) for decision in decisions], securityhub)


# --- which accounts -------------------------------------------------------------------------

ACCOUNTS_CACHE_SECONDS = 300  # the Organization's accounts, listed at most this often per container
ACCOUNT_LOG_MAX = 32  # a dropped decision's account and resource are logged clipped
RESOURCE_LOG_MAX = 256
_accounts: tuple[float, frozenset[str]] | None = None  # (listed at, monotonic clock; ACTIVE accounts)


@on_reset
def forget_accounts() -> None:
    """Forget the cached Organization accounts (with the clients: tests, the emulator)."""
    global _accounts
    _accounts = None


def accepted_accounts(central: str) -> frozenset[str]:
    """The accounts whose decisions are recorded: ``central``, and in an Organization deployment
    (``GREENRAIL_MEMBER_ROLE_NAME`` set) every ACTIVE account of the Organization.

    When the accounts cannot be listed (this is not the management or a delegated administrator
    account: AccessDenied, AWSOrganizationsNotInUse...) only ``central``, logged and cached like
    a list; a transient error that outlived botocore's retries raises (the invocation is retried).
    """
    global _accounts
    if not settings().member_role_name:
        return frozenset({central})
    from greenrail.adapters import organizations

    now = time.monotonic()
    if _accounts is None or now - _accounts[0] >= ACCOUNTS_CACHE_SECONDS:
        try:
            listed = frozenset(organizations.active_accounts())
        except Exception as exc:
            if not is_permanent(exc):
                raise
            logger.error("cannot list the Organization's accounts: recording the central account's decisions only",
                         extra={"error": error_code(exc)})
            listed = frozenset()
        _accounts = (now, listed)
    return _accounts[1] | {central}


def record(decisions: Iterable[Decision], central: str) -> tuple[int, int]:
    """Import each decision's finding in its own account: (imported, dropped).

    A decision for an account :func:`accepted_accounts` does not name (a forged or mistaken
    event) is logged (policy, resource and account, clipped) and dropped: importing it would act
    in that account through its member role on the word of whoever put the event on the bus.
    """
    pending = list(decisions)
    accepted: frozenset[str] | None = None  # listed only when a decision is not the central account's
    imported = dropped = 0
    for account in sorted({d.account for d in pending}):
        batch = [d for d in pending if d.account == account]
        if account != central:
            accepted = accepted if accepted is not None else accepted_accounts(central)
            if account not in accepted:
                for decision in batch:
                    logger.error("decision for an account Greenrail does not act in: dropped", extra={
                        "policy": decision.policy, "resource": truncate(decision.resource, RESOURCE_LOG_MAX),
                        "account": truncate(account, ACCOUNT_LOG_MAX)})
                dropped += len(batch)
                continue
        # Security Hub takes a finding only from the account it is about: a member account's
        # finding is imported through its Greenrail role.
        with acting_in(account):
            imported += audit(batch)
    return imported, dropped
