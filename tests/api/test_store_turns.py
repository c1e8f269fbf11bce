"""The API's requests to an embedded chDB take turns instead of answering 503 to one another (real chDB)."""

import threading
import time

import pytest
from fastapi import HTTPException

from pulse.api.app import _store_for_request
from pulse.store.clickhouse import store


def test_a_request_waits_for_another_of_the_same_process_longer_than_the_store_wait(tmp_path):
    dsn = f"chdb://{tmp_path / 'ch'}"
    held, answers = threading.Event(), []

    def slow_request():
        with _store_for_request(dsn):
            held.set()
            time.sleep(3)  # longer than the 2 s a request waits for a folder another process holds

    first = threading.Thread(target=slow_request)
    first.start()
    held.wait(10)
    with _store_for_request(dsn) as s:
        answers.append(s.client.query("SELECT 1").result_rows)
    first.join()
    assert answers == [[(1,)]]


def test_a_request_answers_503_while_another_process_holds_the_folder(tmp_path):
    dsn = f"chdb://{tmp_path / 'ch'}"
    # as a job would: the lock is per open file, so a store opened here stands in for another process
    with store(dsn), pytest.raises(HTTPException) as refused, _store_for_request(dsn):
        pass
    assert refused.value.status_code == 503 and "busy" in refused.value.detail
