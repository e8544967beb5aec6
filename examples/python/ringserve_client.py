#!/usr/bin/env python3
"""ringserve_client.py: a small ringserve client in Python, written from docs/PROTOCOL.md.

It speaks the ringserve wire protocol (RSP version 1) over one ZeroMQ DEALER socket,
using only Debian's python3-zmq and python3-msgpack. Like `ringserve ... --json`, it
prints one JSON object per line: a line per streamed token
    {"job": ID, "seq": N, "token": ID, "text": PIECE}
and then the job's final record
    {"job", "state", "model", "worker", "device", "attempt", "usage": {...}, "error", ...}

Usage (the broker endpoint: --broker, else $RINGSERVE_BROKER, else ./var/endpoint):
    ringserve_client.py submit "Hello" --stream [--max-tokens N] [--temperature T] [--seed S]
    ringserve_client.py stream JOB [--from SEQ]
    ringserve_client.py status JOB
    ringserve_client.py cancel JOB
    ringserve_client.py workers
    ringserve_client.py ping
"""

import argparse
import json
import os
import sys
import time

import msgpack
import zmq

# ---- frames (PROTOCOL.md "Transport and frames") ---------------------------------------
HEADER = b"RSP\x01"  # magic "RSP" + protocol version 1

# Command codes (PROTOCOL.md "Commands"): client -> broker ...
SUBMIT, CANCEL, SUBSCRIBE, STATUS, WORKERS, PING = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
# ... and broker -> client.
ACCEPTED, REJECTED, TOKENS, DONE = 0x11, 0x12, 0x13, 0x14
STATUS_REPLY, WORKERS_REPLY, ERROR, PONG = 0x15, 0x16, 0x17, 0x18

COMMAND_NAMES = {
    ACCEPTED: "ACCEPTED", REJECTED: "REJECTED", TOKENS: "TOKENS", DONE: "DONE",
    STATUS_REPLY: "STATUS_REPLY", WORKERS_REPLY: "WORKERS_REPLY", ERROR: "ERROR", PONG: "PONG",
}


class BrokerError(Exception):
    """A typed error from the broker (REJECTED or ERROR), or 'unavailable' on a timeout."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


def text_of(value):
    """Token text and other strings are bytes on the wire and may be partial UTF-8."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):  # may carry surrogate escapes (see decode_body)
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def decode_body(body):
    # str values are not guaranteed to be valid UTF-8 (a token piece may split a
    # character): keep the bytes with surrogateescape instead of failing.
    return msgpack.unpackb(body, raw=False, unicode_errors="surrogateescape")


class Broker:
    """One DEALER connection to the broker's client endpoint (one thread)."""

    def __init__(self, endpoint, timeout_ms=5000):
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RECONNECT_IVL, 100)
        self.socket.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        self.socket.connect(endpoint)
        self.next_request_id = 1
        self.pending = []  # TOKENS / DONE received while waiting for a reply

    def close(self):
        self.socket.close(0)

    def send(self, command, body):
        self.socket.send_multipart([HEADER, bytes([command]), msgpack.packb(body, use_bin_type=True)])

    def recv(self, timeout_ms):
        """The next well-formed message as (command, body), or None on timeout."""
        if not self.socket.poll(timeout_ms, zmq.POLLIN):
            return None
        frames = self.socket.recv_multipart()
        if len(frames) != 3 or frames[0] != HEADER or len(frames[1]) != 1:
            raise BrokerError("bad_frame", f"unexpected reply frames from {self.endpoint}")
        return frames[1][0], decode_body(frames[2])

    def request(self, command, body):
        """Sends a request with a fresh request_id; returns the reply (command, body)."""
        request_id = self.next_request_id
        self.next_request_id += 1
        body = dict(body, request_id=request_id)
        self.send(command, body)
        deadline = time.monotonic() + self.timeout_ms / 1000.0
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            message = self.recv(max(left_ms, 0)) if left_ms > 0 else None
            if message is None:
                raise BrokerError("unavailable", f"broker unreachable at {self.endpoint}")
            reply_command, reply = message
            if reply_command in (TOKENS, DONE):  # a stream; not the reply we wait for
                self.pending.append(message)
                continue
            if reply.get("request_id", 0) not in (request_id, 0):
                continue  # a late reply to an earlier request
            if reply_command in (REJECTED, ERROR):
                raise BrokerError(text_of(reply.get("code", "internal")), text_of(reply.get("message", "")))
            return reply_command, reply

    # ---- the commands (PROTOCOL.md "Client -> broker") ---------------------------------
    def ping(self):
        return self.request(PING, {})[1]

    def submit(self, body):
        return self.request(SUBMIT, body)[1]

    def subscribe(self, job_id, from_seq):
        # SUBSCRIBE has no ack of its own: TOKENS then DONE follow, or ERROR not_found.
        self.send(SUBSCRIBE, {"request_id": self.next_request_id, "job_id": job_id, "from_seq": from_seq})
        self.next_request_id += 1

    def status(self, job_id):
        return self.request(STATUS, {"job_id": job_id})[1]["record"]

    def cancel(self, job_id):
        return self.request(CANCEL, {"job_id": job_id})[1]["record"]

    def workers(self):
        return self.request(WORKERS, {})[1]["devices"]

    def follow(self, job_id, from_seq=0, idle_timeout_ms=None):
        """Yields ("token", entry) in seq order from from_seq, then ("done", record).

        Drops entries of other jobs and any seq already seen (a resend after a retry);
        raises on a gap, which the protocol promises never happens. On ERROR `lagged` (the
        broker cut this client off the stream for falling behind) it subscribes again from
        the next seq it needs and goes on.
        """
        next_seq = from_seq
        while True:
            if self.pending:
                command, body = self.pending.pop(0)
            else:
                message = self.recv(-1 if idle_timeout_ms is None else idle_timeout_ms)
                if message is None:
                    raise BrokerError("timeout", f"no message for job {job_id}")
                command, body = message
            if command == TOKENS:
                for entry in body.get("entries", []):
                    if entry.get("job_id") != job_id or entry["seq"] < next_seq:
                        continue
                    if entry["seq"] != next_seq:
                        raise BrokerError("internal", f"gap: expected seq {next_seq}, got {entry['seq']}")
                    next_seq += 1
                    yield "token", entry
            elif command == DONE and body["record"].get("job_id") == job_id:
                yield "done", body["record"]
                return
            elif command == ERROR and text_of(body.get("code", "")) == "lagged" \
                    and text_of(body.get("job_id", "")) == job_id:
                # Cut off for falling behind: subscribe again from what we have; the rest
                # comes from the job's log (tokens already seen are dropped above).
                self.subscribe(job_id, next_seq)
            elif command in (ERROR, REJECTED):
                raise BrokerError(text_of(body.get("code", "internal")), text_of(body.get("message", "")))


# ---- output (the same JSON lines as `ringserve ... --json`) ------------------------------
def token_line(entry):
    return {"job": text_of(entry["job_id"]), "seq": entry["seq"], "token": entry["token"],
            "text": text_of(entry.get("text", ""))}


def record_line(record):
    usage = record.get("usage") or {}
    line = {
        "job": text_of(record.get("job_id", "")),
        "state": record.get("state", ""),
        "model": text_of(record.get("model", "")),
        "priority": record.get("priority", "interactive"),
        "worker": text_of(record.get("worker", "")),
        "device": record.get("device", -1),
        "attempt": record.get("attempt", 0),
        "usage": {key: usage.get(key, 0) for key in
                  ("prompt_tokens", "completion_tokens", "queue_ms", "ttft_ms", "decode_tps")},
        "error_code": record.get("error_code", "ok"),
        "error": text_of(record.get("error", "")),
    }
    for key in ("created_ms", "dispatched_ms", "started_ms", "finished_ms"):
        line[key] = record.get(key, 0)
    return line


def emit(obj):
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def print_stream(broker, job_id, from_seq=0, tokens=True):
    """Prints the token lines then the final record; exit code 0 only if SUCCEEDED."""
    for kind, value in broker.follow(job_id, from_seq):
        if kind == "token":
            if tokens:
                emit(token_line(value))
        else:
            emit(record_line(value))
            return 0 if value.get("state") == "SUCCEEDED" else 1
    return 1


# ---- the command line -------------------------------------------------------------------
def resolve_endpoint(flag):
    if flag:
        return flag
    env = os.environ.get("RINGSERVE_BROKER", "")
    if env:
        return env
    try:
        with open(os.path.join("var", "endpoint"), encoding="utf-8") as f:
            endpoint = f.read().strip()
        if endpoint:
            return endpoint
    except OSError:
        pass
    raise BrokerError("invalid_argument", "no broker endpoint: pass --broker, set RINGSERVE_BROKER "
                      "or run `ringserve up` (writes ./var/endpoint)")


def default_model(broker):
    """The first model any device serves (when --model is not given)."""
    for device in broker.workers():
        for model in device.get("models") or []:
            return text_of(model)
    raise BrokerError("unknown_model", "no worker serves any model yet; pass --model")


def cmd_submit(broker, args):
    body = {
        "model": args.model or default_model(broker),
        "prompt": args.prompt,
        "max_tokens": args.max_tokens,
        "sampling": {"temperature": args.temperature, "seed": args.seed},
        "priority": args.priority,
        "stream": args.stream,
    }
    for key in ("affinity_key", "session_id", "idempotency_key"):
        if getattr(args, key):
            body[key] = getattr(args, key)
    accepted = broker.submit(body)
    job_id = text_of(accepted["job_id"])
    if args.no_wait:
        emit({"job": job_id, "duplicate": bool(accepted.get("duplicate", False))})
        return 0
    if accepted.get("duplicate", False):
        # The first job's stream goes to its own submitter: follow it like any other job.
        broker.subscribe(job_id, 0)
    return print_stream(broker, job_id, tokens=args.stream)


def cmd_stream(broker, args):
    broker.subscribe(args.job, args.from_seq)
    return print_stream(broker, args.job, args.from_seq)


def cmd_status(broker, args):
    emit(record_line(broker.status(args.job)))
    return 0


def cmd_cancel(broker, args):
    emit(record_line(broker.cancel(args.job)))
    return 0


def cmd_workers(broker, args):
    for device in broker.workers():
        emit({key: text_of(value) if isinstance(value, (str, bytes)) else
              [text_of(v) for v in value] if isinstance(value, list) else value
              for key, value in device.items()})
    return 0


def cmd_ping(broker, args):
    emit({"broker_time_ms": broker.ping().get("broker_time_ms", 0)})
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description="A small ringserve client (RSP v1 over ZeroMQ).")
    parser.add_argument("--broker", default="", help="broker client endpoint, e.g. tcp://127.0.0.1:5555")
    parser.add_argument("--timeout-ms", type=int, default=5000, help="reply timeout per request")
    parser.add_argument("--json", action="store_true", help="accepted for parity with `ringserve` "
                        "(output is always JSON lines)")
    sub = parser.add_subparsers(dest="command", required=True)

    submit = sub.add_parser("submit", help="submit a job (and stream it with --stream)")
    submit.add_argument("prompt")
    submit.add_argument("--model", default=os.environ.get("RINGSERVE_MODEL", ""),
                        help="model name (default: the first one a worker serves)")
    submit.add_argument("--stream", action="store_true", help="print tokens as they come")
    submit.add_argument("--no-wait", action="store_true", help="print the job id and return")
    submit.add_argument("--max-tokens", type=int, default=128)
    submit.add_argument("--temperature", type=float, default=1.0)
    submit.add_argument("--seed", type=int, default=0)
    submit.add_argument("--priority", choices=("interactive", "batch"), default="interactive")
    submit.add_argument("--affinity-key", dest="affinity_key", default="")
    submit.add_argument("--session-id", dest="session_id", default="")
    submit.add_argument("--idempotency-key", dest="idempotency_key", default="")

    stream = sub.add_parser("stream", help="follow a job's tokens from a sequence number")
    stream.add_argument("job")
    stream.add_argument("--from", dest="from_seq", type=int, default=0)
    for name, help_text in (("status", "a job's record"), ("cancel", "cancel a job")):
        sub.add_parser(name, help=help_text).add_argument("job")
    sub.add_parser("workers", help="one line per device")
    sub.add_parser("ping", help="round trip to the broker")
    for p in sub.choices.values():  # also accept --json after the subcommand
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


COMMANDS = {"submit": cmd_submit, "stream": cmd_stream, "status": cmd_status,
            "cancel": cmd_cancel, "workers": cmd_workers, "ping": cmd_ping}


def main(argv):
    args = parse_args(argv)
    broker = None
    try:
        broker = Broker(resolve_endpoint(args.broker), args.timeout_ms)
        return COMMANDS[args.command](broker, args)
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if broker is not None:
            broker.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
