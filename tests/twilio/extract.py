"""Extracts the vendored subsets of Twilio's OpenAPI descriptions (see README.md beside this file):
the paths callrec serves, with every schema they reach.

    cd tests/twilio
    python extract.py twilio_api_v2010.json > twilio_api_v2010_subset.json
    python extract.py twilio_accounts_v1.json > twilio_accounts_v1_subset.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PATHS = (
    # Accounts v1: the public keys of Voice Recording Encryption
    "/v1/Credentials/PublicKeys",
    "/v1/Credentials/PublicKeys/{Sid}",
    # 2010-04-01
    "/2010-04-01/Accounts/{AccountSid}/Calls.json",
    "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
    "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings.json",
    "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings/{Sid}.json",
    "/2010-04-01/Accounts/{AccountSid}/Recordings.json",
    "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json",
    "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json",
    "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
)
SOURCE = {
    "repo": "github:twilio/twilio-oai",
    "path": "spec/json/",  # + the file given
    "commit": "d50069b44ea8cd23141385bdb6db48f16ff75bb5",
    "tag": "2.6.7",
    "commit_date": "2026-04-14",
}


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def extract(spec: dict[str, Any], file_name: str) -> dict[str, Any]:
    paths = {path: spec["paths"][path] for path in PATHS if path in spec["paths"]}
    schemas = spec["components"]["schemas"]
    wanted: set[str] = set()
    todo = _refs(paths)
    while todo:
        name = todo.pop()
        if name not in wanted and name in schemas:
            wanted.add(name)
            todo |= _refs(schemas[name])
    return {
        "x-extracted-from": {**SOURCE, "path": SOURCE["path"] + file_name},
        "openapi": spec["openapi"],
        "info": spec["info"],
        "servers": spec["servers"],
        "paths": paths,
        "components": {
            "schemas": {name: schemas[name] for name in sorted(wanted)},
            "securitySchemes": spec["components"]["securitySchemes"],
        },
        "security": spec["security"],
    }


if __name__ == "__main__":
    with open(sys.argv[1]) as source:
        json.dump(extract(json.load(source), Path(sys.argv[1]).name), sys.stdout, indent=1)
        print()
