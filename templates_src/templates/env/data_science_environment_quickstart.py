"""data-science-environment-quickstart: the core and one data science environment in one stack (one account).

For trying the platform and for single-team accounts: it nests core-main and env-main, so the deploying
identity needs the rights of both (it creates the core's IAM roles); the two-step deployments separate them.
The core deployment is named after the environment unless a name is given, so two quickstarts with different
environment names coexist in one account and region.  Availability Zones are the region's first two or three.
"""

from __future__ import annotations

from troposphere import Equals, GetAtt, GetAZs, If, Join, Or, Output, Ref, Select, Sub, Template

from templates_src.blocks import nested, partitions
from templates_src.blocks import parameters as params
from templates_src.blocks.nested import nested_stack, offer_parameters
from templates_src.context import BuildContext
from templates_src.templates.core import core_main
from templates_src.templates.env import env_main

NAME = "data-science-environment-quickstart"
DESCRIPTION = "Creates the core and one data science environment in one step (single account)"

CORE_NAME = params.STACK_SET_NAME.with_(
    description="Name of the core deployment (part of its role and export names); empty uses ds-<EnvName>",
    default="",
    min_length=None,
    allowed_pattern=params.optional(params.STACK_SET_NAME.allowed_pattern),
    constraint=params.STACK_SET_NAME.constraint + ", or empty",
)
NUMBER_OF_AZS = params.ParamSpec(
    "NumberOfAZs",
    "How many of the region's Availability Zones the environment uses (the first ones)",
    "Number of Availability Zones",
    default="2",
    allowed_values=("2", "3"),
    constraint="must be 2 or 3",
)

ENVIRONMENT = ("EnvName", "EnvType", "SeedCodeS3BucketName")
NETWORK = (
    "VPCCIDR",
    "PrivateSubnet1ACIDR",
    "PrivateSubnet2ACIDR",
    "PrivateSubnet3ACIDR",
    "CreateNATGateways",
    "PublicSubnet1CIDR",
    "PublicSubnet2CIDR",
    "PublicSubnet3CIDR",
)
CORE = ("CreateSharedServices",)

DEFAULT_CORE_NAME = "DefaultCoreName"
THREE_AZS = "3AZCondition"


def _availability_zones():
    first = [Select(i, GetAZs(Ref("AWS::Region"))) for i in range(3)]
    return If(THREE_AZS, Join(",", first), Join(",", first[:2]))


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    env, core = ctx.declared(env_main), ctx.declared(core_main)
    labels = offer_parameters(t, env, ENVIRONMENT)
    labels.update(offer_parameters(t, env, NETWORK))
    labels.update(offer_parameters(t, core, CORE))
    params.add(t, CORE_NAME, NUMBER_OF_AZS)
    labels.update({CORE_NAME.name: "Core deployment name", NUMBER_OF_AZS.name: NUMBER_OF_AZS.label})
    nested.layout(
        t,
        [
            ("Environment", list(ENVIRONMENT)),
            ("Network", [NUMBER_OF_AZS.name, *NETWORK]),
            ("Core", [CORE_NAME.name, *CORE]),
        ],
        labels,
    )
    t.add_condition(DEFAULT_CORE_NAME, Equals(Ref(CORE_NAME.name), ""))
    t.add_condition(THREE_AZS, Equals(Ref(NUMBER_OF_AZS.name), "3"))
    # core-main has the administrator's console link only where the partition has a console.
    t.add_condition(partitions.KNOWN, Or(*(Equals(Ref("AWS::Partition"), p) for p in partitions.HOSTS)))

    core_name = If(DEFAULT_CORE_NAME, Sub("ds-${EnvName}"), Ref(CORE_NAME.name))
    core_stack = nested_stack(
        ctx,
        t,
        "DataScienceCore",
        core_main.NAME,
        {
            params.STACK_SET_NAME.name: core_name,
            "CreateSharedServices": Ref("CreateSharedServices"),
            **nested.forward_hardening(t, core),
        },
    )
    env_stack = nested_stack(
        ctx,
        t,
        "DataScienceEnvironment",
        env_main.NAME,
        {
            **{name: Ref(name) for name in ENVIRONMENT + NETWORK},
            "AvailabilityZones": _availability_zones(),
            "NumberOfAZs": Ref(NUMBER_OF_AZS.name),
            # The core whose platform boundary every role of the environment carries (imported by its name), when the
            # core creates one (no configured boundary).
            **({"CoreStackSetName": core_name} if "CoreStackSetName" in env.parameters else {}),
            **nested.forward_hardening(t, env),
        },
    )
    # The environment's MLOps portfolio uses the SageMaker project roles the core creates, and its roles the
    # core's platform boundary.
    env_stack.DependsOn = [core_stack.title]
    t.add_output(
        [
            Output(
                "AssumeDSAdministratorRole",
                Condition=partitions.KNOWN,
                Description="Console link to switch to the data science administrator role",
                Value=GetAtt(core_stack, "Outputs.AssumeDSAdministratorRole"),
            ),
            Output(
                "AssumeTeamAdminRole",
                Description="Console link to switch to the team administrator role",
                Value=GetAtt(env_stack, "Outputs.AssumeTeamAdminRole"),
            ),
            Output(
                "AssumeDataScientistRole",
                Description="Console link to switch to the data scientist role",
                Value=GetAtt(env_stack, "Outputs.AssumeDataScientistRole"),
            ),
            Output(
                "SageMakerDomainId",
                Description="SageMaker Studio domain id",
                Value=GetAtt(env_stack, "Outputs.SageMakerDomainId"),
            ),
            Output("StudioUrl", Description="Studio URL", Value=GetAtt(env_stack, "Outputs.StudioUrl")),
        ]
    )
    return t
