"""The pipeline definition, built offline (fake credentials, network blocked) and checked from its JSON."""

from __future__ import annotations

import json

import pytest
from seed_build_support import BUILD_ENV, REGION, NetworkBlocked, apply_fake_aws, block_network

ENV = BUILD_ENV
SUBNETS = ENV["SUBNET_IDS"].split(",")
SECURITY_GROUPS = ENV["SECURITY_GROUP_IDS"].split(",")
PREFIX = ENV["MODEL_PACKAGE_GROUP_NAME"]
TAGS = [
    {"Key": "sagemaker:project-name", "Value": ENV["SAGEMAKER_PROJECT_NAME"]},
    {"Key": "sagemaker:project-id", "Value": ENV["SAGEMAKER_PROJECT_ID"]},
    {"Key": "EnvironmentName", "Value": ENV["ENV_NAME"]},
    {"Key": "EnvironmentType", "Value": ENV["ENV_TYPE"]},
]


def build(**overrides):
    from pipelines.abalone.pipeline import get_pipeline

    kwargs = dict(
        region=REGION,
        role=ENV["SAGEMAKER_PIPELINE_ROLE_ARN"],
        pipeline_name=ENV["SAGEMAKER_PIPELINE_NAME"],
        model_package_group_name=ENV["MODEL_PACKAGE_GROUP_NAME"],
        default_bucket=ENV["DATA_BUCKET"],
        model_bucket=ENV["MODEL_BUCKET"],
        s3_kms_key_arn=ENV["S3_KMS_KEY_ARN"],
        ebs_kms_key_arn=ENV["EBS_KMS_KEY_ARN"],
        subnet_ids=ENV["SUBNET_IDS"],
        security_group_ids=SECURITY_GROUPS,
        base_job_prefix=PREFIX,
        tags=TAGS,
    )
    kwargs.update(overrides)
    return get_pipeline(**kwargs)


@pytest.fixture(scope="module")
def definition():
    with pytest.MonkeyPatch.context() as patch:
        apply_fake_aws(patch)
        attempts = block_network(patch)
        pipeline = build()
        text = pipeline.definition()
        assert pipeline.name == ENV["SAGEMAKER_PIPELINE_NAME"]
    assert attempts == [], "building the definition reached for the network"
    return json.loads(text)


def test_the_network_guard_stops_aws_calls(monkeypatch):
    """The offline tests mean something: an AWS call under the guard fails, and is recorded."""
    import boto3
    from botocore.exceptions import BotoCoreError

    apply_fake_aws(monkeypatch)
    attempts = block_network(monkeypatch)
    with pytest.raises((BotoCoreError, NetworkBlocked)):
        boto3.client("sts", region_name=REGION).get_caller_identity()
    assert attempts


def all_steps(definition):
    """Every step, including those inside condition branches."""
    found = []

    def walk(steps):
        for step in steps:
            found.append(step)
            arguments = step.get("Arguments", {})
            walk(arguments.get("IfSteps", []))
            walk(arguments.get("ElseSteps", []))

    walk(definition["Steps"])
    return {step["Name"]: step for step in found}


def test_steps_and_their_order(definition):
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("PreprocessAbaloneData", "Processing"),
        ("TrainAbaloneModel", "Training"),
        ("EvaluateAbaloneModel", "Processing"),
        ("CheckMSEAbaloneEvaluation", "Condition"),
    ]
    steps = all_steps(definition)
    # Nothing else: in particular no repack job or model step the SDK might add behind our back.
    assert {name: step["Type"] for name, step in steps.items()} == {
        "PreprocessAbaloneData": "Processing",
        "TrainAbaloneModel": "Training",
        "EvaluateAbaloneModel": "Processing",
        "CheckMSEAbaloneEvaluation": "Condition",
        "RegisterAbaloneModel": "RegisterModel",
        "AbaloneMSEAboveThreshold": "Fail",
    }


def test_parameters(definition):
    parameters = {p["Name"]: (p["Type"], p.get("DefaultValue")) for p in definition["Parameters"]}
    assert parameters == {
        "ProcessingInstanceType": ("String", "ml.m5.xlarge"),
        "ProcessingInstanceCount": ("Integer", 1),
        "TrainingInstanceType": ("String", "ml.m5.xlarge"),
        "ModelApprovalStatus": ("String", "PendingManualApproval"),
        "InputDataUrl": ("String", f"s3://{ENV['DATA_BUCKET']}/datasets/abalone/abalone.csv"),
        "MseThreshold": ("Float", 6.0),
    }


def test_every_job_runs_in_the_environments_network_with_its_keys(definition):
    steps = all_steps(definition)
    jobs = {name: step["Arguments"] for name, step in steps.items() if step["Type"] in ("Processing", "Training")}
    assert set(jobs) == {"PreprocessAbaloneData", "TrainAbaloneModel", "EvaluateAbaloneModel"}
    for name, job in jobs.items():
        if steps[name]["Type"] == "Processing":
            network = job["NetworkConfig"]
            vpc, volume_key = network["VpcConfig"], job["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"]
            output_key = job["ProcessingOutputConfig"]["KmsKeyId"]
            encryption, isolation = network["EnableInterContainerTrafficEncryption"], network["EnableNetworkIsolation"]
        else:
            vpc, volume_key = job["VpcConfig"], job["ResourceConfig"]["VolumeKmsKeyId"]
            output_key = job["OutputDataConfig"]["KmsKeyId"]
            encryption, isolation = job["EnableInterContainerTrafficEncryption"], job["EnableNetworkIsolation"]
        assert vpc == {"Subnets": SUBNETS, "SecurityGroupIds": SECURITY_GROUPS}, name
        assert volume_key == ENV["EBS_KMS_KEY_ARN"], name
        assert output_key == ENV["S3_KMS_KEY_ARN"], name
        assert encryption is True, name
        assert isolation is True, name
        assert job["RoleArn"] == ENV["SAGEMAKER_PIPELINE_ROLE_ARN"], name
        # Jobs get the environment tags; the reserved sagemaker: keys are SageMaker's to set.
        assert job["Tags"] == [
            {"Key": "EnvironmentName", "Value": "team1"},
            {"Key": "EnvironmentType", "Value": "dev"},
        ], name


def test_preprocessing_job(definition):
    job = all_steps(definition)["PreprocessAbaloneData"]["Arguments"]
    assert job["AppSpecification"]["ImageUri"].endswith("/sagemaker-scikit-learn:1.9-0-cpu-py3")
    assert job["AppSpecification"]["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/preprocess.py"]
    inputs = {i["InputName"]: i["S3Input"] for i in job["ProcessingInputs"]}
    assert inputs["raw"]["S3Uri"] == {"Get": "Parameters.InputDataUrl"}
    assert inputs["raw"]["LocalPath"] == "/opt/ml/processing/input/data"
    assert inputs["code"]["S3Uri"].startswith(f"s3://{ENV['DATA_BUCKET']}/{PREFIX}/code/")
    assert inputs["code"]["S3Uri"].endswith("/preprocess.py")
    outputs = {o["OutputName"]: o["S3Output"] for o in job["ProcessingOutputConfig"]["Outputs"]}
    assert set(outputs) == {"train", "validation", "test"}
    for split, output in outputs.items():
        assert output["LocalPath"] == f"/opt/ml/processing/{split}"
        assert output["S3Uri"]["Std:Join"]["Values"] == [
            "s3:/",
            ENV["DATA_BUCKET"],
            PREFIX,
            {"Get": "Execution.PipelineExecutionId"},
            "preprocess",
            split,
        ]
    assert job["ProcessingResources"]["ClusterConfig"]["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
    assert job["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == {"Get": "Parameters.ProcessingInstanceCount"}


def test_training_job_uses_the_builtin_xgboost_with_a_current_objective(definition):
    job = all_steps(definition)["TrainAbaloneModel"]["Arguments"]
    image = job["AlgorithmSpecification"]["TrainingImage"]
    assert image.endswith("/sagemaker-xgboost:3.2-0") and f".{REGION}." in image
    hyperparameters = job["HyperParameters"]
    assert hyperparameters["objective"] == "reg:squarederror"
    assert "reg:linear" not in json.dumps(definition)
    assert all(isinstance(value, str) for value in hyperparameters.values())
    channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}
    for name, channel in channels.items():
        assert channel["ContentType"] == "text/csv"
        assert channel["DataSource"]["S3DataSource"]["S3Uri"] == {
            "Get": f"Steps.PreprocessAbaloneData.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"
        }
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{ENV['MODEL_BUCKET']}/{PREFIX}/training"
    assert job["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}


def test_evaluation_job_and_its_report(definition):
    steps = all_steps(definition)
    step = steps["EvaluateAbaloneModel"]
    job = step["Arguments"]
    assert (
        job["AppSpecification"]["ImageUri"]
        == steps["TrainAbaloneModel"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"]
    )
    assert job["AppSpecification"]["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/evaluate.py"]
    inputs = {i["InputName"]: i["S3Input"] for i in job["ProcessingInputs"]}
    assert inputs["model"]["S3Uri"] == {"Get": "Steps.TrainAbaloneModel.ModelArtifacts.S3ModelArtifacts"}
    assert inputs["test"]["S3Uri"] == {
        "Get": "Steps.PreprocessAbaloneData.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"
    }
    (output,) = job["ProcessingOutputConfig"]["Outputs"]
    assert output["OutputName"] == "evaluation"
    assert output["S3Output"]["S3Uri"]["Std:Join"]["Values"][1] == ENV["MODEL_BUCKET"]
    assert step["PropertyFiles"] == [
        {"PropertyFileName": "AbaloneEvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]


def test_mse_gate(definition):
    condition = all_steps(definition)["CheckMSEAbaloneEvaluation"]["Arguments"]
    (check,) = condition["Conditions"]
    assert check["Type"] == "LessThanOrEqualTo"
    assert check["LeftValue"] == {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.EvaluateAbaloneModel.PropertyFiles.AbaloneEvaluationReport"},
            "Path": "regression_metrics.mse.value",
        }
    }
    assert check["RightValue"] == {"Get": "Parameters.MseThreshold"}
    assert [s["Name"] for s in condition["IfSteps"]] == ["RegisterAbaloneModel"]
    assert [s["Name"] for s in condition["ElseSteps"]] == ["AbaloneMSEAboveThreshold"]
    message = json.dumps(condition["ElseSteps"][0]["Arguments"]["ErrorMessage"])
    assert "regression_metrics.mse.value" in message and "Parameters.MseThreshold" in message


def test_registered_model_package(definition):
    register = all_steps(definition)["RegisterAbaloneModel"]["Arguments"]
    assert register["ModelPackageGroupName"] == ENV["MODEL_PACKAGE_GROUP_NAME"]
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    spec = register["InferenceSpecification"]
    (container,) = spec["Containers"]
    assert container["Image"].endswith("/sagemaker-xgboost:3.2-0")
    assert container["ModelDataUrl"] == {"Get": "Steps.TrainAbaloneModel.ModelArtifacts.S3ModelArtifacts"}
    assert spec["SupportedContentTypes"] == ["text/csv"]
    assert spec["SupportedResponseMIMETypes"] == ["text/csv"]
    instance_types = spec["SupportedRealtimeInferenceInstanceTypes"] + spec["SupportedTransformInstanceTypes"]
    assert "ml.m5.large" in spec["SupportedRealtimeInferenceInstanceTypes"]
    # EBS-backed types only (the endpoint's volume gets the environment's key); no t2, no local-NVMe types.
    assert not [t for t in instance_types if t.startswith("ml.t") or t.split(".")[1].endswith("d")]
    statistics = register["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"
    assert statistics["S3Uri"] == {
        "Std:Join": {
            "On": "/",
            "Values": [
                {"Get": "Steps.EvaluateAbaloneModel.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"},
                "evaluation.json",
            ],
        }
    }


def test_script_uris_follow_the_script_content(tmp_path, monkeypatch, offline_aws):
    from pipelines.abalone import pipeline as module

    first = module.script_uploads("bucket", "prefix")
    assert set(first) == {module.PREPROCESS_SCRIPT, module.EVALUATE_SCRIPT}
    assert first == module.script_uploads("bucket", "prefix")
    original = module.EVALUATE_SCRIPT
    changed = tmp_path / "evaluate.py"
    changed.write_text(original.read_text() + "\n# changed\n")
    monkeypatch.setattr(module, "EVALUATE_SCRIPT", changed)
    second = module.script_uploads("bucket", "prefix")
    assert second[changed] != first[original]
    assert second[changed].endswith("/evaluate.py") and second[changed].startswith("s3://bucket/prefix/code/")


@pytest.mark.parametrize(
    "missing",
    ["subnet_ids", "security_group_ids", "s3_kms_key_arn", "ebs_kms_key_arn", "model_bucket", "default_bucket"],
)
def test_refuses_to_define_jobs_without_network_or_keys(offline_aws, missing):
    with pytest.raises(ValueError, match=missing):
        build(**{missing: "" if missing.endswith("ids") else None})


def test_network_isolation_can_be_turned_off(offline_aws):
    steps = all_steps(json.loads(build(enable_network_isolation=False).definition()))
    assert steps["TrainAbaloneModel"]["Arguments"]["EnableNetworkIsolation"] is False
    assert steps["PreprocessAbaloneData"]["Arguments"]["NetworkConfig"]["EnableNetworkIsolation"] is False
    # Everything else stays.
    assert steps["TrainAbaloneModel"]["Arguments"]["VpcConfig"]["Subnets"] == SUBNETS
