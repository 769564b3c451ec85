#!/usr/bin/env python3
"""Writes the seed corpora from the samples: every sample event (and small variants) for
event_parse, each event's inner payload behind its envelope selector byte for event_envelope,
and the sample stack file with variants for stack_parse. Run from anywhere; idempotent."""

import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fuzz" / "corpus"
# Indices of fuzz/src/lib.rs SHAPES.
SHAPE = {
    "schedule": 0, "scheduler": 1, "cloudtrail": 2, "ssm": 3, "alarm": 4, "config": 5,
    "other": 6, "sns": 7, "sns2": 8, "direct": 9,
}


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


def events():
    for path in sorted((ROOT / "samples" / "events").glob("*.json")):
        raw = path.read_text()
        event = json.loads(raw)
        write("event_parse", raw)
        write("event_parse", json.dumps(event, separators=(",", ":")))
        # Variants: each top-level key dropped, and a nulled detail.
        for key in list(event):
            variant = dict(event)
            del variant[key]
            write("event_parse", json.dumps(variant))
        if "detail" in event:
            write("event_parse", json.dumps({**event, "detail": None}))
        # The same payload behind its envelope selector.
        if "Records" in event:
            message = event["Records"][0]["Sns"]["Message"]
            write("event_envelope", bytes([SHAPE["sns"]]) + message.encode())
            write("event_envelope", bytes([SHAPE["sns2"]]) + message.encode())
        elif "alarmData" in event:
            write("event_envelope", bytes([SHAPE["direct"]]) + json.dumps(event["alarmData"]).encode())
        else:
            # Sources no function handles (a CloudTrail call of another service) go behind the
            # "other kind" envelope.
            shape = {
                "aws.events": "schedule", "aws.scheduler": "scheduler", "aws.ec2": "cloudtrail",
                "aws.ssm": "ssm", "aws.cloudwatch": "alarm", "aws.config": "config",
            }.get(event["source"], "other")
            detail = json.dumps(event["detail"]).encode()
            write("event_envelope", bytes([SHAPE[shape]]) + detail)
            if shape == "alarm":
                write("event_envelope", bytes([SHAPE["direct"]]) + detail)
    write("event_envelope", bytes([SHAPE["other"]]) + b"{}")
    write("event_envelope", bytes([SHAPE["scheduler"]]) + b"{}")
    write("event_parse", b"{}")
    write("event_parse", b'{"Records":[]}')
    write("event_parse", b'{"alarmData":null}')


def stacks():
    sample = (ROOT / "samples" / "stack.toml").read_text()
    write("stack_parse", sample)
    minimal = '[stack]\nname = "s"\nmode = "report"\n'
    write("stack_parse", minimal)
    write("stack_parse", minimal + '[roles]\nnode = {}\n[[flows]]\nname = "f"\nfrom = "::/0"\nto = "node"\nprotocol = "udp"\nports = "30000-30100"\n')
    write("stack_parse", sample.replace('name = "demo"', 'name = "prod-*"'))
    write("stack_parse", sample + '\n[[exceptions]]\nsecurity_group = "sg-0123456789abcdef0"\nreason = "migration"\n'
          '\n[[exceptions]]\nrole = "node"\nfrom = "0.0.0.0/0"\nprotocol = "tcp"\nports = 22\nreason = "break-glass"\n')
    write("stack_parse", sample.replace('"m6i.large", "m6i.xlarge"', '"m6i.xlarge", "m6i.large"'))
    write("stack_parse", sample.replace('"m6i.large", "m6i.xlarge", "m6i.2xlarge", "m6i.4xlarge"',
                                        '"t4g.nano", "t4g.micro", "m7g.metal-24xl", "x2gd.metal"'))
    write("stack_parse", sample.replace('roles = []', 'roles = ["db"]').replace(
        'ports = [22, 5432, 6688, 6689, 8545, 8546]', 'ports = [22, "5000-6000", 65535]\nroles = ["db"]'))
    write("stack_parse", sample.replace('max_changes_per_run = 25', 'max_changes_per_run = 0'))
    write("stack_parse", sample.replace('from = "10.20.0.0/16"', 'from = "10.20.0.1/16"'))
    write("stack_parse", sample.replace('prefix = "/chainlink/demo/"', 'prefix = "/chainlink/{stack}/"'))


if __name__ == "__main__":
    events()
    stacks()
    for target in sorted(p.name for p in CORPUS.iterdir()):
        print(target, len(list((CORPUS / target).iterdir())))
