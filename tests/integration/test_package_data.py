"""The policy files are package data: the wheel ships them, and the installed package (the
wheel's, or the editable install of the repository) loads them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from smsledger.infra.policy_files import package_folder, package_versions

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {"smsledger/infra/policies/sms-service@1.toml",
           "smsledger/infra/policies/1001sms@2024-06-15.toml",
           "smsledger/infra/policies/sms-service-return-policy.txt",
           "smsledger/infra/policies/1001sms-payment-refund-policy.txt"}
PROBE = (
    "from smsledger.infra.policy_files import package_folder, package_versions\n"
    "print(package_folder())\n"
    "print(' '.join(v.ref for v in package_versions()))\n"
)


def test_the_editable_install_loads_the_policy_files_of_the_repository() -> None:
    assert Path(str(package_folder())) == ROOT / "infra" / "policies"
    assert sorted(v.ref for v in package_versions()) == ["1001sms@2024-06-15", "sms-service@1"]


def test_the_wheel_ships_the_policy_files_and_loads_them_installed(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w",
         str(tmp_path)], capture_output=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr.decode()
    (wheel,) = tmp_path.glob("smsledger-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        assert SHIPPED <= set(archive.namelist())
        archive.extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, env=env,
                           cwd=tmp_path, timeout=60)
    assert probe.returncode == 0, probe.stderr.decode()
    folder, refs = probe.stdout.decode().splitlines()
    assert Path(folder) == site / "smsledger" / "infra" / "policies"
    assert sorted(refs.split()) == ["1001sms@2024-06-15", "sms-service@1"]
