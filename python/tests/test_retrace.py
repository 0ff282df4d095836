"""The Python package against the `retrace` command on samples/: the same
reports (byte for byte), the same verdicts (and those of
samples/incoming/EXPECTED.tsv), the same error messages, threads really used
and the GIL really released."""

import datetime
import json
import os
import re
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import retrace

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def cli_report(cli, archive, path, *extra):
    args = ["check", path, "--json", *extra]
    if archive is not None:
        args = ["--archive", archive, *args]
    return cli(*args).stdout.decode()


def expected_originals():
    rows = (SAMPLES / "incoming" / "EXPECTED.tsv").read_text().splitlines()[1:]
    return {f: (None if o == "-" else o) for f, o, _ in (r.split("\t") for r in rows)}


# --- check -----------------------------------------------------------------


def test_check_json_is_the_cli_output_byte_for_byte(cli, archive, incoming):
    for f in incoming:
        want = cli_report(cli, archive, f)
        got = retrace.check_json(f, archive=archive)
        assert got == want, f.name
        # The dict is what a reader of the CLI's output gets, keys in order.
        report = retrace.check(str(f), archive=str(archive))
        assert report == json.loads(want), f.name
        assert list(report) == list(json.loads(want)), f.name


def python_exponents_as_serde_writes_them(text):
    # 1.64e-07 and 1e+16 in Python, 1.64e-7 and 1e16 from serde_json (ryu):
    # the same numbers, written differently.
    return re.sub(r"(\d)e(?:\+|(-))0*(\d)", r"\1e\2\3", text)


def test_the_dict_dumps_back_to_the_cli_bytes(cli, archive, incoming):
    # json.dumps of the dict writes what the CLI wrote, but for how an
    # exponent is spelt (check_json gives the exact bytes): nothing is lost,
    # reordered or rounded between the library's JSON and Python objects.
    for f in incoming:
        report = retrace.check(f, archive=archive)
        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        want = cli_report(cli, archive, f)
        assert python_exponents_as_serde_writes_them(text) == want, f.name


def test_claims_give_the_cli_report(cli, archive):
    f = SAMPLES / "incoming" / "storm_caption.jpg"
    want = cli_report(
        cli, archive, f, "--claim-date", "2024-03-01", "--claim-location", "48.85,2.35,50"
    )
    assert retrace.check_json(f, archive, "2024-03-01", "48.85,2.35,50") == want
    # The same claim given as Python values.
    assert retrace.check(
        f, archive, datetime.date(2024, 3, 1), (48.85, 2.35, 50)
    ) == json.loads(want)


def test_check_without_an_archive_is_the_cli_report(cli):
    f = SAMPLES / "not-in-archive" / "flower.jpg"
    assert retrace.check_json(f) == cli_report(cli, None, f)
    r = retrace.check(f)
    assert r["archive"]["searched"] is False
    assert r["earliest_copy"] is None


def test_verdicts_are_the_expected_ones(archive, incoming):
    # The ground truth of how the circulating copies were made
    # (samples/incoming/EXPECTED.tsv, written by examples/make_samples.rs).
    expected = expected_originals()
    for f in incoming:
        earliest = retrace.check(f, archive=archive)["earliest_copy"]
        found = Path(earliest["path"]).name if earliest else None
        assert found == expected[f.name], f.name


def test_the_issue_example(archive):
    copy = retrace.check(
        str(SAMPLES / "incoming" / "storm_caption.jpg"), archive=retrace.Archive(archive)
    )["earliest_copy"]
    assert Path(copy["path"]).name == "Storm.jpg"
    # The catalogue's date: Storm.jpg's capture time.
    assert copy["first_seen"] == "2008-04-20T19:12:06"
    assert copy["first_seen_from"] == "manifest"


def test_bytes_give_the_report_of_the_file(archive):
    f = SAMPLES / "incoming" / "china_watermark.jpg"
    from_file = retrace.check(f, archive=archive)
    data = f.read_bytes()
    for given in (data, bytearray(data), memoryview(data)):
        r = retrace.check(given, archive=archive)
        assert r["path"] == "upload:" + from_file["sha256"][:16]
        assert {**r, "path": from_file["path"]} == from_file
    named = retrace.check(data, archive=archive, name="from-the-wire.jpg")
    assert named["path"] == "from-the-wire.jpg"


# --- scan ------------------------------------------------------------------


def cli_scan(cli, archive, *extra):
    out = cli("--archive", archive, "scan", SAMPLES / "incoming", "--jsonl", *extra)
    reports = [json.loads(line) for line in out.stdout.decode().splitlines()]
    return {r["path"]: r for r in reports}


def test_scan_gives_the_cli_reports(cli, archive):
    want = cli_scan(cli, archive, "--threads", "2")
    got = {}
    for r in retrace.scan(SAMPLES / "incoming", archive=archive, threads=2):
        assert r["path"] not in got
        got[r["path"]] = r
    assert len(got) == 17
    assert got == want


def test_scan_with_a_claim_gives_the_cli_reports(cli, archive):
    want = cli_scan(cli, archive, "--claim-date", "2024-03-01")
    got = retrace.scan(
        [str(SAMPLES / "incoming")], archive=archive, claim_date="2024-03-01"
    )
    assert {r["path"]: r for r in got} == want
    assert any(
        f["code"] == "earlier_copy_before_claim" for r in want.values() for f in r["findings"]
    ), "the claim must change some reports for this test to mean anything"


def test_scan_without_an_archive_reports_every_picture(incoming):
    got = list(retrace.scan(incoming, threads=1))
    assert sorted(r["path"] for r in got) == sorted(map(str, incoming))
    assert all(r["archive"]["searched"] is False for r in got)


def test_scan_yields_each_report_as_it_finishes():
    # One worker, 24 pictures analysed one after the other: a scan that
    # streams hands over the first report after about one picture's work,
    # one that collected them would hand it over with the last.
    roots = [SAMPLES / "incoming", SAMPLES / "archive"]
    s = retrace.scan(roots, threads=1)
    start = time.monotonic()
    arrived = [time.monotonic() - start for _ in s]
    assert len(arrived) == 24
    assert arrived[0] < arrived[-1] / 4, arrived


def test_closing_a_scan_stops_it_after_the_pictures_in_progress():
    roots = [SAMPLES / "incoming", SAMPLES / "archive"]
    s = retrace.scan(roots, threads=1)
    first = next(s)
    s.close()
    rest = list(s)
    # The picture in progress when it was closed (and any finished in the
    # meantime) still come; the other twenty-odd are never analysed.
    assert first["schema"] == retrace.SCHEMA
    assert 1 + len(rest) < 24, len(rest)


def thread_count():
    return len(os.listdir("/proc/self/task"))


def settled_thread_count():
    # The pool of a finished scan lets its threads go without waiting for
    # them: count once the number has stayed the same for 100 ms.
    last, same = thread_count(), 0
    for _ in range(500):
        time.sleep(0.01)
        n = thread_count()
        same = same + 1 if n == last else 0
        last = n
        if same >= 10:
            break
    return last


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_scan_runs_on_the_threads_asked_for():
    def most_threads_during(threads):
        before = settled_thread_count()
        seen = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                seen.append(thread_count() - 1)  # not the sampler itself
                done.wait(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            roots = [SAMPLES / "incoming", SAMPLES / "archive"]
            n = sum(1 for _ in retrace.scan(roots, threads=threads))
        finally:
            done.set()
            sampler.join()
        assert n == 24
        return max(seen) - before

    one, four = most_threads_during(1), most_threads_during(4)
    # Beside the pool's workers, the scan runs on two threads of its own (the
    # one `scan` started and the one handing its results over) and a third,
    # the walk, while it lists the folders: one worker is 3 or 4 threads,
    # four are 6 or 7.
    assert one <= 4 and four >= 6, (one, four)


def test_the_gil_is_released_while_a_picture_is_analysed():
    # With a switch interval of 100 s, the interpreter never takes the GIL
    # from a thread that keeps it: the main thread runs while the other is
    # inside `check` only if `check` let go of it.
    f = SAMPLES / "archive" / "Wood.jpg"  # 5 MP: long enough to be seen
    state = {"done": False}

    def work():
        retrace.check(f)
        state["done"] = True

    old = sys.getswitchinterval()
    sys.setswitchinterval(100)
    try:
        t = threading.Thread(target=work)
        t.start()
        ran_while_checking = not state["done"]
        t.join()
    finally:
        sys.setswitchinterval(old)
    assert ran_while_checking
    assert state["done"]


def test_a_walk_problem_is_warned_about_and_kept(cli, tmp_path):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "c.jpg").write_bytes((SAMPLES / "incoming" / "new_coffee.jpg").read_bytes())
    want = cli("scan", tmp_path / "a", "--jsonl", "--max-depth", "1", check=False)
    assert want.returncode == 2
    assert want.stdout == b""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = retrace.scan(tmp_path / "a", limits={"max_depth": 1})
        assert list(s) == []
    [(path, message)] = s.problems
    assert path == str(deep)
    # The CLI's line, word for word (then its closing summary line).
    assert want.stderr.decode().splitlines()[0] == f"retrace: {path}: {message}"
    assert "depth limit" in message
    assert [str(w.message) for w in caught] == [f"{path}: {message}"]


# --- archive ---------------------------------------------------------------


def test_an_archive_built_from_python_is_the_cli_one(cli, archive, tmp_path):
    db = tmp_path / "py.db"
    a = retrace.Archive(db)
    out = a.add(
        SAMPLES / "archive", manifest=SAMPLES / "archive" / "sources.tsv", threads=2
    )
    assert out == {"added": 7, "already_known": 0, "failed": [], "problems": []}
    want = json.loads(cli("--archive", archive, "archive", "info", "--json").stdout)
    got = a.info()
    assert got == {**want, "path": str(db)}
    assert json.loads(cli("--archive", db, "archive", "info", "--json").stdout) == got
    # Same pictures, same dates and sources: the same reports, but for the
    # archive's own path.
    f = SAMPLES / "incoming" / "rocket_caption.jpg"
    on_cli, on_py = retrace.check(f, archive=archive), retrace.check(f, archive=a)
    assert on_py["archive"]["path"] == str(db)
    on_py["archive"]["path"] = on_cli["archive"]["path"]
    assert on_py == on_cli
    # Again: nothing new, as `archive add` says.
    again = a.add([SAMPLES / "archive"], manifest=SAMPLES / "archive" / "sources.tsv")
    assert (again["added"], again["already_known"]) == (0, 7)


def test_add_records_the_source_and_date_given(tmp_path):
    a = retrace.Archive(tmp_path / "a.db")
    f = SAMPLES / "not-in-archive" / "flower.jpg"
    assert a.add(f, source="desk", first_seen=datetime.date(2020, 5, 17))["added"] == 1
    r = retrace.check(f, archive=a)
    assert r["earliest_copy"]["source"] == "desk"
    assert r["earliest_copy"]["first_seen"] == "2020-05-17"
    assert r["earliest_copy"]["first_seen_from"] == "given"
    info = a.info()
    assert (info["images"], info["first_seen_min"]) == (1, "2020-05-17")


def test_a_picture_that_cannot_be_added_is_listed_as_the_cli_says(cli, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "good.jpg").write_bytes((SAMPLES / "not-in-archive" / "flower.jpg").read_bytes())
    out = retrace.Archive(tmp_path / "py.db").add(folder)
    assert out["added"] == 1
    [failed] = out["failed"]
    want = cli("--archive", tmp_path / "cli.db", "archive", "add", folder, check=False)
    assert want.returncode == 2
    assert want.stdout.decode() == "added 1, already known 0, failed 1\n"
    assert f"retrace: not added: {failed['path']}: {failed['message']}\n" in want.stderr.decode()


# --- bad input -------------------------------------------------------------


def test_a_file_that_cannot_be_read_raises_with_the_cli_report(cli, tmp_path):
    missing = tmp_path / "missing.jpg"
    want = json.loads(cli("check", missing, "--json", check=False).stdout)
    with pytest.raises(retrace.RetraceError) as e:
        retrace.check(missing)
    assert e.value.report == want
    assert str(e.value) == want["errors"][0]["message"]
    assert "No such file" in str(e.value)


def test_a_file_that_is_not_a_picture_is_a_report_with_errors(cli):
    # It was read: the report says what could not be done, as the CLI's does.
    f = SAMPLES / "README.md"
    out = cli("check", f, "--json", check=False)
    assert out.returncode == 2
    r = retrace.check(f)
    assert r == json.loads(out.stdout)
    assert r["errors"] and r["sha256"]


def test_an_archive_that_cannot_be_opened_raises_the_cli_message(cli, tmp_path):
    missing = tmp_path / "none.db"
    f = SAMPLES / "incoming" / "new_coffee.jpg"
    want = cli("--archive", missing, "check", f, check=False)
    assert want.returncode == 2
    for call in (
        lambda: retrace.check(f, archive=missing),
        lambda: retrace.scan(f, archive=missing),
        lambda: retrace.Archive(missing, create=False),
    ):
        with pytest.raises(retrace.RetraceError) as e:
            call()
        assert want.stderr.decode() == f"retrace: {e.value}\n"
    assert not missing.exists()
    not_sqlite = tmp_path / "text.db"
    not_sqlite.write_text("not a database, " * 100)
    want = cli("--archive", not_sqlite, "check", f, check=False)
    with pytest.raises(retrace.RetraceError) as e:
        retrace.check(f, archive=not_sqlite)
    assert want.stderr.decode() == f"retrace: {e.value}\n"


def test_malformed_claims_raise_the_cli_message(cli):
    f = SAMPLES / "incoming" / "new_coffee.jpg"
    for flag, value in [
        ("--claim-date", "2024-13-01"),
        ("--claim-date", "yesterday"),
        ("--claim-location", "91,0"),
        ("--claim-location", "48.8,2.3,-5"),
    ]:
        want = cli("check", f, flag, value, check=False)
        assert want.returncode == 2
        param = flag[2:].replace("-", "_")
        with pytest.raises(ValueError) as e:
            retrace.check(f, **{param: value})
        # The CLI's message, naming the parameter instead of the flag.
        assert want.stderr.decode() == f"retrace: {str(e.value).replace(param, flag, 1)}\n"


def test_arguments_of_the_wrong_kind_raise(tmp_path):
    f = SAMPLES / "incoming" / "new_coffee.jpg"
    with pytest.raises(TypeError):
        retrace.check(42)
    with pytest.raises(TypeError):
        retrace.check(f, archive=3.5)
    with pytest.raises(TypeError):
        retrace.check(f, claim_date=20240301)
    with pytest.raises(TypeError):
        retrace.check(f, name="x")  # a name is for bytes
    with pytest.raises(ValueError, match='unknown limit "max_pixel"'):
        retrace.check(f, limits={"max_pixel": 10})
    with pytest.raises(ValueError, match="at least 1"):
        retrace.scan(f, threads=0)
    with pytest.raises(ValueError, match="expected a date, exif or mtime"):
        retrace.Archive(tmp_path / "a.db").add(f, first_seen="last week")


def test_limits_apply_as_the_cli_flags_do(cli):
    f = SAMPLES / "incoming" / "new_coffee.jpg"
    want = cli("check", f, "--json", "--max-pixels", "1000", check=False).stdout.decode()
    assert retrace.check_json(f, limits={"max_pixels": 1000}) == want
    assert json.loads(want)["errors"], "the limit must bite for this test to mean anything"
    # Bytes over the file size cap are refused before they are copied.
    with pytest.raises(retrace.RetraceError, match="limit exceeded: file size in bytes"):
        retrace.check(f.read_bytes(), limits={"max_file_bytes": 100})


def test_crop_search_is_the_cli_flag(cli, archive):
    f = SAMPLES / "incoming" / "grace_hopper_crop_offcentre.jpg"
    for n in ("0", "48"):
        want = cli("--archive", archive, "--crop-search", n, "check", f, "--json").stdout.decode()
        assert retrace.check_json(f, archive, crop_search=int(n)) == want
        assert json.loads(want)["archive"]["crop_search"]["limit"] == int(n)
    scanned = {r["path"]: r for r in retrace.scan(f, archive=archive, crop_search=0)}
    assert scanned == cli_scan_one(cli, archive, f, "--crop-search", "0")
    with pytest.raises(ValueError, match=r"crop_search 257 is not in 0\.\.=256"):
        retrace.check(f, archive, crop_search=257)


def cli_scan_one(cli, archive, path, *flags):
    out = cli("--archive", archive, *flags, "scan", path, "--jsonl")
    return {r["path"]: r for r in map(json.loads, out.stdout.decode().splitlines())}


def test_export_writes_the_cli_list(cli, archive, tmp_path):
    a = retrace.Archive(archive, create=False)
    for fmt in ("retrace", "threatexchange"):
        want, got = tmp_path / f"cli.{fmt}", tmp_path / f"py.{fmt}"
        out = cli("--archive", archive, "archive", "export", want, "--format", fmt)
        counts = a.export(got, format=fmt)
        assert got.read_bytes() == want.read_bytes(), fmt
        assert out.stdout.decode().startswith(f"exported {counts['written']} pictures' hashes")
        assert counts["written"] == (7 if fmt == "retrace" else 7 - counts["skipped"])
    # What it wrote is a list `archive import` takes back whole.
    back = tmp_path / "back.db"
    out = cli("--archive", back, "archive", "import", tmp_path / "py.retrace")
    assert "7 new pictures" in out.stdout.decode()
    with pytest.raises(ValueError, match="is not"):
        a.export(tmp_path / "x", format="csv")
    with pytest.raises(retrace.RetraceError, match="exporting into"):
        a.export(tmp_path / "no" / "such" / "folder" / "list.jsonl")
    assert not list((tmp_path).glob("*.tmp"))


# --- the type stubs ----------------------------------------------------------


def stub_parameters(node):
    """(name, kind, default) of a stub's `def`, as inspect names them."""
    import ast

    a = node.args
    out = []
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + a.defaults
    for arg, d in zip(positional, defaults):
        kind = "POSITIONAL_ONLY" if arg in a.posonlyargs else "POSITIONAL_OR_KEYWORD"
        out.append((arg.arg, kind, ast.literal_eval(d) if d else "<none>"))
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, "KEYWORD_ONLY", ast.literal_eval(d) if d else "<none>"))
    return out


def runtime_parameters(obj):
    import inspect

    out = []
    for p in inspect.signature(obj).parameters.values():
        if p.name in ("self", "$self", "module", "$module"):
            continue
        default = "<none>" if p.default is inspect.Parameter.empty else p.default
        out.append((p.name, p.kind.name, default))
    return out


def test_the_stubs_give_each_function_the_parameters_it_takes():
    # The .pyi is written by hand: every function and method it declares
    # must take exactly those parameters, in that order, with those defaults.
    import ast

    stub = Path(retrace.__file__).parent / "_retrace.pyi"
    tree = ast.parse(stub.read_text())
    checked = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            assert stub_parameters(node) == runtime_parameters(getattr(retrace, node.name)), node.name
            checked.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name in ("Archive", "Scan"):
            cls = getattr(retrace, node.name)
            for item in node.body:
                if not isinstance(item, ast.FunctionDef) or item.name.startswith("__"):
                    continue
                if any(getattr(d, "id", None) == "property" for d in item.decorator_list):
                    assert isinstance(getattr(cls, item.name), property) or hasattr(cls, item.name)
                    continue
                want = stub_parameters(item)[1:]  # without self
                assert want == runtime_parameters(getattr(cls, item.name)), f"{node.name}.{item.name}"
                checked.append(f"{node.name}.{item.name}")
    assert sorted(checked) == [
        "Archive.add", "Archive.export", "Archive.info", "Scan.close",
        "check", "check_json", "scan",
    ]
    # And nothing the module offers is missing from the stubs.
    declared = {
        n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
    } | {
        t.id
        for n in tree.body
        if isinstance(n, ast.AnnAssign)
        for t in [n.target]
        if isinstance(t, ast.Name)
    }
    public = {n for n in dir(retrace._retrace) if not n.startswith("_")} | {"__version__"}
    assert public <= declared | {"__version__"}, public - declared
