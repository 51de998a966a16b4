# Checks a SageMaker project's seed code in to its connected repository (SourceCodeProvider=CodeConnection): on
# Create, once, it starts the project's check-in build (CodeBuild, in the environment's VPC, as the project's role)
# with the repository as the build's source through the project's CodeConnections connection, so that Git reaches
# the repository with the connection's credentials, and waits for it. The build pushes the seed code when the
# repository has no commits and leaves a repository with commits as it is; it says which (exported variable
# SEED_CODE: pushed | kept), and so does the project (output SeedCode).
# Update starts nothing (it reports the result of the check-in build); Delete does nothing: the repository and
# what is in it are the team's.
# Properties: ProjectName (the check-in CodeBuild project), ConnectionArn, RepositoryFullName (owner/name),
# RepositoryBranch, SeedCode ({Bucket, Key}: the release's seed code zip; the build reads it from the project's seed
# code bucket).
# Data: {"SeedCode": "pushed" | "kept" (or why not checked in), "BuildId": the check-in build}.
import time

import boto3
from cfn_runtime import custom_resource

# CodeConnections' provider types -> CodeBuild's source types and the providers' own hosts (self-managed
# providers: the connection's host says where).
PROVIDERS = {
    "GitHub": ("GITHUB", "https://github.com"),
    "GitLab": ("GITLAB", "https://gitlab.com"),
    "Bitbucket": ("BITBUCKET", "https://bitbucket.org"),
    "GitHubEnterpriseServer": ("GITHUB_ENTERPRISE", None),
    "GitLabSelfManaged": ("GITLAB_SELF_MANAGED", None),
}
# Providers whose repositories CodeBuild cannot take as a source (so cannot push to through the connection).
UNSUPPORTED = {
    "AzureDevOps": "CodeBuild has no Azure DevOps source",
    "GitHubEnterpriseCloudDataResidency": "CodeBuild has no source for GitHub Enterprise Cloud with data residency",
}
RESULT = "SEED_CODE"  # the variable the check-in build exports
POLL_SECONDS = 10


def _required(props, name):
    value = props.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is required")
    return value


def _connections(arn):
    """The client of the connection's service (codeconnections, or its former name codestar-connections)."""
    service = arn.split(":")[2]
    if service not in ("codeconnections", "codestar-connections"):
        raise ValueError(f"ConnectionArn is not a CodeConnections connection: {arn}")
    return boto3.client(service)


def repository_source(connection_arn, repository):
    """(CodeBuild source type, the repository's clone URL) of ``repository`` through the connection, which must be
    available (a pending connection has not been authorized in the console yet); (None, why) for a provider
    CodeBuild cannot take as a source."""
    client = _connections(connection_arn)
    connection = client.get_connection(ConnectionArn=connection_arn)["Connection"]
    status = connection.get("ConnectionStatus")
    if status != "AVAILABLE":
        raise RuntimeError(
            f"connection {connection.get('ConnectionName', connection_arn)} is {status}: complete it in the "
            "Developer Tools console (Settings, Connections), then create the project again"
        )
    provider = connection.get("ProviderType")
    if provider in UNSUPPORTED:
        return None, UNSUPPORTED[provider]
    if provider not in PROVIDERS:
        raise RuntimeError(f"connection provider {provider} is not supported")
    source_type, host = PROVIDERS[provider]
    if host is None:
        host = client.get_host(HostArn=connection["HostArn"])["ProviderEndpoint"].rstrip("/")
    return source_type, f"{host}/{repository}.git"


def _result(build):
    variables = {v["name"]: v.get("value", "") for v in build.get("exportedEnvironmentVariables") or []}
    return variables.get(RESULT, "")


def wait(codebuild, build_id):
    """The finished build (the runtime answers FAILED before Lambda's timeout if it never finishes)."""
    while True:
        (build,) = codebuild.batch_get_builds(ids=[build_id])["builds"]
        if build.get("buildComplete"):
            return build
        time.sleep(POLL_SECONDS)


def create(props, event):
    project = _required(props, "ProjectName")
    connection = _required(props, "ConnectionArn")
    repository = _required(props, "RepositoryFullName")
    branch = _required(props, "RepositoryBranch")
    seed = props.get("SeedCode")
    key = _required(seed if isinstance(seed, dict) else {}, "Key")
    source_type, url = repository_source(connection, repository)
    if source_type is None:  # url: why not
        return project, {"SeedCode": f"not checked in ({url}): push the seed code yourself", "BuildId": ""}
    codebuild = boto3.client("codebuild")
    build = codebuild.start_build(
        projectName=project,
        sourceTypeOverride=source_type,
        sourceLocationOverride=url,
        sourceAuthOverride={"type": "CODECONNECTIONS", "resource": connection},
        environmentVariablesOverride=[
            {"name": "REPOSITORY_URL", "value": url, "type": "PLAINTEXT"},
            {"name": "REPOSITORY_BRANCH", "value": branch, "type": "PLAINTEXT"},
            {"name": "SEED_CODE_KEY", "value": key, "type": "PLAINTEXT"},
        ],
    )["build"]
    build = wait(codebuild, build["id"])
    result = _result(build)
    if build.get("buildStatus") != "SUCCEEDED" or result not in ("pushed", "kept"):
        link = (build.get("logs") or {}).get("deepLink", "")
        ended = f"the seed code check-in build {build['id']} ended {build.get('buildStatus')}"
        raise RuntimeError(f"{ended} {link}".strip())
    return project, {"SeedCode": result, "BuildId": build["id"]}


def update(props, event):
    """No new build: the result of the last check-in build of the project, as Create reported it."""
    project = event.get("PhysicalResourceId") or _required(props, "ProjectName")
    codebuild = boto3.client("codebuild")
    ids = codebuild.list_builds_for_project(projectName=project, sortOrder="DESCENDING").get("ids") or []
    builds = codebuild.batch_get_builds(ids=ids[:10])["builds"] if ids else []
    builds.sort(key=lambda b: str(b.get("startTime", "")), reverse=True)
    done = [b for b in builds if b.get("buildStatus") == "SUCCEEDED" and _result(b)]
    if not done:
        return project, {"SeedCode": "unknown", "BuildId": ""}
    return project, {"SeedCode": _result(done[0]), "BuildId": done[0]["id"]}


lambda_handler = custom_resource(create=create, update=update, delete=None)
