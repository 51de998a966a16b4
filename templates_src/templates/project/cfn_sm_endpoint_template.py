"""cfn-sm-endpoint-template: the SageMaker endpoint a model deployment creates in each stage's account.

Shipped in the model deploy seed code (packaging adds it to the seed-code zip); the project's pipeline deploys it
with a StackSet per stage (staging, production), run as the environment's StackSet execution role of each target
account (the development account itself for single-account deployments).  The endpoint serves a model package
of the development account from the stage's private subnets, its storage volume encrypted with the environment's
key, with network isolation unless turned off and optional data capture.
"""

from __future__ import annotations

from troposphere import And, Equals, GetAtt, If, Not, Output, Parameter, Ref, Split, Tags, Template, sagemaker

from templates_src.blocks import environment, project, scanners
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ParamSpec
from templates_src.context import BuildContext

NAME = "cfn-sm-endpoint-template"
DESCRIPTION = "Creates a SageMaker endpoint for a model package of an MLOps project in one deployment stage"

MODEL_PACKAGE = ParamSpec(
    "ModelPackageName",
    "ARN of the (approved) model package to serve",
    "Model package ARN",
    max_length=2048,
    allowed_pattern=rf"arn:{params.PARTITION}:sagemaker:[a-z0-9-]+:\d{{12}}:model-package/[\w-]{{1,63}}/\d+",
    constraint="must be a versioned model package ARN (arn:<partition>:sagemaker:<region>:<account-id>:"
    "model-package/<group>/<version>)",
)
MODEL_ROLE = ParamSpec(
    "ExecutionRoleName",
    "Name of the model execution role in the stage's account (the environment's model execution role)",
    "Model execution role name",
    min_length=1,
    max_length=64,
    allowed_pattern=params.ROLE_NAME,
    constraint="must be an IAM role name",
)
SUBNETS = ParamSpec(
    "SageMakerSubnetIds",
    "Name of the SSM parameter with the stage's private subnet ids (comma-separated): "
    f"<EnvName>-<stage>-{environment.PRIVATE_SUBNET_IDS_SSM}",
    "Subnet ids SSM parameter",
    type="AWS::SSM::Parameter::Value<String>",
)
SECURITY_GROUPS = SUBNETS.with_(
    name="SageMakerSecurityGroupIds",
    label="Security group ids SSM parameter",
    description="Name of the SSM parameter with the stage's SageMaker security group ids (comma-separated): "
    f"<EnvName>-<stage>-{environment.SECURITY_GROUP_IDS_SSM}",
)
VOLUME_KEY = ParamSpec(
    "VolumeKmsKeyArn",
    "KMS key of the endpoint instances' storage volumes: the environment's EBS key",
    "Storage volume KMS key ARN",
    max_length=params.KMS_KEY_ARN_MAX,
    allowed_pattern=params.KMS_KEY_ARN,
    constraint="must be a KMS key ARN (arn:<partition>:kms:<region>:<account-id>:key/<key-id>)",
)
INSTANCE_TYPE = ParamSpec(
    "EndpointInstanceType",
    "Instance type of the endpoint (one with an EBS storage volume, so the volume key applies)",
    "Instance type",
    default="ml.m5.large",
    max_length=32,
    allowed_pattern=r"ml\.[a-z0-9]+\.[a-z0-9]+",
    constraint="must be a SageMaker instance type, e.g. ml.m5.large",
)
INSTANCE_COUNT = ParamSpec(
    "EndpointInstanceCount",
    "Number of instances",
    "Instance count",
    type="Number",
    default="1",
    constraint="must be a number from 1 to 100",
)
NETWORK_ISOLATION = params.yes_no(
    "NetworkIsolation",
    "Run the model container without any network access (the built-in containers need none)",
    "Network isolation",
    default="YES",
)
DATA_CAPTURE = params.yes_no(
    "DataCapture",
    "Capture requests and responses to DataCaptureS3Uri (for model monitoring)",
    "Data capture",
    default="NO",
)
SAMPLING = ParamSpec(
    "DataCaptureSamplingPercentage",
    "Percentage of requests captured",
    "Sampling percentage",
    type="Number",
    default="100",
    constraint="must be a number from 1 to 100",
)
CAPTURE_URI = ParamSpec(
    "DataCaptureS3Uri",
    "Where captured data goes (s3://bucket/prefix), required with DataCapture=YES: under the "
    "environment's model bucket's data-capture/ prefix, the one place the model execution roles may write (the "
    "deploy build sets it)",
    "Data capture S3 URI",
    default="",
    max_length=1024,
    allowed_pattern=params.optional(
        r"s3://[a-z0-9][a-z0-9.-]{1,61}"
        r"[a-z0-9](/.*)?"
    ),
    constraint="must be an s3:// URI, or empty",
)
CAPTURE_KEY = ParamSpec(
    "DataCaptureKmsKeyArn",
    "KMS key of the captured data. Empty: the bucket's default encryption",
    "Data capture KMS key ARN",
    default="",
    max_length=params.KMS_KEY_ARN_MAX,
    allowed_pattern=params.optional(params.KMS_KEY_ARN),
    constraint="must be a KMS key ARN, or empty",
)

ISOLATED = "NetworkIsolationCondition"
CAPTURE = "DataCaptureCondition"
CAPTURE_KEY_GIVEN = "DataCaptureKeyGiven"


def _parameters(t: Template) -> None:
    params.add(
        t,
        project.PROJECT_NAME,
        project.PROJECT_ID,
        params.ENV_NAME,
        params.ENV_TYPE,
        MODEL_PACKAGE,
        MODEL_ROLE,
        SUBNETS,
        SECURITY_GROUPS,
        VOLUME_KEY,
        INSTANCE_TYPE,
        INSTANCE_COUNT,
        NETWORK_ISOLATION,
        DATA_CAPTURE,
        SAMPLING,
        CAPTURE_URI,
        CAPTURE_KEY,
    )
    for name, low, high in ((INSTANCE_COUNT.name, 1, 100), (SAMPLING.name, 1, 100)):
        parameter: Parameter = t.parameters[name]
        parameter.MinValue, parameter.MaxValue = low, high
    params.interface(
        t,
        [
            ("SageMaker project", [project.PROJECT_NAME, project.PROJECT_ID, MODEL_PACKAGE]),
            ("Stage", [params.ENV_NAME, params.ENV_TYPE, MODEL_ROLE, SUBNETS, SECURITY_GROUPS, VOLUME_KEY]),
            ("Endpoint", [INSTANCE_TYPE, INSTANCE_COUNT, NETWORK_ISOLATION]),
            ("Data capture", [DATA_CAPTURE, SAMPLING, CAPTURE_URI, CAPTURE_KEY]),
        ],
    )
    t.add_condition(ISOLATED, Equals(Ref(NETWORK_ISOLATION.name), "YES"))
    # The rule refuses YES without a destination; saying so in the condition too lets cfn-lint see that the
    # destination is never the empty default where it is used.
    t.add_condition(CAPTURE, And(Equals(Ref(DATA_CAPTURE.name), "YES"), Not(Equals(Ref(CAPTURE_URI.name), ""))))
    t.add_condition(CAPTURE_KEY_GIVEN, Not(Equals(Ref(CAPTURE_KEY.name), "")))
    t.add_rule(
        "DataCaptureDestination",
        {
            "RuleCondition": Equals(Ref(DATA_CAPTURE.name), "YES"),
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref(CAPTURE_URI.name), "")),
                    "AssertDescription": "DataCaptureS3Uri is required with DataCapture=YES",
                }
            ],
        },
    )


def _tags() -> Tags:
    return Tags(
        **{
            "sagemaker:deployment-stage": Ref("EnvType"),
            project.PROJECT_NAME_TAG: Ref("SageMakerProjectName"),
            project.PROJECT_ID_TAG: Ref("SageMakerProjectId"),
            **environment.tags(),
        }
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    _parameters(t)
    model = t.add_resource(
        sagemaker.Model(
            "Model",
            ExecutionRoleArn=ctx.role_arn("${ExecutionRoleName}"),
            PrimaryContainer=sagemaker.ContainerDefinition(ModelPackageName=Ref(MODEL_PACKAGE.name)),
            VpcConfig=sagemaker.VpcConfig(
                Subnets=Split(",", Ref(SUBNETS.name)), SecurityGroupIds=Split(",", Ref(SECURITY_GROUPS.name))
            ),
            EnableNetworkIsolation=If(ISOLATED, True, False),
            Tags=_tags(),
        )
    )
    scanners.skip(model, scanners.NETWORK_ISOLATION_BY_PARAMETER)
    config = t.add_resource(
        sagemaker.EndpointConfig(
            "EndpointConfig",
            ProductionVariants=[
                sagemaker.ProductionVariant(
                    VariantName="AllTraffic",
                    ModelName=GetAtt(model, "ModelName"),
                    InitialVariantWeight=1.0,
                    InitialInstanceCount=Ref(INSTANCE_COUNT.name),
                    InstanceType=Ref(INSTANCE_TYPE.name),
                )
            ],
            KmsKeyId=Ref(VOLUME_KEY.name),
            # A plain mapping: troposphere's DataCaptureConfig class is another resource type's property.
            DataCaptureConfig=If(
                CAPTURE,
                {
                    "EnableCapture": True,
                    "InitialSamplingPercentage": Ref(SAMPLING.name),
                    "DestinationS3Uri": Ref(CAPTURE_URI.name),
                    "KmsKeyId": If(CAPTURE_KEY_GIVEN, Ref(CAPTURE_KEY.name), Ref("AWS::NoValue")),
                    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
                },
                Ref("AWS::NoValue"),
            ),
            Tags=_tags(),
        )
    )
    endpoint = t.add_resource(
        sagemaker.Endpoint(
            "Endpoint",
            EndpointName=ctx.namer.name(
                "endpoint",
                "${SageMakerProjectName}-${SageMakerProjectId}-${EnvType}",
                {**project.PROJECT, "EnvType": params.ENV_TYPE},
                prefixed=False,
            ).sub(),
            EndpointConfigName=GetAtt(config, "EndpointConfigName"),
            Tags=_tags(),
        )
    )
    t.add_output(
        [
            Output("EndpointName", Description="Name of the endpoint", Value=GetAtt(endpoint, "EndpointName")),
            Output("EndpointArn", Description="ARN of the endpoint", Value=Ref(endpoint)),
            Output("ModelName", Description="Name of the model", Value=GetAtt(model, "ModelName")),
        ]
    )
    return t
