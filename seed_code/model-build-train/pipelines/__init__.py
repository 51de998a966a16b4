"""SageMaker model build pipelines of this project (see README.md)."""

__version__ = "1.0.0"
