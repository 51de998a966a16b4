"""Security invariants over every generated template in every configuration: what no template may ever do,
whoever adds the next one.  (Per-template behaviour is tested with the templates; this file is the floor.)"""

from __future__ import annotations

import json

from templates_src.config import SUPPORTED_LAMBDA_RUNTIMES
from tests import cfn


def _ref_or_name(value) -> str:
    return json.dumps(value, sort_keys=True)


def _log_targets(template: dict) -> set[str]:
    """Buckets other buckets deliver server access logs to (S3 cannot deliver them to an SSE-KMS bucket)."""
    targets = set()
    for bucket in cfn.resources(template, "AWS::S3::Bucket").values():
        target = (bucket["Properties"].get("LoggingConfiguration") or {}).get("DestinationBucketName")
        if target is not None:
            targets.add(_ref_or_name(target))
    return targets


def _bucket_policies(template: dict) -> dict[str, list[dict]]:
    policies = {}
    for policy in cfn.resources(template, "AWS::S3::BucketPolicy").values():
        policies[_ref_or_name(policy["Properties"]["Bucket"])] = cfn.as_list(
            policy["Properties"]["PolicyDocument"]["Statement"]
        )
    return policies


def test_buckets_are_encrypted_versioned_private_and_tls_only(any_templates):
    _, built = any_templates
    checked = 0
    for name, template in built.items():
        log_targets, policies = _log_targets(template), _bucket_policies(template)
        for logical_id, bucket in cfn.resources(template, "AWS::S3::Bucket").items():
            props = bucket["Properties"]
            (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            default = rule["ServerSideEncryptionByDefault"]
            is_log_target = _ref_or_name({"Ref": logical_id}) in log_targets
            if is_log_target:
                assert default["SSEAlgorithm"] == "AES256", (name, logical_id)
            else:  # a customer managed key, with S3 Bucket Keys
                assert default["SSEAlgorithm"] == "aws:kms" and default.get("KMSMasterKeyID"), (name, logical_id)
                assert rule.get("BucketKeyEnabled") is True, (name, logical_id)
            assert props["VersioningConfiguration"]["Status"] == "Enabled", (name, logical_id)
            assert props["PublicAccessBlockConfiguration"] == {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            }, (name, logical_id)
            assert "AccessControl" not in props, (name, logical_id)
            assert bucket.get("DeletionPolicy") == "Retain", (name, logical_id)
            statements = policies[_ref_or_name({"Ref": logical_id})]
            assert any(
                s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                for s in statements
            ), (name, logical_id)
            checked += 1
    assert checked >= 3  # the environment's data, model and access-log buckets


def test_keys_rotate_and_are_kept(any_templates):
    _, built = any_templates
    keys = [(name, lid, key) for name, t in built.items() for lid, key in cfn.resources(t, "AWS::KMS::Key").items()]
    assert len(keys) >= 3
    for name, lid, key in keys:
        assert key["Properties"]["EnableKeyRotation"] is True, (name, lid)
        assert key.get("DeletionPolicy") == "Retain" and key.get("UpdateReplacePolicy") == "Retain", (name, lid)
        assert "Enabled" not in key["Properties"] or key["Properties"]["Enabled"] is True, (name, lid)


def test_no_statement_allows_everything_on_everything(any_templates):
    _, built = any_templates
    for name, template in built.items():
        for stmt in cfn.all_statements(template):
            if stmt["Effect"] != "Allow":
                continue
            actions = cfn.as_list(stmt.get("Action", []))
            resources = cfn.as_list(stmt.get("Resource", []))
            assert not ("*" in actions and "*" in resources), (name, stmt.get("Sid"))
            assert "*" not in actions, (name, stmt.get("Sid"))


def test_functions_run_on_a_supported_runtime(any_templates):
    _, built = any_templates
    functions = [f for t in built.values() for f in cfn.resources(t, "AWS::Lambda::Function").values()]
    assert len(functions) >= 5
    assert {f["Properties"]["Runtime"] for f in functions} <= set(SUPPORTED_LAMBDA_RUNTIMES)


def _only(template: dict, value, allowed: str) -> bool:
    """``value`` is ``allowed``, or a Ref to a parameter that accepts nothing else."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return template["Parameters"][value["Ref"]].get("AllowedValues") == [allowed]
    return value == allowed


def test_studio_domains_are_vpc_only_with_iam_authentication(any_templates):
    _, built = any_templates
    domains = [(n, d) for n, t in built.items() for d in cfn.resources(t, "AWS::SageMaker::Domain").values()]
    assert domains
    for name, domain in domains:
        props = domain["Properties"]
        assert _only(built[name], props["AppNetworkAccessType"], "VpcOnly"), name
        assert _only(built[name], props["AuthMode"], "IAM"), name
        assert props["KmsKeyId"] and props["DefaultUserSettings"]["SecurityGroups"], name
