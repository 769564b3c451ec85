"""A demo alarm, really firing, for scripts/demo.sh: the alarm of a sample notification as the
stack deploys it (tagged into the stack), its metric on the trouble side of the threshold (low
for free space, high otherwise), the alarm in ALARM, and the EventBridge notification of that
transition written to a file. The remediator re-reads all of it before acting, so a
notification alone would do nothing.

usage: fire_demo_alarm.py <sample event> <output file> [<instance-id>]
(the instance ID replaces the sample's; an RDS sample names the demo database already)"""
import datetime
import json
import sys

import boto3

SAMPLE_INSTANCE = "i-0123456789abcdef0"
SAMPLE_TIME = "2026-11-24T10:15:00.000+0000"

sample, output = sys.argv[1:3]
node = sys.argv[3] if len(sys.argv) > 3 else None
with open(sample) as f:
    text = f.read()
if node:
    text = text.replace(SAMPLE_INSTANCE, node)
detail = json.loads(text)["detail"]
name = detail["alarmName"]
metric = detail["configuration"]["metrics"][0]["metricStat"]["metric"]
dimensions = [{"Name": k, "Value": v} for k, v in metric["dimensions"].items()]
low = metric["name"].startswith("Free")
threshold, value = (10.0, 2.0) if low else (85.0, 97.0)
comparison = "LessThanThreshold" if low else "GreaterThanThreshold"

cloudwatch = boto3.client("cloudwatch")
cloudwatch.put_metric_alarm(
    AlarmName=name, Namespace=metric["namespace"], MetricName=metric["name"],
    Dimensions=dimensions, Statistic="Average", Period=300, EvaluationPeriods=1,
    Threshold=threshold, ComparisonOperator=comparison,
    Tags=[{"Key": "chainlink:stack", "Value": "demo"}])
# Ten seconds back, so that a read up to the engine's next whole second includes it.
at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=10)
cloudwatch.put_metric_data(Namespace=metric["namespace"], MetricData=[
    {"MetricName": metric["name"], "Dimensions": dimensions, "Value": value, "Timestamp": at}])
side = "less" if low else "greater"
cloudwatch.set_alarm_state(
    AlarmName=name, StateValue="ALARM",
    StateReason=f"Threshold Crossed: 1 datapoint ({value}) was {side} than {threshold}")
alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
changed = alarm.get("StateTransitionedTimestamp") or alarm["StateUpdatedTimestamp"]
notified = changed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{changed.microsecond // 1000:03d}+0000"
with open(output, "w") as f:
    f.write(text.replace(SAMPLE_TIME, notified))
target = ", ".join(d["Value"] for d in dimensions)
print(f"alarm {name} in ALARM since {notified}: {metric['name']} of {target} at {value} "
      f"(threshold {threshold}, {comparison})")
