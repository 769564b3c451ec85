"""Transforms template.yaml to plain CloudFormation with the SAM translator, offline.

cfn-lint checks the structure of AWS::Serverless::* resources but not the values inside them
(a bogus runtime or schedule passes); the transformed template is plain CloudFormation, which
cfn-lint checks fully and the template tests (infra/cdk/test) read like the CDK app's.

Local code paths are replaced by S3 placeholders first, as `sam package` would after uploading.
Parameters keep their defaults; pseudo parameters are those of an example account.

    python transform.py template.yaml out.json
"""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no AWS managed policy, so the translator needs no IAM lookup."""

    def load(self):
        return {}


def main(source: str, destination: str) -> None:
    # The translator asks boto3 for a region even when given one; no call is made.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(source, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    template.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://bucket/code.zip"
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in properties:
            properties["CodeUri"] = "s3://bucket/code.zip"
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = "s3://bucket/layer.zip"
    pseudo = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}
    transformed = transform(template, pseudo, NoManagedPolicies())
    with open(destination, "w", encoding="utf-8") as f:
        json.dump(transformed, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
