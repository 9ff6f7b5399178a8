#!/usr/bin/python3
"""boto3 (Debian's python3-boto3) against troupe's gateway, as code written
for EventBridge meets it: only the endpoint URL is troupe's. Run by
tests/integration/gateway_test.cpp with the access key in AWS_ACCESS_KEY_ID
and AWS_SECRET_ACCESS_KEY.

  boto3_put_events.py ENDPOINT batch
      One PutEvents call of ten BookingRequested entries, the fifth over
      256 KiB as EventBridge counts an entry: that one alone must fail with
      InvalidArgument, the other nine get event ids. Prints
      {"ids": [the nine ids], "date": the answer's Date header}.

  boto3_put_events.py ENDPOINT idempotent KEY
      The same booking put twice with X-Troupe-Idempotency-Key: KEY (added
      by an event hook, so that it is signed with the rest). Prints
      {"first": id, "second": id}.

Exits 1 with a message on stderr when an answer is not what EventBridge
would give.
"""
import json
import sys

import boto3
from botocore.config import Config

# EventBridge's limit on one entry, counted as its documentation counts it.
MAX_ENTRY = 256 * 1024
SOURCE, DETAIL_TYPE = "troupe.client", "BookingRequested"


def entry_size(entry):
    """An entry's size as EventBridge counts it: Source, DetailType,
    Detail and each Resource as UTF-8, and 14 bytes for a Time."""
    size = sum(len(entry.get(k, "").encode()) for k in ("Source", "DetailType", "Detail"))
    size += sum(len(r.encode()) for r in entry.get("Resources", []))
    return size + (14 if "Time" in entry else 0)


def booking(customer, email):
    detail = {"customer": customer, "email": email, "flight": "TR100", "seat_preference": "any",
              "amount": 199.5, "card": "4111111111111111"}
    return {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(detail)}


def fail(message):
    print("boto3_put_events.py: " + message, file=sys.stderr)
    sys.exit(1)


def client(endpoint):
    # One attempt: a retry would hide what the gateway answered first.
    return boto3.client("events", endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def batch(endpoint):
    entries = [booking("Boto %d" % i, "boto%d@example.com" % i) for i in range(9)]
    oversized = booking("Oversized", "oversized@example.com")
    detail = json.loads(oversized["Detail"])
    detail["note"] = "x" * MAX_ENTRY
    oversized["Detail"] = json.dumps(detail)
    if entry_size(oversized) <= MAX_ENTRY:
        fail("the oversized entry is only %d bytes" % entry_size(oversized))
    entries.insert(4, oversized)
    out = client(endpoint).put_events(Entries=entries)
    if out.get("FailedEntryCount") != 1 or len(out.get("Entries", [])) != 10:
        fail("expected FailedEntryCount 1 and 10 entries, got " + json.dumps(out, default=str)[:2000])
    refused = out["Entries"][4]
    if refused.get("ErrorCode") != "InvalidArgument" or "EventId" in refused:
        fail("the oversized entry got " + json.dumps(refused))
    ids = []
    for i, e in enumerate(out["Entries"]):
        if i == 4:
            continue
        if "ErrorCode" in e or len(e.get("EventId", "")) != 36:
            fail("entry %d got %s" % (i, json.dumps(e)))
        ids.append(e["EventId"])
    headers = out["ResponseMetadata"]["HTTPHeaders"]
    print(json.dumps({"ids": ids, "date": headers.get("date", "")}))


def idempotent(endpoint, key):
    events = client(endpoint)

    def add_key(request, **_):
        request.headers["X-Troupe-Idempotency-Key"] = key

    events.meta.events.register("before-sign.events.PutEvents", add_key)
    ids = []
    for _ in range(2):
        out = events.put_events(Entries=[booking("Ida Twice", "ida@example.com")])
        if out.get("FailedEntryCount") != 0:
            fail("the booking was refused: " + json.dumps(out, default=str))
        ids.append(out["Entries"][0]["EventId"])
    print(json.dumps({"first": ids[0], "second": ids[1]}))


def main(argv):
    if len(argv) == 3 and argv[2] == "batch":
        batch(argv[1])
    elif len(argv) == 4 and argv[2] == "idempotent":
        idempotent(argv[1], argv[3])
    else:
        fail("usage: boto3_put_events.py ENDPOINT batch | ENDPOINT idempotent KEY")


if __name__ == "__main__":
    main(sys.argv)
