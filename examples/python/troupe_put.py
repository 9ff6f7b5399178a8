#!/usr/bin/python3
"""Puts an event on a troupe node, or asks for its status, over the node's
control socket: a client written from docs/PROTOCOL.md alone, with Debian's
python3-zmq and python3-msgpack.

    examples/python/troupe_put.py --endpoint tcp://127.0.0.1:7102 \\
        --server-key data/keys/flight/booking.pub --client-key data/keys/flight/shop.key \\
        put --source troupe.client --detail-type BookingRequested \\
        --detail '{"customer": "Ada Lovelace", "email": "ada@example.com", "flight": "TR100",
                   "seat_preference": "window", "amount": 249.90, "card": "4111111111111111"}'

    examples/python/troupe_put.py --endpoint tcp://127.0.0.1:7102 \\
        --server-key data/keys/flight/booking.pub --client-key data/keys/flight/ops.key status

--server-key is the node's public key file, --client-key the secret key file
of a client the config lists under `clients:` (both as `troupe keygen`
writes them); without them it speaks to an open cluster. Prints the event id
(or the status, JSON) and exits 0. Otherwise it says why on stderr and exits
1 when the node refused the entry (its ErrorCode), 2 on bad arguments or key
files, 3 when the node refused the request, 4 when no reply came (or the
node refused this client's key).
"""
import argparse
import json
import sys
import uuid

import msgpack
import zmq

VERSION = 1  # the control protocol's version (PROTOCOL.md, "Versioning")
ENTRY_REFUSED, USAGE, REQUEST_REFUSED, NO_REPLY = 1, 2, 3, 4  # exit codes (argparse's is 2 too)


class NoReply(Exception):
    def __init__(self, why, key_refused=False):
        super().__init__(why)
        self.key_refused = key_refused


def fail(code, why):
    print(f"troupe_put: {why}", file=sys.stderr)
    sys.exit(code)


def read_key(path):
    """The key in a file `troupe keygen` wrote: 40 characters of Z85 on its first line."""
    try:
        with open(path, "rb") as f:
            key = f.readline().strip()
    except OSError as e:
        fail(USAGE, f"cannot read {path}: {e.strerror}")
    if len(key) != 40:
        fail(USAGE, f"{path} does not hold a CurveZMQ key (40 characters of Z85)")
    return key


def call_once(args, body):
    """One request on a fresh DEALER, which is closed afterwards: a late reply
    to a request that timed out can never be taken for another's."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    if args.server_key:
        sock.curve_serverkey = read_key(args.server_key)
        secret = read_key(args.client_key)
        sock.curve_secretkey = secret
        sock.curve_publickey = zmq.curve_public(secret)
    # The node's only answer to a key it does not know is a failed handshake.
    monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    try:
        sock.connect(args.endpoint)
        sock.send_multipart([b"", body])  # an empty delimiter frame, then the request
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        ready = dict(poller.poll(args.timeout * 1000))
        if sock in ready:
            _, reply = sock.recv_multipart()
            return msgpack.unpackb(reply)
        if monitor in ready:
            raise NoReply(f"{args.endpoint} refused this client's key: the cluster's config does not list it", True)
        raise NoReply(f"no reply from {args.endpoint} within {args.timeout} s")
    finally:
        sock.disable_monitor()
        monitor.close()
        sock.close()


def call(args, request):
    """Sends `request` until a reply comes, `--attempts` times at most; its
    body, or exits. Resending is safe for a put whose entries carry
    idempotency keys: the node answers a key it has seen with the same id."""
    body = msgpack.packb(request)
    for attempt in range(1, args.attempts + 1):
        try:
            version, head, reply = call_once(args, body)
            break
        except NoReply as e:
            if e.key_refused or attempt == args.attempts:
                fail(NO_REPLY, e)
            print(f"troupe_put: {e}; sending it again", file=sys.stderr)
    if version != VERSION or head != "ok":
        fail(REQUEST_REFUSED, f"the node refused the request: {reply}")
    return reply


def put(args):
    try:
        detail = json.loads(args.detail)
    except ValueError as e:
        fail(USAGE, f"--detail is not JSON: {e}")
    if not isinstance(detail, dict):
        fail(USAGE, "--detail must be a JSON object")
    # [source, detail-type, detail (a map), correlation-id, resources, idempotency-key]
    entry = [args.source, args.detail_type, detail, args.correlation_id, args.resource,
             args.idempotency_key or str(uuid.uuid4())]
    request = [VERSION, "put", [entry]]
    if args.dry_run:
        print(msgpack.packb(request).hex(" "))
        return 0
    [[event_id, error_code, error_message]] = call(args, request)
    if error_code:
        fail(ENTRY_REFUSED, f"{error_code}: {error_message}")
    print(event_id)
    return 0


def status(args):
    print(call(args, [VERSION, "status"]))  # JSON text
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True, help="the node's control endpoint, e.g. tcp://127.0.0.1:7102")
    p.add_argument("--server-key", help="the node's public key file (NAME.pub)")
    p.add_argument("--client-key", help="this client's secret key file (NAME.key)")
    p.add_argument("--timeout", type=float, default=5, help="seconds to wait for each reply (default 5)")
    p.add_argument("--attempts", type=int, default=3, help="sends before giving up (default 3)")
    verbs = p.add_subparsers(dest="verb", required=True)
    pv = verbs.add_parser("put", help="put one event")
    pv.add_argument("--source", required=True)
    pv.add_argument("--detail-type", required=True)
    pv.add_argument("--detail", required=True, help="a JSON object")
    pv.add_argument("--correlation-id", default="", help="the saga it belongs to (default: its own id)")
    pv.add_argument("--resource", action="append", default=[], help="may be repeated")
    pv.add_argument("--idempotency-key", help="default: a fresh UUID, kept across this run's attempts")
    pv.add_argument("--dry-run", action="store_true", help="print the request's bytes (hex), send nothing")
    verbs.add_parser("status", help="the node's counters, JSON")
    args = p.parse_args()
    if bool(args.server_key) != bool(args.client_key):
        p.error("--server-key and --client-key go together (neither: an open cluster)")
    return put(args) if args.verb == "put" else status(args)


if __name__ == "__main__":
    sys.exit(main())
