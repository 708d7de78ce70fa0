"""JSON values kept inline when small and in S3, under the tenant's prefix, when large."""

from __future__ import annotations

import json
import uuid
from typing import Any

S3_SCHEME = "s3://"


def tenant_key(tenant_id: uuid.UUID, *parts: str) -> str:
    """Every object of a tenant lives under `tenants/<tenant id>/`."""
    return "/".join(["tenants", str(tenant_id), *parts])


class BlobStore:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def put_json(self, key: str, value: Any) -> str:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=json.dumps(value).encode(),
            ContentType="application/json",
            ServerSideEncryption="aws:kms",
        )
        return f"{S3_SCHEME}{self._bucket}/{key}"

    def inline_or_stored(self, inline: Any, ref: str | None) -> Any:
        """A value kept inline when small, else read from its S3 reference."""
        if inline is not None:
            return inline
        if ref is None:
            raise ValueError("neither an inline value nor a reference")
        return self.get_json(ref)

    def replace_json(self, ref: str, value: Any) -> None:
        """Overwrite the object `ref` names and delete its earlier versions (the bucket is
        versioned): what it held before must not stay readable."""
        key = self.key_of(ref)
        current = self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=json.dumps(value).encode(),
            ContentType="application/json",
            ServerSideEncryption="aws:kms",
        ).get("VersionId")
        if current is None:
            return  # an unversioned bucket keeps no earlier version
        listed = self._s3.list_object_versions(Bucket=self._bucket, Prefix=key)
        for version in (*listed.get("Versions", ()), *listed.get("DeleteMarkers", ())):
            if version["Key"] == key and version["VersionId"] != current:
                self._s3.delete_object(Bucket=self._bucket, Key=key, VersionId=version["VersionId"])

    def key_of(self, ref: str) -> str:
        """The object key of a reference to this store's bucket."""
        bucket, key = _split(ref)
        if bucket != self._bucket:
            raise ValueError(f"{ref!r} is not in bucket {self._bucket!r}")
        return key

    def get_json(self, ref: str) -> Any:
        bucket, key = _split(ref)
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return json.loads(body)


def _split(ref: str) -> tuple[str, str]:
    if not ref.startswith(S3_SCHEME):
        raise ValueError(f"not an S3 reference: {ref!r}")
    bucket, _, key = ref[len(S3_SCHEME) :].partition("/")
    return bucket, key
