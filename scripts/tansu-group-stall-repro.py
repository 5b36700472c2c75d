"""Reproduces two tansu 0.6.0 group-coordinator bugs with an independent
client (kafka-python). In both, a consumer group gets stuck so that no
member is ever assigned a partition while the topic holds records.

    .venv/bin/python scripts/tansu-group-stall-repro.py empty-assignment [TANSU_BINARY]
    .venv/bin/python scripts/tansu-group-stall-repro.py departed-leader [TANSU_BINARY]

Exits 1 and prints BUG when the group is stuck, 0 otherwise. Starts its own
broker (sqlite storage, a temporary directory, a free loopback port).

## empty-assignment

What happens (tansu-broker 0.6.0, src/coordinator/group/administrator.rs):

1. Member L joins group `g` and becomes leader; the group is Formed.
2. L dies without leaving (SIGKILL): its session runs until 6 s after its
   last heartbeat.
3. More than 3 s after that heartbeat, member N joins. Its first JoinGroup
   (no member id) moves the group to Forming, keeping L as leader. Its
   second JoinGroup is held for 3 s (PAUSE_MS, a follower's pause) and
   answered with L as leader, so N is a follower.
4. N sends the follower's SyncGroup (no assignments). Before handling it,
   the coordinator expires L (`missed_heartbeat`), which clears the leader.
   `Inner<Forming>::sync` only refuses a sync from a member that is not the
   leader when a leader is set; with none set it takes N's empty
   assignment list as the leader's, and the group becomes Formed with
   `assignments: {}` and N as leader.
5. N heartbeats normally from then on; the coordinator never starts another
   rebalance, and no member consumes anything while the topic holds data.

A member that rejoins (leave, join as a new member) gets the partitions.
Expected: step 4 answers REBALANCE_IN_PROGRESS (or starts a new
generation), so that N rejoins and becomes the leader.

This is what stalled streamlake's SIGKILL crash-loop test on a busy machine:
a restarted member that needed more than 3 s to start joined in exactly
this window.

## departed-leader

1. Member L joins and becomes leader; member F joins; the group is Formed.
2. F leaves (LeaveGroup): `Inner<Formed>::leave` moves the group to
   Forming and keeps L, still a member, as leader.
3. L leaves: `Inner<Forming>::leave` removes L from the members but keeps
   it as the leader.
4. Member N joins: every JoinGroup names the departed L as leader, every
   SyncGroup from N is answered REBALANCE_IN_PROGRESS, and N's own
   session expires (JoinGroup does not count as contact) so it rejoins as
   a new member, again and again. A leader that is not a member is only
   dropped when the group is reloaded from storage after a conflict.

Expected: a leader that leaves is no longer the leader (as `Formed::leave`
already does), so N becomes the leader.
"""
import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

SESSION_MS = 6000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def consumer(brokers):
    return KafkaConsumer(
        "t",
        bootstrap_servers=brokers,
        group_id="g",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=500,
    )


def leader(brokers):
    """Child process: join, get the partition, report, then poll until killed."""
    c = consumer(brokers)
    while not c.assignment():
        c.poll(timeout_ms=200)
    print("assigned", flush=True)
    while True:
        c.poll(timeout_ms=200)


def group_detail(db):
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    row = c.execute(
        "select cgd.detail from consumer_group cg join consumer_group_detail cgd "
        "on cgd.consumer_group = cg.id where cg.name = 'g'").fetchone()
    if row is None:
        return None
    detail = json.loads(row[0])
    # Member metadata is bytes; keep what tells the story.
    return {
        "generation_id": detail.get("generation_id"),
        "members": sorted(detail.get("members", {})),
        "state": detail.get("state"),
    }


def consume_all(n, what):
    """Polls N for up to a minute; True when it read all 100 records."""
    got = 0
    deadline = time.time() + 60
    try:
        while time.time() < deadline and got < 100:
            got += sum(len(v) for v in n.poll(timeout_ms=500).values())
    except struct.error as e:
        # librdkafka takes a zero-length assignment as "no partitions" and
        # waits forever; kafka-python cannot decode it.
        print(f"{what}: SyncGroup succeeded with a zero-length assignment ({e})")
    print(f"{what}: N consumed {got} of 100 records")
    return got == 100


def empty_assignment(brokers):
    # 1-2: L joins, is assigned the partition, and is killed.
    l = subprocess.Popen([sys.executable, __file__, "--leader", brokers],
                         stdout=subprocess.PIPE, text=True)
    assert l.stdout.readline().strip() == "assigned"
    l.send_signal(signal.SIGKILL)
    l.wait()
    # 3: N joins more than 3 s after L's last heartbeat.
    time.sleep(3.5)
    return consume_all(consumer(brokers), "empty-assignment")


def departed_leader(brokers):
    l = consumer(brokers)
    while not l.assignment():
        l.poll(timeout_ms=200)
    f = consumer(brokers)
    deadline = time.time() + 60
    while not f.assignment() and time.time() < deadline:
        f.poll(timeout_ms=200)
        l.poll(timeout_ms=0)
    f.close()  # 2
    l.close()  # 3
    return consume_all(consumer(brokers), "departed-leader")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--leader":
        leader(sys.argv[2])
        return
    scenario = {"empty-assignment": empty_assignment,
                "departed-leader": departed_leader}[sys.argv[1]]
    tansu = sys.argv[2] if len(sys.argv) > 2 else os.path.expanduser(
        "~/.cache/streamlake/tools/bin/tansu")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    brokers = f"127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as dir:
        broker = subprocess.Popen(
            [tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "sqlite://tansu.db"],
            cwd=dir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            for line in broker.stdout:
                if "ready in" in line:
                    break
            KafkaAdminClient(bootstrap_servers=brokers).create_topics(
                [NewTopic("t", 1, 1)])
            producer = KafkaProducer(bootstrap_servers=brokers)
            for i in range(100):
                producer.send("t", b"record %d" % i)
            producer.flush()

            if scenario(brokers):
                print("not reproduced: N consumed everything")
                return
            print("group g as tansu stores it:", group_detail(os.path.join(dir, "tansu.db")))
            print("BUG: the group is stuck and nobody is assigned the partition")
            sys.exit(1)
        finally:
            broker.kill()
            broker.wait()


if __name__ == "__main__":
    main()
