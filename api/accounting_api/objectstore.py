"""The S3 bucket backups live in (boto3): streamed multipart uploads, listing, download.

Every S3 failure becomes a StorageError that names the bucket and what was being done,
never a credential. Uploads stream: a part is read, hashed and sent while the next is
read, so a dump is never held whole in memory or on disk; the SHA-256 covers the whole
object (S3's own multipart checksums are per part).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import boto3
import botocore.config
import botocore.exceptions

from accounting_api.domain.backups import BackupError

PART_BYTES = 32 * 1024 * 1024
"""Multipart part size: S3 allows 10,000 parts, so a dump may reach 312 GiB."""
PARTS_IN_FLIGHT = 4
"""Parts uploaded at once while pg_dump goes on writing the next."""
CHUNK_BYTES = 1024 * 1024


class StorageError(BackupError):
    """S3 refused or could not be reached."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int


@contextmanager
def _translated(doing: str, bucket: str) -> Iterator[None]:
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        raise StorageError(f"S3 {doing} in bucket {bucket!r} failed: {code} {message}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise StorageError(f"S3 {doing} in bucket {bucket!r} failed: {exc}") from None


class Bucket:
    """One bucket; credentials come from the environment (AWS_ACCESS_KEY_ID, ...)."""

    def __init__(
        self,
        name: str,
        *,
        endpoint: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.name = name
        config = botocore.config.Config(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            s3={"addressing_style": "path"} if endpoint else None,
        )
        self._s3: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )

    def check(self) -> None:
        """Fail now, with a clear error, if the bucket is missing or the keys are wrong."""
        with _translated("access check", self.name):
            try:
                self._s3.head_bucket(Bucket=self.name)
            except botocore.exceptions.ClientError as exc:
                # HEAD answers carry no error body: say what the status means.
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 404:
                    raise StorageError(f"bucket {self.name!r} does not exist") from None
                if status in {401, 403}:
                    raise StorageError(
                        f"access to bucket {self.name!r} was denied: check the access key "
                        "pair (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket's policy"
                    ) from None
                raise

    def create(self) -> None:
        """Create the bucket if it does not exist (local development and tests)."""
        with _translated("create", self.name):
            try:
                self._s3.create_bucket(Bucket=self.name)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in {
                    "BucketAlreadyOwnedByYou",
                    "BucketAlreadyExists",
                }:
                    raise

    def objects(self, prefix: str) -> list[StoredObject]:
        found: list[StoredObject] = []
        with _translated("list", self.name):
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=f"{prefix}/" if prefix else ""
            )
            for page in pages:
                found.extend(
                    StoredObject(o["Key"], int(o["Size"])) for o in page.get("Contents", [])
                )
        return found

    def put_json(self, key: str, data: Any) -> None:
        body = json.dumps(data, indent=2, sort_keys=True).encode()
        with _translated(f"write of {key}", self.name):
            self._s3.put_object(
                Bucket=self.name, Key=key, Body=body, ContentType="application/json"
            )

    def get_json(self, key: str) -> Any:
        with _translated(f"read of {key}", self.name):
            body = self._s3.get_object(Bucket=self.name, Key=key)["Body"]
            return json.loads(body.read())

    def delete(self, keys: list[str]) -> None:
        with _translated("delete", self.name):
            for start in range(0, len(keys), 1000):
                batch = [{"Key": k} for k in keys[start : start + 1000]]
                self._s3.delete_objects(Bucket=self.name, Delete={"Objects": batch, "Quiet": True})

    def abort_stale_uploads(self, prefix: str) -> list[str]:
        """Abort the multipart uploads left under prefix (by a run that was killed)."""
        aborted = []
        with _translated("listing of unfinished uploads", self.name):
            pages = self._s3.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.name, Prefix=f"{prefix}/" if prefix else ""
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    self._s3.abort_multipart_upload(
                        Bucket=self.name, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted.append(upload["Key"])
        return aborted

    def download(self, key: str, path: str) -> str:
        """Write the object to path; return the SHA-256 of what was written."""
        digest = hashlib.sha256()
        with _translated(f"download of {key}", self.name), open(path, "wb") as out:
            body = self._s3.get_object(Bucket=self.name, Key=key)["Body"]
            for chunk in iter(lambda: body.read(CHUNK_BYTES), b""):
                digest.update(chunk)
                out.write(chunk)
        return digest.hexdigest()

    def upload(
        self,
        key: str,
        stream: IO[bytes],
        *,
        commit: Callable[[], None],
        part_bytes: int = PART_BYTES,
    ) -> tuple[int, str]:
        """Stream to key as a multipart upload; return (bytes, SHA-256).

        commit() runs once the stream has ended and every part is stored: it raises if
        what was read must not become an object (pg_dump failed), and the upload is
        then aborted, as on any error: no partial object ever appears.
        """
        with _translated(f"upload of {key}", self.name):
            upload_id = self._s3.create_multipart_upload(Bucket=self.name, Key=key)["UploadId"]
            try:
                size, digest, parts = self._send_parts(key, upload_id, stream, part_bytes)
                commit()
                self._s3.complete_multipart_upload(
                    Bucket=self.name, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
            except BaseException:
                self._abort(key, upload_id)
                raise
        return size, digest

    def _abort(self, key: str, upload_id: str) -> None:
        # Best effort: if S3 is gone, the next run's abort_stale_uploads finishes it.
        with contextlib.suppress(
            botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError
        ):
            self._s3.abort_multipart_upload(Bucket=self.name, Key=key, UploadId=upload_id)

    def _send_parts(
        self, key: str, upload_id: str, stream: IO[bytes], part_bytes: int
    ) -> tuple[int, str, list[dict[str, Any]]]:
        digest, size = hashlib.sha256(), 0
        slots = threading.BoundedSemaphore(PARTS_IN_FLIGHT)
        futures: list[concurrent.futures.Future[dict[str, Any]]] = []

        def send(number: int, body: bytes) -> dict[str, Any]:
            try:
                answer = self._s3.upload_part(
                    Bucket=self.name, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
                return {"PartNumber": number, "ETag": answer["ETag"]}
            finally:
                slots.release()

        with concurrent.futures.ThreadPoolExecutor(PARTS_IN_FLIGHT) as pool:
            for number in range(1, 10_001):
                body = _read_part(stream, part_bytes)
                if not body and number > 1:
                    break
                digest.update(body)
                size += len(body)
                slots.acquire()
                futures.append(pool.submit(send, number, body))
                if any(f.done() and f.exception() for f in futures):
                    break
            else:
                raise StorageError(f"{key} would need more than 10,000 parts of {part_bytes} bytes")
            parts = [f.result() for f in futures]
        return size, digest.hexdigest(), parts


def _read_part(stream: IO[bytes], part_bytes: int) -> bytes:
    chunks, have = [], 0
    while have < part_bytes:
        chunk = stream.read(min(CHUNK_BYTES, part_bytes - have))
        if not chunk:
            break
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)
