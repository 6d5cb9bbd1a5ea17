"""S3 Batch Operations: ``CreateJob``, ``DescribeJob`` and ``UpdateJobStatus`` (absent from moto 5.2.5).

A job created with ``ConfirmationRequired`` waits in ``Suspended`` until ``UpdateJobStatus``
(``RequestedJobStatus: Ready``) confirms it; one created without runs at once. Running a job
here carries out its ``S3PutObjectTagging`` operation on every object of its CSV manifest
(``Bucket,Key``, keys URL-encoded) in the emulated S3, replacing each object's whole tag set as
S3 does; a ``LambdaInvoke`` job invokes its function once per object through the emulator's
Lambda runtime, in-process (invocation schema 1.0 or 2.0 with ``userArguments``; the key
URL-encoded as in the manifest), retries a ``TemporaryFailure`` (``LAMBDA_ATTEMPTS`` in all) and
fails a task on ``PermanentFailure``, an invalid answer or a function error. Either writes the
completion report (``Report_CSV_20180820``:
``Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage``) under the report
prefix, ``job-<id>/results/<n>.csv`` with a ``job-<id>/manifest.json`` naming it.

Faults for tests: ``FAIL_KEYS`` (object keys whose task fails) and ``FAIL_AFTER`` (bucket -> N: a
job over that bucket's objects fails part-way, the tasks after its first N fail, and it ends
``Failed``; the report names every failed object).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from moto.core.responses import ActionResult
from moto.s3control import urls
from moto.s3control.exceptions import S3ControlError
from moto.s3control.models import S3ControlBackend
from moto.s3control.responses import S3ControlResponse

JOBS: dict[str, dict[str, Any]] = {}
FAIL_KEYS: set[str] = set()
FAIL_AFTER: dict[str, int] = {}  # bucket -> tasks done before its job fails
LAMBDA_ATTEMPTS = 3  # a task the function answers TemporaryFailure is retried, then fails


def reset() -> None:
    JOBS.clear()
    FAIL_KEYS.clear()
    FAIL_AFTER.clear()


def _now() -> datetime:
    from greenrail_cli.emulator.moto_ext import hooks

    now = hooks.clock.now() if hooks.clock is not None else datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _create_job(self: S3ControlResponse) -> ActionResult:
    token = self._get_param("ClientRequestToken")
    for job in JOBS.values():  # the token makes CreateJob idempotent, in one account
        if job["ClientRequestToken"] == token and job["AccountId"] == self.current_account:
            return ActionResult({"JobId": job["JobId"]})
    job_id = str(uuid.uuid4())
    confirmation = str(self._get_param("ConfirmationRequired")).lower() == "true"
    JOBS[job_id] = {
        "JobId": job_id,
        "ClientRequestToken": token,
        "ConfirmationRequired": confirmation,
        "Description": self._get_param("Description"),
        "Operation": self._get_param("Operation"),
        "Manifest": self._get_param("Manifest"),
        "Report": self._get_param("Report"),
        "Priority": self._get_param("Priority"),
        "RoleArn": self._get_param("RoleArn"),
        "Status": "Suspended" if confirmation else "Ready",
        "CreationTime": _now(),
        "AccountId": self.current_account,
    }
    if not confirmation:
        run_job(JOBS[job_id])
    return ActionResult({"JobId": job_id})


class JobNotFound(S3ControlError):
    code = "NotFoundException"  # DescribeJob's 404

    def __init__(self) -> None:
        super().__init__("The specified job does not exist.")


def _describe_job(self: S3ControlResponse) -> ActionResult:
    job = JOBS.get(self._get_param("JobId") or self.path.rstrip("/").rsplit("/", 1)[-1])
    if job is None or job["AccountId"] != self.current_account:  # a job is seen in its own account only
        raise JobNotFound()
    return ActionResult({"Job": {k: v for k, v in job.items() if k not in ("ClientRequestToken", "AccountId")}})


def _update_job_status(self: S3ControlResponse) -> ActionResult:
    job_id = self.path.rstrip("/").rsplit("/", 2)[-2]
    job = JOBS[job_id]
    requested = self._get_param("RequestedJobStatus") or self.querystring.get("requestedJobStatus", [""])[0]
    if requested == "Ready" and job["Status"] == "Suspended":
        job["Status"] = "Ready"
        run_job(job)
    elif requested == "Cancelled" and job["Status"] in ("Suspended", "Ready"):
        job["Status"] = "Cancelled"
    return ActionResult({"JobId": job_id, "Status": job["Status"]})


def _tag_set(operation: dict[str, Any]) -> dict[str, str]:
    tagging = operation.get("S3PutObjectTagging") or {}
    tags = tagging.get("TagSet") or []
    if isinstance(tags, dict):  # the XML parser gives {"S3Tag": [...]} or {"S3Tag": {...}}
        tags = tags.get("S3Tag", [])
        tags = [tags] if isinstance(tags, dict) else tags
    return {tag["Key"]: tag["Value"] for tag in tags}


def _user_arguments(operation: dict[str, Any]) -> dict[str, str]:
    arguments = operation.get("UserArguments") or {}
    entries = arguments.get("entry") if isinstance(arguments, dict) and "entry" in arguments else None
    if entries is not None:  # the XML parser gives {"entry": [{"key": k, "value": v}, ...]} or one entry
        entries = [entries] if isinstance(entries, dict) else entries
        return {str(entry["key"]): str(entry["value"]) for entry in entries}
    return {str(k): str(v) for k, v in arguments.items()} if isinstance(arguments, dict) else {}


def _invoke_task(job: dict[str, Any], bucket: str, encoded_key: str, index: int) -> list[str]:
    """One LambdaInvoke task: the report row (TaskStatus failed with the result code as ErrorCode)."""
    from greenrail_cli.emulator.moto_ext import hooks

    operation = job["Operation"]["LambdaInvoke"]
    schema = str(operation.get("InvocationSchemaVersion") or "1.0")
    task: dict[str, Any] = {"taskId": f"task-{index}", "s3Key": encoded_key, "s3VersionId": None}
    task.update({"s3Bucket": bucket} if schema == "2.0" else {"s3BucketArn": f"arn:aws:s3:::{bucket}"})
    job_part: dict[str, Any] = {"id": job["JobId"]}
    if schema == "2.0":
        job_part["userArguments"] = _user_arguments(operation)
    runtime, function = hooks.runtime, str(operation.get("FunctionArn", ""))
    if runtime is None or runtime.find(function) is None:
        return [bucket, encoded_key, "", "failed", "LambdaFunctionNotFound", "400", f"no function {function}"]
    code, text = "TemporaryFailure", ""
    for _attempt in range(LAMBDA_ATTEMPTS):
        event = {"invocationSchemaVersion": schema, "invocationId": str(uuid.uuid4()), "job": job_part,
                 "tasks": [task]}
        try:
            answer = runtime.invoke(function, event)
            [result] = [r for r in answer["results"] if r["taskId"] == task["taskId"]]
            code, text = str(result["resultCode"]), str(result.get("resultString", ""))
        except Exception as exc:  # noqa: BLE001 - a function error or an invalid answer fails the task
            code, text = "LambdaFunctionError", f"{type(exc).__name__}: {exc}"[:1024]
        if code != "TemporaryFailure":
            break
    if code == "Succeeded":
        return [bucket, encoded_key, "", "succeeded", "", "200", text]
    return [bucket, encoded_key, "", "failed", code, "500" if code == "TemporaryFailure" else "400", text]


def run_job(job: dict[str, Any]) -> None:
    """Carry out an S3PutObjectTagging or LambdaInvoke job over its CSV manifest and write its report."""
    from moto.s3.models import s3_backends

    backend = s3_backends[job["AccountId"]]["aws"]
    location = job["Manifest"]["Location"]["ObjectArn"].split(":::", 1)[1]
    manifest_bucket, _, manifest_key = location.partition("/")
    body = backend.get_object(manifest_bucket, manifest_key)
    rows = list(csv.reader(io.StringIO(body.value.decode() if body is not None else "")))
    tags = _tag_set(job["Operation"] or {})
    job["Status"] = "Active"
    results: list[list[str]] = []
    succeeded = failed = 0
    stop_after = FAIL_AFTER.get(rows[0][0]) if rows else None
    for index, row in enumerate(rows):
        bucket, key = row[0], unquote(row[1])
        if (stop_after is not None and index >= stop_after) or key in FAIL_KEYS:
            failed += 1
            results.append([bucket, row[1], "", "failed", "InternalError", "500", "We encountered an internal error."])
            continue
        if "LambdaInvoke" in (job["Operation"] or {}):
            results.append(_invoke_task(job, bucket, row[1], index))
            succeeded, failed = succeeded + (results[-1][3] == "succeeded"), failed + (results[-1][3] == "failed")
            continue
        target = backend.get_object(bucket, key)
        if target is None:
            failed += 1
            results.append([bucket, row[1], "", "failed", "NoSuchKey", "404", "The specified key does not exist."])
            continue
        backend.put_object_tagging(target, dict(tags))  # the whole tag set is replaced, as in S3
        succeeded += 1
        results.append([bucket, row[1], "", "succeeded", "", "200", "Successful"])
    job["ProgressSummary"] = {"TotalNumberOfTasks": len(rows), "NumberOfTasksSucceeded": succeeded,
                              "NumberOfTasksFailed": failed}
    job["Status"] = "Failed" if stop_after is not None and failed else "Complete"
    if job["Status"] == "Failed":
        job["FailureReasons"] = [{"FailureCode": "InternalError", "FailureReason": f"job failed after {stop_after} tasks"}]
    job["TerminationDate"] = _now()
    _write_report(backend, job, results)


def _write_report(backend: Any, job: dict[str, Any], results: list[list[str]]) -> None:
    report = job.get("Report") or {}
    if str(report.get("Enabled", "")).lower() != "true":
        return
    if report.get("ReportScope") == "FailedTasksOnly":
        results = [row for row in results if row[3] == "failed"]
    bucket = str(report["Bucket"]).split(":::", 1)[1]
    prefix = f"{report.get('Prefix', '').rstrip('/')}/job-{job['JobId']}".lstrip("/")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(results)
    key = f"{prefix}/results/0.csv"
    backend.put_object(bucket, key, buffer.getvalue().encode())
    manifest = {"Format": "Report_CSV_20180820", "ReportCreationDate": _now().isoformat(),
                "Results": [{"TaskExecutionStatus": "failed" if report.get("ReportScope") == "FailedTasksOnly"
                             else "all", "Bucket": bucket, "Key": key}, ],
                "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"}
    backend.put_object(bucket, f"{prefix}/manifest.json", json.dumps(manifest).encode())
    job["ReportKey"] = key


def apply() -> None:
    from moto.iam import policy_validation

    reset()
    # an S3 Batch Operations job's ARN has a region (arn:aws:s3:<region>:<account>:job/<id>), as
    # an access point's does; moto's policy validator knows only the latter
    s3_arns = policy_validation.SERVICE_TYPE_REGION_INFORMATION_ERROR_ASSOCIATIONS["s3"]
    if "job/" not in s3_arns.setdefault("valid_starting_values", []):
        s3_arns["valid_starting_values"].append("job/")
    S3ControlResponse.create_job = _create_job  # type: ignore[attr-defined]
    S3ControlResponse.describe_job = _describe_job  # type: ignore[attr-defined]
    S3ControlResponse.update_job_status = _update_job_status  # type: ignore[attr-defined]
    urls.url_paths.setdefault(r"{0}/v20180820/jobs$", S3ControlResponse.dispatch)
    urls.url_paths.setdefault(r"{0}/v20180820/jobs/(?P<id>[^/]+)$", S3ControlResponse.dispatch)
    urls.url_paths.setdefault(r"{0}/v20180820/jobs/(?P<id>[^/]+)/status$", S3ControlResponse.dispatch)
    urls.url_paths.setdefault("/v20180820/jobs", S3ControlResponse.dispatch)
    urls.url_paths.setdefault("/v20180820/jobs/<id>", S3ControlResponse.dispatch)
    urls.url_paths.setdefault("/v20180820/jobs/<id>/status", S3ControlResponse.dispatch)
    _ = S3ControlBackend  # the backend keeps no job state: JOBS above is the store
