import os

# Tests never touch the network: sentence-transformers / HF hub stay offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402  (after the offline settings above)

from recsys_cl.cli import main  # noqa: E402


@pytest.fixture
def cli(capsys):
    """Run the CLI in this process: ``cli([...])`` -> (exit code, stdout, stderr)."""

    def run(argv):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        captured = capsys.readouterr()
        return exit_info.value.code, captured.out, captured.err

    return run
