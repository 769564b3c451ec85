"""The origin article's incident, for scripts/demo.sh: production pointed at the dev database."""
import boto3

name = "/chainlink/demo/DATABASE_URL"
ssm = boto3.client("ssm")
current = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
ssm.put_parameter(Name=name, Value=current.replace("db.prod.demo.internal", "db.dev.demo.internal"),
                  Type="SecureString", Overwrite=True)
print(f"{name} now points at db.dev.demo.internal (a new version; the old one stays in history)")
