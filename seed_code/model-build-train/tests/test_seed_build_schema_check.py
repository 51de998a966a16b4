"""The tests' faster ``jsonschema.validate`` (conftest.py: each schema checked once) decides as jsonschema's own:
the seed's SDK configuration passes both, a wrong one fails both with the same error."""

from __future__ import annotations

import pytest

jsonschema = pytest.importorskip("jsonschema")
config_schema = pytest.importorskip("sagemaker.core.config.config_schema")


def test_the_sdk_configuration_is_validated_as_jsonschema_validates_it(offline_aws):
    from pipelines.abalone.pipeline import SDK_CONFIG

    schema = config_schema.SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA
    assert jsonschema.validate is not jsonschema.validators.validate  # the conftest's, for these tests
    assert jsonschema.validate(SDK_CONFIG, schema) is None
    assert jsonschema.validators.validate(SDK_CONFIG, schema) is None
    wrong = {**SDK_CONFIG, "SchemaVersion": 2}
    with pytest.raises(jsonschema.ValidationError) as fast:
        jsonschema.validate(wrong, schema)
    with pytest.raises(jsonschema.ValidationError) as real:
        jsonschema.validators.validate(wrong, schema)
    assert (fast.value.message, list(fast.value.path)) == (real.value.message, list(real.value.path))
    with pytest.raises(jsonschema.SchemaError):
        jsonschema.validate({}, {"type": 12})  # a bad schema is refused as before
