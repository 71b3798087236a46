#!/usr/bin/env python3
"""The staging-label rotation flow data engineers run against local emulators, with boto3.

1. write a new value as AWSPENDING (PutSecretValue with VersionStages)
2. promote it with UpdateSecretVersionStage (AWSCURRENT moves, the old version becomes AWSPREVIOUS)
3. read the new AWSCURRENT with a plain GetSecretValue
4. finish by removing AWSPENDING, as a rotation Lambda's finishSecret step does

Parameterised only by the environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION). Exits non-zero if any step misbehaves. It rotates
only a secret it creates itself (a fresh name unless you give one), refuses a name that
already exists (exit 2) and deletes its secret when done.
"""
import json
import os
import sys
import uuid

import boto3
from botocore.exceptions import ClientError


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else f"examples/rotating-db-{uuid.uuid4().hex[:8]}"
    sm = boto3.client(
        "secretsmanager",
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    try:
        sm.create_secret(Name=name, SecretString=json.dumps({"username": "app", "password": "initial-password"}))
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceExistsException":
            raise
        print(f"refusing to run: secret {name} already exists and this walkthrough would rotate it; pass a new name", file=sys.stderr)
        sys.exit(2)
    try:
        walk(sm, name)
    finally:
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def walk(sm, name):
    old = sm.get_secret_value(SecretId=name)
    print(f"current version {old['VersionId']} stages={old['VersionStages']}")

    new_password = sm.get_random_password(PasswordLength=24, ExcludePunctuation=True)["RandomPassword"]
    token = str(uuid.uuid4())
    pending = sm.put_secret_value(
        SecretId=name, ClientRequestToken=token, VersionStages=["AWSPENDING"],
        SecretString=json.dumps({"username": "app", "password": new_password}),
    )
    assert pending["VersionId"] == token and pending["VersionStages"] == ["AWSPENDING"], pending
    assert sm.get_secret_value(SecretId=name)["VersionId"] == old["VersionId"], "AWSCURRENT must not move yet"
    print(f"wrote AWSPENDING version {token}")

    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=old["VersionId"])
    current = sm.get_secret_value(SecretId=name)
    assert current["VersionId"] == token, f"plain GetSecretValue returned {current['VersionId']}, not the promoted {token}"
    assert json.loads(current["SecretString"])["password"] == new_password
    assert sorted(current["VersionStages"]) == ["AWSCURRENT", "AWSPENDING"], current["VersionStages"]
    previous = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
    assert previous["VersionId"] == old["VersionId"]
    print(f"promoted: AWSCURRENT={current['VersionId']} AWSPREVIOUS={previous['VersionId']}")

    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSPENDING", RemoveFromVersionId=token)
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert stages[token] == ["AWSCURRENT"] and stages[old["VersionId"]] == ["AWSPREVIOUS"], stages
    print("finished: AWSPENDING removed")
    print("OK")


if __name__ == "__main__":
    main()
