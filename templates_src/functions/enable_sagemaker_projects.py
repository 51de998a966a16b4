# Enables SageMaker Projects in the account and region.  Each ARN of PrincipalArns (none, as the environment
# passes it: SageMaker's own project templates run as its account-wide products use role, which would reach
# every environment of the account; the environment offers its own templates) is associated with the portfolio
# that Amazon SageMaker shares with the account, and the principals of earlier versions are disassociated.
#
# Create/Update: EnableSagemakerServicecatalogPortfolio (idempotent; it accepts SageMaker's portfolio share),
# then the accepted share whose provider is Amazon SageMaker is looked up (a bounded number of times: the share
# can take a moment to appear) and every principal is associated with it.  On Update the principals that were
# removed from PrincipalArns are disassociated.  No share found: FAILED with the reason, nothing is associated.
# Delete: the principals are disassociated (already gone is fine).  The account-level enablement stays on:
# other environments in the account and region use it.
import time

import boto3
from cfn_runtime import custom_resource

PROVIDER = "Amazon SageMaker"
# SageMaker's portfolio is shared account to account (an imported portfolio, not an organizational share).
SHARE_TYPE = "IMPORTED"
ATTEMPTS = 6  # lookups of the share, PAUSE seconds apart (50 s at most)
PAUSE = 10
PHYSICAL_ID = "sagemaker-projects-{}"


def principals(props, key="PrincipalArns", strict=True):
    """The principal ARNs of the properties: a list (or comma-separated text), empty entries dropped.

    Not strict (Delete, old properties): values that are not IAM ARNs are skipped, never an error, so a
    resource whose creation failed on bad input can still be deleted.
    """
    value = props.get(key) or []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        if strict:
            raise ValueError(f"{key} must be a list of IAM principal ARNs")
        value = []
    arns = sorted({str(v).strip() for v in value if v and str(v).strip()})
    bad = [a for a in arns if not a.startswith("arn:") or ":iam::" not in a]
    if bad and strict:
        raise ValueError(f"{key} holds values that are not IAM ARNs: {', '.join(bad)}")
    return [a for a in arns if a not in bad]


def find_portfolio(sc, attempts=ATTEMPTS):
    """Id of the accepted portfolio share provided by Amazon SageMaker; None when there is none."""
    for attempt in range(attempts):
        if attempt:
            time.sleep(PAUSE)
        found = sorted(
            p["Id"]
            for page in sc.get_paginator("list_accepted_portfolio_shares").paginate(PortfolioShareType=SHARE_TYPE)
            for p in page.get("PortfolioDetails", [])
            if p.get("ProviderName") == PROVIDER and p.get("Id")
        )
        if found:
            return found[0]
    return None


def disassociate(sc, portfolio_id, arns):
    for arn in arns:
        try:
            sc.disassociate_principal_from_portfolio(PortfolioId=portfolio_id, PrincipalARN=arn, PrincipalType="IAM")
        except sc.exceptions.ResourceNotFoundException:
            pass  # not associated (any more)


def enable(props, event):
    arns = principals(props)
    boto3.client("sagemaker").enable_sagemaker_servicecatalog_portfolio()
    sc = boto3.client("servicecatalog")
    portfolio_id = find_portfolio(sc)
    if not portfolio_id:
        raise RuntimeError(
            f"no accepted portfolio share from '{PROVIDER}' after enabling SageMaker Projects "
            f"({ATTEMPTS} lookups, {(ATTEMPTS - 1) * PAUSE} s); nothing was associated. Check that SageMaker "
            "Projects can be enabled in this account and region (SageMaker console, Studio settings), then retry"
        )
    for arn in arns:
        sc.associate_principal_with_portfolio(PortfolioId=portfolio_id, PrincipalARN=arn, PrincipalType="IAM")
    if event["RequestType"] == "Update":
        removed = sorted(set(principals(event.get("OldResourceProperties") or {}, strict=False)) - set(arns))
        disassociate(sc, portfolio_id, removed)
        # The physical id stays: a new one would make CloudFormation delete the old resource, which would
        # disassociate the principals that were just associated.
        return None, {"PortfolioId": portfolio_id}
    return PHYSICAL_ID.format(portfolio_id), {"PortfolioId": portfolio_id}


def remove(props, event):
    arns = principals(props, strict=False)
    sc = boto3.client("servicecatalog")
    portfolio_id = find_portfolio(sc, attempts=1)
    if portfolio_id and arns:  # no share (any more): no association is left either
        disassociate(sc, portfolio_id, arns)
    return None, None


lambda_handler = custom_resource(create=enable, update=enable, delete=remove)
