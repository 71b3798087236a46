"""Clients that know nothing of Custos: boto3 reads AWSCURRENT, psycopg2 opens a fresh
PostgreSQL connection per query, and an authentication failure re-fetches once and retries.

Usage: awscurrent_pg_clients.py SECRET_ID CLIENTS
(endpoint and credentials from the usual AWS_* environment variables)

Prints "ready" once every client has run a query, runs until stdin closes, then prints one
JSON line: {"ok": N, "recovered": N, "failed": N, "errors": [...]}. Never prints a password.
"""
import json
import os
import sys
import threading

import boto3
import psycopg2

secret_id = sys.argv[1]
clients = int(sys.argv[2])
stop = threading.Event()
lock = threading.Lock()
counts = {"ok": 0, "recovered": 0, "failed": 0, "errors": []}
first_query = threading.Barrier(clients + 1)


def is_auth_failure(error):
    return getattr(error, "pgcode", None) == "28P01" or "password authentication failed" in str(error)


def fetch(sm):
    return json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])


def query(cred):
    conn = psycopg2.connect(host=cred["host"], port=cred["port"], dbname=cred["dbname"], user=cred["username"],
                            password=cred["password"], connect_timeout=20)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
    finally:
        conn.close()


def count(key, error=None):
    with lock:
        counts[key] += 1
        if error is not None and len(counts["errors"]) < 5:
            # The message names the user at most, never the password.
            counts["errors"].append(type(error).__name__ + ": " + str(error).strip().splitlines()[0][:200])


def client():
    # Passed explicitly: boto3 before 1.28 (Debian 12 ships 1.26) ignores AWS_ENDPOINT_URL.
    sm = boto3.session.Session().client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    waited = False
    while not stop.is_set():
        try:
            query(fetch(sm))
            count("ok")
        except psycopg2.OperationalError as error:
            if not is_auth_failure(error):
                count("failed", error)
            else:
                try:
                    query(fetch(sm))
                    count("recovered")
                except Exception as again:  # noqa: BLE001 - any second failure is a failed query
                    count("failed", again)
        except Exception as error:  # noqa: BLE001
            count("failed", error)
        if not waited:
            waited = True
            first_query.wait()


threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
for t in threads:
    t.start()
first_query.wait()
print("ready", flush=True)
sys.stdin.read()
stop.set()
for t in threads:
    t.join(timeout=60)
print(json.dumps(counts), flush=True)
