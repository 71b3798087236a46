#!/usr/bin/env python3
"""A small secrets client with a TTL cache, written against AWS Secrets Manager with boto3.

It runs unchanged against AWS or Custos: only the endpoint and the credentials differ, and
both come from the environment:

    AWS_ENDPOINT_URL        e.g. http://127.0.0.1:8420 (unset: real AWS)
    AWS_ACCESS_KEY_ID       from `custos aws-key create` (or `test` against `custos server --dev`)
    AWS_SECRET_ACCESS_KEY
    AWS_DEFAULT_REGION      e.g. us-east-1

Run it as a script to see the cache at work: python3 custos_secrets_client.py [new-secret-name]
The demo writes only to a secret it creates itself (a fresh name unless you give one), refuses
a name that already exists, and deletes its secret when done: it never touches your data.
"""
import json
import os
import sys
import threading
import time
import uuid

import boto3
from botocore.exceptions import ClientError


class CachedSecretsClient:
    """Reads secrets through GetSecretValue and keeps each (id, stage) for `ttl_seconds`."""

    def __init__(self, ttl_seconds=300.0, client=None, clock=time.monotonic):
        self.ttl_seconds = ttl_seconds
        self.client = client or boto3.client(
            "secretsmanager",
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
            region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
        self._clock = clock
        self._cache = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def get_secret_string(self, secret_id, version_stage="AWSCURRENT"):
        key = (secret_id, version_stage)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl_seconds:
                return hit[1]
        response = self.client.get_secret_value(SecretId=secret_id, VersionStage=version_stage)
        self.fetches += 1
        value = response.get("SecretString")
        if value is None:
            value = response["SecretBinary"]
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def get_secret_json(self, secret_id, version_stage="AWSCURRENT"):
        value = self.get_secret_string(secret_id, version_stage)
        try:
            return json.loads(value)
        except (TypeError, ValueError):
            raise ValueError(f"secret {secret_id} ({version_stage}) is not JSON; read it with get_secret_string") from None

    def invalidate(self, secret_id=None):
        with self._lock:
            if secret_id is None:
                self._cache.clear()
            else:
                for key in [k for k in self._cache if k[0] == secret_id]:
                    del self._cache[key]


def create_own_secret(client, name, value):
    """Creates the demo's secret; an existing one is refused (exit 2), never overwritten."""
    try:
        client.create_secret(Name=name, SecretString=value)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceExistsException":
            raise
        print(f"refusing to run: secret {name} already exists and this demo would overwrite it; pass a new name", file=sys.stderr)
        sys.exit(2)


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else f"examples/warehouse-db-{uuid.uuid4().hex[:8]}"
    secrets = CachedSecretsClient(ttl_seconds=60)
    client = secrets.client
    create_own_secret(client, name, json.dumps({"username": "etl", "password": "first"}))
    try:
        run_demo(secrets, client, name)
    finally:
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def run_demo(secrets, client, name):
    first = secrets.get_secret_json(name)
    second = secrets.get_secret_json(name)
    print(f"read twice, fetched {secrets.fetches} time(s); username={first['username']}")
    assert first == second and secrets.fetches == 1, "the second read must come from the cache"

    client.put_secret_value(SecretId=name, SecretString=json.dumps({"username": "etl", "password": "second"}))
    stale = secrets.get_secret_json(name)
    assert stale["password"] == first["password"], "within the TTL the cached value is served"
    secrets.invalidate(name)
    fresh = secrets.get_secret_json(name)
    assert fresh["password"] == "second", "after invalidation the new AWSCURRENT is read"
    print(f"after invalidate: fetched {secrets.fetches} time(s), new value seen")
    try:
        secrets.get_secret_string(name + "-missing")
        raise AssertionError("expected ResourceNotFoundException")
    except ClientError as error:
        print(f"missing secret -> {error.response['Error']['Code']}")
    print("OK")


if __name__ == "__main__":
    main()
