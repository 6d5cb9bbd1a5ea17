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
acts through that account's member role. In every account, Greenrail's own included (any
principal of the Organization may invoke the function), it acts only for a job that account
holds (DescribeJob, at most once a minute per job and container) and that runs now: a
LambdaInvoke of this function with the invocation's very ``userArguments`` over a manifest
Greenrail wrote for one bucket, the only bucket its tasks may name; and it writes only the
policy's ``target_tag_key``.

The answer is Batch Operations' response: ``invocationSchemaVersion``, ``treatMissingKeysAs``,
``invocationId`` and one ``results`` entry per task (``taskId``, ``resultCode``, ``resultString``):
``Succeeded``; ``PermanentFailure`` for an object that is gone, refused, or has no room for one
more tag (named in the job's completion report, tried again by the next sweep);
``TemporaryFailure`` for throttling and server errors (Batch Operations retries the task). One
task's failure never loses the others: nothing here raises.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar
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
    policy, refused, bucket, skipped = _checked(event, arguments, load_policy)
    results = []
    for task in event["tasks"]:
        named = task.get("s3Bucket") or str(task.get("s3BucketArn") or "").split(":::")[-1]
        if skipped is not None:
            results.append(_result(task, SUCCEEDED, skipped))
        elif refused is None and named != bucket:
            results.append(_result(task, PERMANENT, "the task's bucket is not the one the job's manifest is for"))
        elif refused is not None or policy is None:
            code, text = refused or (TEMPORARY, "no policy")
            results.append(_result(task, code, text))
        else:
            with acting_in(account):  # a member account's objects: through its member role
                results.append(merge_task(task, str(tag_key), str(target), policy))
    return {"invocationSchemaVersion": event.get("invocationSchemaVersion") or SCHEMA,
            "treatMissingKeysAs": PERMANENT, "invocationId": event["invocationId"], "results": results}


def _checked(event: dict[str, Any], arguments: dict[str, Any], load_policy: Callable[[], StoragePolicy],
             ) -> tuple[StoragePolicy | None, Refusal | None, str | None, str | None]:
    """(the policy, why every task is refused, the job's bucket, why its tasks are skipped): the
    invocation's arguments, the policy now, the job (:func:`_vet_job`), the bucket now."""
    tag_key, target = arguments.get(TAG_KEY_ARGUMENT), arguments.get(CLASS_ARGUMENT)
    account = str(arguments.get(ACCOUNT_ARGUMENT) or account_id())
    if event.get("invocationSchemaVersion") != SCHEMA:
        return None, (PERMANENT, f"invocation schema {SCHEMA} expected (the job's userArguments)"), None, None
    if not isinstance(tag_key, str) or not tag_key or target not in CLASSES:
        return None, (PERMANENT, f"the job's userArguments need {TAG_KEY_ARGUMENT} and {CLASS_ARGUMENT} "
                                 f"(one of {', '.join(CLASSES)})"), None, None
    try:
        policy = load_policy()
    except Exception as exc:  # SSM throttled, a document being fixed: the tasks are retried
        return None, (TEMPORARY, f"the policy document cannot be read: {type(exc).__name__}"), None, None
    if policy.mode != Mode.ENFORCE:
        return policy, (PERMANENT, f"the storage policy is in {policy.mode.value} mode now: not tagged"), None, None
    if tag_key != policy.target_tag_key:
        return policy, (PERMANENT, f"the job's userArguments.{TAG_KEY_ARGUMENT} is not the policy's "
                                   "target_tag_key: not tagged"), None, None
    refused, bucket = _vet_job(account, str(event["job"].get("id") or ""), arguments, policy)  # anyone may invoke
    if refused is not None or bucket is None:
        return policy, refused, bucket, None
    skipped, refused = _bucket_now(account, bucket, policy)
    return policy, refused, bucket, skipped


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


Refusal = tuple[str, str]
# Batch Operations invokes a job's function only while the job runs (tasks in flight may finish
# while it pauses, cancels, fails or completes); never before it is confirmed, nor once it ended.
RUNNING: Final = frozenset({"Active", "Pausing", "Cancelling", "Failing", "Completing"})
# the inventory sweep's jobs: greenrail/inventory/accounts/<account>/<bucket>/<run>/...; the listing
# sweep's (Greenrail's own account): greenrail/manifests/<bucket>/...
INVENTORY_JOBS: Final = "greenrail/inventory/accounts/"
LISTING_JOBS: Final = "greenrail/manifests/"
JOB_CACHE_SECONDS: Final = 60.0


def _vet_job(account: str, job_id: str, arguments: dict[str, Any],
             policy: StoragePolicy) -> tuple[Refusal | None, str | None]:
    """(why the tasks are refused, or None; the bucket the job's manifest is for).

    The function's resource policy lets any principal of the Organization invoke it, and nothing
    in an invocation says who sent it: what it claims is held to the job it names, found in the
    account it names (DescribeJob, through that account's member role): a job that runs now, a
    LambdaInvoke of this function with the very same ``userArguments``, over a manifest Greenrail
    wrote (in ``storage.sweep.manifest_bucket``) for one bucket, the only bucket its tasks may name."""
    from greenrail.adapters import s3

    if not is_account_id(account):
        return (PERMANENT, f"the job's userArguments.{ACCOUNT_ARGUMENT} is not an account id"), None
    if account != account_id() and member_role_arn(account) is None:
        return (PERMANENT, "not an Organization deployment: no member role to act in another account"), None
    try:
        with acting_in(account):
            job = _fresh(_jobs_seen, (account, job_id), lambda: s3.find_job(account, job_id))
    except Exception as exc:
        code = error_code(exc) or type(exc).__name__
        return ((PERMANENT if is_permanent(exc) else TEMPORARY), f"the job cannot be checked in its account: {code}"), None
    if job is None:
        return (PERMANENT, f"no job {job_id[:64]} in account {account}: not tagged"), None
    operation = (job.get("Operation") or {}).get("LambdaInvoke") or {}
    function = str(operation.get("FunctionArn") or "")
    function = function.split("function:", 1)[-1].split(":", 1)[0]
    own = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    given = {str(k): str(v) for k, v in (operation.get("UserArguments") or {}).items()}
    location = str(((job.get("Manifest") or {}).get("Location") or {}).get("ObjectArn") or "").split(":::", 1)[-1]
    bucket = _manifest_bucket_of(location, account, policy)
    why = ("it is not running" if job.get("Status") not in RUNNING else
           "it is not a LambdaInvoke of this function" if not operation or (own and function != own) else
           "its userArguments are not the invocation's" if given != {str(k): str(v) for k, v in arguments.items()} else
           "its manifest is not one Greenrail wrote for this account" if bucket is None else None)
    if why:
        return (PERMANENT, f"job {job_id[:64]} of account {account}: {why}: not tagged"), None
    return None, bucket


def _manifest_bucket_of(location: str, account: str, policy: StoragePolicy) -> str | None:
    """The bucket a job's manifest (``<manifest bucket>/<key>``) was written for, when Greenrail
    wrote it for ``account``; else None."""
    home = f"{policy.sweep.manifest_bucket}/" if policy.sweep.manifest_bucket else None
    if home is None or not location.startswith(home):
        return None
    parts = location[len(home):].split("/")
    if location.startswith(home + INVENTORY_JOBS):  # greenrail/inventory/accounts/<account>/<bucket>/...
        return parts[4] if len(parts) > 5 and parts[3] == account and parts[4] else None
    if location.startswith(home + LISTING_JOBS) and account == account_id():  # greenrail/manifests/<bucket>/...
        return parts[2] if len(parts) > 3 and parts[2] else None
    return None


V = TypeVar("V")
_jobs_seen: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}
_buckets_seen: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}


def _bucket_now(account: str, bucket: str, policy: StoragePolicy) -> tuple[str | None, Refusal | None]:
    """(why the job's bucket is left alone now: no longer governed, or exempt; why its tags cannot
    be read). Its tags are read at most once a minute per container, so that a bucket exempted or
    taken out of the policy while its job runs stops being tagged within a minute."""
    from greenrail.adapters import s3
    from greenrail.policies.storage import Bucket, is_governed

    def read() -> dict[str, str]:
        with acting_in(account):
            return s3.bucket_tags(bucket)

    try:
        tags = _fresh(_buckets_seen, (account, bucket), read)
    except Exception as exc:
        code = error_code(exc) or type(exc).__name__
        return None, ((PERMANENT if is_permanent(exc) else TEMPORARY), f"the bucket's tags cannot be read: {code}")
    if not is_governed(Bucket(name=bucket, tags=tags), policy):
        return f"s3://{bucket} is no longer governed by the storage policy: not tagged", None
    if policy.exemptions.exempts(bucket, tags):
        return f"s3://{bucket} is exempt now: not tagged", None
    return None, None


def _fresh(store: dict[tuple[str, str], tuple[float, V]], key: tuple[str, str], load: Callable[[], V]) -> V:
    """``load()``, kept at most a minute per container (a job of 10^8 tasks invokes this container
    again and again; read again after a minute, so that an ended job lends no id and a bucket
    exempted since is seen); at most 1,024 keys. What ``load`` raises is not kept."""
    seen = store.get(key)
    if seen is None or time.monotonic() - seen[0] > JOB_CACHE_SECONDS:
        if len(store) > 1024:
            store.clear()
        seen = store[key] = (time.monotonic(), load())
    return seen[1]


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
