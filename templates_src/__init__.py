"""Template builders for the secure multi-account SageMaker MLOps platform.

Data flows one way: configuration -> build context -> template builders -> rendered templates -> lint -> build/.
"""

__version__ = "0.1.0"
