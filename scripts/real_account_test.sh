#!/usr/bin/env bash
# Runs the platform's deployment scenarios in a real AWS account with taskcat (.taskcat.yml), each ending with
# `generate.py cleanup ... --delete-data --yes`, also when it fails. See `--help`.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONFIG="$REPO/.taskcat.yml"
# How the generator is run (tests point these elsewhere).
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
GENERATE_PY=${GENERATE_PY:-$REPO/generate.py}
PREFIX=${SM_MLOPS_RELEASE_PREFIX:-sagemaker-mlops}
SCENARIOS=(quickstart two-step-cloudformation two-step-service-catalog multi-account-account-lists)
# The release's entry templates the tests deploy (.taskcat.yml: release/<name>.yaml).
ENTRY_TEMPLATES=(data-science-environment-quickstart core-main env-main)
ENV_TYPE=dev
SC_PRODUCT_WAIT_SECONDS=${SM_MLOPS_SC_WAIT_SECONDS:-3600}

usage() {
    cat <<'EOF'
usage: scripts/real_account_test.sh [--dry-run] [--region REGION] [--scenario NAME]... [--create-bucket]

Runs the deployment scenarios of .taskcat.yml in the AWS account of your credentials, one after the other:
  quickstart                   data-science-environment-quickstart (core and environment in one stack)
  two-step-cloudformation      core-main, then env-main as its own stack
  two-step-service-catalog     core-main, then the environment product launched with Service Catalog
                               (aws servicecatalog provision-product, as the core's data science administrator)
  multi-account-account-lists  core-main, then env-main with your staging and production account lists

Steps: checks the prerequisites; publishes a release to your bucket (generate.py package); copies the
release's entry templates into a work directory (taskcat's project root); runs each scenario's taskcat tests
(taskcat test run --test-names ...; a core with --no-delete, the next step needs it); ends EVERY scenario with
  generate.py cleanup --env-name N --env-type dev --region R --delete-data --yes [--core-stack STACK]
also when a step fails or the run is interrupted (the exit trap runs it). Stops at the first failing scenario.

Options:
  --dry-run        print the commands, run none of them (still checks the tools and variables)
  --region R       region of the release bucket and of every stack (default: AWS_REGION, AWS_DEFAULT_REGION)
  --scenario NAME  run only this scenario (repeatable; default: all four, in the order above)
  --create-bucket  let generate.py package create the release bucket
  -h, --help       this text

Environment:
  SM_MLOPS_RELEASE_BUCKET        (required) release bucket in the region; also the seed-code bucket
  SM_MLOPS_RELEASE_PREFIX        release key prefix (default sagemaker-mlops)
  SM_MLOPS_STAGING_ACCOUNTS      (multi-account-account-lists) staging account ids, comma-separated
  SM_MLOPS_PRODUCTION_ACCOUNTS   (multi-account-account-lists) production account ids, comma-separated
  SM_MLOPS_SETUP_ROLE_NAME       (multi-account-account-lists) name of the setup role deployed beforehand in
                                 every listed account with build/env-iam-setup-stackset-role.yaml and
                                 EnvName=tcat-multi, EnvType=staging or prod, AdministratorAccountId=<this account>
                                 (README, "The setup role in each listed account")
  SM_MLOPS_TASKCAT_WORKDIR       work directory (default: a new temporary one; taskcat's reports stay in it)
  PYTHON, GENERATE_PY            how generate.py is run (default: the repository's .venv and generate.py)

Prerequisites: AWS credentials of an administrator of the account (a role session, so that it can assume the
core's data science administrator role for the Service Catalog scenario), the AWS CLI, and taskcat in a
virtual environment of its own (it pins older libraries than the project):
  python3 -m venv ~/.venvs/taskcat && ~/.venvs/taskcat/bin/pip install taskcat && export PATH=~/.venvs/taskcat/bin:$PATH

Costs money while the stacks exist: NAT gateways, interface VPC endpoints and KMS keys bill by the hour
(README, "Real-account tests (taskcat)").

Exit codes: 0 every scenario passed and was cleaned up; 1 a scenario failed (it was cleaned up); 2 bad input or
a missing prerequisite (nothing was run); 130 interrupted (the running scenario was cleaned up).
EOF
}

error() {
    echo "error: $*" >&2
    exit 2
}

DRY_RUN=0
CREATE_BUCKET=()
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
SELECTED=()
while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --dry-run) DRY_RUN=1 ;;
        --create-bucket) CREATE_BUCKET=(--create-bucket) ;;
        --region) [[ $# -ge 2 ]] || error "--region needs a value"; REGION=$2; shift ;;
        --scenario)
            [[ $# -ge 2 ]] || error "--scenario needs a value"
            [[ " ${SCENARIOS[*]} " == *" $2 "* ]] || error "--scenario: unknown scenario '$2' (one of: ${SCENARIOS[*]})"
            SELECTED+=("$2"); shift ;;
        *) error "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
if [[ ${#SELECTED[@]} -eq 0 ]]; then
    SELECTED=("${SCENARIOS[@]}")
fi

# -- prerequisites --------------------------------------------------------------------------------------------------
for tool in taskcat aws; do
    command -v "$tool" >/dev/null || error "$tool is not on PATH (see --help: Prerequisites)"
done
[[ -x $PYTHON ]] || error "PYTHON=$PYTHON is not an executable (create the project's .venv, README Quick start)"
[[ -f $GENERATE_PY ]] || error "GENERATE_PY=$GENERATE_PY does not exist"
[[ -f $CONFIG ]] || error "$CONFIG does not exist"
[[ -n $REGION ]] || error "no region: give --region or set AWS_REGION"
[[ $REGION =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || error "--region: '$REGION' is not a region name"
BUCKET=${SM_MLOPS_RELEASE_BUCKET:-}
[[ -n $BUCKET ]] || error "SM_MLOPS_RELEASE_BUCKET is not set (the bucket releases are published to)"
[[ $BUCKET =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || error "SM_MLOPS_RELEASE_BUCKET: '$BUCKET' is not a bucket name"
if [[ " ${SELECTED[*]} " == *" multi-account-account-lists "* ]]; then
    for var in SM_MLOPS_STAGING_ACCOUNTS SM_MLOPS_PRODUCTION_ACCOUNTS; do
        [[ ${!var:-} =~ ^[0-9]{12}(,[0-9]{12})*$ ]] ||
            error "$var must be comma-separated 12-digit account ids for multi-account-account-lists (is '${!var:-}')"
    done
    [[ ${SM_MLOPS_SETUP_ROLE_NAME:-} =~ ^[A-Za-z0-9+=,.@_-]{1,64}$ ]] ||
        error "SM_MLOPS_SETUP_ROLE_NAME must name the setup role of the listed accounts (see --help)"
fi

# -- running and showing commands -----------------------------------------------------------------------------------
show() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
}

# Runs a command (prints it first); --dry-run only prints it.
run() {
    show "$@"
    if [[ $DRY_RUN -eq 0 ]]; then
        "$@"
    fi
}

# Prints the output of a command that reads something; --dry-run prints the command and the placeholder $1.
query() {
    local placeholder=$1
    shift
    show "$@" >&2
    if [[ $DRY_RUN -eq 1 ]]; then
        echo "$placeholder"
    else
        "$@"
    fi
}

if [[ $DRY_RUN -eq 1 ]]; then
    WORK=${SM_MLOPS_TASKCAT_WORKDIR:-<work-dir>}
    echo "dry run: the commands are printed, none is run"
    show aws sts get-caller-identity --query Account --output text
else
    ACCOUNT=$(aws sts get-caller-identity --query Account --output text) ||
        error "no usable AWS credentials (aws sts get-caller-identity failed)"
    echo "account $ACCOUNT, region $REGION, release bucket $BUCKET"
    WORK=${SM_MLOPS_TASKCAT_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/sm-mlops-taskcat.XXXXXX")}
    mkdir -p "$WORK/release"
fi

env_name_of() {
    case $1 in
        quickstart) echo tcat-qs ;;
        two-step-cloudformation) echo tcat-cfn ;;
        two-step-service-catalog) echo tcat-sc ;;
        multi-account-account-lists) echo tcat-multi ;;
    esac
}

# taskcat's override file (parameters that take precedence over .taskcat.yml), for the one test about to run.
write_overrides() {
    local test=$1
    local lines=("SeedCodeS3BucketName: \"$BUCKET\"")
    if [[ $test == multi-account-account-lists-env ]]; then
        lines+=("StagingAccountList: \"$SM_MLOPS_STAGING_ACCOUNTS\"")
        lines+=("ProductionAccountList: \"$SM_MLOPS_PRODUCTION_ACCOUNTS\"")
        lines+=("SetupStackSetExecutionRoleName: \"$SM_MLOPS_SETUP_ROLE_NAME\"")
    fi
    echo "+ write $WORK/.taskcat_overrides.yml:"
    printf '    %s\n' "${lines[@]}"
    if [[ $DRY_RUN -eq 0 ]]; then
        printf '%s\n' "${lines[@]}" >"$WORK/.taskcat_overrides.yml"
    fi
}

# One taskcat test in the region (taskcat reads .taskcat_overrides.yml from its working directory).
# --lint-disable: the release was linted by generate.py package with the project's cfn-lint; taskcat's own,
# older cfn-lint does not know every property the templates use.
taskcat_test() {
    local test=$1
    shift
    write_overrides "$test"
    echo "+ cd $WORK"
    show taskcat test run --input-file "$CONFIG" --project-root "$WORK" --test-names "$test" --regions "$REGION" \
        --lint-disable --output-directory "$WORK/taskcat_outputs" "$@"
    if [[ $DRY_RUN -eq 0 ]]; then
        (cd "$WORK" && taskcat test run --input-file "$CONFIG" --project-root "$WORK" --test-names "$test" \
            --regions "$REGION" --lint-disable --output-directory "$WORK/taskcat_outputs" "$@")
    fi
}

# The newest top-level stack taskcat created for a test (taskcat tags its stacks with the test's name).
stack_of_test() {
    local name
    name=$(query "<stack-of-$1>" aws cloudformation describe-stacks --region "$REGION" --output text --query \
        "reverse(sort_by(Stacks[?ParentId==null && Tags[?Key=='taskcat-test-name' && Value=='$1']], &CreationTime))[0].StackName")
    if [[ $name != None && -n $name ]]; then
        echo "$name"
    fi
}

stack_output() {
    query "<$2-of-$1>" aws cloudformation describe-stacks --region "$REGION" --stack-name "$1" --output text \
        --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue"
}

# -- the scenario being run: cleaned up at its end, or by the exit trap --------------------------------------------
CURRENT_SCENARIO=""
CURRENT_CORE_TEST=""
CURRENT_CORE_STACK=""

clean_up_scenario() {
    local scenario=$CURRENT_SCENARIO
    [[ -n $scenario ]] || return 0
    if [[ -n $CURRENT_CORE_TEST && -z $CURRENT_CORE_STACK ]]; then
        CURRENT_CORE_STACK=$(stack_of_test "$CURRENT_CORE_TEST") || CURRENT_CORE_STACK=""
    fi
    local args=(cleanup --env-name "$(env_name_of "$scenario")" --env-type "$ENV_TYPE" --region "$REGION"
        --delete-data --yes)
    if [[ -n $CURRENT_CORE_STACK ]]; then
        args+=(--core-stack "$CURRENT_CORE_STACK")
    fi
    CURRENT_SCENARIO=""
    CURRENT_CORE_TEST=""
    CURRENT_CORE_STACK=""
    echo "== $scenario: clean-up"
    run "$PYTHON" "$GENERATE_PY" "${args[@]}"
}

on_exit() {
    local status=$?
    trap - EXIT
    if [[ -n $CURRENT_SCENARIO ]]; then
        local scenario=$CURRENT_SCENARIO
        echo "== $scenario did not finish (exit $status): cleaning it up" >&2
        if ! clean_up_scenario; then
            echo "error: the clean-up of $scenario failed; run the cleanup command above again" >&2
        fi
        [[ $status -ne 0 ]] || status=1
    fi
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# -- the release --------------------------------------------------------------------------------------------------
echo "== publishing a release to s3://$BUCKET/$PREFIX/ ($REGION)"
show "$PYTHON" "$GENERATE_PY" package --bucket "$BUCKET" --prefix "$PREFIX" --region "$REGION" \
    "${CREATE_BUCKET[@]}" --output json
if [[ $DRY_RUN -eq 1 ]]; then
    VERSION="<version>"
else
    "$PYTHON" "$GENERATE_PY" package --bucket "$BUCKET" --prefix "$PREFIX" --region "$REGION" \
        "${CREATE_BUCKET[@]}" --output json >"$WORK/package.json"
    VERSION=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["release"])' "$WORK/package.json")
fi
for name in "${ENTRY_TEMPLATES[@]}"; do
    run aws s3 cp --region "$REGION" --only-show-errors "s3://$BUCKET/$PREFIX/releases/$VERSION/$name.yaml" \
        "$WORK/release/$name.yaml"
done

# -- the scenarios ------------------------------------------------------------------------------------------------
# Service Catalog: the environment product's version of this release, launched as the core's data science
# administrator (only the portfolio's principals may launch it), waited for until it is AVAILABLE.
launch_product() {
    local core_stack=$1 product admin zones credentials name
    name="$(env_name_of two-step-service-catalog)-$ENV_TYPE"
    product=$(stack_output "$core_stack" ProductId)
    admin=$(stack_output "$core_stack" DSAdministratorRoleArn)
    zones=$(query "<zone-a> <zone-b>" aws ec2 describe-availability-zones --region "$REGION" --output text \
        --filters Name=state,Values=available Name=zone-type,Values=availability-zone \
        --query "AvailabilityZones[?ZoneId!='use1-az3'] | [0:2].ZoneName")
    zones=$(echo "$zones" | tr -s ' \t' ',')
    local parameters
    parameters=$(printf '[{"Key":"EnvName","Value":"%s"},{"Key":"EnvType","Value":"%s"},' \
        "$(env_name_of two-step-service-catalog)" "$ENV_TYPE")
    parameters+=$(printf '{"Key":"SeedCodeS3BucketName","Value":"%s"},{"Key":"CoreStackSetName","Value":"%s"},' \
        "$BUCKET" tcat-sc-core)
    parameters+=$(printf '{"Key":"AvailabilityZones","Value":"%s"}]' "$zones")
    credentials=$(query "<key-id> <secret> <token>" aws sts assume-role --role-arn "$admin" \
        --role-session-name sm-mlops-taskcat --output text \
        --query "Credentials.[AccessKeyId,SecretAccessKey,SessionToken]")
    local key_id secret token
    read -r key_id secret token <<<"$credentials"
    as_admin() {
        AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$secret AWS_SESSION_TOKEN=$token "$@"
    }
    echo "# as the data science administrator ($admin):"
    show aws servicecatalog provision-product --region "$REGION" --product-id "$product" \
        --provisioning-artifact-name "v$VERSION" --provisioned-product-name "$name" \
        --provisioning-parameters "$parameters"
    if [[ $DRY_RUN -eq 1 ]]; then
        echo "(waits until the provisioned product $name is AVAILABLE)"
        return 0
    fi
    as_admin aws servicecatalog provision-product --region "$REGION" --product-id "$product" \
        --provisioning-artifact-name "v$VERSION" --provisioned-product-name "$name" \
        --provisioning-parameters "$parameters" >/dev/null
    local waited=0 status
    while :; do
        status=$(as_admin aws servicecatalog describe-provisioned-product --region "$REGION" --name "$name" \
            --query ProvisionedProductDetail.Status --output text)
        case $status in
            AVAILABLE) echo "provisioned product $name is AVAILABLE"; return 0 ;;
            ERROR | TAINTED)
                as_admin aws servicecatalog describe-provisioned-product --region "$REGION" --name "$name" \
                    --query ProvisionedProductDetail.StatusMessage --output text >&2 || true
                echo "error: provisioned product $name is $status" >&2
                return 1 ;;
        esac
        if [[ $waited -ge $SC_PRODUCT_WAIT_SECONDS ]]; then
            echo "error: provisioned product $name is still $status after $waited s" >&2
            return 1
        fi
        sleep 30
        waited=$((waited + 30))
    done
}

run_scenario() {
    local scenario=$1
    echo "== $scenario: $(env_name_of "$scenario")-$ENV_TYPE in $REGION"
    CURRENT_SCENARIO=$scenario
    case $scenario in
        quickstart)
            taskcat_test quickstart
            ;;
        two-step-cloudformation | multi-account-account-lists)
            CURRENT_CORE_TEST=$scenario-core
            taskcat_test "$scenario-core" --no-delete
            CURRENT_CORE_STACK=$(stack_of_test "$scenario-core")
            taskcat_test "$scenario-env"
            ;;
        two-step-service-catalog)
            CURRENT_CORE_TEST=$scenario-core
            taskcat_test "$scenario-core" --no-delete
            CURRENT_CORE_STACK=$(stack_of_test "$scenario-core")
            [[ -n $CURRENT_CORE_STACK ]] || { echo "error: no stack of $scenario-core found" >&2; return 1; }
            launch_product "$CURRENT_CORE_STACK"
            ;;
    esac
    clean_up_scenario
    echo "== $scenario: passed, cleaned up"
}

for scenario in "${SELECTED[@]}"; do
    run_scenario "$scenario"
done
echo "== all passed: ${SELECTED[*]} (taskcat reports: $WORK/taskcat_outputs)"
