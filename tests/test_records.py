"""The record store at the database level: migrations, privacy, concurrent writers, a writer killed mid-write,
PostgreSQL where it is installed, the change words."""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from record_helpers import NAMED_FILE, made_exam
from sqlalchemy import create_engine, inspect, text

from facepalsy.app.cli import main
from facepalsy.errors import FacepalsyError
from facepalsy.face.norms import Norms, Retest, load_norms
from facepalsy.records import store as store_module
from facepalsy.records.grade_history import judged
from facepalsy.records.pseudonyms import identifying_hint
from facepalsy.records.schema import Base
from facepalsy.records.store import RecordStore, photo_facts

TESTS = Path(__file__).parent
DAY = datetime.date(2026, 3, 1)


def _photo(tmp_path: Path) -> Path:
    photo = tmp_path / NAMED_FILE
    photo.write_bytes(b"not really a photo, only bytes to hash and keep")
    return photo


def _norms_with_mdc(mdc: float = 0.3) -> Norms:
    """The shipped reference with a stated MDC95 in every region, so the change words do not hang on its numbers."""
    regions = dict.fromkeys(("brow", "eye", "mid_face", "mouth"), mdc)
    return dataclasses.replace(load_norms(), retest=Retest("stated", 10, 4.0, {}, regions, mdc))


def _record(store: RecordStore, patient: str, photo: Path, score: float = 0.5, day: int = 0, keep: bool = False):
    when = DAY + datetime.timedelta(days=day)
    return store.record(patient, made_exam(score), when, "--date", {"rest": photo_facts(photo, keep)}, "tester")


def test_a_new_database_is_migrated_from_empty_private_and_matches_the_models(tmp_path):
    db = tmp_path / "new" / "records.db"
    with RecordStore(db) as store:
        tables = set(inspect(store.engine).get_table_names())
        with store.engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            from alembic.autogenerate import compare_metadata
            from alembic.migration import MigrationContext

            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert tables == {"alembic_version", "patients", "exams", "exam_regions", "exam_photos"} and version == "0002"
    assert differences == []  # the migrations build exactly the models' schema
    assert stat.S_IMODE(db.stat().st_mode) == 0o600 and stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    empty = tmp_path / "empty.db"
    empty.touch(mode=0o644)
    with RecordStore(empty) as store:  # an existing empty file is upgraded too (its mode is the user's own)
        assert "exams" in inspect(store.engine).get_table_names()


def test_a_database_of_the_first_schema_is_upgraded_and_keeps_its_exams(tmp_path):
    """Revision 0002 adds the visit time to a database made at 0001, whose visits read as before."""
    from alembic import command
    from alembic.config import Config

    db, photo = tmp_path / "old.db", _photo(tmp_path)
    with RecordStore(db) as store:
        _record(store, "P-OLD", photo, day=0)
        with store.engine.begin() as connection:  # back to the first schema, as a database made before 0002 is
            config = Config()
            config.set_main_option("script_location", str(store_module.MIGRATIONS))
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
    with RecordStore(db) as store:
        assert "visit_time" in {c["name"] for c in inspect(store.engine).get_columns("exams")}
        history = store.history("P-OLD", _norms_with_mdc())
        assert [visit.label for visit in history.visits] == [DAY.isoformat()]


def test_one_date_is_one_visit_unless_replaced_or_told_apart_by_its_time(tmp_path):
    """Issue 52, item 7: a second exam on a recorded date asks for --replace or --visit-time."""
    photo = _photo(tmp_path)
    with RecordStore(tmp_path / "records.db") as store:
        _record(store, "P-9", photo, score=0.5)
        with pytest.raises(FacepalsyError, match=r"already has a visit on 2026-03-01: give --replace .* --visit-time"):
            _record(store, "P-9", photo, score=3.0)
        assert len(store.history("P-9", _norms_with_mdc()).visits) == 1  # the refused exam left nothing behind
        exam_id, visits, replaced = store.record("P-9", made_exam(3.0), DAY, "--date", {}, "tester", replace=True)
        history = store.history("P-9", _norms_with_mdc())
        assert (visits, replaced) == (1, 1) and [v.exam_id for v in history.visits] == [exam_id]
        store.record("P-9", made_exam(0.5), DAY, "--date", {}, "tester", visit_time="16:30")
        history = store.history("P-9", _norms_with_mdc())
        assert [visit.label for visit in history.visits] == ["2026-03-01", "2026-03-01 16:30"]
        assert {row.since for row in history.changes} == {"2026-03-01"}
        with pytest.raises(FacepalsyError, match="already has a visit on 2026-03-01 at 16:30"):
            store.record("P-9", made_exam(0.5), DAY, "--date", {}, "tester", visit_time="16:30")


@pytest.mark.parametrize(
    "value, message", [("4pm", "give the time as HH:MM"), ("24:10", "no such time"), ("9:05", None)]
)
def test_a_visit_time_is_a_time_of_day(value, message):
    from facepalsy.records.recording import parse_visit_time

    if message is None:
        assert parse_visit_time(value) == "09:05"
        return
    with pytest.raises(FacepalsyError, match=message):
        parse_visit_time(value)


def test_forget_leaves_no_row_and_no_byte_naming_the_patient(tmp_path):
    db, photo = tmp_path / "records.db", _photo(tmp_path)
    with RecordStore(db) as store:
        for day in range(2):
            _record(store, "zq-forget-me-7781", photo, day=day, keep=True)
        _record(store, "P-0002", photo)
        assert store.patients() == ["P-0002", "zq-forget-me-7781"]
        assert store.forget("zq-forget-me-7781") == 2
        with store.engine.connect() as connection:
            counts = {
                table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("patients", "exams", "exam_regions", "exam_photos")
            }
    assert counts == {"patients": 1, "exams": 1, "exam_regions": 4, "exam_photos": 1}
    files = [path for path in tmp_path.iterdir() if path.name.startswith("records.db")]
    for path in files:  # the database and what SQLite keeps beside it (WAL, shared memory)
        content = path.read_bytes()
        assert b"zq-forget-me-7781" not in content and b"not really a photo" not in content, path
    assert b"Jane Doe" not in db.read_bytes() and b"jane_doe" not in db.read_bytes()  # names in paths are never stored
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_forget_needs_yes_and_history_of_an_unknown_patient_is_one_line(tmp_path, capsys):
    db = tmp_path / "records.db"
    assert main(["forget", "P-1", "--db", str(db)]) == 2
    assert "cannot be undone: add --yes" in capsys.readouterr().err
    assert main(["history", "P-1", "--db", str(db), "--out", str(tmp_path / "h")]) == 2
    assert not db.exists()  # no database: it is not created by reading it
    RecordStore(db).close()
    assert main(["history", "P-1", "--db", str(db), "--out", str(tmp_path / "h")]) == 2
    assert f"patient 'P-1': no exams recorded in {db}" in capsys.readouterr().err
    with RecordStore(db) as store:
        for day in (3, 1, 2):  # recorded out of order: visits are numbered by date
            store.record("P-1", made_exam(0.1 * day), datetime.date(2026, 1, day), "--date", {})
    # one visit alone goes (issue 52, item 7): the second by date, 2026-01-02
    assert main(["forget", "P-1", "--exam", "2", "--db", str(db)]) == 2
    assert "visit 2 of 'P-1'" in capsys.readouterr().err
    assert main(["forget", "P-1", "--exam", "4", "--db", str(db), "--yes"]) == 2
    assert "visits 1 to 3; there is no visit 4" in capsys.readouterr().err
    assert main(["forget", "P-1", "--exam", "2", "--db", str(db), "--yes"]) == 0
    assert "forgot visit 2 of patient P-1: 1 exam deleted" in capsys.readouterr().err
    with RecordStore(db, create=False) as store:
        kept = [visit.date for visit in store.history("P-1", load_norms()).visits]
    assert kept == [datetime.date(2026, 1, 1), datetime.date(2026, 1, 3)]
    assert main(["forget", "P-1", "--db", str(db), "--yes"]) == 0
    said = capsys.readouterr().err
    assert "2 exams deleted" in said and "not deleted" in said and "record exports" in said  # issue 52, item 12


WRITER = """
import datetime, sys
from pathlib import Path
from record_helpers import made_exam
from facepalsy.records import store as store_module
from facepalsy.records.store import RecordStore, photo_facts
db, who, photo = sys.argv[1], sys.argv[2], {"rest": photo_facts(Path(sys.argv[3]), keep=True)}
with RecordStore(db) as store:
    for visit in range(3):
        store.record(who, made_exam(0.1 * visit), datetime.date(2026, 1, 1 + visit), "--date", photo)
"""


def _child(*args: str, script: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", script, *args], env=env, stderr=subprocess.PIPE, text=True)


def test_two_processes_recording_at_once_lose_nothing(tmp_path):
    db, photo = tmp_path / "records.db", _photo(tmp_path)
    writers = [_child(str(db), who, str(photo), script=WRITER) for who in ("P-A", "P-B")]
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    with RecordStore(db) as store:
        assert {who: len(store.history(who, load_norms()).visits) for who in ("P-A", "P-B")} == {"P-A": 3, "P-B": 3}


PAUSED_WRITER = """
import datetime, sys, time
from pathlib import Path
from sqlalchemy import event
from sqlalchemy.orm import Session
from record_helpers import made_exam
from facepalsy.records import store as store_module
from facepalsy.records.store import RecordStore, photo_facts
db, marker, photo = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
store = RecordStore(db)
store.record("P-K", made_exam(0.2), datetime.date(2026, 1, 1), "--date", {"rest": photo_facts(photo)})
def pause(session, context):  # the second exam's rows are written, the transaction not yet committed
    marker.write_text("paused")
    time.sleep(120)
event.listen(Session, "after_flush", pause)
store.record("P-K", made_exam(0.9), datetime.date(2026, 2, 1), "--date", {"rest": photo_facts(photo, keep=True)})
"""


def test_a_writer_killed_mid_write_leaves_the_exam_absent_and_the_database_consistent(tmp_path):
    db, marker, photo = tmp_path / "records.db", tmp_path / "paused", _photo(tmp_path)
    writer = _child(str(db), str(marker), str(photo), script=PAUSED_WRITER)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert writer.poll() is None, writer.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=30) == -signal.SIGKILL
    with RecordStore(db) as store:
        with store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert connection.execute(text("SELECT count(*) FROM exam_photos")).scalar() == 1
        visits = store.history("P-K", load_norms()).visits
        assert [visit.date for visit in visits] == [datetime.date(2026, 1, 1)]  # the first whole, the second absent
        _record(store, "P-K", photo, day=60)  # and the database takes the next write
        assert len(store.history("P-K", load_norms()).visits) == 2


def _start_postgres(folder: Path) -> tuple[str, list[str]]:
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its own user runs the throwaway cluster
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a postgres user to start PostgreSQL as")
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    folder.chmod(0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(
        [*run_as, "initdb", "-D", str(folder / "data"), "-U", "facepalsy", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=''"  # a Unix socket only: nothing on the network
    start = [*run_as, "pg_ctl", "-D", str(folder / "data"), "-o", options, "-l", str(folder / "log"), "-w", "start"]
    subprocess.run(start, check=True, capture_output=True)
    return f"postgresql+psycopg://facepalsy@/postgres?host={folder}&port={port}", run_as


@pytest.fixture(scope="module")
def postgres_url():
    """A real PostgreSQL: FACEPALSY_TEST_POSTGRES_URL, else a throwaway cluster where initdb is installed."""
    if os.environ.get("FACEPALSY_TEST_POSTGRES_URL"):
        yield os.environ["FACEPALSY_TEST_POSTGRES_URL"]
        return
    pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed: bash scripts/setup")
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL is not installed here (no initdb/pg_ctl); set FACEPALSY_TEST_POSTGRES_URL to use one")
    folder = Path(tempfile.mkdtemp(prefix="facepalsy-pg-", dir="/tmp"))
    url, run_as = _start_postgres(folder)
    try:
        yield url
    finally:
        subprocess.run([*run_as, "pg_ctl", "-D", str(folder / "data"), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_same_store_works_on_postgresql(postgres_url, tmp_path):
    photo = _photo(tmp_path)
    with RecordStore(postgres_url) as store:
        assert store.path is None and "postgres" in store.where
        for day, score in ((0, 0.5), (30, 0.5), (60, 3.0)):
            _record(store, "P-PG", photo, score=score, day=day, keep=True)
        history = store.history("P-PG", _norms_with_mdc())
        assert [row.word for row in history.changes if row.name == "mouth"] == ["no change", "worse"]
        assert store.forget("P-PG") == 3 and "P-PG" not in store.patients()
    with create_engine(postgres_url).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM exam_regions")).scalar() == 0


@pytest.mark.parametrize(
    "difference, mdc, word", [(0.2, 0.3, "no change"), (0.31, 0.3, "worse"), (-0.31, 0.3, "improved")]
)
def test_change_words_against_the_minimal_detectable_change(difference, mdc, word):
    """One rule for every change a history shows: a resting score or smile reading (lower is better) and a grade
    item (higher is better) alike."""
    assert judged(difference, mdc, lower_is_better=True) == word
    assert judged(-difference, mdc, lower_is_better=False) == word
    assert judged(difference, None, lower_is_better=True) == "not judged"


@pytest.mark.parametrize(
    "patient, hint",
    [("Jane Doe", "name"), ("doe, jane", "name"), ("1980-05-12", "date"), ("P-19800512", "date"), ("P-0042", None)],
)
def test_ids_that_look_like_a_name_or_a_date_of_birth_are_noticed(patient, hint):
    found = identifying_hint(patient)
    assert (found is None) if hint is None else (hint in found)


def test_a_patients_first_exam_is_their_visit_1_whoever_came_before(tmp_path):
    from facepalsy.records.recording import PendingExam, record_exam

    photo = tmp_path / "rest.png"
    photo.write_bytes(b"not a real photo, only hashed")
    with RecordStore(tmp_path / "records.db") as store:
        visits = [
            record_exam(store, who, PendingExam(made_exam(0.3), {"rest": photo_facts(photo)}, DAY + day, "--date"))
            for who, day in zip(("P-A", "P-A", "P-B", "P-A"), (datetime.timedelta(days=d) for d in (0, 1, 1, 2)))
        ]
    assert [(v.patient, v.visit) for v in visits] == [("P-A", 1), ("P-A", 2), ("P-B", 1), ("P-A", 3)]
    assert visits[2].exam_id == 3


def test_files_holding_a_patients_data_are_written_for_their_owner_only(tmp_path):
    from facepalsy.records.history_report import write_export, write_history

    photo = tmp_path / "rest.png"
    photo.write_bytes(b"hashed only")
    with RecordStore(tmp_path / "records.db") as store:
        for day in range(2):
            _record(store, "P-0001", photo, 0.2 + day, day)
        history = store.history("P-0001", load_norms())
        record = store.export("P-0001")
    files = write_history(history, tmp_path / "history")
    written = [files.report, files.document, files.chart, *write_export(record, tmp_path / "record")]
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in written} == dict.fromkeys(
        (p.name for p in written), 0o600
    )


def test_the_page_asks_to_replace_a_taken_date_or_for_a_time_in_its_own_words(tmp_path):
    """Issue 52, item 7, on the page: a second exam on a recorded date is refused with the page's controls named (no
    command-line flag); ticking *Replace* records it in place of the first, a visit time records a second visit."""
    from facepalsy.app.page_history import HistoryDesk
    from facepalsy.records.recording import PendingExam

    photo = tmp_path / "rest.png"
    photo.write_bytes(b"not a real photo, only hashed")
    desk = HistoryDesk(str(tmp_path / "records.db"), tmp_path / "work")
    pending = PendingExam(made_exam(0.3), {"rest": photo_facts(photo)}, DAY, "--date")
    assert desk.record("P-7", pending, "nurse").startswith("Recorded visit 1 of patient P-7, dated 2026-03-01")
    refused = desk.record("P-7", pending, "nurse")
    assert refused.startswith("**Not recorded.**") and "Replace that visit" in refused and "--" not in refused
    replaced = desk.record("P-7", pending, "nurse", replace=True)
    assert "in place of the earlier exam" in replaced and "visit 1 of" in replaced
    second = desk.record("P-7", pending, "nurse", visit_time="16:30")
    assert second.startswith("Recorded visit 2 of patient P-7, dated 2026-03-01 at 16:30")
    assert "no such time" in desk.record("P-7", pending, "nurse", visit_time="25:00")
