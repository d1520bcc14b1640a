import pytest

from toolkit import kernels
from toolkit.errors import UserError


@pytest.mark.parametrize(
    ("name", "suite"),
    [
        ("6.1", "bookworm"),
        ("bookworm", "bookworm"),
        ("Trixie", "trixie"),
        ("5.10", "bullseye"),
        ("sid", "sid"),
        ("7.x", "sid"),
    ],
)
def test_a_line_is_named_by_version_or_suite(name: str, suite: str) -> None:
    assert kernels.select(name).suite == suite


def test_unknown_line_lists_the_known_ones() -> None:
    with pytest.raises(UserError) as error:
        kernels.select("4.19")
    assert "unknown kernel line '4.19'" in str(error.value)
    assert "6.1 (bookworm)" in str(error.value)


def test_default_line_is_in_the_catalogue() -> None:
    assert kernels.select(kernels.DEFAULT).name == kernels.DEFAULT
