"""Test-only fault injection, loaded by Python at start-up when this folder is on PYTHONPATH.

INGEST_TEST_KILL_AT="module:qualified.name" wraps that function so that its INGEST_TEST_KILL_AFTER-th call
(default 1, counted per process) sends SIGKILL to the ingest driver — the process a user's `kill -9` hits — in
the middle of the run: mid-partition or mid-write in a worker, mid-upsert in the index writer (with
INGEST_TEST_KILL_MID set, after storing one chunk of the document). The driver's other processes die with it.

INGEST_TEST_FAULT="name-part=action[,...]" makes a worker misbehave when it partitions a file whose name contains
name-part (a page range of a long PDF is named "<file>@pages<first>-<last>"): segfault, exit (os._exit), hang
(sleep an hour), hog (allocate memory until stopped), slow (mark its start with a file "<name-part>.started" in
INGEST_TEST_FAULT_DIR, sleep 8 s, then go on) or killonce (SIGKILL its own process the first time, marked by a file
in INGEST_TEST_FAULT_DIR; go on normally afterwards).
"""

import functools
import importlib
import os
import signal
import time

_target = os.environ.get("INGEST_TEST_KILL_AT")
if _target:
    _module_name, _, _qualname = _target.partition(":")
    _after = int(os.environ.get("INGEST_TEST_KILL_AFTER", "1"))
    _module = importlib.import_module(_module_name)
    _owner_name, _, _attr = _qualname.rpartition(".")
    _owner = getattr(_module, _owner_name) if _owner_name else _module
    _original = getattr(_owner, _attr)
    _calls = [0]

    @functools.wraps(_original)
    def _killing(*args, **kwargs):
        _calls[0] += 1
        if _calls[0] >= _after:
            if os.environ.get("INGEST_TEST_KILL_MID") and _qualname.endswith("replace"):
                # mid-upsert: store the first chunk only, then die
                self, source, records, embeddings = args
                self.collection.upsert(
                    ids=[records[0]["id"]],
                    documents=[records[0]["text"]],
                    metadatas=[records[0]["metadata"]],
                    embeddings=embeddings[:1],
                )
            os.kill(os.getppid(), signal.SIGKILL)  # workers are forked and the writer spawned by the driver
            signal.pause()  # wait for the death signal the driver's death sends
        return _original(*args, **kwargs)

    setattr(_owner, _attr, _killing)

_fault = os.environ.get("INGEST_TEST_FAULT")  # "name-part=action": a worker misbehaves on matching documents
if _fault:
    import ingest.partition
    import ingest.partition.pages

    _faults = dict(item.split("=", 1) for item in _fault.split(","))

    def _misbehave(name):
        for part, action in _faults.items():
            if part in name:
                if action == "segfault":
                    os.kill(os.getpid(), signal.SIGSEGV)
                elif action == "exit":
                    os._exit(3)
                elif action == "hang":
                    time.sleep(3600)
                elif action == "slow":
                    open(os.path.join(os.environ.get("INGEST_TEST_FAULT_DIR", "."), f"{part}.started"), "w").close()
                    time.sleep(8)
                elif action == "killonce":
                    marker = os.path.join(os.environ["INGEST_TEST_FAULT_DIR"], f"{part}.killed")
                    if not os.path.exists(marker):
                        open(marker, "w").close()
                        os.kill(os.getpid(), signal.SIGKILL)
                elif action == "hog":  # grow by 50 MB every 10 ms until stopped
                    hoard = []
                    while True:
                        hoard.append(bytearray(50 << 20))
                        time.sleep(0.01)

    _partition_file, _partition_pages = ingest.partition.partition_file, ingest.partition.pages.partition_pages

    @functools.wraps(_partition_file)
    def _misbehaving_file(path, filename, cfg):
        _misbehave(filename)
        return _partition_file(path, filename, cfg)

    @functools.wraps(_partition_pages)
    def _misbehaving_pages(path, filename, cfg, pages, strategy):
        _misbehave(f"{filename}@pages{pages[0] + 1}-{pages[1]}")
        return _partition_pages(path, filename, cfg, pages, strategy)

    ingest.partition.partition_file = _misbehaving_file
    ingest.partition.pages.partition_pages = _misbehaving_pages
