#!/usr/bin/env python3
"""Custos `command` database plugin: dynamic Snowflake users with key-pair authentication.

Custos runs this program once per action with one JSON object on stdin (docs/database.md,
"The command plugin"):

  {"action": "create"|"renew"|"revoke"|"rollback", "username": "...", "password": "...",
   "expiration": "2026-12-05T16:00:00.000Z", "role": "CUSTOS_ROLE", "admin": {...}}

On create it makes an RSA key pair, creates a SERVICE user holding the public key
(CREATE USER ... RSA_PUBLIC_KEY = '...'), grants it the Snowflake role mapped to the Custos
role, and prints {"password": "<PEM private key>"}: that private key is the credential the job
receives (the generated password is not used; SERVICE users cannot have one). revoke and
rollback run DROP USER IF EXISTS, so a user already gone counts as revoked. renew moves the
user's DAYS_TO_EXPIRY, a backstop in case a lease were ever lost.

The admin secret (JSON) of the connection:
  account       Snowflake account identifier, e.g. "myorg-myaccount"
  user          the administering user (needs CREATE USER and the roles it grants; USERADMIN)
  admin_role    role snowsql uses (default USERADMIN)
  private_key   PEM private key of `user` (or `password`, passed in SNOWSQL_PWD)
  private_key_passphrase   optional
  roles         {"<custos role>": "<snowflake role>"}; a Custos role not listed is refused

Statements go to snowsql in a file (mode 0600, removed afterwards), never on its command line;
names are quoted as identifiers ("" doubled) and text as string literals (\\ and '' escaped).
"""
import json
import math
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone


def fail(message, code=2):
    # stderr is discarded by Custos; the exit code is what it records.
    print(message, file=sys.stderr)
    sys.exit(code)


def ident(name):
    return '"' + name.replace('"', '""') + '"'


def literal(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def days_until(expiration):
    end = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    seconds = (end - datetime.now(timezone.utc)).total_seconds()
    return max(1, math.ceil(seconds / 86400))


def new_key_pair():
    """(PEM private key, base64 DER public key) from the openssl command line tool."""
    private_pem = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        check=True, capture_output=True, text=True).stdout
    public_pem = subprocess.run(["openssl", "pkey", "-pubout"], input=private_pem,
                                check=True, capture_output=True, text=True).stdout
    body = "".join(line for line in public_pem.splitlines() if not line.startswith("-----"))
    return private_pem, body


def private_file(directory, name, text):
    path = os.path.join(directory, name)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(text)
    return path


def run_snowsql(admin, statements):
    with tempfile.TemporaryDirectory(prefix="custos-snowflake-") as work:
        sql_file = private_file(work, "statements.sql", "".join(s + ";\n" for s in statements))
        command = ["snowsql", "-a", admin["account"], "-u", admin["user"], "-r", admin.get("admin_role", "USERADMIN"),
                   "-o", "exit_on_error=true", "-o", "friendly=false", "-o", "quiet=true", "-f", sql_file]
        env = dict(os.environ)
        if admin.get("private_key"):
            command += ["--private-key-path", private_file(work, "admin.p8", admin["private_key"])]
            if admin.get("private_key_passphrase"):
                env["PRIVATE_KEY_PASSPHRASE"] = admin["private_key_passphrase"]
        elif admin.get("password"):
            env["SNOWSQL_PWD"] = admin["password"]
        else:
            fail("the admin secret needs private_key or password")
        result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if result.returncode != 0:
            fail(f"snowsql exited with {result.returncode}", 1)


def main():
    request = json.load(sys.stdin)
    action, name, admin = request["action"], request["username"], request["admin"]
    if not isinstance(admin, dict) or not admin.get("account") or not admin.get("user"):
        fail("the admin secret must be JSON with account and user")

    if action == "create":
        snowflake_role = admin.get("roles", {}).get(request.get("role"))
        if not snowflake_role:
            fail(f"no Snowflake role is mapped to the Custos role {request.get('role')!r} (admin secret: roles)")
        private_pem, public_key = new_key_pair()
        run_snowsql(admin, [
            f"CREATE USER {ident(name)} TYPE = SERVICE RSA_PUBLIC_KEY = {literal(public_key)} "
            f"DEFAULT_ROLE = {ident(snowflake_role)} DAYS_TO_EXPIRY = {days_until(request['expiration'])} "
            f"COMMENT = {literal('Custos dynamic user, lease until ' + request['expiration'])}",
            f"GRANT ROLE {ident(snowflake_role)} TO USER {ident(name)}",
        ])
        json.dump({"password": private_pem}, sys.stdout)
    elif action == "renew":
        run_snowsql(admin, [f"ALTER USER IF EXISTS {ident(name)} SET DAYS_TO_EXPIRY = {days_until(request['expiration'])}"])
    elif action in ("revoke", "rollback"):
        run_snowsql(admin, [f"DROP USER IF EXISTS {ident(name)}"])
    else:
        fail(f"unknown action {action!r}")


if __name__ == "__main__":
    main()
