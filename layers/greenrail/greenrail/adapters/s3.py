"""Amazon S3 calls of the storage policy. No thresholds live here."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from greenrail.aws import client, error_code
from greenrail.permissions import calls

MAX_OBJECT_TAGS = 10  # S3 allows at most 10 tags per object


@calls("s3:GetObject")  # HeadObject is authorised as GetObject
def head_object(bucket: str, key: str) -> dict[str, Any]:
    return dict(client("s3").head_object(Bucket=bucket, Key=key))


@calls("s3:GetObjectTagging")
def object_tags(bucket: str, key: str) -> dict[str, str]:
    response = client("s3").get_object_tagging(Bucket=bucket, Key=key)
    return {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}


@calls("s3:PutObjectTagging")
def put_object_tag(bucket: str, key: str, tag_key: str, tag_value: str, existing: dict[str, str]) -> None:
    """Add or replace one tag, keeping the object's other tags (PutObjectTagging replaces the set)."""
    tags = dict(existing)
    tags[tag_key] = tag_value
    if len(tags) > MAX_OBJECT_TAGS:
        raise ValueError(f"s3://{bucket}/{key} already has {len(existing)} tags; S3 allows {MAX_OBJECT_TAGS}")
    client("s3").put_object_tagging(
        Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
    )


@calls("s3:GetBucketTagging")
def bucket_tags(bucket: str) -> dict[str, str]:
    try:
        response = client("s3").get_bucket_tagging(Bucket=bucket)
    except Exception as exc:
        if error_code(exc) in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        raise
    return {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}


@calls("s3:GetLifecycleConfiguration")  # GetBucketLifecycleConfiguration
def lifecycle_rules(bucket: str) -> list[dict[str, Any]]:
    try:
        response = client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)
    except Exception as exc:
        if error_code(exc) == "NoSuchLifecycleConfiguration":
            return []
        raise
    return list(response.get("Rules", []))


@calls("s3:PutLifecycleConfiguration")  # PutBucketLifecycleConfiguration
def put_lifecycle_rules(bucket: str, rules: list[dict[str, Any]]) -> None:
    client("s3").put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


@calls("s3:ListAllMyBuckets")  # ListBuckets
def bucket_names() -> list[str]:
    return [bucket["Name"] for bucket in client("s3").list_buckets().get("Buckets", [])]


@calls("s3:ListBucket")  # ListObjectsV2
def list_objects(bucket: str) -> Iterator[dict[str, Any]]:
    """Every object of the bucket (ListObjectsV2 pages of 1,000: size, ETag and class included)."""
    paginator = client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 1000}):
        yield from page.get("Contents", [])


@calls("s3:PutObject", central=True)  # manifests are written in Greenrail's own account
def write_manifest(bucket: str, key: str, objects: list[tuple[str, str]]) -> str:
    """Write an S3 Batch Operations CSV manifest (bucket,key); returns its ETag."""
    from urllib.parse import quote

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for object_bucket, object_key in objects:
        writer.writerow([object_bucket, quote(object_key, safe="/")])  # keys are URL-encoded
    response = client("s3").put_object(Bucket=bucket, Key=key, Body=buffer.getvalue().encode())
    return str(response["ETag"]).strip('"')


@calls("s3:CreateJob", "iam:PassRole")  # through create_tagging_job and create_merge_job
def _create_job(account: str, operation: dict[str, Any], manifest_bucket: str, manifest_key: str, manifest_etag: str,
                role_arn: str, report_prefix: str, token: str, confirm: bool, description: str) -> str:
    """CreateJob over a ``Bucket,Key`` CSV manifest, its report (failed tasks only) beside it."""
    response = client("s3control").create_job(
        AccountId=account,
        ConfirmationRequired=confirm,
        Operation=operation,
        Manifest={
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
            "Location": {"ObjectArn": f"arn:aws:s3:::{manifest_bucket}/{manifest_key}", "ETag": manifest_etag},
        },
        Report={
            "Bucket": f"arn:aws:s3:::{manifest_bucket}", "Prefix": report_prefix, "Format": "Report_CSV_20180820",
            "Enabled": True, "ReportScope": "FailedTasksOnly",
        },
        ClientRequestToken=token,
        Priority=10,
        RoleArn=role_arn,
        Description=description[:256],
    )
    return str(response["JobId"])


@calls("s3:CreateJob", "iam:PassRole")  # in the bucket's account; CreateJob passes its Batch role
def create_tagging_job(account: str, manifest_bucket: str, manifest_key: str, manifest_etag: str,
                       tag_key: str, tag_value: str, role_arn: str, report_prefix: str, token: str,
                       confirm: bool = True) -> str:
    """Create an S3 Batch Operations PutObjectTagging job; with ``confirm`` it waits for
    confirmation before running, else it runs at once."""
    operation = {"S3PutObjectTagging": {"TagSet": [{"Key": tag_key, "Value": tag_value}]}}
    return _create_job(account, operation, manifest_bucket, manifest_key, manifest_etag, role_arn, report_prefix,
                       token, confirm, f"Greenrail storage policy: tag {tag_key}={tag_value}")


@calls("s3:CreateJob", "iam:PassRole")  # in the bucket's account; CreateJob passes its Batch role
def create_merge_job(account: str, manifest_bucket: str, manifest_key: str, manifest_etag: str, function_arn: str,
                     tag_key: str, tag_value: str, role_arn: str, report_prefix: str, token: str,
                     confirm: bool = True) -> str:
    """Create an S3 Batch Operations ``LambdaInvoke`` job (invocation schema 2.0) that runs the
    tag-merge function on every object of the manifest: each object's tags are read when its task
    runs and kept (``greenrail.flows.tag_merge``). The completion report names the failed tasks."""
    operation = {"LambdaInvoke": {"FunctionArn": function_arn, "InvocationSchemaVersion": "2.0",
                                  "UserArguments": {"tagKey": tag_key, "storageClass": tag_value, "account": account}}}
    return _create_job(account, operation, manifest_bucket, manifest_key, manifest_etag, role_arn, report_prefix,
                       token, confirm, f"Greenrail storage policy: merge tag {tag_key}={tag_value}")


@calls("s3:DescribeJob")
def find_job(account: str, job_id: str) -> dict[str, Any] | None:
    """The Batch Operations job ``job_id`` of ``account`` (DescribeJob's ``Job``), or None when the
    account holds no such job (NotFoundException, 404)."""
    try:
        return dict(client("s3control").describe_job(AccountId=account, JobId=job_id)["Job"])
    except Exception as exc:
        if error_code(exc) in ("NotFoundException", "NoSuchJob", "404", "NotFound"):
            return None
        raise


# ---------------------------------------------------------------- the storage policy's S3 Inventory path
@calls("s3:GetInventoryConfiguration")  # ListBucketInventoryConfigurations, in the bucket's account
def inventory_configurations(bucket: str) -> list[dict[str, Any]]:
    """The bucket's inventory configurations (every page)."""
    s3, found, token = client("s3"), [], None
    while True:
        response = s3.list_bucket_inventory_configurations(Bucket=bucket, **({"ContinuationToken": token} if token else {}))
        found += list(response.get("InventoryConfigurationList", []))
        token = response.get("NextContinuationToken")
        if not response.get("IsTruncated") or not token:
            return found


@calls("s3:PutInventoryConfiguration")  # in the bucket's account, delivered to the manifest bucket
def put_inventory_configuration(bucket: str, configuration: dict[str, Any]) -> None:
    client("s3").put_bucket_inventory_configuration(
        Bucket=bucket, Id=configuration["Id"], InventoryConfiguration=configuration)


@calls("s3:ListBucket", central=True)  # ListObjectsV2 of the inventory's destination bucket
def inventory_runs(bucket: str, prefix: str) -> list[str]:
    """The sub-folders under ``prefix`` (an inventory's ``YYYY-MM-DDTHH-MMZ/`` runs, ``data/``, ``hive/``)."""
    paginator = client("s3").get_paginator("list_objects_v2")
    found: list[str] = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        found += [str(p["Prefix"]) for p in page.get("CommonPrefixes", [])]
    return found


@calls("s3:GetObject", central=True)  # manifests, result files and fragments in Greenrail's account
def read_object(bucket: str, key: str) -> bytes:
    return bytes(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


@calls("s3:GetObject", central=True)  # HeadObject is authorised as GetObject
def object_size(bucket: str, key: str) -> int | None:
    """The object's size, or None when it is gone (404; 403 to a role without s3:ListBucket on
    the bucket, as S3 answers then: a file the caller cannot read is as good as gone)."""
    try:
        return int(client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"])
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied", "Forbidden"):
            return None
        raise


@calls("s3:GetObject", central=True)  # a ranged GET: the request HEAD would cost
def object_start(bucket: str, key: str, length: int) -> bytes | None:
    """The object's first ``length`` bytes, or None when it is gone (404, or 403 as for object_size)."""
    try:
        return bytes(client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{length - 1}")["Body"].read())
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied", "Forbidden"):
            return None
        raise


@calls("s3:PutObject", central=True)  # Greenrail's own files in the manifest bucket
def write_object(bucket: str, key: str, body: bytes) -> str:
    """Write an object; returns its ETag."""
    return str(client("s3").put_object(Bucket=bucket, Key=key, Body=body)["ETag"]).strip('"')


# ---------------------------------------------------------------- the training policy's data locality
@calls("s3:GetBucketLocation")
def bucket_region(bucket: str) -> str:
    """The bucket's region (GetBucketLocation answers no constraint for us-east-1, ``EU`` for eu-west-1)."""
    constraint = client("s3").get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, str(constraint))


@calls("s3:ListBucket")  # ListObjectsV2
def prefix_size(bucket: str, prefix: str, max_objects: int) -> tuple[int, int, bool]:
    """(bytes, objects, truncated) under the prefix, listing at most ``max_objects`` objects."""
    paginator = client("s3").get_paginator("list_objects_v2")
    size = count = 0
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 1000}):
        for item in page.get("Contents", []):
            if count >= max_objects:
                return size, count, True
            size += int(item.get("Size", 0))
            count += 1
    return size, count, False
