import pytest

from recsys_cl.cli import main


@pytest.fixture
def cli(capsys):
    """Run the CLI in this process: ``cli([...])`` -> (exit code, stdout, stderr)."""

    def run(argv):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        captured = capsys.readouterr()
        return exit_info.value.code, captured.out, captured.err

    return run
