#!/usr/bin/env python3
"""Custos `command` database plugin: dynamic Kafka SASL/SCRAM users (kafka-configs.sh, kafka-acls.sh).

Custos runs this program once per action with one JSON object on stdin (docs/database.md,
"The command plugin"):

  {"action": "create"|"renew"|"revoke"|"rollback", "username": "...", "password": "...",
   "expiration": "...", "role": "CUSTOS_ROLE", "admin": {...}}

create adds a SCRAM-SHA-512 credential for the user and the ACLs mapped to the Custos role,
then prints {"password": "..."}: a password of its own (URL-safe characters), because Kafka's
config syntax (SCRAM-SHA-512=[iterations=N,password=...]) cannot carry every character of the
generated one (",", "]", "="). revoke and rollback remove the ACLs and the credential; a user
without a credential counts as revoked. renew does nothing: SCRAM credentials do not expire,
Custos revokes them when the lease ends.

The admin secret (JSON) of the connection:
  bootstrap     bootstrap servers, e.g. "kafka-1:9093"
  username, password   an admin SCRAM user (allowed to alter user SCRAM credentials and ACLs)
  security_protocol    default SASL_SSL; mechanism default SCRAM-SHA-512
  acls          {"<custos role>": [{"operation": "Read", "topic": "events"}, {"operation": "Read", "group": "etl"}]}

Secrets travel in files (mode 0600, removed afterwards), never on a command line: the admin
login in the --command-config properties file, the new credential in an --add-config-file.
"""
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile

NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MECHANISM = "SCRAM-SHA-512"
ITERATIONS = 8192


def fail(message, code=2):
    print(message, file=sys.stderr)  # Custos discards it; the exit code is what it records
    sys.exit(code)


def properties_value(text):
    """A value of a Java .properties line: backslash first, then what would end or fold the line."""
    return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            .replace("\t", "\\t").replace("\f", "\\f"))


def jaas_string(text):
    """A double-quoted JAAS option value."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def private_file(directory, name, text):
    path = os.path.join(directory, name)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(text)
    return path


def tool(name, arguments, capture=False):
    result = subprocess.run([name] + arguments, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"{name} exited with {result.returncode}", 1)
    return result.stdout if capture else None


def acl_arguments(entry, name):
    if not isinstance(entry, dict) or not isinstance(entry.get("operation"), str):
        fail("each ACL needs an operation and a topic or group")
    for kind in ("topic", "group"):
        if isinstance(entry.get(kind), str):
            return ["--allow-principal", f"User:{name}", "--operation", entry["operation"], f"--{kind}", entry[kind]]
    fail("each ACL needs an operation and a topic or group")


def main():
    request = json.load(sys.stdin)
    action, name, admin = request["action"], request["username"], request["admin"]
    if not NAME.match(name):
        fail("Kafka user names here are 1-128 characters of A-Za-z0-9._- (set the role's username template)")
    if not isinstance(admin, dict) or not admin.get("bootstrap") or not admin.get("username") or not admin.get("password"):
        fail("the admin secret must be JSON with bootstrap, username and password")
    acls = admin.get("acls", {}).get(request.get("role"), [])

    with tempfile.TemporaryDirectory(prefix="custos-kafka-") as work:
        jaas = (f"org.apache.kafka.common.security.scram.ScramLoginModule required "
                f"username={jaas_string(admin['username'])} password={jaas_string(admin['password'])};")
        client_config = private_file(work, "admin.properties", "".join([
            f"security.protocol={properties_value(admin.get('security_protocol', 'SASL_SSL'))}\n",
            f"sasl.mechanism={properties_value(admin.get('mechanism', MECHANISM))}\n",
            f"sasl.jaas.config={properties_value(jaas)}\n",
        ]))
        common = ["--bootstrap-server", admin["bootstrap"], "--command-config", client_config]
        user = ["--entity-type", "users", "--entity-name", name]

        if action == "create":
            password = secrets.token_urlsafe(32)
            credential = private_file(work, "credential.properties", f"{MECHANISM}=[iterations={ITERATIONS},password={password}]\n")
            tool("kafka-configs.sh", common + ["--alter", "--add-config-file", credential] + user)
            for entry in acls:
                tool("kafka-acls.sh", common + ["--add"] + acl_arguments(entry, name))
            json.dump({"password": password}, sys.stdout)
        elif action in ("revoke", "rollback"):
            for entry in acls:
                tool("kafka-acls.sh", common + ["--remove", "--force"] + acl_arguments(entry, name))
            described = tool("kafka-configs.sh", common + ["--describe"] + user, capture=True)
            if MECHANISM in described:  # deleting a credential that is not there is an error
                tool("kafka-configs.sh", common + ["--alter", "--delete-config", MECHANISM] + user)
        elif action != "renew":
            fail(f"unknown action {action!r}")


if __name__ == "__main__":
    main()
