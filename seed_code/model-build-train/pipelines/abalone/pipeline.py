"""The abalone model build pipeline: preprocess -> train (built-in XGBoost) -> evaluate -> MSE gate -> register.

Built with the SageMaker Python SDK v3 (``sagemaker.mlops.workflow``). ``get_pipeline`` only *defines* the
pipeline: it makes no AWS call, so the definition can be built and checked offline (see the tests). The two
container scripts are referenced by S3 URIs that contain a hash of their content; ``script_uploads`` lists
them and ``run_pipeline`` uploads them before it creates or updates the pipeline.

Every job runs in the environment's private subnets with its security groups, with its storage volume
encrypted with the environment's EBS key, its S3 outputs encrypted with the environment's S3 key,
inter-container traffic encryption on and network isolation on (the scripts make no network call; SageMaker
itself moves the inputs and outputs). The environment's IAM guardrails reject jobs without these settings.

Steps:
  PreprocessAbaloneData      SKLearn processing: raw CSV -> train/validation/test (preprocess.py)
  TrainAbaloneModel          built-in XGBoost, objective reg:squarederror, model to the model bucket
  EvaluateAbaloneModel       processing on the XGBoost image: evaluation.json (evaluate.py)
  CheckMSEAbaloneEvaluation  mse <= MseThreshold ?
    yes: RegisterAbaloneModel   model package in the project's model package group (approval pending)
    no:  AbaloneMSEAboveThreshold  fails the execution with the MSE in the message
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import boto3
from sagemaker.core import image_uris
from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
from sagemaker.core.network import NetworkConfig
from sagemaker.core.processing import ScriptProcessor
from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output
from sagemaker.core.training.configs import Compute, InputData, Networking, OutputDataConfig, StoppingCondition, Tag
from sagemaker.core.workflow.conditions import ConditionLessThanOrEqualTo
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow import ConditionStep, FailStep, ModelStep, Pipeline, ProcessingStep, TrainingStep
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train.model_trainer import ModelTrainer

HERE = Path(__file__).resolve().parent
PREPROCESS_SCRIPT = HERE / "preprocess.py"
EVALUATE_SCRIPT = HERE / "evaluate.py"

# Container versions, looked up in the SDK's image URI configuration (sagemaker/core/image_uri_config).
SKLEARN_FRAMEWORK_VERSION = "1.9-0"
XGBOOST_FRAMEWORK_VERSION = "3.2-0"

PROCESSING_BASE = "/opt/ml/processing"
# Inference instance types for the model package: EBS-backed types that take the environment's volume key
# (the deploy project encrypts the endpoint's storage volume with it).
INFERENCE_INSTANCE_TYPES = ["ml.m5.large", "ml.m5.xlarge", "ml.c5.large", "ml.c5.xlarge"]
TRANSFORM_INSTANCE_TYPES = ["ml.m5.large", "ml.m5.xlarge"]

XGBOOST_HYPERPARAMETERS = {
    "objective": "reg:squarederror",
    "eval_metric": "rmse",
    "num_round": 50,
    "max_depth": 5,
    "eta": 0.2,
    "gamma": 4,
    "min_child_weight": 6,
    "subsample": 0.7,
}

# Offline definition: no telemetry calls from the SDK (the jobs' network is the environment's VPC anyway).
SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


def _require(**values) -> None:
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ValueError(
            "get_pipeline needs " + ", ".join(missing) + ": the environment's guardrails reject "
            "SageMaker jobs without the environment's buckets, network and keys"
        )


def _ids(values: str | Iterable[str] | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = values.split(",")
    return [value.strip() for value in values if value and value.strip()]


def _content_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def script_uploads(default_bucket: str, base_job_prefix: str) -> dict[Path, str]:
    """The container scripts and the S3 URIs the pipeline definition reads them from.

    The key contains a hash of the scripts, so a changed script gets a new key (an execution never runs a
    script uploaded for another version of the pipeline) and the definition is identical for identical code.
    """
    code_hash = _content_hash(PREPROCESS_SCRIPT, EVALUATE_SCRIPT)
    return {
        path: f"s3://{default_bucket}/{base_job_prefix}/code/{code_hash}/{path.name}"
        for path in (PREPROCESS_SCRIPT, EVALUATE_SCRIPT)
    }


def job_tags(tags: Sequence[Mapping[str, str]] | None) -> list[dict[str, str]]:
    """The tags for the jobs: the pipeline's tags except the reserved sagemaker:/aws: keys (SageMaker tags the
    jobs of a project's pipeline with the project's sagemaker: tags itself)."""
    return [
        {"Key": tag["Key"], "Value": tag["Value"]}
        for tag in tags or []
        if not tag["Key"].lower().startswith(("sagemaker:", "aws:"))
    ]


def _disable_client_side_role_validation() -> None:
    # SDK v3 checks roles with IAM SimulatePrincipalPolicy while a definition is built. The pipeline role is
    # the environment's (its permissions are the platform's to decide); skip the check, which would also
    # make building the definition call AWS. An explicit SAGEMAKER_VALIDATE_ROLE setting wins.
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")


def get_session(region: str, default_bucket: str) -> PipelineSession:
    """A pipeline session for ``region`` with ``default_bucket``; telemetry off, no SDK defaults files."""
    return PipelineSession(
        boto_session=boto3.Session(region_name=region), default_bucket=default_bucket, sagemaker_config=SDK_CONFIG
    )


def get_pipeline(
    region: str,
    role: str,
    pipeline_name: str = "AbalonePipeline",
    model_package_group_name: str = "AbalonePackageGroup",
    default_bucket: str | None = None,
    model_bucket: str | None = None,
    s3_kms_key_arn: str | None = None,
    ebs_kms_key_arn: str | None = None,
    subnet_ids: str | Iterable[str] | None = None,
    security_group_ids: str | Iterable[str] | None = None,
    base_job_prefix: str = "abalone",
    sagemaker_session: PipelineSession | None = None,
    tags: Sequence[Mapping[str, str]] | None = None,
    enable_network_isolation: bool = True,
    mse_threshold: float = 6.0,
) -> Pipeline:
    """Define the abalone pipeline (no AWS call).

    Args:
        region: AWS Region of the pipeline and its images.
        role: ARN of the role the jobs run as (the environment's SageMaker pipeline execution role).
        pipeline_name: name of the SageMaker pipeline.
        model_package_group_name: model package group the model is registered in.
        default_bucket: the environment's data bucket: input data set, scripts, preprocessed splits.
        model_bucket: the environment's model bucket: model artifacts and evaluation reports.
        s3_kms_key_arn: KMS key of the jobs' S3 outputs (the environment's S3 key).
        ebs_kms_key_arn: KMS key of the jobs' storage volumes (the environment's EBS key).
        subnet_ids, security_group_ids: the environment's private subnets and SageMaker security groups
            (lists or comma-separated strings).
        base_job_prefix: S3 prefix and job name prefix (the project's <name>-<id>).
        sagemaker_session: a ``PipelineSession``; by default one for ``region`` and ``default_bucket``.
        tags: tags ({"Key", "Value"}) for the jobs (reserved sagemaker:/aws: keys are left out).
        enable_network_isolation: run the containers without network access (the scripts need none).
        mse_threshold: default of the MseThreshold parameter.
    """
    subnets = _ids(subnet_ids)
    security_groups = _ids(security_group_ids)
    _require(
        region=region,
        role=role,
        default_bucket=default_bucket,
        model_bucket=model_bucket,
        s3_kms_key_arn=s3_kms_key_arn,
        ebs_kms_key_arn=ebs_kms_key_arn,
        subnet_ids=subnets,
        security_group_ids=security_groups,
    )
    _disable_client_side_role_validation()
    session = sagemaker_session or get_session(region, default_bucket)
    if not isinstance(session, PipelineSession):
        raise TypeError("sagemaker_session must be a PipelineSession")
    tags_for_jobs = job_tags(tags)
    scripts = script_uploads(default_bucket, base_job_prefix)

    # -- parameters -----------------------------------------------------------------------------------------
    processing_instance_type = ParameterString("ProcessingInstanceType", default_value="ml.m5.xlarge")
    processing_instance_count = ParameterInteger("ProcessingInstanceCount", default_value=1)
    training_instance_type = ParameterString("TrainingInstanceType", default_value="ml.m5.xlarge")
    model_approval_status = ParameterString("ModelApprovalStatus", default_value="PendingManualApproval")
    input_data = ParameterString("InputDataUrl", default_value=f"s3://{default_bucket}/datasets/abalone/abalone.csv")
    mse_limit = ParameterFloat("MseThreshold", default_value=float(mse_threshold))

    network = NetworkConfig(
        subnets=subnets,
        security_group_ids=security_groups,
        encrypt_inter_container_traffic=True,
        enable_network_isolation=enable_network_isolation,
    )

    def execution_uri(bucket: str, *parts: str):
        return Join(on="/", values=["s3:/", bucket, base_job_prefix, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts])

    def s3_input(name: str, source, destination: str) -> ProcessingInput:
        return ProcessingInput(
            input_name=name,
            s3_input=ProcessingS3Input(
                s3_uri=source, local_path=destination, s3_data_type="S3Prefix", s3_input_mode="File"
            ),
        )

    def s3_output(name: str, source: str, destination) -> ProcessingOutput:
        return ProcessingOutput(
            output_name=name,
            s3_output=ProcessingS3Output(s3_uri=destination, local_path=source, s3_upload_mode="EndOfJob"),
        )

    def processor(image_uri: str, job: str) -> ScriptProcessor:
        return ScriptProcessor(
            role=role,
            image_uri=image_uri,
            command=["python3"],
            instance_type=processing_instance_type,
            instance_count=processing_instance_count,
            volume_kms_key=ebs_kms_key_arn,
            output_kms_key=s3_kms_key_arn,
            network_config=network,
            base_job_name=f"{base_job_prefix}-{job}",
            sagemaker_session=session,
            tags=tags_for_jobs or None,
        )

    # -- preprocessing --------------------------------------------------------------------------------------
    sklearn_image = image_uris.retrieve(
        "sklearn", region=region, version=SKLEARN_FRAMEWORK_VERSION, py_version="py3", instance_type="ml.m5.xlarge"
    )
    step_process = ProcessingStep(
        name="PreprocessAbaloneData",
        step_args=processor(sklearn_image, "preprocess").run(
            code=scripts[PREPROCESS_SCRIPT],
            inputs=[s3_input("raw", input_data, f"{PROCESSING_BASE}/input/data")],
            outputs=[
                s3_output(split, f"{PROCESSING_BASE}/{split}", execution_uri(default_bucket, "preprocess", split))
                for split in ("train", "validation", "test")
            ],
            arguments=["--input-dir", f"{PROCESSING_BASE}/input/data", "--output-dir", PROCESSING_BASE],
        ),
    )
    split_uri = {
        split: step_process.properties.ProcessingOutputConfig.Outputs[split].S3Output.S3Uri
        for split in ("train", "validation", "test")
    }

    # -- training -------------------------------------------------------------------------------------------
    xgboost_image = image_uris.retrieve("xgboost", region=region, version=XGBOOST_FRAMEWORK_VERSION)
    trainer = ModelTrainer(
        training_image=xgboost_image,
        role=role,
        sagemaker_session=session,
        base_job_name=f"{base_job_prefix}-train",
        hyperparameters=dict(XGBOOST_HYPERPARAMETERS),
        compute=Compute(
            instance_type=training_instance_type,
            instance_count=1,
            volume_size_in_gb=30,
            volume_kms_key_id=ebs_kms_key_arn,
        ),
        networking=Networking(
            subnets=subnets,
            security_group_ids=security_groups,
            enable_network_isolation=enable_network_isolation,
            enable_inter_container_traffic_encryption=True,
        ),
        output_data_config=OutputDataConfig(
            s3_output_path=f"s3://{model_bucket}/{base_job_prefix}/training", kms_key_id=s3_kms_key_arn
        ),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=3600),
        tags=[Tag(key=tag["Key"], value=tag["Value"]) for tag in tags_for_jobs] or None,
    )
    step_train = TrainingStep(
        name="TrainAbaloneModel",
        step_args=trainer.train(
            input_data_config=[
                InputData(channel_name=channel, data_source=split_uri[channel], content_type="text/csv")
                for channel in ("train", "validation")
            ]
        ),
    )
    model_data = step_train.properties.ModelArtifacts.S3ModelArtifacts

    # -- evaluation -----------------------------------------------------------------------------------------
    evaluation_report = PropertyFile(name="AbaloneEvaluationReport", output_name="evaluation", path="evaluation.json")
    step_eval = ProcessingStep(
        name="EvaluateAbaloneModel",
        step_args=processor(xgboost_image, "evaluate").run(
            code=scripts[EVALUATE_SCRIPT],
            inputs=[
                s3_input("model", model_data, f"{PROCESSING_BASE}/model"),
                s3_input("test", split_uri["test"], f"{PROCESSING_BASE}/test"),
            ],
            outputs=[
                s3_output("evaluation", f"{PROCESSING_BASE}/evaluation", execution_uri(model_bucket, "evaluation"))
            ],
            arguments=[
                "--model",
                f"{PROCESSING_BASE}/model/model.tar.gz",
                "--test-dir",
                f"{PROCESSING_BASE}/test",
                "--output-dir",
                f"{PROCESSING_BASE}/evaluation",
            ],
        ),
        property_files=[evaluation_report],
    )
    mse = JsonGet(step_name=step_eval.name, property_file=evaluation_report, json_path="regression_metrics.mse.value")

    # -- registration (no repack step: the built-in algorithm needs no inference code) ----------------------
    model = ModelBuilder(
        image_uri=xgboost_image,
        s3_model_data_url=model_data,
        role_arn=role,
        sagemaker_session=session,
        dependencies=None,
        log_level=logging.WARNING,
    )
    model_metrics = ModelMetrics(
        model_statistics=MetricsSource(
            s3_uri=Join(
                on="/",
                values=[
                    step_eval.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri,
                    "evaluation.json",
                ],
            ),
            content_type="application/json",
        )
    )
    step_register = ModelStep(
        name="RegisterAbaloneModel",
        step_args=model.register(
            model_package_group_name=model_package_group_name,
            content_types=["text/csv"],
            response_types=["text/csv"],
            inference_instances=INFERENCE_INSTANCE_TYPES,
            transform_instances=TRANSFORM_INSTANCE_TYPES,
            model_metrics=model_metrics,
            approval_status=model_approval_status,
        ),
    )
    if step_register.steps:  # a repack job would run without the environment's network and keys
        raise RuntimeError(
            "the SDK added steps to RegisterAbaloneModel: " + ", ".join(step.name for step in step_register.steps)
        )

    step_fail = FailStep(
        name="AbaloneMSEAboveThreshold",
        error_message=Join(
            on=" ",
            values=["The model's test MSE", mse, "is above the threshold", mse_limit, "- the model is not registered."],
        ),
    )
    step_cond = ConditionStep(
        name="CheckMSEAbaloneEvaluation",
        conditions=[ConditionLessThanOrEqualTo(left=mse, right=mse_limit)],
        if_steps=[step_register],
        else_steps=[step_fail],
    )

    return Pipeline(
        name=pipeline_name,
        parameters=[
            processing_instance_type,
            processing_instance_count,
            training_instance_type,
            model_approval_status,
            input_data,
            mse_limit,
        ],
        steps=[step_process, step_train, step_eval, step_cond],
        sagemaker_session=session,
    )
