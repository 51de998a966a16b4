# Reports which of the given IAM roles are missing, so a template creates only those.
# Data: {role name: "" if the role exists, else the role name}.
import boto3
from cfn_runtime import custom_resource


def check(props, event):
    names = props.get("RoleNames")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError("RoleNames must be a non-empty list of role names")
    iam = boto3.client("iam")
    data = {}
    for name in names:
        try:
            iam.get_role(RoleName=name)
            data[name] = ""
        except iam.exceptions.NoSuchEntityException:
            data[name] = name
    # Roles created because of this answer are retained on delete, so a later update that finds them
    # existing only hands their ownership back to the account; nothing is ever deleted by mistake.
    return None, data


lambda_handler = custom_resource(create=check, update=check)
