"""The functions under the real Lambda runtime path, for scripts/runtime_test.sh.

Each function binary is started the way Lambda starts `bootstrap`: with AWS_LAMBDA_RUNTIME_API
pointing at a Runtime API (here `cargo lambda watch --only-lambda-apis`), which it polls for
events through the lambda_runtime client. Events are sent with `cargo lambda invoke`. Checked:
the report each invocation returns, its effect on the emulated account (boto3 against moto),
the EMF metrics and logs the function writes to stdout, and how it fails.

Runs with the moto virtualenv's Python (boto3). Expects AWS_ENDPOINT_URL and fake credentials
in the environment (env.sh's start_moto). Prints `ok`/`FAIL` per check and
`runtime: N passed, M failed` last; exits 1 if any check failed.
"""
import argparse
import json
import os
import runpy
import signal
import subprocess
import sys
import time

import boto3

NAMESPACE = "RemediatorRuntimeTest"
INVOKE_TIMEOUT = 90  # seconds; a healthy invocation takes well under one
# Values seed_demo.py puts in Parameter Store: none may appear in any output.
# What a sample may end in: acted and converged, nothing to do (converged), or refused by a
# limit (refused), or not the stack's business (rejected).
SAMPLE_STATUSES = ("converged", "refused", "rejected")
SECRETS = ("demo-db-passw0rd-xxxxxxxx", "demo-keystore-passw0rd", "demo-api-passw0rd-long")


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


class Function:
    """One function process, started as Lambda starts it, its output in a log file."""

    def __init__(self, test, name, env=None, label=None):
        self.test, self.name = test, name
        self.log_path = os.path.join(test.work, f"{label or name}.log")
        environment = dict(os.environ)
        environment.update(
            AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{test.emulator_port}/.rt/{name}",
            AWS_LAMBDA_FUNCTION_NAME=name,
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
            AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{name}",
            AWS_LAMBDA_LOG_STREAM_NAME="runtime-test",
            STACK_FILE=test.stack_file,
            REMEDIATOR_MODE="enforce",
            METRICS_NAMESPACE=NAMESPACE,
        )
        for key in ("AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "RUST_LOG", "STACK_FILE_PARAMETER",
                    "REPORT_TOPIC_ARN", "NO_COLOR"):
            environment.pop(key, None)
        environment.update(env or {})
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([os.path.join(test.bin_dir, name)], env=environment,
                                        stdout=self.log, stderr=subprocess.STDOUT, cwd=test.work)
        self.pid_file = os.path.join(test.work, "pids", str(self.process.pid))
        open(self.pid_file, "w").close()
        test.running.append(self)
        self.offset = 0
        self.invocations = 0

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def new_output(self):
        """What the function wrote since the last call."""
        text = self.output()
        new, self.offset = text[self.offset:], len(text)
        return new

    def tail(self, lines=15):
        return "\n".join("    | " + line for line in self.output().splitlines()[-lines:])

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        if os.path.exists(self.pid_file):
            os.remove(self.pid_file)
        if self in self.test.running:
            self.test.running.remove(self)

    def invoke(self, payload_file):
        """`cargo lambda invoke`: the response JSON, or CheckFailed with the function's log."""
        command = ["cargo", "lambda", "invoke", self.name, "--invoke-address", "127.0.0.1",
                   "--invoke-port", str(self.test.emulator_port), "--data-file", payload_file,
                   "--output-format", "json"]
        client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + INVOKE_TIMEOUT
        while client.poll() is None:
            if self.process.poll() is not None:
                client.kill()
                client.wait()
                raise CheckFailed(f"{self.name} exited with {self.process.returncode} while invoked:\n{self.tail()}")
            if time.monotonic() > deadline:
                client.kill()
                client.wait()
                raise CheckFailed(f"no response from {self.name} within {INVOKE_TIMEOUT}s:\n{self.tail()}")
            time.sleep(0.02)
        out, err = client.communicate()
        self.invocations += 1
        saved = f"{os.path.splitext(self.log_path)[0]}-{self.invocations}.{os.path.basename(payload_file)}"
        with open(saved, "wb") as f:  # kept with the logs when the test fails
            f.write(out if client.returncode == 0 else err)
        if client.returncode != 0:
            raise InvokeError(self.name, err.decode(errors="replace"), self.tail())
        try:
            return json.loads(out)
        except ValueError:
            raise CheckFailed(f"{self.name} answered with something that is not JSON: {out[:500]!r}")


class InvokeError(CheckFailed):
    """The invocation ended in a function error (what Lambda would retry)."""

    def __init__(self, name, stderr, tail):
        super().__init__(f"invoking {name} failed:\n{stderr.strip()}\n{tail}")
        self.stderr = stderr


def emf_documents(text):
    """The EMF documents among the lines a function wrote."""
    documents = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            documents.append(document)
    return documents


def expect_emf(text, cold_start):
    documents = emf_documents(text)
    expect(documents, "no EMF document (a JSON line with \"_aws\") on stdout")
    for document in documents:
        metrics = document["_aws"].get("CloudWatchMetrics") or [{}]
        directive = metrics[0]
        expect(isinstance(document["_aws"].get("Timestamp"), int), f"EMF without a Timestamp: {document}")
        expect(directive.get("Namespace") == NAMESPACE,
               f"EMF namespace {directive.get('Namespace')!r}, expected {NAMESPACE!r}")
        expect(["Stack"] in directive.get("Dimensions", []), f"EMF without the Stack dimension: {directive}")
        expect(document.get("Stack") == "demo", f"EMF Stack is {document.get('Stack')!r}, expected 'demo'")
        names = {m["Name"] for m in directive.get("Metrics", [])}
        missing = [n for n in names if n not in document]
        expect(not missing, f"EMF declares metrics without values: {missing}")
        expect(document.get("ColdStart") == cold_start,
               f"EMF ColdStart is {document.get('ColdStart')!r}, expected {cold_start}")
    return documents


def actions(report, kind=None):
    """Every action of a report (security groups, parameters, instances), optionally of a kind.
    Kinds compare loosely: instance actions name theirs `"action": "resize_instance"`, the others
    `"kind": "RevertParameter"`."""
    def loose(name):
        return str(name).replace("_", "").lower()

    found = []
    for stack in report.get("stacks", []):
        found += stack.get("actions", [])
        found += (stack.get("parameters") or {}).get("actions", [])
        found += (stack.get("instances") or {}).get("actions", [])
    return [a for a in found if kind is None or loose(a.get("kind", a.get("action"))) == loose(kind)]


class RuntimeTest:
    def __init__(self, args):
        self.repo = args.repo
        self.work = args.work
        self.bin_dir = args.bin_dir
        self.emulator_port = args.emulator_port
        self.stack_file = os.path.join(self.repo, "samples", "stack.toml")
        os.makedirs(os.path.join(self.work, "pids"), exist_ok=True)
        self.running = []
        self.passed = self.failed = 0
        self.ec2 = boto3.client("ec2")
        self.ssm = boto3.client("ssm")

    # --- helpers -------------------------------------------------------------------------

    def check(self, name, body):
        started = time.monotonic()
        try:
            body()
        except CheckFailed as e:
            self.failed += 1
            print(f"FAIL  {name}\n      {e}", flush=True)
            return False
        except Exception as e:  # a bug in the check itself is a failure too, never a crash
            self.failed += 1
            print(f"FAIL  {name}\n      {type(e).__name__}: {e}", flush=True)
            return False
        self.passed += 1
        print(f"ok    {name} ({time.monotonic() - started:.1f}s)", flush=True)
        return True

    def event_file(self, sample, replacements=None, name=None):
        with open(os.path.join(self.repo, "samples", "events", sample)) as f:
            text = f.read()
        for old, new in (replacements or {}).items():
            expect(old in text, f"{sample} no longer contains {old}")
            text = text.replace(old, new)
        path = os.path.join(self.work, name or sample)
        with open(path, "w") as f:
            f.write(text)
        return path

    def payload_file(self, name, payload):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(payload if isinstance(payload, str) else json.dumps(payload))
        return path

    def group(self, role):
        groups = self.ec2.describe_security_groups(Filters=[
            {"Name": "tag:chainlink:stack", "Values": ["demo"]},
            {"Name": "tag:chainlink:role", "Values": [role]},
        ])["SecurityGroups"]
        expect(len(groups) == 1, f"expected one {role} group in the seeded stack, found {len(groups)}")
        return groups[0]

    def node_instance(self):
        reservations = self.ec2.describe_instances(Filters=[
            {"Name": "tag:chainlink:stack", "Values": ["demo"]},
            {"Name": "tag:chainlink:role", "Values": ["node"]},
        ])["Reservations"]
        return reservations[0]["Instances"][0]

    def run_script(self, script):
        runpy.run_path(os.path.join(self.repo, "scripts", script), run_name="__main__")

    def seed(self):
        self.run_script("seed_demo.py")

    # --- the checks ----------------------------------------------------------------------

    def run(self):
        self.seed()
        sg = Function(self, "security-group-guard")
        pg = Function(self, "parameter-guard")
        ig = Function(self, "instance-guard")
        node, db = self.group("node"), self.group("db")
        node_id, db_id = node["GroupId"], db["GroupId"]

        def world_open_6688(group):
            return [p for p in group["IpPermissions"]
                    if p.get("IpProtocol") == "tcp" and p.get("FromPort") == 6688 and p.get("ToPort") == 6688
                    and any(r.get("CidrIp") == "0.0.0.0/0" for r in p.get("IpRanges", []))]

        def node_to_db_5432(group):
            return [p for p in group["IpPermissions"]
                    if p.get("IpProtocol") == "tcp" and p.get("FromPort", -1) <= 5432 <= p.get("ToPort", -1)
                    and any(g.get("GroupId") == node_id for g in p.get("UserIdGroupPairs", []))]

        expect(world_open_6688(node) and not node_to_db_5432(db), "the seeded stack is not drifted as expected")

        # security-group-guard --------------------------------------------------------------
        cloudtrail = self.event_file("cloudtrail-authorize-ingress.json", {"sg-0a1b2c3d4e5f60718": node_id})
        state = {}

        def sg_cloudtrail_report():
            report = sg.invoke(cloudtrail)
            state["sg_output"] = sg.new_output()
            expect(report.get("status") == "converged", f"status {report.get('status')!r}, expected 'converged'")
            expect(report["signal"]["kind"].get("groups") == [node_id],
                   f"the signal does not name the group of the event: {report['signal']}")
            revokes = actions(report, "RevokeIngress")
            authorizes = actions(report, "AuthorizeIngress")
            expect(revokes and all(a["outcome"] == "applied" for a in revokes), f"revocations: {revokes}")
            expect(any(a["group"] == node_id and any(r["rule"]["peer"].get("cidr") == "0.0.0.0/0"
                                                     and r["rule"].get("ports") == {"from": 6688, "to": 6688}
                                                     for r in a["rules"]) for a in revokes),
                   "no revocation of the world-open 6688 rule in the report")
            expect(any(a["group"] == db_id and a["outcome"] == "applied"
                       and any(r["rule"]["peer"].get("group") == node_id for r in a["rules"]) for a in authorizes),
                   f"no applied node→db authorization in the report: {authorizes}")

        self.check("security-group-guard, CloudTrail event: report converged, rules revoked and authorized",
                   sg_cloudtrail_report)
        self.check("security-group-guard, CloudTrail event: world-open 6688 gone, node→db 5432 open in the emulator",
                   lambda: (expect(not world_open_6688(self.group("node")),
                                   f"still open to the world: {world_open_6688(self.group('node'))}"),
                            expect(node_to_db_5432(self.group("db")), "no node→db 5432 rule on the db group")))
        self.check("security-group-guard, CloudTrail event: EMF on stdout (namespace, Stack, ColdStart=1)",
                   lambda: expect_emf(state.get("sg_output", ""), cold_start=1))

        def sg_sweep():
            report = sg.invoke(self.event_file("schedule.json"))
            expect(report.get("status") == "converged", f"status {report.get('status')!r}")
            expect(report["signal"]["kind"].get("kind") == "sweep", f"not a sweep: {report['signal']}")
            expect(not actions(report), f"the sweep still found work: {actions(report)}")
            expect_emf(sg.new_output(), cold_start=0)

        self.check("security-group-guard, schedule: sweep converged with nothing left, ColdStart=0", sg_sweep)

        def sg_malformed():
            report = sg.invoke(self.payload_file("malformed.json", {"hello": "world"}))
            expect(report.get("status") == "rejected", f"status {report.get('status')!r}, expected 'rejected'")
            expect(report.get("skipped") and "malformed" in report["skipped"][0], f"skipped: {report.get('skipped')}")
            report = sg.invoke(self.payload_file("unsupported.json", {
                "version": "0", "id": "x", "detail-type": "Something Else", "source": "aws.s3",
                "account": "123456789012", "time": "2026-11-20T09:00:00Z", "region": "us-east-1",
                "resources": [], "detail": {}}))
            expect(report.get("status") == "rejected", f"unsupported event: status {report.get('status')!r}")
            expect(sg.process.poll() is None, "the function exited after a bad event")
            sg.new_output()

        self.check("security-group-guard, malformed and unsupported events: rejected, still serving", sg_malformed)

        # parameter-guard -------------------------------------------------------------------
        def pg_label():
            report = pg.invoke(self.event_file("schedule.json"))
            expect(report.get("status") == "converged", f"status {report.get('status')!r}")
            labels = actions(report, "LabelParameter")
            expect(len(labels) == 7 and all(a["outcome"] == "applied" for a in labels),
                   f"expected the 7 valid parameters labelled, got {labels}")
            expect_emf(pg.new_output(), cold_start=1)

        self.check("parameter-guard, schedule: the valid set is labelled last-known-good", pg_label)
        update = self.event_file("ssm-parameter-update.json")

        def pg_rollback():
            self.run_script("break_demo_parameters.py")
            report = pg.invoke(update)
            expect(report.get("status") == "converged", f"status {report.get('status')!r}")
            reverts = actions(report, "RevertParameter")
            expect(len(reverts) == 1 and reverts[0]["outcome"] == "applied"
                   and reverts[0]["name"] == "/chainlink/demo/DATABASE_URL", f"reverts: {reverts}")
            expect("CL-ISO-001" in reverts[0].get("rejected_for", []), f"rejected for {reverts[0].get('rejected_for')}")
            expect_emf(pg.new_output(), cold_start=0)

        self.check("parameter-guard, Parameter Store change to the dev DB: rolled back", pg_rollback)

        def pg_restored():
            parameter = self.ssm.get_parameter(Name="/chainlink/demo/DATABASE_URL", WithDecryption=True)["Parameter"]
            expect("@db.prod.demo.internal:" in parameter["Value"], "DATABASE_URL does not point at the prod DB again")
            expect(parameter["Version"] == 3, f"version {parameter['Version']}, expected 3 (a new version)")

        self.check("parameter-guard: DATABASE_URL restored in the emulator, as a new version", pg_restored)

        # instance-guard --------------------------------------------------------------------
        instance = self.node_instance()
        alarm = self.event_file("alarm-eventbridge-cpu.json", {"i-0123456789abcdef0": instance["InstanceId"]})

        def ig_resize():
            expect(instance["InstanceType"] == "m6i.large", f"seeded as {instance['InstanceType']}")
            report = ig.invoke(alarm)
            expect(report.get("status") == "converged", f"status {report.get('status')!r}: "
                   f"{json.dumps([s.get('instances') for s in report.get('stacks', [])])}")
            resizes = actions(report, "ResizeInstance")
            expect(len(resizes) == 1 and resizes[0]["outcome"] == "applied", f"resizes: {resizes}")
            now = self.node_instance()
            expect(now["State"]["Name"] == "running", f"instance is {now['State']['Name']}")
            expect(now["InstanceType"] == "m6i.xlarge", f"instance type is {now['InstanceType']}")
            expect_emf(ig.new_output(), cold_start=1)

        self.check("instance-guard, CPU alarm: node resized to m6i.xlarge and running", ig_resize)

        def ig_redelivered():
            report = ig.invoke(alarm)
            applied = [a for a in actions(report) if a.get("outcome") == "applied"]
            expect(not applied, f"the redelivered alarm acted again: {applied}")
            expect(self.node_instance()["InstanceType"] == "m6i.xlarge", "the instance type changed again")
            ig.new_output()

        self.check("instance-guard, the same alarm redelivered: nothing done twice", ig_redelivered)

        def every_sample():
            # Each sample event the function is wired to, with the sample's resource ids
            # replaced by the seeded ones: a report (never a function error), the status the
            # event calls for, and the function still serving.
            node_instance = self.node_instance()["InstanceId"]
            ids = {"sg-0a1b2c3d4e5f60718": node_id, "sg-0b2c3d4e5f6071829": db_id,
                   "i-0123456789abcdef0": node_instance}
            samples = sorted(os.listdir(os.path.join(self.repo, "samples", "events")))
            routed = {"security-group-guard": (sg, ("cloudtrail-", "config-", "schedule")),
                      "parameter-guard": (pg, ("ssm-", "schedule")),
                      "instance-guard": (ig, ("alarm-", "schedule"))}
            seen = []
            for name, (function, prefixes) in routed.items():
                for sample in samples:
                    if not sample.startswith(prefixes):
                        continue
                    with open(os.path.join(self.repo, "samples", "events", sample)) as f:
                        text = f.read()
                    present = {old: new for old, new in ids.items() if old in text}
                    report = function.invoke(self.event_file(sample, present, name=f"{name}-{sample}"))
                    status = report.get("status")
                    expect(status in SAMPLE_STATUSES, f"{name} {sample}: status {status!r}")
                    failed = [a for a in actions(report) if a.get("outcome") == "failed"]
                    expect(not failed, f"{name} {sample}: failed actions {failed}")
                    expect(function.process.poll() is None, f"{name} exited after {sample}")
                    seen.append(f"{sample}={status}")
                function.new_output()
            expect(len(seen) == len(samples) + 2, f"not every sample was sent: {seen}")
            print("      " + ", ".join(seen), flush=True)

        self.check("every sample event, sent to the function wired to it: a report, nothing failed",
                   every_sample)

        def no_secrets():
            for function in (sg, pg, ig):
                text = function.output()
                leaked = [s for s in SECRETS if s in text]
                expect(not leaked, f"{function.name} wrote a parameter value to its output")

        self.check("no parameter value in any function's output", no_secrets)

        for function in (sg, pg, ig):
            function.stop()

        # logging and start-up --------------------------------------------------------------
        def json_logs():
            function = Function(self, "security-group-guard", {"AWS_LAMBDA_LOG_FORMAT": "JSON"}, label="sg-json")
            try:
                function.invoke(self.event_file("schedule.json"))
                lines = [line for line in function.output().splitlines() if line.strip()]
                expect(lines, "no output at all")
                records = []
                for line in lines:
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        raise CheckFailed(f"a log line that is not JSON: {line[:200]}")
                logs = [r for r in records if "_aws" not in r]
                expect(any(r.get("level") == "INFO" and r.get("fields", {}).get("message") == "function ready"
                           for r in logs), f"no JSON 'function ready' record: {logs[:2]}")
                expect_emf("\n".join(lines), cold_start=1)
            finally:
                function.stop()

        self.check("AWS_LAMBDA_LOG_FORMAT=JSON: every output line is JSON, EMF included", json_logs)

        def log_level():
            function = Function(self, "security-group-guard", {"AWS_LAMBDA_LOG_LEVEL": "WARN"}, label="sg-warn")
            try:
                function.invoke(self.event_file("schedule.json"))
                text = function.output()
                expect(" INFO " not in text and "function ready" not in text, "INFO lines despite LOG_LEVEL=WARN")
                expect_emf(text, cold_start=1)
            finally:
                function.stop()

        self.check("AWS_LAMBDA_LOG_LEVEL=WARN: no INFO lines, metrics still written", log_level)

        def bad_environment():
            function = Function(self, "parameter-guard", {"REMEDIATOR_MODE": "fix-everything"}, label="pg-bad-env")
            try:
                try:
                    function.process.wait(15)
                except subprocess.TimeoutExpired:
                    raise CheckFailed("the function started serving with REMEDIATOR_MODE=fix-everything")
                expect(function.process.returncode != 0, "exited with status 0")
                expect("REMEDIATOR_MODE" in function.output(), f"the error does not name the variable:\n{function.tail()}")
            finally:
                function.stop()

        self.check("invalid REMEDIATOR_MODE: the cold start fails, naming the variable", bad_environment)

        def unreachable_aws():
            # Nothing listens there: every call fails at once. Lambda must see an error (and
            # retry the event), with an error type that says why.
            function = Function(self, "security-group-guard", {
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.dead_port()}", "AWS_MAX_ATTEMPTS": "1"},
                label="sg-unreachable")
            try:
                try:
                    report = function.invoke(self.event_file("schedule.json"))
                except InvokeError as e:
                    expect("Retryable" in e.stderr, f"not a retryable error type:\n{e.stderr.strip()}")
                    return
                raise CheckFailed(f"the invocation succeeded: status {report.get('status')!r}")
            finally:
                function.stop()

        self.check("AWS unreachable: the invocation fails with a Retryable.* error (Lambda retries)", unreachable_aws)

        def no_colour():
            # Escape codes would reach CloudWatch Logs verbatim.
            for name in ("security-group-guard", "parameter-guard", "instance-guard"):
                text = open(os.path.join(self.work, f"{name}.log"), errors="replace").read()
                expect("\x1b[" not in text, f"{name}'s log lines carry ANSI colour codes")

        self.check("text-format logs carry no ANSI colour codes", no_colour)

    @staticmethod
    def dead_port():
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def stop_all(self):
        for function in list(self.running):
            function.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--emulator-port", type=int, required=True)
    args = parser.parse_args()

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    test = RuntimeTest(args)
    started = time.monotonic()
    try:
        test.run()
    except CheckFailed as e:
        test.failed += 1
        print(f"FAIL  setup\n      {e}", flush=True)
    finally:
        test.stop_all()
    print(f"runtime checks took {time.monotonic() - started:.1f}s", flush=True)
    print(f"runtime: {test.passed} passed, {test.failed} failed", flush=True)
    sys.exit(1 if test.failed else 0)


if __name__ == "__main__":
    main()
