"""project-model-build-train: the MLOps project that trains and registers models.

SageMaker creates it when a data scientist creates a project from the template (a Service Catalog product of the
environment's portfolio, or an S3 project template).  A commit to the project's repository (seeded with
``seed_code/model-build-train``) runs the pipeline: CodeBuild, inside the environment's VPC, upserts and runs the
SageMaker pipeline (preprocess, train, evaluate, quality gate, register a model package pending approval) as
the environment's pipeline execution role, with the environment's network and keys on every job.
"""

from __future__ import annotations

from troposphere import Sub, Template, codepipeline

from templates_src.blocks import project
from templates_src.context import BuildContext

NAME = "project-model-build-train"
DESCRIPTION = "MLOps project: model build and training with a SageMaker pipeline, started by every commit"
SEED_CODE = "model-build-train"


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    project.add_parameters(t)
    project.environment_configuration(ctx, t, {**project.COMMON_SSM, **project.BUILD_ROLE_SSM})
    bucket = project.artifact_bucket(ctx, t)
    repo = project.repository(
        ctx,
        t,
        "ModelBuildCodeCommitRepository",
        project.BUILD_REPOSITORY_SUFFIX,
        SEED_CODE,
        "Model build and training code",
    )
    build_project = project.build_project(
        ctx,
        t,
        "ModelPipelineBuildProject",
        project.BUILD_SUFFIX,
        description="Upserts and runs the project's SageMaker pipeline",
        buildspec="buildspec.yml",
        timeout=480,
        values={
            **project.common_variables(bucket),
            "SAGEMAKER_PIPELINE_NAME": project.physical(ctx, "sagemaker-pipeline", ""),
            "MODEL_PACKAGE_GROUP_NAME": Sub("${SageMakerProjectName}-${SageMakerProjectId}"),
        },
    )
    pipe = project.pipeline(
        ctx,
        t,
        "ModelBuildPipeline",
        project.BUILD_SUFFIX,
        bucket,
        [
            codepipeline.Stages(Name="Source", Actions=[project.source_action(repo)]),
            codepipeline.Stages(
                Name="Build",
                Actions=[
                    project.build_action("BuildAndExecuteSageMakerPipeline", build_project, [project.SOURCE_ARTIFACT])
                ],
            ),
        ],
    )
    project.push_rule(ctx, t, "ModelBuildCodeCommitEventRule", "-build", repo, pipe)
    project.outputs(t, repo, pipe, bucket)
    return t
