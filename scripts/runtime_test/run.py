"""The functions under the real Lambda runtime path, for scripts/runtime_test.sh.

Each function binary is started the way Lambda starts `bootstrap`: with AWS_LAMBDA_RUNTIME_API
pointing at a Runtime API (here `cargo lambda watch --only-lambda-apis`), which it polls for
events through the lambda_runtime client. Events are sent with `cargo lambda invoke`. Checked:
the report each invocation returns, its effect on the emulated account (boto3 against moto),
the EMF metrics and logs the function writes to stdout, and how it fails.

The emulator enforces IAM (moto's INITIAL_NO_AUTH_ACTION_COUNT): the first few requests create
an administrator, whose key seeds the account and reads it back; each function runs as its own
IAM user allowed exactly the actions of its role in the SAM template (permissions.py). At the
end, the emulator's request recording says which actions each function called: a call the
template does not grant, or a granted mutating action no run needed and
infra/unexercised-actions.toml does not justify, fails the test.

Runs with the moto virtualenv's Python (boto3). Expects AWS_ENDPOINT_URL in the environment
(env.sh's start_moto). Prints `ok`/`FAIL` per check and `runtime: N passed, M failed` last;
exits 1 if any check failed.
"""
import argparse
import datetime
import json
import os
import re
import runpy
import signal
import subprocess
import sys
import time
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
import botocore.parsers

import organization
import permissions

NAMESPACE = "RemediatorRuntimeTest"
INVOKE_TIMEOUT = 90  # seconds; a healthy invocation takes well under one
# What a sample may end in: acted and converged, nothing to do or not the function's job
# (converged), or refused by a limit (refused). Every sample is a well-formed AWS event: never
# rejected.
SAMPLE_STATUSES = ("converged", "refused")
# Values seed_demo.py puts in Parameter Store: none may appear in any output.
SECRETS = ("demo-db-passw0rd-xxxxxxxx", "demo-keystore-passw0rd", "demo-api-passw0rd-long")
FUNCTIONS = ("security-group-guard", "parameter-guard", "instance-guard")
# Each runs as an IAM user of its own: the three functions and the approval handler.
USERS = FUNCTIONS + ("approval-handler",)
ADMIN = "runtime-test-admin"
ONE_ATTEMPT = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})
GROUP = "demo-guarded-nodes"  # the runtime test's Auto Scaling group (not the samples' demo-nodes)
# Actions the emulator asks a function for although AWS would not (an emulator quirk): given to
# the function's IAM user besides its template actions, each with the reason. None so far.
EMULATOR_ONLY_ACTIONS = {}


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
                    "REPORT_TOPIC_ARN", "FILESYSTEM_DOCUMENT", "NO_COLOR", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            environment.pop(key, None)
        # The function's own IAM user: its template actions and nothing else.
        environment.update(test.credentials[name])
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
    """Every action of a report (security groups, parameters, instances, the database), optionally
    of a kind.
    Kinds compare loosely: instance actions name theirs `"action": "resize_instance"`, the others
    `"kind": "RevertParameter"`."""
    def loose(name):
        return str(name).replace("_", "").lower()

    found = []
    for stack in report.get("stacks", []):
        found += stack.get("actions", [])
        found += (stack.get("parameters") or {}).get("actions", [])
        found += (stack.get("instances") or {}).get("actions", [])
        found += (stack.get("database") or {}).get("actions", [])
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
        self.template, self.justified_file = args.template, args.justified
        self.granted, self.justified = {}, {}
        self.no_auth_requests = args.no_auth_requests
        self.credentials = {}  # function: its IAM user's key, as environment variables
        self.owners = {}  # access key id: function
        self.reported_denials = set()
        self.demo_node = None

    # --- IAM -----------------------------------------------------------------------------

    def bootstrap_iam(self):
        """The emulator's unauthenticated requests create an administrator (its key is then
        everybody's but the functions'); the administrator creates one IAM user per function,
        allowed exactly the actions of the function's role in the SAM template on `*`."""
        iam = boto3.client("iam", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        bootstrap = [
            lambda: iam.create_user(UserName=ADMIN),
            lambda: iam.put_user_policy(UserName=ADMIN, PolicyName="everything",
                                        PolicyDocument=permissions.policy_document({"*"})),
            lambda: iam.create_access_key(UserName=ADMIN)["AccessKey"],
        ]
        expect(len(bootstrap) == self.no_auth_requests,
               f"the emulator lets {self.no_auth_requests} requests through unauthenticated; "
               f"the bootstrap makes {len(bootstrap)}")
        key = [step() for step in bootstrap][-1]
        # boto3 clients made from here on (seed_demo.py's too) sign as the administrator.
        os.environ.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
        os.environ.pop("AWS_SESSION_TOKEN", None)
        iam = boto3.client("iam")
        for function in USERS:
            expect(function in self.granted, f"the SAM template has no function with binary {function}")
            user = f"runtime-test-{function}"
            actions = permissions.allowed(function, self.granted, EMULATOR_ONLY_ACTIONS)
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="template-actions",
                                PolicyDocument=permissions.policy_document(actions))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            self.credentials[function] = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                                          "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
            self.owners[key["AccessKeyId"]] = function
        self.ec2 = boto3.client("ec2")
        self.ssm = boto3.client("ssm")
        self.autoscaling = boto3.client("autoscaling")

    def recording(self):
        url = os.environ["AWS_ENDPOINT_URL"] + "/moto-api/recorder/download-recording"
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read().decode()

    def called(self):
        return permissions.called_actions(self.recording(), self.owners)

    def denials(self):
        """Calls a function made that its template actions do not grant (moto refused them),
        not reported before: one line each, naming the function and the action."""
        found = [denial for denial in permissions.refused(self.granted, self.called(), EMULATOR_ONLY_ACTIONS)
                 if denial not in self.reported_denials]
        self.reported_denials.update(found)
        return [permissions.refusal(function, action) for function, action in found]

    # --- helpers -------------------------------------------------------------------------

    def check(self, name, body):
        started = time.monotonic()
        try:
            body()
        except CheckFailed as e:
            self.failed += 1
            print(f"FAIL  {name}\n      {e}{self.denial_note()}", flush=True)
            return False
        except Exception as e:  # a bug in the check itself is a failure too, never a crash
            self.failed += 1
            print(f"FAIL  {name}\n      {type(e).__name__}: {e}{self.denial_note()}", flush=True)
            return False
        self.passed += 1
        print(f"ok    {name} ({time.monotonic() - started:.1f}s)", flush=True)
        return True

    def denial_note(self):
        """Why a check may have failed: the permissions the emulator refused meanwhile."""
        try:
            found = self.denials()
        except Exception as e:  # the note must not hide the failure it explains
            return f"\n      (the emulator's recording could not be read: {e})"
        return "".join(f"\n      {line}" for line in found)

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

    def alarm_file(self, sample, replacements=None, name=None):
        """`event_file` for an alarm sample whose alarm then exists in the emulator, as the
        function re-reads it before acting: created with the event's metric and dimensions,
        tagged into the demo stack, set to ALARM; the file carries the time of that transition."""
        path = self.event_file(sample, replacements, name)
        with open(path) as f:
            text = f.read()
        event = json.loads(text)
        if "Records" in event:
            message = json.loads(event["Records"][0]["Sns"]["Message"])
            alarm_name, at = message["AlarmName"], message["StateChangeTime"]
            trigger = message["Trigger"]
            namespace, metric = trigger["Namespace"], trigger["MetricName"]
            dimensions = [{"Name": d["name"], "Value": d["value"]} for d in trigger["Dimensions"]]
        else:
            data = event.get("detail") or event["alarmData"]
            alarm_name, at = data["alarmName"], data["state"]["timestamp"]
            watched = data["configuration"]["metrics"][0]["metricStat"]["metric"]
            namespace, metric = watched["namespace"], watched["name"]
            dimensions = [{"Name": k, "Value": v} for k, v in watched["dimensions"].items()]
        cloudwatch = boto3.client("cloudwatch")
        cloudwatch.put_metric_alarm(
            AlarmName=alarm_name, Namespace=namespace, MetricName=metric, Dimensions=dimensions,
            Statistic="Average", Period=300, EvaluationPeriods=1, Threshold=85.0,
            ComparisonOperator="GreaterThanThreshold", Tags=[{"Key": "chainlink:stack", "Value": "demo"}])
        # The metric really breaches (the function reads it back); ten seconds back, so that a
        # read up to the function's next whole second includes it.
        measured = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=10)
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
            {"MetricName": metric, "Dimensions": dimensions, "Value": 97.0, "Timestamp": measured}])
        cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason="runtime test")
        described = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
        changed = described.get("StateTransitionedTimestamp") or described["StateUpdatedTimestamp"]
        notified = changed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{changed.microsecond // 1000:03d}+0000"
        with open(path, "w") as f:
            f.write(text.replace(at, notified))
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
        """The demo's node (seed_demo.py), not the nodes seeded for the other instance paths."""
        if self.demo_node is None:
            reservations = self.ec2.describe_instances(Filters=[
                {"Name": "tag:chainlink:stack", "Values": ["demo"]},
                {"Name": "tag:chainlink:role", "Values": ["node"]},
            ])["Reservations"]
            instances = [i for r in reservations for i in r["Instances"]]
            expect(len(instances) == 1, f"expected the demo's one node, found {len(instances)}")
            self.demo_node = instances[0]["InstanceId"]
        return self.instance(self.demo_node)

    def instance(self, instance_id):
        return self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    def settled(self, instance_id, state, reads=30):
        """The instance once it reached `state`: an AWS-like emulator passes through
        stopping/pending for a few reads, so one read is not the final answer."""
        for _ in range(reads):
            current = self.instance(instance_id)
            if current["State"]["Name"] == state:
                return current
            time.sleep(0.1)
        raise CheckFailed(f"{instance_id} is {current['State']['Name']} after {reads} reads, expected {state}")

    def seed_instance_paths(self):
        """Beyond the demo, one node per instance path the emulator can run: a disk growth, a
        restart, a node in an Auto Scaling group (one remediation per resource and incident,
        then a cooldown, so each path needs its own). Tagged into the demo stack, node role."""
        demo = self.node_instance()
        subnet, group = demo["SubnetId"], demo["SecurityGroups"][0]["GroupId"]
        stack_tags = [{"Key": "chainlink:stack", "Value": "demo"}, {"Key": "chainlink:role", "Value": "node"}]

        def node(name):
            return self.ec2.run_instances(
                ImageId="ami-12c6146b", InstanceType="m6i.large", MinCount=1, MaxCount=1, SubnetId=subnet,
                SecurityGroupIds=[group], TagSpecifications=[{"ResourceType": "instance", "Tags": stack_tags + [
                    {"Key": "Name", "Value": name}]}, {"ResourceType": "volume", "Tags": stack_tags}],
            )["Instances"][0]["InstanceId"]

        self.disk_node, self.restart_node = node("demo-node-disk"), node("demo-node-restart")
        template = self.ec2.create_launch_template(
            LaunchTemplateName=GROUP, LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "m6i.large"},
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": stack_tags}],
        )["LaunchTemplate"]["LaunchTemplateId"]
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=GROUP, LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
            MinSize=1, MaxSize=1, DesiredCapacity=1, VPCZoneIdentifier=subnet,
            Tags=[dict(tag, PropagateAtLaunch=True, ResourceId=GROUP, ResourceType="auto-scaling-group")
                  for tag in stack_tags])
        instances = self.autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]["Instances"]
        expect(len(instances) == 1, f"group {GROUP} launched {len(instances)} instances, expected 1")
        self.group_node = instances[0]["InstanceId"]

    def emulator_has_instance_refreshes(self):
        """moto implements neither DescribeInstanceRefreshes nor StartInstanceRefresh (HTTP 500);
        an AWS-like emulator may. The group resize runs only where it can."""
        client = boto3.client("autoscaling", config=ONE_ATTEMPT)
        try:
            client.describe_instance_refreshes(AutoScalingGroupName=GROUP)
            return True
        except (botocore.exceptions.ClientError, botocore.parsers.ResponseParserError):
            return False

    def run_script(self, script):
        runpy.run_path(os.path.join(self.repo, "scripts", script), run_name="__main__")

    def seed(self):
        self.run_script("seed_demo.py")

    def create_filesystem_document(self):
        """The stack's filesystem document as the SAM template creates it; returns its name. (The
        emulator checks neither that a sent document exists nor its parameters: the disk check
        does, against this content.)"""
        documents = [r for r in self.template_json["Resources"].values() if r["Type"] == "AWS::SSM::Document"]
        expect(len(documents) == 1, f"the SAM template has {len(documents)} SSM documents, expected 1")
        properties = documents[0]["Properties"]
        self.document_content = properties["Content"]
        name = "demo-FilesystemDocument-runtime"
        self.ssm.create_document(Name=name, Content=json.dumps(self.document_content), DocumentFormat="JSON",
                                 DocumentType=properties["DocumentType"], TargetType=properties["TargetType"])
        return name

    # --- the checks ----------------------------------------------------------------------

    def run(self):
        try:
            with open(self.template) as f:
                self.template_json = json.load(f)
            self.granted = permissions.granted_actions(self.template_json)
            self.justified = permissions.load_justified(self.justified_file)
        except (OSError, ValueError, permissions.TemplateError) as e:
            raise CheckFailed(f"the functions' permissions could not be read: {e}")
        self.bootstrap_iam()

        def enforced():
            stranger = boto3.client("ec2", aws_access_key_id="AKIANOTCREATEDINMOTO", aws_secret_access_key="x",
                                    config=ONE_ATTEMPT)
            try:
                stranger.describe_security_groups()
            except botocore.exceptions.ClientError as e:
                expect(e.response["Error"]["Code"] in ("AuthFailure", "InvalidClientTokenId"), f"refused with {e}")
                return
            raise CheckFailed("a key the emulator never issued was accepted: IAM is not enforced")

        self.check("the emulator enforces IAM: each function runs as a user allowed its template actions only",
                   enforced)
        self.seed()
        filesystem_document = self.create_filesystem_document()
        self.node_instance()  # remembered before other nodes join the stack
        # Reports go to a topic with a queue behind it: each function publishes what it did.
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns.create_topic(Name="demo-reports")["TopicArn"]
        queue = sqs.create_queue(QueueName="demo-reports")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        reports = {"REPORT_TOPIC_ARN": topic}
        # Findings go to Security Hub as a SecurityHubFindings deployment sends them (the
        # emulator's default account): the grant is exercised under IAM enforcement.
        findings = {"SECURITY_HUB_ACCOUNT_ID": "123456789012"}
        sg = Function(self, "security-group-guard", {**reports, **findings})
        pg = Function(self, "parameter-guard", {**reports, **findings})
        # As both templates set it: the stack's own document, the only one the role may send.
        ig = Function(self, "instance-guard", {**reports, "FILESYSTEM_DOCUMENT": filesystem_document})
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
            # Well-formed, but no function's job: ignored with a reason, not bad input.
            expect(report.get("status") == "converged" and report["signal"]["kind"].get("kind") == "ignored",
                   f"unsupported event: status {report.get('status')!r}, signal {report.get('signal')}")
            expect(report.get("skipped") and "aws.s3" in report["skipped"][0], f"skipped: {report.get('skipped')}")
            expect(sg.process.poll() is None, "the function exited after a bad event")
            sg.new_output()

        self.check("security-group-guard, a malformed event rejected, an unsupported one ignored, still serving",
                   sg_malformed)

        # parameter-guard -------------------------------------------------------------------
        def pg_label():
            report = pg.invoke(self.event_file("schedule.json"))
            expect(report.get("status") == "converged", f"status {report.get('status')!r}")
            labels = actions(report, "LabelParameter")
            expect(len(labels) == 8 and all(a["outcome"] == "applied" for a in labels),
                   f"expected the 8 valid parameters labelled, got {labels}")
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
        alarm = self.alarm_file("alarm-eventbridge-cpu.json", {"i-0123456789abcdef0": instance["InstanceId"]})

        def ig_resize():
            expect(instance["InstanceType"] == "m6i.large", f"seeded as {instance['InstanceType']}")
            report = ig.invoke(alarm)
            expect(report.get("status") == "converged", f"status {report.get('status')!r}: "
                   f"{json.dumps([s.get('instances') for s in report.get('stacks', [])])}")
            resizes = actions(report, "ResizeInstance")
            expect(len(resizes) == 1 and resizes[0]["outcome"] == "applied", f"resizes: {resizes}")
            now = self.settled(instance["InstanceId"], "running")
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

        # Each further path on a node of its own (seed_instance_paths), and an alarm of its own:
        # one remediation per incident in the whole stack.
        self.seed_instance_paths()

        def acted_once(sample, replacements, name, kind):
            """The alarm sample, retargeted, sent to instance-guard: converged, one `kind` applied."""
            report = ig.invoke(self.alarm_file(sample, replacements, name=name))
            expect(report.get("status") == "converged", f"status {report.get('status')!r}: {actions(report)}")
            done = actions(report, kind)
            expect(len(done) == 1 and done[0]["outcome"] == "applied", f"{kind}: {done}")
            return report

        def remediation_tag(instance_id):
            tags = {t["Key"]: t["Value"] for t in self.instance(instance_id).get("Tags", [])}
            return tags.get("chainlink:remediation", "")

        def ig_disk():
            node = self.instance(self.disk_node)
            volume = next(m["Ebs"]["VolumeId"] for m in node["BlockDeviceMappings"]
                          if m["DeviceName"] == node["RootDeviceName"])
            before = self.ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["Size"]
            report = acted_once("alarm-sns-disk.json", {"i-0123456789abcdef0": self.disk_node,
                                                        "demo-node-disk": "demo-node-disk-runtime"},
                                "alarm-sns-disk-runtime.json", "GrowVolume")
            extended = actions(report, "ExtendFilesystem")
            expect(len(extended) == 1 and extended[0]["outcome"] == "applied", f"filesystem: {extended}")
            after = self.ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["Size"]
            wanted = before + (before + 1) // 2  # the stack file's disk_step_percent = 50, rounded up
            expect(after == wanted, f"the root volume is {after} GiB, expected {wanted}")
            commands = self.ssm.list_commands(InstanceId=self.disk_node)["Commands"]
            sent = [(c["DocumentName"], c.get("Parameters")) for c in commands]
            expect(sent == [(filesystem_document, {"mountPath": ["/"]})],
                   f"commands sent to the node: {sent}; expected the stack's document with mountPath /")
            # What SSM would check before running it: every parameter is the document's, and the
            # path matches its allowedPattern and maxChars.
            declared = self.document_content["parameters"]
            for name, values in sent[0][1].items():
                expect(name in declared, f"{name} is not a parameter of the document ({sorted(declared)})")
                rule = declared[name]
                expect(all(re.search(rule["allowedPattern"], v) and len(v) <= rule["maxChars"] for v in values),
                       f"{name}={values} breaks the document's allowedPattern {rule['allowedPattern']!r}")
            expect("grow_disk" in remediation_tag(self.disk_node), f"record: {remediation_tag(self.disk_node)!r}")
            ig.new_output()

        self.check("instance-guard, disk alarm: root volume grown by half, filesystem extended by the stack's document",
                   ig_disk)

        def ig_restart():
            acted_once("alarm-eventbridge-status-check.json", {"i-0123456789abcdef0": self.restart_node,
                                                               "demo-node-status": "demo-node-status-restart"},
                       "alarm-status-restart.json", "RestartInstance")
            now = self.settled(self.restart_node, "running")
            expect(now["InstanceType"] == "m6i.large", f"the restart changed the type to {now['InstanceType']}")
            expect("replace" in remediation_tag(self.restart_node), f"record: {remediation_tag(self.restart_node)!r}")
            ig.new_output()

        self.check("instance-guard, status-check alarm on a standalone node: restarted, running", ig_restart)

        def ig_unhealthy():
            acted_once("alarm-eventbridge-status-check.json", {"i-0123456789abcdef0": self.group_node,
                                                               "demo-node-status": "demo-node-status-group"},
                       "alarm-status-group.json", "MarkUnhealthy")
            health = self.autoscaling.describe_auto_scaling_instances(
                InstanceIds=[self.group_node])["AutoScalingInstances"][0]["HealthStatus"]
            expect(health.lower() == "unhealthy", f"the group's instance is {health}")
            ig.new_output()

        self.check("instance-guard, status-check alarm on a node in a group: marked unhealthy for its group",
                   ig_unhealthy)

        def ig_group_resize():
            acted_once("alarm-eventbridge-group-cpu.json", {"demo-nodes": GROUP}, "alarm-group-cpu-runtime.json",
                       "ResizeGroup")
            spec = self.autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]["LaunchTemplate"]
            version = self.ec2.describe_launch_template_versions(
                LaunchTemplateId=spec["LaunchTemplateId"], Versions=[spec["Version"]])["LaunchTemplateVersions"][0]
            expect(version["LaunchTemplateData"].get("InstanceType") == "m6i.xlarge",
                   f"the group launches {version['LaunchTemplateData'].get('InstanceType')}")
            ig.new_output()

        if self.emulator_has_instance_refreshes():
            self.check("instance-guard, CPU alarm on a group: new launch template version, instance refresh",
                       ig_group_resize)
        else:
            print("skip  instance-guard, CPU alarm on a group: the emulator has no instance refreshes "
                  "(infra/unexercised-actions.toml)", flush=True)

        def ig_database():
            # The demo's DB instance (seed_demo.py), single-AZ: one class up the ladder, for the
            # maintenance window; the record and the modification under the role's conditions.
            rds = boto3.client("rds")
            report = ig.invoke(self.alarm_file("alarm-eventbridge-rds-cpu.json"))
            expect(report.get("status") == "converged", f"status {report.get('status')!r}: "
                   f"{json.dumps([s.get('database') for s in report.get('stacks', [])])}")
            steps = [(a["action"], a["outcome"]) for a in actions(report)]
            expect(steps == [("record_remediation", "applied"), ("scale_class", "applied")], f"steps: {steps}")
            db = rds.describe_db_instances(DBInstanceIdentifier="demo-db")["DBInstances"][0]
            tags = {t["Key"]: t["Value"] for t in db.get("TagList", [])}
            expect("scale_class" in tags.get("chainlink:remediation", ""), f"record: {tags}")
            expect(db["DBInstanceClass"] == "db.m6i.xlarge" or
                   db.get("PendingModifiedValues", {}).get("DBInstanceClass") == "db.m6i.xlarge",
                   f"the DB instance is {db['DBInstanceClass']}, pending {db.get('PendingModifiedValues')}")
            ig.new_output()

        self.check("instance-guard, the database's CPU alarm: one class up the ladder, recorded on the DB instance",
                   ig_database)

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

        # approvals: instance-guard asks, the approval handler hands the decision on -----------
        def approvals():
            key = "/chainlink-remediator/runtime/approval-key"
            self.ssm.put_parameter(Name=key, Type="SecureString", Value="runtime-test-approval-key-" + "k" * 32)
            with open(self.stack_file) as f:
                text = f.read()
            stack_file = self.payload_file(
                "approvals-stack.toml", text + f'\n[approvals]\nkey_parameter = "{key}"\nrequire = ["resize"]\n')
            demo = self.node_instance()
            node = self.ec2.run_instances(
                ImageId="ami-12c6146b", InstanceType="m6i.large", MinCount=1, MaxCount=1,
                SubnetId=demo["SubnetId"], SecurityGroupIds=[demo["SecurityGroups"][0]["GroupId"]],
                TagSpecifications=[{"ResourceType": "instance", "Tags": [
                    {"Key": "chainlink:stack", "Value": "demo"}, {"Key": "chainlink:role", "Value": "node"},
                    {"Key": "Name", "Value": "demo-node-approval"}]}])["Instances"][0]["InstanceId"]
            # instance-guard again (the first one stopped), with [approvals] and the handler's URL.
            guard = Function(self, "instance-guard", {
                "STACK_FILE": stack_file, "APPROVAL_URL": "https://approvals.example/",
                "FILESYSTEM_DOCUMENT": filesystem_document}, label="ig-approvals")
            handler = Function(self, "approval-handler", {
                "STACK_FILE": stack_file, "APPROVAL_KEY_PARAMETER": key,
                "APPROVAL_TARGET_FUNCTION": "instance-guard",
                # lambda:Invoke goes to the local Runtime API, which runs the named function.
                "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{self.emulator_port}"})
            try:
                report = guard.invoke(self.alarm_file(
                    "alarm-eventbridge-cpu.json", {"i-0123456789abcdef0": node}, name="alarm-approval.json"))
                expect(report.get("status") == "pending_approval", f"status {report.get('status')!r}")
                asked = [a for stack in report.get("stacks", []) for a in stack.get("approvals", [])]
                expect(len(asked) == 1, f"approval requests: {asked}")
                approve = asked[0]["approve"]
                expect(approve.startswith("https://approvals.example?token="), f"approve link {approve[:60]!r}")
                query = approve.split("?", 1)[1]

                def request(method):
                    event = {"version": "2.0", "rawPath": "/", "rawQueryString": query if method == "GET" else "",
                             "requestContext": {"http": {"method": method, "path": "/"}},
                             "headers": {"content-type": "application/x-www-form-urlencoded"},
                             "body": query if method == "POST" else None, "isBase64Encoded": False}
                    return handler.invoke(self.payload_file(f"approval-{method}.json", event))

                opened = request("GET")
                expect(opened.get("statusCode") == 200, f"GET answered {opened.get('statusCode')}")
                expect("<form" in opened.get("body", ""), "the GET page has no confirmation form")
                expect(self.instance(node)["InstanceType"] == "m6i.large", "opening the link acted")
                guard.new_output()
                confirmed = request("POST")
                expect(confirmed.get("statusCode") in (200, 202), f"POST answered {confirmed.get('statusCode')}: "
                       f"{confirmed.get('body', '')[:300]}")

                def handed_on():
                    """instance-guard's next run, once the (asynchronous) invocation finished."""
                    deadline = time.monotonic() + INVOKE_TIMEOUT
                    while time.monotonic() < deadline:
                        new = guard.new_output()
                        if emf_documents(new):
                            return emf_documents(new)
                        time.sleep(0.1)
                    raise CheckFailed(f"instance-guard was not invoked:\n{guard.tail()}\n{handler.tail()}")

                applied = handed_on()
                expect(any(d.get("ActionsApplied", 0) > 0 for d in applied), f"the approved run applied nothing: {applied}")
                now = self.settled(node, "running")
                expect(now["InstanceType"] == "m6i.xlarge", f"after the approval the node is {now['InstanceType']}")
                again = request("POST")
                expect(again.get("statusCode") in (200, 202), f"the second POST answered {again.get('statusCode')}")
                replayed = handed_on()
                expect(all(d.get("ActionsApplied", 0) == 0 for d in replayed), f"the approval acted twice: {replayed}")
                expect(self.settled(node, "running")["InstanceType"] == "m6i.xlarge", "the approval acted twice")
            finally:
                guard.stop()
                handler.stop()

        self.check("approvals: instance-guard waits and asks; the approval handler's page (GET) changes nothing; "
                   "its confirmation (POST) is handed to instance-guard by lambda:Invoke and resizes once", approvals)

        # A stack file whose P2P flows take their port from the node's configuration alone: a
        # change of P2P_LISTEN_PORT moves the node group's rules in parameter-guard's own run.
        # Started once the first parameter-guard has stopped: both would poll one Runtime API.
        with open(self.stack_file) as f:
            sample = f.read()
        expect(sample.count("ports = 6690\n") == 2, "the sample's P2P flows no longer state 6690")
        following = os.path.join(self.work, "stack-following.toml")
        with open(following, "w") as f:
            f.write(sample.replace("ports = 6690\n", ""))
        pgf = Function(self, "parameter-guard", {**reports, "STACK_FILE": following},
                       label="parameter-guard-following")
        port_change = self.event_file("ssm-parameter-update.json",
                                      {"/chainlink/demo/DATABASE_URL": "/chainlink/demo/P2P_LISTEN_PORT"},
                                      name="ssm-p2p-port-update.json")

        def p2p_rules(port):
            return [p for p in self.group("node")["IpPermissions"]
                    if p.get("IpProtocol") == "tcp" and p.get("FromPort") == port and p.get("ToPort") == port]

        def pg_moves(old, new):
            def check():
                self.ssm.put_parameter(Name="/chainlink/demo/P2P_LISTEN_PORT", Value=str(new),
                                       Type="SecureString", Overwrite=True)
                report = pgf.invoke(port_change)
                expect(report.get("status") == "converged", f"status {report.get('status')!r}")
                authorizes, revokes = actions(report, "AuthorizeIngress"), actions(report, "RevokeIngress")
                findings = [f for stack in report.get("stacks", []) for f in stack.get("findings", [])]
                expect(authorizes and all(a["outcome"] == "applied" for a in authorizes),
                       f"authorizes: {authorizes}; findings: {findings}")
                expect(revokes and all(a["outcome"] == "applied" for a in revokes), f"revokes: {revokes}")
                labels = actions(report, "LabelParameter")
                expect(any(a["name"] == "/chainlink/demo/P2P_LISTEN_PORT" and a["outcome"] == "applied"
                           for a in labels), f"the change is not labelled: {labels}")
                expect(len(p2p_rules(new)) == 1 and not p2p_rules(old),
                       f"node group on {new}: {p2p_rules(new)}, still on {old}: {p2p_rules(old)}")
                leaked = [s for s in SECRETS if s in pgf.new_output()]
                expect(not leaked, "parameter-guard wrote a parameter value to its output")
            return check

        self.check("parameter-guard, P2P_LISTEN_PORT moved to 7000: the node group follows, new before old",
                   pg_moves(6690, 7000))
        self.check("parameter-guard, P2P_LISTEN_PORT back to 6690: the node group follows back", pg_moves(7000, 6690))
        pgf.stop()

        # an organisation ---------------------------------------------------------------------
        def sg_organization():
            admin_sqs, iam = boto3.client("sqs"), boto3.client("iam")
            queue_url = admin_sqs.create_queue(QueueName="security-group-guard-targets.fifo",
                                               Attributes={"FifoQueue": "true"})["QueueUrl"]
            queue_arn = admin_sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            # The member role, as the member template declares it (trusting the function's role,
            # here its user: moto does not evaluate trust policies).
            actions = organization.member_role_actions(os.path.join(self.repo, "infra", "member", "template.yaml"))
            trust = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"AWS": f"arn:aws:iam::{organization.ACCOUNT}:user/runtime-test-security-group-guard"}}]}
            iam.create_role(RoleName=organization.ROLE, AssumeRolePolicyDocument=json.dumps(trust))
            iam.put_role_policy(RoleName=organization.ROLE, PolicyName="member-template-actions",
                                PolicyDocument=permissions.policy_document(actions))
            ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            self.ec2.authorize_security_group_ingress(GroupId=node_id, IpPermissions=[ssh])
            function = Function(self, "security-group-guard", {
                **reports, "STACK_FILE": organization.stack_file(self), "TARGET_QUEUE_URL": queue_url},
                label="sg-organization")
            try:
                queued = function.invoke(self.event_file("schedule.json"))
                group = f"{organization.ACCOUNT}/{organization.REGION}"
                expect(queued == {"queued": [group]}, f"the fan-out answered {queued}")
                received = admin_sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                                     AttributeNames=["All"]).get("Messages", [])
                expect(len(received) == 1, f"{len(received)} messages on the target queue, expected one")
                expect(received[0]["Attributes"].get("MessageGroupId") == group,
                       f"message group {received[0]['Attributes'].get('MessageGroupId')!r}, expected {group!r}")
                batch = self.payload_file("organization-batch.json",
                                          organization.lambda_sqs_event(received, queue_arn))
                answer = function.invoke(batch)
                expect(answer == {"batchItemFailures": []}, f"the batch answered {answer}")
                open_ssh = [p for p in self.group("node")["IpPermissions"]
                            if p.get("FromPort") == 22 and any(r.get("CidrIp") == "0.0.0.0/0"
                                                               for r in p.get("IpRanges", []))]
                expect(not open_ssh, f"SSH still open to the world: {open_ssh}")
                signers = organization.signers_of(self.recording(), "RevokeSecurityGroupIngress")
                expect(signers, "no RevokeSecurityGroupIngress was recorded")
                member = signers[-1]
                expect(member not in self.owners and member != os.environ.get("AWS_ACCESS_KEY_ID"),
                       f"the revocation was signed with {member}, not the member role's session")
            finally:
                function.stop()

        self.check("security-group-guard with [organization]: a schedule fans out to the FIFO queue, the "
                   "queued batch is run as the member role (the member template's actions), drift repaired",
                   sg_organization)

        def published():
            called = self.called()
            publishes = {f: called[f]["sns:Publish"] for f in FUNCTIONS}
            expect(all(publishes.values()), f"reports published per function: {publishes}")
            queued = int(sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
                         ["Attributes"]["ApproximateNumberOfMessages"])
            expect(queued == sum(publishes.values()),
                   f"{queued} reports reached the topic's queue, {sum(publishes.values())} were published")

        self.check("every function published its reports to the topic (REPORT_TOPIC_ARN)", published)

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

        def template_actions():
            lines, failures = permissions.check_actions(self.granted, self.called(), self.justified,
                                                        EMULATOR_ONLY_ACTIONS)
            print("      actions each function called (requests signed with its key), and its grants:")
            for line in lines:
                print("      " + line)
            expect(not failures, "\n      ".join(failures))

        self.check("each function called only actions its template grants, and needed every mutating grant "
                   "(or infra/unexercised-actions.toml says why not)", template_actions)

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
    parser.add_argument("--template", required=True, help="the SAM template transformed to CloudFormation (JSON)")
    parser.add_argument("--justified", required=True, help="infra/unexercised-actions.toml")
    parser.add_argument("--no-auth-requests", type=int, required=True,
                        help="the emulator's INITIAL_NO_AUTH_ACTION_COUNT")
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
