"""The inventory sweep's merge jobs: S3 Batch Operations ``LambdaInvoke`` tasks (StorageTagMergeFunction).

``S3PutObjectTagging`` replaces an object's whole tag set, so an object tagged by someone between
the sweep's decide step and its job would lose that tag. A merge job (``storage.inventory.tagging:
merge``) instead invokes this function for every object of its manifest (invocation schema 2.0;
``job.userArguments``: ``tagKey`` and ``storageClass``). Per task, when it runs: the object's
tags are read (GetObjectTagging); nothing is written when the object is exempt or already carries
the target tag; else its tags plus the target tag are written (PutObjectTagging): every tag it
has then is kept.

A member account's bucket: its job runs in that account (its Batch Operations role invokes this
function across accounts), and ``userArguments.account`` names the account. The function then
acts through that account's member role, and only after checking that the account holds the
invoking job (DescribeJob, once per job and container): a job created elsewhere cannot make it
act in an account it names.

The answer is Batch Operations' response: ``invocationSchemaVersion``, ``treatMissingKeysAs``,
``invocationId`` and one ``results`` entry per task (``taskId``, ``resultCode``, ``resultString``):
``Succeeded``; ``PermanentFailure`` for an object that is gone, refused, or has no room for one
more tag (named in the job's completion report, tried again by the next sweep);
``TemporaryFailure`` for throttling and server errors (Batch Operations retries the task). One
task's failure never loses the others: nothing here raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import unquote_plus

from greenrail.aws import account_id, acting_in, error_code, is_permanent, member_role_arn
from greenrail.decision import Mode
from greenrail.policies.storage import StoragePolicy, key_sha256
from greenrail.validation import is_account_id

logger = logging.getLogger(__name__)
SCHEMA: Final = "2.0"
TAG_KEY_ARGUMENT: Final = "tagKey"
CLASS_ARGUMENT: Final = "storageClass"
ACCOUNT_ARGUMENT: Final = "account"  # the bucket's account: a member's, when not Greenrail's own
CLASSES: Final = ("ONEZONE_IA", "INTELLIGENT_TIERING", "STANDARD_IA")
MAX_OBJECT_TAGS: Final = 10  # S3 allows at most 10 tags per object
# deleted since the inventory: 404, or 403 as S3 answers a role without s3:ListBucket (this one)
GONE: Final = frozenset({"NoSuchKey", "404", "403", "AccessDenied", "NoSuchBucket"})
SUCCEEDED, TEMPORARY, PERMANENT = "Succeeded", "TemporaryFailure", "PermanentFailure"


class MalformedJobEvent(ValueError):
    """Not a Batch Operations invocation: no task can be answered. ``problems`` name fields, never values."""

    def __init__(self, problems: list[dict[str, str]]):
        super().__init__("; ".join(f"{p['field']}: {p['problem']}" for p in problems))
        self.problems = problems


def parse(event: Any) -> dict[str, Any]:
    """The invocation, checked enough to answer every task (each task is checked on its own)."""
    problems = []
    if not isinstance(event, dict):
        raise MalformedJobEvent([{"field": "(input)", "problem": "expected an S3 Batch Operations invocation"}])
    if not isinstance(event.get("invocationId"), str) or not event.get("invocationId"):
        problems.append({"field": "invocationId", "problem": "missing or not a string"})
    if not isinstance(event.get("tasks"), list) or not all(
            isinstance(task, dict) and isinstance(task.get("taskId"), str) for task in event["tasks"]):
        problems.append({"field": "tasks", "problem": "expected a list of tasks, each with a taskId"})
    if not isinstance(event.get("job"), dict):
        problems.append({"field": "job", "problem": "missing or not an object"})
    if problems:
        raise MalformedJobEvent(problems)
    return event


def answer(event: dict[str, Any], load_policy: Callable[[], StoragePolicy]) -> dict[str, Any]:
    """Batch Operations' response to one (parsed) invocation: a result for every task."""
    arguments = event["job"].get("userArguments")
    arguments = arguments if isinstance(arguments, dict) else {}
    tag_key, target = arguments.get(TAG_KEY_ARGUMENT), arguments.get(CLASS_ARGUMENT)
    account = arguments.get(ACCOUNT_ARGUMENT) or None
    refused = None
    if event.get("invocationSchemaVersion") != SCHEMA:
        refused = (PERMANENT, f"invocation schema {SCHEMA} expected (the job's userArguments)")
    elif not isinstance(tag_key, str) or not tag_key or target not in CLASSES:
        refused = (PERMANENT, f"the job's userArguments need {TAG_KEY_ARGUMENT} and {CLASS_ARGUMENT} "
                              f"(one of {', '.join(CLASSES)})")
    policy = None
    if refused is None:
        try:
            policy = load_policy()
        except Exception as exc:  # SSM throttled, a document being fixed: the tasks are retried
            refused = (TEMPORARY, f"the policy document cannot be read: {type(exc).__name__}")
    if refused is None and policy is not None and policy.mode != Mode.ENFORCE:
        refused = (PERMANENT, f"the storage policy is in {policy.mode.value} mode now: not tagged")
    if refused is None and account is not None:
        refused = _foreign(str(account), str(event["job"].get("id") or ""))
    results = []
    for task in event["tasks"]:
        if refused is not None or policy is None:
            code, text = refused or (TEMPORARY, "no policy")
            results.append(_result(task, code, text))
        else:
            with acting_in(account):  # a member account's objects: through its member role
                results.append(merge_task(task, str(tag_key), str(target), policy))
    return {"invocationSchemaVersion": event.get("invocationSchemaVersion") or SCHEMA,
            "treatMissingKeysAs": PERMANENT, "invocationId": event["invocationId"], "results": results}


def merge_task(task: dict[str, Any], tag_key: str, target: str, policy: StoragePolicy) -> dict[str, str]:
    """One object: its tags as they are now, plus ``tag_key=target`` (never raises)."""
    from greenrail.adapters import s3

    bucket = task.get("s3Bucket") or str(task.get("s3BucketArn") or "").split(":::")[-1]
    raw_key = task.get("s3Key")
    if not isinstance(bucket, str) or not bucket or not isinstance(raw_key, str) or not raw_key:
        return _result(task, PERMANENT, "the task names no s3Bucket and s3Key")
    key = unquote_plus(raw_key)  # URL-encoded, as in the job's manifest
    where = f"s3://{bucket}/{key}"
    try:
        tags = s3.object_tags(bucket, key)
    except Exception as exc:
        return _failed(task, exc, where, "tags not read")
    if policy.exemptions.exempts(bucket, {}) or policy.exemptions.exempts(key, tags):
        return _result(task, SUCCEEDED, f"{where}: exempt, not tagged")
    if tags.get(tag_key) == target:
        return _result(task, SUCCEEDED, f"{where}: already tagged {tag_key}={target}")
    if tag_key not in tags and len(tags) >= MAX_OBJECT_TAGS:
        return _result(task, PERMANENT, f"{where}: has {len(tags)} tags, S3 allows {MAX_OBJECT_TAGS}: not tagged")
    try:
        s3.put_object_tag(bucket, key, tag_key, target, tags)
    except Exception as exc:
        return _failed(task, exc, where, "not tagged")
    kept = len(tags) - (1 if tag_key in tags else 0)
    return _result(task, SUCCEEDED, f"{where}: tagged {tag_key}={target}, {kept} other tag(s) kept")


def _foreign(account: str, job_id: str) -> tuple[str, str] | None:
    """Why the tasks of a job claiming to run in ``account`` are refused (None: it does)."""
    from greenrail.adapters import s3

    if not is_account_id(account):
        return (PERMANENT, f"the job's userArguments.{ACCOUNT_ARGUMENT} is not an account id")
    if account == account_id():
        return None
    if member_role_arn(account) is None:
        return (PERMANENT, "not an Organization deployment: no member role to act in another account")
    try:
        with acting_in(account):
            found = _job_in(account, job_id, s3.job_exists)
    except Exception as exc:
        code = error_code(exc) or type(exc).__name__
        return ((PERMANENT if is_permanent(exc) else TEMPORARY), f"the job cannot be checked in its account: {code}")
    return None if found else (PERMANENT, f"no job {job_id[:64]} in account {account}: not tagged")


_jobs_seen: dict[tuple[str, str], bool] = {}


def _job_in(account: str, job_id: str, exists: Callable[[str, str], bool]) -> bool:
    if (account, job_id) not in _jobs_seen:
        _jobs_seen[(account, job_id)] = exists(account, job_id)
    return _jobs_seen[(account, job_id)]


def _failed(task: dict[str, Any], exc: Exception, where: str, what: str) -> dict[str, str]:
    code = error_code(exc) or type(exc).__name__
    if code in GONE:
        return _result(task, PERMANENT, f"{where}: object gone or refused ({code}): {what}")
    if is_permanent(exc):
        return _result(task, PERMANENT, f"{where}: {code}: {what}")
    logger.warning("tag merge task to be retried", extra={"error": code, "key_sha256": key_sha256(where)})
    return _result(task, TEMPORARY, f"{where}: {code}: {what} (Batch Operations retries it)")


def _result(task: dict[str, Any], code: str, text: str) -> dict[str, str]:
    return {"taskId": str(task.get("taskId", "")), "resultCode": code, "resultString": text[:1024]}


def counts(response: dict[str, Any]) -> dict[str, int]:
    """Result codes counted (the handler's metrics)."""
    found: dict[str, int] = {}
    for result in response.get("results", []):
        found[result["resultCode"]] = found.get(result["resultCode"], 0) + 1
    return found
