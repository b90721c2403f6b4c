"""The folders of components/ are the architecture; these tests keep them so.

- Top level: the Pulumi side (component resources, dynamic providers, the program's inputs).
  Every module there talks to the engine; anything engine-free belongs in a subpackage.
- Subpackages, engine-free, each importing only from the layers below it and from itself:
  `common < config < flux_release < {render, repo_check, adapters} < cli`. None imports `pulumi`
  or a top-level module, and only `cli/` parses arguments.
- The dynamic providers' modules stay at the top under their names: Pulumi pickles a provider
  into the state by module path (tests/test_upgrade_compat.py).

Imports are read from the source (module level, inside functions and under TYPE_CHECKING).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
import setuptools

from tests.conftest import PROJECT_DIR

PACKAGE = PROJECT_DIR / "components"
LAYERS = {
    "common": 0,
    "config": 1,
    "flux_release": 2,
    "render": 3,
    "repo_check": 3,
    "adapters": 3,
    "cli": 4,
}
PULUMI_SIDE = {
    "cluster_stack",
    "deploy_key",
    "engine_config",
    "flux_install",
    "flux_sync",
    "flux_uninstall",
    "git_resource",
    "kube_provider",
    "kube_resources",
    "notification_secrets",
    "stack_secrets",
}
DYNAMIC_PROVIDERS = {"git_resource", "flux_uninstall", "deploy_key"}
ENGINE = ("pulumi", "pulumi_kubernetes")


def module_name(path: Path) -> str:
    rel = path.relative_to(PROJECT_DIR).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it; `from components.x import y` counts as
    both `components.x` and `components.x.y` (y may be a module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def place(module: str) -> str | None:
    """The subpackage of a `components.` module, or None for a top-level one."""
    parts = module.split(".")
    if len(parts) >= 3 or (len(parts) == 2 and parts[1] in LAYERS):
        return parts[1]
    return None


MODULES = sorted(PACKAGE.rglob("*.py"))
SUBPACKAGE_MODULES = [p for p in MODULES if p.parent != PACKAGE]


def test_the_layout_is_what_the_layers_name() -> None:
    subpackages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert subpackages == set(LAYERS)
    assert all((PACKAGE / name / "__init__.py").is_file() for name in LAYERS)
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert top == PULUMI_SIDE


@pytest.mark.parametrize("name", sorted(PULUMI_SIDE))
def test_a_top_level_module_is_on_the_pulumi_side(name: str) -> None:
    # an engine-free module at the top is one a newcomer looks for in the wrong place
    uses = {m.split(".")[0] for m in imported(PACKAGE / f"{name}.py")}
    assert uses & set(ENGINE), f"{name} does not use the engine"


@pytest.mark.parametrize("path", SUBPACKAGE_MODULES, ids=module_name)
def test_a_subpackage_imports_only_from_below_and_never_the_engine(path: Path) -> None:
    here = path.relative_to(PACKAGE).parts[0]
    wrong = []
    for module in sorted(imported(path)):
        top = module.split(".")[0]
        if top in ENGINE:
            wrong.append(f"{module}: the engine")
        elif top == "argparse" and here != "cli":
            wrong.append("argparse: only cli/ parses arguments")
        elif top == "components" and module != "components":
            other = place(module)
            if other is None:
                wrong.append(f"{module}: a top-level (Pulumi) module")
            elif other != here and LAYERS[other] >= LAYERS[here]:
                wrong.append(f"{module}: {other}/ is not below {here}/")
    assert wrong == []


def test_nothing_below_the_cli_imports_it() -> None:
    users = [
        module_name(p)
        for p in MODULES
        if p.parent.name != "cli" and any(m.startswith("components.cli") for m in imported(p))
    ]
    assert users == []


def test_the_dynamic_providers_stay_where_existing_states_look_for_them() -> None:
    for name in DYNAMIC_PROVIDERS:
        assert (PACKAGE / f"{name}.py").is_file()


def test_the_wheel_holds_every_subpackage() -> None:
    config = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    found = config["tool"]["setuptools"]["packages"]["find"]
    packaged = set(setuptools.find_packages(where=str(PROJECT_DIR), include=found["include"]))
    assert packaged == {"components", *(f"components.{name}" for name in LAYERS)}
    script = config["project"]["scripts"]["fluxboot"]
    module, _, func = script.partition(":")
    assert (
        place(module) == "cli"
        and (PROJECT_DIR / Path(*module.split(".")))
        .with_suffix(".py")
        .read_text()
        .count(f"def {func}(")
        == 1
    )
