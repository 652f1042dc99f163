"""Property over the whole command line: random options and values for every command, and random damage
to every file a command reads (raw files, configs, results folders, baselines, rankings, embeddings,
prepared datasets) end in exit 0 or 2 (1 only for ``compare``'s regression), never in a traceback or a
hang, and nothing is written outside the output the command was given.

Each example runs in a fresh copy of a small world (raw H&M-layout and styles files, a prepared dataset,
a config, a finished results folder, a baseline, a rankings file, an embedding) with its working folder
set there, so relative outputs land inside the copy and every file of the copy can be compared before and
after. Seeded: the default run tries the same few dozen examples each time (``make test``); the run marked
slow tries many more (``RECSYS_CL_FUZZ_EXAMPLES``, default 400) with new draws each time.

Left out for their cost, not their safety: ``demo``, ``prepare ml-100k``, ``prepare recbole`` and ``mmrec`` (their
own random-damage tests are in ``tests/data``), ``track`` (needs an MLflow store) (RecBole's 100k rows), image
encoders and ``retrieve composed`` (torch models; ``tests/embeddings/test_bad_images.py`` covers images).
"""

import contextlib
import io
import os
import shutil
import signal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from recsys_cl.cli import main
from recsys_cl.data import prepare
from recsys_cl.data.synth import generate_hm, generate_styles

#: seconds one command may take before the example counts as a hang
HANG_SECONDS = 120

CONFIG = """name: fz
datasets:
  - {name: hs, source: hm, raw: raw/hm}
protocols: [loo, temporal]
models:
  - {model: pop}
  - {model: itemknn, params: {neighbours: 10}}
seeds: [0]
ks: [5, 10]
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The files every command reads, made once; each example works on a copy."""
    root = tmp_path_factory.mktemp("world")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        generate_hm("raw/hm", customers=40, articles=40, weeks=3, seed=1)
        generate_styles("raw/styles", products=12, seed=1)
        prepare("hm", "atomic", raw="raw/hm", options={"name": "hs", "protocols": ["loo", "temporal", "cold-item"]})
        prepare("styles", "atomic", raw="raw/styles", options={"name": "st"})
        Path("config.yaml").write_text(CONFIG)
        # your own table (source: table): the synthetic purchases under other column names, and its mapping
        Path("raw/table").mkdir(parents=True)
        (pl.read_csv("raw/hm/transactions_train.csv", infer_schema=False)
         .select(customer="customer_id", sku="article_id", ts="t_dat").write_csv("raw/table/events.csv"))
        Path("mapping.yaml").write_text("interactions: {file: events.csv, user: customer, item: sku, time: ts}\n")
        for argv in (["bench", "config.yaml", "--out", "results/fz"],
                     ["baseline", "save", "results/fz", "--out", "baseline.json"],
                     ["embed", "--data", "atomic/hs", "--method", "raw-text", "--out", "emb/hs.itememb", "-o", "text_model=tfidf"]):  # fmt: skip
            assert run(argv)[0] == 0, argv
        test = pl.read_csv("atomic/hs/hs.test.inter", separator="\t", infer_schema=False)["user_id:token"].unique().sort()
        items = pl.read_csv("atomic/hs/hs.item", separator="\t", infer_schema=False)["item_id:token"].to_list()[:10]
        rows = [(u, i, str(r + 1)) for u in test.to_list() for r, i in enumerate(items)]
        pl.DataFrame(rows, schema=["user_id", "item_id", "rank"], orient="row").write_csv("rankings.tsv", separator="\t")
    finally:
        os.chdir(cwd)
    return root


class Hang(Exception):
    pass


def run(argv):
    """``recsys-cl argv`` in this process: (exit code, stdout, stderr); an exception other than SystemExit
    (a traceback) propagates, and so does :class:`Hang` after HANG_SECONDS."""
    out, err = io.StringIO(), io.StringIO()

    def hang(*_):
        raise Hang(f"recsys-cl {' '.join(argv)} took more than {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(HANG_SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------------------------------ values
NUMBERS = st.sampled_from(["-1", "0", "1", "2", "3", "7", "0.5", "1e-9", "nan", "inf", "-inf", "1e308",
                           "99999999999999999999", "4294967296", "abc", "", "1,2"])  # fmt: skip
NAMES = st.sampled_from(["hs2", "ok", "../x", "/tmp/recsys-cl-fuzz-abs", "", ".", "..", "a b", "n" * 300, "x/y", "é"])
PROTOCOLS = st.sampled_from(["loo", "temporal", "cold-item", "loo,temporal", "loo,cold-item,temporal", "", "bogus", "loo,loo"])
METRICS = st.sampled_from(["hr,ndcg", "ndcg@10", "map@12,hr@10", "beyond", "coverage,gini", "bogus", "", "ndcg@0", "hr@99999999999"])
KS = st.sampled_from(["5", "10,12", "1", "0", "-3", "1000000000000", "abc", "", "5,5"])
FLAG = object()


@st.composite
def options(draw, table):
    """A random subset of ``table`` (option -> strategy of its value, or FLAG), in random order."""
    chosen = draw(st.lists(st.sampled_from(sorted(table)), unique=True, max_size=len(table)))
    argv = []
    for name in chosen:
        value = table[name]
        argv += [name] if value is FLAG else [name, draw(value)]
    return argv


def paths(*good):
    return st.sampled_from(list(good)) | st.sampled_from(["nope", "config.yaml", "atomic", ".", "raw/hm/articles.csv"])


def outs(*good):
    return st.sampled_from(list(good)) | st.sampled_from(["config.yaml", "atomic/hs", "out/a/b"])


HM_RAW = ["raw/hm/articles.csv", "raw/hm/customers.csv", "raw/hm/transactions_train.csv"]
DATASET = ["atomic/hs/hs.inter", "atomic/hs/hs.item", "atomic/hs/hs.user", "atomic/hs/hs.meta.json",
           "atomic/hs/hs.train.inter", "atomic/hs/hs.valid.inter", "atomic/hs/hs.test.inter",
           "atomic/hs/hs.temporal-train.inter", "atomic/hs/hs.temporal-test.inter", "atomic/hs/hs.cold-item-test.inter"]  # fmt: skip
RESULTS = ["results/fz/run.json", "results/fz/metrics.csv", "results/fz/cells/*.json", "results/fz/cells/*.parquet",
           "results/fz/data/atomic/hs/*"]  # the prepared data and its .prepared.json marker
EMBEDDING = ["emb/hs.itememb", "emb/hs.itememb.npy", "emb/hs.itememb.ids.txt", "emb/hs.itememb.quality.json"]


@st.composite
def commands(draw):
    """(argv, files it reads, outputs it may write) for a random command."""
    kind = draw(st.sampled_from(["prepare hm", "prepare styles", "synth hm", "synth styles", "summary", "evaluate",
                                 "embed", "bench", "report", "baseline save", "compare", "tune", "prepare table",
                                 "recommend", "plugins"]))  # fmt: skip
    if kind == "prepare table":
        out = draw(outs("out/atomic"))
        argv = ["prepare", "table", "--raw", draw(paths("raw/table")), "--mapping", draw(paths("mapping.yaml")), "--out", out,
                *draw(options({"--name": NAMES, "--protocols": PROTOCOLS,
                               "-o": st.sampled_from(["min_user=2", "min_item=nan", "unknown_items=drop", "x=1", "=", "dedupe=true"])}))]  # fmt: skip
        return argv, ["raw/table/events.csv", "mapping.yaml"], [out]
    if kind == "recommend":
        out = draw(outs("out/rec"))
        argv = ["recommend", draw(paths("config.yaml")), "--model", draw(st.sampled_from(["pop", "itemknn", "ItemKNN", "nope", ""])),
                "--out", out, *draw(options({"--fit-on": st.sampled_from(["train", "train+valid", "all", "x"]), "--k": KS,
                                             "--protocol": PROTOCOLS, "--seed": NUMBERS, "--chunk-users": NUMBERS, "--best": FLAG,
                                             "--run": paths("results/fz"), "--users": paths("rankings.tsv"),
                                             "--format": st.sampled_from(["lists", "hm-submission", "x"])}))]  # fmt: skip
        return argv, ["config.yaml", *HM_RAW, *RESULTS], [out, "results/fz"]
    if kind == "plugins":
        return ["plugins", *draw(options({"--json": FLAG}))], [], []
    if kind == "prepare hm":
        out = draw(outs("out/atomic"))
        argv = ["prepare", "hm", "--raw", draw(paths("raw/hm")), "--out", out, *draw(options({
            "--name": NAMES, "--protocols": PROTOCOLS, "--weeks": NUMBERS, "--min-user": NUMBERS, "--min-item": NUMBERS,
            "--sample-users": NUMBERS, "--test-days": NUMBERS, "--valid-days": NUMBERS, "--cold-item-share": NUMBERS,
            "--seed": NUMBERS, "--dedupe": FLAG, "--replace-bad-bytes": FLAG}))]  # fmt: skip
        return argv, HM_RAW, [out]
    if kind == "prepare styles":
        out = draw(outs("out/atomic"))
        argv = ["prepare", "styles", "--raw", draw(paths("raw/styles")), "--out", out,
                *draw(options({"--name": NAMES, "--max-relevant": NUMBERS, "--seed": NUMBERS, "--replace-bad-bytes": FLAG}))]  # fmt: skip
        return argv, ["raw/styles/styles.csv"], [out]
    if kind in ("synth hm", "synth styles"):
        out = draw(outs("out/raw"))
        small = st.sampled_from(["-1", "0", "1", "3", "20", "nan", "abc", "99999999999"])
        table = ({"--customers": small, "--articles": small, "--weeks": small, "--transactions": small} if kind == "synth hm"
                 else {"--products": small})  # fmt: skip
        return ["data", "synth", kind.split()[1], "--out", out, *draw(options({**table, "--seed": NUMBERS}))], [], [out]
    if kind == "summary":
        return ["summary", draw(paths("atomic/hs", "atomic/st")), *draw(options({"--json": FLAG}))], DATASET, []
    if kind == "evaluate":
        argv = ["evaluate", "--rankings", draw(paths("rankings.tsv", "emb/hs.itememb")), "--data", draw(paths("atomic/hs")),
                *draw(options({"--split": st.sampled_from(["test", "valid", "train", "x"]), "--protocol": PROTOCOLS,
                               "--metrics": METRICS, "--k": KS, "--tail-ratio": NUMBERS, "--json": FLAG,
                               "--diversity-attribute": st.sampled_from(["product_type_name", "nope", ""]),
                               "--embeddings": paths("emb/hs.itememb"), "--exclude-seen": FLAG, "--no-exclude-seen": FLAG}))]  # fmt: skip
        return argv, ["rankings.tsv", *DATASET, *EMBEDDING], []
    if kind == "embed":
        out = draw(outs("out/e.itememb"))
        learner_option = st.sampled_from(["text_model=tfidf", "max_pairs=0", "heldout_share=nan", "train={\"epochs\": -1}",
                                          "trian=1", "retrieval_ks=[1000000000000]", "=", "x", "skip_bad_images=true"])  # fmt: skip
        argv = ["embed", "--data", draw(paths("atomic/hs", "atomic/st")), "--method", draw(st.sampled_from(["raw-text", "text-nce", "bogus"])),
                "--out", out, "-o", "text_model=tfidf", "-o", "train={\"epochs\": 1}",
                *draw(options({"--seed": NUMBERS, "--epochs": st.sampled_from(["0", "1", "-1", "abc"]), "--protocol": PROTOCOLS,
                               "-o": learner_option, "--device": st.sampled_from(["cpu", "auto", "tpu", "cuda:99"])}))]  # fmt: skip
        return argv, DATASET, [out]
    if kind in ("bench", "tune"):
        out = draw(outs("out/res", "results/fz"))
        table = {"--jobs": st.sampled_from(["0", "1", "-1", "abc"]), "--no-resume": FLAG, "--overwrite": FLAG,
                 "--raw": st.sampled_from(["hs=raw/hm", "hs=nope", "nope=raw/hm", "hs", "=x"])} if kind == "bench" else {}
        table["--trials"] = st.sampled_from(["1", "0", "-1", "abc"])
        if kind == "bench":
            table["--no-tune"] = FLAG
        argv = [kind, draw(paths("config.yaml")), "--out", out, *draw(options(table))]
        if kind == "tune" and "--trials" not in argv:
            argv += ["--trials", "1"]
        return argv, ["config.yaml", *HM_RAW, *RESULTS], [out]
    if kind == "report":
        out = draw(outs("out/rep"))
        argv = ["report", draw(paths("results/fz")), "--out", out, "--resamples", draw(st.sampled_from(["20", "1", "0", "-1", "abc"])),
                *draw(options({"--latex": FLAG, "--allow-missing": FLAG}))]  # fmt: skip
        return argv, RESULTS, [out]
    if kind == "baseline save":
        out = draw(outs("out/b.json"))
        argv = ["baseline", "save", draw(paths("results/fz")), "--out", out,
                *draw(options({"--metrics": METRICS, "--no-per-user": FLAG}))]  # fmt: skip
        return argv, RESULTS, [out]
    argv = ["compare", draw(paths("results/fz")), "--baseline", draw(paths("baseline.json")),
            *draw(options({"--rtol": NUMBERS, "--alpha": NUMBERS, "--metrics": METRICS, "--allow-mismatch": FLAG}))]  # fmt: skip
    return argv, [*RESULTS, "baseline.json"], []


HITS = [b",", b"\n", b"\t", b"\r\n", b'"', b"\0", b"\xff", b"\xc3", b"x", b"7", b"-", b"{", b"}", b"]", b"nan", b"1e999", b"&a", b"*a"]


@st.composite
def damage(draw, reads):
    """None, or (file pattern, how, where as a share of its length, bytes put there)."""
    if not reads or draw(st.booleans()):
        return None
    how = draw(st.sampled_from(["cut", "replace", "insert", "delete", "empty", "remove", "duplicate"]))
    return draw(st.sampled_from(reads)), how, draw(st.floats(0, 1, exclude_max=True)), draw(st.sampled_from(HITS) | st.binary(min_size=1, max_size=3))


def apply_damage(root: Path, spec) -> None:
    pattern, how, fraction, hit = spec
    files = sorted(root.glob(pattern))
    if not files:
        return
    path = files[int(fraction * len(files)) % len(files)]
    if how == "remove":
        path.unlink()
        return
    data = path.read_bytes()
    at = int(fraction * len(data))
    data = {"cut": data[:at], "replace": data[:at] + hit + data[at + 1 :], "insert": data[:at] + hit + data[at:],
            "delete": data[:at] + data[at + 4 :], "empty": b"", "duplicate": data + data[at:]}[how]  # fmt: skip
    path.write_bytes(data)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def check_example(world: Path, tmp: Path, command, spec) -> None:
    argv, reads, outputs = command
    copy = tmp / "w"
    shutil.copytree(world, copy, symlinks=True)
    if spec is not None:
        apply_damage(copy, spec)
    before = snapshot(copy)
    cwd = os.getcwd()
    os.chdir(copy)
    try:
        code, out, err = run(argv)
    finally:
        os.chdir(cwd)
    allowed = {0, 2} | ({1} if argv[0] == "compare" else set())
    assert code in allowed, f"exit {code}: {argv}\n{err[-2000:]}"
    assert "Traceback" not in err, err[-2000:]
    if code == 2:
        assert err.strip(), f"exit 2 without a message: {argv}"
    after = snapshot(copy)
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    outside = sorted(p for p in changed if not any(p == o or p.startswith(o.rstrip("/") + "/") or p.startswith(o + ".")
                                                   for o in outputs))  # fmt: skip
    assert not outside, f"{argv} wrote outside its output {outputs}: {outside[:10]}"
    assert not Path("/tmp/recsys-cl-fuzz-abs").exists()


FAST = settings(max_examples=30, derandomize=True, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip


@FAST
@given(data=st.data())
def test_any_command_with_any_options_and_damage_ends_in_0_or_2(world, tmp_path_factory, data):
    command = data.draw(commands(), label="command")
    spec = data.draw(damage(command[1]), label="damage")
    check_example(world, tmp_path_factory.mktemp("ex"), command, spec)


@pytest.mark.slow
@settings(FAST, max_examples=int(os.environ.get("RECSYS_CL_FUZZ_EXAMPLES", "400")), derandomize=False, phases=list(Phase))
@given(data=st.data())
def test_any_command_long_run(world, tmp_path_factory, data):
    command = data.draw(commands(), label="command")
    spec = data.draw(damage(command[1]), label="damage")
    check_example(world, tmp_path_factory.mktemp("ex"), command, spec)


#: what the long runs found (each was a traceback before its fix), kept as fixed cases
FOUND = [
    (["report", "results/fz", "--out", "config.yaml", "--resamples", "20"], RESULTS, ["config.yaml"], None),
    (["summary", "atomic/hs"], DATASET, [], ("atomic/hs/hs.temporal-train.inter", "replace", 0.0, b"\x96")),
    (["baseline", "save", "results/fz", "--out", "atomic/hs"], RESULTS, ["atomic/hs"], None),
    (["embed", "--data", "atomic/st", "--method", "text-nce", "--out", "out/e.itememb", "-o", "text_model=tfidf",
      "--device", "cuda:99"], DATASET, ["out/e.itememb"], None),  # fmt: skip
    (["embed", "--data", "atomic/st", "--method", "raw-text", "--out", "atomic/hs", "-o", "text_model=tfidf"], DATASET, ["atomic/hs"], None),
    (["summary", "atomic/hs", "--json"], DATASET, [], ("atomic/hs/hs.train.inter", "insert", 0.0, b"d")),
    (["bench", "config.yaml", "--out", "results/fz"], ["config.yaml"], ["results/fz"], ("config.yaml", "insert", 0.0, b"\x0f\x1d")),
]


@pytest.mark.parametrize("argv, reads, outputs, spec", FOUND, ids=[" ".join(f[0][:2]) + f"-{i}" for i, f in enumerate(FOUND)])
def test_what_the_long_runs_found(world, tmp_path, argv, reads, outputs, spec):
    check_example(world, tmp_path, (argv, reads, outputs), spec)
