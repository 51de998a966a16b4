"""Releases: plan (rewrite references to S3, content addresses), publish (S3), next steps.

``model`` holds the data model (target, artifacts, plan).  Where each object lives in the bucket is
``templates_src.release_layout``, outside this package: the bootstrap template (package-cfn) builds the same keys,
and no template imports the release package.
"""
