"""Console hosts per partition, for the links templates output: one mapping, added where a link is built.

Isolated partitions have no public console; a link output there is left out (``KNOWN`` condition) instead of
failing the deployment on a missing mapping key.
"""

from __future__ import annotations

from troposphere import Equals, FindInMap, Or, Ref, Template

MAPPING = "Partitions"
KNOWN = "PartitionWithConsole"
HOSTS = {
    "aws": {"SignIn": "signin.aws.amazon.com", "Console": "console.aws.amazon.com"},
    "aws-cn": {"SignIn": "signin.amazonaws.cn", "Console": "console.amazonaws.cn"},
    "aws-us-gov": {"SignIn": "signin.amazonaws-us-gov.com", "Console": "console.amazonaws-us-gov.com"},
}


def host(template: Template, which: str) -> FindInMap:
    """``SignIn`` or ``Console`` host of the deploying partition (adds the mapping and KNOWN condition)."""
    if MAPPING not in template.mappings:
        template.add_mapping(MAPPING, HOSTS)
        template.add_condition(KNOWN, Or(*(Equals(Ref("AWS::Partition"), p) for p in HOSTS)))
    return FindInMap(MAPPING, Ref("AWS::Partition"), which)
