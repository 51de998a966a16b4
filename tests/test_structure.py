"""Templates compose blocks: a template module reads nothing of another template module but a child's contract.

Read with ``ast`` from the source of every module under templates_src/templates.  A template module may import
another template module only when that one is its child (``contracts.children``: a template it nests, deploys by
StackSet, offers as a Service Catalog product or ships in its seed code, in the registry's templates as built),
only as a module (``from templates_src.templates.<family> import <module>``, never names from inside it), and may
then use it only for the child's contract (``contracts.MODULE_CONTRACT``: ``NAME``, ``PARAMETERS``, ``OUTPUTS``;
the child's ``ParamSpec`` constants of parameters its template declares; the module itself as the argument of
``ctx.declared``).  What two templates share is a block, and no block imports a template module.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
from dataclasses import dataclass

import pytest

from templates_src import contracts
from templates_src.blocks.parameters import ParamSpec
from tests.conftest import REPO

TEMPLATES_PACKAGE = "templates_src.templates"
TEMPLATES_DIR = REPO / "templates_src" / "templates"
BLOCKS_DIR = REPO / "templates_src" / "blocks"


def modules_under(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every module under ``folder`` but the packages' __init__."""
    return {
        ".".join(path.relative_to(REPO).with_suffix("").parts): path
        for path in sorted(folder.rglob("*.py"))
        if path.name != "__init__.py"
    }


TEMPLATE_MODULES = modules_under(TEMPLATES_DIR)


@dataclass(frozen=True)
class Checker:
    """The import rule, given the template modules' names (dotted module -> template name), who is whose child
    (template name -> child template names) and each template's declared parameters (template name -> names)."""

    names: dict[str, str]
    children: dict[str, set[str]]
    declared: dict[str, set[str]]

    def contract(self, module: str) -> set[str]:
        """The attribute names of template module ``module`` a parent may read."""
        loaded = importlib.import_module(module)
        declared = self.declared[self.names[module]]
        return {name for name in contracts.MODULE_CONTRACT if hasattr(loaded, name)} | {
            name
            for name, value in vars(loaded).items()
            if name.isupper() and isinstance(value, ParamSpec) and value.name in declared
        }

    def violations(self, module: str, source: str) -> list[str]:
        """What ``module`` (a template module with this ``source``) reads of other template modules beyond
        their contracts, one line each."""
        tree = ast.parse(source)
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        problems: list[str] = []
        aliases: dict[str, str] = {}  # local name -> imported template module
        me = self.names[module]
        for node in ast.walk(tree):
            where = f"{module}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import):
                problems += [
                    f"{where}: import {a.name}: import a template module as `from <package> import <module>`"
                    for a in node.names
                    if a.name == TEMPLATES_PACKAGE or a.name.startswith(TEMPLATES_PACKAGE + ".")
                ]
            elif isinstance(node, ast.ImportFrom) and node.level:
                problems.append(f"{where}: relative import: name the module in full")
            elif isinstance(node, ast.ImportFrom) and node.module == "templates_src":
                problems += [f"{where}: imports the templates package" for a in node.names if a.name == "templates"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(TEMPLATES_PACKAGE):
                for a in node.names:
                    imported = f"{node.module}.{a.name}"
                    if imported not in self.names:
                        problems.append(f"{where}: imports {a.name} from the template module {node.module}")
                    elif self.names[imported] not in self.children.get(me, set()):
                        problems.append(f"{where}: imports {imported}, which is not a child of {me}")
                    else:
                        aliases[a.asname or a.name] = imported
        tables = self._children_tables(tree, aliases, parents)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Name) and node.id in aliases and isinstance(node.ctx, ast.Load)):
                continue
            child, parent, where = aliases[node.id], parents.get(node), f"{module}:{node.lineno}"
            if isinstance(parent, ast.Attribute) and parent.value is node:
                if parent.attr not in self.contract(child):
                    problems.append(f"{where}: reads {node.id}.{parent.attr}, which is not the contract of {child}")
            elif not (_declared_argument(node, parents) or _inside(node, tables, parents)):
                problems.append(f"{where}: uses the module {node.id} other than in ctx.declared(...)")
        return problems

    @staticmethod
    def _children_tables(tree: ast.Module, aliases: dict[str, str], parents: dict) -> set[ast.AST]:
        """Module-level assignments of a table of child modules (``CHILDREN = {m.NAME: m for m in (a, b)}``)
        whose every use is ``ctx.declared(TABLE[...])``: their values may hold the modules themselves."""
        found = set()
        for statement in tree.body:
            if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
                continue
            target = statement.targets[0]
            holds = any(isinstance(n, ast.Name) and n.id in aliases for n in ast.walk(statement.value))
            if not (isinstance(target, ast.Name) and holds):
                continue
            uses = [
                n
                for n in ast.walk(tree)
                if isinstance(n, ast.Name) and n.id == target.id and isinstance(n.ctx, ast.Load)
            ]
            if all(isinstance(parents.get(n), ast.Subscript) and _declared_argument(parents[n], parents) for n in uses):
                found.add(statement.value)
        return found


def _declared_argument(node: ast.AST, parents: dict) -> bool:
    """``node`` is an argument of a call to ``<something>.declared``."""
    call = parents.get(node)
    return (
        isinstance(call, ast.Call)
        and node in call.args
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "declared"
    )


def _inside(node: ast.AST, roots: set[ast.AST], parents: dict) -> bool:
    while node is not None:
        if node in roots:
            return True
        node = parents.get(node)
    return False


@pytest.fixture(scope="module")
def checker(templates) -> Checker:
    """The rule for the registry's templates as the default configuration builds them."""
    names = {module: importlib.import_module(module).NAME for module in TEMPLATE_MODULES}
    declared = {name: set(template.get("Parameters") or {}) for name, template in templates.items()}
    return Checker(names, contracts.children(templates), declared)


def test_every_template_module_is_registered_and_built(checker, templates):
    assert sorted(checker.names.values()) == sorted(templates)


def test_template_modules_read_only_their_childrens_contracts(checker):
    problems = [
        problem
        for module, path in TEMPLATE_MODULES.items()
        for problem in checker.violations(module, path.read_text(encoding="utf-8"))
    ]
    assert problems == [], "\n".join(problems)


def test_blocks_import_no_template_module():
    for module, path in modules_under(BLOCKS_DIR).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            assert not [n for n in names if n.startswith(TEMPLATES_PACKAGE)], f"{module}:{node.lineno}"


def test_children_are_what_templates_nest_deploy_offer_and_ship(checker):
    """The relation the rule allows imports along, derived from the built templates."""
    children = checker.children
    assert {"env-vpc", "env-vpc-egress", "env-iam"} <= children["env-main"]  # nested stacks
    assert "env-target-account-network" in children["env-main"]  # StackSet
    assert "project-model-deploy" in children["env-sc-portfolio"]  # Service Catalog product
    assert children["project-model-deploy"] == {"cfn-sm-endpoint-template"}  # seed code
    assert children["env-target-account-network"] == children["env-vpc-egress"] == set()


NETWORK = "templates_src.templates.env.env_target_account_network"
MAIN = "templates_src.templates.env.env_main"


@pytest.mark.parametrize(
    ("module", "source", "found"),
    [
        # A sibling's helper (what env-target-account-network did before the network blocks).
        (
            NETWORK,
            "from templates_src.templates.env import env_vpc\nx = env_vpc.PRIVATE_SUBNET_CIDRS\n",
            "not a child of env-target-account-network",
        ),
        # A name from inside a template module.
        (MAIN, "from templates_src.templates.env.env_vpc import NAME\n", "imports NAME from the template module"),
        (MAIN, "import templates_src.templates.env.env_vpc\n", "import a template module as"),
        # A child's helper is not its contract, neither is a constant that is no parameter of its template.
        (MAIN, "from templates_src.templates.env import env_vpc\nenv_vpc.per_az([])\n", "env_vpc.per_az"),
        (MAIN, "from templates_src.templates.env import env_vpc_egress as e\nx = e.DESCRIPTION\n", "e.DESCRIPTION"),
        # The module itself, other than as ctx.declared's argument.
        (MAIN, "from templates_src.templates.env import env_vpc\nf(env_vpc)\n", "uses the module env_vpc"),
        (
            MAIN,
            "from templates_src.templates.env import env_vpc\nT = {0: env_vpc}\nT[0].per_az([])\n",
            "uses the module env_vpc",
        ),
    ],
)
def test_the_rule_finds_what_it_forbids(checker, module, source, found):
    problems = checker.violations(module, source)
    assert problems and all(found in p for p in problems), problems


def test_the_rule_allows_a_childs_contract(checker):
    source = (
        "from templates_src.templates.env import env_vpc, env_vpc_egress as egress\n"
        "a = env_vpc.NAME, env_vpc.PARAMETERS, egress.VPC_ID.name\n"
        "b = ctx.declared(env_vpc)\n"
        "T = {m.NAME: m for m in (env_vpc, egress)}\n"
        "c = ctx.declared(T['env-vpc'])\n"
    )
    assert checker.violations(MAIN, source) == []


# -- layers: what the lower modules and the product code may import ----------------------------------------------------
PACKAGE_DIR = REPO / "templates_src"


def imported(path: pathlib.Path) -> set[str]:
    """Every templates_src module ``path`` imports, dotted (``from templates_src import x`` gives
    ``templates_src.x``), wherever the import statement is (module level or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name == "templates_src" or name.startswith("templates_src.")}


def _under(names: set[str], package: str) -> set[str]:
    return {n for n in names if n == package or n.startswith(package + ".")}


def module_file(name: str) -> pathlib.Path | None:
    """The source file of the templates_src module ``name`` (None for a name inside a module)."""
    path = REPO.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def depends_on(name: str) -> set[str]:
    """Every templates_src module ``name`` imports, directly or through the modules it imports."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        path = module_file(todo.pop())
        for found in imported(path) if path else ():
            if found not in seen and module_file(found):
                seen.add(found)
                todo.append(found)
    return seen


# The lowest layers, in order: none depends (directly or through another module) on a layer above it, a block or a
# template, so that configuration -> naming -> build context -> blocks -> templates stays one way.
LOWER_LAYERS = ("parameter_spec", "config", "naming", "context")


@pytest.mark.parametrize("position", range(len(LOWER_LAYERS)))
def test_the_lower_layers_depend_on_no_layer_above_them(position):
    module = f"templates_src.{LOWER_LAYERS[position]}"
    above = {f"templates_src.{m}" for m in LOWER_LAYERS[position + 1 :]} | {"templates_src.blocks", TEMPLATES_PACKAGE}
    found = {d for d in depends_on(module) for a in above if d == a or d.startswith(a + ".")}
    assert found == set(), f"{module} depends on {sorted(found)}"


@pytest.mark.parametrize("module", ["config", "naming"])
def test_configuration_and_names_import_no_block_and_no_template(module):
    names = imported(PACKAGE_DIR / f"{module}.py")
    assert _under(names, "templates_src.blocks") | _under(names, TEMPLATES_PACKAGE) == set()


def test_templates_and_blocks_import_nothing_of_the_release_package():
    """Product templates do not depend on packaging: what both need (the S3 key layout) is
    templates_src.release_layout, below both."""
    problems = [
        f"{module}: {sorted(_under(imported(path), 'templates_src.release'))}"
        for module, path in {**TEMPLATE_MODULES, **modules_under(BLOCKS_DIR)}.items()
        if _under(imported(path), "templates_src.release")
    ]
    assert problems == [], "\n".join(problems)


# What is not product code but sits in the package: the README's generated blocks (they report what the proofs find)
NOT_PRODUCT = {"templates_src.readme_blocks"}


def test_product_code_never_imports_the_proofs():
    """The proofs (templates_src/checks: IAM evaluation, deploying-role coverage, escalation, flows) are one room that
    the product code never enters: generating, linting and packaging work without them (and their test
    dependencies)."""
    product = {
        module: path
        for module, path in (
            (".".join(p.relative_to(REPO).with_suffix("").parts), p) for p in PACKAGE_DIR.rglob("*.py")
        )
        if not module.startswith("templates_src.checks.") and module not in NOT_PRODUCT
    }
    problems = [
        f"{module}: {sorted(_under(imported(path), 'templates_src.checks'))}"
        for module, path in product.items()
        if _under(imported(path), "templates_src.checks")
    ]
    assert len(product) > 50 and problems == [], "\n".join(problems)


# -- one way to write an IAM statement: templates_src.blocks.iam's allow / deny ---------------------------------------
STATEMENT_FACTORY = BLOCKS_DIR / "iam.py"
AWACS_STATEMENT = "awacs.aws.Statement"


def direct_statements(module: str, source: str) -> list[str]:
    """Where ``source`` calls awacs's ``Statement`` itself (however imported) instead of templates_src.blocks.iam's
    ``allow`` / ``deny``, which write every statement's keys in one order."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> what it names, dotted
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):  # import a.b binds a; import a.b as c binds c to a.b
            for a in node.names:
                local = a.asname or a.name.split(".")[0]
                aliases[local] = a.name if a.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name == "*" and node.module == "awacs.aws":
                    aliases["Statement"] = AWACS_STATEMENT
                elif a.name != "*":
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        parts, func = [], node.func
        while isinstance(func, ast.Attribute):
            parts.insert(0, func.attr)
            func = func.value
        if isinstance(func, ast.Name) and ".".join([aliases.get(func.id, func.id), *parts]) == AWACS_STATEMENT:
            problems.append(f"{module}:{node.lineno}: calls awacs's Statement: use iam.allow / iam.deny")
    return problems


def test_templates_and_blocks_write_statements_only_through_allow_and_deny():
    paths = sorted([*TEMPLATES_DIR.rglob("*.py"), *BLOCKS_DIR.rglob("*.py")])
    problems = [
        problem
        for path in paths
        if path != STATEMENT_FACTORY
        for problem in direct_statements(str(path.relative_to(REPO)), path.read_text(encoding="utf-8"))
    ]
    assert len(paths) > 30 and problems == [], "\n".join(problems)
    assert direct_statements("iam", STATEMENT_FACTORY.read_text(encoding="utf-8"))  # the one place that may


@pytest.mark.parametrize(
    ("source", "calls"),
    [
        ("from awacs.aws import Statement\nx = Statement(Sid='A', Effect='Allow')\n", 1),
        ("from awacs.aws import Statement as S\nx = S()\n", 1),
        ("from awacs import aws\nx = aws.Statement()\n", 1),
        ("import awacs.aws\nx = awacs.aws.Statement()\n", 1),
        ("import awacs.aws as a\nx = [a.Statement(), a.Statement()]\n", 2),
        ("from awacs.aws import *\nx = Statement()\n", 1),
        ("def f():\n    from awacs.aws import Statement\n\n    return Statement()\n", 1),
        # Not awacs's statement, or not a call.
        ("from templates_src.checks.iam_policy import Statement\nx = Statement('Allow')\n", 0),
        ("from awacs.aws import Statement\n\n\ndef f(s: Statement) -> list[Statement]:\n    return [s]\n", 0),
        ("from templates_src.blocks import iam\nx = iam.allow(iam.actions('s3', 'GetObject'), '*')\n", 0),
    ],
)
def test_the_statement_rule_finds_direct_calls(source, calls):
    assert len(direct_statements("m", source)) == calls
