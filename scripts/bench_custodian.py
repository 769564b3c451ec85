"""Side-by-side benchmark: Cloud Custodian's `remove-permissions` against `remediator apply`.

Run through scripts/bench_custodian.sh, which installs everything and passes the paths. For each
size N and each repetition, each tool gets a fresh moto server seeded with the same N security
groups: N/2 Chainlink stacks of a node and a db group, every required flow in place, a tenth of
the node groups with TCP 6688 also open to 0.0.0.0/0. Then the tool runs as a measured child
process (wall, CPU, peak memory), moto's request recorder counts the API calls it made, and the
groups are read back to judge the end state. Seeding is timed apart and counted for neither.

Runs with the moto virtualenv's Python (it has boto3); needs nothing else. Exits 1 when a target
is missed (at least 10x less CPU and 5x less peak memory than Custodian, no more API calls, a
correct end state) or a tool failed.
"""
import argparse
import base64
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import boto3
from botocore.config import Config

REGION = "us-east-1"
OPERATORS = "10.20.0.0/16"
WORLD = "0.0.0.0/0"
FORBIDDEN = (22, 5432, 6688, 6689, 8545, 8546)
DRIFT_EVERY = 10  # one node group in ten has 6688 open to the world
ACCESS_LINE = re.compile(r'"[A-Z]+ \S+ HTTP/1\.[01]" \d{3} ')
MOTO_SEED = 42  # moto's own random seed: the same group IDs on every fresh server

STACK_FILE = """\
# Written by scripts/bench_custodian.py: guards every stack in the account.
[stack]
name = "*"
mode = "enforce"

[roles]
node = { description = "Chainlink node" }
db = { description = "PostgreSQL database" }

[[flows]]
name = "operator-ui"
from = "10.20.0.0/16"
to = "node"
ports = 6688

[[flows]]
name = "node-p2p"
from = "node"
to = "node"
ports = 6690

[[flows]]
name = "ocr-peers"
from = "0.0.0.0/0"
to = "node"
ports = 6690

[[flows]]
name = "node-db"
from = "node"
to = "db"
ports = 5432

[[forbidden]]
protocol = "tcp"
ports = [22, 5432, 6688, 6689, 8545, 8546]

[limits]
# The limit counts rule changes per stack and per run; a stack here needs at most one.
max_changes_per_run = 25
"""

# The same job for Custodian: the stack-tagged groups, any ingress permission from 0.0.0.0/0
# on a forbidden port, and exactly the matched permissions removed.
POLICY = """\
policies:
  - name: chainlink-forbidden-world-ingress
    resource: aws.security-group
    filters:
      - "tag:chainlink:stack": present
      - type: ingress
        IpProtocol: tcp
        Ports: [22, 5432, 6688, 6689, 8545, 8546]
        Cidr:
          value: "0.0.0.0/0"
    actions:
      - type: remove-permissions
        ingress: matched
"""


def log(message):
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    """One fresh moto server process, with its request recorder writing to a file."""

    def __init__(self, server, workdir):
        """`server`: the command that starts moto's server (without host and port)."""
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.recording = workdir / f"moto-recording-{self.port}.jsonl"
        self.logfile = workdir / f"moto-{self.port}.log"
        env = dict(os.environ, MOTO_RECORDER_FILEPATH=str(self.recording))
        env.pop("MOTO_ENABLE_RECORDING", None)
        with open(self.logfile, "wb") as out:
            self.process = subprocess.Popen(
                server + ["-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.call("GET", "/moto-api/")
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.kill()
                    raise SystemExit(f"moto did not start; see {self.logfile}")
                time.sleep(0.1)
        self.call("POST", f"/moto-api/seed?a={MOTO_SEED}")

    def call(self, method, path):
        request = urllib.request.Request(self.endpoint + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read()

    def start_recording(self):
        self.call("POST", "/moto-api/recorder/reset-recording")
        self.call("POST", "/moto-api/recorder/start-recording")

    def stop_recording(self):
        self.call("POST", "/moto-api/recorder/stop-recording")
        if not self.recording.exists():
            return []
        return [json.loads(line) for line in self.recording.read_text().splitlines() if line.strip()]

    def access_log_lines(self):
        """Requests in moto's access log: a cross-check of the recorder."""
        time.sleep(0.2)  # werkzeug writes the line as it answers: let the last one land
        return len(ACCESS_LINE.findall(self.logfile.read_text(errors="replace")))

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for path in (self.recording, self.logfile):
            path.unlink(missing_ok=True)


def ec2_client(endpoint):
    return boto3.client(
        "ec2", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, read_timeout=600),
    )


def stack_names(groups):
    width = max(4, len(str(groups // 2)))
    return [f"bench-{i:0{width}d}" for i in range(1, groups // 2 + 1)]


def seed(endpoint, groups):
    """N groups as N/2 stacks; returns the expected ingress of every group, by group ID."""
    ec2 = ec2_client(endpoint)

    def create(name, stack, role):
        spec = [{"ResourceType": "security-group", "Tags": [
            {"Key": "chainlink:stack", "Value": stack}, {"Key": "chainlink:role", "Value": role}]}]
        return ec2.create_security_group(GroupName=name, Description=f"{stack} {role}", TagSpecifications=spec)["GroupId"]

    expected = {}
    for index, stack in enumerate(stack_names(groups), start=1):
        node = create(f"{stack}-node", stack, "node")
        db = create(f"{stack}-db", stack, "db")
        drifted = index % DRIFT_EVERY == 0
        ui_ranges = [{"CidrIp": OPERATORS}] + ([{"CidrIp": WORLD}] if drifted else [])
        ec2.authorize_security_group_ingress(GroupId=node, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 6688, "ToPort": 6688, "IpRanges": ui_ranges},
            {"IpProtocol": "tcp", "FromPort": 6690, "ToPort": 6690, "IpRanges": [{"CidrIp": WORLD}],
             "UserIdGroupPairs": [{"GroupId": node}]},
        ])
        ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": node}]},
        ])
        expected[node] = {("tcp", 6688, 6688, OPERATORS), ("tcp", 6690, 6690, node), ("tcp", 6690, 6690, WORLD)}
        expected[db] = {("tcp", 5432, 5432, node)}
    return expected


def flatten(permissions):
    """Single-peer rules (protocol, from, to, peer) of a group's IpPermissions."""
    rules = set()
    for p in permissions:
        key = (p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"))
        for r in p.get("IpRanges", []):
            rules.add(key + (r["CidrIp"],))
        for r in p.get("Ipv6Ranges", []):
            rules.add(key + (r["CidrIpv6"],))
        for r in p.get("UserIdGroupPairs", []):
            rules.add(key + (r["GroupId"],))
        for r in p.get("PrefixListIds", []):
            rules.add(key + (r["PrefixListId"],))
    return rules


def exposes(rule):
    protocol, low, high, peer = rule
    if peer not in (WORLD, "::/0") or protocol not in ("tcp", "6", "-1"):
        return False
    if protocol == "-1" or low is None:
        return True
    return any(low <= port <= high for port in FORBIDDEN)


def verify(endpoint, expected):
    """The end state: every required rule there, no forbidden port open to the world, nothing
    else changed. Returns a list of problems (empty when correct)."""
    ec2 = ec2_client(endpoint)
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
    problems = []
    for group_id, want in expected.items():
        group = groups.get(group_id)
        if group is None:
            problems.append(f"{group_id}: deleted")
            continue
        have = flatten(group.get("IpPermissions", []))
        for rule in sorted(want - have, key=str):
            problems.append(f"{group_id}: required rule missing: {rule}")
        for rule in sorted(have - want, key=str):
            kind = "forbidden exposure left open" if exposes(rule) else "unexpected rule"
            problems.append(f"{group_id}: {kind}: {rule}")
    return problems


def action_of(request):
    """The API action of one recorded request (query protocols: Action=; JSON: X-Amz-Target)."""
    headers = {k.lower(): v for k, v in (request.get("headers") or {}).items()}
    target = headers.get("x-amz-target")
    if target:
        return target.split(".")[-1]
    body = request.get("body") or ""
    if request.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    query = urllib.parse.urlparse(request.get("url", "")).query
    for text in (body, query):
        action = urllib.parse.parse_qs(text).get("Action")
        if action:
            return action[0]
    return f"{request.get('method')} {urllib.parse.urlparse(request.get('url', '')).path}"


def measure(measure_bin, command, env, workdir, name):
    """Runs `command` under the C wrapper; returns its figures and where its output went."""
    figures = workdir / f"{name}.measure.json"
    stdout, stderr = workdir / f"{name}.stdout", workdir / f"{name}.stderr"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        subprocess.run([measure_bin, str(figures)] + command, stdout=out, stderr=err, env=env, check=False)
    return json.loads(figures.read_text())


def tool_env(endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION)
    # Neither tool may find a real profile or its credentials.
    env.update(AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true")
    env.pop("RUST_LOG", None)
    return env


def run_once(tool, groups, args, workdir, run_id):
    moto = Moto(args.moto_command, workdir)
    try:
        started = time.monotonic()
        expected = seed(moto.endpoint, groups)
        seed_s = time.monotonic() - started
        env = tool_env(moto.endpoint)
        if tool == "custodian":
            out = workdir / f"{run_id}-custodian-out"
            command = [args.custodian, "run", "--cache-period", "0", "--region", REGION,
                       "-s", str(out), str(workdir / "policy.yml")]
        else:
            command = [args.remediator, "apply", "--stack", str(workdir / "stack.toml")]
        moto.start_recording()
        log_before = moto.access_log_lines()
        result = measure(args.measure, command, env, workdir, f"{run_id}-{tool}")
        requests = moto.stop_recording()
        # Requests the access log saw during the run (the last line is stop-recording's).
        result["access_log_requests"] = moto.access_log_lines() - log_before - 1
        calls = Counter(action_of(r) for r in requests if "/moto-api/" not in r.get("url", ""))
        problems = verify(moto.endpoint, expected)
    finally:
        moto.stop()
    result.update(
        tool=tool, groups=groups, seed_s=round(seed_s, 2),
        cpu_s=result["user_s"] + result["sys_s"], peak_mib=result["maxrss_kib"] / 1024,
        api_calls=sum(calls.values()), calls_by_action=dict(sorted(calls.items())),
        correct=not problems and result["exit_code"] == 0, problems=problems[:20], problem_count=len(problems),
    )
    return result


def median_run(runs):
    """The median of each figure over repetitions (correct only if every run was)."""
    summary = {k: runs[0][k] for k in ("tool", "groups")}
    for key in ("wall_s", "cpu_s", "user_s", "sys_s", "peak_mib", "api_calls", "seed_s"):
        summary[key] = statistics.median(r[key] for r in runs)
    summary["correct"] = all(r["correct"] for r in runs)
    summary["exit_codes"] = [r["exit_code"] for r in runs]
    summary["calls_by_action"] = runs[0]["calls_by_action"]
    summary["problem_count"] = max(r["problem_count"] for r in runs)
    summary["runs"] = runs
    return summary


def end_state(summary):
    if summary["correct"]:
        return "correct"
    codes = ",".join(str(c) for c in summary["exit_codes"])
    return f"WRONG ({summary['problem_count']} problems, exit {codes})"


def print_table(groups, results):
    stacks = groups // 2
    print(f"\n{groups:,} security groups ({stacks:,} stacks, {stacks // DRIFT_EVERY:,} node groups "
          f"with 6688 open to 0.0.0.0/0)")
    header = f"{'tool':<12} | {'wall s':>7} | {'CPU s':>7} | {'peak MiB':>8} | {'API calls':>9} | end state"
    print(header)
    print("-" * len(header))
    for r in results.values():
        print(f"{r['tool']:<12} | {r['wall_s']:7.2f} | {r['cpu_s']:7.3f} | {r['peak_mib']:8.1f} | "
              f"{r['api_calls']:9d} | {end_state(r)}")
    for r in results.values():
        calls = ", ".join(f"{k} {v}" for k, v in r["calls_by_action"].items())
        print(f"  {r['tool']} calls: {calls}")
    c, m = results["custodian"], results["remediator"]
    ratios = {
        "cpu": c["cpu_s"] / m["cpu_s"] if m["cpu_s"] else float("inf"),
        "memory": c["peak_mib"] / m["peak_mib"] if m["peak_mib"] else float("inf"),
        "api_calls": c["api_calls"] / m["api_calls"] if m["api_calls"] else float("inf"),
        "wall": c["wall_s"] / m["wall_s"] if m["wall_s"] else float("inf"),
    }
    print(f"  Custodian / remediator: CPU {ratios['cpu']:.1f}x (target >= 10x), "
          f"peak memory {ratios['memory']:.1f}x (target >= 5x), "
          f"API calls {ratios['api_calls']:.2f}x (target >= 1x), wall {ratios['wall']:.2f}x")
    targets = {
        "cpu_10x": ratios["cpu"] >= 10,
        "memory_5x": ratios["memory"] >= 5,
        "api_calls_not_more": m["api_calls"] <= c["api_calls"],
        "remediator_correct": m["correct"],
    }
    print("  targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in targets.items()))
    return ratios, targets


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000", help="numbers of security groups, comma-separated (even)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool and size; the median is shown")
    parser.add_argument("--remediator", required=True)
    parser.add_argument("--custodian", required=True)
    parser.add_argument("--moto-python", required=True, help="the moto virtualenv's python")
    parser.add_argument("--stock-moto", action="store_true",
                        help="moto's server as released: its tag lookups make every describe O(N^2)")
    parser.add_argument("--measure", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--json-out", required=True)
    parser.add_argument("--build-profile", default="bench")
    parser.add_argument("--versions", default="{}", help="JSON: versions of the tools, for the record")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    args.moto_command = [args.moto_python, "-m", "moto.server"] if args.stock_moto else \
        [str(here / "emulator" / "moto_server")]
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if any(s < 2 or s % 2 for s in sizes) or args.repeat < 1:
        parser.error("--sizes takes even numbers >= 2, --repeat a positive number")

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "stack.toml").write_text(STACK_FILE)
    (workdir / "policy.yml").write_text(POLICY)

    started = time.monotonic()
    emulator = "stock" if args.stock_moto else \
        f"AWS-like (scripts/emulator/aws_like.py: pages, state transitions, O(1) tag lookup), page cap {os.environ.get('AWS_LIKE_PAGE_CAP') or 'none'}"
    report = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "remediator_build_profile": args.build_profile,
              "versions": json.loads(args.versions), "emulator": emulator, "cpus": os.cpu_count(),
              "repeat": args.repeat, "sizes": {}}
    for groups in sizes:
        runs = {"custodian": [], "remediator": []}
        for k in range(args.repeat):
            # Alternate which tool goes first, so neither always meets a warmer machine.
            order = ["custodian", "remediator"] if k % 2 == 0 else ["remediator", "custodian"]
            for tool in order:
                run_id = f"{groups}-{k + 1}"
                log(f"{groups} groups, run {k + 1}/{args.repeat}: seeding a fresh moto, then {tool}")
                result = run_once(tool, groups, args, workdir, run_id)
                log(f"  seeded in {result['seed_s']:.1f} s (not counted); {tool}: wall {result['wall_s']:.2f} s, "
                    f"CPU {result['cpu_s']:.3f} s, peak {result['peak_mib']:.1f} MiB, {result['api_calls']} calls, "
                    f"exit {result['exit_code']}, {result['problem_count']} end-state problems")
                if result["access_log_requests"] != result["api_calls"]:
                    log(f"  note: moto's access log saw {result['access_log_requests']} requests, "
                        f"its recorder {result['api_calls']}")
                for problem in result["problems"][:5]:
                    log(f"  end state: {problem}")
                if result["exit_code"] != 0:
                    log(f"  {tool} exited {result['exit_code']}; its output is in {workdir}/{run_id}-{tool}.std*")
                runs[tool].append(result)
        results = {tool: median_run(r) for tool, r in runs.items()}
        report["sizes"][str(groups)] = {"results": results}
    profiles = {
        "release": "what ships: fat LTO, one codegen unit, everything at opt-level 3",
        "bench": "our crates at opt-level 3, dependencies incl. the AWS SDK at opt-level 1; not the release profile",
    }
    print(f"\nremediator: `{args.remediator}` (cargo profile `{args.build_profile}`: "
          f"{profiles.get(args.build_profile, 'see Cargo.toml')})")
    versions = report["versions"]
    print(f"remediator commit {versions.get('commit', '?')}; Custodian (c7n) {versions.get('c7n', '?')}; "
          f"emulator moto {versions.get('moto', '?')} ({emulator}); {os.cpu_count()} CPUs; "
          f"median of {args.repeat} run(s); seeding not counted")
    for groups in sizes:
        entry = report["sizes"][str(groups)]
        entry["ratios"], entry["targets"] = print_table(groups, entry["results"])
    report["total_s"] = round(time.monotonic() - started, 1)
    Path(args.json_out).write_text(json.dumps(report, indent=2, default=str))
    print(f"\nresults: {args.json_out}; total {report['total_s']:.0f} s")
    all_met = all(all(e["targets"].values()) for e in report["sizes"].values())
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
