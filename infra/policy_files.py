"""Reading policy files: the versions shipped with the package (`infra/policies/`, package
data) and a directory of further versions; each checked on load, its clauses against the
policy text it quotes."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from smsledger.domain.policy_parsing import missing_quotes, parse_policy_file
from smsledger.domain.policy_versions import PolicyFileError, PolicySet, PolicyVersion

PACKAGE = "smsledger.infra"
FOLDER = "policies"


def package_folder() -> Traversable:
    return resources.files(PACKAGE) / FOLDER


def package_versions() -> list[PolicyVersion]:
    """The versions shipped with the package: the two policy texts' first versions."""
    folder = package_folder()
    files = sorted((e for e in folder.iterdir() if e.name.endswith(".toml")), key=_name)
    return [_checked(parse_policy_file(e.read_bytes(), str(e)), None) for e in files]


def directory_versions(directory: str) -> list[PolicyVersion]:
    """Every `*.toml` file of `directory`; their texts are looked up there, then in the
    package."""
    folder = Path(directory)
    if not folder.is_dir():
        raise PolicyFileError(f"policy directory {directory} does not exist")
    return [read_version_file(path) for path in sorted(folder.glob("*.toml"))]


def read_version_file(path: Path) -> PolicyVersion:
    """One version file; its text is looked up beside it, then in the package."""
    try:
        content = path.read_bytes()
    except OSError as error:
        raise PolicyFileError(f"cannot read policy file {path}: {error.strerror}") from None
    return _checked(parse_policy_file(content, str(path)), path.parent)


def load_policy_set(directory: str | None) -> PolicySet:
    """The package's versions, and those of `directory` if given."""
    versions = package_versions()
    if directory:
        versions += directory_versions(directory)
    return PolicySet(versions)


def policy_text(name: str, folder: Path | None) -> str | None:
    """The policy text `name`: in `folder` if there, else shipped with the package."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    if folder is not None and (folder / name).is_file():
        return (folder / name).read_text(encoding="utf-8")
    shipped = package_folder() / name
    return shipped.read_text(encoding="utf-8") if shipped.is_file() else None


def _checked(version: PolicyVersion, folder: Path | None) -> PolicyVersion:
    text = policy_text(version.text, folder)
    if text is None:
        where = f"{folder} or the package" if folder is not None else "the package"
        raise PolicyFileError(
            f"{version.source}: policy text {version.text!r} not found in {where}"
        )
    missing = missing_quotes(version, text)
    if missing:
        shown = "; ".join(f"{rule}: {version.clauses[rule][:60]!r}" for rule in missing)
        raise PolicyFileError(
            f"{version.source}: clauses not found word for word in {version.text}: {shown}"
        )
    return version


def _name(entry: Traversable) -> str:
    return entry.name
