# Resolves a SageMaker project's environment: its Studio domain (VPC, subnets, security groups, execution
# role), the domain's EnvironmentName/EnvironmentType tags, and the environment's SSM parameters.
import boto3

from cfn_runtime import custom_resource

DOMAIN_FIELDS = ("DomainId", "DomainArn", "DomainName", "VpcId", "SubnetIds", "KmsKeyId",
                 "AppNetworkAccessType", "HomeEfsFileSystemId")
USER_FIELDS = ("ExecutionRole", "SecurityGroups")


def _text(value):
    return ",".join(value) if isinstance(value, list) else str(value)


def configure(props, event):
    project = props.get("SageMakerProjectName")
    if not project:
        raise ValueError("SageMakerProjectName is required")
    sm = boto3.client("sagemaker")
    domain_id = sm.describe_project(ProjectName=project)["CreatedBy"]["DomainId"]
    domain = sm.describe_domain(DomainId=domain_id)
    data = {k: _text(domain[k]) for k in DOMAIN_FIELDS if k in domain}
    settings = domain.get("DefaultUserSettings", {})
    data.update({k: _text(settings[k]) for k in USER_FIELDS if k in settings})
    tags, token = {}, None
    while True:
        page = sm.list_tags(ResourceArn=domain["DomainArn"], **({"NextToken": token} if token else {}))
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        token = page.get("NextToken")
        if not token:
            break
    env_name, env_type = tags.get("EnvironmentName"), tags.get("EnvironmentType")
    if not env_name or not env_type:
        raise ValueError(f"domain {domain_id} has no EnvironmentName and EnvironmentType tags")
    data.update(EnvironmentName=env_name, EnvironmentType=env_type)
    ssm = boto3.client("ssm")
    for item in props.get("SSMParams", []):
        if isinstance(item, str):
            item = {"VariableName": item, "ParameterName": item}
        name = f"{env_name}-{env_type}-{item['ParameterName']}"
        try:
            data[item["VariableName"]] = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            data[item["VariableName"]] = ""  # optional parameters (OU ids, account lists) may not exist
    return None, data


lambda_handler = custom_resource(create=configure)
