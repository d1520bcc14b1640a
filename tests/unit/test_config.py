from pathlib import Path

import pytest

from toolkit import config
from toolkit.errors import UserError


def test_defaults_use_xdg_dirs(tmp_path: Path) -> None:
    settings = config.load(config_file=tmp_path / "absent.toml", environ={})
    assert settings.kernel == "6.1"
    assert settings.provider == "qemu"
    assert settings.cache_dir.name == "vexfs-vmtest"


def test_file_then_env_then_flags_win_in_order(tmp_path: Path) -> None:
    file = tmp_path / "vmtest.toml"
    file.write_text('kernel = "6.12"\ncpus = 4\nmemory_mib = 1024\n')
    settings = config.load({"cpus": 1}, config_file=file, environ={"VEXFS_CPUS": "3", "VEXFS_MEMORY_MIB": "4096"})
    assert settings.kernel == "6.12"
    assert settings.memory_mib == 4096
    assert settings.cpus == 1


def test_flags_left_unset_do_not_override(tmp_path: Path) -> None:
    settings = config.load({"kernel": None}, config_file=tmp_path / "none", environ={"VEXFS_KERNEL": "trixie"})
    assert settings.kernel == "trixie"


def test_env_paths_expand_home(tmp_path: Path) -> None:
    settings = config.load(config_file=tmp_path / "none", environ={"VEXFS_CACHE_DIR": "~/x"})
    assert settings.cache_dir == Path("~/x").expanduser()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("cpus = 0\n", "cpus must be at least 1"),
        ("memory_mib = 100\n", "memory_mib must be at least 512"),
        ("cpu = 2\n", "unknown setting 'cpu'"),
        ('cpus = "many"\n', "not a valid int"),
        ("cpus = [\n", "not valid TOML"),
        ("boot_timeout_s = -1\n", "boot_timeout_s must be positive"),
    ],
)
def test_bad_config_file_is_a_user_error(tmp_path: Path, text: str, fragment: str) -> None:
    file = tmp_path / "vmtest.toml"
    file.write_text(text)
    with pytest.raises(UserError, match=fragment):
        config.load(config_file=file, environ={})


def test_bad_environment_value_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="in the environment"):
        config.load(config_file=tmp_path / "none", environ={"VEXFS_MEMORY_MIB": "lots"})
