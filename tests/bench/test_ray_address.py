"""A --ray-address where no cluster answers is one line and exit 2 before any work, never a minutes-long wait."""

import socket
import time

import pytest

from recsys_cl.bench._ray import check_ray_address
from recsys_cl.cli import main
from recsys_cl.errors import InputError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}"])
def test_unreachable_address_fails_fast(address):
    address = address.format(port=free_port())
    started = time.monotonic()
    with pytest.raises(InputError, match=f"--ray-address {address}: no Ray cluster answers there"):
        check_ray_address(address)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("address", ["nonsense", "host:", ":123", "ray://host:port"])
def test_malformed_address_is_named(address):
    with pytest.raises(InputError, match="expected host:port, ray://host:port or auto"):
        check_ray_address(address)


def test_bench_with_a_dead_address_exits_2_before_preparing_data(tmp_path, capsys):
    config = tmp_path / "b.yaml"
    config.write_text("name: b\ndatasets: [{name: ml-100k, source: ml-100k}]\nmodels: [{model: pop}]\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(config), "--out", str(tmp_path / "out"), "--executor", "ray", "--ray-address", f"127.0.0.1:{free_port()}"])
    assert exit_info.value.code == 2 and "no Ray cluster answers there" in capsys.readouterr().err
    assert not (tmp_path / "out" / "data").exists()
