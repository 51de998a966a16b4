"""Releases: plan (rewrite references to S3, content addresses), publish (S3), next steps.

``model`` holds the data model (target, artifacts, plan); ``layout`` where each object lives in the bucket.
"""
