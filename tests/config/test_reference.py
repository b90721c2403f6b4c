"""The README's configuration reference is generated from the model and must not go stale."""

from __future__ import annotations

from pydantic import BaseModel

from components.config.model import Settings
from components.config.reference import END, START, _model_of, config_reference
from tests.conftest import PROJECT_DIR


def test_readme_config_reference_is_current() -> None:
    text = (PROJECT_DIR / "README.md").read_text()
    block = text[text.index(START) : text.index(END) + len(END)]
    assert block == config_reference(), (
        "README config reference is stale: run python -m components.config.reference"
    )


def test_every_field_is_described_and_listed() -> None:
    reference = config_reference()

    seen: set[type] = set()

    def walk(model: type[BaseModel]) -> None:
        seen.add(model)
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
            child = _model_of(info.annotation)
            if child is not None and child not in seen:
                walk(child)

    walk(Settings)
    assert len(seen) >= 12  # every nested model was reached
    for key in (
        "`git.pushMode`",
        "`notifications.alerts.<name>.exclusionList`",
        "`sources[].secretRef`",
    ):
        assert key in reference


def test_no_merge_conflict_markers_in_tracked_text() -> None:
    import subprocess

    tracked = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        path = PROJECT_DIR / name
        if not path.is_file() or path.suffix not in {".md", ".py", ".yaml", ".yml", ".toml", ""}:
            continue
        for line in path.read_text(errors="replace").splitlines():
            assert not line.startswith(("<<<<<<< ", ">>>>>>> ")), f"conflict marker in {name}"
