"""A spilled output on its way to the journal: masked across chunk boundaries, stored whole, released."""

from __future__ import annotations

import os
import time

from remote_support.journal import Journal
from remote_support.results import HostResult, RunResult, Status, StepResult
from remote_support.secrets import MASK, MASKED
from remote_support.spill import KEEP, Spool, SpilledText


def test_a_spilled_stream_is_masked_whole_and_its_file_given_back(tmp_path):
    secret = "Spill-s3cret-90210"
    MASK.add(secret)
    chunk = 1024 * 1024
    spool = Spool()
    body = bytearray(b"y" * (20 * chunk))
    # the secret straddles the journal's 1 MiB read boundary, and one sits in the tail
    body[chunk - 5:chunk - 5 + len(secret)] = secret.encode()
    body[-100:-100 + len(secret)] = secret.encode()
    for offset in range(0, len(body), 3 * chunk + 7):  # writes that do not line up with the reads
        spool.write(body[offset:offset + 3 * chunk + 7])
    text = spool.text(MASK)
    assert isinstance(text, SpilledText) and text.size == len(body)
    assert len(text) < 2 * KEEP + 300 and "bytes not shown here" in text and secret not in text
    fd = text._fd
    os.fstat(fd)  # open while the result lives

    journal = Journal.open(f"sqlite:///{tmp_path / 'j.sqlite'}")
    run_id = journal.start_run(kind="exec", name="big", command="big", params={}, inventory=[], pattern="all",
                               check=False, diff=False, ticket=None, operator="t", hosts=["h"], tool_version="0")
    now = time.time()
    journal.record_host(run_id, HostResult("h", Status.OK, (StepResult("big", Status.OK, stdout=text),), "",
                                           now - 1, now))
    journal.finish_run(run_id, RunResult(hosts=()))
    [step] = journal.get_run(run_id).hosts[0].steps
    whole = journal.output(step.id, "stdout")
    expected = body.decode().replace(secret, MASKED)
    assert whole == expected
    assert text._fd == -1, "the temp file is given back once the journal has the text"
    shown = journal.get_run(run_id, full_output=True).hosts[0].steps[0].stdout
    assert len(shown) < 9 * 1024 * 1024 and shown.endswith(expected[-1000:])
