# Starts the packaging CodeBuild project: once on Create, and on Update only when a property changed (another
# project, source location or release version, or a new ReleaseTrigger).  Delete leaves builds alone.
# Every property is a trigger; only the ServiceToken is not (a replaced function alone starts no build).
# Data: {"BuildId": id of the started build} (empty when an Update started none).
import boto3
from cfn_runtime import custom_resource


def start(props, event):
    name = props.get("ProjectName")
    if not isinstance(name, str) or not name:
        raise ValueError("ProjectName must be the name of a CodeBuild project")
    build = boto3.client("codebuild").start_build(projectName=name)["build"]
    return None, {"BuildId": build["id"]}


def update(props, event):
    old = {k: v for k, v in (event.get("OldResourceProperties") or {}).items() if k != "ServiceToken"}
    if props == old:
        return None
    return start(props, event)


lambda_handler = custom_resource(create=start, update=update)
