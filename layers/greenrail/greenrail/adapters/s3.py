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


@calls("s3:CreateJob", "iam:PassRole", central=True)  # S3 Control CreateJob passes the Batch role
def create_tagging_job(account: str, manifest_bucket: str, manifest_key: str, manifest_etag: str,
                       tag_key: str, tag_value: str, role_arn: str, report_prefix: str, token: str) -> str:
    """Prepare an S3 Batch Operations PutObjectTagging job; it waits for confirmation before running."""
    response = client("s3control").create_job(
        AccountId=account,
        ConfirmationRequired=True,
        Operation={"S3PutObjectTagging": {"TagSet": [{"Key": tag_key, "Value": tag_value}]}},
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
        Description=f"Greenrail storage policy: tag {tag_key}={tag_value}",
    )
    return str(response["JobId"])
