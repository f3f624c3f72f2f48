"""The grading sandbox (bubblewrap): what a submission's code can and cannot reach, and the limits.

Each test runs a few lines of Python inside the sandbox, as a student's cell would, and reads what they could
do from their output. They need ``bwrap`` (Debian's bubblewrap, installed by .ci/run).
"""

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dl4f_grading import sandbox

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not sandbox.available(), reason="bubblewrap is not installed (apt-get install bubblewrap)")


def run_python(tmp_path, code: str, limits=None, data_dir=None):
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    outcome = sandbox.run([sys.executable, "-c", textwrap.dedent(code)], scratch,
                          limits or sandbox.Limits(seconds=60, memory_gb=4), data_dir=data_dir)
    return outcome, (tmp_path / "sandbox.log").read_text()


def test_sandbox_is_available_here():
    assert sandbox.available()
    assert sandbox.require() is True


def test_the_course_the_gradebook_and_the_grader_are_out_of_reach(tmp_path, market_cache):
    secret = ROOT / "gradebook-test-secret.txt"
    outcome, out = run_python(tmp_path, f"""
        import os
        def attempt(name, f):
            try:
                f()
                print(name, "ALLOWED")
            except Exception as exc:
                print(name, "blocked", type(exc).__name__)
        attempt("read_readme", lambda: open({str(ROOT / 'README.md')!r}).read())
        attempt("read_solutions", lambda: os.listdir({str(ROOT / 'solutions')!r}))
        attempt("read_grading", lambda: os.listdir({str(ROOT / 'lib' / 'dl4f_grading')!r}))
        attempt("import_grading", lambda: __import__("dl4f_grading"))
        attempt("write_library", lambda: open({str(ROOT / 'lib' / 'dl4f' / 'evil.py')!r}, "w"))
        attempt("write_data", lambda: open("/data/evil.csv", "w"))
        attempt("write_scratch", lambda: open("/submission/mine.txt", "w").write("ok"))
        attempt("read_data", lambda: os.listdir("/data"))
        attempt("import_dl4f", lambda: __import__("dl4f"))
        print("uid", os.getuid(), "ppid", os.getppid())
    """, data_dir=market_cache)
    assert outcome.ok, out
    for name in ("read_readme", "read_solutions", "read_grading", "import_grading", "write_library", "write_data"):
        assert f"{name} blocked" in out, out
    for name in ("write_scratch", "read_data", "import_dl4f"):
        assert f"{name} ALLOWED" in out, out
    assert "uid 65534" in out  # nobody
    assert not (ROOT / "lib" / "dl4f" / "evil.py").exists() and not secret.exists()
    assert (tmp_path / "scratch" / "mine.txt").read_text() == "ok"


def test_no_network_and_no_view_of_the_grader_processes(tmp_path):
    outcome, out = run_python(tmp_path, """
        import os, signal, socket
        try:
            socket.create_connection(("93.184.216.34", 80), timeout=3)
            print("network ALLOWED")
        except OSError as exc:
            print("network blocked", exc)
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        print("pids", pids)
        try:
            os.kill(os.getppid(), signal.SIGKILL)  # kill the grader?
        except OSError as exc:
            print("kill parent", type(exc).__name__)
    """)
    assert "network blocked" in out
    pids = eval(out.split("pids ")[1].splitlines()[0])  # noqa: S307  (our own output: a list of ints)
    assert max(pids) < 10, f"the sandbox sees only its own few processes, saw {pids}"
    assert os.getpid() not in pids or os.getpid() < 10


def test_time_limit_kills_a_loop_and_its_detached_children(tmp_path):
    marker = tmp_path / "scratch" / "after.txt"
    t0 = time.monotonic()
    outcome, _ = run_python(tmp_path, """
        import os, subprocess, sys, time
        # a detached process that would write after the run
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(6); open('/submission/after.txt', 'w')"],
                         start_new_session=True)
        while True:
            pass
    """, limits=sandbox.Limits(seconds=3, memory_gb=4))
    assert outcome.status == "timeout"
    assert time.monotonic() - t0 < 10
    time.sleep(5)
    assert not marker.exists(), "a process started by the submission outlived the sandbox"


def test_memory_cap_stops_an_oversized_allocation(tmp_path):
    outcome, out = run_python(tmp_path, """
        import numpy as np
        try:
            a = np.ones(int(6e9) // 8)
            print("allocated", a.nbytes)
        except MemoryError:
            print("MemoryError")
    """, limits=sandbox.Limits(seconds=60, memory_gb=2))
    assert "MemoryError" in out and "allocated" not in out


def test_memory_cap_counts_all_processes_together(tmp_path):
    outcome, _ = run_python(tmp_path, """
        import subprocess, sys, time
        code = "import numpy as np, time; a = np.ones(int(0.6e9) // 8); time.sleep(30)"
        procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
        time.sleep(30)
    """, limits=sandbox.Limits(seconds=40, memory_gb=1.5))
    assert outcome.status == "memory"
    assert outcome.seconds < 30


def test_refuses_to_run_unsandboxed_without_the_flag(monkeypatch):
    monkeypatch.setattr(sandbox, "available", lambda: False)
    with pytest.raises(sandbox.SandboxUnavailable, match="bubblewrap"):
        sandbox.require()
    assert sandbox.require(allow_unsandboxed=True) is False


def test_limits_are_validated():
    with pytest.raises(ValueError):
        sandbox.Limits(seconds=0)


def test_no_host_secret_is_visible_and_root_is_not_mapped_in(tmp_path):
    outcome, out = run_python(tmp_path, """
        import os
        for path in ("/etc/shadow", "/etc/gshadow", "/root/.bashrc", "/etc/sudoers"):
            try:
                open(path).read()
                print(path, "READ")
            except OSError as exc:
                print(path, "blocked", type(exc).__name__)
        print("etc", sorted(os.listdir("/etc")))
        open("/submission/mine.txt", "w").write(str(os.getuid()))
    """)
    assert outcome.ok, out
    assert "READ" not in out and out.count("blocked") == 4, out
    mine = tmp_path / "scratch" / "mine.txt"
    assert mine.read_text() == "65534"
    if os.geteuid() == 0:  # graded as root: the sandbox's user is an unprivileged host user, never host root
        assert mine.stat().st_uid != 0
    etc = eval(out.split("etc ")[1].splitlines()[0])  # noqa: S307
    assert "passwd" in etc and "shadow" not in etc and len(etc) < 30, etc


def test_a_detached_process_is_dead_when_the_run_returns(tmp_path):
    marker = tmp_path / "scratch" / "after.txt"
    outcome, _ = run_python(tmp_path, """
        import os, subprocess, sys
        code = "import os, time; time.sleep(1.5); open('/submission/after.txt', 'w').write('late')"
        subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if os.fork() == 0:  # and a double fork
            os.setsid()
            if os.fork() == 0:
                import time
                time.sleep(1.5)
                open("/submission/after2.txt", "w").write("late")
            os._exit(0)
        print("main ends")
    """)
    assert outcome.ok
    time.sleep(3)
    assert not marker.exists() and not (tmp_path / "scratch" / "after2.txt").exists()


def test_the_private_channel_reaches_the_grader_line_by_line(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    lines = []
    code = "import os; f = os.fdopen(int(os.environ['DL4F_CHANNEL_FD']), 'w'); f.write('one\\ntwo\\n'); f.close()"
    outcome = sandbox.run([sys.executable, "-c", code], scratch, sandbox.Limits(seconds=60), channel=lines.append)
    assert outcome.ok and lines == [b"one\n", b"two\n"]


def test_a_process_started_ahead_waits_for_go_sees_what_was_put_there_and_its_clock_starts_at_go(tmp_path):
    """``start(waiting=True)`` (the export and the verifier, started while the notebook runs): the process runs
    until it reads its standard input, sees files the grader put in its folder before ``go``, and the time limit
    counts from ``go`` (a long wait before it is not a timeout)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = ("import sys, os; print('ready', sorted(os.listdir('.')), flush=True); line = sys.stdin.readline()\n"
            "print('got', line.strip(), open('inputs.txt').read(), flush=True)")
    running = sandbox.start([sys.executable, "-c", code], scratch, sandbox.Limits(seconds=3), waiting=True)
    time.sleep(4)  # longer than the limit, before go
    (scratch / "inputs.txt").write_text("the grader's")
    running.go()
    outcome = running.wait()
    log = (tmp_path / "sandbox.log").read_text()
    assert outcome.ok, log
    assert "ready []" in log and "got go the grader's" in log
    assert outcome.seconds < 3


WARMING = """
import time
from pathlib import Path
from dl4f import warm_start

def warming():  # the export's: its steps need the grader's inputs
    if not Path("inputs").is_dir():
        return None
    def steps():
        for k in range(1000):
            Path(f"step{k}").write_text("")
            if k == FAIL_AT:
                raise RuntimeError("a warm-up step that fails")
            time.sleep(0.05)
            yield
    return steps()

went = warm_start.wait_for_go(modules=(), warming=warming)
print("went", went, len(list(Path(".").glob("step*"))), flush=True)
"""


@pytest.mark.parametrize("fail_at", [None, 4])
def test_a_waiting_process_warms_up_once_its_inputs_are_there_until_go_or_a_failed_step(tmp_path, fail_at):
    """``warm_start.wait_for_go(warming=...)`` (the export's warm-up on the grader's inputs): no step before the
    inputs are in the folder; then one step at a time while ``go`` has not come, none after it; a step that fails
    ends the warm-up and the process still goes at ``go``."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = f"FAIL_AT = {fail_at}\n" + WARMING
    running = sandbox.start([sys.executable, "-c", code], scratch, sandbox.Limits(seconds=60), waiting=True)

    def steps() -> int:
        return len(list(scratch.glob("step*")))

    time.sleep(1.0)
    assert steps() == 0  # no inputs yet: no step
    (scratch / "inputs").mkdir()
    deadline = time.monotonic() + 30
    while steps() < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    if fail_at is not None:
        time.sleep(0.5)
        assert steps() == fail_at + 1  # the failed step was the last
    before = steps()
    running.go()
    outcome = running.wait()
    log = (tmp_path / "sandbox.log").read_text()
    assert outcome.ok, log
    at_go = int(log.split("went True ")[1].split()[0])
    assert before <= at_go == steps()  # the step under way at go ended, no other started
    assert outcome.seconds < 10  # it went at go (its 1000 steps would take 50 s)


def test_a_process_started_ahead_and_never_told_to_go_is_stopped_with_all_it_started(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = ("import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; open(\"child.txt\", \"w\"); time.sleep(1); "
            "open(\"late.txt\", \"w\")'])\n"
            "sys.stdin.readline(); open('went.txt', 'w')")
    running = sandbox.start([sys.executable, "-c", code], scratch, sandbox.Limits(seconds=60), waiting=True)
    deadline = time.monotonic() + 30
    while not (scratch / "child.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (scratch / "child.txt").exists()  # the process it started runs
    running.stop()
    assert running.proc.returncode is not None
    time.sleep(1.5)
    assert not (scratch / "went.txt").exists() and not (scratch / "late.txt").exists()


def test_a_process_started_ahead_runs_below_the_notebook(tmp_path):
    """``warm_start.lower_priority`` (the export, the verifier and the judge while they wait): inside the sandbox, a
    session of its own, the process and its session's autogroup (what the scheduler weighs against the notebook's
    session, where the kernel has autogroups) are at nice 10: its imports take the cores the notebook leaves idle."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = ("import os; from dl4f import warm_start; warm_start.lower_priority(); print('nice', os.nice(0)); "
            "path = '/proc/self/autogroup'; print(open(path).read().strip() if os.path.exists(path) else 'none')")
    outcome = sandbox.run([sys.executable, "-c", code], scratch, sandbox.Limits(seconds=60))
    lines = (tmp_path / "sandbox.log").read_text().splitlines()
    assert outcome.ok and lines[0] == "nice 10", lines
    if Path("/proc/self/autogroup").exists():
        assert lines[1].endswith("nice 10"), lines
