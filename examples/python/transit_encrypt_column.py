#!/usr/bin/env python3
"""Encrypt (or decrypt) one column of a CSV file with Custos transit, in batches.

The pattern for a pipeline that must keep a sensitive column (emails, partner API keys, tokens)
in its own table without ever holding an encryption key: each batch of up to 10,000 values is one
request to POST /v1/transit/encrypt/KEY with `batch_input`; results come back in the same order,
and a value that fails does not fail its neighbours. The table stores `custos:v<N>:...` strings;
whoever may decrypt gets the values back with --decrypt. Rotate the key and the old rows still
decrypt; `transit rewrap` moves them to the new version without exposing them.

    export CUSTOS_ADDR=http://127.0.0.1:8420 CUSTOS_TOKEN=cst_...
    custos transit create prod/crm/email --type aes256-gcm96
    python3 transit_encrypt_column.py --key prod/crm/email --column email customers.csv customers.enc.csv
    python3 transit_encrypt_column.py --key prod/crm/email --column email --decrypt customers.enc.csv back.csv

Needs only `requests` (Debian: python3-requests). A Spark job does the same per partition
(`mapPartitions`), one request per batch.
"""
import argparse
import base64
import csv
import os
import sys

import requests

MAX_BATCH = 10_000


def transit_batch(session, address, operation, key, items):
    """One request for a whole batch; returns one result per item, in order."""
    response = session.post(f"{address}/v1/transit/{operation}/{key}", json={"batch_input": items}, timeout=120)
    if response.status_code != 200:
        error = response.json().get("error", {})
        raise SystemExit(f"error: {error.get('code', response.status_code)}: {error.get('message', response.text)}")
    return response.json()["batch_results"]


def process(rows, column, operation, session, address, key, batch_size, context):
    failures = 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        if operation == "encrypt":
            items = [{"plaintext": base64.b64encode(row[column].encode()).decode()} for row in chunk]
        else:
            items = [{"ciphertext": row[column]} for row in chunk]
        if context is not None:
            for item in items:
                item["context"] = base64.b64encode(context.encode()).decode()
        for row, result in zip(chunk, transit_batch(session, address, operation, key, items)):
            if "error" in result:
                failures += 1
                # Never print the value itself: only where it is and why it failed.
                print(f"row {rows.index(row) + 1}: {result['error']['code']}", file=sys.stderr)
                row[column] = ""
            elif operation == "encrypt":
                row[column] = result["ciphertext"]
            else:
                row[column] = base64.b64decode(result["plaintext"]).decode()
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--key", required=True, help="transit key name, e.g. prod/crm/email")
    parser.add_argument("--column", required=True, help="the column to encrypt or decrypt")
    parser.add_argument("--decrypt", action="store_true", help="decrypt the column instead")
    parser.add_argument("--batch-size", type=int, default=MAX_BATCH, help=f"values per request (at most {MAX_BATCH})")
    parser.add_argument("--context", help="context for a derived key (e.g. the tenant)")
    parser.add_argument("input")
    parser.add_argument("output")
    args = parser.parse_args()
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise SystemExit(f"--batch-size must be between 1 and {MAX_BATCH}")

    address = os.environ.get("CUSTOS_ADDR", "http://127.0.0.1:8420").rstrip("/")
    token = os.environ.get("CUSTOS_TOKEN")
    if not token:
        raise SystemExit("set CUSTOS_TOKEN")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    with open(args.input, newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        rows = list(reader)
    if args.column not in fields:
        raise SystemExit(f"no column {args.column!r} in {args.input}")

    failures = process(rows, args.column, "decrypt" if args.decrypt else "encrypt", session, address, args.key, args.batch_size, args.context)
    with open(args.output, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{'decrypted' if args.decrypt else 'encrypted'} {len(rows) - failures} of {len(rows)} values of {args.column!r}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
