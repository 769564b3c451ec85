"""The demo node's CPU alarm, really firing, for scripts/demo.sh: the alarm as the stack deploys
it (tagged into the stack), the node's CPU above its threshold, the alarm in ALARM, and the
EventBridge notification of that transition written to a file. The remediator re-reads all of
it before acting, so a notification alone would do nothing.

usage: fire_demo_alarm.py <instance-id> <sample event> <output file>"""
import datetime
import sys

import boto3

node, sample, output = sys.argv[1:4]
name = "demo-node-cpu"
dimensions = [{"Name": "InstanceId", "Value": node}]
cloudwatch = boto3.client("cloudwatch")
cloudwatch.put_metric_alarm(
    AlarmName=name, Namespace="AWS/EC2", MetricName="CPUUtilization", Dimensions=dimensions,
    Statistic="Average", Period=300, EvaluationPeriods=1, Threshold=85.0,
    ComparisonOperator="GreaterThanThreshold", Tags=[{"Key": "chainlink:stack", "Value": "demo"}])
# Ten seconds back, so that a read up to the engine's next whole second includes it.
at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=10)
cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=[
    {"MetricName": "CPUUtilization", "Dimensions": dimensions, "Value": 97.0, "Timestamp": at}])
cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM",
                           StateReason="Threshold Crossed: 1 datapoint (97.0) was greater than 85.0")
alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
changed = alarm.get("StateTransitionedTimestamp") or alarm["StateUpdatedTimestamp"]
notified = changed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{changed.microsecond // 1000:03d}+0000"
with open(sample) as f:
    text = f.read()
with open(output, "w") as f:
    f.write(text.replace("i-0123456789abcdef0", node).replace("2026-11-24T10:15:00.000+0000", notified))
print(f"alarm {name} in ALARM since {notified}: CPUUtilization of {node} at 97 % (threshold 85 %)")
