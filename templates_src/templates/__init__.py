"""Template builders, one module per template, grouped by family.

* ``core``: the core stack and what it nests (shared roles, SageMaker project roles, environment portfolio).
* ``env``: the data science environment (env-main and its children, the target-account templates).
* ``project``: the MLOps project templates launched from SageMaker Studio.
* ``bootstrap``: what users deploy by hand before the platform exists (publishing, target-account trust).

Every module defines ``NAME``, ``DESCRIPTION`` and ``build(ctx) -> troposphere.Template``.
"""
