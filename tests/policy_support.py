"""Policy version files for tests: copies of the shipped ones with lines replaced."""

from __future__ import annotations

from pathlib import Path

from smsledger.infra.policy_files import package_folder

SHIPPED = {"sms-service@1": "sms-service@1.toml",
           "1001sms@2024-06-15": "1001sms@2024-06-15.toml"}


def shipped_text(ref: str) -> str:
    return (package_folder() / SHIPPED[ref]).read_text(encoding="utf-8")


def write_version(folder: Path, ref: str = "sms-service@1", **edits: str) -> Path:
    """A copy of a shipped file with lines replaced: `key="new line"` replaces the line
    starting with `key =` (an empty value drops it)."""
    lines = []
    for line in shipped_text(ref).splitlines():
        key = line.split("=")[0].strip().strip('"')
        if key in edits:
            if edits[key]:
                lines.append(edits.pop(key))
            continue
        lines.append(line)
    lines.extend(edits.values())  # lines for keys the file did not have
    path = folder / f"{ref}-{len(list(folder.iterdir()))}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
