"""Extracts the vendored subset of Twilio's OpenAPI description (see README.md beside this file):
the paths callrec serves, with every schema they reach.

    python tests/twilio/extract.py twilio_api_v2010.json > tests/twilio/twilio_api_v2010_subset.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

PATHS = (
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
    "path": "spec/json/twilio_api_v2010.json",
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


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    paths = {path: spec["paths"][path] for path in PATHS}
    schemas = spec["components"]["schemas"]
    wanted: set[str] = set()
    todo = _refs(paths)
    while todo:
        name = todo.pop()
        if name not in wanted and name in schemas:
            wanted.add(name)
            todo |= _refs(schemas[name])
    return {
        "x-extracted-from": SOURCE,
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
        json.dump(extract(json.load(source)), sys.stdout, indent=1)
        print()
